//! A lead's history: every change, with who made it, through which API, and each field's old
//! and new value.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

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
const NOT_HISTORY: &[&str] = &["version", "updated_at", "created_at"];

impl Changes {
    /// Field-by-field difference; `old` is `None` for a new lead (every set field is recorded).
    pub fn between(old: Option<&Lead>, new: &Lead) -> Changes {
        let as_map = |lead: &Lead| match serde_json::to_value(lead) {
            Ok(Value::Object(map)) => map,
            _ => unreachable!("a lead serializes to an object"),
        };
        let new_map = as_map(new);
        let old_map = old.map(as_map).unwrap_or_default();
        let mut changes = BTreeMap::new();
        for (key, new_value) in new_map {
            if NOT_HISTORY.contains(&key.as_str()) {
                continue;
            }
            let old_value = old_map.get(&key).cloned().unwrap_or(Value::Null);
            let empty = |v: &Value| {
                v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) || v.as_object().is_some_and(|o| o.is_empty())
            };
            if old_value != new_value && !(old.is_none() && empty(&new_value)) {
                changes.insert(key, FieldChange { old: old_value, new: new_value });
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
