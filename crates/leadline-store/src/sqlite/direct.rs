//! Statements on a connection of SQLite's own (the direct writer's, or a direct reader's),
//! through rusqlite: the same `$n` SQL text and row reading ([`Cells`]) as on sqlx, with each
//! call completing at once, so a use case written as an `async fn` over [`Exec`] runs on the
//! writer thread through [`finish_now`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rusqlite::types::Value;
use rusqlite::Connection;

use super::row::DirectRow;
use crate::exec::{Exec, Row};
use crate::{Backend, Result, Sql, StoreError};

/// The direct writer's connection, inside the transaction of a unit of work.
pub struct Direct<'c> {
    conn: &'c Connection,
}

impl<'c> Direct<'c> {
    pub fn new(conn: &'c Connection) -> Direct<'c> {
        Direct { conn }
    }

    /// Prepares (or takes from the cache) a statement and binds `$n` to the n-th argument.
    fn prepare(&self, sql: &Sql) -> Result<rusqlite::CachedStatement<'c>> {
        let mut statement = self.conn.prepare_cached(sql.text())?;
        let count = statement.parameter_count();
        if count == sql.args().len() && numbered_in_order(sql.text()) == count {
            // SQLite numbers named parameters by first appearance, so here `$n` is parameter n.
            // (Asking SQLite each parameter's name walks a list: quadratic in a long insert.)
            for (index, arg) in sql.args().iter().enumerate() {
                statement.raw_bind_parameter(index + 1, arg)?;
            }
            return Ok(statement);
        }
        for index in 1..=count {
            let arg = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| sql.args().get(n.wrapping_sub(1)))
                .ok_or_else(|| StoreError::Writer(format!("parameter {index} of `{}` has no argument", sql.text())))?;
            statement.raw_bind_parameter(index, arg)?;
        }
        Ok(statement)
    }

    fn rows(&self, sql: &Sql, limit: usize) -> Result<Vec<Row>> {
        let mut statement = self.prepare(sql)?;
        let names = column_names(sql.text(), &statement);
        let mut rows = statement.raw_query();
        let mut read = Vec::new();
        while read.len() < limit {
            let Some(row) = rows.next()? else { break };
            let values = (0..names.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>()?;
            read.push(Row::Direct(DirectRow::new(names.clone(), values)));
        }
        Ok(read)
    }
}

/// How many `$n` parameters `text` numbers 1, 2, 3, … in order of first appearance (a repeat of
/// an earlier one is fine); 0 when one appears out of that order.
fn numbered_in_order(text: &str) -> usize {
    let mut next = 1;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) if n == next => next += 1,
            Ok(n) if n < next => {}
            _ => return 0,
        }
        rest = &rest[digits..];
    }
    next - 1
}

/// Statement texts to their column names, per thread: a row keeps the names of its columns, and
/// the same few queries run over and over.
fn column_names(text: &str, statement: &rusqlite::Statement<'_>) -> Arc<[Box<str>]> {
    const KEEP: usize = 256;
    thread_local! {
        static NAMES: RefCell<HashMap<String, Arc<[Box<str>]>>> = RefCell::new(HashMap::new());
    }
    NAMES.with_borrow_mut(|names| {
        if let Some(known) = names.get(text) {
            return known.clone();
        }
        if names.len() >= KEEP {
            names.clear();
        }
        let read: Arc<[Box<str>]> = statement.column_names().into_iter().map(Box::from).collect();
        names.insert(text.to_string(), read.clone());
        read
    })
}

impl Exec for Direct<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    #[tracing::instrument(level = "debug", name = "store.statement", skip_all, fields(sql = %sql.summary()))]
    async fn optional_row(&mut self, sql: &Sql) -> Result<Option<Row>> {
        Ok(self.rows(sql, 1)?.pop())
    }

    #[tracing::instrument(level = "debug", name = "store.statement", skip_all, fields(sql = %sql.summary()))]
    async fn all_rows(&mut self, sql: &Sql) -> Result<Vec<Row>> {
        self.rows(sql, usize::MAX)
    }

    #[tracing::instrument(level = "debug", name = "store.statement", skip_all, fields(sql = %sql.summary()))]
    async fn run(&mut self, sql: &Sql) -> Result<u64> {
        Ok(self.prepare(sql)?.raw_execute()? as u64)
    }
}

/// Runs a future that never waits, as a use case over [`Direct`] is, to its end.
pub fn finish_now<T, E: From<StoreError>>(work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    match pin!(work).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => {
            Err(StoreError::Writer("a unit of work on the direct writer waited for something".into()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sql, SqlArg};
    use rusqlite::Connection;

    #[test]
    fn parameters_count_as_in_order_only_when_first_seen_as_1_2_3() {
        assert_eq!(numbered_in_order("SELECT 1"), 0);
        assert_eq!(numbered_in_order("INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)"), 6);
        assert_eq!(numbered_in_order("UPDATE t SET a = $1, b = $2 WHERE a = $1 OR c = $3"), 3);
        let long: Vec<String> = (1..=12).map(|n| format!("${n}")).collect();
        assert_eq!(numbered_in_order(&long.join(", ")), 12);
        assert_eq!(numbered_in_order("UPDATE t SET a = $2 WHERE b = $1"), 0);
        assert_eq!(numbered_in_order("SELECT $1, $3"), 0);
        assert_eq!(numbered_in_order("SELECT '$' || $1"), 0, "a bare $ is not taken for a parameter");
    }

    #[test]
    fn parameters_out_of_order_are_bound_by_name() {
        let conn = Connection::open_in_memory().unwrap();
        let direct = Direct::new(&conn);
        let sql = Sql::fixed("SELECT $2 || '-' || $1 || '-' || $2", [SqlArg::Int(Some(1)), SqlArg::Int(Some(2))]);
        let mut statement = direct.prepare(&sql).unwrap();
        let joined: String = statement.raw_query().next().unwrap().unwrap().get(0).unwrap();
        assert_eq!(joined, "2-1-2");
        let sql = Sql::fixed("SELECT $1 || '-' || $2 || '-' || $1", [SqlArg::Int(Some(1)), SqlArg::Int(Some(2))]);
        let mut statement = direct.prepare(&sql).unwrap();
        let joined: String = statement.raw_query().next().unwrap().unwrap().get(0).unwrap();
        assert_eq!(joined, "1-2-1");
    }
}
