//! Backing up and restoring an embedded database: `leadline backup` and `leadline restore`.
//!
//! The work is the SQLite engine's (a consistent copy of a live file, and the lock that tells a
//! restore the database is in use); the binary reaches it through here, as it reaches the rest
//! of the store only through use cases. On PostgreSQL there is nothing to copy here: its own
//! tools do it (docs/OPERATIONS.md).

pub use leadline_store::sqlite::backup::{backup, restore, sqlite_file, Backup, BackupError, DatabaseLock};
