//! A VFS for the writer that hands a commit's WAL frames to the operating system in a few writes.
//!
//! SQLite writes every WAL frame with two `pwrite`s, its 24-byte header and then the page, so a
//! group of updates that changes a few hundred pages makes several hundred system calls, each
//! with the file system's fixed cost. This VFS sits over SQLite's default one and, for WAL files
//! only, gathers consecutive frames in memory and writes them in pieces of 124 KiB once the
//! commit frame (the frame whose header carries the database size) is complete.
//!
//! That is before SQLite publishes the commit in the shared WAL index, which it does after the
//! frames are written, so no reader can see a frame that is not in the file yet; and an error
//! from the gathered write is the commit frame's write error, which fails the transaction just as
//! a failed `pwrite` would. Anything that is not a plain append (SQLite rewriting the checksums
//! of earlier frames, reads, syncs, truncation, the file size) first writes out what is held, so
//! the file sees the same bytes in the same order as without this VFS. With `synchronous =
//! NORMAL`, as the writer runs, SQLite neither syncs nor pads the WAL at a commit, and nothing is
//! made durable later than it would have been. It is only for such connections: under `FULL` on
//! a file system without power-safe overwrite, SQLite pads the commit with copies of its last
//! frame and may split one around a sync, and the part after the sync would be held past the
//! commit.

use std::ffi::{c_int, c_void, CStr};
use std::mem::size_of;
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

use crate::{Result, StoreError};

/// The name connections open with to use this VFS.
pub(crate) const NAME: &str = "leadline-wal-batch";
const C_NAME: &CStr = c"leadline-wal-batch";

/// A WAL frame's header.
const FRAME_HEADER: usize = 24;
/// The WAL file's own header, written at offset 0 when the log starts over.
const WAL_HEADER: usize = 32;
/// Largest write handed to the default VFS, which writes at most 128 KiB less one byte a call.
const WRITE_AT_MOST: usize = 124 << 10;
/// Most bytes held before they are written even without a commit (a large import batch).
const HELD_BYTES_AT_MOST: usize = 1 << 20;

/// SQLite's default VFS, which does the real work.
struct Base(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are immutable once registered and safe to use from any thread.
unsafe impl Send for Base {}
// SAFETY: as for `Send`: nothing is written through the pointer after registration.
unsafe impl Sync for Base {}

static REGISTERED: OnceLock<std::result::Result<Base, String>> = OnceLock::new();

/// Registers the VFS with SQLite once per process (not as the default).
pub(crate) fn register() -> Result<()> {
    let registered = REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find and sqlite3_vfs_register initialize SQLite themselves; the
        // registered object is leaked, so it outlives every connection.
        unsafe {
            let base = ffi::sqlite3_vfs_find(ptr::null());
            if base.is_null() {
                return Err("SQLite has no default VFS".into());
            }
            let mut vfs: ffi::sqlite3_vfs = ptr::read(base);
            vfs.szOsFile = (size_of::<BatchFile>() + (*base).szOsFile as usize) as c_int;
            vfs.pNext = ptr::null_mut();
            vfs.zName = C_NAME.as_ptr();
            vfs.xOpen = Some(open);
            let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0);
            if rc != ffi::SQLITE_OK {
                return Err(format!("SQLite refused the WAL-batching VFS (code {rc})"));
            }
            Ok(Base(base))
        }
    });
    registered.as_ref().map(|_| ()).map_err(|why| StoreError::Writer(why.clone()))
}

fn base() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(base)) => base.0,
        _ => unreachable!("files are opened through the VFS only after it is registered"),
    }
}

/// The file object SQLite holds: ours in front, the default VFS's file right behind it.
#[repr(C)]
struct BatchFile {
    header: ffi::sqlite3_file,
    /// This file's methods: the default VFS's version, so SQLite sees the same capabilities.
    methods: ffi::sqlite3_io_methods,
    inner: *mut ffi::sqlite3_file,
    /// Frames not yet written; None for files other than a WAL.
    held: Option<Box<Held>>,
}

#[derive(Default)]
struct Held {
    /// File offset of `bytes[0]`.
    start: i64,
    bytes: Vec<u8>,
    /// End of the last commit frame written: an empty buffer starts again only past it, so the
    /// checksum rewrites SQLite may make behind a commit go straight to the file.
    committed_end: i64,
    /// Where the commit frame's page goes, once its header has been held.
    commit_page_at: Option<i64>,
}

impl Held {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64
    }

    /// Takes the write if it extends or overwrites what is held (or may start a new run);
    /// false when it has to go to the file directly.
    fn take(&mut self, data: &[u8], offset: i64) -> bool {
        let amount = data.len() as i64;
        if !self.bytes.is_empty() && offset == self.end() {
            self.bytes.extend_from_slice(data);
        } else if self.bytes.is_empty() && (offset >= self.committed_end || (offset == 0 && data.len() == WAL_HEADER)) {
            if offset == 0 {
                // The log starts over.
                self.committed_end = 0;
            }
            self.start = offset;
            self.bytes.extend_from_slice(data);
        } else if !self.bytes.is_empty() && offset >= self.start && offset + amount <= self.end() {
            let at = (offset - self.start) as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
            return true;
        } else {
            return false;
        }
        if data.len() == FRAME_HEADER && data[4..8] != [0; 4] {
            self.commit_page_at = Some(offset + FRAME_HEADER as i64);
        }
        true
    }

    /// True when the write just taken completed a commit frame.
    fn commit_complete(&self, offset: i64) -> bool {
        self.commit_page_at == Some(offset)
    }
}

impl BatchFile {
    fn inner_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `inner` was opened by the default VFS, which set its methods.
        unsafe { &*(*self.inner).pMethods }
    }

    /// Writes out what is held. The held bytes are dropped even when the write fails: SQLite
    /// has been told of the failure and rewrites that part of the log.
    fn flush(&mut self) -> c_int {
        if self.held.as_ref().is_none_or(|held| held.bytes.is_empty()) {
            return ffi::SQLITE_OK;
        }
        let Some(write) = self.inner_methods().xWrite else { return ffi::SQLITE_IOERR_WRITE };
        let Some(held) = self.held.as_mut() else { return ffi::SQLITE_OK };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = held.start;
        for chunk in held.bytes.chunks(WRITE_AT_MOST) {
            // SAFETY: the chunk is valid for its length, which is far within c_int.
            rc = unsafe { write(self.inner, chunk.as_ptr().cast(), chunk.len() as c_int, offset) };
            #[cfg(test)]
            tests::WRITES.with(|n| n.set(n.get() + 1));
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        held.bytes.clear();
        held.commit_page_at = None;
        rc
    }
}

/// Calls the default VFS's method of that name on the inner file; SQLITE_IOERR if it has none
/// (SQLite's default VFS has them all).
macro_rules! inner_call {
    ($this:expr, $method:ident $(, $arg:expr)*) => {
        match $this.inner_methods().$method {
            // SAFETY: `inner` is the default VFS's open file, called through its own methods
            // with the arguments SQLite handed this file's method of the same name.
            Some(method) => unsafe { method($this.inner $(, $arg)*) },
            None => ffi::SQLITE_IOERR,
        }
    };
}

/// Writes out what the file holds, then calls the default VFS's method (a failed write is the
/// call's error).
macro_rules! after_flush {
    ($file:expr, $method:ident $(, $arg:expr)*) => {{
        // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
        let this = unsafe { this($file) };
        match this.flush() {
            ffi::SQLITE_OK => inner_call!(this, $method $(, $arg)*),
            failed => failed,
        }
    }};
}

/// The file behind SQLite's pointer.
///
/// # Safety
/// `file` must be one this VFS opened and not yet closed.
unsafe fn this<'a>(file: *mut ffi::sqlite3_file) -> &'a mut BatchFile {
    // SAFETY: `open` wrote a `BatchFile` at `file` (the caller's promise), and SQLite calls one
    // method of a file at a time, so no other reference to it is live.
    unsafe { &mut *file.cast::<BatchFile>() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = base();
    // SAFETY: SQLite allocated `szOsFile` bytes at `file`, which `register` set to a
    // `BatchFile` followed by the default VFS's file, so the inner file starts in bounds.
    let inner = unsafe { file.cast::<u8>().add(size_of::<BatchFile>()).cast::<ffi::sqlite3_file>() };
    // SAFETY: `inner` points into that allocation; the default VFS's file begins with its
    // methods pointer, cleared so a failed open is recognisable.
    unsafe { (*inner).pMethods = ptr::null() };
    // SAFETY: `base` is the default VFS, registered for the life of the process.
    let Some(open_inner) = (unsafe { (*base).xOpen }) else { return ffi::SQLITE_CANTOPEN };
    // SAFETY: the default VFS opens its file in the space set aside for it, with SQLite's own
    // name, flags and out-pointer.
    let rc = unsafe { open_inner(base, name, inner, flags, out_flags) };
    // SAFETY: `inner` is in bounds (above) and its methods pointer was written or left null.
    let inner_methods = unsafe { (*inner).pMethods };
    if inner_methods.is_null() {
        // Nothing to close: SQLite will not call xClose.
        // SAFETY: `file` is SQLite's allocation; a null methods pointer tells it so.
        unsafe { (*file).pMethods = ptr::null() };
        return rc;
    }
    // SAFETY: the default VFS set a methods table that lives as long as the VFS.
    let inner_version = unsafe { (*inner_methods).iVersion };
    let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
    // SAFETY: `file` has room for a `BatchFile` (see `register`), not yet initialised, so it is
    // written without dropping what was there.
    unsafe {
        ptr::write(
            file.cast::<BatchFile>(),
            BatchFile {
                header: ffi::sqlite3_file { pMethods: ptr::null() },
                methods: methods(inner_version.min(3)),
                inner,
                held: wal.then(Box::default),
            },
        )
    };
    // SAFETY: the `BatchFile` was written just above.
    let this = unsafe { this(file) };
    this.header.pMethods = &this.methods;
    rc
}

fn methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved_lock),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device_characteristics),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: Some(fetch),
        xUnfetch: Some(unfetch),
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes only a file this VFS opened, and calls nothing on it afterwards.
    let this = unsafe { this(file) };
    let flushed = this.flush();
    let rc = inner_call!(this, xClose);
    // SAFETY: the `BatchFile` that `open` wrote is dropped once, here, after its last use.
    unsafe { ptr::drop_in_place(file.cast::<BatchFile>()) };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        rc
    }
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, data: *mut c_void, amount: c_int, offset: i64) -> c_int {
    after_flush!(file, xRead, data, amount, offset)
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite writes only to a file this VFS opened.
    let this = unsafe { this(file) };
    if let Some(held) = this.held.as_mut() {
        // SAFETY: SQLite passes `amount` readable bytes at `data`, alive for this call.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), amount as usize) };
        if held.take(bytes, offset) {
            if held.commit_complete(offset) {
                held.committed_end = held.end();
                return this.flush();
            }
            if held.bytes.len() >= HELD_BYTES_AT_MOST {
                return this.flush();
            }
            return ffi::SQLITE_OK;
        }
        let rc = this.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        #[cfg(test)]
        tests::WRITES.with(|n| n.set(n.get() + 1));
    }
    inner_call!(this, xWrite, data, amount, offset)
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    after_flush!(file, xTruncate, size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    after_flush!(file, xSync, flags)
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    after_flush!(file, xFileSize, size)
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    after_flush!(file, xFileControl, op, arg)
}

// The rest pass straight through: they neither read nor write the file's bytes.

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    inner_call!(this, xLock, level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    inner_call!(this, xUnlock, level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    inner_call!(this, xCheckReservedLock, out)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    // SAFETY: the default VFS's own method on its own open file.
    this.inner_methods().xSectorSize.map_or(4096, |sector_size| unsafe { sector_size(this.inner) })
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    // SAFETY: the default VFS's own method on its own open file.
    this.inner_methods().xDeviceCharacteristics.map_or(0, |characteristics| unsafe { characteristics(this.inner) })
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    inner_call!(this, xShmMap, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    inner_call!(this, xShmLock, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    if let Some(barrier) = this.inner_methods().xShmBarrier {
        // SAFETY: the default VFS's own method on its own open file.
        unsafe { barrier(this.inner) };
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    match this.inner_methods().xShmUnmap {
        // SAFETY: the default VFS's own method on its own open file.
        Some(unmap) => unsafe { unmap(this.inner, delete) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn fetch(file: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    match this.inner_methods().xFetch {
        // SAFETY: the default VFS's own method on its own open file, with SQLite's arguments.
        Some(fetch) => unsafe { fetch(this.inner, offset, amount, out) },
        None => {
            // SAFETY: SQLite passes a pointer to where the mapped page's address goes.
            unsafe { *out = ptr::null_mut() };
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    // SAFETY: SQLite calls a file's methods only on a file this VFS opened.
    let this = unsafe { this(file) };
    match this.inner_methods().xUnfetch {
        // SAFETY: the default VFS's own method on its own open file, with SQLite's arguments.
        Some(unfetch) => unsafe { unfetch(this.inner, offset, page) },
        None => ffi::SQLITE_OK,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::{Path, PathBuf};

    use rusqlite::{params, Connection, OpenFlags};

    use super::*;

    thread_local! {
        /// Writes this thread's WAL files handed to the default VFS.
        pub(super) static WRITES: Cell<usize> = const { Cell::new(0) };
    }

    /// A database file and its log, with the copies made of them; removed on drop.
    struct Files(PathBuf);

    impl Files {
        fn new(name: &str) -> Files {
            Files(std::env::temp_dir().join(format!("leadline-wal-batch-{name}-{}.db", std::process::id())))
        }

        fn copy_path(&self) -> PathBuf {
            self.0.with_extension("copy.db")
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            for base in [self.0.clone(), self.copy_path()] {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", base.display()));
                }
            }
        }
    }

    fn open_batched(path: &Path) -> Connection {
        register().unwrap();
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).unwrap();
        conn.execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
        )
        .unwrap();
        conn
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM rows", [], |row| row.get(0)).unwrap()
    }

    /// The rows a crash at this moment would leave: the database and log files as they are on
    /// disk, copied elsewhere and opened there, where SQLite rebuilds its index from the log.
    fn count_after_crash(files: &Files) -> i64 {
        let copy = files.copy_path();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
        }
        std::fs::copy(&files.0, &copy).unwrap();
        std::fs::copy(format!("{}-wal", files.0.display()), format!("{}-wal", copy.display())).unwrap();
        count(&Connection::open(&copy).unwrap())
    }

    fn insert(conn: &Connection, rows: i64, bytes: usize) {
        let tx = conn.unchecked_transaction().unwrap();
        let first: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM rows", [], |row| row.get(0)).unwrap();
        for id in first..first + rows {
            tx.execute("INSERT INTO rows (id, data) VALUES (?1, ?2)", params![id, vec![id as u8; bytes]]).unwrap();
        }
        tx.commit().unwrap();
    }

    /// Each commit is in the log file, and visible to another connection, when it returns: small
    /// ones, one larger than what is held at most, after a rollback and a rolled-back savepoint,
    /// and after the log has started over.
    #[test]
    fn every_commit_is_in_the_log_file_when_it_returns() {
        let files = Files::new("commits");
        let conn = open_batched(&files.0);
        let other = Connection::open(&files.0).unwrap();
        let mut expected = 0;
        for round in 0..40 {
            let (rows, bytes) = if round == 7 { (600, 3000) } else { (3, 500 + round * 100) };
            insert(&conn, rows, bytes);
            expected += rows;
            assert_eq!(count(&other), expected, "another connection sees commit {round}");
            assert_eq!(count_after_crash(&files), expected, "commit {round} is in the log file");
            if round == 10 {
                let tx = conn.unchecked_transaction().unwrap();
                tx.execute("INSERT INTO rows (id, data) VALUES (-1, x'00')", []).unwrap();
                tx.rollback().unwrap();
                conn.execute_batch(
                    "SAVEPOINT s; INSERT INTO rows (id, data) VALUES (-2, x'00'); ROLLBACK TO s; RELEASE s;",
                )
                .unwrap();
            }
            if round == 20 {
                // Copied back and started over: the next commit rewrites the log's header.
                other.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())).unwrap();
            }
        }
        assert_eq!(count_after_crash(&files), expected);
    }

    /// Readers on other connections, reading while commits land, only ever see whole commits:
    /// every row they read holds the bytes it was written with, and the count never goes back.
    #[test]
    fn readers_beside_the_writer_see_only_whole_commits() {
        let files = Files::new("readers");
        let conn = open_batched(&files.0);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (path, done) = (files.0.clone(), done.clone());
                std::thread::spawn(move || {
                    let reader = Connection::open(&path).unwrap();
                    reader.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                    let (mut reads, mut last) = (0, 0);
                    while !done.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                        let mut rows = reader.prepare_cached("SELECT id, data FROM rows").unwrap();
                        let mut seen = 0;
                        for row in
                            rows.query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))).unwrap()
                        {
                            let (id, data) = row.unwrap();
                            assert!(data.iter().all(|&b| b == id as u8), "row {id} holds what was written");
                            seen += 1;
                        }
                        assert!(seen >= last, "the reader saw {seen} rows after {last}");
                        last = seen;
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for round in 0..300 {
            insert(&conn, 1 + round % 7, 200 + (round as usize % 5) * 900);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    }

    /// A commit of a hundred pages, two writes each without this VFS, reaches the file in a few.
    #[test]
    fn a_commit_is_written_in_few_calls() {
        let files = Files::new("calls");
        let conn = open_batched(&files.0);
        insert(&conn, 1, 10);
        let before = WRITES.with(Cell::get);
        insert(&conn, 100, 3000);
        let calls = WRITES.with(Cell::get) - before;
        assert!((1..=8).contains(&calls), "{calls} writes for a commit of about 100 pages");
        assert_eq!(count_after_crash(&files), 101);
    }

    fn frame_header(commit: bool) -> Vec<u8> {
        let mut header = vec![0u8; FRAME_HEADER];
        header[3] = 1;
        if commit {
            header[7] = 9;
        }
        header
    }

    #[test]
    fn appends_are_held_until_the_commit_frame_is_complete() {
        let mut held = Held::default();
        assert!(held.take(&[1; WAL_HEADER], 0));
        assert!(held.take(&frame_header(false), 32) && !held.commit_complete(32));
        assert!(held.take(&[2; 512], 56) && !held.commit_complete(56));
        assert!(held.take(&frame_header(true), 568) && !held.commit_complete(568));
        assert!(held.take(&[3; 512], 592) && held.commit_complete(592));
        assert_eq!((held.start, held.end()), (0, 1104));
        // Overwriting a frame already held changes the held bytes.
        assert!(held.take(&[4; 512], 56));
        assert_eq!(held.bytes[56], 4);
    }

    #[test]
    fn a_write_behind_the_last_commit_goes_to_the_file() {
        let mut held = Held { committed_end: 1104, ..Held::default() };
        // SQLite rewriting an earlier frame's checksum after the commit frame.
        assert!(!held.take(&frame_header(false), 32));
        // The next transaction's frames, past the commit.
        assert!(held.take(&frame_header(false), 1104));
        // A write that is neither an append nor inside what is held.
        assert!(!held.take(&[0; 512], 4000));
        // The log starting over with its header.
        let mut held = Held { committed_end: 1104, ..Held::default() };
        assert!(held.take(&[1; WAL_HEADER], 0));
        assert_eq!(held.committed_end, 0);
    }
}
