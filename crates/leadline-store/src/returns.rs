//! Returns, the ledger and replacement requests.

use crate::{from_micros, micros, Backend, Cells, Exec, Result, Sql, SqlArg, StoreError};
use jiff::Timestamp;
use leadline_core::returns::{Replacement, Return, ReturnStatus};

/// A sale with what a return needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleTerms {
    pub sale_id: i64,
    pub lead_id: i64,
    pub buyer_contract_id: i64,
    pub buyer_id: i64,
    pub price_minor: i64,
    pub sold_at: Timestamp,
    pub is_replacement: bool,
    pub max_return_age_days: Option<i64>,
    pub replacements_returnable: bool,
}

const RETURN_COLUMNS: &str = "id, sale_id, lead_id, buyer_contract_id, buyer_id, status, return_reason_id, denied_reason_id, created_at, decided_at";

fn read_return(row: &impl Cells) -> Result<Return> {
    let status = row.text("status")?;
    let decided = row.opt_int("decided_at")?;
    Ok(Return {
        id: row.int("id")?,
        sale_id: row.int("sale_id")?,
        lead_id: row.int("lead_id")?,
        buyer_contract_id: row.int("buyer_contract_id")?,
        buyer_id: row.int("buyer_id")?,
        status: ReturnStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("returns.status `{status}`")))?,
        return_reason_id: row.int("return_reason_id")?,
        denied_reason_id: row.opt_int("denied_reason_id")?,
        created_at: from_micros("created_at", row.int("created_at")?)?,
        decided_at: decided.map(|v| from_micros("decided_at", v)).transpose()?,
    })
}

/// The sales of a lead, with their contracts' return terms.
pub async fn sales_of_lead(conn: &mut impl Exec, lead_id: i64) -> Result<Vec<SaleTerms>> {
    let sql = Sql::fixed(
        "SELECT s.id, s.lead_id, s.buyer_contract_id, c.buyer_id, s.price_minor, s.sold_at, s.replaces_return_id, \
         c.max_return_age_days, c.replace_returns FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id \
         WHERE s.lead_id = $1 ORDER BY s.id",
        crate::args![lead_id],
    );
    let rows = conn.all_rows(&sql).await?;
    rows.iter()
        .map(|row| {
            Ok(SaleTerms {
                sale_id: row.int("id")?,
                lead_id: row.int("lead_id")?,
                buyer_contract_id: row.int("buyer_contract_id")?,
                buyer_id: row.int("buyer_id")?,
                price_minor: row.int("price_minor")?,
                sold_at: from_micros("sold_at", row.int("sold_at")?)?,
                is_replacement: row.opt_int("replaces_return_id")?.is_some(),
                max_return_age_days: row.opt_int("max_return_age_days")?,
                replacements_returnable: row.opt_flag("replace_returns")?.unwrap_or(false),
            })
        })
        .collect()
}

/// The return of a sale, locked on PostgreSQL for the decision that follows.
pub async fn return_of_sale(conn: &mut impl Exec, sale_id: i64) -> Result<Option<Return>> {
    let backend = conn.backend();
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql =
        Sql::fixed(&format!("SELECT {RETURN_COLUMNS} FROM returns WHERE sale_id = $1{lock}"), crate::args![sale_id]);
    conn.optional_row(&sql).await?.as_ref().map(read_return).transpose()
}

pub async fn get_return(conn: &mut impl Exec, id: i64) -> Result<Option<Return>> {
    let sql = Sql::fixed(&format!("SELECT {RETURN_COLUMNS} FROM returns WHERE id = $1"), crate::args![id]);
    conn.optional_row(&sql).await?.as_ref().map(read_return).transpose()
}

pub struct NewReturn<'a> {
    pub sale: &'a SaleTerms,
    pub status: ReturnStatus,
    pub return_reason_id: i64,
    pub denied_reason_id: Option<i64>,
    pub at: Timestamp,
    pub key_id: Option<i64>,
}

pub async fn insert_return(conn: &mut impl Exec, new: &NewReturn<'_>) -> Result<i64> {
    let decided = new.status.is_decided().then_some(micros(new.at));
    let sql = Sql::fixed(
        "INSERT INTO returns (sale_id, lead_id, buyer_contract_id, buyer_id, status, return_reason_id, denied_reason_id, \
         created_at, decided_at, created_by_key, decided_by_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        crate::args![
            new.sale.sale_id,
            new.sale.lead_id,
            new.sale.buyer_contract_id,
            new.sale.buyer_id,
            new.status.as_str(),
            new.return_reason_id,
            new.denied_reason_id,
            micros(new.at),
            decided,
            new.key_id,
            decided.and(new.key_id),
        ],
    );
    conn.one_row(&sql).await?.int("id")
}

/// Decides a pending return; false when it was no longer pending (someone decided first).
pub async fn decide(
    conn: &mut impl Exec,
    id: i64,
    status: ReturnStatus,
    denied_reason_id: Option<i64>,
    at: Timestamp,
    key_id: Option<i64>,
) -> Result<bool> {
    let sql = Sql::fixed(
        "UPDATE returns SET status = $1, denied_reason_id = COALESCE($2, denied_reason_id), decided_at = $3, decided_by_key = $4 \
         WHERE id = $5 AND status = 'pending'",
        crate::args![status.as_str(), denied_reason_id, micros(at), key_id, id],
    );
    Ok(conn.run(&sql).await? == 1)
}

#[derive(Debug, Clone, Default)]
pub struct ReturnFilter {
    pub status: Option<ReturnStatus>,
    pub buyer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

pub async fn list_returns(conn: &mut impl Exec, filter: &ReturnFilter) -> Result<Vec<Return>> {
    let mut sql = Sql::new(format!("SELECT {RETURN_COLUMNS} FROM returns WHERE 1 = 1"));
    if let Some(status) = filter.status {
        sql.push(" AND status = ").bind(SqlArg::Text(Some(status.as_str().into())));
    }
    if let Some(buyer) = filter.buyer_id {
        sql.push(" AND buyer_id = ").bind(SqlArg::Int(Some(buyer)));
    }
    if let Some(lead) = filter.lead_id {
        sql.push(" AND lead_id = ").bind(SqlArg::Int(Some(lead)));
    }
    if let Some(after) = filter.after {
        sql.push(" AND id > ").bind(SqlArg::Int(Some(after)));
    }
    sql.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    conn.all_rows(&sql).await?.iter().map(read_return).collect()
}

pub async fn add_replacement_request(
    conn: &mut impl Exec,
    return_id: i64,
    contract_id: i64,
    buyer_id: i64,
    at: Timestamp,
) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO replacement_requests (return_id, buyer_contract_id, buyer_id, status, created_at) \
         VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
        crate::args![return_id, contract_id, buyer_id, micros(at)],
    );
    conn.one_row(&sql).await?.int("id")
}

/// Replacement requests, oldest first, optionally of one buyer or in one status.
pub async fn replacement_requests(
    conn: &mut impl Exec,
    buyer_id: Option<i64>,
    status: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Replacement>> {
    let mut sql = Sql::new(format!("SELECT {REPLACEMENT_COLUMNS} FROM replacement_requests WHERE 1 = 1"));
    if let Some(buyer) = buyer_id {
        sql.push(" AND buyer_id = ").bind(SqlArg::Int(Some(buyer)));
    }
    if let Some(status) = status {
        sql.push(" AND status = ").bind(SqlArg::Text(Some(status.into())));
    }
    if let Some(after) = after {
        sql.push(" AND id > ").bind(SqlArg::Int(Some(after)));
    }
    sql.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(limit)));
    conn.all_rows(&sql).await?.iter().map(read_replacement).collect()
}

const REPLACEMENT_COLUMNS: &str = "id, return_id, buyer_contract_id, buyer_id, status, created_at, fulfilled_sale_id";

fn read_replacement(r: &impl Cells) -> Result<Replacement> {
    Ok(Replacement {
        id: r.int("id")?,
        return_id: r.int("return_id")?,
        buyer_contract_id: r.int("buyer_contract_id")?,
        buyer_id: r.int("buyer_id")?,
        status: r.text("status")?,
        created_at: from_micros("created_at", r.int("created_at")?)?,
        fulfilled_sale_id: r.opt_int("fulfilled_sale_id")?,
    })
}

/// One replacement request, locked on PostgreSQL for the fulfilment that follows.
pub async fn replacement_request(conn: &mut impl Exec, id: i64) -> Result<Option<Replacement>> {
    let backend = conn.backend();
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql = Sql::fixed(
        &format!("SELECT {REPLACEMENT_COLUMNS} FROM replacement_requests WHERE id = $1{lock}"),
        crate::args![id],
    );
    conn.optional_row(&sql).await?.as_ref().map(read_replacement).transpose()
}

/// Sells a replacement lead: a sale at no charge that points at the return it replaces.
pub async fn insert_replacement_sale(
    conn: &mut impl Exec,
    lead_id: i64,
    contract_id: i64,
    return_id: i64,
    at: Timestamp,
) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO sales (lead_id, buyer_contract_id, price_minor, sold_at, replaces_return_id) \
         VALUES ($1, $2, 0, $3, $4) RETURNING id",
        crate::args![lead_id, contract_id, micros(at), return_id],
    );
    conn.one_row(&sql).await?.int("id")
}

/// Marks a pending request fulfilled by a sale; false when it was no longer pending.
pub async fn fulfil_replacement(conn: &mut impl Exec, id: i64, sale_id: i64) -> Result<bool> {
    let sql = Sql::fixed(
        "UPDATE replacement_requests SET status = 'fulfilled', fulfilled_sale_id = $1 WHERE id = $2 AND status = 'pending'",
        crate::args![sale_id, id],
    );
    Ok(conn.run(&sql).await? == 1)
}
