//! Sales: a lead sold to a buyer under one of its contracts.

use jiff::Timestamp;
use leadline_core::money::Money;
use leadline_core::sales::Sale;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{from_micros, micros, Conn, Result, Sql, SqlArg};

/// The parts of a buyer contract a sale needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractTerms {
    pub buyer_id: i64,
    pub vertical_id: i64,
    pub price_minor: i64,
}

const SELECT: &str = "SELECT s.id, s.lead_id, s.buyer_contract_id, c.buyer_id, s.price_minor, s.sold_at \
                      FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id";

fn read(row: &AnyRow) -> Result<Sale> {
    Ok(Sale {
        id: row.try_get("id")?,
        lead_id: row.try_get("lead_id")?,
        buyer_contract_id: row.try_get("buyer_contract_id")?,
        buyer_id: row.try_get("buyer_id")?,
        price: Money::from_minor(row.try_get("price_minor")?),
        sold_at: from_micros("sold_at", row.try_get("sold_at")?)?,
    })
}

pub async fn contract_terms(conn: &mut Conn, contract_id: i64) -> Result<Option<ContractTerms>> {
    let row = sqlx::query("SELECT buyer_id, vertical_id, price_minor FROM buyer_contracts WHERE id = $1")
        .bind(contract_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(ContractTerms {
            buyer_id: row.try_get("buyer_id")?,
            vertical_id: row.try_get("vertical_id")?,
            price_minor: row.try_get("price_minor")?,
        })),
        None => Ok(None),
    }
}

pub async fn insert(conn: &mut Conn, lead_id: i64, contract_id: i64, price_minor: i64, at: Timestamp) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO sales (lead_id, buyer_contract_id, price_minor, sold_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(lead_id)
    .bind(contract_id)
    .bind(price_minor)
    .bind(micros(at))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Sale>> {
    let row = sqlx::query(&format!("{SELECT} WHERE s.id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(read).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct SaleFilter {
    pub buyer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, filter: &SaleFilter) -> Result<Vec<Sale>> {
    let mut sql = Sql::new(format!("{SELECT} WHERE 1 = 1"));
    if let Some(buyer) = filter.buyer_id {
        sql.push(" AND c.buyer_id = ").bind(SqlArg::Int(Some(buyer)));
    }
    if let Some(lead) = filter.lead_id {
        sql.push(" AND s.lead_id = ").bind(SqlArg::Int(Some(lead)));
    }
    if let Some(after) = filter.after {
        sql.push(" AND s.id > ").bind(SqlArg::Int(Some(after)));
    }
    sql.push(" ORDER BY s.id LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(read).collect()
}
