//! Statements that run on either of the store's two kinds of connection.
//!
//! A use case's transaction is a sqlx connection (PostgreSQL, and SQLite outside the hot paths)
//! or, for the hot paths on a SQLite file, the direct writer's connection
//! ([`crate::sqlite::writer`]). Store functions written against [`Exec`] serve both with one SQL
//! text (`$n` parameters, which SQLite reads as named parameters; [`Direct`] binds them by name)
//! and one row reader ([`Cells`]).
//!
//! On the direct connection every call completes at once (rusqlite is synchronous), so a use
//! case written as an `async fn` over `Exec` runs on the writer thread through
//! [`crate::sqlite::direct::finish_now`].

use std::future::Future;

use sqlx::any::AnyRow;
use sqlx::Row as _;

#[cfg(doc)]
use crate::sqlite::direct::Direct;
use crate::sqlite::direct::DirectRow;
use crate::{Backend, Result, Sql, StoreError};

/// A connection a statement can run on.
///
/// The futures are not declared `Send`: on a sqlx connection they are (a caller with the
/// concrete type sees it), and on the direct connection they never leave the writer thread.
pub trait Exec {
    fn backend(&self) -> Backend;
    /// The first row, if any.
    fn optional_row(&mut self, sql: &Sql) -> impl Future<Output = Result<Option<Row>>>;
    fn all_rows(&mut self, sql: &Sql) -> impl Future<Output = Result<Vec<Row>>>;
    /// Runs a statement and returns how many rows it changed.
    fn run(&mut self, sql: &Sql) -> impl Future<Output = Result<u64>>;

    /// The one row a statement returns (an aggregate, an `INSERT … RETURNING`); none is a
    /// corrupt store.
    fn one_row(&mut self, sql: &Sql) -> impl Future<Output = Result<Row>> {
        async move {
            self.optional_row(sql)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("`{}` returned no row", sql.text())))
        }
    }
}

fn backend_of(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

impl Exec for sqlx::AnyConnection {
    fn backend(&self) -> Backend {
        backend_of(self)
    }

    async fn optional_row(&mut self, sql: &Sql) -> Result<Option<Row>> {
        Ok(sql.query().fetch_optional(&mut *self).await?.map(Row::Any))
    }

    async fn all_rows(&mut self, sql: &Sql) -> Result<Vec<Row>> {
        Ok(sql.query().fetch_all(&mut *self).await?.into_iter().map(Row::Any).collect())
    }

    async fn run(&mut self, sql: &Sql) -> Result<u64> {
        Ok(sql.query().execute(&mut *self).await?.rows_affected())
    }
}

/// Transactions and pooled connections run statements on the connection they hold.
macro_rules! exec_through_deref {
    ($([$($life:lifetime)?] $holder:ty),*) => {$(
        impl<$($life)?> Exec for $holder {
            fn backend(&self) -> Backend {
                backend_of(self)
            }

            async fn optional_row(&mut self, sql: &Sql) -> Result<Option<Row>> {
                (**self).optional_row(sql).await
            }

            async fn all_rows(&mut self, sql: &Sql) -> Result<Vec<Row>> {
                (**self).all_rows(sql).await
            }

            async fn run(&mut self, sql: &Sql) -> Result<u64> {
                (**self).run(sql).await
            }
        }
    )*};
}

exec_through_deref!(['c] sqlx::Transaction<'c, sqlx::Any>, [] sqlx::pool::PoolConnection<sqlx::Any>);
/// A row from either connection.
pub enum Row {
    Any(AnyRow),
    Direct(DirectRow),
}

/// Reading a row's columns by name, whichever connection it came from.
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

impl Cells for AnyRow {
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        crate::get_bool(self, column)
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
}

impl Cells for Row {
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self {
            Row::Any(row) => row.opt_int(column),
            Row::Direct(row) => row.opt_int(column),
        }
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self {
            Row::Any(row) => row.opt_text(column),
            Row::Direct(row) => row.opt_text(column),
        }
    }

    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        match self {
            Row::Any(row) => row.opt_flag(column),
            Row::Direct(row) => row.opt_flag(column),
        }
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Row::Any(row) => row.opt_bytes(column),
            Row::Direct(row) => row.opt_bytes(column),
        }
    }
}
