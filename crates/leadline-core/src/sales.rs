//! Sales: a lead sold to a buyer under one of its contracts.

use jiff::Timestamp;
use serde::Serialize;

use crate::money::Money;

/// A sale, its price as the contract had it when the lead was sold.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sale {
    pub id: i64,
    pub lead_id: i64,
    pub buyer_contract_id: i64,
    pub buyer_id: i64,
    /// A decimal string with two decimals.
    #[schema(value_type = String)]
    pub price: Money,
    pub sold_at: Timestamp,
}
