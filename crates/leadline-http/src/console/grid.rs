//! The call-center grid: leads by queue and status, with filters, sort and paging done in the
//! database, so a queue of any size answers one page at a time.

use std::collections::HashMap;

use axum::extract::{Query, State};
use leadline_app::console::{self, GridPage, PickList};
use leadline_app::store::{GridFilter, GridSort};
use maud::{html, Markup};

use super::error::ConsoleError;
use super::grid_actions;
use super::layout::{self, time};
use super::session::Signed;
use crate::AppState;

/// The grid's query string, kept as text so that a bad value is named in the error.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct GridQuery {
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub thrown_out: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
}

fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

fn whole(name: &str, text: &str) -> Result<i64, ConsoleError> {
    text.parse::<i64>().map_err(|_| ConsoleError::bad_request(format!("{name} must be a whole number, not `{text}`")))
}

impl GridQuery {
    /// The filter this query asks for.
    pub fn filter(&self) -> Result<GridFilter, ConsoleError> {
        let mut filter = GridFilter::default();
        if let Some(q) = given(&self.queue_id) {
            filter.queue_id = Some(whole("queue_id", q)?);
        }
        filter.queue_status_id = match given(&self.status) {
            None => None,
            Some("none") => Some(None),
            Some(s) => Some(Some(whole("status", s)?)),
        };
        filter.thrown_out = match given(&self.thrown_out) {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(other) => {
                return Err(ConsoleError::bad_request(format!("thrown_out must be yes or no, not `{other}`")))
            }
        };
        filter.search = given(&self.q).map(str::to_string);
        if let Some(sort) = given(&self.sort) {
            filter.sort = GridSort::parse(sort).ok_or_else(|| {
                ConsoleError::bad_request(format!("sort must be id, updated or created, not `{sort}`"))
            })?;
        }
        filter.descending = match given(&self.dir) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(ConsoleError::bad_request(format!("dir must be asc or desc, not `{other}`"))),
        };
        if let Some(after) = given(&self.after) {
            let (key, id) = after
                .split_once('.')
                .and_then(|(k, i)| Some((k.parse::<i64>().ok()?, i.parse::<i64>().ok()?)))
                .ok_or_else(|| ConsoleError::bad_request(format!("`{after}` is not a page this grid handed out")))?;
            filter.after = Some((key, id));
        }
        if let Some(limit) = given(&self.limit) {
            filter.limit = whole("limit", limit)?;
        }
        Ok(filter)
    }

    /// This query as a URL, with some parameters replaced (an empty value drops one).
    pub fn href(&self, replace: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, value) in [
            ("queue_id", &self.queue_id),
            ("status", &self.status),
            ("thrown_out", &self.thrown_out),
            ("q", &self.q),
            ("sort", &self.sort),
            ("dir", &self.dir),
            ("limit", &self.limit),
            ("after", &self.after),
        ] {
            let value = replace
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| given(value).map(str::to_string));
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                pairs.push((name, value));
            }
        }
        let query: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={}", encode(v))).collect();
        if query.is_empty() {
            "/console/grid".into()
        } else {
            format!("/console/grid?{}", query.join("&"))
        }
    }
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) struct Names {
    pub queues: HashMap<i64, String>,
    pub statuses: HashMap<i64, String>,
    pub queue_list: Vec<(i64, String)>,
    pub status_list: Vec<(i64, String)>,
}

pub(super) async fn names(state: &AppState, by: &leadline_app::Principal) -> Result<Names, ConsoleError> {
    let queue_list = console::pick_list(&state.app, by, PickList::Queues).await?;
    let status_list = console::pick_list(&state.app, by, PickList::QueueStatuses).await?;
    Ok(Names {
        queues: queue_list.iter().cloned().collect(),
        statuses: status_list.iter().cloned().collect(),
        queue_list,
        status_list,
    })
}

pub async fn grid(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<GridQuery>,
) -> Result<Markup, ConsoleError> {
    let filter = query.filter()?;
    let page = console::grid(&state.app, &session.principal, filter.clone()).await?;
    let names = names(&state, &session.principal).await?;
    let by = &session.principal;
    let can_act = by.role.is_admin() || !by.role.campaign_ids().is_empty();
    let toolbar = if can_act {
        // Referring a lead to a buyer is an admin's act, and only an admin key reads every
        // buyer's contracts; a dialer's toolbar offers none.
        let contracts = if by.role.is_admin() {
            console::pick_list(&state.app, by, PickList::BuyerContracts).await?
        } else {
            Vec::new()
        };
        Some(grid_actions::toolbar(&session, &query.href(&[]), &names.status_list, &names.queue_list, &contracts))
    } else {
        None
    };
    let body = html! {
        h1 { "Call-center grid" }
        (filters(&query, &filter, &page, &names))
        @if let Some(toolbar) = toolbar {
            form #grid-actions method="post" action="/console/grid/act" {
                (toolbar)
                (table(&query, &filter, &page, &names, true))
            }
        } @else {
            (table(&query, &filter, &page, &names, false))
        }
    };
    Ok(layout::page("Grid", "grid", &session, body))
}

fn filters(query: &GridQuery, filter: &GridFilter, page: &GridPage, names: &Names) -> Markup {
    let count_of = |id: i64| page.queues.iter().find(|(q, _)| *q == id).map(|(_, n)| *n).unwrap_or(0);
    let status_count = |id: Option<i64>| page.statuses.iter().find(|(s, _)| *s == id).map(|(_, n)| *n).unwrap_or(0);
    let status_value = match filter.queue_status_id {
        None => String::new(),
        Some(None) => "none".into(),
        Some(Some(id)) => id.to_string(),
    };
    html! {
        form.filters #grid-filters method="get" action="/console/grid" {
            label { "Queue "
                select name="queue_id" {
                    option value="" { "Every queue" }
                    @for (id, name) in &names.queue_list {
                        option value=(id) selected[filter.queue_id == Some(*id)] { (name) " (" (count_of(*id)) ")" }
                    }
                }
            }
            label { "Status "
                select name="status" {
                    option value="" { "Any status" }
                    option value="none" selected[status_value == "none"] { "No status (" (status_count(None)) ")" }
                    @for (id, name) in &names.status_list {
                        option value=(id) selected[status_value == id.to_string()] { (name) " (" (status_count(Some(*id))) ")" }
                    }
                }
            }
            label { "Thrown out "
                select name="thrown_out" {
                    option value="" { "Either" }
                    option value="no" selected[filter.thrown_out == Some(false)] { "No" }
                    option value="yes" selected[filter.thrown_out == Some(true)] { "Yes" }
                }
            }
            input type="search" name="q" value=(given(&query.q).unwrap_or("")) placeholder="name, email, ref, id or phone" aria-label="Search";
            label { "Sort "
                select name="sort" {
                    @for (value, label) in [("id", "Lead id"), ("updated", "Last change"), ("created", "Created")] {
                        option value=(value) selected[filter.sort.as_str() == value] { (label) }
                    }
                }
            }
            select name="dir" aria-label="Direction" {
                option value="desc" selected[filter.descending] { "Newest first" }
                option value="asc" selected[!filter.descending] { "Oldest first" }
            }
            select name="limit" aria-label="Rows per page" {
                @for n in [25, 50, 100, 200] { option value=(n) selected[filter.limit == n] { (n) " rows" } }
            }
            button type="submit" { "Filter" }
            a href="/console/grid" { "Clear" }
        }
    }
}

fn sort_link(query: &GridQuery, filter: &GridFilter, sort: GridSort, label: &str) -> Markup {
    let (dir, arrow) = match (filter.sort == sort, filter.descending) {
        (true, true) => ("asc", " ↓"),
        (true, false) => ("desc", " ↑"),
        (false, _) => ("desc", ""),
    };
    html! { a href=(query.href(&[("sort", sort.as_str()), ("dir", dir), ("after", "")])) { (label) (arrow) } }
}

fn table(query: &GridQuery, filter: &GridFilter, page: &GridPage, names: &Names, actions: bool) -> Markup {
    html! {
        p.summary #grid-total {
            (page.total) " leads"
            @if filter.after.is_some() { " · " a href=(query.href(&[("after", "")])) { "First page" } }
        }
        @if page.leads.is_empty() { p.empty { "No leads match." } } @else {
            div.table-wrap { table #grid {
                thead { tr {
                    @if actions { th { input type="checkbox" data-select-all="lead" aria-label="Tick every row"; } }
                    th { (sort_link(query, filter, GridSort::Id, "Lead")) }
                    th { "Name" } th { "Phone" } th { "Email" } th { "Queue" } th { "Status" } th { "Out" }
                    th { (sort_link(query, filter, GridSort::Updated, "Changed")) }
                    th { (sort_link(query, filter, GridSort::Created, "Created")) }
                    @if actions { th { "" } }
                } }
                tbody { @for lead in &page.leads {
                    tr data-lead=(lead.id) {
                        @if actions { td { input type="checkbox" name="lead" value=(lead.id) aria-label={ "Tick lead " (lead.id) }; } }
                        td { a href={ "/console/leads/" (lead.id) } { "#" (lead.id) } " " span.id { (lead.lead_ref) } }
                        td.lead-name { (lead.name.as_deref().unwrap_or("")) }
                        td { (lead.phones.first().map(|p| p.as_str()).unwrap_or("")) }
                        td { (lead.email.as_deref().unwrap_or("")) }
                        td.queue { @if let Some(q) = lead.queue_id { (names.queues.get(&q).cloned().unwrap_or_else(|| format!("#{q}"))) } }
                        td.queue-status { @if let Some(s) = lead.queue_status_id { (names.statuses.get(&s).cloned().unwrap_or_else(|| format!("#{s}"))) } }
                        td.out { @if lead.thrown_out { "yes" } }
                        td { (time(lead.updated_at)) }
                        td { (time(lead.created_at)) }
                        @if actions {
                            td.row-actions {
                                button.quiet type="submit" name="row" value={ (lead.id) ":move_to_review_queue" } { "Review" }
                                button.quiet type="submit" name="row" value={ (lead.id) ":throw_out" } { "Throw out" }
                            }
                        }
                    }
                } }
            } }
        }
        @if let Some((key, id)) = page.next {
            p.pager { a #next-page href=(query.href(&[("after", &format!("{key}.{id}"))])) { "Next page →" } }
        }
    }
}
