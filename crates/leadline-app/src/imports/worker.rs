//! The import worker every node runs: it cleans up abandoned uploads and runs stored jobs
//! that are pending or whose runner died.

use std::sync::Arc;

use leadline_core::history::Api;
use leadline_store::imports::{self as store, Checkpoint, Job, JobStatus};
use leadline_store::StoreError;
use serde::Deserialize;

use super::run::Run;
use super::source::StoredBody;
use super::{claim_token, starter, target, ImportRequest, Source, Tuning, CLAIM};
use crate::{App, AppError, Result};

/// One pass of the import worker on a node: removes uploads abandoned half-way, then takes one
/// HTTP job that is pending or whose runner died (its claim lapsed) and runs it to the end.
/// Returns whether it ran a job. Any number of nodes may call this at once: the claim in the
/// database decides which one runs each job.
pub async fn work_once(app: &App, tuning: Tuning) -> Result<bool> {
    let now = app.now();
    let (abandoned, candidates) = {
        let mut conn = app.store.read().await?;
        (store::abandoned_uploads(&mut conn, now).await?, store::claimable_http_jobs(&mut conn, now, 5).await?)
    };
    for id in abandoned {
        let mut tx = app.store.begin().await?;
        // Only if its claim is still lapsed: an upload that renewed it meanwhile goes on.
        if store::fail_abandoned(&mut tx, id, "the upload was cut off before the whole body arrived", now).await? {
            store::delete_chunks(&mut tx, id).await?;
        }
        tx.commit().await?;
    }
    for id in candidates {
        let token = claim_token();
        let until = now.checked_add(CLAIM).unwrap_or(now);
        let mut tx = app.store.begin().await?;
        let claimed = store::claim(&mut tx, id, &token, now, until).await?;
        tx.commit().await?;
        if !claimed {
            continue;
        }
        let mut conn = app.store.read().await?;
        let Some(job) = store::get_job(&mut conn, id).await? else { continue };
        drop(conn);
        let outcome = run_http_job(app, &job, &token, tuning).await;
        if let Err(error) = outcome {
            // A job that cannot go on (its campaign was deleted, its body is unreadable) is
            // marked failed with the reason rather than retried for ever. A store failure
            // leaves it running: its claim lapses and a node resumes it. Either is done only while
            // this run holds the claim: a job another node took over is that node's to end.
            if !matches!(error, AppError::Store(_)) {
                let mut tx = app.store.begin().await?;
                if store::finish(&mut tx, id, &token, JobStatus::Failed, Some(&error.to_string()), app.now()).await? {
                    store::delete_chunks(&mut tx, id).await?;
                } else {
                    tracing::warn!(import = id, %error, "import job stopped after another node took it over");
                }
                tx.commit().await?;
            } else {
                tracing::error!(import = id, %error, "import job stopped; it resumes once its claim lapses");
            }
        }
        return Ok(true);
    }
    Ok(false)
}

#[tracing::instrument(name = "imports.run_job", skip_all, fields(import = job.id))]
async fn run_http_job(app: &App, job: &Job, token: &str, tuning: Tuning) -> Result<Checkpoint> {
    #[derive(Deserialize)]
    struct Options {
        maps: Vec<(String, String)>,
        allow_duplicates: bool,
    }
    let options: Options = serde_json::from_str(&job.options)
        .map_err(|e| AppError::Store(StoreError::Corrupt(format!("imports.options: {e}"))))?;
    let request = ImportRequest {
        campaign_id: job.campaign_id,
        allocation_id: job.allocation_id,
        template_id: Some(job.template_id),
        maps: options.maps,
        allow_duplicates: options.allow_duplicates,
    };
    let by = starter(app, job).await?;
    let target = target(app, &by, &request).await?;
    let source: Arc<dyn Source> = Arc::new(StoredBody {
        app: app.clone(),
        job_id: job.id,
        len: u64::try_from(job.file_bytes).unwrap_or(0),
        handle: tokio::runtime::Handle::current(),
    });
    let run = Run { app, by: &by, api: Api::Native, source, target: &target, request: &request, tuning, recheck: true };
    run.claimed(job, token, &mut ()).await
}
