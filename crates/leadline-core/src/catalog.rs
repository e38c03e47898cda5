//! The reference collections (verticals, queues, campaigns, buyers, …) described as data.
//!
//! Each collection is a table of typed fields. One description drives validation, storage,
//! the native API, the OpenAPI document and `leadline apply`, so a new collection is one entry
//! here and one table in each backend's migrations.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::money::Money;
use crate::phone::Phone;
use crate::schedule::{parse_zone, validate_windows, Window};
use crate::DomainError;

/// What a field holds, and so how it is checked, stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Non-empty text of at most 200 characters.
    Name,
    /// Free text of at most 2,000 characters.
    Text,
    /// The id of an object in the named collection.
    Ref(&'static str),
    Bool,
    /// A decimal string with at most two decimals; stored in minor units.
    Money,
    /// A whole number of at least zero.
    Count,
    /// An IANA time zone name.
    Timezone,
    OneOf(&'static [&'static str]),
    Phone,
    Email,
    /// `[{day, start, end}]`
    Schedule,
    /// `[{name, kind}]`
    TemplateFields,
    /// `[{type, …}]`, see [`DispositionAction`].
    DispositionActions,
    /// `[{id, name}]`
    IdNameList,
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// JSON text used when a create leaves the field out.
    pub default: Option<&'static str>,
}

#[derive(Debug)]
pub struct Collection {
    /// The URL segment and catalog-file key, e.g. `queue-statuses`.
    pub name: &'static str,
    pub table: &'static str,
    /// One object's noun for messages, e.g. `queue status`.
    pub noun: &'static str,
    pub fields: &'static [Field],
}

/// A value as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
}

/// A checked object ready to store: its id if one was chosen, and one value per field, in the
/// order of [`Collection::fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: Option<i64>,
    pub values: Vec<SqlValue>,
}

const fn field(name: &'static str, kind: Kind, required: bool) -> Field {
    Field { name, column: name, kind, required, default: None }
}
const fn name() -> Field {
    field("name", Kind::Name, true)
}
const fn defaulted(name: &'static str, kind: Kind, default: &'static str) -> Field {
    Field { name, column: name, kind, required: false, default: Some(default) }
}
const NAME_ONLY: &[Field] = &[name()];
const fn named(name: &'static str, table: &'static str, noun: &'static str) -> Collection {
    Collection { name, table, noun, fields: NAME_ONLY }
}

pub const QUEUE_KINDS: &[&str] = &["call_center", "review", "custom"];
pub const TEMPLATE_FIELD_KINDS: &[&str] = &["text", "phone", "date", "number", "email"];
/// Countries whose phone numbering the dialer knows (see `dialer::PHONE_COUNTRIES`).
pub const PHONE_COUNTRY_CODES: &[&str] = &["AU", "NZ", "GB", "IE", "US", "CA"];

/// Every collection, parents before children: `apply` writes in this order and deletes are
/// checked against the children listed after a collection.
pub static COLLECTIONS: &[Collection] = &[
    named("verticals", "verticals", "vertical"),
    named("queue-statuses", "queue_statuses", "queue status"),
    Collection {
        name: "queues",
        table: "queues",
        noun: "queue",
        fields: &[
            name(),
            field("kind", Kind::OneOf(QUEUE_KINDS), true),
            field("vertical_id", Kind::Ref("verticals"), false),
        ],
    },
    Collection {
        name: "contact-hours",
        table: "contact_hours",
        noun: "contact hours",
        fields: &[name(), field("timezone", Kind::Timezone, true), defaulted("schedule", Kind::Schedule, "[]")],
    },
    Collection {
        name: "campaign-templates",
        table: "campaign_templates",
        noun: "campaign template",
        fields: &[
            name(),
            defaulted("fields", Kind::TemplateFields, "[]"),
            field("contact_hours_id", Kind::Ref("contact-hours"), false),
            field("phone_country", Kind::OneOf(PHONE_COUNTRY_CODES), false),
        ],
    },
    Collection {
        name: "dispositions",
        table: "dispositions",
        noun: "disposition",
        fields: &[
            field("template_id", Kind::Ref("campaign-templates"), true),
            field("code", Kind::Name, true),
            defaulted("closes_lead", Kind::Bool, "false"),
            defaulted("actions", Kind::DispositionActions, "[]"),
        ],
    },
    Collection {
        name: "campaigns",
        table: "campaigns",
        noun: "campaign",
        fields: &[field("template_id", Kind::Ref("campaign-templates"), true), name()],
    },
    Collection {
        name: "allocations",
        table: "allocations",
        noun: "allocation",
        fields: &[field("campaign_id", Kind::Ref("campaigns"), true), name(), defaulted("active", Kind::Bool, "true")],
    },
    Collection {
        name: "dnc",
        table: "dnc",
        noun: "DNC entry",
        fields: &[field("phone", Kind::Phone, true), field("campaign_id", Kind::Ref("campaigns"), false)],
    },
    named("buyers", "buyers", "buyer"),
    Collection {
        name: "buyer-contracts",
        table: "buyer_contracts",
        noun: "buyer contract",
        fields: &[
            field("buyer_id", Kind::Ref("buyers"), true),
            field("vertical_id", Kind::Ref("verticals"), true),
            name(),
            Field { name: "price", column: "price_minor", kind: Kind::Money, required: true, default: None },
            field("max_return_age_days", Kind::Count, false),
            defaulted("replace_returns", Kind::Bool, "false"),
        ],
    },
    named("return-reasons", "return_reasons", "return reason"),
    named("reject-reasons", "reject_reasons", "reject reason"),
    named("lead-qualities", "lead_qualities", "lead quality"),
    named("industries", "industries", "industry"),
    named("lead-sources", "lead_sources", "lead source"),
    named("lead-channels", "lead_channels", "lead channel"),
    named("users", "users", "user"),
    Collection {
        name: "lead-types",
        table: "lead_types",
        noun: "lead type",
        fields: &[name(), defaulted("subtypes", Kind::IdNameList, "[]")],
    },
    Collection {
        name: "lead-stages",
        table: "lead_stages",
        noun: "lead stage",
        fields: &[name(), defaulted("reasons", Kind::IdNameList, "[]")],
    },
    named("companies", "companies", "company"),
    Collection {
        name: "contacts",
        table: "contacts",
        noun: "contact",
        fields: &[name(), field("email", Kind::Email, false), field("company_id", Kind::Ref("companies"), false)],
    },
];

pub fn collection(name: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.name == name)
}

/// A field of a campaign template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateField {
    pub name: String,
    pub kind: String,
}

/// What a disposition does when a lead is given it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DispositionAction {
    Close,
    Callback { after_minutes: u32 },
    Dnc,
    CopyToAllocation { allocation_id: i64 },
    MoveToAllocation { allocation_id: i64 },
    Url { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

fn type_error(expected: &str) -> DomainError {
    DomainError::new("", format!("must be {expected}"))
}

fn parse_json_list<T: for<'de> Deserialize<'de>>(value: &Value, shape: &str) -> Result<Vec<T>, DomainError> {
    let items = value.as_array().ok_or_else(|| type_error(&format!("a list of {shape}")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| T::deserialize(item).map_err(|e| DomainError::new(format!("[{i}]"), e.to_string())))
        .collect()
}

fn check_name(text: &str, max: usize) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        return Err(DomainError::new("", "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(DomainError::new("", format!("must be at most {max} characters")));
    }
    Ok(())
}

pub fn check_email(text: &str) -> Result<(), DomainError> {
    let valid = text.len() <= 254
        && matches!(text.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !text.chars().any(|c| c.is_whitespace());
    if valid {
        Ok(())
    } else {
        Err(DomainError::new("", format!("`{text}` is not an email address")))
    }
}

impl Kind {
    /// Checks a JSON value for this kind and turns it into what the store keeps.
    pub fn parse(self, value: &Value) -> Result<SqlValue, DomainError> {
        let text = || match value.as_str() {
            Some(t) if t.contains('\0') => Err(DomainError::holds_nul("")),
            Some(t) => Ok(t),
            None => Err(type_error("a string")),
        };
        Ok(match self {
            Kind::Name => {
                let t = text()?;
                check_name(t, 200)?;
                SqlValue::Text(t.to_string())
            }
            Kind::Text => {
                let t = text()?;
                if t.chars().count() > 2000 {
                    return Err(DomainError::new("", "must be at most 2000 characters"));
                }
                SqlValue::Text(t.to_string())
            }
            Kind::Ref(_) => match value.as_i64() {
                Some(id) if id > 0 => SqlValue::Int(id),
                _ => return Err(type_error("a positive integer id")),
            },
            Kind::Count => match value.as_i64() {
                Some(n) if n >= 0 => SqlValue::Int(n),
                _ => return Err(type_error("a whole number of at least 0")),
            },
            Kind::Bool => SqlValue::Bool(value.as_bool().ok_or_else(|| type_error("true or false"))?),
            Kind::Money => SqlValue::Int(Money::parse(text()?)?.minor()),
            Kind::Timezone => {
                let t = text()?;
                parse_zone(t)?;
                SqlValue::Text(t.to_string())
            }
            Kind::OneOf(options) => {
                let t = text()?;
                if !options.contains(&t) {
                    return Err(DomainError::new("", format!("`{t}` is not one of {}", options.join(", "))));
                }
                SqlValue::Text(t.to_string())
            }
            Kind::Phone => SqlValue::Text(Phone::parse(text()?)?.as_str().to_string()),
            Kind::Email => {
                let t = text()?;
                check_email(t)?;
                SqlValue::Text(t.to_string())
            }
            Kind::Schedule => {
                let windows: Vec<Window> = parse_json_list(value, "{day, start, end} windows")?;
                validate_windows(&windows)?;
                SqlValue::Text(serde_json::to_string(&windows).expect("windows serialize"))
            }
            Kind::TemplateFields => {
                let fields: Vec<TemplateField> = parse_json_list(value, "{name, kind} fields")?;
                for (i, f) in fields.iter().enumerate() {
                    let at = |e: DomainError| e.within(&format!("[{i}]"));
                    check_name(&f.name, 100).map_err(|e| at(e.within("name")))?;
                    Kind::OneOf(TEMPLATE_FIELD_KINDS)
                        .parse(&Value::from(f.kind.as_str()))
                        .map_err(|e| at(e.within("kind")))?;
                    if fields[..i].iter().any(|other| other.name == f.name) {
                        return Err(at(DomainError::new("name", format!("`{}` is listed twice", f.name))));
                    }
                }
                SqlValue::Text(serde_json::to_string(&fields).expect("fields serialize"))
            }
            Kind::DispositionActions => {
                let actions: Vec<DispositionAction> = parse_json_list(value, "actions")?;
                for (i, action) in actions.iter().enumerate() {
                    if let DispositionAction::Url { url } = action {
                        check_webhook_url(url).map_err(|message| DomainError::new(format!("[{i}].url"), message))?;
                    }
                }
                SqlValue::Text(serde_json::to_string(&actions).expect("actions serialize"))
            }
            Kind::IdNameList => {
                let items: Vec<IdName> = parse_json_list(value, "{id, name} items")?;
                for (i, item) in items.iter().enumerate() {
                    if item.id <= 0 {
                        return Err(DomainError::new(format!("[{i}].id"), "must be a positive integer"));
                    }
                    check_name(&item.name, 200).map_err(|e| e.within(&format!("[{i}].name")))?;
                    if items[..i].iter().any(|other| other.id == item.id) {
                        return Err(DomainError::new(format!("[{i}].id"), format!("id {} is listed twice", item.id)));
                    }
                }
                SqlValue::Text(serde_json::to_string(&items).expect("items serialize"))
            }
        })
    }

    /// Shows a stored value as the API writes it.
    pub fn show(self, value: &SqlValue) -> Value {
        match (self, value) {
            (_, SqlValue::Null) => Value::Null,
            (Kind::Money, SqlValue::Int(minor)) => Value::from(Money::from_minor(*minor).to_string()),
            (_, SqlValue::Int(n)) => Value::from(*n),
            (_, SqlValue::Bool(b)) => Value::from(*b),
            (
                Kind::Schedule | Kind::TemplateFields | Kind::DispositionActions | Kind::IdNameList,
                SqlValue::Text(json),
            ) => serde_json::from_str(json).unwrap_or(Value::Null),
            (_, SqlValue::Text(t)) => Value::from(t.as_str()),
        }
    }
}

/// Checks a client-chosen id.
pub fn parse_id(value: &Value) -> Result<i64, DomainError> {
    match value.as_i64() {
        Some(id) if id > 0 => Ok(id),
        _ => Err(DomainError::new("id", "must be a positive integer")),
    }
}

impl Collection {
    pub fn field(&'static self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks a whole object (a create, an `apply` entry, or a PATCH merged onto the current
    /// object). Unknown fields are refused so a typo never passes silently.
    pub fn parse(&self, object: &Map<String, Value>) -> Result<Record, DomainError> {
        for key in object.keys() {
            if key != "id" && !self.fields.iter().any(|f| f.name == key) {
                let known: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
                return Err(DomainError::new(
                    key.as_str(),
                    format!("unknown field; a {} has id, {}", self.noun, known.join(", ")),
                ));
            }
        }
        let id = object.get("id").filter(|v| !v.is_null()).map(parse_id).transpose()?;
        let values = self
            .fields
            .iter()
            .map(|f| {
                let given = object.get(f.name).filter(|v| !v.is_null());
                match (given, f.default) {
                    (Some(value), _) => f.kind.parse(value).map_err(|e| e.within(f.name)),
                    (None, Some(default)) => {
                        let value: Value = serde_json::from_str(default).expect("defaults are valid JSON");
                        f.kind.parse(&value).map_err(|e| e.within(f.name))
                    }
                    (None, None) if f.required => Err(DomainError::new(f.name, "is required")),
                    (None, None) => Ok(SqlValue::Null),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Record { id, values })
    }

    /// The object as the API shows it.
    pub fn show(&self, id: i64, values: &[SqlValue]) -> Value {
        let mut object = Map::with_capacity(self.fields.len() + 1);
        object.insert("id".into(), Value::from(id));
        for (f, value) in self.fields.iter().zip(values) {
            object.insert(f.name.into(), f.kind.show(value));
        }
        Value::Object(object)
    }

    /// Fields of other collections that point at this one.
    pub fn referrers(&'static self) -> impl Iterator<Item = (&'static Collection, &'static Field)> {
        COLLECTIONS
            .iter()
            .flat_map(move |c| c.fields.iter().filter(move |f| f.kind == Kind::Ref(self.name)).map(move |f| (c, f)))
    }
}

/// A webhook URL template: `http://` or `https://`, then a host (and port) written out, with
/// `${field}` allowed only after them, in the path, query or fragment. A lead's data must not
/// choose where the call goes.
fn check_webhook_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must be an http:// or https:// URL")?;
    let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
    if authority.is_empty() {
        return Err("must name a host after http:// or https://");
    }
    if authority.contains("${") {
        return Err("may use ${field} only in the path and query, not in the host or port");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_reference_points_at_an_earlier_collection() {
        for (index, c) in COLLECTIONS.iter().enumerate() {
            for f in c.fields {
                if let Kind::Ref(target) = f.kind {
                    let at = COLLECTIONS.iter().position(|t| t.name == target);
                    assert!(matches!(at, Some(t) if t < index), "{}.{} -> {target}", c.name, f.name);
                }
            }
        }
    }

    #[test]
    fn a_contract_parses_its_price_exactly_and_fills_defaults() {
        let contracts = collection("buyer-contracts").unwrap();
        let record = contracts
            .parse(&object(json!({"id": 7, "buyer_id": 1, "vertical_id": 2, "name": "Solar", "price": "12.50"})))
            .unwrap();
        assert_eq!(record.id, Some(7));
        assert_eq!(record.values[3], SqlValue::Int(1250));
        assert_eq!(record.values[5], SqlValue::Bool(false));
        assert_eq!(contracts.show(7, &record.values)["price"], json!("12.50"));
    }

    #[test]
    fn errors_name_the_field_that_was_wrong() {
        let queues = collection("queues").unwrap();
        let err = queues.parse(&object(json!({"name": "Q", "kind": "sideways"}))).unwrap_err();
        assert_eq!(err.field, "kind");
        let err = queues.parse(&object(json!({"kind": "review"}))).unwrap_err();
        assert_eq!((err.field.as_str(), err.message.as_str()), ("name", "is required"));
        let err = queues.parse(&object(json!({"name": "Q", "kind": "review", "colour": 1}))).unwrap_err();
        assert_eq!(err.field, "colour");
        let hours = collection("contact-hours").unwrap();
        let err = hours
            .parse(&object(
                json!({"name": "H", "timezone": "UTC", "schedule": [{"day": "mon", "start": "9am", "end": "17:00"}]}),
            ))
            .unwrap_err();
        assert_eq!(err.field, "schedule[0].start");
        let dispositions = collection("dispositions").unwrap();
        let err = dispositions
            .parse(&object(json!({"template_id": 1, "code": "SALE", "actions": [{"type": "teleport"}]})))
            .unwrap_err();
        assert_eq!(err.field, "actions[0]");
    }

    #[test]
    fn a_webhook_template_may_not_fill_the_scheme_host_or_port() {
        let dispositions = collection("dispositions").unwrap();
        let with_url = |url: &str| {
            dispositions
                .parse(&object(json!({"template_id": 1, "code": "X", "actions": [{"type": "url", "url": url}]})))
        };
        for url in [
            "http://${host}/hook",
            "https://${sub}.example.com/hook",
            "https://example.com:${port}/hook",
            "https://example.com${path}",
            "https://user:${pw}@example.com/hook",
        ] {
            let err = with_url(url).unwrap_err();
            assert_eq!(err.field, "actions[0].url", "{url}");
            assert!(err.message.contains("not in the host or port"), "{url}: {}", err.message);
        }
        for (url, says) in [("${scheme}://example.com/", "http:// or https://"), ("https:///hook", "must name a host")]
        {
            assert!(with_url(url).unwrap_err().message.contains(says), "{url}");
        }
        for url in ["https://example.com/hook?id=${id}&name=${name}", "http://hooks.example.com:8080/${id}#${ref}"] {
            assert!(with_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn dnc_phones_are_normalized() {
        let dnc = collection("dnc").unwrap();
        let record = dnc.parse(&object(json!({"phone": "+61 (2) 9999-0000"}))).unwrap();
        assert_eq!(record.values[0], SqlValue::Text("61299990000".into()));
    }
}
