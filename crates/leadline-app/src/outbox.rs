//! The webhook outbox as a use case: disposition webhooks are delivered after the change that
//! made them has committed. Edges only start the worker; claims, delivery and marks live here.
//!
//! Every node runs a worker; a delivery is claimed by one node at a time, so a node that dies
//! mid-delivery only delays it. Each POST carries `X-Leadline-Delivery` (the outbox id, stable
//! across retries, for the receiver to drop a repeat after a crash between its answer and our
//! record of it) and `X-Leadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`:
//! the time is signed with the body, so a receiver that refuses old times cannot be replayed a
//! captured delivery later (docs/SECURITY.md, "Outbound webhooks").

use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use leadline_core::redact;
use leadline_store::dialer::{self as store, Delivery};
use sha2::Sha256;

use crate::outbound::OutboundPolicy;
use crate::{App, Result};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Key of the body signature; when None, a key shared through the database is used.
    pub secret: Option<String>,
    pub poll_every: Duration,
    pub timeout: Duration,
    /// Attempts before a delivery is given up on (then marked failed).
    pub max_attempts: i64,
    /// Deliveries one claim takes. The claim lasts long enough to post every one of them at the
    /// full `timeout`, plus one `timeout` to spare for recording the results, so a slow receiver
    /// cannot make a claim lapse while its node is still posting.
    pub batch: u32,
    /// Which addresses a webhook may reach (internal ones only where the operator allowed).
    pub policy: OutboundPolicy,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            secret: None,
            poll_every: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            batch: 5,
            policy: OutboundPolicy::default(),
        }
    }
}

impl WebhookSettings {
    /// How long a claim of `count` deliveries lasts: a timeout for each, and one to spare.
    fn claim_length(&self, count: u32) -> SignedDuration {
        let length = self.timeout.saturating_mul(count.saturating_add(1));
        SignedDuration::try_from(length).unwrap_or(SignedDuration::MAX)
    }
}

/// The `X-Leadline-Signature` value of `body` sent at `unix_seconds`: `t=<seconds>,v1=<hex
/// HMAC-SHA256 of "<seconds>.<body>">`. `v1` names the scheme, so another can be sent beside it
/// later without breaking receivers that check this one.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("t={unix_seconds},v1={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The signing key: the configured one, or the one the nodes share through the database.
pub async fn signing_secret(app: &App, settings: &WebhookSettings) -> Result<String> {
    if let Some(secret) = &settings.secret {
        return Ok(secret.clone());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut tx = app.store.begin().await?;
    let secret = store::shared_secret(&mut tx, "webhook_signing", &fresh).await?;
    tx.commit().await?;
    Ok(secret)
}

/// A client error with its causes (a refused address is a cause of "error sending request"),
/// without the URL, which may carry a lead's details.
fn describe(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// A fresh claim token: 128 random bits, hex.
fn claim_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Backoff before attempt `n + 1`: 10 s, 20 s, 40 s, … capped at an hour.
fn backoff(attempts: i64) -> SignedDuration {
    let seconds = 10i64.saturating_mul(1i64 << attempts.clamp(0, 20)).min(3600);
    SignedDuration::from_secs(seconds)
}

pub struct Worker {
    app: App,
    client: reqwest::Client,
    secret: String,
    settings: WebhookSettings,
}

impl Worker {
    pub async fn new(app: App, settings: WebhookSettings) -> Result<Worker> {
        let secret = signing_secret(&app, &settings).await?;
        let client = settings
            .policy
            .client_builder()
            .timeout(settings.timeout)
            .user_agent(concat!("leadline/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Ok(Worker { app, client, secret, settings })
    }

    /// Delivers what is due now; returns how many deliveries succeeded.
    ///
    /// The claim is taken under a fresh token, and a result is written only while the row still
    /// carries it: if this node was too slow and another took the delivery over, this node's
    /// result is dropped rather than written over the other's.
    pub async fn deliver_due(&self) -> Result<usize> {
        let now = self.app.now();
        let batch = self.settings.batch.max(1);
        let claim_until = now.checked_add(self.settings.claim_length(batch)).unwrap_or(now);
        let token = claim_token();
        let mut tx = self.app.store.begin().await?;
        let claimed = store::claim_webhooks(&mut tx, now, claim_until, &token, i64::from(batch)).await?;
        tx.commit().await?;
        let timeout = SignedDuration::try_from(self.settings.timeout).unwrap_or(SignedDuration::MAX);
        let mut delivered = 0;
        for delivery in claimed {
            // A post may take the whole timeout; one that could outlast the claim is left for
            // the claim to lapse, and is taken again then, by this node or another.
            if self.app.now().checked_add(timeout).map_or(true, |end| end > claim_until) {
                break;
            }
            let outcome = self.post(&delivery).await;
            let now = self.app.now();
            let mut tx = self.app.store.begin().await?;
            let recorded = match outcome {
                Ok(()) => {
                    let recorded = store::webhook_delivered(&mut tx, delivery.id, &token, now).await?;
                    delivered += usize::from(recorded);
                    recorded
                }
                Err(error) => {
                    let retry_at = (delivery.attempts + 1 < self.settings.max_attempts)
                        .then(|| now.checked_add(backoff(delivery.attempts)).ok())
                        .flatten();
                    tracing::warn!(delivery = delivery.id, url = %redact::url_origin(&delivery.url), %error, retry = retry_at.is_some(), "webhook delivery failed");
                    store::webhook_failed(&mut tx, delivery.id, &token, &error, retry_at, now).await?
                }
            };
            tx.commit().await?;
            if !recorded {
                tracing::warn!(
                    delivery = delivery.id,
                    "webhook claim lapsed before its result was recorded; the node that took it over records its own"
                );
            }
        }
        Ok(delivered)
    }

    #[tracing::instrument(name = "outbox.deliver", skip_all, fields(delivery = delivery.id, attempt = delivery.attempts + 1))]
    async fn post(&self, delivery: &Delivery) -> Result<(), String> {
        let url = reqwest::Url::parse(&delivery.url).map_err(|e| format!("the URL does not parse: {e}"))?;
        self.settings.policy.check_url(&url).map_err(|refusal| refusal.to_string())?;
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Leadline-Delivery", delivery.id.to_string())
            .header("X-Leadline-Signature", signature(&self.secret, self.app.now().as_second(), &delivery.body))
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| describe(e.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }

    /// Delivers until `shutdown` resolves, polling every `poll_every`, or at once again after
    /// a full batch went out (more may be waiting: claims are small, a backlog is not).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let full = self.settings.batch.max(1) as usize;
        loop {
            let pause = match self.deliver_due().await {
                Ok(delivered) if delivered >= full => Duration::ZERO,
                Ok(_) => self.settings.poll_every,
                Err(error) => {
                    tracing::error!(%error, "webhook worker could not read the outbox");
                    self.settings.poll_every
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_time_and_the_body() {
        // HMAC-SHA256("Jefe", "1700000000.what do ya want for nothing?"), worked out apart.
        assert_eq!(
            signature("Jefe", 1_700_000_000, "what do ya want for nothing?"),
            "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_ne!(signature("Jefe", 1_700_000_001, "x"), signature("Jefe", 1_700_000_000, "x"));
    }

    #[test]
    fn backoff_doubles_and_is_capped_at_an_hour() {
        assert_eq!(backoff(0), SignedDuration::from_secs(10));
        assert_eq!(backoff(3), SignedDuration::from_secs(80));
        assert_eq!(backoff(30), SignedDuration::from_secs(3600));
    }
}
