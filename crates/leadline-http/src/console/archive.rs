//! The archive view: whether it is office hours now, a form to archive or dearchive leads by id,
//! and the counts of the last runs made here. A run goes through the archive use case the
//! VICIdial dialect uses, on the same target (Leadline's store or the configured VICIdial
//! database), with the same checks and the same office-hours rule.

use axum::extract::State;
use axum::response::Redirect;
use leadline_app::archive::{self, ArchiveError, Target};
use leadline_app::console::{self, Flash};
use leadline_app::store::ArchiveRunRow;
use leadline_core::archive::{held_by_office_hours, Batch, BatchError, Counts, Direction};
use leadline_core::history::Api;
use maud::{html, Markup};

use super::error::ConsoleError;
use super::layout::{self, csrf, time};
use super::session::{CsrfForm, Signed};
use crate::vicidial::Refusal;
use crate::AppState;

fn target_name(target: &Target) -> &'static str {
    match target {
        Target::Leadline => "Leadline's lead table",
        Target::Vicidial(_) => "the VICIdial database",
    }
}

pub async fn page(State(state): State<AppState>, Signed(session): Signed) -> Result<Markup, ConsoleError> {
    let by = &session.principal;
    archive::authorize(by)?;
    let settings = &state.settings.vicidial;
    let now = state.app.now();
    let office = settings.office_hours.as_ref().map(|hours| hours.contains(now));
    let runs = console::archive_runs(&state.app, by, 20).await?;
    let body = html! {
        h1 { "Archive" }
        section.card {
            h2 { "Office hours" }
            p #office-hours {
                @match office {
                    None => "No office hours are configured: archiving may run at any time.",
                    Some(true) => { strong { "It is office hours now." } " Archiving is refused until they end; dearchiving is allowed." },
                    Some(false) => "Outside office hours now: archiving may run.",
                }
            }
            p.hint { "Runs act on " (target_name(&settings.target)) ", at most " (settings.max_lead_ids) " ids at once." }
        }
        section {
            h2 { "Run" }
            form #archive-run method="post" action="/console/archive/run" {
                (csrf(&session))
                label for="lead_ids" { "Lead ids" }
                textarea #lead_ids name="lead_ids" rows="3" placeholder="e.g. 101, 102, 103" {}
                div.toolbar {
                    label { input type="checkbox" name="insert_leads" value="true" checked; " insert" }
                    label { input type="checkbox" name="update_leads" value="true" checked; " update (archive only)" }
                    label { input type="checkbox" name="delete_leads" value="true" checked; " delete" }
                    button type="submit" name="direction" value="archive" disabled[office == Some(true)] { "Archive" }
                    button.quiet type="submit" name="direction" value="dearchive" { "Dearchive" }
                }
            }
        }
        section {
            h2 { "Last runs" }
            @if runs.is_empty() { p.empty { "No runs from the console yet." } } @else {
                div.table-wrap { table #archive-runs {
                    thead { tr { th { "When" } th { "Run" } th { "Ids" } th.num { "Selected" } th.num { "Inserted" } th.num { "Updated" } th.num { "Deleted" } th { "Outcome" } } }
                    tbody { @for run in &runs { tr {
                        td { (time(run.at)) }
                        td { (run.direction) }
                        td.num { (run.lead_ids) }
                        @for count in run.counts { td.num { (count) } }
                        td { (run.outcome) }
                    } } }
                } }
            }
        }
    };
    Ok(layout::page("Archive", "archive", &session, body))
}

/// Reads the ids typed in the form: whole numbers separated by commas, spaces or new lines.
fn ids(text: &str) -> Result<Vec<i64>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<i64>().map_err(|_| format!("`{t}` is not a lead id")))
        .collect()
}

pub async fn run(State(state): State<AppState>, form: CsrfForm) -> Result<Redirect, ConsoleError> {
    let by = &form.session.principal;
    let settings = &state.settings.vicidial;
    let direction = match form.get("direction") {
        Some("archive") => Direction::Archive,
        Some("dearchive") => Direction::Dearchive,
        other => {
            return Err(ConsoleError::bad_request(format!("`{}` is not archive or dearchive", other.unwrap_or(""))))
        }
    };
    let verb = direction.verb();
    let outcome: Result<(usize, Counts), String> = async {
        if held_by_office_hours(settings.office_hours.as_ref(), direction, state.app.now()) {
            return Err("it is office hours; archiving waits until they end.".to_string());
        }
        let lead_ids = ids(form.get("lead_ids").unwrap_or(""))?;
        let count = lead_ids.len();
        let batch = Batch {
            direction,
            insert: form.get("insert_leads").is_some(),
            update: form.get("update_leads").is_some(),
            delete: form.get("delete_leads").is_some(),
            lead_ids,
        };
        let batch = batch.checked(settings.max_lead_ids).map_err(|e| describe(&e))?;
        match archive::run(&state.app, &settings.target, by, Api::Console, &batch).await {
            Ok(counts) => Ok((count, counts)),
            Err(ArchiveError::Refused(e)) => Err(describe(&e)),
            Err(ArchiveError::App(leadline_app::AppError::Store(cause))) => {
                tracing::error!(error = %cause, "an archive run from the console failed");
                Err("the run could not be completed; try again".into())
            }
            Err(ArchiveError::App(e)) => Err(e.to_string()),
        }
    }
    .await;
    let flash = match &outcome {
        Ok((_, c)) => Flash::Done(format!(
            "The {verb} run is done: {} selected, {} inserted, {} updated, {} deleted.",
            c.select_count, c.insert_count, c.update_count, c.delete_count
        )),
        Err(why) => Flash::Failed(format!("The {verb} run did not run: {why}")),
    };
    let counts = outcome.as_ref().map(|(_, c)| *c).unwrap_or_default();
    let run = ArchiveRunRow {
        at: state.app.now(),
        key_id: by.key_id,
        direction: verb.to_string(),
        lead_ids: outcome.as_ref().map(|(n, _)| *n as i64).unwrap_or(0),
        counts: [counts.select_count, counts.insert_count, counts.update_count, counts.delete_count].map(|n| n as i64),
        outcome: match &outcome {
            Ok(_) => "done".to_string(),
            Err(why) => why.clone(),
        },
    };
    console::record_archive_run(&state.app, by, &run).await?;
    console::flash(&state.app, form.session.id, &flash).await?;
    Ok(Redirect::to("/console/archive"))
}

/// A refusal in the words the VICIdial dialect gives it, since the form runs the same batch.
fn describe(error: &BatchError) -> String {
    let error = Refusal::from(error);
    if error.lead_ids.is_empty() {
        error.message.clone()
    } else {
        let ids: Vec<String> = error.lead_ids.iter().map(|v| v.to_string()).collect();
        format!("{}: {}", error.message, ids.join(", "))
    }
}
