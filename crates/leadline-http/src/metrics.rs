//! Prometheus metrics: requests by route and status, latency by route, and pool use.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("leadline");
        let requests = Family::<RequestLabels, Counter>::default();
        // 100 µs to ~13 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("db_pool_connections", "Database connections by state", pool.clone());
        Metrics { registry, requests, latency, pool }
    }

    /// The exposition text, with pool gauges read now.
    pub fn render(&self, pool_usage: (u32, u32)) -> String {
        self.pool.get_or_create(&PoolLabels { state: "in_use" }).set(i64::from(pool_usage.0));
        self.pool.get_or_create(&PoolLabels { state: "idle" }).set(i64::from(pool_usage.1));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Middleware: counts and times every request under its route template (not its raw path, so
/// ids do not explode the label set). Also logs each request at debug level.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::debug!(%method, %route, status, micros = elapsed.as_micros() as u64, "request");
    state.metrics.requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
    state.metrics.latency.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
    response
}

/// The method as a label: one of the standard methods, or `other`, so that clients inventing
/// methods cannot grow the label set.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    let standard = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    standard.into_iter().find(|(known, _)| known == method).map_or("other", |(_, label)| label)
}
