//! A row read on one of the engine's own connections ([`super::direct`]).

use std::cell::Cell;
use std::sync::Arc;

use rusqlite::types::Value;

use crate::cells::Cells;
use crate::{Result, StoreError};

/// A row read on the direct connection, owned so it outlives its statement.
pub struct DirectRow {
    names: Arc<[Box<str>]>,
    values: Vec<Value>,
    /// Where the next look-up starts: readers take columns in the order they were selected.
    next: Cell<usize>,
}

impl DirectRow {
    pub(crate) fn new(names: Arc<[Box<str>]>, values: Vec<Value>) -> DirectRow {
        DirectRow { names, values, next: Cell::new(0) }
    }

    fn value(&self, column: &str) -> Result<&Value> {
        let count = self.names.len();
        let start = self.next.get();
        (0..count)
            .map(|offset| (start + offset) % count.max(1))
            .find(|&i| &*self.names[i] == column)
            .map(|i| {
                self.next.set(i + 1);
                &self.values[i]
            })
            .ok_or_else(|| StoreError::Corrupt(format!("the query has no column `{column}`")))
    }
}

impl Cells for DirectRow {
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Integer(v) => Ok(Some(*v)),
            other => Err(StoreError::Corrupt(format!("{column} holds {other:?}, not an integer"))),
        }
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(StoreError::Corrupt(format!("{column} holds {other:?}, not text"))),
        }
    }

    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        Ok(self.opt_int(column)?.map(|v| v != 0))
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v.clone())),
            other => Err(StoreError::Corrupt(format!("{column} holds {other:?}, not bytes"))),
        }
    }
}
