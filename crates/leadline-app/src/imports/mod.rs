//! List loading: a CSV file into a campaign allocation, streamed in constant memory.
//!
//! An import runs in two passes over the file. The first checks the whole file (UTF-8 text,
//! every row as wide as the header, no field or row over the size limits, a header that fills
//! something) and takes its SHA-256, writing nothing: a bad file is refused with the line that is
//! wrong, before a single lead is loaded. The second reads it again on a parser thread that
//! maps each row to a lead (template mapping and phone normalization as for dialer loads),
//! while this task checks DNC and duplicates in bulk and commits a batch of leads at a time,
//! together with the job's checkpoint (byte offset and line reached). A run that is cut short
//! resumes after the last committed batch, so no row is loaded twice.

//!
//! The parts, in the order a row meets them: [`source`] (where the bytes come from), [`csv`]
//! (the checked rows and their mapping to leads), [`decide`] (DNC and duplicates), [`run`] (the
//! batches written with their checkpoint), and for `POST /v1/imports` [`upload`] (the body
//! stored as it arrives) and [`worker`] (the node that runs the stored job).

mod claim;
mod csv;
mod decide;
mod run;
mod source;
mod upload;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::SignedDuration;
use leadline_core::access::Role;
use leadline_core::catalog::TemplateField;
use leadline_core::dialer::{phone_country, PhoneCountry};
use leadline_core::history::Api;
use leadline_core::import::{Attr, Plan};
use leadline_core::DomainError;
use leadline_store::imports::{self as store, Checkpoint, Job, JobSource, JobStatus, NewJob, Reject};
use leadline_store::StoreError;
use serde::{Deserialize, Serialize};

pub use self::claim::Claim;
pub use self::csv::{scan, Scan};
use self::run::Run;
pub use self::source::{FileSource, Source, StoredBody};
pub use self::upload::{OverLimit, Upload, UploadError, UploadLimits};
pub use self::worker::work_once;
use crate::{App, AppError, Principal, Result};

/// Column names that lists exported from a dialer give the lead's attributes, accepted beside
/// Leadline's own (`external_id`, `priority`, `callback_at`): Noojee's, so its lists load as
/// they are. They describe the file, not the lead, so they live here, beside the CSV reading,
/// where every way in (`leadline import`, `POST /v1/imports`, the console) shares them.
pub const COLUMN_ALIASES: &[(&str, Attr)] =
    &[("njExternalLeadId", Attr::ExternalId), ("njPriority", Attr::Priority), ("njCallBackDate", Attr::CallbackAt)];

/// How a file's header fills the template, with the column names lists are known to use.
pub(crate) fn plan_for(
    header: &[String],
    template: &[TemplateField],
    maps: &[(String, String)],
) -> std::result::Result<Plan, DomainError> {
    Plan::new(header, template, maps, COLUMN_ALIASES)
}

/// Rows per committed batch.
pub const BATCH_ROWS: usize = 10_000;
/// Largest field accepted; a bigger one is almost always a quote left open.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Largest row accepted (all its fields); reading stops there, so memory stays bounded.
pub const MAX_ROW_BYTES: u64 = 1024 * 1024;
/// How long a claim on a running job lasts without a checkpoint.
pub(crate) const CLAIM: SignedDuration = SignedDuration::from_secs(60);

/// What to import and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub campaign_id: i64,
    pub allocation_id: i64,
    /// Must be the campaign's template when given.
    pub template_id: Option<i64>,
    /// COLUMN → FIELD overrides (FIELD empty or `-`: ignore the column).
    pub maps: Vec<(String, String)>,
    pub allow_duplicates: bool,
}

impl ImportRequest {
    /// The options that make two runs the same import (for resuming), as stored with the job.
    pub(crate) fn options(&self) -> String {
        serde_json::json!({"maps": self.maps, "allow_duplicates": self.allow_duplicates}).to_string()
    }
}

pub(crate) fn file_error(message: String) -> AppError {
    AppError::Invalid(DomainError::new("file", message))
}

/// Who an HTTP job runs as: the key that started it, as that key stands now (a job started
/// by the operator, with no key, runs as the operator). A key revoked or expired since, gone,
/// or no longer allowed to load leads into the job's campaign is refused, naming why; the
/// worker then fails the job with that reason. Asked before the job starts or resumes and
/// before each batch is written.
pub(crate) async fn starter(app: &App, job: &Job) -> Result<Principal> {
    let Some(key_id) = job.key_id else { return Ok(Principal::operator()) };
    let mut conn = app.store.read().await?;
    let stopped = |why: String| AppError::Forbidden(format!("import {} stopped: {why}", job.id));
    let Some(key) = leadline_store::keys::get(&mut conn, key_id).await? else {
        return Err(stopped(format!("the key that started it ({key_id}) no longer exists")));
    };
    if let Some(at) = key.revoked_at {
        return Err(stopped(format!("the key that started it ({key_id}) was revoked at {at}")));
    }
    if let Some(at) = key.expires_at.filter(|at| *at <= app.now()) {
        return Err(stopped(format!("the key that started it ({key_id}) expired at {at}")));
    }
    let role = Role::from_parts(&key.role, key.buyer_id, key.campaign_ids)
        .map_err(|e| StoreError::Corrupt(format!("api key {key_id}: {e}")))?;
    if !role.can_write_lead_in(Some(job.campaign_id)) {
        return Err(stopped(format!(
            "the key that started it ({key_id}) may no longer load leads into campaign {}",
            job.campaign_id
        )));
    }
    Ok(Principal { key_id: Some(key_id), role })
}

/// The campaign an import loads into, checked.
#[derive(Debug, Clone)]
pub struct Target {
    pub campaign_id: i64,
    pub allocation_id: i64,
    pub template_id: i64,
    pub template: leadline_store::dialer::Template,
    pub country: Option<&'static PhoneCountry>,
    pub zone: TimeZone,
}

pub async fn target(app: &App, by: &Principal, request: &ImportRequest) -> Result<Target> {
    use leadline_store::dialer as dialer_store;
    if !by.role.can_write_lead_in(Some(request.campaign_id)) {
        return Err(AppError::Forbidden(format!("a {} key cannot load leads into this campaign", by.role.name())));
    }
    let mut conn = app.store.read().await?;
    let template_id = dialer_store::campaign_template(&mut conn, request.campaign_id)
        .await?
        .ok_or_else(|| AppError::invalid("campaign", format!("there is no campaign {}", request.campaign_id)))?;
    if let Some(asked) = request.template_id {
        if asked != template_id {
            return Err(AppError::invalid(
                "template",
                format!("campaign {} uses template {template_id}, not {asked}", request.campaign_id),
            ));
        }
    }
    if dialer_store::allocation_campaign(&mut conn, request.allocation_id).await? != Some(request.campaign_id) {
        return Err(AppError::invalid(
            "allocation",
            format!("there is no allocation {} in campaign {}", request.allocation_id, request.campaign_id),
        ));
    }
    let template = dialer_store::template(&mut conn, template_id)
        .await?
        .ok_or_else(|| AppError::invalid("template", format!("there is no template {template_id}")))?;
    let zone = match template.contact_hours_id {
        Some(id) => {
            dialer_store::contact_hours(&mut conn, id).await?.map(|s| s.zone().clone()).unwrap_or(TimeZone::UTC)
        }
        None => TimeZone::UTC,
    };
    let country = template.phone_country.as_deref().and_then(phone_country);
    Ok(Target {
        campaign_id: request.campaign_id,
        allocation_id: request.allocation_id,
        template_id,
        template,
        country,
        zone,
    })
}

/// How a run reports: after each batch, the checkpoint reached; on a dry run, the rejects.
pub trait Progress: Send {
    fn batch(&mut self, at: &Checkpoint);
    fn rejects(&mut self, _rejects: &[Reject]) {}
}

impl Progress for () {
    fn batch(&mut self, _: &Checkpoint) {}
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub job_id: Option<i64>,
    pub counts: Checkpoint,
    pub ignored_columns: Vec<String>,
    /// True when this run continued a job that an earlier run had started.
    pub resumed: bool,
}

/// Knobs for tests and the bench.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub batch_rows: usize,
    /// Stop (as if interrupted) after this many batches; for tests of resuming.
    pub stop_after_batches: Option<usize>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { batch_rows: BATCH_ROWS, stop_after_batches: None }
    }
}

/// A new claim's token: whoever holds it is the one run of the job.
pub(crate) fn claim_token() -> String {
    crate::console::random_token()
}

/// Imports a file on this machine (the CLI): checks it, finds or creates its job, and loads it,
/// resuming a job of the same file, campaign, allocation and options that an earlier run left
/// unfinished. A file already loaded by a finished job is refused.
#[tracing::instrument(name = "imports.import_file", skip_all, fields(key = by.key_id, campaign = ?request.campaign_id, allocation = ?request.allocation_id))]
pub async fn import_file(
    app: &App,
    by: &Principal,
    request: &ImportRequest,
    path: PathBuf,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let target = target(app, by, request).await?;
    let source: Arc<dyn Source> = Arc::new(FileSource(path.clone()));
    let scanned = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || scan(&*source)).await.map_err(|e| file_error(e.to_string()))??
    };
    let plan = plan_for(&scanned.header, &target.template.fields, &request.maps)?;
    let options = request.options();
    let now = app.now();
    let mut conn = app.store.read().await?;
    let existing =
        store::job_for_file(&mut conn, &scanned.sha256, request.campaign_id, request.allocation_id, &options).await?;
    drop(conn);
    let token = claim_token();
    let until = now.checked_add(CLAIM).unwrap_or(now);
    let (job_id, resumed) = match existing {
        Some(job) if job.status == JobStatus::Done => {
            return Err(AppError::Conflict(format!(
                "this file was already imported into allocation {} of campaign {} by import {} ({} loaded, {} rejected); nothing was loaded again",
                job.allocation_id,
                job.campaign_id,
                job.id,
                job.checkpoint.loaded,
                job.checkpoint.rejected_dnc + job.checkpoint.rejected_duplicate + job.checkpoint.rejected_invalid
            )))
        }
        Some(job) => {
            let mut conn = app.store.begin().await?;
            if !store::claim(&mut conn, job.id, &token, now, until).await? {
                return Err(AppError::Conflict(format!(
                    "import {} of this file is running in another process (its claim lasts until {}); try again after that",
                    job.id,
                    job.claimed_until.map(|t| t.to_string()).unwrap_or_default()
                )));
            }
            conn.commit().await?;
            (job.id, true)
        }
        None => {
            let mut tx = app.store.begin().await?;
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let id = store::create_job(
                &mut tx,
                &NewJob {
                    source: JobSource::Cli,
                    status: JobStatus::Pending,
                    file_name: &file_name,
                    file_bytes: scanned.bytes as i64,
                    file_sha256: &scanned.sha256,
                    campaign_id: target.campaign_id,
                    allocation_id: target.allocation_id,
                    template_id: target.template_id,
                    options: &options,
                    key_id: by.key_id,
                },
                now,
            )
            .await?;
            store::claim(&mut tx, id, &token, now, until).await?;
            tx.commit().await?;
            (id, false)
        }
    };
    let job = get(app, by, job_id).await?;
    let run = Run { app, by, api: Api::Cli, source, target: &target, request, tuning, recheck: false };
    let counts = run.claimed(&job, &token, progress).await?;
    Ok(Outcome { job_id: Some(job_id), counts, ignored_columns: plan.ignored, resumed })
}

/// Goes through a file as an import would, writing nothing: the counts it would reach and
/// (through `progress`) the rows it would reject.
#[tracing::instrument(name = "imports.dry_run", skip_all, fields(key = by.key_id, campaign = request.campaign_id, allocation = request.allocation_id))]
pub async fn dry_run(
    app: &App,
    by: &Principal,
    request: &ImportRequest,
    source: Arc<dyn Source>,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let target = target(app, by, request).await?;
    let scanned = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || scan(&*source)).await.map_err(|e| file_error(e.to_string()))??
    };
    let plan = plan_for(&scanned.header, &target.template.fields, &request.maps)?;
    let run = Run { app, by, api: Api::Cli, source, target: &target, request, tuning, recheck: false };
    let counts = run.load(None, progress).await?;
    Ok(Outcome { job_id: None, counts, ignored_columns: plan.ignored, resumed: false })
}

/// A job as callers see it.
#[tracing::instrument(name = "imports.get", skip_all, fields(key = by.key_id, import = id))]
pub async fn get(app: &App, by: &Principal, id: i64) -> Result<Job> {
    let mut conn = app.store.read().await?;
    let job = store::get_job(&mut conn, id).await?.ok_or_else(|| AppError::not_found("import", id))?;
    let own = by.key_id.is_some() && by.key_id == job.key_id;
    if !(by.role.is_admin() || own) {
        return Err(AppError::not_found("import", id));
    }
    Ok(job)
}

/// A page of a job's rejected rows, after line `after`.
#[tracing::instrument(name = "imports.rejects", skip_all, fields(key = by.key_id, import = id, after))]
pub async fn rejects(app: &App, by: &Principal, id: i64, after: i64, limit: i64) -> Result<Vec<Reject>> {
    get(app, by, id).await?;
    let mut conn = app.store.read().await?;
    Ok(store::rejects(&mut conn, id, after, limit).await?)
}
