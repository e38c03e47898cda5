//! How a write runs is the store's choice, not the use case's.
//!
//! A use case describes a write as a [`Unit`]: store calls over one connection, written once
//! against [`Exec`]. [`Store::write`] runs it in one transaction on the connection its backend
//! writes best with: on a SQLite file a unit of work on the writer thread (grouped with the
//! units queued beside it, each in a savepoint of its own); on PostgreSQL a transaction of its
//! own. A look-up by key goes the same way through [`Store::look_up`]: on a SQLite file on a
//! direct reader, on the calling thread; on PostgreSQL on a pooled connection.

use std::future::Future;

use crate::sqlite::direct::{finish_now, Direct};
use crate::{Exec, Store, StoreError};

/// A write made of store calls, run in one transaction by [`Store::write`].
pub trait Unit: Send + 'static {
    type Output: Send + 'static;
    type Error: From<StoreError> + Send + 'static;

    /// The write, on the transaction's connection. On SQLite it runs on the writer thread and
    /// is polled once: it may wait on nothing but the store's own calls.
    fn run(&self, tx: &mut impl Exec) -> impl Future<Output = Result<Self::Output, Self::Error>>;
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
    pub async fn write<U: Unit>(&self, unit: U) -> Result<U::Output, U::Error> {
        match &self.writer {
            Some(writer) => writer.run(move |conn| finish_now(unit.run(&mut Direct::new(conn)))).await,
            None => {
                let mut tx = self.begin().await?;
                let output = unit.run(&mut tx).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(output)
            }
        }
    }

    /// Runs a read by key outside any transaction.
    pub async fn look_up<L: LookUp>(&self, look_up: &L) -> Result<L::Output, L::Error> {
        match &self.readers {
            Some(readers) => readers.read(|conn| finish_now(look_up.run(&mut Direct::new(conn)))),
            None => look_up.run(&mut self.read().await?).await,
        }
    }
}
