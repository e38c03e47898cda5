//! The operator console's use cases: sessions (sign in with an API key, find the session a
//! cookie names, sign out), the one-time message shown after a form, and the read models of the
//! console's pages. Sessions live in the database, so any node serves any session. Every change
//! a console page makes goes through the same use cases as the APIs (leads, returns, …).

use jiff::{SignedDuration, Timestamp};
use leadline_core::access::{CatalogScope, Role};
use leadline_store::console::{
    self as store, AllocationCounts, ArchiveRunRow, GridFilter, GridSort, QueueFilter, QueuedReturn,
};
use leadline_store::StoreError;
use subtle::ConstantTimeEq;

use crate::keys::{authenticate, hash_secret};
use crate::{App, AppError, Principal, Result};

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

/// A session just opened: the cookie's token (shown once, stored only as a hash) and the
/// session's CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// The outcome of the last form, shown once on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Done(String),
    Failed(String),
}

impl Flash {
    fn encode(&self) -> String {
        match self {
            Flash::Done(text) => format!("done:{text}"),
            Flash::Failed(text) => format!("failed:{text}"),
        }
    }

    fn decode(stored: &str) -> Flash {
        match stored.split_once(':') {
            Some(("done", text)) => Flash::Done(text.to_string()),
            Some((_, text)) => Flash::Failed(text.to_string()),
            None => Flash::Failed(stored.to_string()),
        }
    }
}

/// A live session: who it acts as and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub principal: Principal,
    pub key_name: String,
    pub csrf: String,
    pub expires_at: Timestamp,
    /// The message left by the last form, taken (cleared) by this read.
    pub flash: Option<Flash>,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        presented.len() == self.csrf.len() && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// A random token of 32 bytes, as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens a session for the holder of an API key. The key is checked as every API checks it
/// (unknown, revoked and expired keys are refused). Sessions that have run out are swept here.
pub async fn sign_in(app: &App, secret: &str) -> Result<NewSession> {
    let principal = authenticate(app, secret.trim()).await?;
    let key_id = principal.key_id.ok_or_else(|| AppError::Unauthorized("unknown API key".into()))?;
    let now = app.now();
    let token = random_token();
    let csrf = random_token();
    let expires_at = now.checked_add(SESSION_LIFETIME).map_err(|_| AppError::invalid("clock", "out of range"))?;
    let mut tx = app.store.begin().await?;
    store::delete_expired(&mut tx, now).await?;
    store::insert_session(
        &mut tx,
        &store::NewSession { token_hash: &hash_secret(&token), key_id, csrf_token: &csrf, created_at: now, expires_at },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(NewSession { token, csrf, expires_at })
}

/// The session a cookie's token names, if it is live and its key still is. A session whose key
/// was revoked or has expired ends with it.
pub async fn session(app: &App, token: &str) -> Result<Option<Session>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let now = app.now();
    let (row, key) = {
        let mut conn = app.store.read().await?;
        let Some(row) = store::find_session(&mut conn, &hash_secret(token)).await? else { return Ok(None) };
        let key = leadline_store::keys::get(&mut conn, row.key_id).await?;
        (row, key)
    };
    let live_key = key.filter(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|at| at > now));
    let (Some(key), true) = (live_key, row.expires_at > now) else {
        let mut tx = app.store.begin().await?;
        store::delete_session(&mut tx, row.id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(None);
    };
    let role = Role::from_parts(&key.role, key.buyer_id, key.campaign_ids.clone())
        .map_err(|e| StoreError::Corrupt(format!("api key {}: {e}", key.id)))?;
    let flash = match &row.flash {
        Some(stored) => {
            let mut tx = app.store.begin().await?;
            store::set_flash(&mut tx, row.id, None).await?;
            tx.commit().await.map_err(StoreError::from)?;
            Some(Flash::decode(stored))
        }
        None => None,
    };
    Ok(Some(Session {
        id: row.id,
        principal: Principal { key_id: Some(key.id), role },
        key_name: key.name,
        csrf: row.csrf_token,
        expires_at: row.expires_at,
        flash,
    }))
}

/// Ends a session.
pub async fn sign_out(app: &App, session_id: i64) -> Result<()> {
    let mut tx = app.store.begin().await?;
    store::delete_session(&mut tx, session_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Leaves a message for the session's next page.
pub async fn flash(app: &App, session_id: i64, flash: &Flash) -> Result<()> {
    let mut text = flash.encode();
    if text.len() > 2000 {
        let mut end = 2000;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let mut tx = app.store.begin().await?;
    store::set_flash(&mut tx, session_id, Some(&text)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Allocations with the state of their leads, as far as the caller's key reaches: every
/// allocation for an admin, archiver or read-only key, a dialer key's campaigns' only.
pub async fn dialer_overview(app: &App, by: &Principal) -> Result<Vec<AllocationCounts>> {
    let campaigns = match &by.role {
        Role::Buyer { .. } => return Err(AppError::Forbidden("a buyer key cannot see the dialer".into())),
        Role::Dialer { campaign_ids } => Some(campaign_ids.as_slice()),
        _ => None,
    };
    let mut conn = app.store.read().await?;
    Ok(store::allocation_counts(&mut conn, campaigns, app.now()).await?)
}

/// Returns in one status with their sale, buyer and reason; a buyer key sees its own.
pub async fn returns_queue(app: &App, by: &Principal, mut filter: QueueFilter) -> Result<Vec<QueuedReturn>> {
    if leadline_core::returns::ReturnStatus::parse(&filter.status).is_none() {
        return Err(AppError::invalid("status", "must be pending, approved_credit, approved_replace or rejected"));
    }
    match &by.role {
        Role::Buyer { buyer_id } => filter.buyer_id = Some(*buyer_id),
        Role::Dialer { .. } => return Err(AppError::Forbidden("a dialer key cannot read returns".into())),
        _ => {}
    }
    let mut conn = app.store.read().await?;
    Ok(store::returns_queue(&mut conn, &filter).await?)
}

/// The reference lists the console's forms pick from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickList {
    Buyers,
    BuyerContracts,
    RejectReasons,
    ReturnReasons,
    Queues,
    QueueStatuses,
}

/// Id and name of each row of a pick list the caller may read.
pub async fn pick_list(app: &App, by: &Principal, list: PickList) -> Result<Vec<(i64, String)>> {
    let (table, collection) = match list {
        PickList::Buyers => ("buyers", "buyers"),
        PickList::BuyerContracts => ("buyer_contracts", "buyer-contracts"),
        PickList::Queues => ("queues", "queues"),
        PickList::QueueStatuses => ("queue_statuses", "queue-statuses"),
        PickList::RejectReasons => ("reject_reasons", "reject-reasons"),
        PickList::ReturnReasons => ("return_reasons", "return-reasons"),
    };
    let scope = by.role.catalog_scope(collection);
    if scope == CatalogScope::Denied {
        return Err(AppError::Forbidden(format!("a {} key cannot read {collection}", by.role.name())));
    }
    let mut conn = app.store.read().await?;
    Ok(store::names(&mut conn, table, &scope).await?)
}

/// One page of the call-center grid with what its filters need.
#[derive(Debug, Clone)]
pub struct GridPage {
    pub leads: Vec<leadline_core::lead::Lead>,
    /// Leads matching the filter on every page.
    pub total: i64,
    /// Where the next page starts, when there may be one.
    pub next: Option<(i64, i64)>,
    /// Leads per queue status in the chosen queue (or in any queue).
    pub statuses: Vec<(Option<i64>, i64)>,
    /// Leads per queue.
    pub queues: Vec<(i64, i64)>,
}

/// The call-center grid: leads by queue and status, filtered, sorted and paged in the database.
/// A buyer key has no grid; a dialer key sees its campaigns' leads.
pub async fn grid(app: &App, by: &Principal, mut filter: GridFilter) -> Result<GridPage> {
    if by.role.buyer_id().is_some() {
        return Err(AppError::Forbidden("a buyer key cannot see the call-center grid".into()));
    }
    if !(1..=200).contains(&filter.limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    filter.scope = by.role.lead_scope();
    let mut conn = app.store.read().await?;
    let leads = store::grid(&mut conn, &filter).await?;
    let statuses = store::status_counts(&mut conn, &filter.scope, filter.queue_id).await?;
    // Filtered by queue and status alone, the total is already in the status counts: one scan
    // of the queue fewer on the common path.
    let total = match (filter.queue_id, &filter.search, filter.thrown_out) {
        (Some(_), None, None) => match filter.queue_status_id {
            None => statuses.iter().map(|(_, n)| n).sum(),
            Some(status) => statuses.iter().find(|(s, _)| *s == status).map(|(_, n)| *n).unwrap_or(0),
        },
        _ => store::grid_count(&mut conn, &filter).await?,
    };
    let queues = store::queue_counts(&mut conn, &filter.scope).await?;
    let next = if leads.len() as i64 >= filter.limit {
        leads.last().map(|l| {
            let key = match filter.sort {
                GridSort::Id => l.id,
                GridSort::Updated => l.updated_at.as_microsecond(),
                GridSort::Created => l.created_at.as_microsecond(),
            };
            (key, l.id)
        })
    } else {
        None
    };
    Ok(GridPage { leads, total, next, statuses, queues })
}

/// Records an archive run started from the console: its counts, or why it did not run.
pub async fn record_archive_run(app: &App, by: &Principal, run: &ArchiveRunRow) -> Result<()> {
    crate::archive::authorize(by)?;
    let mut tx = app.store.begin().await?;
    store::insert_archive_run(&mut tx, &ArchiveRunRow { key_id: by.key_id, ..run.clone() }).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// The last archive runs started from the console, newest first; for keys that may archive.
pub async fn archive_runs(app: &App, by: &Principal, limit: i64) -> Result<Vec<ArchiveRunRow>> {
    crate::archive::authorize(by)?;
    let mut conn = app.store.read().await?;
    Ok(store::archive_runs(&mut conn, limit).await?)
}
