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
pub mod trace;
pub mod vicidial;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use leadline_app::App;

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub noojee: noojee::Limits,
    /// The iVvy dialect's signing key and whether it also takes plain bearer keys.
    pub ivvy: ivvy::IvvySettings,
    /// The VICIdial archive dialect: office hours, batch limit, and where it archives.
    pub vicidial: vicidial::VicidialSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            body_limit: 1024 * 1024,
            noojee: noojee::Limits::default(),
            ivvy: ivvy::IvvySettings::default(),
            vicidial: vicidial::VicidialSettings::default(),
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::middleware::from_fn(trace::request))
        .with_state(state.clone());
    (router, state)
}

/// Serves `router` on `listener` until `shutdown` resolves, finishing requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
