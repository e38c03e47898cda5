//! iVvy's error shape: `{"errorCode": <HTTP status>, "message", "specificCode",
//! "additionalMessages": [...]}`, sent with that HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadline_app::crm::CrmError;
use leadline_app::AppError;
use leadline_core::DomainError;
use serde_json::json;

/// addOrUpdateLead: the request is empty.
pub const REQUEST_EMPTY: u32 = 24215;
/// addOrUpdateLead: the lead does not exist.
pub const LEAD_NOT_FOUND: u32 = 24216;
/// addOrUpdateLead: the lead details are invalid.
pub const LEAD_INVALID: u32 = 24218;
/// Errors iVvy documents no specific code for (authentication, other calls) carry 0.
pub const NO_SPECIFIC_CODE: u32 = 0;

#[derive(Debug)]
pub struct IvvyError {
    pub status: StatusCode,
    pub message: String,
    pub specific_code: u32,
    pub additional: Vec<String>,
}

impl IvvyError {
    pub fn new(status: StatusCode, specific_code: u32, message: impl Into<String>) -> IvvyError {
        IvvyError { status, message: message.into(), specific_code, additional: Vec::new() }
    }

    pub fn unauthorized(message: impl Into<String>) -> IvvyError {
        IvvyError::new(StatusCode::UNAUTHORIZED, NO_SPECIFIC_CODE, message)
    }

    pub fn with(mut self, additional: impl IntoIterator<Item = String>) -> IvvyError {
        self.additional.extend(additional);
        self
    }

    /// Invalid input to a call other than addOrUpdateLead.
    pub fn invalid(errors: &[DomainError]) -> IvvyError {
        IvvyError::new(StatusCode::BAD_REQUEST, NO_SPECIFIC_CODE, "The request is invalid")
            .with(errors.iter().map(ToString::to_string))
    }

    /// Maps a use-case error; `invalid` is what a broken input rule becomes for this call.
    pub fn from_app(error: AppError, invalid: impl FnOnce(Vec<DomainError>) -> IvvyError) -> IvvyError {
        let status = match &error {
            AppError::Invalid(d) => return invalid(vec![d.clone()]),
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            // Dialer and return refusals come from calls this dialect does not make.
            AppError::Conflict(_)
            | AppError::AlreadySold { .. }
            | AppError::StaleVersion { .. }
            | AppError::Dialer(_)
            | AppError::Return(_)
            | AppError::ReturnTarget(_) => StatusCode::CONFLICT,
            AppError::Store(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        IvvyError::new(status, NO_SPECIFIC_CODE, error.to_string())
    }
}

/// addOrUpdateLead's mapping: invalid details are 24218, a missing lead 24216.
impl From<CrmError> for IvvyError {
    fn from(error: CrmError) -> Self {
        match error {
            CrmError::Invalid(errors) => lead_invalid(&errors),
            CrmError::App(error @ AppError::NotFound { what: "lead", .. }) => {
                IvvyError::new(StatusCode::BAD_REQUEST, LEAD_NOT_FOUND, "The lead does not exist")
                    .with([error.to_string()])
            }
            CrmError::App(other) => IvvyError::from_app(other, |e| lead_invalid(&e)),
        }
    }
}

pub fn lead_invalid(errors: &[DomainError]) -> IvvyError {
    IvvyError::new(StatusCode::BAD_REQUEST, LEAD_INVALID, "The lead details are invalid")
        .with(errors.iter().map(ToString::to_string))
}

impl IntoResponse for IvvyError {
    fn into_response(self) -> Response {
        let body = json!({
            "errorCode": self.status.as_u16(),
            "message": self.message,
            "specificCode": self.specific_code,
            "additionalMessages": self.additional,
        });
        (self.status, axum::Json(body)).into_response()
    }
}
