//! An import body received over HTTP: stored in chunks as it arrives, so any node can run the
//! job, and checked whole before the job becomes pending.

use jiff::{SignedDuration, Timestamp};
use leadline_store::imports::{self as store, Job, JobSource, JobStatus, NewJob};
use leadline_store::{Conn, StoreError};

use super::claim::{claim_lost, Claim, RENEW_EVERY};
use super::csv::Scan;
use super::source::StoredBody;
use super::{claim_token, file_error, plan_for, scan, target, ImportRequest, Target, CLAIM};
use crate::{App, AppError, Principal, Result};

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
    target: Target,
}

/// Bytes per stored chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

impl Upload {
    pub async fn begin(app: &App, by: &Principal, request: ImportRequest, file_name: &str) -> Result<Upload> {
        let target = target(app, by, &request).await?;
        let now = app.now();
        let token = claim_token();
        let mut tx = app.store.begin().await?;
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
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Upload {
            app: app.clone(),
            job_id,
            token,
            renewed_at: now,
            request,
            buffer: Vec::new(),
            seq: 0,
            written: 0,
            target,
        })
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

    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= CHUNK_BYTES {
            let rest = self.buffer.split_off(CHUNK_BYTES);
            let chunk = std::mem::replace(&mut self.buffer, rest);
            self.flush_chunk(&chunk).await?;
        }
        self.keep().await
    }

    async fn flush_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::add_chunk(&mut tx, self.job_id, self.seq, self.written as i64, chunk).await?;
        let now = self.app.now();
        // Checked in the chunk's own transaction: a chunk of an upload another node failed is
        // never stored.
        if !store::extend_claim(&mut tx, self.job_id, &self.token, now.checked_add(CLAIM).unwrap_or(now)).await? {
            return Err(claim_lost(self.job_id));
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.renewed_at = now;
        self.seq += 1;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Stores the rest, checks the whole body, and makes the job pending; a bad body removes the
    /// job and comes back as the error naming its line. The claim is renewed first and held
    /// while the body is checked, and making the job pending requires it still: an upload that
    /// another node failed as abandoned is refused, never revived.
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
                tx.commit().await.map_err(StoreError::from)?;
                Err(error)
            }
            Ok(scanned) => {
                describe(&mut tx, self.job_id, &scanned).await?;
                if !store::make_pending(&mut tx, self.job_id, &self.token, self.app.now()).await? {
                    return Err(claim_lost(self.job_id));
                }
                tx.commit().await.map_err(StoreError::from)?;
                let mut conn = self.app.store.read().await?;
                Ok(store::get_job(&mut conn, self.job_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("import", self.job_id))?)
            }
        }
    }

    /// Gives up on the upload (the client went away, or the body was too big): removes it.
    pub async fn abort(self) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::delete_job(&mut tx, self.job_id, &self.token).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

async fn describe(conn: &mut Conn, id: i64, scanned: &Scan) -> Result<()> {
    store::describe_file(conn, id, scanned.bytes as i64, &scanned.sha256).await?;
    Ok(())
}
