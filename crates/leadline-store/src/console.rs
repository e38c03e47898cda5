//! What the operator console keeps and reads beyond the use cases' own tables: its sessions,
//! and a few read models that join several tables for one page (allocation counts, the returns
//! queue with names). Writes to leads, returns and the ledger go through the use cases.

use crate::{from_micros, micros, Cells, Exec, Result, Sql, SqlArg};
use jiff::Timestamp;
use leadline_core::access::{CatalogScope, LeadScope};
use leadline_core::lead::Lead;

/// A stored console session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: i64,
    pub key_id: i64,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub flash: Option<String>,
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub key_id: i64,
    pub csrf_token: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_session(conn: &mut impl Exec, new: &NewSession<'_>) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO console_sessions (token_hash, key_id, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        crate::args![new.token_hash, new.key_id, new.csrf_token, micros(new.created_at), micros(new.expires_at)],
    );
    conn.one_row(&sql).await?.int("id")
}

pub async fn find_session(conn: &mut impl Exec, token_hash: &str) -> Result<Option<SessionRow>> {
    let sql = Sql::fixed(
        "SELECT id, key_id, csrf_token, created_at, expires_at, flash FROM console_sessions WHERE token_hash = $1",
        crate::args![token_hash],
    );
    conn.optional_row(&sql)
        .await?
        .map(|row| {
            Ok(SessionRow {
                id: row.int("id")?,
                key_id: row.int("key_id")?,
                csrf_token: row.text("csrf_token")?,
                created_at: from_micros("created_at", row.int("created_at")?)?,
                expires_at: from_micros("expires_at", row.int("expires_at")?)?,
                flash: row.opt_text("flash")?,
            })
        })
        .transpose()
}

pub async fn delete_session(conn: &mut impl Exec, id: i64) -> Result<bool> {
    Ok(conn.run(&Sql::fixed("DELETE FROM console_sessions WHERE id = $1", crate::args![id])).await? == 1)
}

/// Removes sessions that have run out; returns how many.
pub async fn delete_expired(conn: &mut impl Exec, now: Timestamp) -> Result<u64> {
    conn.run(&Sql::fixed("DELETE FROM console_sessions WHERE expires_at <= $1", crate::args![micros(now)])).await
}

/// Sets (or, with None, clears) the message the session's next page shows.
pub async fn set_flash(conn: &mut impl Exec, id: i64, flash: Option<&str>) -> Result<()> {
    conn.run(&Sql::fixed("UPDATE console_sessions SET flash = $1 WHERE id = $2", crate::args![flash, id])).await?;
    Ok(())
}

pub async fn count_sessions(conn: &mut impl Exec) -> Result<i64> {
    conn.one_row(&Sql::new("SELECT COUNT(*) AS n FROM console_sessions")).await?.int("n")
}

/// An allocation and where its leads stand. The four counts split the allocation's leads:
/// closed; open and leased now; open, unleased, with a callback still ahead; and the rest
/// (open, unleased, nothing scheduled or the callback due): dialable as far as the queue goes,
/// before each lead's contact hours are checked at lease time.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationCounts {
    pub allocation_id: i64,
    pub allocation_name: String,
    pub active: bool,
    pub campaign_id: i64,
    pub campaign_name: String,
    pub dialable: i64,
    pub callbacks: i64,
    pub leased: i64,
    pub closed: i64,
}

/// Counts per allocation, of every allocation or only those of `campaigns`.
pub async fn allocation_counts(
    conn: &mut impl Exec,
    campaigns: Option<&[i64]>,
    now: Timestamp,
) -> Result<Vec<AllocationCounts>> {
    let mut sql = Sql::new("SELECT a.id, a.name, a.active, a.campaign_id, c.name AS campaign_name, ");
    let now = SqlArg::Int(Some(micros(now)));
    sql.push("CAST(SUM(CASE WHEN l.closed = ")
        .bind(SqlArg::Bool(Some(true)))
        .push(" THEN 1 ELSE 0 END) AS BIGINT) AS closed, ");
    sql.push("CAST(SUM(CASE WHEN l.closed = ").bind(SqlArg::Bool(Some(false)));
    sql.push(" AND l.lock_until > ").bind(now.clone()).push(" THEN 1 ELSE 0 END) AS BIGINT) AS leased, ");
    sql.push("CAST(SUM(CASE WHEN l.closed = ").bind(SqlArg::Bool(Some(false)));
    sql.push(" AND (l.lock_until IS NULL OR l.lock_until <= ").bind(now.clone());
    sql.push(") AND l.callback_at > ").bind(now.clone()).push(" THEN 1 ELSE 0 END) AS BIGINT) AS callbacks, ");
    sql.push("CAST(SUM(CASE WHEN l.closed = ").bind(SqlArg::Bool(Some(false)));
    sql.push(" AND (l.lock_until IS NULL OR l.lock_until <= ").bind(now.clone());
    sql.push(") AND (l.callback_at IS NULL OR l.callback_at <= ").bind(now);
    sql.push(") THEN 1 ELSE 0 END) AS BIGINT) AS dialable ");
    sql.push("FROM allocations a JOIN campaigns c ON c.id = a.campaign_id LEFT JOIN leads l ON l.allocation_id = a.id WHERE 1 = 1");
    if let Some(campaigns) = campaigns {
        sql.push(" AND a.campaign_id IN (");
        for (i, id) in campaigns.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(SqlArg::Int(Some(*id)));
        }
        sql.push(")");
    }
    sql.push(" GROUP BY a.id, a.name, a.active, a.campaign_id, c.name ORDER BY a.id");
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|row| {
            let count = |column: &str| -> Result<i64> { Ok(row.opt_int(column)?.unwrap_or(0)) };
            Ok(AllocationCounts {
                allocation_id: row.int("id")?,
                allocation_name: row.text("name")?,
                active: row.opt_flag("active")?.unwrap_or(false),
                campaign_id: row.int("campaign_id")?,
                campaign_name: row.text("campaign_name")?,
                dialable: count("dialable")?,
                callbacks: count("callbacks")?,
                leased: count("leased")?,
                closed: count("closed")?,
            })
        })
        .collect()
}

/// A return as the returns queue shows it: with its sale, buyer, contract, reason and lead.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedReturn {
    pub id: i64,
    pub status: String,
    pub lead_id: i64,
    pub lead_ref: Option<String>,
    pub lead_name: Option<String>,
    pub sale_id: i64,
    pub price_minor: i64,
    pub sold_at: Timestamp,
    pub buyer_id: i64,
    pub buyer_name: String,
    pub buyer_contract_id: i64,
    pub contract_name: String,
    pub return_reason: String,
    pub denied_reason: Option<String>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: String,
    pub buyer_id: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

fn read_queued(row: &impl Cells) -> Result<QueuedReturn> {
    let decided = row.opt_int("decided_at")?;
    Ok(QueuedReturn {
        id: row.int("id")?,
        status: row.text("status")?,
        lead_id: row.int("lead_id")?,
        lead_ref: row.opt_text("ref")?,
        lead_name: row.opt_text("lead_name")?,
        sale_id: row.int("sale_id")?,
        price_minor: row.int("price_minor")?,
        sold_at: from_micros("sold_at", row.int("sold_at")?)?,
        buyer_id: row.int("buyer_id")?,
        buyer_name: row.text("buyer_name")?,
        buyer_contract_id: row.int("buyer_contract_id")?,
        contract_name: row.text("contract_name")?,
        return_reason: row.text("reason")?,
        denied_reason: row.opt_text("denied")?,
        created_at: from_micros("created_at", row.int("created_at")?)?,
        decided_at: decided.map(|v| from_micros("decided_at", v)).transpose()?,
    })
}

pub async fn returns_queue(conn: &mut impl Exec, filter: &QueueFilter) -> Result<Vec<QueuedReturn>> {
    let mut sql = Sql::new(
        "SELECT r.id, r.status, r.lead_id, l.ref, l.name AS lead_name, r.sale_id, s.price_minor, s.sold_at, \
         r.buyer_id, b.name AS buyer_name, r.buyer_contract_id, bc.name AS contract_name, rr.name AS reason, \
         dr.name AS denied, r.created_at, r.decided_at \
         FROM returns r JOIN sales s ON s.id = r.sale_id JOIN buyers b ON b.id = r.buyer_id \
         JOIN buyer_contracts bc ON bc.id = r.buyer_contract_id JOIN return_reasons rr ON rr.id = r.return_reason_id \
         LEFT JOIN reject_reasons dr ON dr.id = r.denied_reason_id LEFT JOIN leads l ON l.id = r.lead_id \
         WHERE r.status = ",
    );
    sql.bind(SqlArg::Text(Some(filter.status.clone())));
    if let Some(buyer) = filter.buyer_id {
        sql.push(" AND r.buyer_id = ").bind(SqlArg::Int(Some(buyer)));
    }
    if let Some(after) = filter.after {
        sql.push(" AND r.id > ").bind(SqlArg::Int(Some(after)));
    }
    sql.push(" ORDER BY r.id LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    conn.all_rows(&sql).await?.iter().map(read_queued).collect()
}

/// Names of the rows of a small reference table, for pick lists and labels. `table` is one of
/// the console's own constants, never user input.
pub async fn names(conn: &mut impl Exec, table: &'static str, scope: &CatalogScope) -> Result<Vec<(i64, String)>> {
    let mut sql = Sql::new(format!("SELECT id, name FROM {table} WHERE 1 = 1"));
    crate::catalog::push_scope(&mut sql, scope);
    sql.push(" ORDER BY name, id LIMIT 1000");
    conn.all_rows(&sql).await?.iter().map(|row| Ok((row.int("id")?, row.text("name")?))).collect()
}

/// How the call-center grid orders its rows; every order ends with the lead id, so a page
/// boundary is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GridSort {
    #[default]
    Id,
    Updated,
    Created,
}

impl GridSort {
    pub fn parse(text: &str) -> Option<GridSort> {
        match text {
            "id" => Some(GridSort::Id),
            "updated" => Some(GridSort::Updated),
            "created" => Some(GridSort::Created),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GridSort::Id => "id",
            GridSort::Updated => "updated",
            GridSort::Created => "created",
        }
    }

    fn column(self) -> &'static str {
        match self {
            GridSort::Id => "id",
            GridSort::Updated => "updated_at",
            GridSort::Created => "created_at",
        }
    }
}

/// Which leads the grid shows, in which order, from where.
#[derive(Debug, Clone)]
pub struct GridFilter {
    pub scope: LeadScope,
    pub queue_id: Option<i64>,
    /// `Some(None)`: leads with no queue status.
    pub queue_status_id: Option<Option<i64>>,
    pub thrown_out: Option<bool>,
    /// A lead id, ref, phone digits, or text found in the name or email.
    pub search: Option<String>,
    pub sort: GridSort,
    pub descending: bool,
    /// The sort key and id of the last row of the previous page.
    pub after: Option<(i64, i64)>,
    pub limit: i64,
}

impl Default for GridFilter {
    fn default() -> Self {
        GridFilter {
            scope: LeadScope::All,
            queue_id: None,
            queue_status_id: None,
            thrown_out: None,
            search: None,
            sort: GridSort::Id,
            descending: true,
            after: None,
            limit: 50,
        }
    }
}

fn push_grid_filter(sql: &mut Sql, filter: &GridFilter) {
    crate::leads::push_scope(sql, &filter.scope);
    if let Some(queue) = filter.queue_id {
        sql.push(" AND queue_id = ").bind(SqlArg::Int(Some(queue)));
    }
    match filter.queue_status_id {
        Some(Some(status)) => {
            sql.push(" AND queue_status_id = ").bind(SqlArg::Int(Some(status)));
        }
        Some(None) => {
            sql.push(" AND queue_status_id IS NULL");
        }
        None => {}
    }
    if let Some(thrown_out) = filter.thrown_out {
        sql.push(" AND thrown_out = ").bind(SqlArg::Bool(Some(thrown_out)));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // Digits (with phone punctuation) name a lead id or a phone; other text is looked for
        // in the name and email, or taken as a ref.
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && search.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            sql.push(" AND (id IN (SELECT lead_id FROM lead_phones WHERE phone = ")
                .bind(SqlArg::Text(Some(digits.clone())));
            sql.push(")");
            if let Ok(id) = digits.parse::<i64>() {
                sql.push(" OR id = ").bind(SqlArg::Int(Some(id)));
            }
            sql.push(")");
        } else {
            let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            sql.push(" AND (LOWER(name) LIKE ").bind(SqlArg::Text(Some(pattern.clone()))).push(" ESCAPE '\\'");
            sql.push(" OR LOWER(email) LIKE ").bind(SqlArg::Text(Some(pattern))).push(" ESCAPE '\\'");
            sql.push(" OR ref = ").bind(SqlArg::Text(Some(search.to_uppercase()))).push(")");
        }
    }
}

/// One page of the grid.
pub async fn grid(conn: &mut impl Exec, filter: &GridFilter) -> Result<Vec<Lead>> {
    let mut sql = Sql::new(format!("{} WHERE 1 = 1", crate::leads::select()));
    push_grid_filter(&mut sql, filter);
    let column = filter.sort.column();
    let (before, order) = if filter.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some((key, id)) = filter.after {
        if filter.sort == GridSort::Id {
            sql.push(&format!(" AND id {before} ")).bind(SqlArg::Int(Some(id)));
        } else {
            sql.push(&format!(" AND ({column} {before} ")).bind(SqlArg::Int(Some(key)));
            sql.push(&format!(" OR ({column} = ")).bind(SqlArg::Int(Some(key)));
            sql.push(&format!(" AND id {before} ")).bind(SqlArg::Int(Some(id))).push("))");
        }
    }
    if filter.sort == GridSort::Id {
        sql.push(&format!(" ORDER BY id {order}"));
    } else {
        sql.push(&format!(" ORDER BY {column} {order}, id {order}"));
    }
    sql.push(" LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    conn.all_rows(&sql).await?.iter().map(crate::leads::read).collect()
}

/// How many leads match the grid's filter (all pages).
pub async fn grid_count(conn: &mut impl Exec, filter: &GridFilter) -> Result<i64> {
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM leads WHERE 1 = 1");
    push_grid_filter(&mut sql, filter);
    conn.one_row(&sql).await?.int("n")
}

/// Leads per queue status within a queue (None: no status), for the grid's status filter.
pub async fn status_counts(
    conn: &mut impl Exec,
    scope: &LeadScope,
    queue_id: Option<i64>,
) -> Result<Vec<(Option<i64>, i64)>> {
    let mut sql = Sql::new("SELECT queue_status_id, COUNT(*) AS n FROM leads WHERE 1 = 1");
    crate::leads::push_scope(&mut sql, scope);
    match queue_id {
        Some(queue) => sql.push(" AND queue_id = ").bind(SqlArg::Int(Some(queue))),
        None => sql.push(" AND queue_id IS NOT NULL"),
    };
    sql.push(" GROUP BY queue_status_id ORDER BY queue_status_id");
    conn.all_rows(&sql).await?.iter().map(|row| Ok((row.opt_int("queue_status_id")?, row.int("n")?))).collect()
}

/// Leads per queue, for the grid's queue picker.
pub async fn queue_counts(conn: &mut impl Exec, scope: &LeadScope) -> Result<Vec<(i64, i64)>> {
    let mut sql = Sql::new("SELECT queue_id, COUNT(*) AS n FROM leads WHERE queue_id IS NOT NULL");
    crate::leads::push_scope(&mut sql, scope);
    sql.push(" GROUP BY queue_id ORDER BY queue_id");
    conn.all_rows(&sql).await?.iter().map(|row| Ok((row.int("queue_id")?, row.int("n")?))).collect()
}

/// An archive or dearchive run started from the console.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveRunRow {
    pub at: Timestamp,
    pub key_id: Option<i64>,
    pub direction: String,
    pub lead_ids: i64,
    /// Selected, inserted, updated, deleted.
    pub counts: [i64; 4],
    pub outcome: String,
}

pub async fn insert_archive_run(conn: &mut impl Exec, run: &ArchiveRunRow) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO console_archive_runs (at, key_id, direction, lead_ids, select_count, insert_count, update_count, \
         delete_count, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        crate::args![
            micros(run.at),
            run.key_id,
            run.direction.as_str(),
            run.lead_ids,
            run.counts[0],
            run.counts[1],
            run.counts[2],
            run.counts[3],
            run.outcome.as_str(),
        ],
    );
    conn.one_row(&sql).await?.int("id")
}

/// The last `limit` runs, newest first.
pub async fn archive_runs(conn: &mut impl Exec, limit: i64) -> Result<Vec<ArchiveRunRow>> {
    let sql = Sql::fixed(
        "SELECT at, key_id, direction, lead_ids, select_count, insert_count, update_count, delete_count, outcome \
         FROM console_archive_runs ORDER BY id DESC LIMIT $1",
        crate::args![limit],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|r| {
            Ok(ArchiveRunRow {
                at: from_micros("at", r.int("at")?)?,
                key_id: r.opt_int("key_id")?,
                direction: r.text("direction")?,
                lead_ids: r.int("lead_ids")?,
                counts: [
                    r.int("select_count")?,
                    r.int("insert_count")?,
                    r.int("update_count")?,
                    r.int("delete_count")?,
                ],
                outcome: r.text("outcome")?,
            })
        })
        .collect()
}

/// Microseconds in a day: the dashboard's figures are per UTC day, `at / DAY` in SQL.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// Leads that came in on one UTC day through one edge, and how many of them are sold now.
/// `api` and `action` are those of the lead's first history row: `create` with the API that
/// made it, `import` for a list import, `copy` for the dialer's copy of a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrivals {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub api: String,
    pub action: String,
    pub leads: i64,
    pub sold: i64,
}

/// Leads in per day and edge from `since` (inclusive) to `until` (exclusive), with how many of
/// them have at least one sale. Reads `lead_history_arrivals` (one entry per lead) over the
/// period and probes `sales_lead_contract` once per lead found.
pub async fn arrivals(conn: &mut impl Exec, since: Timestamp, until: Timestamp) -> Result<Vec<Arrivals>> {
    // The action list repeats the partial index's own condition, word for word.
    let sql = Sql::fixed(
        "SELECT h.at / 86400000000 AS day, h.api, h.action, COUNT(*) AS leads, \
         CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM sales s WHERE s.lead_id = h.lead_id) THEN 1 ELSE 0 END) AS BIGINT) AS sold \
         FROM lead_history h WHERE h.action IN ('create', 'import', 'copy') AND h.at >= $1 AND h.at < $2 \
         GROUP BY h.at / 86400000000, h.api, h.action ORDER BY day, h.api, h.action",
        crate::args![micros(since), micros(until)],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|r| {
            Ok(Arrivals {
                day: r.int("day")?,
                api: r.text("api")?,
                action: r.text("action")?,
                leads: r.int("leads")?,
                sold: r.opt_int("sold")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Money on one UTC day, in minor units: sales made, buyer credits and call-center fees booked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyDay {
    pub day: i64,
    pub sales: i64,
    pub revenue_minor: i64,
    pub credits_minor: i64,
    pub fees_minor: i64,
}

/// Money per day over the period, from `sales_sold_at` and `ledger_at` (each read as a range
/// that carries the summed columns). Days without any are left out.
pub async fn money(conn: &mut impl Exec, since: Timestamp, until: Timestamp) -> Result<Vec<MoneyDay>> {
    let mut days: std::collections::BTreeMap<i64, MoneyDay> = std::collections::BTreeMap::new();
    let sales = Sql::fixed(
        "SELECT sold_at / 86400000000 AS day, COUNT(*) AS sales, CAST(SUM(price_minor) AS BIGINT) AS revenue \
         FROM sales WHERE sold_at >= $1 AND sold_at < $2 GROUP BY sold_at / 86400000000",
        crate::args![micros(since), micros(until)],
    );
    for r in &conn.all_rows(&sales).await? {
        let day = r.int("day")?;
        let entry = days.entry(day).or_insert_with(|| MoneyDay { day, ..MoneyDay::default() });
        entry.sales = r.int("sales")?;
        entry.revenue_minor = r.opt_int("revenue")?.unwrap_or(0);
    }
    let ledger = Sql::fixed(
        "SELECT at / 86400000000 AS day, kind, CAST(SUM(amount_minor) AS BIGINT) AS amount \
         FROM ledger WHERE at >= $1 AND at < $2 GROUP BY at / 86400000000, kind",
        crate::args![micros(since), micros(until)],
    );
    for r in &conn.all_rows(&ledger).await? {
        let day = r.int("day")?;
        let amount = r.opt_int("amount")?.unwrap_or(0);
        let entry = days.entry(day).or_insert_with(|| MoneyDay { day, ..MoneyDay::default() });
        match r.text("kind")?.as_str() {
            "buyer_credit" => entry.credits_minor += amount,
            "call_center_fee" => entry.fees_minor += amount,
            _ => {}
        }
    }
    Ok(days.into_values().collect())
}

/// A buyer's sales in the period and how many of them were returned (asked for) and how many of
/// those returns were approved, for credit or a replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerReturns {
    pub buyer_id: i64,
    pub buyer_name: String,
    pub sold: i64,
    pub returned: i64,
    pub approved: i64,
}

/// Return figures per buyer for the sales made in the period: the sales by `sales_sold_at`,
/// each sale's return (if any) by the unique `returns_sale`. Buyers without sales in the period
/// are left out.
pub async fn buyer_returns(conn: &mut impl Exec, since: Timestamp, until: Timestamp) -> Result<Vec<BuyerReturns>> {
    let sql = Sql::fixed(
        "SELECT b.id, b.name, COUNT(*) AS sold, COUNT(r.id) AS returned, \
         CAST(SUM(CASE WHEN r.status IN ('approved_credit', 'approved_replace') THEN 1 ELSE 0 END) AS BIGINT) AS approved \
         FROM sales s JOIN buyer_contracts bc ON bc.id = s.buyer_contract_id JOIN buyers b ON b.id = bc.buyer_id \
         LEFT JOIN returns r ON r.sale_id = s.id WHERE s.sold_at >= $1 AND s.sold_at < $2 \
         GROUP BY b.id, b.name ORDER BY b.name, b.id",
        crate::args![micros(since), micros(until)],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|r| {
            Ok(BuyerReturns {
                buyer_id: r.int("id")?,
                buyer_name: r.text("name")?,
                sold: r.int("sold")?,
                returned: r.int("returned")?,
                approved: r.opt_int("approved")?.unwrap_or(0),
            })
        })
        .collect()
}

/// List imports started on one UTC day: files, leads loaded, rows rejected (DNC, duplicate or
/// invalid), whatever the files' status now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportDay {
    pub day: i64,
    pub files: i64,
    pub loaded: i64,
    pub rejected: i64,
}

pub async fn imports_by_day(conn: &mut impl Exec, since: Timestamp, until: Timestamp) -> Result<Vec<ImportDay>> {
    let sql = Sql::fixed(
        "SELECT created_at / 86400000000 AS day, COUNT(*) AS files, CAST(SUM(loaded) AS BIGINT) AS loaded, \
         CAST(SUM(rejected_dnc + rejected_duplicate + rejected_invalid) AS BIGINT) AS rejected \
         FROM imports WHERE created_at >= $1 AND created_at < $2 GROUP BY created_at / 86400000000 ORDER BY day",
        crate::args![micros(since), micros(until)],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|r| {
            Ok(ImportDay {
                day: r.int("day")?,
                files: r.int("files")?,
                loaded: r.opt_int("loaded")?.unwrap_or(0),
                rejected: r.opt_int("rejected")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Console archive runs on one UTC day: archive runs done, dearchive runs done, runs refused or
/// failed, and the leads the done runs inserted on their target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveDay {
    pub day: i64,
    pub archived: i64,
    pub dearchived: i64,
    pub not_run: i64,
    pub leads_moved: i64,
}

pub async fn archive_runs_by_day(conn: &mut impl Exec, since: Timestamp, until: Timestamp) -> Result<Vec<ArchiveDay>> {
    let sql = Sql::fixed(
        "SELECT at / 86400000000 AS day, \
         CAST(SUM(CASE WHEN outcome = 'done' AND direction = 'archive' THEN 1 ELSE 0 END) AS BIGINT) AS archived, \
         CAST(SUM(CASE WHEN outcome = 'done' AND direction = 'dearchive' THEN 1 ELSE 0 END) AS BIGINT) AS dearchived, \
         CAST(SUM(CASE WHEN outcome = 'done' THEN 0 ELSE 1 END) AS BIGINT) AS not_run, \
         CAST(SUM(CASE WHEN outcome = 'done' THEN insert_count ELSE 0 END) AS BIGINT) AS moved \
         FROM console_archive_runs WHERE at >= $1 AND at < $2 GROUP BY at / 86400000000 ORDER BY day",
        crate::args![micros(since), micros(until)],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|r| {
            let count = |column: &str| -> Result<i64> { Ok(r.opt_int(column)?.unwrap_or(0)) };
            Ok(ArchiveDay {
                day: r.int("day")?,
                archived: count("archived")?,
                dearchived: count("dearchived")?,
                not_run: count("not_run")?,
                leads_moved: count("moved")?,
            })
        })
        .collect()
}
