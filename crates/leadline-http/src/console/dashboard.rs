//! The dashboard, home page of admin and read-only keys: the business's figures per day over 7,
//! 30 or 90 days, drawn as server-side SVG charts (see [`super::charts`]).

use axum::extract::{Query, State};
use leadline_app::console::{self, DayFigures, Source, DASHBOARD_PERIODS};
use leadline_core::money::Money;
use maud::{html, Markup};

use super::charts::{self, Row, Series};
use super::error::ConsoleError;
use super::layout;
use super::session::Signed;
use crate::AppState;

/// The period shown when none is asked for.
const DEFAULT_PERIOD: i64 = 30;

#[derive(serde::Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    days: Option<String>,
}

fn per_day(days: &[DayFigures], value: impl Fn(&DayFigures) -> i64) -> Vec<i64> {
    days.iter().map(value).collect()
}

/// `1 file`, `3 files`.
fn plural(count: i64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn money(minor: i64) -> String {
    Money::from_minor(minor).to_string()
}

/// `part` of `whole` as a percentage with one decimal, `–` for nothing sold.
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "–".to_string()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<DashboardQuery>,
) -> Result<Markup, ConsoleError> {
    let period = match query.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => DEFAULT_PERIOD,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| ConsoleError::bad_request(format!("`{text}` is not a number of days (7, 30 or 90)")))?,
    };
    let board = console::dashboard(&state.app, &session.principal, period).await?;
    let days = &board.days;
    let dates: Vec<_> = days.iter().map(|d| d.date).collect();
    let sum = |value: fn(&DayFigures) -> i64| days.iter().map(value).sum::<i64>();

    let sources: Vec<Series> = Source::ALL
        .iter()
        .map(|s| Series { key: s.as_str(), label: s.label(), values: per_day(days, |d| d.leads(*s)) })
        .collect();
    let leads_in: i64 = sources.iter().flat_map(|s| s.values.iter()).sum();
    let sold = [
        Series { key: "sold", label: "Sold", values: per_day(days, |d| d.sold) },
        Series { key: "unsold", label: "Not sold", values: per_day(days, |d| d.unsold) },
    ];
    let money_series = [
        Series { key: "revenue", label: "Revenue (sales)", values: per_day(days, |d| d.revenue_minor) },
        Series { key: "credits", label: "Buyer credits", values: per_day(days, |d| d.credits_minor) },
        Series { key: "fees", label: "Call-center fees", values: per_day(days, |d| d.fees_minor) },
    ];
    let imports = [
        Series { key: "imported", label: "Leads loaded", values: per_day(days, |d| d.imported) },
        Series { key: "rejected", label: "Rows rejected", values: per_day(days, |d| d.import_rejected) },
    ];
    let runs = [
        Series { key: "archived", label: "Archive runs", values: per_day(days, |d| d.archive_runs) },
        Series { key: "dearchived", label: "Dearchive runs", values: per_day(days, |d| d.dearchive_runs) },
        Series { key: "not-run", label: "Refused or failed", values: per_day(days, |d| d.runs_not_run) },
    ];
    let returned = [Series { key: "returned", label: "Returned", values: Vec::new() }];
    let buyer_rows: Vec<Row> = board
        .buyers
        .iter()
        .map(|b| Row {
            id: b.buyer_id,
            label: b.buyer_name.clone(),
            // Per mille of sales returned, so the bar's scale is 1000.
            parts: vec![if b.sold == 0 { 0 } else { b.returned * 1000 / b.sold }],
            note: format!("{} ({} of {} sales)", percent(b.returned, b.sold), b.returned, b.sold),
        })
        .collect();
    let dialer = [
        Series { key: "dialable", label: "Dialable", values: Vec::new() },
        Series { key: "callbacks", label: "Callbacks", values: Vec::new() },
        Series { key: "leased", label: "Leased", values: Vec::new() },
        Series { key: "closed", label: "Closed", values: Vec::new() },
    ];
    let allocation_rows: Vec<Row> = board
        .allocations
        .iter()
        .map(|a| {
            let total = a.dialable + a.callbacks + a.leased + a.closed;
            Row {
                id: a.allocation_id,
                label: a.allocation_name.clone(),
                parts: vec![a.dialable, a.callbacks, a.leased, a.closed],
                note: format!("{} closed of {total}", percent(a.closed, total)),
            }
        })
        .collect();

    let body = html! {
        div.dashboard-head {
            h1 { "Dashboard" }
            nav #period aria-label="period" {
                @for option in DASHBOARD_PERIODS {
                    a href={ "/console/dashboard?days=" (option) } class=[(option == board.period).then_some("active")] { (option) " days" }
                }
            }
        }
        p.hint {
            "The last " (board.period) " days, " (dates.first().map(|d| d.to_string()).unwrap_or_default())
            " to " (dates.last().map(|d| d.to_string()).unwrap_or_default()) ", by UTC day."
        }
        section.card #leads-in-card {
            h2 { "Leads in by source" span.total #leads-in-total { (plural(leads_in, "lead")) } }
            (charts::stacked_days("leads-in", "Leads in per day by source", &dates, &sources))
        }
        section.card {
            h2 { "Sold and not sold" span.total #sold-total { (sum(|d| d.sold)) " of " (leads_in) " sold" } }
            (charts::stacked_days("sold", "Leads in per day, sold by now or not", &dates, &sold))
            p.hint { "Each day's leads in, split by whether they have been sold since." }
        }
        section.card {
            h2 { "Revenue and credits" span.total #money-total {
                (money(sum(|d| d.revenue_minor))) " revenue · " (money(sum(|d| d.credits_minor))) " credited · "
                (money(sum(|d| d.fees_minor))) " fees"
            } }
            (charts::lines_by_day("money", "Revenue, buyer credits and call-center fees per day", &dates, &money_series, &money))
            p.hint { "Revenue: the price of each sale on the day it was made. Credits: returns approved for credit. Fees: call-center fees charged." }
        }
        section.card {
            h2 { "Return rate by buyer" }
            @if buyer_rows.is_empty() { p.empty { "No sales in this period." } } @else {
                (charts::stacked_rows("return-rates", "Share of each buyer's sales in the period that were returned", &returned, &buyer_rows, Some(1000)))
                p.hint { "Of each buyer's sales made in the period, those a return was asked for (pending, approved or rejected)." }
            }
        }
        section.card {
            h2 { "Dialer progress by allocation" }
            @if allocation_rows.is_empty() { p.empty { "No allocations yet." } } @else {
                (charts::stacked_rows("dialer-progress", "Where each allocation's leads stand now", &dialer, &allocation_rows, None))
                p.hint { "Now, not over the period: the same counts as the " a href="/console/dialer" { "dialer page" } "." }
            }
        }
        section.card {
            h2 { "Imports" span.total #imports-total { (plural(sum(|d| d.import_files), "file")) " · " (sum(|d| d.imported)) " leads loaded" } }
            (charts::stacked_days("imports", "List imports per day: leads loaded and rows rejected", &dates, &imports))
        }
        section.card {
            h2 { "Archive runs" span.total #runs-total { (plural(sum(|d| d.leads_moved), "lead")) " moved" } }
            (charts::stacked_days("archive-runs", "Archive and dearchive runs started from the console per day", &dates, &runs))
            p.hint { "Runs started from the console's archive page." }
        }
    };
    Ok(layout::page("Dashboard", "dashboard", &session, body))
}
