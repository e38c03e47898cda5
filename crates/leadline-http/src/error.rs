//! The native API's one error type: RFC 9457 problem details (`application/problem+json`), with
//! the field that was wrong. Internal failures are logged with their cause and shown opaquely.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use leadline_app::store::Unavailable;
use leadline_app::AppError;
use serde::Serialize;

/// The `Retry-After` of a 503 for a database that cannot be reached: a restarting PostgreSQL is
/// usually back within seconds, and a node reconnects by itself on the next request.
pub const DATABASE_RETRY_AFTER_SECONDS: u64 = 5;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The input field that was wrong, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header: when a refusal that passes by itself (a limit, a
    /// database away) is worth trying again.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into(), field: None, retry_after: None }
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        let field = field.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            field: (!field.is_empty()).then_some(field),
            retry_after: None,
        }
    }

    /// The same refusal, telling the client to come back after `seconds`.
    pub fn retry_after(self, seconds: u64) -> ApiError {
        ApiError { retry_after: Some(seconds.max(1)), ..self }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let status = match &error {
            AppError::Invalid(d) => return ApiError::bad_request(d.field.clone(), d.to_string()),
            AppError::ReturnTarget(t) => return ApiError::bad_request(t.field(), t.to_string()),
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::AlreadySold { .. } => StatusCode::CONFLICT,
            AppError::StaleVersion { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::Dialer(refusal) => {
                use leadline_core::dialer::DialerError as D;
                match refusal {
                    D::LeadNotFound => StatusCode::NOT_FOUND,
                    D::Leased { .. } | D::StaleVersion | D::ExternalIdTaken(_) | D::DuplicatePhone(_) | D::Dnc(_) => {
                        StatusCode::CONFLICT
                    }
                    _ => StatusCode::BAD_REQUEST,
                }
            }
            AppError::Return(refusal) => {
                use leadline_core::returns::ReturnError as R;
                match refusal {
                    R::AlreadyInReturnList | R::AlreadyDecided(_) => StatusCode::CONFLICT,
                    _ => StatusCode::BAD_REQUEST,
                }
            }
            AppError::Store(cause) => match cause.unavailable() {
                Some(Unavailable::Unreachable) => {
                    tracing::warn!(error = %cause, "the database cannot be reached");
                    return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Unavailable::Unreachable.detail())
                        .retry_after(DATABASE_RETRY_AFTER_SECONDS);
                }
                Some(Unavailable::Full) => {
                    tracing::error!(error = %cause, "the database's storage is full; writes are refused");
                    return ApiError::new(StatusCode::INSUFFICIENT_STORAGE, Unavailable::Full.detail());
                }
                None => {
                    tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "store failure");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        };
        ApiError::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("nothing is served at {}; see /docs", uri.path()))
}
