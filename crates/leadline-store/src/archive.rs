//! The lead archive on Leadline's own store: `leads` ⇄ `leads_archive`.
//!
//! Each step is one set-based statement over the batch's ids, run inside the caller's write
//! transaction, in the order insert → update → delete (dearchive: insert → delete). A delete
//! removes a row only when its copy on the other side exists and is equal in every column, compared
//! NULL-safe and byte for byte (`IS` on SQLite, whose default collation is binary;
//! `IS NOT DISTINCT FROM` on PostgreSQL, whose deterministic collations call strings equal only when
//! their bytes are). Rows refused by the comparison stay where they are and are not counted.
//!
//! Besides a differing copy, two things keep a live lead out of the archive: a sale (the buyer may
//! still return it, and the sale refers to the live row) and a dialer lease that has not ended (an
//! agent is on it now).

use std::collections::HashSet;

use crate::leads::{self, COLUMNS, HISTORY_HEAD};
use crate::{micros, Backend, Cells, Exec, Result, Sql, SqlArg};
use jiff::Timestamp;
use leadline_core::archive::Counts;
use leadline_core::lead::Lead;

/// The two sides of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Live,
    Archive,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Live => "leads",
            Table::Archive => "leads_archive",
        }
    }

    fn other(self) -> Table {
        match self {
            Table::Live => Table::Archive,
            Table::Archive => Table::Live,
        }
    }
}

/// What a caller-selected run (the CLI) picks: leads matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Leads whose last change (`updated_at`) is before this instant.
    pub changed_before: Option<Timestamp>,
    pub campaign_id: Option<i64>,
    /// The lead's last disposition.
    pub status: Option<String>,
}

fn push_ids(sql: &mut Sql, ids: &[i64]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(SqlArg::Int(Some(*id)));
    }
    sql.push(")");
}

/// `a` and `b` hold the same lead, equal in every column, NULLs equal only to NULLs.
fn same_row(backend: Backend, a: &str, b: &str) -> String {
    let op = match backend {
        Backend::Sqlite => "IS",
        Backend::Postgres => "IS NOT DISTINCT FROM",
    };
    let mut text = format!("{a}.id = {b}.id");
    for column in COLUMNS.iter().chain(&[HISTORY_HEAD]) {
        text.push_str(&format!(" AND {a}.{column} {op} {b}.{column}"));
    }
    text
}

/// Which of `ids` are in `table`.
pub async fn found(conn: &mut impl Exec, table: Table, ids: &[i64]) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT id FROM {} WHERE id IN ", table.name()));
    push_ids(&mut sql, ids);
    conn.all_rows(&sql).await?.iter().map(|row| row.int("id")).collect()
}

/// Which of `ids` are in `table`, locking those rows until the transaction ends on PostgreSQL, so
/// two batches over the same leads run one after the other (SQLite's single writer already does).
pub async fn found_for_update(conn: &mut impl Exec, table: Table, ids: &[i64]) -> Result<Vec<i64>> {
    let backend = conn.backend();
    if backend == Backend::Sqlite || ids.is_empty() {
        return found(conn, table, ids).await;
    }
    let mut sql = Sql::new(format!("SELECT id FROM {} WHERE id IN ", table.name()));
    push_ids(&mut sql, ids);
    sql.push(" ORDER BY id FOR UPDATE");
    conn.all_rows(&sql).await?.iter().map(|row| row.int("id")).collect()
}

/// Copies the rows of `ids` from `from` to the other table, column for column; returns how many.
async fn copy(conn: &mut impl Exec, from: Table, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let columns = format!("{}, {HISTORY_HEAD}", COLUMNS.join(", "));
    let mut sql = Sql::new(format!(
        "INSERT INTO {} (id, {columns}) SELECT id, {columns} FROM {} WHERE id IN ",
        from.other().name(),
        from.name()
    ));
    push_ids(&mut sql, ids);
    conn.run(&sql).await
}

/// Deletes the rows of `ids` from `table` whose copy on the other side is equal in every column
/// (and, for live leads, that are neither sold nor leased at `now`); returns the ids deleted.
async fn delete_matching(conn: &mut impl Exec, table: Table, ids: &[i64], now: Timestamp) -> Result<Vec<i64>> {
    let backend = conn.backend();
    let name = table.name();
    let mut sql = Sql::new(format!("DELETE FROM {name} WHERE id IN "));
    push_ids(&mut sql, ids);
    sql.push(&format!(
        " AND EXISTS (SELECT 1 FROM {other} o WHERE {same})",
        other = table.other().name(),
        same = same_row(backend, "o", name)
    ));
    if table == Table::Live {
        sql.push(" AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.lead_id = leads.id)")
            .push(" AND (lock_until IS NULL OR lock_until <= ")
            .bind(SqlArg::Int(Some(micros(now))))
            .push(")");
    }
    sql.push(" RETURNING id");
    conn.all_rows(&sql).await?.iter().map(|row| row.int("id")).collect()
}

/// Archives `ids` (all of them live: the caller checked). Returns the counts and the ids that
/// left the live table.
pub async fn archive(
    conn: &mut impl Exec,
    ids: &[i64],
    steps: (bool, bool, bool),
    now: Timestamp,
) -> Result<(Counts, Vec<i64>)> {
    let backend = conn.backend();
    let (insert, update, delete) = steps;
    let mut counts = Counts { select_count: ids.len() as u64, ..Counts::default() };
    let present: HashSet<i64> = found(conn, Table::Archive, ids).await?.into_iter().collect();
    if insert {
        let absent: Vec<i64> = ids.iter().copied().filter(|id| !present.contains(id)).collect();
        counts.insert_count = copy(conn, Table::Live, &absent).await?;
    }
    if update && !present.is_empty() {
        // Only archive rows that differ are rewritten (and counted).
        let present: Vec<i64> = ids.iter().copied().filter(|id| present.contains(id)).collect();
        let mut sql = Sql::new("UPDATE leads_archive SET ");
        for (i, column) in COLUMNS.iter().chain(&[HISTORY_HEAD]).enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(&format!("{column} = l.{column}"));
        }
        sql.push(" FROM leads AS l WHERE l.id = leads_archive.id AND leads_archive.id IN ");
        push_ids(&mut sql, &present);
        sql.push(&format!(" AND NOT ({})", same_row(backend, "leads_archive", "l")));
        counts.update_count = conn.run(&sql).await?;
    }
    let mut moved = Vec::new();
    if delete {
        moved = delete_matching(conn, Table::Live, ids, now).await?;
        counts.delete_count = moved.len() as u64;
    }
    Ok((counts, moved))
}

/// Brings `ids` (all of them archived: the caller checked) back to the live table. Returns the
/// counts and the ids copied back (whose phones are indexed again).
pub async fn dearchive(
    conn: &mut impl Exec,
    ids: &[i64],
    steps: (bool, bool),
    now: Timestamp,
) -> Result<(Counts, Vec<i64>)> {
    let (insert, delete) = steps;
    let mut counts = Counts { select_count: ids.len() as u64, ..Counts::default() };
    let mut restored = Vec::new();
    if insert {
        let live: HashSet<i64> = found(conn, Table::Live, ids).await?.into_iter().collect();
        let absent: Vec<i64> = ids.iter().copied().filter(|id| !live.contains(id)).collect();
        counts.insert_count = copy(conn, Table::Archive, &absent).await?;
        if counts.insert_count > 0 {
            leads::after_explicit_lead_id(conn).await?;
            for &id in &absent {
                if let Some(lead) = leads::get(conn, id).await? {
                    leads::replace_phones(conn, id, &lead.phones).await?;
                    restored.push(id);
                }
            }
        }
    }
    if delete {
        counts.delete_count = delete_matching(conn, Table::Archive, ids, now).await?.len() as u64;
    }
    Ok((counts, restored))
}

/// One history row per lead of `ids` (leads that left or came back), each chained onto the
/// lead's history in whichever table now holds it.
pub async fn record_history(
    conn: &mut impl Exec,
    ids: &[i64],
    at: Timestamp,
    actor: leadline_core::history::Actor,
    action: &str,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(
        "INSERT INTO lead_history (lead_id, prev_id, at, key_id, api, action, changes) SELECT id, history_head, ",
    );
    sql.bind(SqlArg::Int(Some(micros(at))))
        .push(", ")
        .bind(SqlArg::Int(actor.key_id))
        .push(", ")
        .bind(SqlArg::Text(Some(actor.api.as_str().to_string())))
        .push(", ")
        .bind(SqlArg::Text(Some(action.to_string())))
        .push(", '{}' FROM (SELECT id, history_head FROM leads WHERE id IN ");
    push_ids(&mut sql, ids);
    sql.push(" UNION SELECT id, history_head FROM leads_archive WHERE id IN ");
    push_ids(&mut sql, ids);
    sql.push(") AS moved ORDER BY id RETURNING id, lead_id");
    let heads: Vec<(i64, i64)> = conn
        .all_rows(&sql)
        .await?
        .iter()
        .map(|row| Ok((row.int("lead_id")?, row.int("id")?)))
        .collect::<Result<_>>()?;
    for table in [Table::Live, Table::Archive] {
        for chunk in heads.chunks(500) {
            let mut sql = Sql::new(format!("UPDATE {} SET history_head = CASE id", table.name()));
            for (lead, head) in chunk {
                sql.push(" WHEN ").bind(SqlArg::Int(Some(*lead))).push(" THEN ").bind(SqlArg::Int(Some(*head)));
            }
            sql.push(" END WHERE id IN ");
            push_ids(&mut sql, &chunk.iter().map(|(lead, _)| *lead).collect::<Vec<_>>());
            conn.run(&sql).await?;
        }
    }
    Ok(())
}

/// An archived lead.
pub async fn get(conn: &mut impl Exec, id: i64) -> Result<Option<Lead>> {
    let sql =
        Sql::fixed(&format!("SELECT id, {} FROM leads_archive WHERE id = $1", COLUMNS.join(", ")), crate::args![id]);
    conn.optional_row(&sql).await?.as_ref().map(leads::read).transpose()
}

fn push_selection(sql: &mut Sql, selection: &Selection) {
    if let Some(before) = selection.changed_before {
        sql.push(" AND updated_at < ").bind(SqlArg::Int(Some(micros(before))));
    }
    if let Some(campaign) = selection.campaign_id {
        sql.push(" AND campaign_id = ").bind(SqlArg::Int(Some(campaign)));
    }
    if let Some(status) = &selection.status {
        sql.push(" AND disposition = ").bind(SqlArg::Text(Some(status.clone())));
    }
}

/// The next `limit` ids of `table` above `after` that match the selection, in id order.
pub async fn select_page(
    conn: &mut impl Exec,
    table: Table,
    selection: &Selection,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let mut sql = Sql::new(format!("SELECT id FROM {} WHERE id > ", table.name()));
    sql.bind(SqlArg::Int(Some(after)));
    push_selection(&mut sql, selection);
    sql.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(limit)));
    conn.all_rows(&sql).await?.iter().map(|row| row.int("id")).collect()
}

/// How many rows of `table` match the selection.
pub async fn count(conn: &mut impl Exec, table: Table, selection: &Selection) -> Result<i64> {
    let mut sql = Sql::new(format!("SELECT COUNT(*) AS n FROM {} WHERE 1 = 1", table.name()));
    push_selection(&mut sql, selection);
    conn.one_row(&sql).await?.int("n")
}
