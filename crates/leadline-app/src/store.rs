//! The store's types that edges may name, and no others.
//!
//! Edges (the HTTP crate, the binary) depend on `leadline-app` only. What they need from the
//! store is its vocabulary: the filters a list takes, the records a use case hands back, and the
//! pool's sizes. Those are plain data with no I/O of their own, so they are re-exported here
//! rather than copied into look-alike app types field by field. Nothing that reads or writes (the
//! `Store`, a connection, a query function, `StoreError`) is exported: an edge reaches the
//! database only through a use case.

pub use leadline_store::console::{ArchiveRunRow, GridFilter, GridSort, QueueFilter};
pub use leadline_store::imports::{Checkpoint, Job, Reject};
pub use leadline_store::leads::LeadFilter;
pub use leadline_store::returns::ReturnFilter;
pub use leadline_store::sales::SaleFilter;
pub use leadline_store::{PoolConfig, Unavailable};
