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

/// Collections a buyer key may read: what it needs to file and understand returns.
const BUYER_READABLE: &[&str] = &["verticals", "return-reasons", "reject-reasons"];

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

    pub fn can_read_catalog(&self, collection: &str) -> bool {
        match self {
            Role::Buyer { .. } => BUYER_READABLE.contains(&collection),
            _ => true,
        }
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
