//! Leadline's store: one SQL implementation over SQLite (the embedded default) and PostgreSQL
//! (production, any number of nodes on one database).
//!
//! The two backends agree on almost all SQL (numbered `$n` parameters, `RETURNING`,
//! `ON CONFLICT`), so each capability's module (leads, dialer, imports, …) writes its queries
//! once, as [`Sql`] run on a connection that implements [`Exec`]. What differs lives in each
//! backend's own folder, on its own typed driver: `sqlite/` (connecting, migrations, the direct
//! writer and readers, bulk inserts, backups) and `postgres/` (connecting, migrations, its rows).
//! The few statements that differ (a row lock PostgreSQL needs, an identity sequence) branch on
//! [`Backend`] where they are written. Every function takes a connection, so the same read runs
//! on a pooled connection or inside a use case's transaction.

#![deny(unsafe_code)]

pub mod archive;
pub mod catalog;
mod cells;
pub mod console;
mod constraint;
pub mod crm;
pub mod dialer;
mod exec;
pub mod imports;
pub mod keys;
pub mod leads;
pub mod ledger;
mod postgres;
pub mod queues;
pub mod returns;
pub mod sales;
mod sql;
/// The only module that may use `unsafe`: SQLite's C interface.
#[allow(unsafe_code)]
pub mod sqlite;
mod unavailable;
mod unit;
pub mod vicidial;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tracing::{info_span, Instrument};

pub use cells::Cells;
pub use constraint::Constraint;
pub use exec::{Conn, Exec, Row, Tx};
pub use rusqlite::Connection as DirectConn;
pub use sql::{Sql, SqlArg, Summary};
pub use sqlite::direct::Direct;
pub use unavailable::Unavailable;
pub use unit::{BulkUnit, LookUp, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write: which one, and the database's words for the log.
    #[error("already exists: {detail}")]
    Unique { constraint: Constraint, detail: String },
    /// A foreign key refused the write: something referred to does not exist, or is still used.
    #[error("refers to something missing or still referred to: {0}")]
    ForeignKey(String),
    #[error("the database URL is not usable: {0}")]
    Url(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// The database cannot store a value as given (PostgreSQL: text holding U+0000); nothing was
    /// written. The input's fault, refused as bad input.
    #[error("a value cannot be stored: {0}")]
    Unstorable(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    /// The SQLite writer thread could not take or finish a write; nothing of it was kept.
    #[error("the write was not committed: {0}")]
    Writer(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            let detail = || message.clone().unwrap_or_else(|| failure.to_string());
            match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    let primary_key = failure.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
                    let detail = detail();
                    return StoreError::Unique { constraint: Constraint::from_sqlite(&detail, primary_key), detail };
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::ForeignKey(detail()),
                _ => {}
            }
        }
        StoreError::Sqlite(error)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    // PostgreSQL names the constraint; SQLite (and MySQL) name none.
                    let constraint = match db.constraint() {
                        Some(name) => Constraint::from_postgres(name),
                        None => Constraint::from_sqlite(
                            db.message(),
                            db.code().as_deref() == Some(constraint::SQLITE_PRIMARY_KEY_CODE),
                        ),
                    };
                    return StoreError::Unique { constraint, detail: db.message().to_string() };
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::ForeignKey(db.message().to_string()),
                _ => {}
            }
            // character_not_in_repertoire: text with U+0000, which PostgreSQL refuses in any text.
            if db.code().as_deref() == Some("22021") {
                return StoreError::Unstorable(db.message().to_string());
            }
        }
        StoreError::Database(error)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig { max_connections: 16, acquire_timeout: Duration::from_secs(10) }
    }
}

/// The database, on one of its two backends.
#[derive(Clone, Debug)]
pub struct Store {
    engine: Engine,
}

#[derive(Clone, Debug)]
enum Engine {
    /// A file: a one-connection pool for use-case transactions and a pool for reads, beside the
    /// direct writer (see [`sqlite::writer`]) and direct readers (see [`sqlite::readers`]).
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        writer: Arc<sqlite::writer::Writer>,
        readers: Arc<sqlite::readers::Readers>,
    },
    /// One pool for everything.
    Postgres { pool: PgPool },
}

/// Migrations embedded in the binary: (version, description, SQL), per backend.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> futures_core::future::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<Store> {
        if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                // Every SQLite write goes through the writer thread on its own connection
                // to the file; a memory database is private to one connection.
                return Err(StoreError::Url(format!(
                    "`{url}` is an in-memory SQLite database, which Leadline does not run on; \
                     give a file (sqlite://PATH), for a throw-away store one in a temp directory"
                )));
            }
            let options = sqlite::pool::options(url)?;
            let (write, read) = sqlite::pool::connect(options.clone(), config).await?;
            let path = options.get_filename();
            let writer = sqlite::writer::Writer::start(path, write.clone())?;
            let readers = sqlite::readers::Readers::new(path);
            Ok(Store { engine: Engine::Sqlite { write, read, writer: Arc::new(writer), readers: Arc::new(readers) } })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store { engine: Engine::Postgres { pool: postgres::connect(url, config).await? } })
        } else {
            Err(StoreError::Url(format!(
                "`{url}` names no supported database; use sqlite://PATH or postgres://USER@HOST/DB"
            )))
        }
    }

    /// Brings the schema up to date. Safe to run from several nodes at once on PostgreSQL (the
    /// migrator holds an advisory lock).
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_with(match self.engine {
            Engine::Sqlite { .. } => sqlite::pool::MIGRATIONS,
            Engine::Postgres { .. } => postgres::MIGRATIONS,
        })
        .await
    }

    async fn migrate_with(&self, migrations: Embedded) -> Result<()> {
        let migrator = Migrator::new(migrations).await?;
        match &self.engine {
            Engine::Sqlite { write, .. } => migrator.run(write).await?,
            Engine::Postgres { pool } => migrator.run(pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.engine {
            Engine::Sqlite { .. } => Backend::Sqlite,
            Engine::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The direct writer for the hot write paths: on a SQLite file, None on PostgreSQL (whose
    /// sqlx driver has no per-statement thread hand-off to avoid).
    pub fn writer(&self) -> Option<&sqlite::writer::Writer> {
        match &self.engine {
            Engine::Sqlite { writer, .. } => Some(writer),
            Engine::Postgres { .. } => None,
        }
    }

    /// Direct read connections for point look-ups: on a SQLite file, None elsewhere.
    pub fn readers(&self) -> Option<&sqlite::readers::Readers> {
        match &self.engine {
            Engine::Sqlite { readers, .. } => Some(readers),
            Engine::Postgres { .. } => None,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails with `SQLITE_BUSY`
    /// when another process (a second node, the CLI) wrote in between, whereas an immediate one
    /// waits its turn under the busy timeout.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.engine {
            Engine::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            // A span on PostgreSQL only: sqlx's SQLite driver would keep it (and every span above
            // it) alive until the connection's next statement.
            Engine::Postgres { pool } => Tx::Postgres(pool.begin().instrument(info_span!("store.begin")).await?),
        })
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<Conn> {
        Ok(match &self.engine {
            Engine::Sqlite { read, .. } => Conn::Sqlite(read.acquire().await?),
            Engine::Postgres { pool } => Conn::Postgres(pool.acquire().instrument(info_span!("store.read")).await?),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.read().await?.run(&Sql::new("SELECT 1")).await?;
        Ok(())
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_usage(&self) -> (u32, u32) {
        let usage = |size: u32, idle: usize| (size - idle as u32, idle as u32);
        match &self.engine {
            Engine::Sqlite { write, read, .. } => {
                let (read_used, read_idle) = usage(read.size(), read.num_idle());
                let (write_used, write_idle) = usage(write.size(), write.num_idle());
                (read_used + write_used, read_idle + write_idle)
            }
            Engine::Postgres { pool } => usage(pool.size(), pool.num_idle()),
        }
    }

    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite { write, read, .. } => {
                write.close().await;
                read.close().await;
            }
            Engine::Postgres { pool } => pool.close().await,
        }
    }
}

/// Moves a PostgreSQL identity sequence past a client-chosen id, so assigned ids never collide
/// with it. SQLite assigns max(id) + 1 by itself.
pub(crate) async fn after_explicit_id(conn: &mut impl Exec, table: &str) -> Result<()> {
    if conn.backend() == Backend::Postgres {
        conn.optional_row(&Sql::new(postgres::sequence_past_max(table))).await?;
    }
    Ok(())
}

/// Microseconds since the epoch, the stored form of a timestamp.
pub(crate) fn micros(t: jiff::Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(column: &str, value: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_microsecond(value)
        .map_err(|_| StoreError::Corrupt(format!("{column} holds {value}, not a timestamp")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the backend's migrations up to and including `last`.
    async fn migrate_through(store: &Store, last: i64) {
        let all = match store.backend() {
            Backend::Sqlite => sqlite::pool::MIGRATIONS.0,
            Backend::Postgres => postgres::MIGRATIONS.0,
        };
        let some: Vec<_> = all.iter().copied().filter(|(version, ..)| *version <= last).collect();
        store.migrate_with(Embedded(Vec::leak(some))).await.unwrap();
    }

    fn lead(lead_ref: &str) -> leadline_core::lead::Lead {
        let input = serde_json::from_value(serde_json::json!({"name": lead_ref})).unwrap();
        leadline_core::lead::Lead::create(lead_ref.into(), input, jiff::Timestamp::UNIX_EPOCH).unwrap()
    }

    /// History written before the chain existed (one lead's rows between another's, a lead
    /// already archived, a lead with none) reads back whole once migration 12 has chained it.
    async fn history_from_before_the_chain_is_chained(store: &Store) {
        migrate_through(store, 11).await;
        let mut tx = store.begin().await.unwrap();
        let ids =
            imports::insert_leads(&mut tx, &[lead("AAAAAAAA"), lead("BBBBBBBB"), lead("CCCCCCCC")]).await.unwrap();
        let [Some(first), Some(second), Some(archived)] = ids[..] else { panic!("three leads: {ids:?}") };
        let silent = imports::insert_leads(&mut tx, &[lead("DDDDDDDD")]).await.unwrap()[0].unwrap();
        let order = [first, second, archived, first, archived, second, first];
        for (n, lead_id) in order.iter().enumerate() {
            tx.run(&Sql::new(format!(
                "INSERT INTO lead_history (lead_id, at, key_id, api, action, changes) \
                 VALUES ({lead_id}, {n}, NULL, 'native', 'step {n}', '{{}}')"
            )))
            .await
            .unwrap();
        }
        let columns = leads::COLUMNS.join(", ");
        tx.run(&Sql::new(format!(
            "INSERT INTO leads_archive (id, {columns}) SELECT id, {columns} FROM leads WHERE id = {archived}"
        )))
        .await
        .unwrap();
        tx.run(&Sql::new(format!("DELETE FROM leads WHERE id = {archived}"))).await.unwrap();
        tx.commit().await.unwrap();

        migrate_through(store, i64::MAX).await;
        let mut conn = store.read().await.unwrap();
        for lead_id in [first, second, archived] {
            let steps: Vec<String> =
                (0..order.len()).filter(|&n| order[n] == lead_id).map(|n| format!("step {n}")).collect();
            let history = leads::history(&mut conn, lead_id, None, 100).await.unwrap();
            let read: Vec<String> = history.iter().map(|e| e.action.clone()).collect();
            assert_eq!(read, steps, "lead {lead_id}");
            let after_first = leads::history(&mut conn, lead_id, Some(history[0].id), 100).await.unwrap();
            assert_eq!(after_first, history[1..]);
        }
        assert!(leads::history(&mut conn, silent, None, 100).await.unwrap().is_empty());
    }

    /// Leads changed since a time, found from the history's time index and found by reading
    /// every lead, are the same leads, page by page. Lead `n` last changed at `10 * n`; every
    /// third also has a later history row that did not change it (a sale, say), which the
    /// history names but its `updated_at` excludes.
    async fn changed_since_is_the_same_either_way(store: &Store) {
        migrate_through(store, i64::MAX).await;
        let indexes = match store.backend() {
            Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
            Backend::Postgres => "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema()",
        };
        let mut conn = store.read().await.unwrap();
        let names: Vec<String> =
            conn.all_rows(&Sql::new(indexes)).await.unwrap().iter().map(|row| row.text("name").unwrap()).collect();
        assert!(
            names.iter().any(|n| n == "lead_history_at") && !names.iter().any(|n| n == "leads_updated_at"),
            "{names:?}"
        );
        let mut tx = store.begin().await.unwrap();
        let refs: Vec<String> = (0..40).map(|n| format!("R{n:07}")).collect();
        let ids: Vec<i64> = imports::insert_leads(&mut tx, &refs.iter().map(|r| lead(r)).collect::<Vec<_>>())
            .await
            .unwrap()
            .into_iter()
            .map(Option::unwrap)
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let changed = 10 * n as i64;
            tx.run(&Sql::new(format!("UPDATE leads SET updated_at = {changed} WHERE id = {id}"))).await.unwrap();
            let mut stamps = vec![changed];
            if n % 3 == 0 {
                stamps.push(changed + 1000);
            }
            for at in stamps {
                tx.run(&Sql::new(format!(
                    "INSERT INTO lead_history (lead_id, at, key_id, api, action, changes) \
                     VALUES ({id}, {at}, NULL, 'native', 'change', '{{}}')"
                )))
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        let mut conn = store.read().await.unwrap();
        for since_micros in [0, 5, 200, 390, 395, 2000] {
            let since = jiff::Timestamp::from_microsecond(since_micros).unwrap();
            let expected: Vec<i64> =
                ids.iter().enumerate().filter(|(n, _)| 10 * *n as i64 >= since_micros).map(|(_, id)| *id).collect();
            for (plan, few) in [("history", i64::MAX), ("scan", 0)] {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let filter =
                        leads::LeadFilter { updated_since: Some(since), after, limit: 7, ..Default::default() };
                    let page = leads::list_with(&mut conn, &filter, few).await.unwrap();
                    if page.is_empty() {
                        break;
                    }
                    assert!(page.iter().all(|l| l.updated_at >= since), "{plan} since {since_micros}");
                    after = page.last().map(|l| l.id);
                    seen.extend(page.into_iter().map(|l| l.id));
                }
                assert_eq!(seen, expected, "{plan} plan, since {since_micros}");
            }
        }
    }

    #[tokio::test]
    async fn changed_since_is_the_same_from_the_history_or_a_scan_on_sqlite() {
        on_sqlite_file("changed-since", |store| async move { changed_since_is_the_same_either_way(&store).await })
            .await;
    }

    #[tokio::test]
    async fn changed_since_is_the_same_from_the_history_or_a_scan_on_postgres() {
        on_postgres("changed_since", |store| async move { changed_since_is_the_same_either_way(&store).await }).await;
    }

    #[tokio::test]
    async fn migration_12_chains_the_history_already_written_on_sqlite() {
        on_sqlite_file(
            "chain-migration",
            |store| async move { history_from_before_the_chain_is_chained(&store).await },
        )
        .await;
    }

    /// A new SQLite file in the temp directory, removed with its WAL after `test` has run on it
    /// (whether it passed or not).
    async fn on_sqlite_file<F: std::future::Future<Output = ()> + Send + 'static>(
        name: &str,
        test: impl FnOnce(Store) -> F,
    ) {
        let path = std::env::temp_dir().join(format!("leadline-{name}-{}.db", std::process::id()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), &PoolConfig::default()).await.unwrap();
        let outcome = tokio::spawn(test(store.clone())).await;
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic.into_panic());
        }
    }

    /// A fresh schema on the PostgreSQL server of `LEADLINE_TEST_POSTGRES_URL`, dropped after
    /// `test` has run on it (whether it passed or not); None when the variable is unset.
    async fn on_postgres<F: std::future::Future<Output = ()> + Send + 'static>(
        name: &str,
        test: impl FnOnce(Store) -> F,
    ) {
        let Some(base) = std::env::var("LEADLINE_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty()) else {
            eprintln!("skipped: set LEADLINE_TEST_POSTGRES_URL to run it");
            return;
        };
        let schema = format!("t_{name}_{}", std::process::id());
        let server = |sql: String| {
            let base = base.clone();
            async move {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.unwrap();
                conn.run(&Sql::new(sql)).await.unwrap();
            }
        };
        server(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        server(format!("CREATE SCHEMA {schema}")).await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::connect(&url, &PoolConfig::default()).await.unwrap();
        let outcome = tokio::spawn(test(store.clone())).await;
        store.close().await;
        server(format!("DROP SCHEMA {schema} CASCADE")).await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic.into_panic());
        }
    }

    #[tokio::test]
    async fn migration_12_chains_the_history_already_written_on_postgres() {
        on_postgres("chain_migration", |store| async move { history_from_before_the_chain_is_chained(&store).await })
            .await;
    }

    #[tokio::test]
    async fn an_update_waits_for_a_history_append_in_flight_and_chains_after_it_on_postgres() {
        // A sale appends history under the lead's lock without changing its version. An update
        // whose caller read the lead unlocked must wait for it, not read the old head and then,
        // its version still current, replace the sale's row as the head.
        on_postgres("chain_lock", |store| async move {
            use leadline_core::history::{Actor, Api, Changes};
            migrate_through(&store, i64::MAX).await;
            let mut tx = store.begin().await.unwrap();
            let id = imports::insert_leads(&mut tx, &[lead("AAAAAAAA")]).await.unwrap()[0].unwrap();
            tx.commit().await.unwrap();
            let actor = Actor { key_id: None, api: Api::Native };
            let at = jiff::Timestamp::UNIX_EPOCH;

            let mut selling = store.begin().await.unwrap();
            leads::record_history(&mut selling, id, at, actor, "sell", &Changes::default()).await.unwrap();
            let updating = tokio::spawn({
                let store = store.clone();
                async move {
                    let mut tx = store.begin().await.unwrap();
                    let before = leads::get(&mut tx, id).await.unwrap().unwrap();
                    let mut after = before.clone();
                    after.city = Some("Perth".into());
                    after.version += 1;
                    let changes = Changes::between(Some(&before), &after);
                    let history = leads::NewHistory { at, actor, action: "update", changes: &changes };
                    assert!(leads::update(&mut tx, &before, &after, false, Some(&history)).await.unwrap());
                    tx.commit().await.unwrap();
                }
            });
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(!updating.is_finished(), "the update waits for the sale's lock");
            selling.commit().await.unwrap();
            updating.await.unwrap();

            let mut conn = store.read().await.unwrap();
            let history = leads::history(&mut conn, id, None, 10).await.unwrap();
            let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(actions, ["sell", "update"]);
        })
        .await;
    }
}
