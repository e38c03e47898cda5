//! The dialer view (allocations and where their leads stand), lead lists, and a lead's page.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use leadline_app::console::{self, PickList};
use leadline_app::store::LeadFilter;
use leadline_app::store::ReturnFilter;
use leadline_app::store::SaleFilter;
use leadline_app::{leads, returns, sales};
use leadline_core::lead::columns::{self, Group};
use leadline_core::lead::Lead;
use leadline_core::phone::Phone;
use maud::{html, Markup};
use serde_json::Value;

use super::error::ConsoleError;
use super::layout::{self, opt_time, time, value_text};
use super::session::Signed;
use crate::AppState;

pub async fn overview(State(state): State<AppState>, Signed(session): Signed) -> Result<Markup, ConsoleError> {
    let rows = console::dialer_overview(&state.app, &session.principal).await?;
    let body = html! {
        h1 { "Dialer" }
        (find_form(""))
        @if rows.is_empty() {
            p.empty { "No allocations yet. Allocations are made through the API or a catalog file." }
        } @else {
            div.table-wrap {
                table #allocations {
                    thead { tr {
                        th { "Allocation" } th { "Campaign" } th { "Active" }
                        th.num { "Dialable" } th.num { "Callbacks" } th.num { "Leased" } th.num { "Closed" }
                        th { "" }
                    } }
                    tbody {
                        @for row in &rows {
                            tr data-allocation=(row.allocation_id) {
                                td { (row.allocation_name) " " span.id { "#" (row.allocation_id) } }
                                td { (row.campaign_name) " " span.id { "#" (row.campaign_id) } }
                                td { @if row.active { "yes" } @else { "no" } }
                                td.num.dialable { (row.dialable) }
                                td.num.callbacks { (row.callbacks) }
                                td.num.leased { (row.leased) }
                                td.num.closed { (row.closed) }
                                td { a href={ "/console/leads?allocation_id=" (row.allocation_id) } { "Leads" } }
                            }
                        }
                    }
                }
            }
            p.hint { "Dialable: open, not leased, and no callback ahead; each lead's contact hours are checked when it is leased. "
                     "Callbacks: open leads with a callback still ahead. Leased: held by a dialer now." }
        }
    };
    Ok(layout::page("Dialer", "dialer", &session, body))
}

fn find_form(q: &str) -> Markup {
    html! {
        form.find method="get" action="/console/leads" {
            label for="q" { "Find a lead" }
            input #q type="search" name="q" value=(q) placeholder="id or phone";
            button type="submit" { "Find" }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct LeadsQuery {
    #[serde(default)]
    allocation_id: Option<String>,
    #[serde(default)]
    q: Option<String>,
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

fn lead_state(lead: &Lead, now: jiff::Timestamp) -> &'static str {
    if lead.closed {
        "closed"
    } else if lead.lock_until.is_some_and(|u| u > now) {
        "leased"
    } else if lead.callback_at.is_some_and(|c| c > now) {
        "callback"
    } else {
        "dialable"
    }
}

pub async fn leads(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<LeadsQuery>,
) -> Result<Response, ConsoleError> {
    let q = query.q.as_deref().map(str::trim).unwrap_or("");
    if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) && q.len() < 16 {
        return Ok(Redirect::to(&format!("/console/leads/{q}")).into_response());
    }
    let mut filter = LeadFilter {
        allocation_id: whole("allocation_id", query.allocation_id.as_deref())?,
        after: whole("after", query.after.as_deref())?,
        limit: 50,
        ..LeadFilter::default()
    };
    if !q.is_empty() {
        let phone = Phone::parse(q)
            .map_err(|e| ConsoleError::bad_request(format!("`{q}` is neither a lead id nor a phone: {e}")))?;
        filter.phone = Some(phone.as_str().to_string());
    }
    let page = leads::list(&state.app, &session.principal, filter.clone()).await?;
    let now = state.app.now();
    let next = page.next_cursor.as_ref().map(|cursor| {
        let mut href = format!("/console/leads?after={cursor}");
        if let Some(a) = filter.allocation_id {
            href.push_str(&format!("&allocation_id={a}"));
        }
        if let Some(p) = &filter.phone {
            href.push_str(&format!("&q={p}"));
        }
        href
    });
    let body = html! {
        h1 {
            "Leads"
            @if let Some(a) = filter.allocation_id { " of allocation #" (a) }
            @if let Some(p) = &filter.phone { " with phone " (p) }
        }
        (find_form(q))
        @if page.items.is_empty() { p.empty { "No leads here." } } @else {
            div.table-wrap { table #leads {
                thead { tr { th { "Lead" } th { "Name" } th { "Phones" } th { "State" } th { "Disposition" } th { "Callback" } th.num { "Dials" } } }
                tbody { @for lead in &page.items {
                    tr {
                        td { a href={ "/console/leads/" (lead.id) } { "#" (lead.id) } " " span.id { (lead.lead_ref) } }
                        td.lead-name { (lead.name.as_deref().unwrap_or("")) }
                        td { (lead.phones.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { span class={ "state " (lead_state(lead, now)) } { (lead_state(lead, now)) } }
                        td { (lead.disposition.as_deref().unwrap_or("")) }
                        td { (opt_time(lead.callback_at)) }
                        td.num { (lead.dial_count) }
                    }
                } }
            } }
        }
        @if let Some(next) = next { p.pager { a href=(next) { "Next page →" } } }
    };
    Ok(layout::page("Leads", "dialer", &session, body).into_response())
}

/// The lead's own fields in the groups of the lead's column table, as (label, value) pairs
/// from its JSON form; empty values are left out.
fn groups(lead: &Lead) -> Vec<(&'static str, Vec<(String, String)>)> {
    let shown = serde_json::to_value(lead).expect("leads serialize");
    Group::SHOWN
        .iter()
        .map(|&(group, heading)| {
            let pairs = columns::in_group(group)
                .filter_map(|c| {
                    let text = value_text(&shown[c.name]);
                    (!text.is_empty()).then(|| (c.name.replace('_', " "), text))
                })
                .collect();
            (heading, pairs)
        })
        .collect()
}

fn name_map(list: Result<Vec<(i64, String)>, leadline_app::AppError>) -> HashMap<i64, String> {
    list.map(|l| l.into_iter().collect()).unwrap_or_default()
}

pub async fn lead(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Markup, ConsoleError> {
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => {
            return Err(ConsoleError::Page {
                status: axum::http::StatusCode::NOT_FOUND,
                message: format!("`{id}` is not a lead id"),
            })
        }
    };
    let by = &session.principal;
    let lead = leads::get(&state.app, by, id).await?;
    let history = leads::history(&state.app, by, id, None, 500).await?;
    // Sales and returns are shown to keys that may read them; a dialer key sees neither.
    let sales = sales::list(&state.app, by, SaleFilter { lead_id: Some(id), limit: 100, ..SaleFilter::default() })
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let returns =
        returns::list(&state.app, by, ReturnFilter { lead_id: Some(id), limit: 100, ..ReturnFilter::default() })
            .await
            .map(|p| p.items)
            .unwrap_or_default();
    let buyers = name_map(console::pick_list(&state.app, by, PickList::Buyers).await);
    let reasons = name_map(console::pick_list(&state.app, by, PickList::ReturnReasons).await);
    let title = lead.name.clone().unwrap_or_else(|| format!("Lead {id}"));
    let body = html! {
        h1 { span.lead-name { (title) } " " span.id { "#" (lead.id) " · " (lead.lead_ref) " · version " (lead.version) } }
        div.cards {
            @for (group, pairs) in groups(&lead) {
                @if !pairs.is_empty() {
                    section.card {
                        h2 { (group) }
                        dl { @for (label, value) in &pairs { dt { (label) } dd data-field=(label) { (value) } } }
                    }
                }
            }
            @if !lead.fields.is_empty() {
                section.card {
                    h2 { "Fields" }
                    dl { @for (name, value) in &lead.fields { dt { (name) } dd { (value_text(value)) } } }
                }
            }
        }
        section {
            h2 { "Sales" }
            @if sales.is_empty() { p.empty { "Not sold." } } @else {
                div.table-wrap { table #sales {
                    thead { tr { th { "Sale" } th { "Buyer" } th { "Contract" } th.num { "Price" } th { "Sold" } } }
                    tbody { @for s in &sales { tr {
                        td { "#" (s.id) }
                        td { (buyers.get(&s.buyer_id).cloned().unwrap_or_else(|| format!("#{}", s.buyer_id))) }
                        td { "#" (s.buyer_contract_id) }
                        td.num { (s.price) }
                        td { (time(s.sold_at)) }
                    } } }
                } }
            }
        }
        section {
            h2 { "Returns" }
            @if returns.is_empty() { p.empty { "No returns." } } @else {
                div.table-wrap { table #returns {
                    thead { tr { th { "Return" } th { "Sale" } th { "Status" } th { "Reason" } th { "Filed" } th { "Decided" } } }
                    tbody { @for r in &returns { tr {
                        td { "#" (r.id) }
                        td { "#" (r.sale_id) }
                        td { span class={ "status " (r.status.as_str()) } { (r.status.as_str().replace('_', " ")) } }
                        td { (reasons.get(&r.return_reason_id).cloned().unwrap_or_else(|| format!("#{}", r.return_reason_id))) }
                        td { (time(r.created_at)) }
                        td { (opt_time(r.decided_at)) }
                    } } }
                } }
            }
        }
        section {
            h2 { "History" }
            ol.timeline {
                @for entry in history.items.iter().rev() {
                    li {
                        div.when { (time(entry.at)) }
                        div.what {
                            strong { (entry.action) } " via " (entry.api)
                            @if let Some(key) = entry.key_id { " · key #" (key) }
                        }
                        @if let Value::Object(changes) = &entry.changes {
                            ul.changes { @for (field, change) in changes {
                                li {
                                    code { (field) } " "
                                    @let old = value_text(&change["old"]);
                                    @if !old.is_empty() { del { (old) } " → " }
                                    ins { (value_text(&change["new"])) }
                                }
                            } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&title, "dialer", &session, body))
}
