//! SQLite's direct writer, which runs the hot write paths (dialer updates, list imports).
//!
//! sqlx drives each SQLite connection from a thread of its own, and every statement is a round
//! trip to that thread. A transaction of a few statements then spends more time handing work
//! between threads than inside SQLite. The direct writer is one thread that owns a plain
//! synchronous connection (rusqlite, over the same SQLite library that sqlx links) and runs whole
//! units of work on it in one go.
//!
//! Units that queue up while a group runs are committed together (group commit). Each unit runs
//! in a savepoint of its own, so a unit that fails is rolled back alone and its caller gets its
//! error. No caller hears of success before the group's commit has returned, and if the commit
//! fails, every unit of the group reports the failure.
//!
//! Inside the process, writes through sqlx and through this thread never interleave: a group
//! holds the sqlx write pool's only connection while it runs. Other processes (the CLI beside a
//! server) wait for SQLite's lock under the busy timeout, as any writer does.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;
use sqlx::AnyPool;
use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// Most units committed in one group; a bound on how long the first of them waits.
const MAX_GROUP: usize = 256;
/// SQLite's page cache for the writer, in KiB: the indexes a large campaign's loads and updates
/// touch stay in memory instead of being read back from the file.
const CACHE_KIB: i64 = 64 * 1024;

/// WAL pages between automatic checkpoints (SQLite's default is 1,000): an index page that
/// many groups change in a row is copied back to the database once instead of every few groups.
const CHECKPOINT_PAGES: i64 = 10_000;

/// A unit of work queued for the writer thread.
trait Unit: Send {
    /// Runs the work; true when it succeeded and its savepoint is kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's fate is known (`failure`: why it was not committed).
    fn finish(self: Box<Self>, failure: Option<&str>);
}

struct Pending<T, E, F> {
    work: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Unit for Pending<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnOnce(&Connection) -> Result<T, E> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        // A panic in one unit must not take the writer (and every later write) down with it.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
            Err(StoreError::Writer("the write failed unexpectedly and was rolled back".into()).into())
        });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, failure: Option<&str>) {
        let outcome = match (self.outcome, failure) {
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(why)) => Err(StoreError::Writer(why.to_string()).into()),
            (None, None) => Err(StoreError::Writer("the write was not run".into()).into()),
        };
        let _ = self.reply.send(outcome);
    }
}

/// The handle to the writer thread; the thread ends when the last handle is dropped.
pub struct Writer {
    units: mpsc::Sender<Box<dyn Unit>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens the database file and starts the thread. `gate` is the sqlx write pool.
    pub(crate) fn start(path: &Path, gate: AnyPool) -> Result<Writer> {
        let conn = Connection::open(path)?;
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
             PRAGMA journal_mode = WAL; PRAGMA cache_size = -{CACHE_KIB}; \
             PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
        ))?;
        conn.set_prepared_statement_cache_capacity(64);
        let (units, queue) = mpsc::channel();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("leadline-sqlite-writer".into())
            .spawn(move || serve(conn, queue, Gate { runtime, pool: gate }))
            .map_err(|e| StoreError::Writer(format!("the writer thread could not start: {e}")))?;
        Ok(Writer { units })
    }

    /// Runs `work` on the writer thread in a transaction (shared with other units, each in its
    /// own savepoint) and returns its result once the transaction has committed. An error from
    /// `work` rolls back what it wrote and nothing else.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let unit = Box::new(Pending { work: Some(work), outcome: None, reply });
        if self.units.send(unit).is_err() {
            return Err(StoreError::Writer("the writer thread has stopped".into()).into());
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Writer("the writer thread has stopped".into()).into()))
    }
}

/// The process's write lock: the sqlx write pool's one connection, held while a group runs.
struct Gate {
    runtime: tokio::runtime::Handle,
    pool: AnyPool,
}

fn serve(conn: Connection, queue: mpsc::Receiver<Box<dyn Unit>>, gate: Gate) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(unit) => group.push(unit),
                Err(_) => break,
            }
        }
        let held = match gate.runtime.block_on(gate.pool.acquire()) {
            Ok(held) => held,
            Err(error) => {
                let why = format!("the database's write lock could not be taken: {error}");
                group.into_iter().for_each(|unit| unit.finish(Some(&why)));
                continue;
            }
        };
        let failure = run_group(&conn, &mut group).err().map(|e| e.to_string());
        // sqlx hands a connection back to its pool from a task, so the release needs the runtime.
        gate.runtime.block_on(async move { drop(held) });
        group.into_iter().for_each(|unit| unit.finish(failure.as_deref()));
    }
}

/// Runs a group in one transaction, each unit in a savepoint. An error here means nothing of
/// the group was committed.
fn run_group(conn: &Connection, group: &mut [Box<dyn Unit>]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if let [unit] = group {
        // Alone, a unit needs no savepoint (whose sub-journal a large unit pays for): its
        // transaction is kept or rolled back whole.
        return if unit.run(conn) {
            conn.execute_batch("COMMIT").inspect_err(|_| rollback(conn))
        } else {
            rollback(conn);
            Ok(())
        };
    }
    let outcome = (|| {
        for unit in group.iter_mut() {
            conn.execute_batch("SAVEPOINT unit")?;
            if unit.run(conn) {
                conn.execute_batch("RELEASE unit")?;
            } else {
                conn.execute_batch("ROLLBACK TO unit; RELEASE unit")?;
            }
        }
        conn.execute_batch("COMMIT")
    })();
    if outcome.is_err() {
        rollback(conn);
    }
    outcome
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Binds the store's typed parameters on the direct connection.
impl rusqlite::ToSql for crate::SqlArg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            crate::SqlArg::Int(Some(v)) => ValueRef::Integer(*v),
            crate::SqlArg::Bool(Some(v)) => ValueRef::Integer(i64::from(*v)),
            crate::SqlArg::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            crate::SqlArg::Int(None) | crate::SqlArg::Bool(None) | crate::SqlArg::Text(None) => ValueRef::Null,
        }))
    }
}
