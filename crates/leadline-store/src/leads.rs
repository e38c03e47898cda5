//! Leads, their phones and their history.

use jiff::Timestamp;
use leadline_core::access::LeadScope;
use leadline_core::history::{Actor, Changes, HistoryEntry};
use leadline_core::lead::columns::{self, Column, Kind, Stored};
use leadline_core::lead::Lead;
use leadline_core::phone::Phone;

use crate::{from_micros, micros, Backend, Cells, Exec, Result, Sql, SqlArg, StoreError};

/// Every lead column but `id`, named as the store names them: the lead's column table
/// ([`columns::COLUMNS`]), in its order, which [`args`] binds in.
pub(crate) static COLUMNS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| columns::COLUMNS.iter().map(|c| c.name).collect());

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

pub(crate) fn phones_json(phones: &[Phone]) -> String {
    serde_json::to_string(&phones.iter().map(Phone::as_str).collect::<Vec<_>>()).expect("strings serialize")
}

pub(crate) fn fields_json(fields: &serde_json::Map<String, serde_json::Value>) -> String {
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
pub(crate) fn cells(lead: &Lead) -> [Cell<'_>; columns::COUNT] {
    columns::cells(lead).map(|cell| match cell {
        columns::Cell::Text(text) => Cell::Text(text),
        columns::Cell::Int(int) => Cell::Int(int),
        columns::Cell::Flag(flag) => Cell::Bool(flag),
        columns::Cell::Time(time) => Cell::time(time),
        columns::Cell::Phones(phones) => Cell::Phones(phones),
        columns::Cell::Fields(fields) => Cell::Fields(fields),
    })
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
    let id = row.int("id")?;
    columns::assemble(
        id,
        |column| read_cell(row, column),
        |column, expected| StoreError::Corrupt(format!("leads.{}: not {expected}", column.name)),
    )
}

/// One column's stored value, as its kind keeps it.
fn read_cell(row: &impl Cells, column: &Column) -> Result<Stored> {
    let name = column.name;
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("leads.{name}: {e}"));
    Ok(match column.kind {
        Kind::Text | Kind::OptText => Stored::Text(row.opt_text(name)?),
        Kind::Int | Kind::OptInt => Stored::Int(row.opt_int(name)?),
        Kind::Flag => Stored::Flag(row.opt_flag(name)?.unwrap_or(false)),
        Kind::Time | Kind::OptTime => Stored::Time(row.opt_int(name)?.map(|v| from_micros(name, v)).transpose()?),
        Kind::Phones => {
            let numbers: Vec<String> = serde_json::from_str(&row.text(name)?).map_err(|e| corrupt(&e))?;
            Stored::Phones(numbers.iter().map(|p| Phone::parse(p).map_err(|e| corrupt(&e))).collect::<Result<_>>()?)
        }
        Kind::Fields => match serde_json::from_str(&row.text(name)?).map_err(|e| corrupt(&e))? {
            serde_json::Value::Object(map) => Stored::Fields(map),
            _ => return Err(corrupt(&"not an object")),
        },
    })
}

/// The id past every live and archived lead: what SQLite assigns new leads (it would otherwise
/// take the highest live id plus one, which may be an archived lead's).
pub(crate) const NEXT_ID: &str = "SELECT MAX(m) + 1 AS next_id FROM (SELECT COALESCE(MAX(id), 0) AS m FROM leads \
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
pub async fn insert(conn: &mut impl Exec, lead: &Lead) -> Result<Option<i64>> {
    let backend = conn.backend();
    let explicit = lead.id > 0;
    if explicit && is_archived(conn, lead.id).await? {
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
        after_explicit_lead_id(conn).await?;
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

pub async fn get(conn: &mut impl Exec, id: i64) -> Result<Option<Lead>> {
    let row = conn.optional_row(&Sql::fixed(&format!("{} WHERE id = $1", select()), crate::args![id])).await?;
    row.as_ref().map(read).transpose()
}

/// Reads a lead inside a write transaction and locks its row until the transaction ends, so
/// concurrent changes of one lead queue up behind each other instead of all but one failing their
/// version check. PostgreSQL takes a row lock (`FOR UPDATE`); SQLite needs none, as its one writer
/// already runs write transactions one at a time.
pub async fn get_for_update(conn: &mut impl Exec, id: i64) -> Result<Option<Lead>> {
    let backend = conn.backend();
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = conn.optional_row(&Sql::fixed(&format!("{} WHERE id = $1{lock}", select()), crate::args![id])).await?;
    row.as_ref().map(read).transpose()
}

pub async fn get_by_ref(conn: &mut impl Exec, lead_ref: &str) -> Result<Option<Lead>> {
    let row = conn.optional_row(&Sql::fixed(&format!("{} WHERE ref = $1", select()), crate::args![lead_ref])).await?;
    row.as_ref().map(read).transpose()
}

/// Whether a buyer bought this lead (through any of its contracts).
pub async fn bought_by(conn: &mut impl Exec, lead_id: i64, buyer_id: i64) -> Result<bool> {
    let sql = Sql::fixed(
        "SELECT s.id FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id \
         WHERE s.lead_id = $1 AND c.buyer_id = $2",
        crate::args![lead_id, buyer_id],
    );
    let row = conn.optional_row(&sql).await?;
    Ok(row.is_some())
}

/// The ids of `buyer_id`'s sales of a lead, under any of its contracts.
pub async fn sales_to(conn: &mut impl Exec, lead_id: i64, buyer_id: i64) -> Result<Vec<i64>> {
    let sql = Sql::fixed(
        "SELECT s.id FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id \
         WHERE s.lead_id = $1 AND c.buyer_id = $2",
        crate::args![lead_id, buyer_id],
    );
    conn.all_rows(&sql).await?.iter().map(|row| row.int("id")).collect()
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

pub async fn list(conn: &mut impl Exec, filter: &LeadFilter) -> Result<Vec<Lead>> {
    list_with(conn, filter, FEW_CHANGES).await
}

/// Whether fewer than `few` history rows are stamped `since` or later.
async fn changed_since_fewer_than(conn: &mut impl Exec, since: Timestamp, few: i64) -> Result<bool> {
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM (SELECT 1 FROM lead_history WHERE at >= ");
    sql.bind(SqlArg::Int(Some(micros(since)))).push(" LIMIT ").bind(SqlArg::Int(Some(few))).push(") AS recent");
    let counted = conn.one_row(&sql).await?.int("n")?;
    Ok(counted < few)
}

pub(crate) async fn list_with(conn: &mut impl Exec, filter: &LeadFilter, few_changes: i64) -> Result<Vec<Lead>> {
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
    conn.all_rows(&sql).await?.iter().map(read).collect()
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
pub async fn history(conn: &mut impl Exec, lead_id: i64, after: Option<i64>, limit: i64) -> Result<Vec<HistoryEntry>> {
    let sql = Sql::fixed(
        "WITH RECURSIVE chain (id) AS ( \
             SELECT COALESCE((SELECT history_head FROM leads WHERE id = $1), \
                             (SELECT history_head FROM leads_archive WHERE id = $1)) \
             UNION ALL \
             SELECT h.prev_id FROM lead_history h JOIN chain c ON h.id = c.id WHERE h.prev_id > $2 \
         ) \
         SELECT h.id, h.lead_id, h.at, h.key_id, h.api, h.action, h.changes \
         FROM chain c JOIN lead_history h ON h.id = c.id WHERE h.id > $2 ORDER BY h.id LIMIT $3",
        crate::args![lead_id, after.unwrap_or(0), limit],
    );
    conn.all_rows(&sql)
        .await?
        .iter()
        .map(|row| {
            let changes = row.text("changes")?;
            Ok(HistoryEntry {
                id: row.int("id")?,
                lead_id: row.int("lead_id")?,
                at: from_micros("at", row.int("at")?)?,
                key_id: row.opt_int("key_id")?,
                api: row.text("api")?,
                action: row.text("action")?,
                changes: serde_json::from_str(&changes)
                    .map_err(|e| StoreError::Corrupt(format!("lead_history.changes: {e}")))?,
            })
        })
        .collect()
}

async fn is_archived(conn: &mut impl Exec, id: i64) -> Result<bool> {
    let sql = Sql::fixed("SELECT 1 AS archived FROM leads_archive WHERE id = $1", [SqlArg::Int(Some(id))]);
    Ok(conn.optional_row(&sql).await?.is_some())
}

/// After a lead was written with an id of the caller's: moves PostgreSQL's sequence past every id
/// in use, archived ones included, so it never hands out an archived lead's id. (SQLite assigns
/// past both tables in `leads::insert` itself.)
pub(crate) async fn after_explicit_lead_id(conn: &mut impl Exec) -> Result<()> {
    let backend = conn.backend();
    if backend == Backend::Postgres {
        conn.run(&Sql::fixed(
            "SELECT setval(pg_get_serial_sequence('leads', 'id'), GREATEST((SELECT COALESCE(MAX(id), 1) FROM leads), \
             (SELECT COALESCE(MAX(id), 1) FROM leads_archive), \
             COALESCE(pg_sequence_last_value(pg_get_serial_sequence('leads', 'id')::regclass), 1)))",
            [],
        ))
        .await?;
    }
    Ok(())
}
