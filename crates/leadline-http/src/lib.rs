//! Leadline's HTTP edge: the native `/v1` JSON API, the ops endpoints (`/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json`, `/docs`) and, each in its own module, the vendor dialects.
//! Handlers only translate: they parse the wire format, call a use case in `leadline-app`, and
//! map its outcome back to the wire.

#![forbid(unsafe_code)]

pub mod cake;
pub mod console;
pub mod error;
pub mod extract;
pub mod ivvy;
pub mod metrics;
pub mod native;
pub mod noojee;
pub mod openapi;
pub mod ops;
pub mod rate_limit;
pub mod server;
pub mod trace;
pub mod vicidial;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use leadline_app::App;

pub use server::ServeLimits;

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Time from a request's head to its response; past it the client gets a 503 and the work
    /// is dropped. Must exceed the Noojee waits, which happen inside a request.
    pub request_timeout: Duration,
    /// Longest pause allowed between two pieces of a request body.
    pub body_idle_timeout: Duration,
    pub noojee: noojee::Limits,
    /// The iVvy dialect's signing key and whether it also takes plain bearer keys.
    pub ivvy: ivvy::IvvySettings,
    /// The VICIdial archive dialect: office hours, batch limit, and where it archives.
    pub vicidial: vicidial::VicidialSettings,
    /// Requests a minute per key and per keyless client address, per route group.
    pub rate_limits: rate_limit::RateLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(900),
            body_idle_timeout: Duration::from_secs(30),
            noojee: noojee::Limits::default(),
            ivvy: ivvy::IvvySettings::default(),
            vicidial: vicidial::VicidialSettings::default(),
            rate_limits: rate_limit::RateLimits::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub app: App,
    pub metrics: Arc<metrics::Metrics>,
    pub settings: Arc<HttpSettings>,
    /// Turns for Noojee loads and updates on this node.
    pub noojee_limiter: Arc<noojee::Limiter>,
    /// This node's request rate limits.
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
}

/// The whole HTTP surface of one node.
pub fn router(app: App, settings: HttpSettings) -> Router {
    router_and_state(app, settings).0
}

/// The router and the state it serves, for tests that look inside (the limiter, the metrics).
pub fn router_and_state(app: App, settings: HttpSettings) -> (Router, AppState) {
    let state = AppState {
        app,
        metrics: Arc::new(metrics::Metrics::new()),
        noojee_limiter: Arc::new(noojee::Limiter::new(settings.noojee.clone())),
        rate_limiter: Arc::new(rate_limit::RateLimiter::new(settings.rate_limits.clone())),
        settings: Arc::new(settings.clone()),
    };
    let router = Router::new()
        .merge(ops::routes())
        .nest("/v1", native::routes())
        .merge(noojee::routes())
        .merge(ivvy::routes())
        .merge(vicidial::routes())
        .merge(cake::routes())
        .merge(console::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), time_limits))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::middleware::from_fn(trace::request))
        .with_state(state.clone());
    (router, state)
}

/// Middleware: bounds the pauses in a request body and the time to answer. A body that stalls
/// fails the extractor reading it (a 400 naming the timeout); a request not answered in time is
/// dropped and answered 503.
async fn time_limits(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let settings = &state.settings;
    let request = request
        .map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(settings.body_idle_timeout, body)));
    match tokio::time::timeout(settings.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request was not answered within {:?} (request_timeout_seconds)", settings.request_timeout),
        )
        .into_response(),
    }
}

/// Serves `router` on `listener` with the default [`ServeLimits`] until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, ServeLimits::default(), shutdown).await
}
