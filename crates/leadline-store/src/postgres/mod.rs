//! PostgreSQL: the backend for every installation of more than one node, on sqlx's typed
//! PostgreSQL driver.
//!
//! Everything the store runs goes through one pool, with a transaction per use case; the
//! store's shared SQL needs nothing of PostgreSQL but what is here (connecting, the schema's
//! migrations, reading its rows) and the row locks the store functions add when
//! [`Exec::backend`](crate::Exec::backend) says PostgreSQL.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row as _};

use crate::exec::exec_on_sqlx;
use crate::{Backend, Cells, Embedded, PoolConfig, Result, StoreError};

/// The schema, migration by migration (numbers shared with SQLite's, where one was skipped on
/// both).
pub(crate) const MIGRATIONS: Embedded = Embedded(&[
    (1, "initial", include_str!("../../migrations/postgres/0001_initial.sql")),
    (3, "crm", include_str!("../../migrations/postgres/0003_crm.sql")),
    (4, "dialer", include_str!("../../migrations/postgres/0004_dialer.sql")),
    (5, "archive", include_str!("../../migrations/postgres/0005_archive.sql")),
    (6, "imports", include_str!("../../migrations/postgres/0006_imports.sql")),
    (7, "returns", include_str!("../../migrations/postgres/0007_returns.sql")),
    (9, "console", include_str!("../../migrations/postgres/0009_console.sql")),
    (10, "lean lead indexes", include_str!("../../migrations/postgres/0010_lean_lead_indexes.sql")),
    (11, "setup revision", include_str!("../../migrations/postgres/0011_setup_revision.sql")),
    (12, "history chain", include_str!("../../migrations/postgres/0012_history_chain.sql")),
    (13, "changes since from history", include_str!("../../migrations/postgres/0013_changes_since_from_history.sql")),
    (14, "webhook claim token", include_str!("../../migrations/postgres/0014_webhook_claim_token.sql")),
    (15, "dashboard indexes", include_str!("../../migrations/postgres/0015_dashboard_indexes.sql")),
]);

pub(crate) async fn connect(url: &str, config: &PoolConfig) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_with(options)
        .await?)
}

exec_on_sqlx!(
    PgConnection,
    Backend::Postgres,
    Postgres,
    #[tracing::instrument(level = "debug", name = "store.statement", skip_all, fields(sql = %sql.summary()))]
);

impl Cells for PgRow {
    /// Columns are BIGINT, but an expression may be narrower (a literal, a `CASE` of
    /// literals), so any integer width reads as `i64`.
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        match self.try_get::<Option<i64>, _>(column) {
            Ok(value) => Ok(value),
            Err(sqlx::Error::ColumnDecode { .. }) => match self.try_get::<Option<i32>, _>(column) {
                Ok(value) => Ok(value.map(i64::from)),
                Err(sqlx::Error::ColumnDecode { .. }) => Ok(self.try_get::<Option<i16>, _>(column)?.map(i64::from)),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        Ok(self.try_get(column)?)
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
}

/// Moves a table's identity sequence past a client-chosen id, so assigned ids never collide
/// with it. (SQLite assigns max(id) + 1 by itself.)
pub(crate) fn sequence_past_max(table: &str) -> String {
    format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
}
