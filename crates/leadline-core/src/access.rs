//! API key roles and what each may do. The edges ask these questions; they never decide access
//! on their own.

use serde::Serialize;

use crate::DomainError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// Everything, including keys.
    Admin,
    /// Its own purchases and the leads behind them; returns of those.
    Buyer { buyer_id: i64 },
    /// Leads of the listed campaigns: read, load, change, dial.
    Dialer { campaign_ids: Vec<i64> },
    /// Reads leads and moves them to and from the archive.
    Archiver,
    /// Reads everything except keys; writes nothing.
    #[serde(rename = "readonly")]
    ReadOnly,
}

/// Which leads a key may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadScope {
    All,
    Campaigns(Vec<i64>),
    BoughtBy(i64),
}

/// Which objects of one catalog collection a key may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogScope {
    /// None: the collection is not this key's business.
    Denied,
    /// Every object.
    All,
    /// The objects whose own id is one of these.
    Ids(Vec<i64>),
    /// The objects whose `column` is one of `ids`; with `shared`, also those where it is empty
    /// (the global do-not-call list belongs to every campaign).
    Column { column: &'static str, ids: Vec<i64>, shared: bool },
    /// The objects whose `column` holds the template of one of these campaigns.
    TemplateOf { column: &'static str, campaign_ids: Vec<i64> },
}

/// Names and labels that a key reading leads resolves a lead's ids with: no person, price,
/// phone number or URL among them.
const LEAD_LABELS: &[&str] = &[
    "verticals",
    "queue-statuses",
    "queues",
    "contact-hours",
    "lead-qualities",
    "industries",
    "lead-sources",
    "lead-channels",
    "lead-types",
    "lead-stages",
];

/// What a buyer needs to file and understand returns, besides its own buyer and contracts.
const BUYER_LABELS: &[&str] = &["verticals", "return-reasons", "reject-reasons"];

/// The set-up of dialing an archiver may read to choose what to archive (every campaign, as it
/// reads every lead); not dispositions, whose actions carry webhook URLs.
const ARCHIVER_SETUP: &[&str] = &["campaigns", "allocations", "campaign-templates"];

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Buyer { .. } => "buyer",
            Role::Dialer { .. } => "dialer",
            Role::Archiver => "archiver",
            Role::ReadOnly => "readonly",
        }
    }

    /// Builds a role from its stored parts, checking the scope it needs.
    pub fn from_parts(name: &str, buyer_id: Option<i64>, campaign_ids: Vec<i64>) -> Result<Role, DomainError> {
        match (name, buyer_id) {
            ("admin", None) => Ok(Role::Admin),
            ("archiver", None) => Ok(Role::Archiver),
            ("readonly", None) => Ok(Role::ReadOnly),
            ("buyer", Some(id)) if id > 0 => Ok(Role::Buyer { buyer_id: id }),
            ("buyer", _) => Err(DomainError::new("buyer_id", "a buyer key needs the id of its buyer")),
            ("dialer", None) if !campaign_ids.is_empty() && campaign_ids.iter().all(|&c| c > 0) => {
                Ok(Role::Dialer { campaign_ids })
            }
            ("dialer", None) => Err(DomainError::new("campaign_ids", "a dialer key needs at least one campaign id")),
            ("admin" | "archiver" | "readonly" | "dialer", Some(_)) => {
                Err(DomainError::new("buyer_id", "only a buyer key has a buyer"))
            }
            _ => Err(DomainError::new(
                "role",
                format!("`{name}` is not one of admin, buyer, dialer, archiver, readonly"),
            )),
        }
    }

    pub fn buyer_id(&self) -> Option<i64> {
        match self {
            Role::Buyer { buyer_id } => Some(*buyer_id),
            _ => None,
        }
    }

    pub fn campaign_ids(&self) -> &[i64] {
        match self {
            Role::Dialer { campaign_ids } => campaign_ids,
            _ => &[],
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Role::Admin)
    }

    /// Which objects of `collection` this key may read. Every role names what it may read;
    /// a collection a role does not name (a new one included) is denied to it.
    pub fn catalog_scope(&self, collection: &str) -> CatalogScope {
        if crate::catalog::collection(collection).is_none() {
            return CatalogScope::Denied;
        }
        match self {
            // Keys are not a catalog collection: reading everything here leaves them out.
            Role::Admin | Role::ReadOnly => CatalogScope::All,
            Role::Archiver if LEAD_LABELS.contains(&collection) || ARCHIVER_SETUP.contains(&collection) => {
                CatalogScope::All
            }
            Role::Archiver => CatalogScope::Denied,
            Role::Buyer { buyer_id } => match collection {
                "buyers" => CatalogScope::Ids(vec![*buyer_id]),
                "buyer-contracts" => CatalogScope::Column { column: "buyer_id", ids: vec![*buyer_id], shared: false },
                c if BUYER_LABELS.contains(&c) => CatalogScope::All,
                _ => CatalogScope::Denied,
            },
            Role::Dialer { campaign_ids } => {
                let ids = campaign_ids.clone();
                match collection {
                    "campaigns" => CatalogScope::Ids(ids),
                    "allocations" => CatalogScope::Column { column: "campaign_id", ids, shared: false },
                    "campaign-templates" => CatalogScope::TemplateOf { column: "id", campaign_ids: ids },
                    "dispositions" => CatalogScope::TemplateOf { column: "template_id", campaign_ids: ids },
                    "dnc" => CatalogScope::Column { column: "campaign_id", ids, shared: true },
                    c if LEAD_LABELS.contains(&c) => CatalogScope::All,
                    _ => CatalogScope::Denied,
                }
            }
        }
    }

    pub fn can_read_catalog(&self, collection: &str) -> bool {
        self.catalog_scope(collection) != CatalogScope::Denied
    }

    pub fn lead_scope(&self) -> LeadScope {
        match self {
            Role::Admin | Role::Archiver | Role::ReadOnly => LeadScope::All,
            Role::Dialer { campaign_ids } => LeadScope::Campaigns(campaign_ids.clone()),
            Role::Buyer { buyer_id } => LeadScope::BoughtBy(*buyer_id),
        }
    }

    /// Whether this key may create or change a lead that is (or will be) in `campaign_id`.
    pub fn can_write_lead_in(&self, campaign_id: Option<i64>) -> bool {
        match self {
            Role::Admin => true,
            Role::Dialer { campaign_ids } => campaign_id.is_some_and(|c| campaign_ids.contains(&c)),
            _ => false,
        }
    }
}

/// An API key as it is kept and listed: never its secret, nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The secret's first characters, to tell keys apart.
    pub prefix: String,
    pub role: String,
    pub buyer_id: Option<i64>,
    pub campaign_ids: Vec<i64>,
    pub created_at: jiff::Timestamp,
    pub expires_at: Option<jiff::Timestamp>,
    pub revoked_at: Option<jiff::Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_needs_exactly_its_scope() {
        assert_eq!(Role::from_parts("buyer", Some(4), vec![]).unwrap(), Role::Buyer { buyer_id: 4 });
        assert_eq!(Role::from_parts("buyer", None, vec![]).unwrap_err().field, "buyer_id");
        assert_eq!(Role::from_parts("dialer", None, vec![]).unwrap_err().field, "campaign_ids");
        assert_eq!(Role::from_parts("admin", Some(1), vec![]).unwrap_err().field, "buyer_id");
        assert_eq!(Role::from_parts("root", None, vec![]).unwrap_err().field, "role");
    }

    #[test]
    fn a_dialer_reads_its_campaigns_set_up_and_no_people_prices_or_other_campaigns() {
        let dialer = Role::Dialer { campaign_ids: vec![3] };
        for denied in ["contacts", "companies", "buyers", "buyer-contracts", "users", "return-reasons"] {
            assert_eq!(dialer.catalog_scope(denied), CatalogScope::Denied, "{denied}");
        }
        assert_eq!(dialer.catalog_scope("campaigns"), CatalogScope::Ids(vec![3]));
        assert_eq!(
            dialer.catalog_scope("dispositions"),
            CatalogScope::TemplateOf { column: "template_id", campaign_ids: vec![3] }
        );
        assert_eq!(
            dialer.catalog_scope("dnc"),
            CatalogScope::Column { column: "campaign_id", ids: vec![3], shared: true }
        );
        assert_eq!(dialer.catalog_scope("queue-statuses"), CatalogScope::All);
    }

    #[test]
    fn a_buyer_reads_only_its_own_buyer_and_contracts() {
        let buyer = Role::Buyer { buyer_id: 7 };
        assert_eq!(buyer.catalog_scope("buyers"), CatalogScope::Ids(vec![7]));
        assert_eq!(
            buyer.catalog_scope("buyer-contracts"),
            CatalogScope::Column { column: "buyer_id", ids: vec![7], shared: false }
        );
        for denied in ["contacts", "campaigns", "dispositions", "dnc", "queues"] {
            assert_eq!(buyer.catalog_scope(denied), CatalogScope::Denied, "{denied}");
        }
    }

    #[test]
    fn every_role_decides_every_collection_and_denies_unknown_ones() {
        let roles = [
            Role::Admin,
            Role::ReadOnly,
            Role::Archiver,
            Role::Buyer { buyer_id: 1 },
            Role::Dialer { campaign_ids: vec![1] },
        ];
        for role in &roles {
            assert_eq!(role.catalog_scope("api-keys"), CatalogScope::Denied);
        }
        for c in crate::catalog::COLLECTIONS {
            assert_eq!(Role::ReadOnly.catalog_scope(c.name), CatalogScope::All);
        }
        assert_eq!(Role::Archiver.catalog_scope("contacts"), CatalogScope::Denied);
        assert_eq!(Role::Archiver.catalog_scope("dispositions"), CatalogScope::Denied);
        assert_eq!(Role::Archiver.catalog_scope("campaigns"), CatalogScope::All);
    }

    #[test]
    fn only_admins_and_own_campaign_dialers_write_leads() {
        let dialer = Role::Dialer { campaign_ids: vec![3] };
        assert!(dialer.can_write_lead_in(Some(3)));
        assert!(!dialer.can_write_lead_in(Some(4)));
        assert!(!dialer.can_write_lead_in(None));
        assert!(!Role::ReadOnly.can_write_lead_in(Some(3)));
        assert!(!Role::Buyer { buyer_id: 1 }.can_write_lead_in(Some(3)));
        assert!(Role::Admin.can_write_lead_in(None));
    }
}
