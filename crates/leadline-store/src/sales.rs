//! Sales: a lead sold to a buyer under one of its contracts.

use crate::{from_micros, micros, Cells, Exec, Result, Sql, SqlArg};
use jiff::Timestamp;
use leadline_core::money::Money;
use leadline_core::sales::Sale;

/// The parts of a buyer contract a sale needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractTerms {
    pub buyer_id: i64,
    pub vertical_id: i64,
    pub price_minor: i64,
}

const SELECT: &str = "SELECT s.id, s.lead_id, s.buyer_contract_id, c.buyer_id, s.price_minor, s.sold_at \
                      FROM sales s JOIN buyer_contracts c ON c.id = s.buyer_contract_id";

fn read(row: &impl Cells) -> Result<Sale> {
    Ok(Sale {
        id: row.int("id")?,
        lead_id: row.int("lead_id")?,
        buyer_contract_id: row.int("buyer_contract_id")?,
        buyer_id: row.int("buyer_id")?,
        price: Money::from_minor(row.int("price_minor")?),
        sold_at: from_micros("sold_at", row.int("sold_at")?)?,
    })
}

pub async fn contract_terms(conn: &mut impl Exec, contract_id: i64) -> Result<Option<ContractTerms>> {
    let sql = Sql::fixed(
        "SELECT buyer_id, vertical_id, price_minor FROM buyer_contracts WHERE id = $1",
        crate::args![contract_id],
    );
    match conn.optional_row(&sql).await? {
        Some(row) => Ok(Some(ContractTerms {
            buyer_id: row.int("buyer_id")?,
            vertical_id: row.int("vertical_id")?,
            price_minor: row.int("price_minor")?,
        })),
        None => Ok(None),
    }
}

pub async fn insert(
    conn: &mut impl Exec,
    lead_id: i64,
    contract_id: i64,
    price_minor: i64,
    at: Timestamp,
) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO sales (lead_id, buyer_contract_id, price_minor, sold_at) VALUES ($1, $2, $3, $4) RETURNING id",
        crate::args![lead_id, contract_id, price_minor, micros(at)],
    );
    conn.one_row(&sql).await?.int("id")
}

pub async fn get(conn: &mut impl Exec, id: i64) -> Result<Option<Sale>> {
    let sql = Sql::fixed(&format!("{SELECT} WHERE s.id = $1"), crate::args![id]);
    conn.optional_row(&sql).await?.as_ref().map(read).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct SaleFilter {
    pub buyer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut impl Exec, filter: &SaleFilter) -> Result<Vec<Sale>> {
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
    let rows = conn.all_rows(&sql).await?;
    rows.iter().map(read).collect()
}
