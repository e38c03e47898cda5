//! Leadline's use cases. Each one authorizes the caller, loads what it needs, asks the domain
//! for the change, and persists the change with its history row in one transaction. Every edge
//! (the native API, each vendor dialect, the CLI) calls these same functions.

#![forbid(unsafe_code)]

pub mod archive;
pub mod backup;
pub mod catalog;
pub mod console;
pub mod crm;
pub mod dialer;
pub mod error;
pub mod export;
pub mod imports;
pub mod keys;
pub mod leads;
pub mod outbound;
pub mod outbox;
pub mod queues;
pub mod returns;
pub mod sales;
pub mod setup;
pub mod signing;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "testing")]
pub mod vicidial_testing;

use std::sync::Arc;

use jiff::Timestamp;
use leadline_core::access::Role;
use leadline_core::history::{Actor, Api};
use leadline_store::Store;

pub use error::AppError;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Where use cases read the time, so tests can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The application: the store, the clock, and the node's copy of the dialer set-up. Cheap to
/// clone. It holds nothing the database does not: the set-up copy is checked against the
/// database in every write that uses it, so any number of nodes can serve one database.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub setup: Arc<setup::SetupCache>,
    pub live_keys: Arc<keys::LiveKeys>,
    /// What one key may have in HTTP imports at once (the operator's settings).
    pub upload_limits: imports::UploadLimits,
}

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            clock: Arc::new(SystemClock),
            setup: Arc::default(),
            live_keys: Arc::default(),
            upload_limits: imports::UploadLimits::default(),
        }
    }

    /// Opens the database at `url` (`sqlite://…` or `postgres://…`) and brings its schema up to
    /// date. The errors say which of the two steps failed.
    pub async fn open(url: &str, pool: &store::PoolConfig) -> std::result::Result<App, OpenError> {
        let store = Store::connect(url, pool).await.map_err(OpenError::Connect)?;
        store.migrate().await.map_err(OpenError::Migrate)?;
        Ok(App::new(store))
    }

    /// The current time, to the microsecond: the precision the store keeps timestamps in, so a
    /// lead or key a use case returns equals the one read back later.
    pub fn now(&self) -> Timestamp {
        let now = self.clock.now();
        Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
    }
}

/// Why [`App::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("could not open the database")]
    Connect(#[source] leadline_store::StoreError),
    #[error("could not migrate the database")]
    Migrate(#[source] leadline_store::StoreError),
}

/// An authenticated caller: the key (none for the operator at the CLI) and its role.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub key_id: Option<i64>,
    pub role: Role,
}

impl Principal {
    /// The operator at the command line, who holds the database itself.
    pub fn operator() -> Principal {
        Principal { key_id: None, role: Role::Admin }
    }

    pub fn actor(&self, api: Api) -> Actor {
        Actor { key_id: self.key_id, api }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("a {} key cannot do this; it needs an admin key", self.role.name())))
        }
    }
}

/// A page of a list: the items and the cursor for the next page, if there may be one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit` items, with a cursor when the page is full.
    pub fn new(items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let next_cursor = if items.len() as i64 >= limit { items.last().map(|i| id_of(i).to_string()) } else { None };
        Page { items, next_cursor }
    }
}

/// Page sizes: 100 unless asked, at most 1000.
pub fn page_limit(asked: Option<i64>) -> Result<i64> {
    match asked {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid("limit", "must be between 1 and 1000")),
    }
}

/// Reads a cursor handed out by [`Page::new`].
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| c.parse::<i64>().map_err(|_| AppError::invalid("cursor", "is not a cursor this API handed out")))
        .transpose()
}
