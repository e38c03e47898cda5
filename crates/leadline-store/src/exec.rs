//! The store's one way to run a statement: a [`Sql`] on a connection that implements [`Exec`],
//! with rows read by column name through [`Cells`].
//!
//! Every store function takes `&mut impl Exec`, so the same function runs inside a use case's
//! transaction ([`Tx`]), on a connection for reads ([`Conn`]) or, for the hot paths on a SQLite
//! file, on the direct writer's connection ([`Direct`](crate::Direct)). Each backend implements `Exec` on its
//! own typed driver, in its own folder: `postgres/` (sqlx's PostgreSQL driver) and `sqlite/`
//! (sqlx's SQLite driver for transactions and pooled reads, rusqlite for the engine's own
//! connections). SQL text is written once with `$n` parameters, which both backends accept.
//!
//! On the direct connection every call completes at once (rusqlite is synchronous), so a use
//! case written as an `async fn` over `Exec` runs on the writer thread through
//! [`crate::sqlite::direct::finish_now`].

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};

use crate::cells::Cells;
use crate::sqlite::row::DirectRow;
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

/// A write transaction, begun by [`crate::Store::begin`]. Dropping it without
/// [`Tx::commit`] rolls it back.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// A pooled connection for reads outside a transaction, from [`crate::Store::read`].
#[derive(Debug)]
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// `Exec` for the two holders of a backend's connection, by handing each call to it.
macro_rules! exec_by_backend {
    ($($holder:ty),*) => {$(
        impl Exec for $holder {
            fn backend(&self) -> Backend {
                match self {
                    Self::Sqlite(_) => Backend::Sqlite,
                    Self::Postgres(_) => Backend::Postgres,
                }
            }

            async fn optional_row(&mut self, sql: &Sql) -> Result<Option<Row>> {
                match self {
                    Self::Sqlite(conn) => (&mut **conn).optional_row(sql).await,
                    Self::Postgres(conn) => (&mut **conn).optional_row(sql).await,
                }
            }

            async fn all_rows(&mut self, sql: &Sql) -> Result<Vec<Row>> {
                match self {
                    Self::Sqlite(conn) => (&mut **conn).all_rows(sql).await,
                    Self::Postgres(conn) => (&mut **conn).all_rows(sql).await,
                }
            }

            async fn run(&mut self, sql: &Sql) -> Result<u64> {
                match self {
                    Self::Sqlite(conn) => (&mut **conn).run(sql).await,
                    Self::Postgres(conn) => (&mut **conn).run(sql).await,
                }
            }
        }
    )*};
}

exec_by_backend!(Tx, Conn);

/// `Exec` on a sqlx connection of one backend, whose rows become `Row::$variant`, each
/// statement in a `store.statement` span when the attributes given say so. (sqlx's SQLite
/// driver keeps the span current at a statement until its worker thread runs the next one, and
/// with it every span above: a use case's span would close one statement late.)
macro_rules! exec_on_sqlx {
    ($conn:ty, $backend:expr, $variant:ident $(, #[$statement:meta])?) => {
        impl $crate::Exec for $conn {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            $(#[$statement])?
            async fn optional_row(&mut self, sql: &$crate::Sql) -> $crate::Result<Option<$crate::Row>> {
                Ok(sql.query().fetch_optional(&mut *self).await?.map($crate::Row::$variant))
            }

            $(#[$statement])?
            async fn all_rows(&mut self, sql: &$crate::Sql) -> $crate::Result<Vec<$crate::Row>> {
                Ok(sql.query().fetch_all(&mut *self).await?.into_iter().map($crate::Row::$variant).collect())
            }

            $(#[$statement])?
            async fn run(&mut self, sql: &$crate::Sql) -> $crate::Result<u64> {
                Ok(sql.query().execute(&mut *self).await?.rows_affected())
            }
        }
    };
}
pub(crate) use exec_on_sqlx;

/// A row from any of the store's connections.
pub enum Row {
    Sqlite(sqlx::sqlite::SqliteRow),
    Postgres(sqlx::postgres::PgRow),
    Direct(DirectRow),
}

impl Cells for Row {
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self {
            Row::Sqlite(row) => row.opt_int(column),
            Row::Postgres(row) => row.opt_int(column),
            Row::Direct(row) => row.opt_int(column),
        }
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self {
            Row::Sqlite(row) => row.opt_text(column),
            Row::Postgres(row) => row.opt_text(column),
            Row::Direct(row) => row.opt_text(column),
        }
    }

    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        match self {
            Row::Sqlite(row) => row.opt_flag(column),
            Row::Postgres(row) => row.opt_flag(column),
            Row::Direct(row) => row.opt_flag(column),
        }
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Row::Sqlite(row) => row.opt_bytes(column),
            Row::Postgres(row) => row.opt_bytes(column),
            Row::Direct(row) => row.opt_bytes(column),
        }
    }
}
