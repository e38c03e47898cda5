//! Leads, their phones and their history.

use jiff::Timestamp;
use leadline_core::access::LeadScope;
use leadline_core::history::{Actor, Changes, HistoryEntry};
use leadline_core::lead::Lead;
use leadline_core::phone::Phone;
use sqlx::Row;

use crate::{from_micros, micros, Backend, Cells, Conn, Exec, Result, Sql, SqlArg, StoreError};

/// Every lead column but `id`, in the order [`args`] binds them.
pub(crate) const COLUMNS: &[&str] = &[
    "ref",
    "external_id",
    "vertical_id",
    "campaign_id",
    "allocation_id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phones",
    "address1",
    "city",
    "state",
    "postal_code",
    "country",
    "fields",
    "disposition",
    "callback_at",
    "priority",
    "contact_hours_id",
    "dial_count",
    "last_dialed_at",
    "lock_holder",
    "lock_until",
    "closed",
    "queue_id",
    "queue_status_id",
    "thrown_out",
    "quality_id",
    "industry_id",
    "source_id",
    "company_id",
    "contact_id",
    "company_lead_contact_id",
    "owner_user_id",
    "type_id",
    "subtype_id",
    "stage_id",
    "stage_reason_id",
    "channel_id",
    "description",
    "version",
    "created_at",
    "updated_at",
];

/// One of a lead's column values, borrowed from the lead: comparing two leads column by column
/// (which columns an update writes) and binding a new lead on the direct writer then copy no
/// text, and the JSON columns are written out only when bound.
#[derive(Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Int(Option<i64>),
    Bool(bool),
    Text(Option<&'a str>),
    /// Stored as a JSON array of the numbers.
    Phones(&'a [Phone]),
    /// Stored as a JSON object.
    Fields(&'a serde_json::Map<String, serde_json::Value>),
}

impl Cell<'_> {
    fn time(value: Option<Timestamp>) -> Cell<'static> {
        Cell::Int(value.map(micros))
    }

    /// The value as the store's owned parameter.
    pub(crate) fn arg(&self) -> SqlArg {
        match self {
            Cell::Int(v) => SqlArg::Int(*v),
            Cell::Bool(v) => SqlArg::Bool(Some(*v)),
            Cell::Text(v) => SqlArg::Text(v.map(str::to_string)),
            Cell::Phones(phones) => SqlArg::Text(Some(phones_json(phones))),
            Cell::Fields(fields) => SqlArg::Text(Some(fields_json(fields))),
        }
    }
}

fn phones_json(phones: &[Phone]) -> String {
    serde_json::to_string(&phones.iter().map(Phone::as_str).collect::<Vec<_>>()).expect("strings serialize")
}

fn fields_json(fields: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(fields).expect("JSON values serialize")
}

/// Binds a column value on the direct writer's connection.
impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Cell::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Cell::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Cell::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Cell::Int(None) | Cell::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Cell::Phones(phones) => ToSqlOutput::Owned(Value::Text(phones_json(phones))),
            Cell::Fields(fields) => ToSqlOutput::Owned(Value::Text(fields_json(fields))),
        })
    }
}

/// A lead's values in [`COLUMNS`]' order.
pub(crate) fn cells(lead: &Lead) -> [Cell<'_>; COLUMNS.len()] {
    fn text(value: &Option<String>) -> Cell<'_> {
        Cell::Text(value.as_deref())
    }
    [
        Cell::Text(Some(&lead.lead_ref)),
        text(&lead.external_id),
        Cell::Int(lead.vertical_id),
        Cell::Int(lead.campaign_id),
        Cell::Int(lead.allocation_id),
        text(&lead.name),
        text(&lead.first_name),
        text(&lead.last_name),
        text(&lead.email),
        Cell::Phones(&lead.phones),
        text(&lead.address1),
        text(&lead.city),
        text(&lead.state),
        text(&lead.postal_code),
        text(&lead.country),
        Cell::Fields(&lead.fields),
        text(&lead.disposition),
        Cell::time(lead.callback_at),
        Cell::Int(Some(lead.priority)),
        Cell::Int(lead.contact_hours_id),
        Cell::Int(Some(lead.dial_count)),
        Cell::time(lead.last_dialed_at),
        text(&lead.lock_holder),
        Cell::time(lead.lock_until),
        Cell::Bool(lead.closed),
        Cell::Int(lead.queue_id),
        Cell::Int(lead.queue_status_id),
        Cell::Bool(lead.thrown_out),
        Cell::Int(lead.quality_id),
        Cell::Int(lead.industry_id),
        Cell::Int(lead.source_id),
        Cell::Int(lead.company_id),
        Cell::Int(lead.contact_id),
        Cell::Int(lead.company_lead_contact_id),
        Cell::Int(lead.owner_user_id),
        Cell::Int(lead.type_id),
        Cell::Int(lead.subtype_id),
        Cell::Int(lead.stage_id),
        Cell::Int(lead.stage_reason_id),
        Cell::Int(lead.channel_id),
        text(&lead.description),
        Cell::Int(Some(lead.version)),
        Cell::time(Some(lead.created_at)),
        Cell::time(Some(lead.updated_at)),
    ]
}

/// A lead's values in [`COLUMNS`]' order, as owned parameters.
pub(crate) fn args(lead: &Lead) -> Vec<SqlArg> {
    cells(lead).iter().map(Cell::arg).collect()
}

/// `SELECT` of a lead's columns from `leads`. Written once: the dialer's updates read a lead
/// with it on every request.
pub(crate) fn select() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| format!("{}leads", select_from()))
}

/// A lead's columns, up to the table expression a query reads them from.
fn select_from() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| format!("SELECT id, {} FROM ", COLUMNS.join(", ")))
}

pub(crate) fn read(row: &impl Cells) -> Result<Lead> {
    let opt_time = |column: &str| -> Result<Option<Timestamp>> {
        row.opt_int(column)?.map(|v| from_micros(column, v)).transpose()
    };
    let corrupt = |column: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("leads.{column}: {e}"));
    let id = row.int("id")?;
    let lead_ref = row.text("ref")?;
    let external_id = row.opt_text("external_id")?;
    let vertical_id = row.opt_int("vertical_id")?;
    let campaign_id = row.opt_int("campaign_id")?;
    let allocation_id = row.opt_int("allocation_id")?;
    let name = row.opt_text("name")?;
    let first_name = row.opt_text("first_name")?;
    let last_name = row.opt_text("last_name")?;
    let email = row.opt_text("email")?;
    let phones: Vec<String> = serde_json::from_str(&row.text("phones")?).map_err(|e| corrupt("phones", &e))?;
    let phones =
        phones.iter().map(|p| Phone::parse(p).map_err(|e| corrupt("phones", &e))).collect::<Result<Vec<_>>>()?;
    let address1 = row.opt_text("address1")?;
    let city = row.opt_text("city")?;
    let state = row.opt_text("state")?;
    let postal_code = row.opt_text("postal_code")?;
    let country = row.opt_text("country")?;
    let fields = match serde_json::from_str(&row.text("fields")?).map_err(|e| corrupt("fields", &e))? {
        serde_json::Value::Object(map) => map,
        _ => return Err(corrupt("fields", &"not an object")),
    };
    Ok(Lead {
        id,
        lead_ref,
        external_id,
        vertical_id,
        campaign_id,
        allocation_id,
        name,
        first_name,
        last_name,
        email,
        phones,
        address1,
        city,
        state,
        postal_code,
        country,
        fields,
        disposition: row.opt_text("disposition")?,
        callback_at: opt_time("callback_at")?,
        priority: row.int("priority")?,
        contact_hours_id: row.opt_int("contact_hours_id")?,
        dial_count: row.int("dial_count")?,
        last_dialed_at: opt_time("last_dialed_at")?,
        lock_holder: row.opt_text("lock_holder")?,
        lock_until: opt_time("lock_until")?,
        closed: row.opt_flag("closed")?.unwrap_or(false),
        queue_id: row.opt_int("queue_id")?,
        queue_status_id: row.opt_int("queue_status_id")?,
        thrown_out: row.opt_flag("thrown_out")?.unwrap_or(false),
        quality_id: row.opt_int("quality_id")?,
        industry_id: row.opt_int("industry_id")?,
        source_id: row.opt_int("source_id")?,
        company_id: row.opt_int("company_id")?,
        contact_id: row.opt_int("contact_id")?,
        company_lead_contact_id: row.opt_int("company_lead_contact_id")?,
        owner_user_id: row.opt_int("owner_user_id")?,
        type_id: row.opt_int("type_id")?,
        subtype_id: row.opt_int("subtype_id")?,
        stage_id: row.opt_int("stage_id")?,
        stage_reason_id: row.opt_int("stage_reason_id")?,
        channel_id: row.opt_int("channel_id")?,
        description: row.opt_text("description")?,
        version: row.int("version")?,
        created_at: from_micros("created_at", row.int("created_at")?)?,
        updated_at: from_micros("updated_at", row.int("updated_at")?)?,
    })
}

/// The id past every live and archived lead: what SQLite assigns new leads (it would otherwise
/// take the highest live id plus one, which may be an archived lead's).
const NEXT_ID: &str = "SELECT MAX(m) + 1 AS next_id FROM (SELECT COALESCE(MAX(id), 0) AS m FROM leads \
                       UNION ALL SELECT COALESCE(MAX(id), 0) FROM leads_archive) AS ids";

/// [`NEXT_ID`], read.
pub(crate) async fn next_id(conn: &mut impl Exec) -> Result<i64> {
    conn.optional_row(&Sql::new(NEXT_ID))
        .await?
        .ok_or_else(|| StoreError::Corrupt("no next lead id".into()))?
        .int("next_id")
}

/// Inserts a lead (id 0 means "assign one") with its phones, and returns its id, or None when
/// its ref is taken (the caller draws another). The ref is claimed by the insert itself, not
/// checked before it, so two writers that drew the same ref at once (refs drawn in one second
/// share their first characters) cannot both pass a check and have one fail on the index.
///
/// An id held by an archived lead is never used again: a client-chosen one is refused as taken,
/// and an assigned one lies above every id in `leads` and `leads_archive` (SQLite would otherwise
/// reuse the highest id once its lead moved to the archive; PostgreSQL's sequence only moves on).
pub async fn insert(conn: &mut impl Exec, backend: Backend, lead: &Lead) -> Result<Option<i64>> {
    let explicit = lead.id > 0;
    if explicit && crate::archive::is_archived(conn, lead.id).await? {
        return Err(StoreError::Unique {
            constraint: crate::Constraint::PrimaryKey,
            detail: format!("lead id {} is held by an archived lead", lead.id),
        });
    }
    let assign_past_archive = !explicit && backend == Backend::Sqlite;
    let mut sql = Sql::new("INSERT INTO leads (");
    if explicit || assign_past_archive {
        sql.push("id, ");
    }
    sql.push(&COLUMNS.join(", ")).push(") VALUES (");
    if explicit {
        sql.bind(SqlArg::Int(Some(lead.id))).push(", ");
    } else if assign_past_archive {
        sql.push("(").push(NEXT_ID).push("), ");
    }
    for (i, arg) in args(lead).into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(arg);
    }
    sql.push(") ON CONFLICT (ref) DO NOTHING RETURNING id");
    // The id is read at once: a row of the direct writer shares its column names through an Rc,
    // so holding it across the awaits below would make this future not Send.
    let id = match conn.optional_row(&sql).await? {
        Some(row) => row.int("id")?,
        None => return Ok(None),
    };
    if explicit {
        crate::archive::after_explicit_lead_id(conn, backend).await?;
    }
    replace_phones(conn, id, &lead.phones).await?;
    Ok(Some(id))
}

/// A history row to append to a lead's history.
#[derive(Debug, Clone, Copy)]
pub struct NewHistory<'a> {
    pub at: Timestamp,
    pub actor: Actor,
    pub action: &'a str,
    pub changes: &'a Changes,
}

impl NewHistory<'_> {
    /// The row's values after `lead_id` and `prev_id`, in [`HISTORY_COLUMNS`]' order.
    fn args(&self) -> [SqlArg; 5] {
        [
            SqlArg::Int(Some(micros(self.at))),
            SqlArg::Int(self.actor.key_id),
            SqlArg::Text(Some(self.actor.api.as_str().into())),
            SqlArg::Text(Some(self.action.into())),
            SqlArg::Text(Some(serde_json::to_string(self.changes).expect("changes serialize"))),
        ]
    }
}

/// The lead's (live or archived) column naming its newest history row.
pub(crate) const HISTORY_HEAD: &str = "history_head";

/// A history row's columns. `prev_id` chains a lead's rows newest to oldest, and the lead's
/// `history_head` names the newest (the ARCHITECTURE's history chain).
const HISTORY_COLUMNS: &str = "lead_id, prev_id, at, key_id, api, action, changes";

/// Writes a changed lead if its stored version is still `before`'s; false if someone else
/// changed it first (or it is gone), and then nothing is written. Only the columns that differ
/// are written, so indexes on the others are left alone; phones are rewritten only when
/// `phones_changed`.
///
/// With `history`, the lead's history row is written too, first: its id goes into the lead's
/// own `UPDATE` as the new `history_head`, so appending to the chain costs no second write of
/// the lead.
pub async fn update(
    conn: &mut impl Exec,
    before: &Lead,
    after: &Lead,
    phones_changed: bool,
    history: Option<&NewHistory<'_>>,
) -> Result<bool> {
    let id = SqlArg::Int(Some(after.id));
    let version = SqlArg::Int(Some(before.version));
    let mut head = None;
    if let Some(history) = history {
        let mut insert = Sql::new(format!("INSERT INTO lead_history ({HISTORY_COLUMNS}) SELECT id, history_head"));
        for arg in history.args() {
            insert.push(", ").bind(arg);
        }
        insert.push(" FROM leads WHERE id = ").bind(id.clone());
        insert.push(" AND version = ").bind(version.clone());
        // PostgreSQL: the lead is locked as its head is read, so a writer that appends history
        // without bumping the version (a sale, a queue call) cannot slip in between and be cut
        // out of the chain by this update's new head. The use cases read the lead FOR UPDATE
        // already (then this costs nothing); this keeps the chain whole for a caller that did
        // not. SQLite's one writer needs no lock.
        if conn.backend() == Backend::Postgres {
            insert.push(" FOR UPDATE");
        }
        insert.push(" RETURNING id");
        let inserted = conn.optional_row(&insert).await?.map(|row| row.int("id")).transpose()?;
        match inserted {
            Some(id) => head = Some(id),
            None => return Ok(false),
        }
    }
    let mut sql = Sql::new("UPDATE leads SET ");
    let mut first = true;
    for ((column, old), new) in COLUMNS.iter().zip(cells(before)).zip(cells(after)) {
        if old != new {
            if !first {
                sql.push(", ");
            }
            first = false;
            sql.push(column).push(" = ").bind(new.arg());
        }
    }
    if let Some(head) = head {
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.push("history_head = ").bind(SqlArg::Int(Some(head)));
    }
    if first {
        // Nothing differs: the row still has to be there at that version.
        sql.push("version = version");
    }
    sql.push(" WHERE id = ").bind(id);
    sql.push(" AND version = ").bind(version);
    if conn.run(&sql).await? != 1 {
        // The lead is held since the history row's insert, so this is not expected; should it
        // happen, the history row goes with the refused change rather than outlive it.
        if let Some(head) = head {
            conn.run(&Sql::fixed("DELETE FROM lead_history WHERE id = $1", [SqlArg::Int(Some(head))])).await?;
        }
        return Ok(false);
    }
    if phones_changed {
        replace_phones(conn, after.id, &after.phones).await?;
    }
    Ok(true)
}

pub(crate) async fn replace_phones(conn: &mut impl Exec, lead_id: i64, phones: &[Phone]) -> Result<()> {
    conn.run(&Sql::fixed("DELETE FROM lead_phones WHERE lead_id = $1", [SqlArg::Int(Some(lead_id))])).await?;
    for (position, phone) in phones.iter().enumerate() {
        let row =
            [SqlArg::Int(Some(lead_id)), SqlArg::Int(Some(position as i64)), SqlArg::Text(Some(phone.as_str().into()))];
        conn.run(&Sql::fixed("INSERT INTO lead_phones (lead_id, position, phone) VALUES ($1, $2, $3)", row)).await?;
    }
    Ok(())
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Lead>> {
    let row = sqlx::query(&format!("{} WHERE id = $1", select())).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(read).transpose()
}

/// Reads a lead inside a write transaction and locks its row until the transaction ends, so
/// concurrent changes of one lead queue up behind each other instead of all but one failing their
/// version check. PostgreSQL takes a row lock (`FOR UPDATE`); SQLite needs none, as its one writer
/// already runs write transactions one at a time.
pub async fn get_for_update(conn: &mut Conn, backend: Backend, id: i64) -> Result<Option<Lead>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!("{} WHERE id = $1{lock}", select())).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(read).transpose()
}

pub async fn get_by_ref(conn: &mut Conn, lead_ref: &str) -> Result<Option<Lead>> {
    let row = sqlx::query(&format!("{} WHERE ref = $1", select())).bind(lead_ref).fetch_optional(&mut *conn).await?;
    row.as_ref().map(read).transpose()
}

/// Whether a buyer bought this lead (through any of its contracts).
pub async fn bought_by(conn: &mut Conn, lead_id: i64, buyer_id: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id \
         WHERE s.lead_id = $1 AND c.buyer_id = $2",
    )
    .bind(lead_id)
    .bind(buyer_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

#[derive(Debug, Clone)]
pub struct LeadFilter {
    pub scope: LeadScope,
    pub campaign_id: Option<i64>,
    pub allocation_id: Option<i64>,
    pub vertical_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub updated_since: Option<Timestamp>,
    pub after: Option<i64>,
    pub limit: i64,
}

impl Default for LeadFilter {
    fn default() -> Self {
        LeadFilter {
            scope: LeadScope::All,
            campaign_id: None,
            allocation_id: None,
            vertical_id: None,
            queue_id: None,
            phone: None,
            external_id: None,
            updated_since: None,
            after: None,
            limit: 100,
        }
    }
}

/// Narrows a lead query to what a key's scope may see.
pub(crate) fn push_scope(sql: &mut Sql, scope: &LeadScope) {
    match scope {
        LeadScope::All => {}
        LeadScope::Campaigns(ids) => {
            sql.push(" AND campaign_id IN (");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(SqlArg::Int(Some(*id)));
            }
            sql.push(")");
        }
        LeadScope::BoughtBy(buyer) => {
            sql.push(
                " AND id IN (SELECT s.lead_id FROM sales s JOIN buyer_contracts c \
                 ON c.id = s.buyer_contract_id WHERE c.buyer_id = ",
            )
            .bind(SqlArg::Int(Some(*buyer)))
            .push(")");
        }
    }
}

/// Most history rows since a time for which "changed since" looks only at the leads those rows
/// name. Past it the changes are many, and the leads are read in id order, each one's
/// `updated_at` compared: a page then reads on until it has its leads, and an export's pages
/// together read the table once.
const FEW_CHANGES: i64 = 20_000;

pub async fn list(conn: &mut Conn, filter: &LeadFilter) -> Result<Vec<Lead>> {
    list_with(conn, filter, FEW_CHANGES).await
}

/// Whether fewer than `few` history rows are stamped `since` or later.
async fn changed_since_fewer_than(conn: &mut Conn, since: Timestamp, few: i64) -> Result<bool> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM lead_history WHERE at >= ");
    sql.bind(SqlArg::Int(Some(micros(since)))).push(" LIMIT ").bind(SqlArg::Int(Some(few))).push(") AS recent");
    let counted: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(counted < few)
}

pub(crate) async fn list_with(conn: &mut Conn, filter: &LeadFilter, few_changes: i64) -> Result<Vec<Lead>> {
    let after = SqlArg::Int(Some(filter.after.unwrap_or(0)));
    let few_since = match filter.updated_since {
        Some(since) if changed_since_fewer_than(conn, since, few_changes).await? => Some(since),
        _ => None,
    };
    let mut sql = Sql::new(select_from());
    match few_since {
        // Every change of a lead appends a history row stamped with the lead's new
        // `updated_at`, so the leads those rows name include every lead changed since. They
        // are looked up one by one (SQLite keeps a CROSS JOIN's order), whatever else the
        // filter names. PostgreSQL plans it with the time: a plan kept for any time could not
        // know how few history rows follow it.
        Some(since) => {
            sql = sql.planned_per_run();
            sql.push("(SELECT DISTINCT lead_id FROM lead_history WHERE at >= ")
                .bind(SqlArg::Int(Some(micros(since))))
                .push(" AND lead_id > ")
                .bind(after)
                .push(") AS changed CROSS JOIN leads WHERE id = lead_id");
        }
        None => {
            sql.push("leads WHERE id > ").bind(after);
        }
    }
    push_scope(&mut sql, &filter.scope);
    for (column, value) in [
        ("campaign_id", filter.campaign_id),
        ("allocation_id", filter.allocation_id),
        ("vertical_id", filter.vertical_id),
        ("queue_id", filter.queue_id),
    ] {
        if let Some(value) = value {
            sql.push(" AND ").push(column).push(" = ").bind(SqlArg::Int(Some(value)));
        }
    }
    if let Some(phone) = &filter.phone {
        sql.push(" AND id IN (SELECT lead_id FROM lead_phones WHERE phone = ")
            .bind(SqlArg::Text(Some(phone.clone())))
            .push(")");
    }
    if let Some(external_id) = &filter.external_id {
        sql.push(" AND external_id = ").bind(SqlArg::Text(Some(external_id.clone())));
    }
    if let Some(since) = filter.updated_since {
        sql.push(" AND updated_at >= ").bind(SqlArg::Int(Some(micros(since))));
    }
    sql.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(read).collect()
}

/// Appends one row to a live lead's history, for a change that wrote the lead without one
/// (or did not write it). The lead's row is locked first on PostgreSQL, so two transactions
/// cannot both chain onto the same newest row.
pub async fn record_history(
    conn: &mut impl Exec,
    lead_id: i64,
    at: Timestamp,
    actor: Actor,
    action: &str,
    changes: &Changes,
) -> Result<()> {
    let lock = match conn.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let id = SqlArg::Int(Some(lead_id));
    // Rows are read into plain values at once (a direct writer's row is not Send).
    let prev = conn
        .optional_row(&Sql::fixed(&format!("SELECT history_head FROM leads WHERE id = $1{lock}"), [id.clone()]))
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("history for lead {lead_id}, which is not there")))?
        .opt_int("history_head")?;
    let entry = NewHistory { at, actor, action, changes };
    let mut insert = Sql::new(format!("INSERT INTO lead_history ({HISTORY_COLUMNS}) VALUES ("));
    insert.bind(id.clone()).push(", ").bind(SqlArg::Int(prev));
    for arg in entry.args() {
        insert.push(", ").bind(arg);
    }
    insert.push(") RETURNING id");
    let head =
        conn.optional_row(&insert).await?.ok_or_else(|| StoreError::Corrupt("no history id".into()))?.int("id")?;
    let head = SqlArg::Int(Some(head));
    conn.run(&Sql::fixed("UPDATE leads SET history_head = $1 WHERE id = $2", [head, id])).await?;
    Ok(())
}

/// One page of a lead's history (live or archived), oldest first, after the row `after`. The
/// chain is walked from the lead's newest row back to `after`.
pub async fn history(conn: &mut Conn, lead_id: i64, after: Option<i64>, limit: i64) -> Result<Vec<HistoryEntry>> {
    let rows = sqlx::query(
        "WITH RECURSIVE chain (id) AS ( \
             SELECT COALESCE((SELECT history_head FROM leads WHERE id = $1), \
                             (SELECT history_head FROM leads_archive WHERE id = $1)) \
             UNION ALL \
             SELECT h.prev_id FROM lead_history h JOIN chain c ON h.id = c.id WHERE h.prev_id > $2 \
         ) \
         SELECT h.id, h.lead_id, h.at, h.key_id, h.api, h.action, h.changes \
         FROM chain c JOIN lead_history h ON h.id = c.id WHERE h.id > $2 ORDER BY h.id LIMIT $3",
    )
    .bind(lead_id)
    .bind(after.unwrap_or(0))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let changes: String = row.try_get("changes")?;
            Ok(HistoryEntry {
                id: row.try_get("id")?,
                lead_id: row.try_get("lead_id")?,
                at: from_micros("at", row.try_get("at")?)?,
                key_id: row.try_get("key_id")?,
                api: row.try_get("api")?,
                action: row.try_get("action")?,
                changes: serde_json::from_str(&changes)
                    .map_err(|e| StoreError::Corrupt(format!("lead_history.changes: {e}")))?,
            })
        })
        .collect()
}

/// Lead writes on SQLite's direct writer ([`crate::writer`]). Small statements stay in the
/// connection's statement cache; [`NewLeads`] prepares its multi-row inserts once per batch,
/// as statements that read bound texts in place ([`crate::borrowed`]).
pub mod direct {
    use std::collections::BTreeSet;
    use std::sync::LazyLock;
    use std::sync::OnceLock;

    use jiff::Timestamp;
    use leadline_core::history::Actor;
    use leadline_core::lead::Lead;
    use rusqlite::Connection;

    use super::{cells, fields_json, phones_json, Cell, COLUMNS, HISTORY_HEAD};
    use crate::borrowed::{Borrowed, Value};
    use crate::writer::Bulk;
    use crate::{micros, Result, StoreError};

    /// Rows per statement when new leads, their history rows and phones are written many to a
    /// statement: the statement's fixed costs (opening its tables' and indexes' cursors,
    /// stepping, halting, resetting) then come once per this many rows instead of once per row.
    const ROWS_PER_STATEMENT: usize = 32;
    const NEXT_HISTORY_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM lead_history";

    /// A multi-row insert: its statement for [`ROWS_PER_STATEMENT`] rows, and for one row
    /// (what is left at the end), so only two shapes per table are ever prepared.
    struct Shape {
        head: String,
        width: usize,
        tail: &'static str,
        full: OnceLock<String>,
        one: OnceLock<String>,
    }

    /// A [`Shape`]'s two statements, prepared on first use.
    #[derive(Default)]
    struct Prepared<'c> {
        full: Option<Borrowed<'c>>,
        one: Option<Borrowed<'c>>,
    }

    impl Shape {
        fn new(head: String, width: usize, tail: &'static str) -> Shape {
            Shape { head, width, tail, full: OnceLock::new(), one: OnceLock::new() }
        }

        /// `head` followed by `rows` groups of `width` numbered parameters, then `tail`.
        fn text(&self, rows: usize) -> &str {
            let (cell, rows) = if rows == ROWS_PER_STATEMENT { (&self.full, rows) } else { (&self.one, 1) };
            cell.get_or_init(|| {
                let groups: Vec<String> = (0..rows)
                    .map(|row| {
                        let marks: Vec<String> =
                            (1..=self.width).map(|n| format!("?{}", row * self.width + n)).collect();
                        format!("({})", marks.join(", "))
                    })
                    .collect();
                format!("{}{}{}", self.head, groups.join(", "), self.tail)
            })
        }

        /// Inserts the rows whose values lie in `values`, `width` to a row: a full statement
        /// at a time and the rest one by one. Returns how many rows went in.
        fn write<'c>(&self, conn: &'c Connection, prepared: &mut Prepared<'c>, values: &[Value<'_>]) -> Result<usize> {
            let per_statement = self.width * ROWS_PER_STATEMENT;
            let full = values.len() - values.len() % per_statement;
            let mut written = 0;
            for (chunk, rows, slot) in
                [(&values[..full], ROWS_PER_STATEMENT, &mut prepared.full), (&values[full..], 1, &mut prepared.one)]
            {
                for group in chunk.chunks(rows * self.width) {
                    let statement = match slot.take() {
                        Some(statement) => slot.insert(statement),
                        None => slot.insert(Borrowed::prepare(conn, self.text(rows))?),
                    };
                    written += statement.execute(group.iter().copied())?;
                }
            }
            Ok(written)
        }
    }

    /// Values a new lead is written with before its [`COLUMNS`]: its id and history head.
    const LEAD_LEADING_VALUES: usize = 2;

    /// A new lead whose ref is taken is skipped, not refused, so the rest of its statement
    /// still goes in and the lead can be written again under another ref. Any other refusal
    /// rolls the bulk unit back (`OR ROLLBACK`: no statement journal; see [`Bulk`]), as do
    /// those of the phones and history rows.
    static LEADS: LazyLock<Shape> = LazyLock::new(|| {
        Shape::new(
            format!("INSERT OR ROLLBACK INTO leads (id, {HISTORY_HEAD}, {}) VALUES ", COLUMNS.join(", ")),
            COLUMNS.len() + LEAD_LEADING_VALUES,
            " ON CONFLICT (ref) DO NOTHING",
        )
    });
    static PHONES: LazyLock<Shape> = LazyLock::new(|| {
        Shape::new("INSERT OR ROLLBACK INTO lead_phones (lead_id, position, phone) VALUES ".into(), 3, "")
    });
    static HISTORIES: LazyLock<Shape> = LazyLock::new(|| {
        Shape::new(
            "INSERT OR ROLLBACK INTO lead_history (id, lead_id, at, key_id, api, action, changes) VALUES ".into(),
            7,
            "",
        )
    });

    /// The id the next new lead gets: past every live and archived lead, as [`super::insert`]
    /// assigns them, so an archived lead's id is never given out again.
    pub fn next_id(conn: &Connection) -> Result<i64> {
        Ok(conn.prepare_cached(super::NEXT_ID)?.query_row([], |row| row.get(0))?)
    }

    /// A history row waiting to be written.
    struct History {
        id: i64,
        lead_id: i64,
        changes: String,
    }

    /// A new lead waiting to be written: its id, its history's head, the lead.
    type Held<'a> = (i64, i64, &'a mut Lead);

    /// Inserts new leads with their phones and first history rows in a bulk unit (a refusal
    /// rolls the unit's transaction back: see [`Bulk`]), each kind held and written
    /// [`ROWS_PER_STATEMENT`] to a statement. History rows are written under ids handed out
    /// here, so a lead can name its history's head before that row is written; a lead's
    /// phones are held only once the lead is written, since they refer to it. A lead whose ref
    /// turns out taken gets another from `redraw` (in the caller's `Lead` too) and is written
    /// again. Everything held is written by [`NewLeads::finish`], which must be called before
    /// the transaction commits.
    pub struct NewLeads<'c, 'a> {
        conn: &'c Connection,
        at: i64,
        actor: Actor,
        action: &'a str,
        redraw: fn() -> String,
        next_history_id: i64,
        leads: Vec<Held<'a>>,
        histories: Vec<History>,
        phones: Vec<(i64, i64, &'a str)>,
        lead_statements: Prepared<'c>,
        history_statements: Prepared<'c>,
        phone_statements: Prepared<'c>,
        parents: Vec<Parent>,
    }

    /// A foreign key of `leads`: the column's place among a written lead's values, the table
    /// and column it refers to, and the values the new leads gave it.
    struct Parent {
        at: usize,
        column: String,
        table: String,
        key: String,
        values: BTreeSet<i64>,
    }

    impl Parent {
        /// The foreign keys the schema declares on `leads`.
        fn of_leads(conn: &Connection) -> Result<Vec<Parent>> {
            let mut keys =
                conn.prepare_cached(r#"SELECT "from", "table", "to" FROM pragma_foreign_key_list('leads')"#)?;
            let keys = keys.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, Option<String>>(2)?)))?;
            keys.map(|key| {
                let (column, table, key): (String, String, Option<String>) = key?;
                let at = COLUMNS.iter().position(|c| *c == column).ok_or_else(|| {
                    StoreError::Writer(format!(
                        "leads.{column} refers to {table} but is not a column new leads are written with"
                    ))
                })?;
                // No column named: the parent's primary key.
                let key = key.unwrap_or_else(|| "rowid".into());
                Ok(Parent { at: LEAD_LEADING_VALUES + at, column, table, key, values: BTreeSet::new() })
            })
            .collect()
        }

        /// Fails naming the first value no row of the parent table has.
        fn check(&self, conn: &Connection) -> Result<()> {
            if self.values.is_empty() {
                return Ok(());
            }
            // The values are integers, written into the text as such.
            let list: Vec<String> = self.values.iter().map(i64::to_string).collect();
            let sql =
                format!(r#"SELECT "{}" FROM "{}" WHERE "{}" IN ({})"#, self.key, self.table, self.key, list.join(", "));
            let mut found = conn.prepare(&sql)?;
            let found = found.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<BTreeSet<i64>>>()?;
            match self.values.difference(&found).next() {
                None => Ok(()),
                Some(missing) => Err(StoreError::ForeignKey(format!(
                    "leads.{} refers to {} {missing}, which does not exist",
                    self.column, self.table
                ))),
            }
        }
    }

    impl<'c, 'a> NewLeads<'c, 'a> {
        /// Every history row written here is stamped `at`, by `actor`, as `action`.
        pub fn new(
            bulk: Bulk<'c>,
            at: Timestamp,
            actor: Actor,
            action: &'a str,
            redraw: fn() -> String,
        ) -> Result<NewLeads<'c, 'a>> {
            let conn = bulk.conn();
            let next_history_id = conn.prepare_cached(NEXT_HISTORY_ID)?.query_row([], |row| row.get(0))?;
            Ok(NewLeads {
                conn,
                at: micros(at),
                actor,
                action,
                redraw,
                next_history_id,
                leads: Vec::with_capacity(ROWS_PER_STATEMENT),
                histories: Vec::with_capacity(ROWS_PER_STATEMENT),
                phones: Vec::with_capacity(ROWS_PER_STATEMENT),
                lead_statements: Prepared::default(),
                history_statements: Prepared::default(),
                phone_statements: Prepared::default(),
                parents: Parent::of_leads(conn)?,
            })
        }

        /// Holds a new lead to be inserted under `id`, its history starting at `history_head`
        /// (handed out by [`NewLeads::history`]). A refusal other than a taken ref (an
        /// external id already used in the campaign) is an error, here or at a later call.
        pub fn lead(&mut self, id: i64, history_head: i64, lead: &'a mut Lead) -> Result<()> {
            self.leads.push((id, history_head, lead));
            if self.leads.len() == ROWS_PER_STATEMENT {
                self.write_leads()?;
            }
            Ok(())
        }

        /// Takes a new lead's first history row (`changes` is the change set as JSON) and
        /// returns the id it will be written under.
        pub fn history(&mut self, lead_id: i64, changes: String) -> Result<i64> {
            let id = self.next_history_id;
            self.next_history_id += 1;
            self.histories.push(History { id, lead_id, changes });
            if self.histories.len() == ROWS_PER_STATEMENT {
                self.write_histories()?;
            }
            Ok(id)
        }

        /// Writes the leads, history rows and phones still held, and checks that everything the
        /// leads refer to (campaign, allocation, contact hours, …) exists: a bulk unit runs with
        /// SQLite's foreign keys off ([`Bulk`]), and one look-up per distinct
        /// value here replaces one per lead there. (A phone refers to a lead written here.)
        pub fn finish(mut self) -> Result<()> {
            self.write_leads()?;
            self.write_histories()?;
            self.write_phones()?;
            self.parents.iter().try_for_each(|parent| parent.check(self.conn))
        }

        /// Inserts `leads`; returns how many went in (fewer when refs were taken).
        fn insert_leads(&mut self, leads: &[Held<'_>]) -> Result<usize> {
            let json: Vec<[String; 2]> =
                leads.iter().map(|(_, _, lead)| [phones_json(&lead.phones), fields_json(&lead.fields)]).collect();
            let width = COLUMNS.len() + LEAD_LEADING_VALUES;
            let mut values = Vec::with_capacity(leads.len() * width);
            for ((id, head, lead), [phones, fields]) in leads.iter().zip(&json) {
                values.extend([Value::Int(*id), Value::Int(*head)]);
                values.extend(cells(lead).map(|cell| match cell {
                    Cell::Int(int) => int.into(),
                    Cell::Bool(flag) => Value::Int(i64::from(flag)),
                    Cell::Text(text) => text.into(),
                    Cell::Phones(_) => Value::Text(phones),
                    Cell::Fields(_) => Value::Text(fields),
                }));
                let row = &values[values.len() - width..];
                for parent in &mut self.parents {
                    match row[parent.at] {
                        Value::Int(value) => _ = parent.values.insert(value),
                        Value::Null => {}
                        // Only whole-number keys are checked; a text here would go unchecked.
                        Value::Text(_) => {
                            return Err(StoreError::Writer(format!(
                                "leads.{} refers to {} but is written as text",
                                parent.column, parent.table
                            )))
                        }
                    }
                }
            }
            LEADS.write(self.conn, &mut self.lead_statements, &values)
        }

        fn write_leads(&mut self) -> Result<()> {
            let mut held = std::mem::take(&mut self.leads);
            if self.insert_leads(&held)? < held.len() {
                // Some refs were taken: find the leads that were skipped and draw them again.
                let mut present = self.conn.prepare_cached("SELECT 1 FROM leads WHERE id = ?1")?;
                for skipped in &mut held {
                    while !present.exists([skipped.0])? {
                        skipped.2.lead_ref = (self.redraw)();
                        self.insert_leads(std::slice::from_ref(skipped))?;
                    }
                }
            }
            for (id, _, lead) in held.drain(..) {
                let lead: &'a Lead = lead;
                for (position, phone) in lead.phones.iter().enumerate() {
                    self.phones.push((id, position as i64, phone.as_str()));
                    if self.phones.len() == ROWS_PER_STATEMENT {
                        self.write_phones()?;
                    }
                }
            }
            self.leads = held;
            Ok(())
        }

        fn write_histories(&mut self) -> Result<()> {
            let (at, actor, action) = (self.at, self.actor, self.action);
            let values: Vec<Value<'_>> = self
                .histories
                .iter()
                .flat_map(|row| {
                    [
                        Value::Int(row.id),
                        Value::Int(row.lead_id),
                        Value::Int(at),
                        actor.key_id.into(),
                        Value::Text(actor.api.as_str()),
                        Value::Text(action),
                        Value::Text(&row.changes),
                    ]
                })
                .collect();
            HISTORIES.write(self.conn, &mut self.history_statements, &values)?;
            self.histories.clear();
            Ok(())
        }

        fn write_phones(&mut self) -> Result<()> {
            let values: Vec<Value<'_>> = self
                .phones
                .iter()
                .flat_map(|&(lead_id, position, phone)| [Value::Int(lead_id), Value::Int(position), Value::Text(phone)])
                .collect();
            PHONES.write(self.conn, &mut self.phone_statements, &values)?;
            self.phones.clear();
            Ok(())
        }
    }
}
