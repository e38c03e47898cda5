//! Store failures that say the database cannot serve a request for now, told apart from the
//! others by their kind and the databases' error codes (never by their text), so an edge can
//! answer them as a temporary refusal instead of an internal error.

use crate::StoreError;

/// Why the database cannot take a request for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// It could not be reached, or went away during the request: PostgreSQL stopped, restarting
    /// or refusing connections, or no connection came free within the pool's acquire timeout.
    Unreachable,
    /// Its storage is full: SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`. The failed write
    /// was rolled back; reads go on.
    Full,
}

impl Unavailable {
    /// What a client is told, in words.
    pub fn detail(self) -> &'static str {
        match self {
            Unavailable::Unreachable => {
                "the database cannot be reached for now (stopped, restarting or out of connections); try again shortly"
            }
            Unavailable::Full => {
                "the database's storage is full: nothing was written; reads go on until an operator frees space"
            }
        }
    }
}

/// SQLite's primary result code for a full disk, as sqlx reports it.
const SQLITE_FULL: &str = "13";

impl StoreError {
    /// Whether this failure says the database cannot serve requests for now, and why.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self {
            StoreError::Database(error) => sqlx_unavailable(error),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DiskFull =>
            {
                Some(Unavailable::Full)
            }
            _ => None,
        }
    }
}

fn sqlx_unavailable(error: &sqlx::Error) -> Option<Unavailable> {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => Some(Unavailable::Unreachable),
        sqlx::Error::Database(db) => match db.code()?.as_ref() {
            SQLITE_FULL | "53100" => Some(Unavailable::Full),
            // PostgreSQL: connection exceptions (class 08), too many connections, and the
            // server shutting down, crashed or still starting.
            code if code.starts_with("08") => Some(Unavailable::Unreachable),
            "53300" | "57P01" | "57P02" | "57P03" => Some(Unavailable::Unreachable),
            _ => None,
        },
        _ => None,
    }
}
