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
//!
//! Copying the WAL back into the database (a checkpoint, which ends with an fsync) is left to a
//! second thread with its own connection, so the writer never stops for the disk: SQLite lets a
//! checkpoint run beside a writer, and the writer starts the log over once a checkpoint has
//! caught up. Should the checkpointer fall far behind, the writer checkpoints itself.
//!
//! How much of the log is in use is what SQLite tells the writer after each commit (its WAL
//! hook), not the log file's size: the file is kept at the size steady writes need instead of
//! being cut back whenever the log starts over, since growing it again costs the file system a
//! block allocation for every page written.
//!
//! The writer's connection goes through the VFS of `wal_batch.rs`, which writes a commit's WAL
//! frames in a few large writes instead of two per frame; it relies on `synchronous = NORMAL`,
//! set below, under which SQLite does not sync the WAL at a commit.

use std::ffi::{c_char, c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::{ffi, Connection, OpenFlags};
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use super::wal_batch;
use crate::{Result, StoreError};

/// The writer thread's name, as `top -H` and `perf` show it (Linux keeps 15 bytes of a name).
pub const WRITER_THREAD: &str = "sqlite-writer";
/// The checkpoint thread's name.
const CHECKPOINT_THREAD: &str = "sqlite-checkpt";

/// Most units committed in one group; a bound on how long the first of them waits. Kept well
/// under a busy server's concurrent callers: when one group takes them all, the writer idles
/// while they are answered and send their next requests, whereas smaller groups let the answered
/// ones come back while the writer runs the rest (updateLeadFast over HTTP, 64 connections: 3 %
/// more updates and a lower median and p99 with 32 than with 256, in alternating runs).
const MAX_GROUP: usize = 32;
/// SQLite's page cache for the writer, in KiB. Small on purpose: SQLite walks its whole page
/// cache's hash table at the end of a write transaction in which a B-tree split borrowed the
/// lock-byte page's number (most of them, while the database is under 1 GiB; measured at a
/// seventh of the writer's time with 64 MiB), larger caches were slower past 1 GiB too, and
/// pages it drops stay in the operating system's cache and come back with a cheap read. A
/// transaction's dirty pages do not count against it (`cache_spill = OFF`), so a large import
/// batch is not written to the WAL twice.
const CACHE_KIB: i64 = 4 * 1024;

/// WAL in use at which the checkpointer copies the log back into the database: large enough that
/// an index page many groups change in a row is copied once instead of every few groups.
const CHECKPOINT_BYTES: u64 = 16 << 20;
/// How often the checkpointer looks at the WAL's size.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// Within this much of [`WAL_LIMIT_BYTES`], the checkpointer copies whatever is new, as often as
/// [`CATCH_UP_EVERY`]: the writer's own checkpoint then has little left to copy and to sync
/// (syncing a large remainder stalled every write for a tenth of a second).
const CATCH_UP_BYTES: u64 = 32 << 20;
const CATCH_UP_EVERY: Duration = Duration::from_millis(5);
/// WAL in use at which the writer checkpoints itself. Under steady writes the checkpointer never
/// quite catches up with the writer, and only a checkpoint that has caught up lets the log start
/// over; the writer's own, run between two groups, always has.
const WAL_LIMIT_BYTES: u64 = 256 << 20;
/// Longest the writer waits for a running checkpoint to end before its own at the limit; past it,
/// it writes on and tries again before the next group.
const LIMIT_CHECKPOINT_WAIT: Duration = Duration::from_secs(1);
/// Longest the writer keeps the write lock while units keep coming.
const HOLD_AT_MOST: Duration = Duration::from_millis(20);
/// How long the writer waits, lock in hand, for the callers it just answered to send more.
const LINGER: Duration = Duration::from_micros(300);
/// Largest the WAL file is kept between uses: above what steady writes fill, so it is reused in
/// place; a larger one (after a large transaction) is cut back to this.
const WAL_FILE_KEPT_BYTES: u64 = WAL_LIMIT_BYTES + 2 * CHECKPOINT_BYTES;

/// A unit of work queued for the writer thread.
trait Unit: Send {
    /// Runs the work; true when it succeeded and its savepoint is kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's fate is known (`failure`: why it was not committed).
    fn finish(self: Box<Self>, failure: Option<&str>);
    /// A unit that changes many pages ([`Writer::run_bulk`]): run in a group of its own.
    fn bulk(&self) -> bool;
}

struct Pending<T, E, F> {
    bulk: bool,
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

    fn bulk(&self) -> bool {
        self.bulk
    }
}

/// The handle to the writer thread; the thread (and the checkpointer) ends when the last handle
/// is dropped.
pub struct Writer {
    units: mpsc::Sender<Box<dyn Unit>>,
    /// Dropped with the writer, which tells the checkpointer to stop.
    _checkpointer: mpsc::Sender<()>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens the database file and starts the thread. `gate` is the sqlx write pool.
    pub(crate) fn start(path: &Path, gate: SqlitePool) -> Result<Writer> {
        wal_batch::register()?;
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_batch::NAME)?;
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
             PRAGMA journal_mode = WAL; PRAGMA cache_size = -{CACHE_KIB}; PRAGMA cache_spill = OFF; \
             PRAGMA journal_size_limit = {WAL_FILE_KEPT_BYTES};"
        ))?;
        conn.set_prepared_statement_cache_capacity(64);
        let page_bytes: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let conn = Watched::new(conn, page_bytes);
        let checkpoints = Connection::open(path)?;
        checkpoints.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;")?;
        let (stop, stopped) = mpsc::channel();
        let wal = conn.wal.clone();
        std::thread::Builder::new()
            .name(CHECKPOINT_THREAD.into())
            .spawn(move || checkpoint_while_open(checkpoints, wal, stopped))
            .map_err(|e| StoreError::Writer(format!("the checkpoint thread could not start: {e}")))?;
        let (units, queue) = mpsc::channel();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || serve(conn, queue, Gate { runtime, pool: gate }))
            .map_err(|e| StoreError::Writer(format!("the writer thread could not start: {e}")))?;
        Ok(Writer { units, _checkpointer: stop })
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
        self.queue(false, work).await
    }

    /// Runs `work` as [`Writer::run`] does, for work that changes many pages at once (a list
    /// import's batch), on a [`Bulk`] connection: alone in its transaction, with SQLite's
    /// statement journals in memory (for statements that still need one) and foreign keys off.
    ///
    /// A multi-row insert copies each page it changes into its statement journal first; past
    /// 64 KiB SQLite spills that journal to a temporary file, a system call and a kernel copy
    /// per page, unless `temp_store` is `MEMORY`. That setting is not the writer's default
    /// because it keeps the journal in 1 KiB pieces, an allocation or more per page, which
    /// costs the small units (a dialer's update) more than the file did.
    pub async fn run_bulk<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(Bulk<'_>) -> Result<T, E> + Send + 'static,
    {
        self.queue(true, move |conn: &Connection| work(Bulk { conn })).await
    }

    async fn queue<T, E, F>(&self, bulk: bool, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let unit = Box::new(Pending { bulk, work: Some(work), outcome: None, reply });
        if self.units.send(unit).is_err() {
            return Err(StoreError::Writer("the writer thread has stopped".into()).into());
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Writer("the writer thread has stopped".into()).into()))
    }
}

/// The writer's connection inside a bulk unit ([`Writer::run_bulk`]), which only the writer
/// hands out. Two things differ from an ordinary unit, and work written for one relies on them:
///
/// - The unit is alone in its transaction, so a statement may end the whole transaction when it
///   is refused (`INSERT OR ROLLBACK`), after which the unit must return its error. Such a
///   statement needs no statement journal: SQLite keeps one for a multi-row insert that may
///   stop halfway (the default `ABORT`), copying every page it changes (a tenth of an import's
///   writer).
/// - Foreign keys are off, so the unit makes sure itself that every row it writes refers to
///   rows that exist ([`super::new_leads::NewLeads`] checks its leads' parents once per
///   distinct value, where SQLite looked each row's up).
#[derive(Clone, Copy)]
pub struct Bulk<'c> {
    conn: &'c Connection,
}

impl<'c> Bulk<'c> {
    pub fn conn(&self) -> &'c Connection {
        self.conn
    }
}

/// The process's write lock: the sqlx write pool's one connection, held while a group runs.
struct Gate {
    runtime: tokio::runtime::Handle,
    pool: SqlitePool,
}

/// How much of the WAL is in use, in bytes, as of the writer's last commit.
struct WalUse {
    frames: AtomicU64,
    frame_bytes: u64,
}

impl WalUse {
    fn bytes(&self) -> u64 {
        self.frames.load(Ordering::Relaxed) * self.frame_bytes
    }
}

/// The writer's connection with a WAL hook that keeps [`WalUse`] current. (The hook also
/// replaces SQLite's automatic checkpoints on this connection, which the threads here do.)
struct Watched {
    conn: Connection,
    wal: Arc<WalUse>,
}

/// SQLite's WAL hook: called after each commit with the number of frames in the log.
extern "C" fn note_wal_frames(wal: *mut c_void, _: *mut ffi::sqlite3, _: *const c_char, frames: c_int) -> c_int {
    // SAFETY: `wal` is the `WalUse` that `Watched::new` registered, which the `Watched` keeps
    // alive until its `Drop` has taken the hook off the connection.
    let wal = unsafe { &*(wal as *const WalUse) };
    wal.frames.store(u64::try_from(frames).unwrap_or(0), Ordering::Relaxed);
    ffi::SQLITE_OK
}

impl Watched {
    fn new(conn: Connection, page_bytes: u64) -> Watched {
        // A frame is a page and its 24-byte header.
        let wal = Arc::new(WalUse { frames: AtomicU64::new(0), frame_bytes: page_bytes + 24 });
        // SAFETY: the handle is the live connection's; the argument outlives the registration
        // (see `note_wal_frames`).
        unsafe {
            ffi::sqlite3_wal_hook(conn.handle(), Some(note_wal_frames), Arc::as_ptr(&wal) as *mut c_void);
        }
        Watched { conn, wal }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // SAFETY: the handle is the live connection's; no argument is registered any more.
        unsafe {
            ffi::sqlite3_wal_hook(self.conn.handle(), None, std::ptr::null_mut());
        }
    }
}

/// Copies the WAL back into the database whenever more than [`CHECKPOINT_BYTES`] of it has not
/// been copied yet, until the writer is dropped.
fn checkpoint_while_open(conn: Connection, wal: Arc<WalUse>, stop: mpsc::Receiver<()>) {
    // Bytes of the log a checkpoint had copied; fewer in use means the log has started over.
    let mut copied = 0;
    let mut every = CHECKPOINT_EVERY;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let in_use = wal.bytes();
        if in_use < copied {
            copied = 0;
        }
        let uncopied = in_use - copied;
        let catching_up = in_use + CATCH_UP_BYTES >= WAL_LIMIT_BYTES && uncopied > 0;
        every = if catching_up { CATCH_UP_EVERY } else { CHECKPOINT_EVERY };
        if !catching_up && uncopied < CHECKPOINT_BYTES {
            continue;
        }
        if let Some(bytes) = checkpoint(&conn, &wal) {
            copied = bytes;
        }
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone. Returns how much
/// of the log has been copied, or `None` when it could not run (another checkpoint was running,
/// or an error, which is logged: the next try comes soon).
fn checkpoint(conn: &Connection, wal: &WalUse) -> Option<u64> {
    // The answer is (busy, frames in the log, frames copied); -1 frames when it did not run.
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(2)) {
        Ok(frames) => u64::try_from(frames).ok().map(|frames| frames * wal.frame_bytes),
        Err(error) => {
            tracing::warn!(%error, "checkpointing the SQLite WAL failed; trying again shortly");
            None
        }
    }
}

/// The writer's own checkpoint past [`WAL_LIMIT_BYTES`]; false when it could not run. SQLite
/// refuses a checkpoint at once while another is running, and near the limit the checkpointer
/// runs one every few milliseconds, so the writer waits its turn (for up to
/// [`LIMIT_CHECKPOINT_WAIT`]) instead of writing on: giving up at the first refusal had let the log
/// grow tens of MiB past its bound.
fn checkpoint_past_limit(conn: &Connection, wal: &WalUse) -> bool {
    let deadline = Instant::now() + LIMIT_CHECKPOINT_WAIT;
    loop {
        if checkpoint(conn, wal).is_some() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn serve(watched: Watched, queue: mpsc::Receiver<Box<dyn Unit>>, gate: Gate) {
    let conn = &watched.conn;
    // Where the writer next checkpoints itself: past the limit, and after a checkpoint that did
    // not let the log start over (a reader holds an old snapshot), only once it has grown again.
    let mut checkpoint_at = WAL_LIMIT_BYTES;
    // A bulk unit met while a group was being gathered: it starts the next group.
    let mut carried: Option<Box<dyn Unit>> = None;
    // Set while a bulk group may have left foreign keys off; no other group runs until they
    // are back on.
    let mut keys_off = false;
    while let Some(first) = carried.take().or_else(|| queue.recv().ok()) {
        let held = match gate.runtime.block_on(gate.pool.acquire()) {
            Ok(held) => held,
            Err(error) => {
                let why = format!("the database's write lock could not be taken: {error}");
                first.finish(Some(&why));
                continue;
            }
        };
        // Taking and giving back the lock costs a round trip through the runtime, so it is kept
        // while work keeps coming, up to HOLD_AT_MOST, after which sqlx's writers get a turn.
        let held_since = Instant::now();
        let mut next = Some(first);
        while let Some(first) = next.take() {
            let in_use = watched.wal.bytes();
            if in_use < WAL_LIMIT_BYTES {
                checkpoint_at = WAL_LIMIT_BYTES;
            } else if in_use >= checkpoint_at && checkpoint_past_limit(conn, &watched.wal) {
                checkpoint_at = in_use + CHECKPOINT_BYTES;
            }
            let bulk = first.bulk();
            let mut group = vec![first];
            while !bulk && group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(unit) if unit.bulk() => {
                        carried = Some(unit);
                        break;
                    }
                    Ok(unit) => group.push(unit),
                    Err(_) => break,
                }
            }
            let outcome = if bulk {
                run_bulk_group(conn, &mut group, &mut keys_off)
            } else {
                keys_back_on(conn, &mut keys_off).and_then(|()| run_group(conn, &mut group))
            };
            let failure = outcome.err().map(|e| e.to_string());
            group.into_iter().for_each(|unit| unit.finish(failure.as_deref()));
            if held_since.elapsed() < HOLD_AT_MOST {
                next = carried.take().or_else(|| queue.recv_timeout(LINGER).ok());
            }
        }
        // sqlx hands a connection back to its pool from a task, so the release needs the runtime.
        gate.runtime.block_on(async move { drop(held) });
    }
}

/// Runs a group in one transaction, each unit in a savepoint. An error here means nothing of
/// the group was committed.
fn run_group(conn: &Connection, group: &mut [Box<dyn Unit>]) -> rusqlite::Result<()> {
    // The statements around each unit stay prepared: parsing them anew cost as much as a
    // unit's own look-up.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map(drop);
    run("BEGIN IMMEDIATE")?;
    if let [unit] = group {
        // Alone, a unit needs no savepoint (whose sub-journal a large unit pays for): its
        // transaction is kept or rolled back whole.
        return if unit.run(conn) {
            run("COMMIT").inspect_err(|_| rollback(conn))
        } else {
            rollback(conn);
            Ok(())
        };
    }
    let outcome = (|| {
        for unit in group.iter_mut() {
            run("SAVEPOINT unit")?;
            if !unit.run(conn) {
                run("ROLLBACK TO unit")?;
            }
            run("RELEASE unit")?;
        }
        run("COMMIT")
    })();
    if outcome.is_err() {
        rollback(conn);
    }
    outcome
}

/// Runs a group of one bulk unit with statement journals in memory (`temp_store = MEMORY`; the
/// writer has no temporary tables, so no schema is dropped) and foreign keys off, both set
/// between transactions (inside one SQLite ignores them) and put back after.
fn run_bulk_group(conn: &Connection, group: &mut [Box<dyn Unit>], keys_off: &mut bool) -> rusqlite::Result<()> {
    // Pragmas take effect when prepared, so these are not kept prepared.
    *keys_off = true;
    let outcome = conn
        .execute_batch("PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF")
        .and_then(|()| run_group(conn, group));
    if let Err(error) = conn.execute_batch("PRAGMA temp_store = DEFAULT") {
        // The group's outcome stands; only later small units pay, in speed.
        tracing::warn!(%error, "the writer could not put its statement journals back on their default");
    }
    if let Err(error) = keys_back_on(conn, keys_off) {
        tracing::warn!(%error, "the writer could not turn foreign keys back on; the next group tries again first");
    }
    outcome
}

/// Turns foreign keys back on after a bulk group left them off; an error here fails the group
/// about to run, which would otherwise write unchecked.
fn keys_back_on(conn: &Connection, keys_off: &mut bool) -> rusqlite::Result<()> {
    if *keys_off {
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        *keys_off = false;
    }
    Ok(())
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
            crate::SqlArg::Bytes(Some(v)) => ValueRef::Blob(v),
            crate::SqlArg::Int(None)
            | crate::SqlArg::Bool(None)
            | crate::SqlArg::Text(None)
            | crate::SqlArg::Bytes(None) => ValueRef::Null,
        }))
    }
}
