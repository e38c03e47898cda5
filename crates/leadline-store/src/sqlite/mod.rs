//! The SQLite engine: everything that works on SQLite below sqlx, in one place.
//!
//! - [`writer`]: the one thread that writes a database file, grouping units of work into
//!   transactions, and its bulk units (an import batch);
//! - [`wal_batch`]: a VFS that gathers the WAL's frames and writes them in large pieces;
//! - [`direct`]: statements on the engine's own connections (`$n` SQL), and [`row`], their rows
//!   (read by name);
//! - [`pool`]: sqlx's SQLite pools for use-case transactions and reads, and the migrations;
//! - [`borrowed`]: statements whose bound texts SQLite reads in place;
//! - [`readers`]: connections for point look-ups beside the writer;
//! - [`new_leads`]: the bulk insert of new leads, their history and phones;
//! - [`backup`]: a consistent copy of a live database, and putting one back.
//!
//! This is the only part of the store that calls into SQLite's C interface, so it is the only
//! part allowed `unsafe`: each unsafe operation sits in its own block with a `SAFETY:` comment
//! saying why it holds, unsafe functions spell out their unsafe operations too, and clippy
//! refuses an unsafe block without its comment.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod backup;
pub(crate) mod borrowed;
pub mod direct;
pub mod new_leads;
pub(crate) mod pool;
pub mod readers;
pub mod row;
pub(crate) mod wal_batch;
pub mod writer;
