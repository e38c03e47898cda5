//! The dialer's set-up (templates, campaigns, allocations, contact hours, dispositions), kept in
//! memory on each node so a dialer write reads none of it from the database.
//!
//! The copy is never trusted blindly: every write that used it checks, inside its own
//! transaction, that the database's set-up revision is still the copy's (see
//! `leadline_store::dialer::setup_revision`), and a look-up that finds nothing asks the database
//! whether the set-up has moved on before refusing. So a campaign created or changed on any node
//! is seen by the next request on every node.

use std::sync::{Arc, RwLock};

use leadline_store::dialer::{self as store, Setup};
use leadline_store::Store;

use crate::Result;

#[derive(Debug, Default)]
pub struct SetupCache {
    current: RwLock<Option<Arc<Setup>>>,
    /// Held while the set-up is read, so requests that find it stale at once read it once.
    loading: tokio::sync::Mutex<()>,
}

impl SetupCache {
    /// The set-up as last read (read now if it never was).
    pub async fn current(&self, store: &Store) -> Result<Arc<Setup>> {
        match self.held() {
            Some(setup) => Ok(setup),
            None => self.newer_than(store, i64::MIN).await,
        }
    }

    /// A set-up newer than revision `seen`, if the database has one; else the one held.
    pub async fn newer_than(&self, store: &Store, seen: i64) -> Result<Arc<Setup>> {
        let _loading = self.loading.lock().await;
        if let Some(held) = self.held().filter(|held| held.revision > seen) {
            return Ok(held);
        }
        let mut conn = store.read().await?;
        if let Some(held) = self.held() {
            if store::setup_revision(&mut conn).await? == held.revision {
                return Ok(held);
            }
        }
        let fresh = Arc::new(store::setup(&mut conn).await?);
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    fn held(&self) -> Option<Arc<Setup>> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
