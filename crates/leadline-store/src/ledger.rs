//! The money ledger: exact movements in minor units, each tied to a buyer, a lead, a sale or a
//! return. Buyer credits (returns approved for credit) and call-center fees are written here; a
//! balance is the sum of entries.

use jiff::Timestamp;
use sqlx::Row;

use crate::{from_micros, micros, Conn, Result};

/// One ledger entry to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: &'static str,
    pub buyer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub sale_id: Option<i64>,
    pub return_id: Option<i64>,
    pub amount_minor: i64,
    pub at: Timestamp,
    pub key_id: Option<i64>,
}

/// A ledger entry as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub id: i64,
    pub entry: Entry,
}

pub async fn add_entry(conn: &mut Conn, entry: &Entry) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO ledger (kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(entry.kind)
    .bind(entry.buyer_id)
    .bind(entry.lead_id)
    .bind(entry.sale_id)
    .bind(entry.return_id)
    .bind(entry.amount_minor)
    .bind(micros(entry.at))
    .bind(entry.key_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        "buyer_credit" => "buyer_credit",
        "call_center_fee" => "call_center_fee",
        _ => "other",
    }
}

/// A buyer's entries (after `after`, up to `limit`) and its balance over all entries.
pub async fn buyer_ledger(
    conn: &mut Conn,
    buyer_id: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<(Vec<LedgerRow>, i64)> {
    let rows = sqlx::query(
        "SELECT id, kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id FROM ledger \
         WHERE buyer_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(buyer_id)
    .bind(after.unwrap_or(0))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let entries = rows.iter().map(read_row).collect::<Result<Vec<_>>>()?;
    let balance: Option<i64> = sqlx::query("SELECT CAST(SUM(amount_minor) AS BIGINT) FROM ledger WHERE buyer_id = $1")
        .bind(buyer_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok((entries, balance.unwrap_or(0)))
}

/// Every entry on one lead (call-center fees, buyer credits for its sales), oldest first.
pub async fn lead_ledger(conn: &mut Conn, lead_id: i64) -> Result<Vec<LedgerRow>> {
    let rows = sqlx::query(
        "SELECT id, kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id FROM ledger \
         WHERE lead_id = $1 ORDER BY id",
    )
    .bind(lead_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(read_row).collect()
}

fn read_row(row: &sqlx::any::AnyRow) -> Result<LedgerRow> {
    let kind: String = row.try_get("kind")?;
    Ok(LedgerRow {
        id: row.try_get("id")?,
        entry: Entry {
            kind: kind_name(&kind),
            buyer_id: row.try_get("buyer_id")?,
            lead_id: row.try_get("lead_id")?,
            sale_id: row.try_get("sale_id")?,
            return_id: row.try_get("return_id")?,
            amount_minor: row.try_get("amount_minor")?,
            at: from_micros("at", row.try_get("at")?)?,
            key_id: row.try_get("key_id")?,
        },
    })
}
