//! Reading a row's columns by name, whatever driver read it (each implements [`Cells`] for its
//! own row type; [`crate::Row`] holds any of them).

use crate::{Result, StoreError};

/// A row's columns, read by name.
pub trait Cells {
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    /// A boolean, stored as one on PostgreSQL and as 0/1 on SQLite.
    fn opt_flag(&self, column: &str) -> Result<Option<bool>>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>>;

    fn int(&self, column: &str) -> Result<i64> {
        self.opt_int(column)?.ok_or_else(|| null(column))
    }

    fn text(&self, column: &str) -> Result<String> {
        self.opt_text(column)?.ok_or_else(|| null(column))
    }
}

pub(crate) fn null(column: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} is NULL"))
}
