//! The schema's unique constraints as kinds, so that a refused write is told apart by what refused
//! it and never by the words of its message.
//!
//! PostgreSQL names the constraint in its error (`leads_external_id`, `sales_lead_contract`,
//! `verticals_pkey`). SQLite names only the columns (`UNIQUE constraint failed: leads.campaign_id,
//! leads.external_id`), or the index for an index on an expression (`index 'dnc_phone'`), and
//! says through its extended code whether a primary key refused the write. Both reports are read
//! here and nowhere else; a migration that adds a unique constraint adds its row to [`NAMED`].

/// A unique constraint or index of the schema (see the migrations for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// A table's primary key: the id (or key) is taken. Also a lead id held by an archived lead,
    /// which the store refuses itself.
    PrimaryKey,
    /// `leads.ref`, the lead's public token.
    LeadRef,
    /// `leads_external_id`: an external id is unique within its campaign.
    LeadExternalId,
    /// `dispositions_code`: a code is unique within its template.
    DispositionCode,
    /// `dnc_phone`: a number is listed once per list (system-wide or a campaign's).
    DncPhone,
    /// `sales_lead_contract`: a contract buys a lead once.
    SaleLeadContract,
    /// `returns_sale`: a sale is returned once.
    ReturnSale,
    /// `ledger_return`: a return is credited once.
    LedgerReturn,
    /// `replacement_requests.return_id`: a return asks for one replacement.
    ReplacementReturn,
    /// `api_keys.secret_hash`.
    KeySecret,
    /// `console_sessions.token_hash`.
    SessionToken,
    /// A constraint this list does not name; the error's detail says which.
    Other,
}

/// Each named constraint: PostgreSQL's name for it, and what SQLite reports for it (the
/// columns, `table.column` joined by `, `, or `index 'name'` for an index on an expression).
const NAMED: &[(Constraint, &str, &str)] = &[
    (Constraint::LeadRef, "leads_ref_key", "leads.ref"),
    (Constraint::LeadExternalId, "leads_external_id", "leads.campaign_id, leads.external_id"),
    (Constraint::DispositionCode, "dispositions_code", "dispositions.template_id, dispositions.code"),
    (Constraint::DncPhone, "dnc_phone", "index 'dnc_phone'"),
    (Constraint::SaleLeadContract, "sales_lead_contract", "sales.lead_id, sales.buyer_contract_id"),
    (Constraint::ReturnSale, "returns_sale", "returns.sale_id"),
    (Constraint::LedgerReturn, "ledger_return", "ledger.return_id"),
    (Constraint::ReplacementReturn, "replacement_requests_return_id_key", "replacement_requests.return_id"),
    (Constraint::KeySecret, "api_keys_secret_hash_key", "api_keys.secret_hash"),
    (Constraint::SessionToken, "console_sessions_token_hash_key", "console_sessions.token_hash"),
];

/// SQLite's extended result code for a primary key's refusal (`SQLITE_CONSTRAINT_PRIMARYKEY`),
/// as sqlx reports it.
pub(crate) const SQLITE_PRIMARY_KEY_CODE: &str = "1555";

impl Constraint {
    /// The kind PostgreSQL's constraint name stands for.
    pub(crate) fn from_postgres(name: &str) -> Constraint {
        if name.ends_with("_pkey") {
            return Constraint::PrimaryKey;
        }
        NAMED.iter().find(|(_, postgres, _)| *postgres == name).map_or(Constraint::Other, |(kind, _, _)| *kind)
    }

    /// The kind SQLite's message stands for (`UNIQUE constraint failed: <what>`); `primary_key`
    /// when its extended code says a primary key refused the write.
    pub(crate) fn from_sqlite(message: &str, primary_key: bool) -> Constraint {
        if primary_key {
            return Constraint::PrimaryKey;
        }
        let reported = message.strip_prefix("UNIQUE constraint failed: ").unwrap_or(message);
        NAMED.iter().find(|(_, _, sqlite)| *sqlite == reported).map_or(Constraint::Other, |(kind, _, _)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backends_report_names_the_same_kind() {
        for (kind, postgres, sqlite) in NAMED {
            assert_eq!(Constraint::from_postgres(postgres), *kind);
            assert_eq!(Constraint::from_sqlite(&format!("UNIQUE constraint failed: {sqlite}"), false), *kind);
        }
        assert_eq!(Constraint::from_postgres("verticals_pkey"), Constraint::PrimaryKey);
        assert_eq!(Constraint::from_sqlite("UNIQUE constraint failed: verticals.id", true), Constraint::PrimaryKey);
        assert_eq!(Constraint::from_postgres("something_new"), Constraint::Other);
        assert_eq!(Constraint::from_sqlite("UNIQUE constraint failed: t.x", false), Constraint::Other);
    }
}
