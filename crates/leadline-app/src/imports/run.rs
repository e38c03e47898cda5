//! A run of an import: batches from the parser thread, each decided and written with the job's
//! checkpoint in one transaction (on SQLite's writer as a bulk unit, on PostgreSQL in a sqlx
//! transaction), or only decided on a dry run.

use std::sync::Arc;

use jiff::Timestamp;
use leadline_core::history::{Actor, Api};
use leadline_core::lead::Lead;
use leadline_store::imports::{self as store, Checkpoint, Job, JobStatus};
use leadline_store::sqlite::direct::finish_now;
use leadline_store::sqlite::new_leads;
use leadline_store::sqlite::writer::Bulk;
use leadline_store::{BulkUnit, Direct, Exec, StoreError, Unit};

use super::claim::{claim_lost, Claim};
use super::csv::{Parsed, Parser};
use super::decide::{decide, find, Seen};
use super::{starter, ImportRequest, Progress, Source, Target, Tuning, CLAIM};
use crate::{App, AppError, Principal, Result};

/// A unique refusal while loading a batch: another writer put a lead into the campaign
/// between the look-ups and the insert (possible only across processes or nodes).
fn written_meanwhile(error: StoreError) -> AppError {
    match error {
        StoreError::Unique { detail, .. } => AppError::Conflict(format!(
            "a lead was written into the campaign by someone else while this batch loaded ({detail}); run the import again to resume"
        )),
        other => other.into(),
    }
}

/// An imported lead's history row: where it came from (the job, which keeps the file's name and
/// SHA-256, and the line). Its values at creation are its row's values less what later history
/// rows changed, so they are not written out a second time.
fn import_history(job_id: i64, line: i64) -> String {
    // Written out by hand: this runs for every imported row on the writer thread, and two
    // integers need no escaping.
    format!(r#"{{"import":{{"old":null,"new":{{"job":{job_id},"line":{line}}}}}}}"#)
}

/// Writes a batch's leads (with the line each came from), their phones and history rows. Refs
/// that turn out taken are drawn again.
async fn write_leads(
    conn: &mut impl Exec,
    actor: Actor,
    job_id: i64,
    leads: Vec<(Lead, i64)>,
    now: Timestamp,
) -> Result<()> {
    let (mut pending, lines): (Vec<Lead>, Vec<i64>) = leads.into_iter().unzip();
    let mut histories: Vec<String> = lines.into_iter().map(|line| import_history(job_id, line)).collect();
    let mut done: Vec<(i64, Lead, String)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ids = store::insert_leads(conn, &pending).await.map_err(written_meanwhile)?;
        let mut retry = Vec::new();
        let mut retry_history = Vec::new();
        for ((id, mut lead), history) in ids.into_iter().zip(pending).zip(histories) {
            match id {
                Some(id) => done.push((id, lead, history)),
                None => {
                    lead.lead_ref = crate::leads::new_ref();
                    retry.push(lead);
                    retry_history.push(history);
                }
            }
        }
        pending = retry;
        histories = retry_history;
    }
    let phones: Vec<(i64, i64, &str)> = done
        .iter()
        .flat_map(|(id, lead, _)| lead.phones.iter().enumerate().map(move |(i, p)| (*id, i as i64, p.as_str())))
        .collect();
    store::insert_phones(conn, &phones).await?;
    let history: Vec<(i64, &str)> = done.iter().map(|(id, _, h)| (*id, h.as_str())).collect();
    store::insert_history(conn, &history, now, actor, "import").await?;
    Ok(())
}

/// One batch of a real run: the look-ups, the decisions, the leads with their phones and
/// history, the rejects and the checkpoint, in one transaction. Returns the checkpoint reached,
/// and (on SQLite) the leads written, for the caller to free.
struct Batch {
    target: Target,
    allow_duplicates: bool,
    rows: Vec<Parsed>,
    job_id: i64,
    token: String,
    actor: Actor,
    /// The run's start: the leads' creation time and their history rows' (as on the sqlx path).
    started: Timestamp,
    /// When this batch's checkpoint is written.
    now: Timestamp,
    until: Timestamp,
    /// The counts once this batch is in.
    next: Checkpoint,
}

impl Unit for Batch {
    type Output = (Checkpoint, Vec<(Lead, i64)>);
    type Error = AppError;

    /// Many rows per statement, through the store's shared SQL.
    async fn run(self, tx: &mut impl Exec) -> Result<Self::Output> {
        let mut next = self.next;
        let found = find(tx, &self.target, self.allow_duplicates, &self.rows).await?;
        // Earlier batches are in the campaign already; only this batch's rows need remembering
        // for duplicates within the file.
        let (leads, rejects) =
            decide(&self.target, self.allow_duplicates, self.rows, &found, &mut Seen::default(), &mut next);
        write_leads(tx, self.actor, self.job_id, leads, self.started).await?;
        store::insert_rejects(tx, self.job_id, &rejects).await?;
        if !store::checkpoint(tx, self.job_id, &self.token, &next, self.now, self.until).await? {
            return Err(taken_over(self.job_id));
        }
        Ok((next, Vec::new()))
    }
}

impl BulkUnit for Batch {
    /// On SQLite's writer: the engine's own bulk insert of new leads.
    fn run_bulk(self, bulk: Bulk<'_>) -> Result<Self::Output> {
        load_batch_direct(bulk, self)
    }
}

fn load_batch_direct(bulk: Bulk<'_>, batch: Batch) -> Result<(Checkpoint, Vec<(Lead, i64)>)> {
    let mut next = batch.next;
    let conn = bulk.conn();
    let mut direct = Direct::new(conn);
    let found = finish_now(find(&mut direct, &batch.target, batch.allow_duplicates, &batch.rows))?;
    let (mut leads, rejects) =
        decide(&batch.target, batch.allow_duplicates, batch.rows, &found, &mut Seen::default(), &mut next);
    // The checkpoint first: it finds the job still this run's, so the rejects, which refer to
    // it, are written under a job that exists (the unit runs with foreign keys off).
    if !finish_now(store::checkpoint(&mut direct, batch.job_id, &batch.token, &next, batch.now, batch.until))? {
        return Err(taken_over(batch.job_id));
    }
    let first_id = new_leads::next_id(conn)?;
    let mut new = new_leads::NewLeads::new(bulk, batch.started, batch.actor, "import", crate::leads::new_ref)?;
    for (id, (lead, line)) in (first_id..).zip(leads.iter_mut()) {
        // The lead's insert names its history's head, so the history row's id comes first.
        let head = new.history(id, import_history(batch.job_id, *line))?;
        new.lead(id, head, lead).map_err(written_meanwhile)?;
    }
    new.finish().map_err(written_meanwhile)?;
    finish_now(store::insert_rejects(&mut direct, batch.job_id, &rejects))?;
    Ok((next, leads))
}

fn taken_over(job_id: i64) -> AppError {
    AppError::Conflict(format!("import {job_id} was taken over by another process; nothing more was loaded here"))
}

/// One run of an import: who runs it, through which edge, from where, into what.
pub(super) struct Run<'a> {
    pub(super) app: &'a App,
    pub(super) by: &'a Principal,
    pub(super) api: Api,
    pub(super) source: Arc<dyn Source>,
    pub(super) target: &'a Target,
    pub(super) request: &'a ImportRequest,
    pub(super) tuning: Tuning,
    /// Whether the key that started the job is asked again before each batch (HTTP jobs, which
    /// run as that key, see [`super::starter`]); a refusal stops the run.
    pub(super) recheck: bool,
}

impl Run<'_> {
    /// Runs the loading pass of `job` from its checkpoint, as the holder of `token`; with no job, a
    /// dry run that only decides.
    pub(super) async fn load(&self, job: Option<(&Job, &str)>, progress: &mut dyn Progress) -> Result<Checkpoint> {
        let Run { app, by, api, source, target, request, tuning, recheck } = self;
        let recheck = *recheck;
        let (app, by, api, target, request, tuning) = (*app, *by, *api, *target, *request, *tuning);
        let now = app.now();
        let mut counts = job.map(|(j, _)| j.checkpoint).unwrap_or_default();
        // One batch waits while one is written and the next is parsed: enough to keep both threads busy,
        // and what bounds memory.
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
        let parser = {
            let parser = Parser {
                source: source.clone(),
                from: counts,
                target: target.clone(),
                request: request.clone(),
                now,
                batch_rows: tuning.batch_rows,
            };
            tokio::task::spawn_blocking(move || {
                let result = parser.run(sender.clone());
                if let Err(e) = result {
                    let _ = sender.blocking_send(Err(e));
                }
            })
        };
        let mut seen = Seen::default();
        let mut batches = 0;
        while let Some(batch) = receiver.recv().await {
            let batch = batch?;
            if tuning.stop_after_batches == Some(batches) {
                break;
            }
            batches += 1;
            let mut next = counts;
            next.rows_read += batch.rows.len() as i64;
            next.byte_offset = batch.next_offset as i64;
            next.next_line = batch.next_line as i64;
            match job {
                Some((job, token)) => {
                    if recheck {
                        starter(app, job).await?;
                    }
                    let until = app.now().checked_add(CLAIM).unwrap_or(now);
                    let batch = Batch {
                        target: target.clone(),
                        allow_duplicates: request.allow_duplicates,
                        rows: batch.rows,
                        job_id: job.id,
                        token: token.to_string(),
                        actor: by.actor(api),
                        started: now,
                        now: app.now(),
                        until,
                        next,
                    };
                    let (reached, written) = app.store.write_bulk(batch).await?;
                    next = reached;
                    // The written leads come back to be freed here: on the writer, freeing
                    // them took a twentieth of its instructions per row.
                    drop(written);
                }
                None => {
                    let mut conn = app.store.read().await?;
                    let found = find(&mut conn, target, request.allow_duplicates, &batch.rows).await?;
                    let (_, rejects) =
                        decide(target, request.allow_duplicates, batch.rows, &found, &mut seen, &mut next);
                    progress.rejects(&rejects);
                }
            }
            counts = next;
            progress.batch(&counts);
        }
        drop(receiver);
        let _ = parser.await;
        Ok(counts)
    }

    /// Loads a claimed job to its end and marks it done, or leaves it resumable when interrupted.
    /// The claim is renewed by time while the job loads (however long a batch takes), and the
    /// run stops as soon as it is found lost; the job is marked done only under the claim.
    pub(super) async fn claimed(&self, job: &Job, token: &str, progress: &mut dyn Progress) -> Result<Checkpoint> {
        let (app, tuning) = (self.app, self.tuning);
        let claim = Claim { app: app.clone(), job_id: job.id, token: token.to_string() };
        let counts = claim.hold(self.load(Some((job, token)), progress)).await?;
        if tuning.stop_after_batches.is_none() {
            let mut tx = app.store.begin().await?;
            if !store::finish(&mut tx, job.id, token, JobStatus::Done, None, app.now()).await? {
                return Err(claim_lost(job.id));
            }
            store::delete_chunks(&mut tx, job.id).await?;
            tx.commit().await?;
        }
        Ok(counts)
    }
}
