//! How a write runs is the store's choice, not the use case's.
//!
//! A use case describes a write as a [`Unit`]: store calls over one connection, written once
//! against [`Exec`]. [`Store::write`] runs it in one transaction on the connection its backend
//! writes best with: on a SQLite file a unit of work on the writer thread (grouped with the
//! units queued beside it, each in a savepoint of its own); on PostgreSQL a transaction of its
//! own. A write of many rows at once (an import's batch) is a [`BulkUnit`], which a SQLite file
//! runs alone in its transaction on the writer's bulk connection. A look-up by key goes the
//! same way through [`Store::look_up`]: on a SQLite file on a direct reader, on the calling
//! thread; on PostgreSQL on a pooled connection. Use cases say what to write; which of these
//! runs it is decided here.

use std::future::Future;

use crate::sqlite::direct::{finish_now, Direct};
use crate::sqlite::writer::Bulk;
use crate::{Exec, Store, StoreError};

/// A write made of store calls, run in one transaction by [`Store::write`].
pub trait Unit: Send + 'static {
    type Output: Send + 'static;
    type Error: From<StoreError> + Send + 'static;

    /// The write, on the transaction's connection. On SQLite it runs on the writer thread and
    /// is polled once: it may wait on nothing but the store's own calls.
    fn run(self, tx: &mut impl Exec) -> impl Future<Output = Result<Self::Output, Self::Error>>;
}

/// A unit that writes many rows at once, with a way of its own to write them on a SQLite file:
/// [`Unit::run`] on PostgreSQL, [`BulkUnit::run_bulk`] on SQLite (see [`Bulk`] for what that
/// connection promises and asks).
pub trait BulkUnit: Unit {
    fn run_bulk(self, bulk: Bulk<'_>) -> Result<Self::Output, Self::Error>;
}

/// A read by key, run by [`Store::look_up`]; the same rule as [`Unit::run`] holds.
pub trait LookUp {
    type Output;
    type Error: From<StoreError>;

    fn run(&self, conn: &mut impl Exec) -> impl Future<Output = Result<Self::Output, Self::Error>>;
}

impl Store {
    /// Runs `unit` in one transaction and returns its output once that has committed; an error
    /// from the unit (or from the commit) means nothing of it was kept.
    #[tracing::instrument(name = "store.write", skip_all, fields(unit = std::any::type_name::<U>()))]
    pub async fn write<U: Unit>(&self, unit: U) -> Result<U::Output, U::Error> {
        match self.writer() {
            Some(writer) => writer.run(move |conn| finish_now(unit.run(&mut Direct::new(conn)))).await,
            None => {
                let mut tx = self.begin().await?;
                let output = unit.run(&mut tx).await?;
                tx.commit().await?;
                Ok(output)
            }
        }
    }

    /// Runs `unit` in one transaction, as [`Store::write`] does; on a SQLite file alone in its
    /// transaction, through [`BulkUnit::run_bulk`].
    #[tracing::instrument(name = "store.write_bulk", skip_all, fields(unit = std::any::type_name::<U>()))]
    pub async fn write_bulk<U: BulkUnit>(&self, unit: U) -> Result<U::Output, U::Error> {
        match self.writer() {
            Some(writer) => writer.run_bulk(move |bulk| unit.run_bulk(bulk)).await,
            None => self.write(unit).await,
        }
    }

    /// Runs a read by key outside any transaction.
    #[tracing::instrument(level = "debug", name = "store.look_up", skip_all, fields(look_up = std::any::type_name::<L>()))]
    pub async fn look_up<L: LookUp>(&self, look_up: &L) -> Result<L::Output, L::Error> {
        match self.readers() {
            Some(readers) => readers.read(|conn| finish_now(look_up.run(&mut Direct::new(conn)))),
            None => look_up.run(&mut self.read().await?).await,
        }
    }
}
