//! Returns: a buyer (or an admin for it) returns a lead it bought; an admin approves the return
//! for credit or for a replacement, or rejects it. Each request is one transaction: the return's
//! row, its ledger credit or replacement request, and the lead's history row.

use jiff::Timestamp;
use leadline_core::history::{Api, Changes};
use leadline_core::money::Money;
use leadline_core::returns::{
    check_returnable, effect, transition, ReturnEffect, ReturnError, ReturnRequest, ReturnStatus,
};
pub use leadline_core::returns::{Replacement, Return};
use leadline_store::leads as lead_store;
use leadline_store::ledger::{self, Entry};
use leadline_store::returns::{self as store, NewReturn, ReturnFilter, SaleTerms};
use leadline_store::{Constraint, Exec, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::{App, AppError, Page, Principal, Result};

/// Which lead, which sale, and what to do.
#[derive(Debug, Clone)]
pub struct ReturnCall {
    pub lead: LeadKey,
    /// The lead must be in this vertical, when given.
    pub vertical_id: Option<i64>,
    /// Picks one sale of a lead sold to several contracts.
    pub buyer_contract_id: Option<i64>,
    pub request: ReturnRequest,
    pub return_reason_id: Option<i64>,
    pub denied_reason_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum LeadKey {
    Id(i64),
    Ref(String),
}

/// Why a return call could not name its lead or sale (dialects word these their own way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnTargetError {
    #[error("no lead has this id or ref")]
    UnknownLead,
    /// What a buyer key hears both for a lead that does not exist and for one sold only to
    /// others, so that it cannot find out which leads exist.
    #[error("no lead with this id or ref was sold to this buyer")]
    NotSoldToBuyer,
    #[error("no vertical with id {0}")]
    UnknownVertical(i64),
    #[error("the lead is not in vertical {0}")]
    WrongVertical(i64),
    #[error("the lead was never sold")]
    NotSold,
    #[error("buyer contract {0} did not buy this lead")]
    ContractDidNotBuy(i64),
    #[error("the lead was sold to {0} contracts; say which with buyer_contract_id")]
    Ambiguous(usize),
    #[error("no return reason with id {0}")]
    UnknownReturnReason(i64),
    #[error("a return reason is required")]
    ReturnReasonRequired,
    #[error("no reject (denied) reason with id {0}")]
    UnknownDeniedReason(i64),
}

impl ReturnTargetError {
    /// The input field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            ReturnTargetError::UnknownLead | ReturnTargetError::NotSoldToBuyer => "lead_id",
            ReturnTargetError::UnknownVertical(_) | ReturnTargetError::WrongVertical(_) => "vertical_id",
            ReturnTargetError::NotSold | ReturnTargetError::ContractDidNotBuy(_) | ReturnTargetError::Ambiguous(_) => {
                "buyer_contract_id"
            }
            ReturnTargetError::UnknownReturnReason(_) | ReturnTargetError::ReturnReasonRequired => "return_reason_id",
            ReturnTargetError::UnknownDeniedReason(_) => "denied_reason_id",
        }
    }
}

impl From<ReturnTargetError> for AppError {
    fn from(error: ReturnTargetError) -> Self {
        AppError::ReturnTarget(error)
    }
}

async fn reason_exists(conn: &mut impl Exec, table: &str, id: i64) -> Result<bool> {
    Ok(leadline_store::catalog::exists(conn, table, id).await?)
}

/// Finds the sale a call is about, among those the caller may return.
fn pick_sale(by: &Principal, sales: Vec<SaleTerms>, contract: Option<i64>) -> Result<SaleTerms> {
    let sales: Vec<SaleTerms> = match by.role.buyer_id() {
        Some(buyer) => sales.into_iter().filter(|s| s.buyer_id == buyer).collect(),
        None => sales,
    };
    if sales.is_empty() {
        return Err(ReturnTargetError::NotSold.into());
    }
    match contract.filter(|c| *c != 0) {
        Some(contract) => sales
            .into_iter()
            .find(|s| s.buyer_contract_id == contract)
            .ok_or_else(|| ReturnTargetError::ContractDidNotBuy(contract).into()),
        None if sales.len() == 1 => Ok(sales.into_iter().next().expect("one sale")),
        None => Err(ReturnTargetError::Ambiguous(sales.len()).into()),
    }
}

/// Carries out a return request: submit, approve (credit or replacement) or reject.
#[tracing::instrument(name = "returns.request", skip_all, fields(key = by.key_id, api = api.as_str(), contract = ?call.buyer_contract_id))]
pub async fn request(app: &App, by: &Principal, api: Api, call: &ReturnCall) -> Result<Return> {
    match (&by.role, call.request) {
        (leadline_core::access::Role::Admin, _) => {}
        (leadline_core::access::Role::Buyer { .. }, ReturnRequest::SubmitForApproval) => {}
        (leadline_core::access::Role::Buyer { .. }, _) => {
            return Err(AppError::Forbidden("a buyer key may submit returns, not decide them".into()))
        }
        (role, _) => return Err(AppError::Forbidden(format!("a {} key cannot return leads", role.name()))),
    }
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let buyer = by.role.buyer_id();
    let unknown = if buyer.is_some() { ReturnTargetError::NotSoldToBuyer } else { ReturnTargetError::UnknownLead };
    let lead = match &call.lead {
        LeadKey::Id(id) => lead_store::get(&mut tx, *id).await?,
        LeadKey::Ref(r) => lead_store::get_by_ref(&mut tx, r).await?,
    }
    .ok_or(unknown)?;
    let sales = store::sales_of_lead(&mut tx, lead.id).await?;
    // Before anything else about the lead (its vertical) is compared, a buyer key is told the
    // same about a lead it did not buy as about a lead that does not exist.
    if let Some(buyer) = buyer {
        if !sales.iter().any(|sale| sale.buyer_id == buyer) {
            return Err(ReturnTargetError::NotSoldToBuyer.into());
        }
    }
    if let Some(vertical) = call.vertical_id {
        if !leadline_store::catalog::exists(&mut tx, "verticals", vertical).await? {
            return Err(ReturnTargetError::UnknownVertical(vertical).into());
        }
        if lead.vertical_id != Some(vertical) {
            return Err(ReturnTargetError::WrongVertical(vertical).into());
        }
    }
    let sale = pick_sale(by, sales, call.buyer_contract_id)?;
    let existing = store::return_of_sale(&mut tx, sale.sale_id).await?;
    let status = transition(existing.as_ref().map(|r| r.status), call.request)?;
    let reason = match (call.return_reason_id, &existing) {
        (Some(id), _) => {
            if !reason_exists(&mut tx, "return_reasons", id).await? {
                return Err(ReturnTargetError::UnknownReturnReason(id).into());
            }
            id
        }
        (None, Some(existing)) => existing.return_reason_id,
        (None, None) => return Err(ReturnTargetError::ReturnReasonRequired.into()),
    };
    if let Some(id) = call.denied_reason_id {
        if !reason_exists(&mut tx, "reject_reasons", id).await? {
            return Err(ReturnTargetError::UnknownDeniedReason(id).into());
        }
    }
    if status == ReturnStatus::Rejected && call.denied_reason_id.is_none() {
        return Err(ReturnError::DeniedReasonRequired.into());
    }
    let return_id = match &existing {
        None => {
            check_returnable(
                sale.sold_at,
                now,
                sale.max_return_age_days,
                sale.is_replacement,
                sale.replacements_returnable,
            )?;
            store::insert_return(
                &mut tx,
                &NewReturn {
                    sale: &sale,
                    status,
                    return_reason_id: reason,
                    denied_reason_id: call.denied_reason_id,
                    at: now,
                    key_id: by.key_id,
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::Unique { constraint: Constraint::ReturnSale, .. } => {
                    AppError::Return(ReturnError::AlreadyInReturnList)
                }
                other => other.into(),
            })?
        }
        Some(existing) => {
            if !store::decide(&mut tx, existing.id, status, call.denied_reason_id, now, by.key_id).await? {
                return Err(ReturnError::AlreadyDecided("decided meanwhile").into());
            }
            existing.id
        }
    };
    let price = Money::from_minor(sale.price_minor);
    match effect(status, price) {
        ReturnEffect::Credit(amount) => {
            ledger::add_entry(
                &mut tx,
                &Entry {
                    kind: "buyer_credit",
                    buyer_id: Some(sale.buyer_id),
                    lead_id: Some(lead.id),
                    sale_id: Some(sale.sale_id),
                    return_id: Some(return_id),
                    amount_minor: amount.minor(),
                    at: now,
                    key_id: by.key_id,
                },
            )
            .await?;
        }
        ReturnEffect::Replacement => {
            store::add_replacement_request(&mut tx, return_id, sale.buyer_contract_id, sale.buyer_id, now).await?;
        }
        ReturnEffect::None => {}
    }
    let mut changes = Changes::default();
    changes.insert(
        "return",
        existing.as_ref().map(|r| json!({"id": r.id, "status": r.status.as_str()})).unwrap_or(serde_json::Value::Null),
        json!({"id": return_id, "status": status.as_str(), "sale_id": sale.sale_id, "return_reason_id": reason, "denied_reason_id": call.denied_reason_id}),
    );
    lead_store::record_history(&mut tx, lead.id, now, by.actor(api), &format!("return:{}", status.as_str()), &changes)
        .await?;
    let record =
        store::get_return(&mut tx, return_id).await?.ok_or_else(|| AppError::not_found("return", return_id))?;
    tx.commit().await?;
    Ok(record)
}

/// Decides a return by its id (the native API's approve and reject).
#[tracing::instrument(name = "returns.decide", skip_all, fields(key = by.key_id, api = api.as_str(), return_id))]
pub async fn decide(
    app: &App,
    by: &Principal,
    api: Api,
    return_id: i64,
    request: ReturnRequest,
    denied_reason_id: Option<i64>,
) -> Result<Return> {
    by.require_admin()?;
    let record = {
        let mut conn = app.store.read().await?;
        store::get_return(&mut conn, return_id).await?.ok_or_else(|| AppError::not_found("return", return_id))?
    };
    let call = ReturnCall {
        lead: LeadKey::Id(record.lead_id),
        vertical_id: None,
        buyer_contract_id: Some(record.buyer_contract_id),
        request,
        return_reason_id: None,
        denied_reason_id,
    };
    self::request(app, by, api, &call).await
}

/// One return; a buyer key sees only its own (another buyer's is not found).
#[tracing::instrument(name = "returns.get", skip_all, fields(key = by.key_id, return_id))]
pub async fn get(app: &App, by: &Principal, return_id: i64) -> Result<Return> {
    if by.role.buyer_id().is_none() && !by.role.campaign_ids().is_empty() {
        return Err(AppError::Forbidden("a dialer key cannot read returns".into()));
    }
    let mut conn = app.store.read().await?;
    match store::get_return(&mut conn, return_id).await? {
        Some(record) if by.role.buyer_id().is_none_or(|own| own == record.buyer_id) => Ok(record),
        _ => Err(AppError::not_found("return", return_id)),
    }
}

/// Returns the caller may see: a buyer key sees its own.
#[tracing::instrument(name = "returns.list", skip_all, fields(key = by.key_id))]
pub async fn list(app: &App, by: &Principal, mut filter: ReturnFilter) -> Result<Page<Return>> {
    match by.role.buyer_id() {
        Some(buyer) => filter.buyer_id = Some(buyer),
        None if by.role.campaign_ids().is_empty() => {}
        None => return Err(AppError::Forbidden("a dialer key cannot read returns".into())),
    }
    let mut conn = app.store.read().await?;
    let rows = store::list_returns(&mut conn, &filter).await?;
    Ok(Page::new(rows, filter.limit, |r| r.id))
}

/// A ledger entry as the API shows it, money as a decimal string.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LedgerEntryView {
    pub id: i64,
    pub kind: String,
    pub lead_id: Option<i64>,
    pub sale_id: Option<i64>,
    pub return_id: Option<i64>,
    pub amount: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LedgerView {
    pub buyer_id: i64,
    /// The sum of every entry: what is owed to the buyer.
    pub balance: String,
    pub entries: Page<LedgerEntryView>,
}

/// A buyer's ledger and balance; a buyer key reads only its own.
#[tracing::instrument(name = "returns.ledger", skip_all, fields(key = by.key_id, buyer = buyer_id))]
pub async fn ledger(app: &App, by: &Principal, buyer_id: i64, after: Option<i64>, limit: i64) -> Result<LedgerView> {
    match by.role.buyer_id() {
        Some(own) if own != buyer_id => return Err(AppError::not_found("buyer", buyer_id)),
        None if !by.role.campaign_ids().is_empty() => {
            return Err(AppError::Forbidden("a dialer key cannot read ledgers".into()))
        }
        _ => {}
    }
    let mut conn = app.store.read().await?;
    if !leadline_store::catalog::exists(&mut conn, "buyers", buyer_id).await? {
        return Err(AppError::not_found("buyer", buyer_id));
    }
    let (rows, balance) = ledger::buyer_ledger(&mut conn, buyer_id, after, limit).await?;
    let entries = rows
        .into_iter()
        .map(|r| LedgerEntryView {
            id: r.id,
            kind: r.entry.kind.to_string(),
            lead_id: r.entry.lead_id,
            sale_id: r.entry.sale_id,
            return_id: r.entry.return_id,
            amount: Money::from_minor(r.entry.amount_minor).to_string(),
            at: r.entry.at,
        })
        .collect();
    Ok(LedgerView {
        buyer_id,
        balance: Money::from_minor(balance).to_string(),
        entries: Page::new(entries, limit, |e| e.id),
    })
}

#[tracing::instrument(name = "returns.replacements", skip_all, fields(key = by.key_id))]
pub async fn replacements(
    app: &App,
    by: &Principal,
    status: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> Result<Page<Replacement>> {
    let buyer = by.role.buyer_id();
    if buyer.is_none() && !by.role.campaign_ids().is_empty() {
        return Err(AppError::Forbidden("a dialer key cannot read replacement requests".into()));
    }
    let mut conn = app.store.read().await?;
    let rows = store::replacement_requests(&mut conn, buyer, status, after, limit).await?;
    Ok(Page::new(rows, limit, |r| r.id))
}

/// Fulfils a replacement request with another lead of the contract's vertical: the lead is sold
/// to the contract at no charge (the buyer paid for the returned lead), the sale records the
/// return it replaces, and the request is closed, in one transaction.
#[tracing::instrument(name = "returns.fulfil_replacement", skip_all, fields(key = by.key_id, api = api.as_str(), replacement = request_id, lead = lead_id))]
pub async fn fulfil_replacement(
    app: &App,
    by: &Principal,
    api: Api,
    request_id: i64,
    lead_id: i64,
) -> Result<crate::sales::Sale> {
    by.require_admin()?;
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let request = store::replacement_request(&mut tx, request_id)
        .await?
        .ok_or_else(|| AppError::not_found("replacement request", request_id))?;
    if request.status != "pending" {
        return Err(AppError::Conflict(format!("replacement request {request_id} is already {}", request.status)));
    }
    let lead = lead_store::get(&mut tx, lead_id)
        .await?
        .ok_or_else(|| AppError::invalid("lead_id", format!("no lead with id {lead_id}")))?;
    let terms = leadline_store::sales::contract_terms(&mut tx, request.buyer_contract_id)
        .await?
        .ok_or_else(|| AppError::not_found("buyer contract", request.buyer_contract_id))?;
    if lead.vertical_id != Some(terms.vertical_id) {
        return Err(AppError::invalid(
            "lead_id",
            format!("lead {lead_id} is not in vertical {}, which the contract buys", terms.vertical_id),
        ));
    }
    let sale_id = store::insert_replacement_sale(&mut tx, lead_id, request.buyer_contract_id, request.return_id, now)
        .await
        .map_err(|e| match e {
            StoreError::Unique { constraint: Constraint::SaleLeadContract, .. } => {
                AppError::AlreadySold { buyer_contract_id: request.buyer_contract_id, lead_id }
            }
            other => other.into(),
        })?;
    if !store::fulfil_replacement(&mut tx, request_id, sale_id).await? {
        return Err(AppError::Conflict(format!("replacement request {request_id} was fulfilled meanwhile")));
    }
    let mut changes = Changes::default();
    changes.insert(
        "sale",
        serde_json::Value::Null,
        json!({"id": sale_id, "buyer_contract_id": request.buyer_contract_id, "price": "0.00", "replaces_return_id": request.return_id}),
    );
    lead_store::record_history(&mut tx, lead_id, now, by.actor(api), "sell:replacement", &changes).await?;
    let sale =
        leadline_store::sales::get(&mut tx, sale_id).await?.ok_or_else(|| AppError::not_found("sale", sale_id))?;
    tx.commit().await?;
    Ok(sale)
}
