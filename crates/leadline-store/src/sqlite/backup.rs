//! Backups of a SQLite database file while servers use it, and putting one back while nothing
//! does.
//!
//! A backup is `VACUUM INTO` on a connection of its own: one read transaction, so the copy is the
//! database as of one instant (every write committed before it began, none half), while the
//! servers' writes go on beside it in the WAL. The copy is written under a temporary name, checked
//! with `PRAGMA integrity_check`, synced, and only then renamed to the name asked for.
//!
//! Every process that opens the database (the server and every command) holds a shared lock on a
//! file beside it, `<database>-lock`. A restore takes that lock exclusively, so it refuses while
//! anything has the database open, and nothing can open the database while it runs. The lock is
//! the operating system's (released when a process ends, even by `kill -9`), so a crashed server
//! leaves nothing to clean up. The lock file itself stays; removing it would let two processes
//! lock two different files.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    NotSqlite(String),
    #[error(
        "a Leadline server or command has {} open (it holds {}); stop it before a restore",
        .0.display(),
        lock_path(.0).display()
    )]
    InUse(PathBuf),
    #[error("{} already exists; choose a new file name (a backup never overwrites one)", .0.display())]
    Exists(PathBuf),
    #[error("{} is not a Leadline database: {}", .0.display(), .1)]
    NotLeadline(PathBuf, String),
    #[error("{} failed its integrity check: {}", .0.display(), .1)]
    Damaged(PathBuf, String),
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
    #[error("{}: {}", .0.display(), .1)]
    Sqlite(PathBuf, rusqlite::Error),
}

type Result<T> = std::result::Result<T, BackupError>;

/// The file of a `sqlite:` database URL; `None` for an in-memory database, an error for a URL
/// that is not SQLite (PostgreSQL is backed up with `pg_dump`).
pub fn sqlite_file(database_url: &str) -> Result<Option<PathBuf>> {
    if !database_url.starts_with("sqlite:") {
        return Err(BackupError::NotSqlite(
            "the database is not SQLite: back PostgreSQL up with pg_dump and put it back with pg_restore \
             (docs/OPERATIONS.md has the commands)"
                .into(),
        ));
    }
    if database_url.contains(":memory:") || database_url.contains("mode=memory") {
        return Ok(None);
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
        .map_err(|e| BackupError::NotSqlite(format!("the database URL is not usable: {e}")))?;
    Ok(Some(options.get_filename().to_path_buf()))
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

/// A lock on a database file's `-lock` file, held for as long as this value lives.
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    /// The lock every process using the database holds; any number hold it at once. It waits for
    /// a restore in progress to end.
    pub fn shared(database: &Path) -> Result<DatabaseLock> {
        let file = open_lock_file(database)?;
        file.lock_shared().map_err(|e| BackupError::Io(lock_path(database), e))?;
        Ok(DatabaseLock { _file: file })
    }

    /// The lock a restore holds: refused at once while any other process has the database open.
    pub fn exclusive(database: &Path) -> Result<DatabaseLock> {
        let file = open_lock_file(database)?;
        match file.try_lock() {
            Ok(()) => Ok(DatabaseLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(BackupError::InUse(database.to_path_buf())),
            Err(TryLockError::Error(e)) => Err(BackupError::Io(lock_path(database), e)),
        }
    }
}

fn open_lock_file(database: &Path) -> Result<File> {
    let path = lock_path(database);
    OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| BackupError::Io(path, e))
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub bytes: u64,
    pub leads: i64,
}

/// Copies the database at `database` to the new file `to`, consistently, while servers write.
pub fn backup(database: &Path, to: &Path) -> Result<Backup> {
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let _lock = DatabaseLock::shared(database)?;
    let source = open_existing(database, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    leads_in(&source, database)?;
    let partial = sibling(to, "partial");
    let _ = std::fs::remove_file(&partial);
    let copied = (|| {
        let target = partial.to_str().ok_or_else(|| {
            BackupError::Io(partial.clone(), std::io::Error::other("the file name is not valid UTF-8"))
        })?;
        source.execute("VACUUM INTO ?1", [target]).map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))?;
        let copy = open_existing(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        check_integrity(&copy, &partial)?;
        let leads = leads_in(&copy, &partial)?;
        drop(copy);
        // VACUUM INTO does not sync what it wrote; a backup must be on disk before it is named.
        File::open(&partial).and_then(|f| f.sync_all()).map_err(|e| BackupError::Io(partial.clone(), e))?;
        let bytes = std::fs::metadata(&partial).map_err(|e| BackupError::Io(partial.clone(), e))?.len();
        std::fs::rename(&partial, to).map_err(|e| BackupError::Io(to.to_path_buf(), e))?;
        sync_directory_of(to);
        Ok(Backup { bytes, leads })
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// Replaces the database at `database` (created if missing) with the backup `from`, after
/// checking the backup. Refused while any process has the database open.
pub fn restore(from: &Path, database: &Path) -> Result<Backup> {
    let backup = open_existing(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_integrity(&backup, from)?;
    let leads = leads_in(&backup, from)?;
    let _lock = DatabaseLock::exclusive(database)?;
    let mut live = Connection::open(database).map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))?;
    live.busy_timeout(Duration::from_secs(10)).map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))?;
    // SQLite's online backup copies page by page under the destination's own locks and through
    // its WAL, so a file left by a crashed server (with a WAL) is replaced whole, never mixed.
    let copy = rusqlite::backup::Backup::new(&backup, &mut live)
        .map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))?;
    match copy.step(-1).map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))? {
        rusqlite::backup::StepResult::Done => {}
        other => {
            // Only another program than Leadline can hold the file now.
            let busy = std::io::Error::other(format!("another program holds the database ({other:?})"));
            return Err(BackupError::Io(database.to_path_buf(), busy));
        }
    }
    drop(copy);
    live.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(|e| BackupError::Sqlite(database.to_path_buf(), e))?;
    let bytes = std::fs::metadata(database).map_err(|e| BackupError::Io(database.to_path_buf(), e))?.len();
    Ok(Backup { bytes, leads })
}

fn open_existing(path: &Path, access: OpenFlags) -> Result<Connection> {
    if !path.is_file() {
        return Err(BackupError::Io(path.to_path_buf(), std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let flags = access | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| BackupError::Sqlite(path.to_path_buf(), e))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| BackupError::Sqlite(path.to_path_buf(), e))?;
    Ok(conn)
}

fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let mut statement = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| BackupError::NotLeadline(path.to_path_buf(), e.to_string()))?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| BackupError::Damaged(path.to_path_buf(), e.to_string()))?;
    if problems != ["ok"] {
        return Err(BackupError::Damaged(path.to_path_buf(), problems.join("; ")));
    }
    Ok(())
}

/// The number of leads, which also proves the file holds Leadline's schema.
fn leads_in(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("SELECT (SELECT COUNT(*) FROM _sqlx_migrations) > 0, (SELECT COUNT(*) FROM leads)", [], |row| {
        Ok((row.get::<_, bool>(0)?, row.get::<_, i64>(1)?))
    })
    .map_err(|e| BackupError::NotLeadline(path.to_path_buf(), e.to_string()))
    .and_then(|(migrated, leads)| {
        if migrated {
            Ok(leads)
        } else {
            Err(BackupError::NotLeadline(path.to_path_buf(), "it records no migration".into()))
        }
    })
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{tag}-{}", std::process::id()));
    PathBuf::from(name)
}

/// Makes a rename durable. Best effort: some file systems cannot sync a directory.
fn sync_directory_of(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("leadline-backup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_lock_is_shared_by_users_and_taken_whole_only_when_none_holds_it() {
        let dir = scratch("lock");
        let db = dir.join("leadline.db");
        let first = DatabaseLock::shared(&db).unwrap();
        let second = DatabaseLock::shared(&db).unwrap();
        assert!(matches!(DatabaseLock::exclusive(&db), Err(BackupError::InUse(_))));
        drop(first);
        assert!(matches!(DatabaseLock::exclusive(&db), Err(BackupError::InUse(_))));
        drop(second);
        let restoring = DatabaseLock::exclusive(&db).unwrap();
        drop(restoring);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_a_sqlite_file_url_names_a_file() {
        assert_eq!(sqlite_file("sqlite://data/leadline.db").unwrap(), Some(PathBuf::from("data/leadline.db")));
        assert_eq!(sqlite_file("sqlite:file:x?mode=memory&cache=shared").unwrap(), None);
        let error = sqlite_file("postgres://leadline:secret@db/leadline").unwrap_err().to_string();
        assert!(error.contains("pg_dump") && !error.contains("secret"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_leadline_database_is_neither_backed_up_nor_restored() {
        let dir = scratch("foreign");
        let other = dir.join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let error = backup(&other, &dir.join("copy.db")).unwrap_err();
        assert!(matches!(error, BackupError::NotLeadline(..)), "{error}");
        assert!(!dir.join("copy.db").exists());
        let error = restore(&other, &dir.join("leadline.db")).unwrap_err();
        assert!(matches!(error, BackupError::NotLeadline(..)), "{error}");
        assert!(!dir.join("leadline.db").exists(), "nothing is created when the backup is refused");
        let missing = restore(&dir.join("missing.db"), &dir.join("leadline.db")).unwrap_err();
        assert!(missing.to_string().contains("missing.db"), "{missing}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
