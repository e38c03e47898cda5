//! The one error type of the use-case boundary. Edges map it to their own wire shapes.

use leadline_core::DomainError;
use leadline_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input broke a rule; the error names the field.
    #[error("{0}")]
    Invalid(DomainError),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    /// The change collides with the current state (a duplicate, something still referred to).
    #[error("{0}")]
    Conflict(String),
    /// The buyer contract has bought this lead already (told apart so CAKE can say so).
    #[error("contract {buyer_contract_id} has already bought lead {lead_id}")]
    AlreadySold { buyer_contract_id: i64, lead_id: i64 },
    /// The caller's version is not the current one; nothing was changed.
    #[error("the lead is at version {current}, not {given}; read it again and retry")]
    StaleVersion { given: i64, current: i64 },
    /// A dialer load or update was refused for a reason its dialect has a code for.
    #[error("{0}")]
    Dialer(leadline_core::dialer::DialerError),
    /// A return was refused by the rules of returns.
    #[error("{0}")]
    Return(leadline_core::returns::ReturnError),
    /// A return call did not name one sale the caller may return; the error names the field.
    #[error("{0}")]
    ReturnTarget(crate::returns::ReturnTargetError),
    /// A store failure the caller cannot fix; its detail goes to the log only.
    #[error("internal error")]
    Store(StoreError),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            // Caught by the domain's own checks wherever it names the field; this is the net
            // under every other text a caller sends (filters, holders, notes).
            StoreError::Unstorable(_) => {
                AppError::Invalid(DomainError::new("", format!("text {}", leadline_core::error::NUL_REFUSED)))
            }
            other => AppError::Store(other),
        }
    }
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Invalid(DomainError::new(field, message))
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> AppError {
        AppError::NotFound { what, id: id.to_string() }
    }

    /// Whether the failure is the database's being unavailable for now (unreachable, or its
    /// disk full), which edges answer as a temporary refusal rather than an internal error.
    pub fn unavailable(&self) -> Option<leadline_store::Unavailable> {
        match self {
            AppError::Store(cause) => cause.unavailable(),
            _ => None,
        }
    }

    /// A store failure the operator can act on and that is safe to show an operator-facing
    /// client: a database that lacks a table or column the code needs (a VICIdial database set
    /// up without its archive table, say). None for every other error.
    pub fn operator_detail(&self) -> Option<&str> {
        match self {
            AppError::Store(StoreError::Corrupt(detail)) => Some(detail),
            _ => None,
        }
    }
}

impl From<leadline_core::dialer::DialerError> for AppError {
    fn from(error: leadline_core::dialer::DialerError) -> Self {
        match error {
            leadline_core::dialer::DialerError::Invalid(d) => AppError::Invalid(d),
            other => AppError::Dialer(other),
        }
    }
}

impl From<leadline_core::returns::ReturnError> for AppError {
    fn from(error: leadline_core::returns::ReturnError) -> Self {
        AppError::Return(error)
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        AppError::Invalid(error)
    }
}
