//! Test support shared by every crate's tests (feature `testing`): each test body is written
//! once with [`conformance!`](crate::conformance) and runs on a fresh SQLite database always, and
//! on a fresh PostgreSQL schema too when `LEADLINE_TEST_POSTGRES_URL` is set (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! Each test gets its own database: a new SQLite file under the temp directory, or a new schema
//! `t_<random>` on the PostgreSQL server, found through `search_path`. Both are removed when the
//! test ends, whether it passed or not.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use leadline_store::{Cells, Exec, PoolConfig, Sql, Store};

use crate::{App, Clock};

pub const POSTGRES_URL_VAR: &str = "LEADLINE_TEST_POSTGRES_URL";

/// Writes each test once and runs it on every backend:
/// `conformance! { async fn a_sentence(app) { … } }` makes `a_sentence::sqlite` and
/// `a_sentence::postgres` (which reports itself skipped when no PostgreSQL is configured).
#[macro_export]
macro_rules! conformance {
    ($(async fn $name:ident($app:pat) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: leadline_app::App) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::run($crate::testing::Backend::Sqlite, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::run($crate::testing::Backend::Postgres, body).await;
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source works");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// What to remove when a test is done.
enum Cleanup {
    File(PathBuf),
    Schema { base_url: String, schema: String },
}

/// A fresh, migrated database and the URL that reaches it (for a second node on the same data).
pub struct TestDb {
    pub app: App,
    pub url: String,
    cleanup: Cleanup,
}

fn pool() -> PoolConfig {
    PoolConfig { max_connections: 8, ..PoolConfig::default() }
}

async fn sqlite_db() -> TestDb {
    let path = std::env::temp_dir().join(format!("leadline-test-{}.db", random_hex(8)));
    let store = Store::connect(&format!("sqlite://{}", path.display()), &pool())
        .await
        .expect("a SQLite file in the temp directory opens");
    store.migrate().await.expect("migrations run on SQLite");
    TestDb { app: App::new(store), url: format!("sqlite://{}", path.display()), cleanup: Cleanup::File(path) }
}

/// Runs one statement on the server itself (outside any test schema).
async fn on_server(base_url: &str, statement: &str) {
    let admin = Store::connect(base_url, &PoolConfig { max_connections: 1, ..PoolConfig::default() })
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={base_url} does not connect: {e}"));
    let mut conn = admin.read().await.expect("a connection to PostgreSQL");
    conn.run(&Sql::new(statement)).await.unwrap_or_else(|e| panic!("`{statement}` failed: {e}"));
    drop(conn);
    admin.close().await;
}

/// The configured PostgreSQL server for tests, if any.
pub async fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR).ok().map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
}

async fn postgres_db(base_url: &str) -> TestDb {
    let schema = format!("t_{}", random_hex(8));
    on_server(base_url, &format!("CREATE SCHEMA {schema}")).await;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url, &pool()).await.expect("the test schema connects");
    store.migrate().await.expect("migrations run on PostgreSQL");
    TestDb { app: App::new(store), url, cleanup: Cleanup::Schema { base_url: base_url.to_string(), schema } }
}

impl TestDb {
    /// A fresh database on `backend`; None for PostgreSQL when none is configured.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(sqlite_db().await),
            Backend::Postgres => match postgres_url().await {
                Some(url) => Some(postgres_db(&url).await),
                None => None,
            },
        }
    }

    /// Another node's view of the same database: its own pool and App.
    pub async fn second_node(&self) -> App {
        let store = Store::connect(&self.url, &pool()).await.expect("the test database connects again");
        App::new(store)
    }

    pub async fn remove(self) {
        self.app.store.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Schema { base_url, schema } => {
                on_server(&base_url, &format!("DROP SCHEMA {schema} CASCADE")).await
            }
        }
    }
}

/// Runs one test body on a fresh database of `backend`, then removes the database. A panic in
/// the body is re-raised after the clean-up.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(App) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set {POSTGRES_URL_VAR} to run it there");
        return;
    };
    let outcome = tokio::spawn(test(db.app.clone())).await;
    let unstamped = match outcome {
        Ok(()) => changes_without_history(&db.app.store).await,
        Err(_) => Vec::new(),
    };
    db.remove().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the test task failed: {error}"),
        }
    }
    assert!(
        unstamped.is_empty(),
        "leads {unstamped:?} last changed without a history row of that instant: \
         leads changed since a time would miss them (ARCHITECTURE.md)"
    );
}

/// Live leads whose last change (`updated_at`) has no history row stamped with the same instant:
/// "changed since" reads the history, so every path that changes a lead must write one.
/// (Nothing to check when the test took the database away.)
async fn changes_without_history(store: &Store) -> Vec<i64> {
    let Ok(mut conn) = store.read().await else { return Vec::new() };
    let sql = Sql::new(
        "SELECT id FROM leads l WHERE NOT EXISTS \
         (SELECT 1 FROM lead_history h WHERE h.at = l.updated_at AND h.lead_id = l.id) ORDER BY id LIMIT 10",
    );
    let Ok(rows) = conn.all_rows(&sql).await else { return Vec::new() };
    rows.iter().map(|row| row.int("id").expect("an id")).collect()
}

/// A clock the test sets and moves by hand.
#[derive(Debug)]
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn at(time: &str) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(time.parse().expect("a valid timestamp"))))
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).expect("the clock stays in range");
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}
