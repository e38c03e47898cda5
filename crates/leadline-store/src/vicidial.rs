//! The VICIdial connector: archive and dearchive on a live VICIdial database (MariaDB or MySQL),
//! between `vicidial_list` and `vicidial_list_archive`.
//!
//! VICIdial keeps its leads in MyISAM tables, which have no transactions: a `ROLLBACK` undoes
//! nothing. Safety therefore comes from the order of the steps, each one statement (MyISAM runs a
//! statement under a table lock, so no other writer interleaves inside it):
//!
//! 1. insert: copy the rows not yet archived, every column as stored (`modify_date` included);
//! 2. update: rewrite archive rows that differ from their live row, assigning `modify_date`
//!    explicitly so the archive row does not stamp itself with the time of the copy;
//! 3. delete: remove a live row only if, in the same statement, its archive row exists and every
//!    column is byte-equal (`CAST(… AS BINARY)` under the NULL-safe `<=>`; MySQL's own `=` would
//!    call `'Smith'` and `'SMITH '` equal).
//!
//! A run stopped between any two steps (or killed outright) leaves every lead in the live table,
//! the archive or both, never in neither; running the batch again finishes it.
//!
//! Columns are read from `information_schema` for every batch, so custom columns a site added
//! travel with the lead; every identifier is quoted (`rank` is a reserved word in MySQL 8). The
//! side a batch deletes from must have no column the other side lacks, or its values would be
//! lost with the row: such a batch is refused before it writes anything.
//!
//! A lead VICIdial is dialing now (in the hopper, being called, or on an agent's screen) is
//! copied but never deleted from the live table, as Leadline's own store keeps a leased lead.

use std::collections::HashSet;
use std::str::FromStr;

use leadline_core::archive::Counts;
use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlPoolOptions};
use sqlx::query::Query;
use sqlx::{Executor, MySql, MySqlConnection, MySqlPool, Row};

use crate::{Result, StoreError};

pub const LIVE_TABLE: &str = "vicidial_list";
pub const ARCHIVE_TABLE: &str = "vicidial_list_archive";

/// Where VICIdial keeps the leads it is dialing now: queued to be dialed next, being called, and
/// on an agent's screen. A lead in any of them stays live.
pub const IN_CALL_TABLES: &[&str] = &["vicidial_hopper", "vicidial_auto_calls", "vicidial_live_agents"];

/// The two sides of the archive on a VICIdial database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Live,
    Archive,
}

impl Side {
    pub fn table(self) -> &'static str {
        match self {
            Side::Live => LIVE_TABLE,
            Side::Archive => ARCHIVE_TABLE,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Live => Side::Archive,
            Side::Archive => Side::Live,
        }
    }
}

/// What a selected run (the CLI) picks on a VICIdial database.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Leads not modified for this many seconds (`modify_date` before now minus this).
    pub unmodified_for_seconds: Option<i64>,
    /// A VICIdial campaign id: leads of the lists (`vicidial_lists`) of that campaign.
    pub campaign: Option<String>,
    pub status: Option<String>,
}

/// A pool on the VICIdial database.
#[derive(Debug, Clone)]
pub struct VicidialDb {
    pool: MySqlPool,
}

/// Quotes an identifier for MySQL.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn placeholders(n: usize) -> String {
    let mut text = String::with_capacity(n * 3 + 2);
    text.push('(');
    for i in 0..n {
        if i > 0 {
            text.push_str(", ");
        }
        text.push('?');
    }
    text.push(')');
    text
}

fn bind_ids<'q>(mut query: Query<'q, MySql, MySqlArguments>, ids: &'q [i64]) -> Query<'q, MySql, MySqlArguments> {
    for id in ids {
        query = query.bind(*id);
    }
    query
}

/// Both tables equal in every column, byte for byte, NULL equal only to NULL.
fn same_row(columns: &[String], a: &str, b: &str) -> String {
    columns
        .iter()
        .map(|c| {
            let c = quote(c);
            format!("CAST({a}.{c} AS BINARY) <=> CAST({b}.{c} AS BINARY)")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl VicidialDb {
    /// A pool that connects on first use (so a server starts while the dialer's database is
    /// briefly away, and the configuration can be read before the runtime starts). Zero dates, common in VICIdial data, are copied as they are.
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<VicidialDb> {
        let options = MySqlConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections.max(1))
            // No reaper task: the pool can then be made before any runtime runs (while the
            // configuration loads). A connection the server dropped is noticed by the ping sqlx
            // sends before handing one out, and replaced.
            .max_lifetime(None)
            .idle_timeout(None)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "SET SESSION sql_mode = REPLACE(REPLACE(@@SESSION.sql_mode, 'NO_ZERO_IN_DATE', ''), 'NO_ZERO_DATE', '')",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(VicidialDb { pool })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The live table's columns, in table order, after checking that both tables have the
    /// columns a batch reading `from` copies and compares: the archive every live column, and,
    /// when the archive is read from (dearchive, which deletes archive rows), the live table
    /// every archive column, since a column the live table lacks would lose its values with the
    /// deleted row. An archive (which deletes live rows) also checks that VICIdial's in-call
    /// tables can be read.
    async fn columns(conn: &mut MySqlConnection, from: Side) -> Result<Vec<String>> {
        async fn read(conn: &mut MySqlConnection, table: &str) -> Result<Vec<String>> {
            let rows = sqlx::query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            )
            .bind(table)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
        }
        let live = read(conn, LIVE_TABLE).await?;
        if live.is_empty() {
            return Err(StoreError::Corrupt(format!("the VICIdial database has no {LIVE_TABLE} table")));
        }
        let archive = read(conn, ARCHIVE_TABLE).await?;
        if archive.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "the VICIdial database has no {ARCHIVE_TABLE} table; create it with \
                 CREATE TABLE {ARCHIVE_TABLE} LIKE {LIVE_TABLE}"
            )));
        }
        if let Some(missing) = live.iter().find(|c| !archive.contains(*c)) {
            return Err(StoreError::Corrupt(format!(
                "{ARCHIVE_TABLE} has no column {missing}, which {LIVE_TABLE} has; add it to the archive first"
            )));
        }
        if from == Side::Archive {
            if let Some(extra) = archive.iter().find(|c| !live.contains(*c)) {
                return Err(StoreError::Corrupt(format!(
                    "{LIVE_TABLE} has no column {extra}, which {ARCHIVE_TABLE} has; dearchiving would lose its \
                     values, so add it to {LIVE_TABLE} first"
                )));
            }
        }
        if !live.iter().any(|c| c == "lead_id") {
            return Err(StoreError::Corrupt(format!("{LIVE_TABLE} has no lead_id column")));
        }
        if from == Side::Live {
            for table in IN_CALL_TABLES {
                if !read(conn, table).await?.iter().any(|c| c == "lead_id") {
                    return Err(StoreError::Corrupt(format!(
                        "the VICIdial database has no {table} table with a lead_id column; Leadline reads it so \
                         as not to archive a lead that is being dialed"
                    )));
                }
            }
        }
        Ok(live)
    }

    /// How many of `ids` VICIdial is dialing now (see [`IN_CALL_TABLES`]).
    async fn in_call(conn: &mut MySqlConnection, ids: &[i64]) -> Result<i64> {
        let union = IN_CALL_TABLES
            .iter()
            .map(|t| format!("SELECT lead_id FROM {t} WHERE lead_id IN {}", placeholders(ids.len())))
            .collect::<Vec<_>>()
            .join(" UNION ");
        let sql = format!("SELECT COUNT(*) FROM ({union}) AS dialing");
        let mut query = sqlx::query(&sql);
        for _ in IN_CALL_TABLES {
            query = bind_ids(query, ids);
        }
        Ok(query.fetch_one(&mut *conn).await?.try_get(0)?)
    }

    /// Which of `ids` are in the table of `side`.
    pub async fn found(&self, side: Side, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await?;
        Self::found_on(&mut conn, side, ids).await
    }

    async fn found_on(conn: &mut MySqlConnection, side: Side, ids: &[i64]) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT CAST(lead_id AS SIGNED) FROM {} WHERE lead_id IN {}",
            side.table(),
            placeholders(ids.len())
        );
        let rows = bind_ids(sqlx::query(&sql), ids).fetch_all(&mut *conn).await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
    }

    /// Copies `ids` from `from` to the other side, every column as stored.
    async fn copy(conn: &mut MySqlConnection, columns: &[String], from: Side, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO {to} ({list}) SELECT {list} FROM {from} WHERE lead_id IN {ids}",
            to = from.other().table(),
            from = from.table(),
            ids = placeholders(ids.len())
        );
        Ok(bind_ids(sqlx::query(&sql), ids).execute(&mut *conn).await?.rows_affected())
    }

    /// Deletes the rows of `ids` on `side` whose row on the other side is byte-equal; a live row
    /// only when VICIdial is not dialing its lead, checked in the same statement.
    async fn delete_matching(conn: &mut MySqlConnection, columns: &[String], side: Side, ids: &[i64]) -> Result<u64> {
        let mut sql = format!(
            "DELETE d FROM {table} AS d JOIN {other} AS o ON o.lead_id = d.lead_id WHERE d.lead_id IN {ids} AND {same}",
            table = side.table(),
            other = side.other().table(),
            ids = placeholders(ids.len()),
            same = same_row(columns, "d", "o")
        );
        if side == Side::Live {
            for table in IN_CALL_TABLES {
                sql.push_str(&format!(" AND NOT EXISTS (SELECT 1 FROM {table} AS c WHERE c.lead_id = d.lead_id)"));
            }
        }
        Ok(bind_ids(sqlx::query(&sql), ids).execute(&mut *conn).await?.rows_affected())
    }

    /// Runs the archive steps for `ids`, all found live by the caller.
    pub async fn archive(&self, ids: &[i64], steps: (bool, bool, bool)) -> Result<Counts> {
        let (insert, update, delete) = steps;
        let mut conn = self.pool.acquire().await?;
        let columns = Self::columns(&mut conn, Side::Live).await?;
        let mut counts = Counts { select_count: ids.len() as u64, ..Counts::default() };
        let present: HashSet<i64> = Self::found_on(&mut conn, Side::Archive, ids).await?.into_iter().collect();
        if insert {
            let absent: Vec<i64> = ids.iter().copied().filter(|id| !present.contains(id)).collect();
            counts.insert_count = Self::copy(&mut conn, &columns, Side::Live, &absent).await?;
        }
        if update && !present.is_empty() {
            let present: Vec<i64> = ids.iter().copied().filter(|id| present.contains(id)).collect();
            // Every column but the key is assigned, modify_date too: left out, MySQL would set it
            // to the time of this update and the rows would never match.
            let assignments = columns
                .iter()
                .filter(|c| *c != "lead_id")
                .map(|c| format!("a.{q} = l.{q}", q = quote(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE {ARCHIVE_TABLE} AS a JOIN {LIVE_TABLE} AS l ON l.lead_id = a.lead_id SET {assignments} \
                 WHERE a.lead_id IN {ids} AND NOT ({same})",
                ids = placeholders(present.len()),
                same = same_row(&columns, "a", "l")
            );
            counts.update_count = bind_ids(sqlx::query(&sql), &present).execute(&mut *conn).await?.rows_affected();
        }
        if delete {
            let dialing = Self::in_call(&mut conn, ids).await?;
            counts.delete_count = Self::delete_matching(&mut conn, &columns, Side::Live, ids).await?;
            if dialing > 0 {
                tracing::info!(dialing, "VICIdial is dialing {dialing} lead(s) of the batch; they stay live");
            }
        }
        Ok(counts)
    }

    /// Runs the dearchive steps for `ids`, all found in the archive by the caller.
    pub async fn dearchive(&self, ids: &[i64], steps: (bool, bool)) -> Result<Counts> {
        let (insert, delete) = steps;
        let mut conn = self.pool.acquire().await?;
        let columns = Self::columns(&mut conn, Side::Archive).await?;
        let mut counts = Counts { select_count: ids.len() as u64, ..Counts::default() };
        if insert {
            let live: HashSet<i64> = Self::found_on(&mut conn, Side::Live, ids).await?.into_iter().collect();
            let absent: Vec<i64> = ids.iter().copied().filter(|id| !live.contains(id)).collect();
            counts.insert_count = Self::copy(&mut conn, &columns, Side::Archive, &absent).await?;
        }
        if delete {
            counts.delete_count = Self::delete_matching(&mut conn, &columns, Side::Archive, ids).await?;
        }
        Ok(counts)
    }

    fn selection_sql(side: Side, selection: &Selection) -> (String, Vec<String>, Option<i64>) {
        let mut text = format!("FROM {} WHERE 1 = 1", side.table());
        let mut texts = Vec::new();
        if selection.unmodified_for_seconds.is_some() {
            text.push_str(" AND modify_date < NOW() - INTERVAL ? SECOND");
        }
        if let Some(campaign) = &selection.campaign {
            text.push_str(" AND list_id IN (SELECT list_id FROM vicidial_lists WHERE campaign_id = ?)");
            texts.push(campaign.clone());
        }
        if let Some(status) = &selection.status {
            text.push_str(" AND status = ?");
            texts.push(status.clone());
        }
        (text, texts, selection.unmodified_for_seconds)
    }

    /// The next `limit` lead ids on `side` above `after` that match the selection, in id order.
    pub async fn select_page(&self, side: Side, selection: &Selection, after: i64, limit: i64) -> Result<Vec<i64>> {
        let (from, texts, age) = Self::selection_sql(side, selection);
        let sql = format!("SELECT CAST(lead_id AS SIGNED) {from} AND lead_id > ? ORDER BY lead_id LIMIT ?");
        let mut query = sqlx::query(&sql);
        if let Some(age) = age {
            query = query.bind(age);
        }
        for text in &texts {
            query = query.bind(text.as_str());
        }
        let rows = query.bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
    }

    /// How many rows on `side` match the selection.
    pub async fn count(&self, side: Side, selection: &Selection) -> Result<i64> {
        let (from, texts, age) = Self::selection_sql(side, selection);
        let sql = format!("SELECT COUNT(*) {from}");
        let mut query = sqlx::query(&sql);
        if let Some(age) = age {
            query = query.bind(age);
        }
        for text in &texts {
            query = query.bind(text.as_str());
        }
        Ok(query.fetch_one(&self.pool).await?.try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_backticks_doubled() {
        assert_eq!(quote("rank"), "`rank`");
        assert_eq!(quote("we`ird"), "`we``ird`");
    }

    #[test]
    fn equality_is_binary_and_null_safe_on_every_column() {
        let text = same_row(&["lead_id".into(), "rank".into()], "a", "b");
        assert_eq!(
            text,
            "CAST(a.`lead_id` AS BINARY) <=> CAST(b.`lead_id` AS BINARY) AND CAST(a.`rank` AS BINARY) <=> CAST(b.`rank` AS BINARY)"
        );
    }
}
