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
#[tracing::instrument(name = "console.sign_in", skip_all)]
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
    tx.commit().await?;
    Ok(NewSession { token, csrf, expires_at })
}

/// The session a cookie's token names, if it is live and its key still is. A session whose key
/// was revoked or has expired ends with it.
#[tracing::instrument(name = "console.session", skip_all)]
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
        tx.commit().await?;
        return Ok(None);
    };
    let role = Role::from_parts(&key.role, key.buyer_id, key.campaign_ids.clone())
        .map_err(|e| StoreError::Corrupt(format!("api key {}: {e}", key.id)))?;
    let flash = match &row.flash {
        Some(stored) => {
            let mut tx = app.store.begin().await?;
            store::set_flash(&mut tx, row.id, None).await?;
            tx.commit().await?;
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
#[tracing::instrument(name = "console.sign_out", skip_all, fields(session = session_id))]
pub async fn sign_out(app: &App, session_id: i64) -> Result<()> {
    let mut tx = app.store.begin().await?;
    store::delete_session(&mut tx, session_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Leaves a message for the session's next page.
#[tracing::instrument(name = "console.flash", skip_all, fields(session = session_id))]
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
    tx.commit().await?;
    Ok(())
}

/// Allocations with the state of their leads, as far as the caller's key reaches: every
/// allocation for an admin, archiver or read-only key, a dialer key's campaigns' only.
#[tracing::instrument(name = "console.dialer_overview", skip_all, fields(key = by.key_id))]
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
#[tracing::instrument(name = "console.returns_queue", skip_all, fields(key = by.key_id))]
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
#[tracing::instrument(name = "console.pick_list", skip_all, fields(key = by.key_id, list = ?list))]
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
#[tracing::instrument(name = "console.grid", skip_all, fields(key = by.key_id))]
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
#[tracing::instrument(name = "console.record_archive_run", skip_all, fields(key = by.key_id))]
pub async fn record_archive_run(app: &App, by: &Principal, run: &ArchiveRunRow) -> Result<()> {
    crate::archive::authorize(by)?;
    let mut tx = app.store.begin().await?;
    store::insert_archive_run(&mut tx, &ArchiveRunRow { key_id: by.key_id, ..run.clone() }).await?;
    tx.commit().await?;
    Ok(())
}

/// The last archive runs started from the console, newest first; for keys that may archive.
#[tracing::instrument(name = "console.archive_runs", skip_all, fields(key = by.key_id))]
pub async fn archive_runs(app: &App, by: &Principal, limit: i64) -> Result<Vec<ArchiveRunRow>> {
    crate::archive::authorize(by)?;
    let mut conn = app.store.read().await?;
    Ok(store::archive_runs(&mut conn, limit).await?)
}

/// The periods the dashboard offers, in days ending today (UTC).
pub const DASHBOARD_PERIODS: [i64; 3] = [7, 30, 90];

/// Where leads came in, as the dashboard groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The native JSON API.
    Api,
    Noojee,
    Ivvy,
    Cake,
    Vicidial,
    /// A list import.
    Import,
    /// The command line, the console, or a dialer's copy of a lead.
    Other,
}

impl Source {
    pub const ALL: [Source; 7] =
        [Source::Api, Source::Noojee, Source::Ivvy, Source::Cake, Source::Vicidial, Source::Import, Source::Other];

    /// The source of a lead whose first history row has this API and action.
    pub fn of(api: &str, action: &str) -> Source {
        match (action, api) {
            ("import", _) => Source::Import,
            ("create", "native") => Source::Api,
            ("create", "noojee") => Source::Noojee,
            ("create", "ivvy") => Source::Ivvy,
            ("create", "cake") => Source::Cake,
            ("create", "vicidial") => Source::Vicidial,
            _ => Source::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Noojee => "noojee",
            Source::Ivvy => "ivvy",
            Source::Cake => "cake",
            Source::Vicidial => "vicidial",
            Source::Import => "import",
            Source::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Api => "API",
            Source::Noojee => "Noojee",
            Source::Ivvy => "iVvy",
            Source::Cake => "CAKE",
            Source::Vicidial => "VICIdial",
            Source::Import => "Import",
            Source::Other => "Other",
        }
    }

    fn index(self) -> usize {
        Source::ALL.iter().position(|s| *s == self).unwrap_or(Source::ALL.len() - 1)
    }
}

/// One UTC day of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures {
    pub date: jiff::civil::Date,
    /// Leads in, per [`Source::ALL`].
    pub leads_in: [i64; 7],
    /// Of the leads in that day, those sold by now and those not.
    pub sold: i64,
    pub unsold: i64,
    pub sales: i64,
    pub revenue_minor: i64,
    pub credits_minor: i64,
    pub fees_minor: i64,
    pub import_files: i64,
    pub imported: i64,
    pub import_rejected: i64,
    pub archive_runs: i64,
    pub dearchive_runs: i64,
    pub runs_not_run: i64,
    pub leads_moved: i64,
}

impl DayFigures {
    fn empty(date: jiff::civil::Date) -> DayFigures {
        DayFigures {
            date,
            leads_in: [0; 7],
            sold: 0,
            unsold: 0,
            sales: 0,
            revenue_minor: 0,
            credits_minor: 0,
            fees_minor: 0,
            import_files: 0,
            imported: 0,
            import_rejected: 0,
            archive_runs: 0,
            dearchive_runs: 0,
            runs_not_run: 0,
            leads_moved: 0,
        }
    }

    pub fn leads(&self, source: Source) -> i64 {
        self.leads_in[source.index()]
    }
}

/// The dashboard's figures for the last `period` days, every day present (oldest first), and
/// the figures that are not per day: return rates by buyer for the period's sales, and where
/// each allocation's leads stand now.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub period: i64,
    pub days: Vec<DayFigures>,
    pub buyers: Vec<store::BuyerReturns>,
    pub allocations: Vec<AllocationCounts>,
}

/// The dashboard, for admin and read-only keys (the whole business's figures); other keys keep
/// the pages of their own role. `period` is 7, 30 or 90 days, today (UTC) included.
#[tracing::instrument(name = "console.dashboard", skip_all, fields(key = by.key_id, period))]
pub async fn dashboard(app: &App, by: &Principal, period: i64) -> Result<Dashboard> {
    if !matches!(by.role, Role::Admin | Role::ReadOnly) {
        return Err(AppError::Forbidden(format!("a {} key cannot see the dashboard", by.role.name())));
    }
    if !DASHBOARD_PERIODS.contains(&period) {
        return Err(AppError::invalid("days", "must be 7, 30 or 90"));
    }
    let today = app.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let first =
        today.checked_sub(jiff::Span::new().days(period - 1)).map_err(|_| AppError::invalid("days", "out of range"))?;
    let start_of = |date: jiff::civil::Date| {
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| AppError::invalid("days", "out of range"))
    };
    let since = start_of(first)?;
    let until = start_of(today.tomorrow().map_err(|_| AppError::invalid("days", "out of range"))?)?;
    let first_day = since.as_microsecond().div_euclid(store::DAY_MICROS);
    let mut days: Vec<DayFigures> = (0..period)
        .map(|i| first.checked_add(jiff::Span::new().days(i)).map(DayFigures::empty))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| AppError::invalid("days", "out of range"))?;
    let count = days.len();
    // The row of `days` a day number falls on; the queries read only the period, so always one.
    let slot = |day: i64| usize::try_from(day - first_day).ok().filter(|i| *i < count);

    let mut conn = app.store.read().await?;
    for row in store::arrivals(&mut conn, since, until).await? {
        if let Some(i) = slot(row.day) {
            days[i].leads_in[Source::of(&row.api, &row.action).index()] += row.leads;
            days[i].sold += row.sold;
            days[i].unsold += row.leads - row.sold;
        }
    }
    for row in store::money(&mut conn, since, until).await? {
        if let Some(i) = slot(row.day) {
            days[i].sales = row.sales;
            days[i].revenue_minor = row.revenue_minor;
            days[i].credits_minor = row.credits_minor;
            days[i].fees_minor = row.fees_minor;
        }
    }
    for row in store::imports_by_day(&mut conn, since, until).await? {
        if let Some(i) = slot(row.day) {
            days[i].import_files = row.files;
            days[i].imported = row.loaded;
            days[i].import_rejected = row.rejected;
        }
    }
    for row in store::archive_runs_by_day(&mut conn, since, until).await? {
        if let Some(i) = slot(row.day) {
            days[i].archive_runs = row.archived;
            days[i].dearchive_runs = row.dearchived;
            days[i].runs_not_run = row.not_run;
            days[i].leads_moved = row.leads_moved;
        }
    }
    let buyers = store::buyer_returns(&mut conn, since, until).await?;
    let allocations = store::allocation_counts(&mut conn, None, app.now()).await?;
    Ok(Dashboard { period, days, buyers, allocations })
}
