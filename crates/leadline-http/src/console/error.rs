//! The console's one error type: an HTML page saying what went wrong, or a trip to sign-in.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use leadline_app::AppError;
use maud::html;

use super::layout;

#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: go and sign in.
    SignIn,
    /// A form without this session's CSRF token.
    Refused(&'static str),
    /// Anything else, shown on a page with its status.
    Page { status: StatusCode, message: String },
}

impl ConsoleError {
    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError::Page { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl From<AppError> for ConsoleError {
    fn from(error: AppError) -> Self {
        let status = match &error {
            AppError::Unauthorized(_) => return ConsoleError::SignIn,
            AppError::Invalid(_) | AppError::Dialer(_) | AppError::Return(_) | AppError::ReturnTarget(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::AlreadySold { .. } | AppError::StaleVersion { .. } => {
                StatusCode::CONFLICT
            }
            AppError::Store(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ConsoleError::Page { status, message: error.to_string() }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            ConsoleError::SignIn => return Redirect::to("/console/sign-in").into_response(),
            ConsoleError::Refused(why) => (StatusCode::FORBIDDEN, "Form refused", why.to_string()),
            ConsoleError::Page { status, message } => (status, status.canonical_reason().unwrap_or("Error"), message),
        };
        let body = html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/console" { "Back to the console" } }
        };
        (status, layout::bare(title, body)).into_response()
    }
}
