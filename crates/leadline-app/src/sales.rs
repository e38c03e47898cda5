//! Sales: a lead sold to a buyer under a contract of the lead's vertical, at the contract's price.

use jiff::Timestamp;
use leadline_core::history::{Api, Changes};
use leadline_core::money::Money;
use leadline_store::leads as lead_store;
use leadline_store::sales::{self as store, Sale, SaleFilter};
use leadline_store::{Conn, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::{App, AppError, Page, Principal, Result};

/// A sale as the API shows it, money as a decimal string.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SaleView {
    pub id: i64,
    pub lead_id: i64,
    pub buyer_contract_id: i64,
    pub buyer_id: i64,
    pub price: String,
    pub sold_at: jiff::Timestamp,
}

impl From<Sale> for SaleView {
    fn from(s: Sale) -> Self {
        SaleView {
            id: s.id,
            lead_id: s.lead_id,
            buyer_contract_id: s.buyer_contract_id,
            buyer_id: s.buyer_id,
            price: Money::from_minor(s.price_minor).to_string(),
            sold_at: s.sold_at,
        }
    }
}

/// Sells a lead under a contract. The lead must be in the contract's vertical, and a contract
/// buys a lead once.
#[tracing::instrument(name = "sales.sell", skip_all, fields(key = ?by.key_id, api = api.as_str(), lead = lead_id, contract = contract_id))]
pub async fn sell(app: &App, by: &Principal, api: Api, lead_id: i64, contract_id: i64) -> Result<SaleView> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let sale = sell_in(&mut tx, by, api, lead_id, contract_id, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(sale)
}

/// [`sell`] inside the caller's transaction, for use cases that sell as one step of more (a
/// call-center referral to a buyer). The caller commits.
pub async fn sell_in(
    tx: &mut Conn,
    by: &Principal,
    api: Api,
    lead_id: i64,
    contract_id: i64,
    now: Timestamp,
) -> Result<SaleView> {
    by.require_admin()?;
    let lead = lead_store::get(tx, lead_id)
        .await?
        .ok_or_else(|| AppError::invalid("lead_id", format!("no lead with id {lead_id}")))?;
    let terms = store::contract_terms(tx, contract_id)
        .await?
        .ok_or_else(|| AppError::invalid("buyer_contract_id", format!("no buyer contract with id {contract_id}")))?;
    if lead.vertical_id != Some(terms.vertical_id) {
        return Err(AppError::invalid(
            "buyer_contract_id",
            format!("contract {contract_id} buys vertical {}, and lead {lead_id} is not in it", terms.vertical_id),
        ));
    }
    let sale_id = store::insert(tx, lead_id, contract_id, terms.price_minor, now).await.map_err(|e| match e {
        StoreError::Unique(_) => {
            AppError::Conflict(format!("contract {contract_id} has already bought lead {lead_id}"))
        }
        other => other.into(),
    })?;
    let mut changes = Changes::default();
    changes.insert("sale", Value::Null, serde_json::json!({"id": sale_id, "buyer_contract_id": contract_id, "price": Money::from_minor(terms.price_minor).to_string()}));
    lead_store::record_history(tx, lead_id, now, by.actor(api), "sell", &changes).await?;
    let sale = store::get(tx, sale_id).await?.ok_or_else(|| AppError::not_found("sale", sale_id))?;
    Ok(sale.into())
}

/// Sales the caller may see: a buyer key sees only its own.
pub async fn list(app: &App, by: &Principal, mut filter: SaleFilter) -> Result<Page<SaleView>> {
    match by.role.buyer_id() {
        Some(buyer) => filter.buyer_id = Some(buyer),
        None if by.role.campaign_ids().is_empty() => {}
        None => return Err(AppError::Forbidden("a dialer key cannot read sales".into())),
    }
    let mut conn = app.store.read().await?;
    let sales = store::list(&mut conn, &filter).await?;
    let limit = filter.limit;
    Ok(Page::new(sales.into_iter().map(SaleView::from).collect(), limit, |s| s.id))
}
