//! Request tracing: every request gets an id and a span that carries it, so each log line written
//! while the request is served (by a dialect, a use case, the store) names the request, and a line
//! from one node can be matched with the client's report and with the other nodes' lines.
//!
//! The id is the caller's `X-Request-Id` when it sent a sane one (a load balancer or a client that
//! already numbers its requests), otherwise 16 random hex digits. Either way it is sent back in
//! the response's `X-Request-Id`. A request slower than the configured threshold is logged at
//! warn level, with its status and time, whatever the log filter says about debug lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller id kept; longer ones are replaced, not cut, so an id is never half someone's.
const MAX_ID_LEN: usize = 128;

/// Milliseconds above which a request is logged as slow. One process serves one configuration, so
/// it is set once at start ([`set_slow_request_threshold`]) rather than threaded through the router.
static SLOW_REQUEST_MILLIS: AtomicU64 = AtomicU64::new(1000);

pub fn set_slow_request_threshold(threshold: Duration) {
    SLOW_REQUEST_MILLIS.store(u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

pub fn slow_request_threshold() -> Duration {
    Duration::from_millis(SLOW_REQUEST_MILLIS.load(Ordering::Relaxed))
}

/// Middleware, outermost: gives the request its id and serves it inside a `request` span.
pub async fn request(request: Request, next: Next) -> Response {
    let id = request.headers().get(&REQUEST_ID).and_then(caller_id).unwrap_or_else(new_id);
    // The path only: query strings carry keys on some dialects (CAKE's api_key).
    let span =
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    if elapsed > slow_request_threshold() {
        span.in_scope(|| {
            tracing::warn!(status = response.status().as_u16(), millis = elapsed.as_millis() as u64, "slow request")
        });
    }
    let value = HeaderValue::from_str(&id).expect("a request id is visible ASCII");
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// A caller's id when it is one that is safe to log and send back: 1 to 128 characters of
/// letters, digits and `-_.:`.
fn caller_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= MAX_ID_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| text.to_string())
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: still unique within this process, which is what a log reader needs most.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        bytes = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sane_caller_id_is_kept() {
        for kept in ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace.1:2_3"] {
            assert_eq!(caller_id(&HeaderValue::from_static(kept)).as_deref(), Some(kept));
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for refused in ["", "has space", "semi;colon", "new\tline", long.as_str()] {
            assert_eq!(caller_id(&HeaderValue::from_str(refused).unwrap()), None, "{refused:?}");
        }
        assert_eq!(caller_id(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()), None);
        let made = new_id();
        assert!(made.len() == 16 && made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        assert_ne!(made, new_id());
    }
}
