//! Plain read connections to a SQLite file, for the point look-ups every request makes (the API
//! key). Through sqlx such a read is a round trip to a connection thread; here it runs on the
//! caller's thread in a few microseconds. WAL mode lets these readers run beside the writer
//! without waiting for it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::Result;

/// Idle connections kept for reuse; more are opened when many readers run at once.
const KEEP_IDLE: usize = 8;

#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Readers {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `read` on a read-only connection. It blocks the calling thread for as long as the
    /// read takes, so it is meant for look-ups by key, not for scans.
    pub fn read<T, E: From<crate::StoreError>>(&self, read: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
        let taken = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let outcome = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        outcome
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.execute_batch("PRAGMA busy_timeout = 10000;")?;
        Ok(conn)
    }
}
