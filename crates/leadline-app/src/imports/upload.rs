//! An import body received over HTTP: stored in chunks as it arrives, so any node can run the
//! job, and checked whole before the job becomes pending.

use jiff::{SignedDuration, Timestamp};
use leadline_store::imports::{self as store, Job, JobSource, JobStatus, NewJob};
use leadline_store::{Exec, StoreError};

use super::claim::{claim_lost, Claim, RENEW_EVERY};
use super::csv::Scan;
use super::source::StoredBody;
use super::{claim_token, file_error, plan_for, scan, target, ImportRequest, Target, CLAIM};
use crate::{App, AppError, Principal, Result};

/// What one key may have in HTTP imports at once; the operator sets them
/// (`import_max_uploads_per_key`, `import_quota_bytes_per_key`). The database keeps the count, so
/// they hold across every node of one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Uploads whose body is still arriving.
    pub uploads_per_key: u32,
    /// Bytes stored for the key's jobs that have not ended (receiving, pending or running): a
    /// job's body is kept until it is done or failed.
    pub bytes_per_key: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits { uploads_per_key: 2, bytes_per_key: 4 * 1024 * 1024 * 1024 }
    }
}

/// An upload refused by its key's limits; nothing of it is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverLimit {
    #[error(
        "this key has {limit} uploads arriving already, the most import_max_uploads_per_key allows; send this one once one of them is received"
    )]
    Uploads { limit: u32 },
    #[error(
        "this key's import jobs that have not ended may hold at most {limit} bytes (import_quota_bytes_per_key), and {held} are held already; send this body once they have run, or in smaller files"
    )]
    Bytes { limit: u64, held: u64 },
}

impl OverLimit {
    /// When trying again may pass: an upload slot frees when one of the key's uploads has
    /// arrived, or, for a client that went away mid-body, when its claim lapses unrenewed; a
    /// renewal period (a quarter of the claim) is a fair wait for either. A byte quota frees
    /// only as the key's jobs run, which takes as long as they take: None.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            OverLimit::Uploads { .. } => Some(RENEW_EVERY.as_secs()),
            OverLimit::Bytes { .. } => None,
        }
    }
}

/// Why an upload could not go on: its key's limits, or anything else.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    OverLimit(OverLimit),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for UploadError {
    fn from(error: StoreError) -> Self {
        UploadError::App(error.into())
    }
}

/// An import body being received (for `POST /v1/imports`): stored in chunks as it arrives, then
/// checked whole before the job becomes pending. Dropped unfinished, it is cleaned up by the
/// next worker pass once its claim lapses.
pub struct Upload {
    app: App,
    job_id: i64,
    token: String,
    /// When the claim was last extended (by the app's clock): bytes arriving renew it once it is
    /// [`RENEW_EVERY`] old, however few they are.
    renewed_at: Timestamp,
    request: ImportRequest,
    buffer: Vec<u8>,
    seq: i64,
    written: u64,
    /// Bytes the key's other unfinished jobs held when last counted (at the start, and at each
    /// stored chunk); None for the operator, who has no quota.
    others_held: Option<u64>,
    /// The key whose quota the body counts against (None: the operator).
    key_id: Option<i64>,
    target: Target,
}

/// Bytes per stored chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

impl Upload {
    /// Starts an upload: refused with [`OverLimit`] when the key has as many uploads arriving as
    /// it may, or holds its whole byte quota already.
    #[tracing::instrument(name = "imports.upload_begin", skip_all, fields(key = by.key_id, campaign = request.campaign_id, allocation = request.allocation_id))]
    pub async fn begin(
        app: &App,
        by: &Principal,
        request: ImportRequest,
        file_name: &str,
    ) -> std::result::Result<Upload, UploadError> {
        let target = target(app, by, &request).await?;
        let now = app.now();
        let token = claim_token();
        let limits = app.upload_limits;
        let mut tx = app.store.begin().await?;
        let others_held = match by.key_id {
            Some(key_id) => {
                store::lock_key_usage(&mut tx, key_id).await?;
                let (receiving, held) = store::key_usage(&mut tx, key_id, 0).await?;
                if receiving >= i64::from(limits.uploads_per_key) {
                    return Err(UploadError::OverLimit(OverLimit::Uploads { limit: limits.uploads_per_key }));
                }
                let held = u64::try_from(held).unwrap_or(0);
                if held >= limits.bytes_per_key {
                    return Err(UploadError::OverLimit(OverLimit::Bytes { limit: limits.bytes_per_key, held }));
                }
                Some(held)
            }
            None => None,
        };
        let job_id = store::create_job(
            &mut tx,
            &NewJob {
                source: JobSource::Http,
                status: JobStatus::Receiving,
                file_name,
                file_bytes: 0,
                file_sha256: "",
                campaign_id: target.campaign_id,
                allocation_id: target.allocation_id,
                template_id: target.template_id,
                options: &request.options(),
                key_id: by.key_id,
            },
            now,
        )
        .await?;
        store::hold(&mut tx, job_id, &token, now.checked_add(CLAIM).unwrap_or(now)).await?;
        tx.commit().await?;
        Ok(Upload {
            app: app.clone(),
            job_id,
            token,
            renewed_at: now,
            request,
            buffer: Vec::new(),
            seq: 0,
            written: 0,
            others_held,
            key_id: by.key_id,
            target,
        })
    }

    /// Refuses the body once, with what the key's other jobs hold, it passes the key's quota.
    fn check_quota(&self) -> std::result::Result<(), UploadError> {
        let Some(others) = self.others_held else { return Ok(()) };
        let limit = self.app.upload_limits.bytes_per_key;
        let this = self.written + self.buffer.len() as u64;
        if others + this > limit {
            return Err(UploadError::OverLimit(OverLimit::Bytes { limit, held: others }));
        }
        Ok(())
    }

    pub fn job_id(&self) -> i64 {
        self.job_id
    }

    /// The upload's claim on its job, for holding it while the body is awaited (see
    /// [`Claim::hold`]): a client that sends nothing for a while does not let it lapse.
    pub fn claim(&self) -> Claim {
        Claim { app: self.app.clone(), job_id: self.job_id, token: self.token.clone() }
    }

    /// Renews the claim if it was last renewed [`RENEW_EVERY`] ago or more; the refusal
    /// [`claim_lost`] if another node failed the upload as abandoned meanwhile.
    async fn keep(&mut self) -> Result<()> {
        let now = self.app.now();
        let due = self.renewed_at.checked_add(SignedDuration::try_from(RENEW_EVERY).unwrap_or(CLAIM)).unwrap_or(now);
        if now >= due {
            self.claim().renew().await?;
            self.renewed_at = now;
        }
        Ok(())
    }

    /// Adds bytes of the body; refused with [`OverLimit::Bytes`] once the body would take its
    /// key past its quota (the caller then aborts the upload).
    pub async fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), UploadError> {
        self.buffer.extend_from_slice(bytes);
        self.check_quota()?;
        while self.buffer.len() >= CHUNK_BYTES {
            let rest = self.buffer.split_off(CHUNK_BYTES);
            let chunk = std::mem::replace(&mut self.buffer, rest);
            self.flush_chunk(&chunk).await?;
        }
        // The other jobs were counted again with each stored chunk.
        self.check_quota()?;
        Ok(self.keep().await?)
    }

    async fn flush_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::add_chunk(&mut tx, self.job_id, self.seq, self.written as i64, chunk).await?;
        store::record_received(&mut tx, self.job_id, (self.written + chunk.len() as u64) as i64).await?;
        let now = self.app.now();
        // Checked in the chunk's own transaction: a chunk of an upload another node failed is
        // never stored.
        if !store::extend_claim(&mut tx, self.job_id, &self.token, now.checked_add(CLAIM).unwrap_or(now)).await? {
            return Err(claim_lost(self.job_id));
        }
        let others_held = match self.key_id {
            Some(key_id) => Some(u64::try_from(store::key_usage(&mut tx, key_id, self.job_id).await?.1).unwrap_or(0)),
            None => None,
        };
        tx.commit().await?;
        self.others_held = others_held;
        self.renewed_at = now;
        self.seq += 1;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Stores the rest, checks the whole body, and makes the job pending; a bad body removes the
    /// job and comes back as the error naming its line. The claim is renewed first and held
    /// while the body is checked, and making the job pending requires it still: an upload that
    /// another node failed as abandoned is refused, never revived.
    #[tracing::instrument(name = "imports.upload_finish", skip_all, fields(import = self.job_id))]
    pub async fn finish(mut self) -> Result<Job> {
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.flush_chunk(&rest).await?;
        }
        let claim = self.claim();
        claim.renew().await?;
        let source = StoredBody {
            app: self.app.clone(),
            job_id: self.job_id,
            len: self.written,
            handle: tokio::runtime::Handle::current(),
        };
        let checked = claim
            .hold(async {
                tokio::task::spawn_blocking(move || scan(&source)).await.map_err(|e| file_error(e.to_string()))
            })
            .await?;
        let checked = checked.and_then(|s| {
            plan_for(&s.header, &self.target.template.fields, &self.request.maps).map(|_| s).map_err(AppError::from)
        });
        let mut tx = self.app.store.begin().await?;
        match checked {
            Err(error) => {
                store::delete_job(&mut tx, self.job_id, &self.token).await?;
                tx.commit().await?;
                Err(error)
            }
            Ok(scanned) => {
                describe(&mut tx, self.job_id, &scanned).await?;
                if !store::make_pending(&mut tx, self.job_id, &self.token, self.app.now()).await? {
                    return Err(claim_lost(self.job_id));
                }
                tx.commit().await?;
                let mut conn = self.app.store.read().await?;
                Ok(store::get_job(&mut conn, self.job_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("import", self.job_id))?)
            }
        }
    }

    /// Gives up on the upload (the client went away, or the body was too big): removes it.
    #[tracing::instrument(name = "imports.upload_abort", skip_all, fields(import = self.job_id))]
    pub async fn abort(self) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::delete_job(&mut tx, self.job_id, &self.token).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn describe(conn: &mut impl Exec, id: i64, scanned: &Scan) -> Result<()> {
    store::describe_file(conn, id, scanned.bytes as i64, &scanned.sha256).await?;
    Ok(())
}
