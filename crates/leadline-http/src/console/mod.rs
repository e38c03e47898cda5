//! The operator console at `/console`: HTML pages served by the same binary, with nothing
//! fetched from elsewhere at run time (the stylesheet and the little script are compiled in).
//!
//! Sign-in takes an API key and opens a session kept in the database (any node serves it); the
//! browser holds only a random token in an HttpOnly, SameSite=Strict cookie. Every form that
//! changes something carries the session's CSRF token and is refused without it. Pages are maud
//! templates, which escape every value, so text from leads is shown as text. Each action calls
//! the same use case as the APIs, with the session's key as the caller.

mod archive;
mod assets;
mod charts;
mod dashboard;
mod dialer;
mod error;
mod grid;
mod grid_actions;
mod layout;
mod returns;
mod session;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;
pub use error::ConsoleError;
pub use session::{Signed, CSRF_FIELD, PRE_COOKIE, SESSION_COOKIE};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/assets/console.css", get(assets::css))
        .route("/console/assets/console.js", get(assets::js))
        .route("/console/dashboard", get(dashboard::page))
        .route("/console/dialer", get(dialer::overview))
        .route("/console/leads", get(dialer::leads))
        .route("/console/leads/{id}", get(dialer::lead))
        .route("/console/grid", get(grid::grid))
        .route("/console/grid/act", post(grid_actions::act))
        .route("/console/returns", get(returns::queue))
        .route("/console/returns/{id}/decide", post(returns::decide))
        .route("/console/ledger", get(returns::ledger))
        .route("/console/archive", get(archive::page))
        .route("/console/archive/run", post(archive::run))
        .layer(axum::middleware::map_response(security_headers))
}

/// The first page: where a key of this role has most to do. Admin and read-only keys see the
/// whole business, so they start on the dashboard; the others keep the page of their work.
async fn home(signed: Signed) -> Redirect {
    use leadline_core::access::Role;
    match signed.0.principal.role {
        Role::Admin | Role::ReadOnly => Redirect::to("/console/dashboard"),
        Role::Buyer { .. } => Redirect::to("/console/returns"),
        Role::Dialer { .. } | Role::Archiver => Redirect::to("/console/dialer"),
    }
}

/// Headers on every console response: the page may load only this server's own script and
/// style, be framed by nobody, and not be cached (pages show live data and a CSRF token).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}
