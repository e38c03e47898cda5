//! Call-center queue actions on a lead: change its status, move it between queues, throw it out,
//! charge a call-center fee, refer it to a buyer. Every action is one transaction: the lead's new
//! queue state, its ledger entry or sale, and a history row.

use leadline_core::access::LeadScope;
use leadline_core::history::Api;
use leadline_core::lead::Lead;
use leadline_core::money::Money;
use leadline_core::queues::{self as rules, QueueAction};
use leadline_store::leads as lead_store;
use leadline_store::ledger::{self, Entry};
use leadline_store::queues as store;
use leadline_store::Exec;
use serde::Serialize;
use serde_json::{json, Value};

use crate::returns::{LeadKey, LedgerEntryView};
use crate::sales::{self, Sale};
use crate::{App, AppError, Principal, Result};

/// What [`AppError::NotFound`]'s `what` says when the lead exists but not in the vertical named.
pub const LEAD_IN_VERTICAL: &str = "lead in this vertical";

/// One queue action on one lead.
#[derive(Debug, Clone)]
pub struct QueueCall {
    pub lead: LeadKey,
    /// The lead must be in this vertical, when given.
    pub vertical_id: Option<i64>,
    /// The queue status to set (required by `change_status_only`, optional with the others).
    pub queue_status_id: Option<i64>,
    pub action: QueueAction,
    /// The target of `move_to_custom_queue`; ignored by the other actions.
    pub queue_id: Option<i64>,
    /// A fee to charge on the lead; required by `add_call_center_fee`, charged beside any action.
    pub call_center_fee: Option<Money>,
    /// The buyer contract `refer_to_buyer` sells the lead under; ignored by the other actions.
    pub buyer_contract_id: Option<i64>,
}

/// What an action did.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueueOutcome {
    pub action: String,
    pub lead: Lead,
    /// The fee's ledger entry, when a fee was charged.
    pub fee: Option<LedgerEntryView>,
    /// The sale a referral made.
    pub sale: Option<Sale>,
}

async fn visible(conn: &mut impl Exec, by: &Principal, lead: &Lead) -> Result<bool> {
    Ok(match by.role.lead_scope() {
        LeadScope::All => true,
        LeadScope::Campaigns(ids) => lead.campaign_id.is_some_and(|c| ids.contains(&c)),
        LeadScope::BoughtBy(buyer) => lead_store::bought_by(conn, lead.id, buyer).await?,
    })
}

/// The queue a move targets, checked against its kind and the lead's vertical.
async fn target_queue(conn: &mut impl Exec, call: &QueueCall, lead: &Lead) -> Result<Option<i64>> {
    let Some(kind) = call.action.target_kind() else { return Ok(None) };
    if call.action != QueueAction::MoveToCustomQueue {
        return match store::of_kind(conn, kind, lead.vertical_id).await? {
            Some(id) => Ok(Some(id)),
            None => Err(AppError::invalid(
                "queue_id",
                match lead.vertical_id {
                    Some(v) => format!("there is no {kind} queue for vertical {v} nor one for every vertical"),
                    None => format!("there is no {kind} queue for leads without a vertical"),
                },
            )),
        };
    }
    let id = call
        .queue_id
        .ok_or_else(|| AppError::invalid("queue_id", "move_to_custom_queue needs the custom queue's id"))?;
    let queue =
        store::get(conn, id).await?.ok_or_else(|| AppError::invalid("queue_id", format!("no queue with id {id}")))?;
    if queue.kind != "custom" {
        return Err(AppError::invalid("queue_id", format!("queue {id} is a {} queue, not a custom one", queue.kind)));
    }
    if queue.vertical_id.is_some() && queue.vertical_id != lead.vertical_id {
        return Err(AppError::invalid("queue_id", format!("queue {id} belongs to another vertical than the lead's")));
    }
    Ok(Some(id))
}

/// Carries out one queue action.
#[tracing::instrument(name = "queues.act", skip_all, fields(key = by.key_id, api = api.as_str(), queue_status = ?call.queue_status_id))]
pub async fn act(app: &App, by: &Principal, api: Api, call: &QueueCall) -> Result<QueueOutcome> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let found = match &call.lead {
        LeadKey::Id(id) => Some(*id),
        LeadKey::Ref(r) => lead_store::get_by_ref(&mut tx, r).await?.map(|l| l.id),
    };
    let shown_key = match &call.lead {
        LeadKey::Id(id) => id.to_string(),
        LeadKey::Ref(r) => r.clone(),
    };
    let lead = match found {
        Some(id) => lead_store::get_for_update(&mut tx, id).await?,
        None => None,
    };
    let lead = match lead {
        Some(lead) if visible(&mut tx, by, &lead).await? => lead,
        _ => return Err(AppError::not_found("lead", shown_key)),
    };
    if let Some(vertical) = call.vertical_id {
        if !leadline_store::catalog::exists(&mut tx, "verticals", vertical).await? {
            return Err(AppError::invalid("vertical_id", format!("no vertical with id {vertical}")));
        }
        if lead.vertical_id != Some(vertical) {
            return Err(AppError::not_found(LEAD_IN_VERTICAL, shown_key));
        }
    }
    if !by.role.can_write_lead_in(lead.campaign_id) {
        return Err(AppError::Forbidden(format!("a {} key cannot act on this lead's queue", by.role.name())));
    }
    let money = call.call_center_fee.is_some() || call.action == QueueAction::ReferToBuyer;
    if money && !by.role.is_admin() {
        return Err(AppError::Forbidden("only an admin key may charge fees or refer leads to buyers".into()));
    }
    if let Some(status) = call.queue_status_id {
        if !leadline_store::catalog::exists(&mut tx, "queue_statuses", status).await? {
            return Err(AppError::invalid("queue_status_id", format!("no queue status with id {status}")));
        }
    }
    if call.action == QueueAction::AddCallCenterFee && call.call_center_fee.is_none() {
        return Err(AppError::invalid("call_center_fee", "add_call_center_fee needs the fee's amount"));
    }
    let buyer_contract = match (call.action, call.buyer_contract_id) {
        (QueueAction::ReferToBuyer, Some(c)) => Some(c),
        (QueueAction::ReferToBuyer, None) => {
            return Err(AppError::invalid("buyer_contract_id", "refer_to_buyer needs the buyer contract to sell under"))
        }
        _ => None,
    };
    let target = target_queue(&mut tx, call, &lead).await?;
    let input = rules::change(call.action, target, call.queue_status_id)?;
    let (next, mut changes) = lead.change(input, now)?;
    if !changes.is_empty() && !lead_store::update(&mut tx, &lead, &next, false, None).await? {
        return Err(AppError::Conflict("the lead changed under this action; try again".into()));
    }
    let fee = match call.call_center_fee {
        Some(amount) => {
            let entry = Entry {
                kind: "call_center_fee",
                buyer_id: None,
                lead_id: Some(lead.id),
                sale_id: None,
                return_id: None,
                amount_minor: amount.minor(),
                at: now,
                key_id: by.key_id,
            };
            let id = ledger::add_entry(&mut tx, &entry).await?;
            changes.insert("call_center_fee", Value::Null, json!({"ledger_id": id, "amount": amount.to_string()}));
            Some(LedgerEntryView {
                id,
                kind: entry.kind.to_string(),
                lead_id: entry.lead_id,
                sale_id: None,
                return_id: None,
                amount: amount.to_string(),
                at: now,
            })
        }
        None => None,
    };
    let sale = match buyer_contract {
        Some(contract) => {
            let sale = sales::sell_in(&mut tx, by, api, lead.id, contract, now).await?;
            changes.insert(
                "sale",
                Value::Null,
                json!({"id": sale.id, "buyer_contract_id": contract, "price": sale.price}),
            );
            Some(sale)
        }
        None => None,
    };
    let action = call.action.as_str();
    lead_store::record_history(&mut tx, lead.id, now, by.actor(api), &format!("queue:{action}"), &changes).await?;
    tx.commit().await?;
    Ok(QueueOutcome { action: action.to_string(), lead: next, fee, sale })
}

/// A lead's ledger: its call-center fees and the credits on its sales, and their sum.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LeadLedgerView {
    pub lead_id: i64,
    pub total: String,
    pub entries: Vec<LedgerEntryView>,
}

/// Reads a lead's ledger. Money on a lead crosses buyers, so only keys that see every lead may.
#[tracing::instrument(name = "queues.lead_ledger", skip_all, fields(key = by.key_id, lead = lead_id))]
pub async fn lead_ledger(app: &App, by: &Principal, lead_id: i64) -> Result<LeadLedgerView> {
    if by.role.lead_scope() != LeadScope::All {
        return Err(AppError::Forbidden(format!("a {} key cannot read a lead's ledger", by.role.name())));
    }
    let mut conn = app.store.read().await?;
    if lead_store::get(&mut conn, lead_id).await?.is_none() {
        return Err(AppError::not_found("lead", lead_id));
    }
    let rows = ledger::lead_ledger(&mut conn, lead_id).await?;
    let mut total = Money::from_minor(0);
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let amount = Money::from_minor(row.entry.amount_minor);
        total = total.checked_add(amount).ok_or_else(|| AppError::Conflict("the lead's ledger overflows".into()))?;
        entries.push(LedgerEntryView {
            id: row.id,
            kind: row.entry.kind.to_string(),
            lead_id: row.entry.lead_id,
            sale_id: row.entry.sale_id,
            return_id: row.entry.return_id,
            amount: amount.to_string(),
            at: row.entry.at,
        });
    }
    Ok(LeadLedgerView { lead_id, total: total.to_string(), entries })
}

/// Checks a fee given as text (a dialect parameter or a native field).
pub fn parse_fee(text: &str) -> Result<Money> {
    Ok(rules::check_fee(text)?)
}
