//! A fresh SQLite file per test, removed with its WAL and index files when dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use leadline_store::{PoolConfig, Store};

pub struct Scratch {
    pub store: Store,
    pub path: std::path::PathBuf,
}

impl Scratch {
    /// A new, empty database file named after `name` (and the process and a count).
    pub async fn new(name: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "leadline-{name}-{}-{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let store = Store::connect(&format!("sqlite://{}", path.display()), &PoolConfig::default()).await.unwrap();
        Scratch { store, path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}
