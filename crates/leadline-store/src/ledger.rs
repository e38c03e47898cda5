//! The money ledger: exact movements in minor units, each tied to a buyer, a lead, a sale or a
//! return. Buyer credits (returns approved for credit) and call-center fees are written here; a
//! balance is the sum of entries.

use crate::{from_micros, micros, Cells, Exec, Result, Sql};
use jiff::Timestamp;

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

pub async fn add_entry(conn: &mut impl Exec, entry: &Entry) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO ledger (kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        crate::args![
            entry.kind,
            entry.buyer_id,
            entry.lead_id,
            entry.sale_id,
            entry.return_id,
            entry.amount_minor,
            micros(entry.at),
            entry.key_id,
        ],
    );
    conn.one_row(&sql).await?.int("id")
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
    conn: &mut impl Exec,
    buyer_id: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<(Vec<LedgerRow>, i64)> {
    let page = Sql::fixed(
        "SELECT id, kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id FROM ledger \
         WHERE buyer_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        crate::args![buyer_id, after.unwrap_or(0), limit],
    );
    let entries = conn.all_rows(&page).await?.iter().map(read_row).collect::<Result<Vec<_>>>()?;
    let balance = Sql::fixed(
        "SELECT CAST(SUM(amount_minor) AS BIGINT) AS balance FROM ledger WHERE buyer_id = $1",
        crate::args![buyer_id],
    );
    Ok((entries, conn.one_row(&balance).await?.opt_int("balance")?.unwrap_or(0)))
}

/// Every entry on one lead (call-center fees, buyer credits for its sales), oldest first.
pub async fn lead_ledger(conn: &mut impl Exec, lead_id: i64) -> Result<Vec<LedgerRow>> {
    let sql = Sql::fixed(
        "SELECT id, kind, buyer_id, lead_id, sale_id, return_id, amount_minor, at, key_id FROM ledger \
         WHERE lead_id = $1 ORDER BY id",
        crate::args![lead_id],
    );
    conn.all_rows(&sql).await?.iter().map(read_row).collect()
}

fn read_row(row: &impl Cells) -> Result<LedgerRow> {
    Ok(LedgerRow {
        id: row.int("id")?,
        entry: Entry {
            kind: kind_name(&row.text("kind")?),
            buyer_id: row.opt_int("buyer_id")?,
            lead_id: row.opt_int("lead_id")?,
            sale_id: row.opt_int("sale_id")?,
            return_id: row.opt_int("return_id")?,
            amount_minor: row.int("amount_minor")?,
            at: from_micros("at", row.int("at")?)?,
            key_id: row.opt_int("key_id")?,
        },
    })
}
