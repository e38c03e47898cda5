//! SQLite through sqlx's typed SQLite driver: the pools for use-case transactions and for reads
//! that are not look-ups by key, and the schema's migrations.
//!
//! The write pool has one connection, so writers in this process queue for it instead of
//! failing with `SQLITE_BUSY`; the direct writer ([`super::writer`]) takes that connection as
//! its lock while a group of units runs, so the two never interleave. Reads run beside them on
//! their own connections (WAL).

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Executor, Row as _, SqliteConnection};

use crate::exec::exec_on_sqlx;
use crate::{Backend, Cells, Embedded, PoolConfig, Result, StoreError};

/// The schema, migration by migration (numbers shared with PostgreSQL's).
pub(crate) const MIGRATIONS: Embedded = Embedded(&[
    (1, "initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    (3, "crm", include_str!("../../migrations/sqlite/0003_crm.sql")),
    (4, "dialer", include_str!("../../migrations/sqlite/0004_dialer.sql")),
    (5, "archive", include_str!("../../migrations/sqlite/0005_archive.sql")),
    (6, "imports", include_str!("../../migrations/sqlite/0006_imports.sql")),
    (7, "returns", include_str!("../../migrations/sqlite/0007_returns.sql")),
    (9, "console", include_str!("../../migrations/sqlite/0009_console.sql")),
    (10, "lean lead indexes", include_str!("../../migrations/sqlite/0010_lean_lead_indexes.sql")),
    (11, "setup revision", include_str!("../../migrations/sqlite/0011_setup_revision.sql")),
    (12, "history chain", include_str!("../../migrations/sqlite/0012_history_chain.sql")),
    (13, "changes since from history", include_str!("../../migrations/sqlite/0013_changes_since_from_history.sql")),
    (14, "webhook claim token", include_str!("../../migrations/sqlite/0014_webhook_claim_token.sql")),
    (15, "dashboard indexes", include_str!("../../migrations/sqlite/0015_dashboard_indexes.sql")),
]);

/// The file a `sqlite://PATH` URL names, with its options (created if missing).
pub(crate) fn options(url: &str) -> Result<SqliteConnectOptions> {
    let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
    SqliteConnectOptions::from_str(&url).map_err(|e| StoreError::Url(e.to_string()))
}

/// The write pool (one connection) and the read pool.
pub(crate) async fn connect(options: SqliteConnectOptions, config: &PoolConfig) -> Result<(SqlitePool, SqlitePool)> {
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(config.acquire_timeout)
        // A local file needs no liveness check, and the direct writer takes this connection
        // as its lock once per group.
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .after_release(|conn, _| Box::pin(leaves_no_transaction(conn)))
        .connect_with(options.clone())
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(config.max_connections.max(2))
        .acquire_timeout(config.acquire_timeout)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .connect_with(options)
        .await?;
    Ok((write, read))
}

/// Per-connection settings. WAL lets readers run beside the writer; NORMAL sync survives a
/// process crash (a power cut can lose the last commits, never corrupt the file).
async fn setup(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    conn.execute(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
         PRAGMA synchronous = NORMAL; PRAGMA journal_mode = WAL;",
    )
    .await?;
    Ok(())
}

/// Whether a SQLite write connection handed back to its pool may be used again. A COMMIT that
/// SQLite answers by rolling the transaction back itself (a full disk, an I/O error) leaves sqlx
/// counting a transaction still open, since its own ROLLBACK then fails; every later BEGIN on
/// the connection would be refused, so it is closed instead and the pool opens a fresh one.
async fn leaves_no_transaction(conn: &mut SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    if conn.is_in_transaction() {
        // A transaction dropped unfinished is rolled back by a command the connection runs in
        // turn; a ping runs after it.
        conn.ping().await?;
    }
    Ok(!conn.is_in_transaction())
}

exec_on_sqlx!(SqliteConnection, Backend::Sqlite, Sqlite);

impl Cells for SqliteRow {
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    /// Stored as 0 or 1.
    fn opt_flag(&self, column: &str) -> Result<Option<bool>> {
        Ok(self.try_get::<Option<i64>, _>(column)?.map(|v| v != 0))
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
}
