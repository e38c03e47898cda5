//! A job's claim as held by the node working on it: renewed by time while the work goes on,
//! however slowly bytes arrive or a batch is written, and given up as soon as a renewal finds
//! that another node took the job over.

use std::future::Future;
use std::time::Duration;

use leadline_store::imports as store;

use super::CLAIM;
use crate::{App, AppError, Result};

/// How often a held claim is renewed: a quarter of its length, so a renewal or two may fail
/// (the database briefly away) before the claim lapses.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(CLAIM.as_secs() as u64 / 4);

/// The claim `token` holds on import `job_id`.
#[derive(Debug, Clone)]
pub struct Claim {
    pub(super) app: App,
    pub(super) job_id: i64,
    pub(super) token: String,
}

/// The refusal of a node that lost a job's claim: it stops, and leaves the job to its new holder.
pub(super) fn claim_lost(job_id: i64) -> AppError {
    AppError::Conflict(format!(
        "import {job_id} is no longer held by this node (its claim lapsed and another node took it over or failed it); this node stopped working on it"
    ))
}

impl Claim {
    /// Extends the claim to [`CLAIM`] from now; the refusal [`claim_lost`] if it is no longer
    /// held.
    pub async fn renew(&self) -> Result<()> {
        let now = self.app.now();
        let mut tx = self.app.store.begin().await?;
        let held =
            store::extend_claim(&mut tx, self.job_id, &self.token, now.checked_add(CLAIM).unwrap_or(now)).await?;
        tx.commit().await?;
        if held {
            Ok(())
        } else {
            Err(claim_lost(self.job_id))
        }
    }

    /// Runs `work`, renewing the claim every [`RENEW_EVERY`] until it ends. Stops `work` with
    /// [`claim_lost`] as soon as a renewal finds the claim gone; a renewal that fails on the
    /// store is logged and tried again at the next tick.
    pub async fn hold<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::pin!(work);
        let start = tokio::time::Instant::now() + RENEW_EVERY;
        let mut ticks = tokio::time::interval_at(start, RENEW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => match self.renew().await {
                    Ok(()) => {}
                    Err(AppError::Store(error)) => {
                        tracing::warn!(import = self.job_id, %error, "an import's claim could not be renewed; trying again");
                    }
                    Err(lost) => return Err(lost),
                },
            }
        }
    }
}
