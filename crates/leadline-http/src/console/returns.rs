//! The returns queue (decide pending returns) and a buyer's ledger.

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use leadline_app::console::{self, Flash, PickList};
use leadline_app::returns;
use leadline_app::store::QueueFilter;
use leadline_core::access::Role;
use leadline_core::history::Api;
use leadline_core::returns::ReturnRequest;
use maud::{html, Markup};

use super::error::ConsoleError;
use super::layout::{self, age, csrf, opt_time, time};
use super::session::{CsrfForm, Signed};
use crate::AppState;

const STATUSES: &[(&str, &str)] = &[
    ("pending", "Pending"),
    ("approved_credit", "Approved for credit"),
    ("approved_replace", "Approved for replacement"),
    ("rejected", "Rejected"),
];

#[derive(serde::Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    buyer_id: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

fn whole(name: &str, text: Option<&str>) -> Result<Option<i64>, ConsoleError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ConsoleError::bad_request(format!("{name} must be a whole number, not `{t}`"))),
    }
}

pub async fn queue(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<QueueQuery>,
) -> Result<Markup, ConsoleError> {
    let by = &session.principal;
    let status = query.status.clone().unwrap_or_else(|| "pending".into());
    let filter = QueueFilter {
        status: status.clone(),
        buyer_id: whole("buyer_id", query.buyer_id.as_deref())?,
        after: whole("after", query.after.as_deref())?,
        limit: 50,
    };
    let rows = console::returns_queue(&state.app, by, filter.clone()).await?;
    let can_decide = by.role.is_admin();
    let denied_reasons =
        if can_decide { console::pick_list(&state.app, by, PickList::RejectReasons).await? } else { Vec::new() };
    let now = state.app.now();
    let next = (rows.len() as i64 >= filter.limit).then(|| {
        let last = rows.last().map(|r| r.id).unwrap_or(0);
        let mut href = format!("/console/returns?status={status}&after={last}");
        if let Some(b) = filter.buyer_id {
            href.push_str(&format!("&buyer_id={b}"));
        }
        href
    });
    let body = html! {
        h1 { "Returns" }
        nav.tabs {
            @for (value, label) in STATUSES {
                a href={ "/console/returns?status=" (value) } class=[(*value == status).then_some("active")] { (label) }
            }
        }
        @if rows.is_empty() { p.empty { "No returns here." } } @else {
            div.table-wrap { table #returns-queue {
                thead { tr {
                    th { "Return" } th { "Lead" } th { "Buyer" } th.num { "Sale" } th { "Reason" } th { "Age" }
                    @if status == "pending" && can_decide { th { "Decision" } } @else { th { "Decided" } }
                } }
                tbody { @for r in &rows {
                    tr data-return=(r.id) {
                        td { "#" (r.id) }
                        td {
                            a href={ "/console/leads/" (r.lead_id) } { "#" (r.lead_id) }
                            @if let Some(name) = &r.lead_name { " " span.lead-name { (name) } }
                        }
                        td {
                            a href={ "/console/ledger?buyer_id=" (r.buyer_id) } { (r.buyer_name) }
                            br; span.id { (r.contract_name) " #" (r.buyer_contract_id) }
                        }
                        td.num { (leadline_core::money::Money::from_minor(r.price_minor).to_string()) br; span.id { "sale #" (r.sale_id) " · " (time(r.sold_at)) } }
                        td { (r.return_reason) @if let Some(d) = &r.denied_reason { br; span.id { "denied: " (d) } } }
                        td title=(time(r.created_at)) { (age(r.created_at, now)) }
                        @if status == "pending" && can_decide {
                            td { form.decide method="post" action={ "/console/returns/" (r.id) "/decide" } {
                                (csrf(&session))
                                button type="submit" name="decision" value="approve_for_credit" { "Approve for credit" }
                                button type="submit" name="decision" value="approve_to_replace" { "Approve for replacement" }
                                span.reject {
                                    select name="denied_reason_id" aria-label="Denied reason" {
                                        option value="" { "Denied reason…" }
                                        @for (id, name) in &denied_reasons { option value=(id) { (name) } }
                                    }
                                    button.danger type="submit" name="decision" value="reject" { "Reject" }
                                }
                            } }
                        } @else {
                            td { (opt_time(r.decided_at)) }
                        }
                    }
                } }
            } }
        }
        @if let Some(next) = next { p.pager { a href=(next) { "Next page →" } } }
    };
    Ok(layout::page("Returns", "returns", &session, body))
}

pub async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm,
) -> Result<Redirect, ConsoleError> {
    let back = Redirect::to("/console/returns");
    let outcome = async {
        let id = id.parse::<i64>().map_err(|_| format!("`{id}` is not a return id"))?;
        let (request, label) = match form.get("decision") {
            Some("approve_for_credit") => (ReturnRequest::ApproveForCredit, "approved for credit"),
            Some("approve_to_replace") => (ReturnRequest::ApproveToReplace, "approved for replacement"),
            Some("reject") => (ReturnRequest::Reject, "rejected"),
            other => return Err(format!("`{}` is not a decision", other.unwrap_or(""))),
        };
        let denied = match form.get("denied_reason_id").map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(t.parse::<i64>().map_err(|_| format!("`{t}` is not a denied reason"))?),
        };
        if request == ReturnRequest::Reject && denied.is_none() {
            return Err(format!("Return #{id} was not rejected: pick a denied reason first."));
        }
        let denied = if request == ReturnRequest::Reject { denied } else { None };
        returns::decide(&state.app, &form.session.principal, Api::Console, id, request, denied).await.map_err(|e| {
            match e {
                leadline_app::AppError::Store(_) => return_error(e),
                other => format!("Return #{id} was not decided: {other}."),
            }
        })?;
        Ok(format!("Return #{id} {label}."))
    }
    .await;
    let flash = match outcome {
        Ok(text) => Flash::Done(text),
        Err(text) => Flash::Failed(text),
    };
    console::flash(&state.app, form.session.id, &flash).await?;
    Ok(back)
}

fn return_error(e: leadline_app::AppError) -> String {
    tracing::error!(error = %e, "deciding a return failed");
    "The decision could not be saved; try again.".into()
}

#[derive(serde::Deserialize)]
pub struct LedgerQuery {
    #[serde(default)]
    buyer_id: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

pub async fn ledger(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<LedgerQuery>,
) -> Result<Markup, ConsoleError> {
    let by = &session.principal;
    let own = by.role.buyer_id();
    let buyer_id = own.or(whole("buyer_id", query.buyer_id.as_deref())?);
    let buyers = match &by.role {
        Role::Buyer { .. } => Vec::new(),
        // An archiver key reads ledgers but not the list of buyers: it chooses by id.
        role if !role.can_read_catalog("buyers") => Vec::new(),
        _ => console::pick_list(&state.app, by, PickList::Buyers).await?,
    };
    let ledger = match buyer_id {
        Some(buyer) => {
            Some(returns::ledger(&state.app, by, buyer, whole("after", query.after.as_deref())?, 100).await?)
        }
        None => None,
    };
    let body = html! {
        h1 { "Ledger" }
        @if own.is_none() {
            form.find method="get" action="/console/ledger" {
                label for="buyer_id" { "Buyer" }
                select #buyer_id name="buyer_id" {
                    option value="" { "Pick a buyer…" }
                    @for (id, name) in &buyers { option value=(id) selected[buyer_id == Some(*id)] { (name) " #" (id) } }
                }
                button type="submit" { "Show" }
            }
        }
        @if let Some(ledger) = &ledger {
            p.balance { "Balance owed to buyer #" (ledger.buyer_id) ": " strong #balance { (ledger.balance) } }
            @if ledger.entries.items.is_empty() { p.empty { "No entries." } } @else {
                div.table-wrap { table #ledger {
                    thead { tr { th { "Entry" } th { "Kind" } th { "Lead" } th { "Sale" } th { "Return" } th.num { "Amount" } th { "At" } } }
                    tbody { @for e in &ledger.entries.items { tr {
                        td { "#" (e.id) }
                        td { (e.kind.replace('_', " ")) }
                        td { @if let Some(l) = e.lead_id { a href={ "/console/leads/" (l) } { "#" (l) } } }
                        td { @if let Some(s) = e.sale_id { "#" (s) } }
                        td { @if let Some(r) = e.return_id { "#" (r) } }
                        td.num { (e.amount) }
                        td { (time(e.at)) }
                    } } }
                } }
                @if let Some(cursor) = &ledger.entries.next_cursor {
                    p.pager { a href={ "/console/ledger?buyer_id=" (ledger.buyer_id) "&after=" (cursor) } { "Next page →" } }
                }
            }
        }
    };
    Ok(layout::page("Ledger", "ledger", &session, body))
}
