//! Sales: a lead sold to a buyer under a contract of the lead's vertical, at the contract's price.

use jiff::Timestamp;
use leadline_core::history::{Api, Changes};
use leadline_core::money::Money;
pub use leadline_core::sales::Sale;
use leadline_store::leads as lead_store;
use leadline_store::sales::{self as store, SaleFilter};
use leadline_store::{Constraint, Exec, StoreError};
use serde_json::Value;

use crate::{App, AppError, Page, Principal, Result};

/// Sells a lead under a contract. The lead must be in the contract's vertical, and a contract
/// buys a lead once.
#[tracing::instrument(name = "sales.sell", skip_all, fields(key = by.key_id, api = api.as_str(), lead = lead_id, contract = contract_id))]
pub async fn sell(app: &App, by: &Principal, api: Api, lead_id: i64, contract_id: i64) -> Result<Sale> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let sale = sell_in(&mut tx, by, api, lead_id, contract_id, now).await?;
    tx.commit().await?;
    Ok(sale)
}

/// [`sell`] inside the caller's transaction, for use cases that sell as one step of more (a
/// call-center referral to a buyer). The caller commits.
pub async fn sell_in(
    tx: &mut impl Exec,
    by: &Principal,
    api: Api,
    lead_id: i64,
    contract_id: i64,
    now: Timestamp,
) -> Result<Sale> {
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
        StoreError::Unique { constraint: Constraint::SaleLeadContract, .. } => {
            AppError::AlreadySold { buyer_contract_id: contract_id, lead_id }
        }
        other => other.into(),
    })?;
    let mut changes = Changes::default();
    changes.insert("sale", Value::Null, serde_json::json!({"id": sale_id, "buyer_contract_id": contract_id, "price": Money::from_minor(terms.price_minor).to_string()}));
    lead_store::record_history(tx, lead_id, now, by.actor(api), "sell", &changes).await?;
    let sale = store::get(tx, sale_id).await?.ok_or_else(|| AppError::not_found("sale", sale_id))?;
    Ok(sale)
}

/// Sales the caller may see: a buyer key sees only its own.
#[tracing::instrument(name = "sales.list", skip_all, fields(key = by.key_id))]
pub async fn list(app: &App, by: &Principal, mut filter: SaleFilter) -> Result<Page<Sale>> {
    match by.role.buyer_id() {
        Some(buyer) => filter.buyer_id = Some(buyer),
        None if by.role.campaign_ids().is_empty() => {}
        None => return Err(AppError::Forbidden("a dialer key cannot read sales".into())),
    }
    let mut conn = app.store.read().await?;
    let sales = store::list(&mut conn, &filter).await?;
    let limit = filter.limit;
    Ok(Page::new(sales, limit, |s| s.id))
}
