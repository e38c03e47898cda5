//! The call-center grid's actions: one lead (a row's button) or every ticked lead, each through
//! the queue-action use case the CAKE and native APIs use, each lead in its own transaction.

use axum::extract::State;
use axum::response::Redirect;
use leadline_app::console::{self, Flash};
use leadline_app::queues::{self, QueueCall};
use leadline_app::returns::LeadKey;
use leadline_core::history::Api;
use leadline_core::queues::QueueAction;
use maud::{html, Markup};

use super::error::ConsoleError;
use super::layout::csrf;
use super::session::CsrfForm;
use crate::AppState;

/// Most leads one post acts on (the largest page).
pub const MAX_LEADS: usize = 200;

/// The toolbar's actions, with their labels.
pub const ACTIONS: &[(QueueAction, &str)] = &[
    (QueueAction::ChangeStatusOnly, "Set status"),
    (QueueAction::MoveToQueue, "Move to call-center queue"),
    (QueueAction::MoveToReviewQueue, "Send to review"),
    (QueueAction::MoveToCustomQueue, "Move to custom queue"),
    (QueueAction::ThrowOut, "Throw out"),
    (QueueAction::AddCallCenterFee, "Charge call-center fee"),
    (QueueAction::ReferToBuyer, "Refer to buyer"),
];

fn label(action: QueueAction) -> &'static str {
    ACTIONS.iter().find(|(a, _)| *a == action).map(|(_, l)| *l).unwrap_or("Action")
}

/// Where to go back to: the grid view the form was posted from, never another site.
fn back(form: &CsrfForm) -> String {
    match form.get("back") {
        Some(b) if b.starts_with("/console/grid") && !b.contains("//") && !b.contains('\\') => b.to_string(),
        _ => "/console/grid".into(),
    }
}

fn optional_id(form: &CsrfForm, name: &str) -> Result<Option<i64>, String> {
    match form.get(name).map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse::<i64>().map(Some).map_err(|_| format!("{name} `{t}` is not an id")),
    }
}

/// What a post asks: which leads, which action, with which parameters.
fn read(form: &CsrfForm) -> Result<(Vec<i64>, QueueCall), String> {
    let (ids, action) = match form.get("row") {
        Some(row) => {
            let (id, action) = row.split_once(':').ok_or_else(|| format!("`{row}` is not a row action"))?;
            (vec![id.parse::<i64>().map_err(|_| format!("`{id}` is not a lead id"))?], action.to_string())
        }
        None => {
            let ids = form
                .all("lead")
                .map(|t| t.parse::<i64>().map_err(|_| format!("`{t}` is not a lead id")))
                .collect::<Result<Vec<_>, _>>()?;
            (ids, form.get("action").unwrap_or("").to_string())
        }
    };
    if ids.is_empty() {
        return Err("Tick at least one lead first.".into());
    }
    if ids.len() > MAX_LEADS {
        return Err(format!("At most {MAX_LEADS} leads at once; {} were ticked.", ids.len()));
    }
    let action = QueueAction::parse(&action).map_err(|e| e.message)?;
    // As on CAKE's queue call, a fee given is charged beside whichever action is applied.
    let call_center_fee = match form.get("fee").map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => Some(queues::parse_fee(text).map_err(|e| format!("Nothing was done: {e}."))?),
        None => None,
    };
    let call = QueueCall {
        lead: LeadKey::Id(0),
        vertical_id: None,
        queue_status_id: optional_id(form, "queue_status_id")?,
        action,
        queue_id: optional_id(form, "queue_id")?,
        call_center_fee,
        buyer_contract_id: optional_id(form, "buyer_contract_id")?,
    };
    Ok((ids, call))
}

pub async fn act(State(state): State<AppState>, form: CsrfForm) -> Result<Redirect, ConsoleError> {
    let flash = match read(&form) {
        Err(message) => Flash::Failed(message),
        Ok((ids, call)) => {
            let mut done = 0;
            let mut failures = Vec::new();
            for id in &ids {
                let call = QueueCall { lead: LeadKey::Id(*id), ..call.clone() };
                match queues::act(&state.app, &form.session.principal, Api::Console, &call).await {
                    Ok(_) => done += 1,
                    Err(leadline_app::AppError::Store(cause)) => {
                        tracing::error!(error = %cause, lead = id, "a grid action failed");
                        failures.push(format!("lead #{id}: could not be saved"));
                    }
                    Err(refused) => failures.push(format!("lead #{id}: {refused}")),
                }
            }
            let what = match call.call_center_fee {
                Some(fee) if call.action != QueueAction::AddCallCenterFee => {
                    format!("{} with a fee of {fee}", label(call.action))
                }
                _ => label(call.action).to_string(),
            };
            let noun = |n: usize| if n == 1 { "lead" } else { "leads" };
            if failures.is_empty() {
                Flash::Done(format!("{what}: done for {done} {}.", noun(done)))
            } else {
                let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
                let more =
                    if failures.len() > 5 { format!(" (and {} more)", failures.len() - 5) } else { String::new() };
                Flash::Failed(format!(
                    "{what}: done for {done} of {} {}; {}{more}.",
                    ids.len(),
                    noun(ids.len()),
                    shown.join("; ")
                ))
            }
        }
    };
    console::flash(&state.app, form.session.id, &flash).await?;
    Ok(Redirect::to(&back(&form)))
}

/// The toolbar above the grid: an action, its parameters, and the button that applies it to the
/// ticked rows. It is the form's first button, so Enter in the fee box applies the action.
pub fn toolbar(
    session: &console::Session,
    back: &str,
    statuses: &[(i64, String)],
    queues: &[(i64, String)],
    contracts: &[(i64, String)],
) -> Markup {
    html! {
        (csrf(session))
        input type="hidden" name="back" value=(back);
        div.toolbar {
            select name="action" aria-label="Action" {
                @for (action, label) in ACTIONS { option value=(action.as_str()) { (label) } }
            }
            select name="queue_status_id" aria-label="Queue status" {
                option value="" { "Status…" }
                @for (id, name) in statuses { option value=(id) { (name) } }
            }
            select name="queue_id" aria-label="Custom queue" {
                option value="" { "Queue (custom moves)…" }
                @for (id, name) in queues { option value=(id) { (name) } }
            }
            input name="fee" inputmode="decimal" placeholder="Fee, e.g. 2.50" size="12" aria-label="Call-center fee";
            select name="buyer_contract_id" aria-label="Buyer contract" {
                option value="" { "Buyer contract…" }
                @for (id, name) in contracts { option value=(id) { (name) } }
            }
            button #apply type="submit" { "Apply to ticked" }
        }
    }
}
