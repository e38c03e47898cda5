//! A lead's history: every change, with who made it, through which API, and each field's old
//! and new value.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::lead::columns::COLUMNS;
use crate::lead::Lead;

/// Which edge a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Native,
    Cake,
    Noojee,
    Ivvy,
    Vicidial,
    Cli,
    Console,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Native => "native",
            Api::Cake => "cake",
            Api::Noojee => "noojee",
            Api::Ivvy => "ivvy",
            Api::Vicidial => "vicidial",
            Api::Cli => "cli",
            Api::Console => "console",
        }
    }
}

/// Who is acting: the API key (none for the CLI) and the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub key_id: Option<i64>,
    pub api: Api,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub old: Value,
    pub new: Value,
}

/// Field name → old and new value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Changes(BTreeMap<String, FieldChange>);

/// Bookkeeping that moves with every change and so is not itself history.
#[cfg(test)]
const NOT_HISTORY: &[&str] = &["version", "updated_at", "created_at"];

/// A value a new lead's history leaves out: nothing set.
fn is_empty(value: &Value) -> bool {
    value.is_null() || value.as_array().is_some_and(|a| a.is_empty()) || value.as_object().is_some_and(|o| o.is_empty())
}

impl Changes {
    /// Field-by-field difference; `old` is `None` for a new lead (every set field is recorded).
    /// Fields are named as a lead serializes; only the fields that differ are turned into JSON,
    /// since this runs inside every lead write.
    pub fn between(old: Option<&Lead>, new: &Lead) -> Changes {
        let mut changes = BTreeMap::new();
        let mut note = |name: &str, before: Option<Value>, after: Value| {
            let before = before.unwrap_or(Value::Null);
            if before != after && (old.is_some() || !is_empty(&after)) {
                changes.insert(name.to_string(), FieldChange { old: before, new: after });
            }
        };
        // The id is the lead's key rather than one of its columns; a new lead's history names it.
        if old.is_none_or(|old| old.id != new.id) {
            note("id", old.map(|old| Value::from(old.id)), Value::from(new.id));
        }
        for column in COLUMNS.iter().filter(|c| c.in_history) {
            let after = (column.get)(new);
            let before = old.map(|old| (column.get)(old));
            if before != Some(after) {
                note(column.name, before.map(|b| b.to_json()), after.to_json());
            }
        }
        Changes(changes)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, field: &str) -> Option<&FieldChange> {
        self.0.get(field)
    }

    pub fn insert(&mut self, field: impl Into<String>, old: Value, new: Value) {
        self.0.insert(field.into(), FieldChange { old, new });
    }
}

/// One row of a lead's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub id: i64,
    pub lead_id: i64,
    pub at: Timestamp,
    pub key_id: Option<i64>,
    pub api: String,
    pub action: String,
    /// Field name → `{old, new}`.
    #[schema(value_type = Object)]
    pub changes: Value,
}

impl HistoryEntry {
    /// Whether a buyer of the lead, whose own sales of it are `own_sales`, may read this entry.
    /// A lead can be sold to several buyers: each sees the lead's own changes and its own sales
    /// and returns, not another buyer's sale (its contract and price) or return, nor the
    /// call-center fees the operator paid for the lead. An entry about a sale or a return that
    /// cannot be tied to one of `own_sales` is withheld.
    pub fn concerns_buyer(&self, own_sales: &[i64]) -> bool {
        let new_id = |field: &str, key: &str| {
            self.changes.get(field).and_then(|c| c.get("new")).and_then(|n| n.get(key)).and_then(Value::as_i64)
        };
        let own = |sale: Option<i64>| sale.is_some_and(|id| own_sales.contains(&id));
        if self.changes.get("call_center_fee").is_some() {
            return false;
        }
        let about_sale = self.action.starts_with("sell") || self.changes.get("sale").is_some();
        if about_sale && !own(new_id("sale", "id")) {
            return false;
        }
        let about_return = self.action.starts_with("return:") || self.changes.get("return").is_some();
        !about_return || own(new_id("return", "sale_id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::LeadInput;

    fn entry(action: &str, changes: Value) -> HistoryEntry {
        HistoryEntry {
            id: 1,
            lead_id: 1,
            at: Timestamp::from_second(1_700_000_000).unwrap(),
            key_id: None,
            api: "native".into(),
            action: action.into(),
            changes,
        }
    }

    #[test]
    fn a_buyer_reads_the_leads_changes_and_its_own_sales_and_returns_only() {
        use serde_json::json;
        let own = [5];
        let update = entry("update", json!({"city": {"old": null, "new": "Perth"}}));
        assert!(update.concerns_buyer(&own));
        let sale = |id: i64| json!({"sale": {"old": null, "new": {"id": id, "buyer_contract_id": 2, "price": "9.00"}}});
        assert!(entry("sell", sale(5)).concerns_buyer(&own));
        assert!(!entry("sell", sale(6)).concerns_buyer(&own));
        assert!(!entry("sell:replacement", sale(6)).concerns_buyer(&own));
        assert!(!entry("queue:refer_to_buyer", sale(6)).concerns_buyer(&own));
        let ret = |sale: i64| json!({"return": {"old": null, "new": {"id": 3, "status": "pending", "sale_id": sale}}});
        assert!(entry("return:pending", ret(5)).concerns_buyer(&own));
        assert!(!entry("return:approved_credit", ret(6)).concerns_buyer(&own));
        // Fees are the operator's business; a sale or return entry with no readable sale is withheld.
        let fee = json!({"call_center_fee": {"old": null, "new": {"ledger_id": 1, "amount": "2.00"}}});
        assert!(!entry("queue:add_call_center_fee", fee).concerns_buyer(&own));
        assert!(!entry("sell", json!({})).concerns_buyer(&own));
        assert!(!entry("return:rejected", json!({"return": {"new": {"id": 3}}})).concerns_buyer(&own));
    }

    /// What `between` must equal: both leads as JSON objects, compared key by key.
    fn by_json(old: Option<&Lead>, new: &Lead) -> Changes {
        let as_map = |lead: &Lead| match serde_json::to_value(lead) {
            Ok(Value::Object(map)) => map,
            _ => unreachable!("a lead serializes to an object"),
        };
        let old_map = old.map(as_map).unwrap_or_default();
        let mut changes = BTreeMap::new();
        for (key, value) in as_map(new) {
            let before = old_map.get(&key).cloned().unwrap_or(Value::Null);
            if !NOT_HISTORY.contains(&key.as_str()) && before != value && (old.is_some() || !is_empty(&value)) {
                changes.insert(key, FieldChange { old: before, new: value });
            }
        }
        Changes(changes)
    }

    #[test]
    fn between_names_and_values_every_changed_field_as_the_leads_json_does() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let input: LeadInput = serde_json::from_value(serde_json::json!({
            "name": "Ann", "phones": ["0398765432"], "city": "Perth", "fields": {"Colour": "red"}
        }))
        .unwrap();
        let base = Lead::create("ABCDEFGHJK".into(), input, now).unwrap();
        assert_eq!(Changes::between(None, &base), by_json(None, &base));
        assert!(
            Changes::between(None, &base).get("ref").is_some() && Changes::between(None, &base).get("email").is_none()
        );
        let mut variants = Vec::new();
        let mut lead = base.clone();
        lead.lead_ref = "ZZZZZZZZZZ".into();
        variants.push(lead);
        let mut lead = base.clone();
        lead.city = None;
        lead.email = Some("a@b.c".into());
        lead.priority = 3;
        variants.push(lead);
        let mut lead = base.clone();
        lead.fields.insert("Colour".into(), Value::from("blue"));
        lead.phones.clear();
        lead.closed = true;
        lead.callback_at = Some(now);
        variants.push(lead);
        let mut lead = base.clone();
        lead.version += 1;
        lead.updated_at = Timestamp::from_second(1_800_000_000).unwrap();
        variants.push(lead);
        for next in &variants {
            assert_eq!(Changes::between(Some(&base), next), by_json(Some(&base), next));
            assert_eq!(Changes::between(Some(next), &base), by_json(Some(next), &base));
        }
        assert!(Changes::between(Some(&base), &variants[3]).is_empty(), "bookkeeping is not history");
    }
}
