//! The lead: one row of everything Leadline knows about a prospect, and the rules for creating
//! and changing it.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::catalog::check_email;
use crate::history::Changes;
use crate::phone::Phone;
use crate::DomainError;

pub mod columns;

/// Default dialing priority (lower is dialed sooner).
pub const DEFAULT_PRIORITY: i64 = 10;
/// The alphabet of public lead refs: upper-case letters and digits without 0/O and 1/I.
pub const REF_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
pub const REF_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Lead {
    pub id: i64,
    /// The lead's public ref (CAKE's lead id): eight characters of an alphabet without 0, O, 1
    /// and I; the first three count the second the lead was made in, the other five are random.
    #[serde(rename = "ref")]
    pub lead_ref: String,
    pub external_id: Option<String>,
    pub vertical_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub allocation_id: Option<i64>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Normalized to digits, in dialing order.
    #[schema(value_type = Vec<String>)]
    pub phones: Vec<Phone>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// Template and custom fields by name.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    // Dialer state.
    pub disposition: Option<String>,
    pub callback_at: Option<Timestamp>,
    pub priority: i64,
    pub contact_hours_id: Option<i64>,
    pub dial_count: i64,
    pub last_dialed_at: Option<Timestamp>,
    pub lock_holder: Option<String>,
    pub lock_until: Option<Timestamp>,
    pub closed: bool,
    // Call-center queue state.
    pub queue_id: Option<i64>,
    pub queue_status_id: Option<i64>,
    pub thrown_out: bool,
    // CRM state.
    pub quality_id: Option<i64>,
    pub industry_id: Option<i64>,
    pub source_id: Option<i64>,
    pub company_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub company_lead_contact_id: Option<i64>,
    pub owner_user_id: Option<i64>,
    pub type_id: Option<i64>,
    pub subtype_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub stage_reason_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Reads a field that may be absent (leave as is), `null` (clear) or a value (set).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The fields a client may write, for a create or a change. Absent fields are left alone;
/// `null` clears a field. Dialer bookkeeping (dial count, locks) and the version are not here:
/// only their own use cases move them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub vertical_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub campaign_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub allocation_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default)]
    pub phones: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub address1: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub state: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub postal_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub country: Option<Option<String>>,
    /// Merged into the lead's fields; a `null` value removes that field.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    pub disposition: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub callback_at: Option<Option<Timestamp>>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub contact_hours_id: Option<Option<i64>>,
    #[serde(default)]
    pub closed: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub queue_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub queue_status_id: Option<Option<i64>>,
    #[serde(default)]
    pub thrown_out: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub quality_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub industry_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub source_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub company_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub contact_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub company_lead_contact_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub owner_user_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub type_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub subtype_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub stage_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub stage_reason_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub channel_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
}

const MAX_TEXT: usize = 500;
const MAX_PHONES: usize = 10;
const MAX_FIELDS: usize = 200;

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, DomainError> {
    match value {
        Some(t) if t.chars().count() > max => Err(DomainError::new(field, format!("must be at most {max} characters"))),
        Some(t) if t.contains('\0') => Err(DomainError::holds_nul(field)),
        other => Ok(other),
    }
}

fn id(field: &str, value: Option<i64>) -> Result<Option<i64>, DomainError> {
    match value {
        Some(n) if n <= 0 => Err(DomainError::new(field, "must be a positive integer id")),
        other => Ok(other),
    }
}

/// Whether `text` is a well-formed lead ref (the shape, not whether such a lead exists).
pub fn is_ref(text: &str) -> bool {
    text.len() == REF_LEN && text.bytes().all(|b| REF_ALPHABET.contains(&b))
}

/// Characters of a ref that count the second it was drawn in; the rest are random.
pub const REF_CLOCK_LEN: usize = 3;
pub const REF_RANDOM_LEN: usize = REF_LEN - REF_CLOCK_LEN;

/// Makes a ref drawn at `at`: three characters from the second (counting from the Unix epoch,
/// wrapping every 32^3 s, about nine hours), then five from random bytes (32^5, about 33.5
/// million, per second). Leads made together then sit together in the ref index, so a list
/// load writes a few pages of it instead of one random page per lead (the way ULIDs and UUIDv7
/// put time first); a ref tells the second it was made in, modulo those nine hours, and nothing
/// else. The caller brings the clock and the randomness: the domain reads neither.
pub fn draw_ref(at: Timestamp, random: [u8; REF_RANDOM_LEN]) -> String {
    let base = REF_ALPHABET.len() as i64;
    let second = at.as_second().rem_euclid(base.pow(REF_CLOCK_LEN as u32));
    let clock = (0..REF_CLOCK_LEN as u32).rev().map(|place| (second / base.pow(place) % base) as usize);
    // 256 is a multiple of 32, so each random byte picks every character equally often.
    let random = random.iter().map(|b| usize::from(*b) % REF_ALPHABET.len());
    clock.chain(random).map(|i| REF_ALPHABET[i] as char).collect()
}

impl Lead {
    /// A lead with nothing set but its ref and times: what a new lead starts from, and what
    /// a lead read back from the store is filled into (see [`columns::assemble`]).
    pub(crate) fn blank(lead_ref: String, now: Timestamp) -> Lead {
        Lead {
            id: 0,
            lead_ref,
            external_id: None,
            vertical_id: None,
            campaign_id: None,
            allocation_id: None,
            name: None,
            first_name: None,
            last_name: None,
            email: None,
            phones: Vec::new(),
            address1: None,
            city: None,
            state: None,
            postal_code: None,
            country: None,
            fields: Map::new(),
            disposition: None,
            callback_at: None,
            priority: DEFAULT_PRIORITY,
            contact_hours_id: None,
            dial_count: 0,
            last_dialed_at: None,
            lock_holder: None,
            lock_until: None,
            closed: false,
            queue_id: None,
            queue_status_id: None,
            thrown_out: false,
            quality_id: None,
            industry_id: None,
            source_id: None,
            company_id: None,
            contact_id: None,
            company_lead_contact_id: None,
            owner_user_id: None,
            type_id: None,
            subtype_id: None,
            stage_id: None,
            stage_reason_id: None,
            channel_id: None,
            description: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// A new lead from a client's input. `id` is `None` when the store will assign it.
    pub fn create(lead_ref: String, input: LeadInput, now: Timestamp) -> Result<Lead, DomainError> {
        if let Some(id) = input.id {
            if id <= 0 {
                return Err(DomainError::new("id", "must be a positive integer"));
            }
        }
        let mut blank = Lead::blank(lead_ref, now);
        blank.id = input.id.unwrap_or(0);
        let mut lead = blank.merged(LeadInput { id: None, ..input })?;
        lead.version = 1;
        Ok(lead)
    }

    /// The lead after a client's change, with the next version, and what changed. An input
    /// that changes nothing returns no changes and the lead as it was (no version bump).
    pub fn change(&self, input: LeadInput, now: Timestamp) -> Result<(Lead, Changes), DomainError> {
        if input.id.is_some() {
            return Err(DomainError::new("id", "a lead's id cannot be changed"));
        }
        let mut next = self.merged(input)?;
        let changes = Changes::between(Some(self), &next);
        if changes.is_empty() {
            return Ok((self.clone(), changes));
        }
        next.version = self.version + 1;
        next.updated_at = now;
        Ok((next, changes))
    }

    fn merged(&self, input: LeadInput) -> Result<Lead, DomainError> {
        let mut lead = self.clone();
        macro_rules! set_text {
            ($($field:ident: $max:expr),*) => {$(
                if let Some(value) = input.$field { lead.$field = text(stringify!($field), value, $max)?; }
            )*};
        }
        macro_rules! set_id {
            ($($field:ident),*) => {$(
                if let Some(value) = input.$field { lead.$field = id(stringify!($field), value)?; }
            )*};
        }
        set_text!(external_id: 100, name: MAX_TEXT, first_name: MAX_TEXT, last_name: MAX_TEXT,
            address1: MAX_TEXT, city: MAX_TEXT, state: MAX_TEXT, postal_code: 20, country: MAX_TEXT,
            disposition: 100, description: 5000);
        set_id!(
            vertical_id,
            campaign_id,
            allocation_id,
            contact_hours_id,
            queue_id,
            queue_status_id,
            quality_id,
            industry_id,
            source_id,
            company_id,
            contact_id,
            company_lead_contact_id,
            owner_user_id,
            type_id,
            subtype_id,
            stage_id,
            stage_reason_id,
            channel_id
        );
        if let Some(external) = &lead.external_id {
            if external.trim().is_empty() {
                return Err(DomainError::new("external_id", "must not be empty; use null to clear it"));
            }
        }
        if let Some(email) = input.email {
            if let Some(e) = &email {
                check_email(e).map_err(|err| err.within("email"))?;
            }
            lead.email = email;
        }
        if let Some(phones) = input.phones {
            if phones.len() > MAX_PHONES {
                return Err(DomainError::new("phones", format!("at most {MAX_PHONES} phones")));
            }
            let mut parsed: Vec<Phone> = Vec::with_capacity(phones.len());
            for (i, p) in phones.iter().enumerate() {
                let phone = Phone::parse(p).map_err(|e| e.within(&format!("phones[{i}]")))?;
                // Keep the first of repeated numbers: order is the dialing order.
                if !parsed.contains(&phone) {
                    parsed.push(phone);
                }
            }
            lead.phones = parsed;
        }
        if let Some(fields) = input.fields {
            for (key, value) in fields {
                if key.is_empty() || key.len() > 100 {
                    return Err(DomainError::new("fields", "field names must be 1 to 100 characters"));
                }
                match value {
                    Value::Null => {
                        lead.fields.remove(&key);
                    }
                    Value::Array(_) | Value::Object(_) => {
                        return Err(DomainError::new(format!("fields.{key}"), "must be a string, number or boolean"))
                    }
                    scalar => {
                        lead.fields.insert(key, scalar);
                    }
                }
            }
            if lead.fields.len() > MAX_FIELDS {
                return Err(DomainError::new("fields", format!("at most {MAX_FIELDS} fields")));
            }
        }
        if let Some(callback_at) = input.callback_at {
            lead.callback_at = callback_at;
        }
        if let Some(priority) = input.priority {
            if !(0..=100).contains(&priority) {
                return Err(DomainError::new("priority", "must be between 0 and 100 (lower is dialed sooner)"));
            }
            lead.priority = priority;
        }
        if let Some(closed) = input.closed {
            lead.closed = closed;
        }
        if let Some(thrown_out) = input.thrown_out {
            lead.thrown_out = thrown_out;
        }
        if lead.subtype_id.is_some() && lead.type_id.is_none() {
            return Err(DomainError::new("subtype_id", "needs a type_id"));
        }
        if lead.stage_reason_id.is_some() && lead.stage_id.is_none() {
            return Err(DomainError::new("stage_reason_id", "needs a stage_id"));
        }
        Ok(lead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn input(value: Value) -> LeadInput {
        serde_json::from_value(value).unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_new_lead_starts_at_version_one_with_the_default_priority() {
        let lead =
            Lead::create("E2R3JKM2".into(), input(json!({"name": "Ann", "phones": ["02 9999 0000"]})), now()).unwrap();
        assert_eq!((lead.version, lead.priority), (1, DEFAULT_PRIORITY));
        assert_eq!(lead.phones[0].as_str(), "0299990000");
    }

    #[test]
    fn a_change_bumps_the_version_and_records_old_and_new_values() {
        let lead = Lead::create("E2R3JKM2".into(), input(json!({"name": "Ann"})), now()).unwrap();
        let later: Timestamp = "2026-11-22T11:00:00Z".parse().unwrap();
        let (next, changes) = lead.change(input(json!({"name": "Anne", "priority": 3})), later).unwrap();
        assert_eq!(next.version, 2);
        assert_eq!(next.updated_at, later);
        let shown = serde_json::to_value(&changes).unwrap();
        assert_eq!(shown, json!({"name": {"old": "Ann", "new": "Anne"}, "priority": {"old": 10, "new": 3}}));
    }

    #[test]
    fn a_change_that_changes_nothing_keeps_the_version() {
        let lead = Lead::create("E2R3JKM2".into(), input(json!({"name": "Ann"})), now()).unwrap();
        let (next, changes) = lead.change(input(json!({"name": "Ann"})), now()).unwrap();
        assert!(changes.is_empty());
        assert_eq!(next.version, 1);
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let lead = Lead::create("E2R3JKM2".into(), input(json!({"name": "Ann", "city": "Perth"})), now()).unwrap();
        let (next, _) = lead.change(input(json!({"city": null})), now()).unwrap();
        assert_eq!((next.name.as_deref(), next.city), (Some("Ann"), None));
    }

    #[test]
    fn bad_input_names_its_field() {
        let lead = Lead::create("E2R3JKM2".into(), LeadInput::default(), now()).unwrap();
        let cases = [
            (json!({"priority": 101}), "priority"),
            (json!({"phones": ["02 9999 0000", "call me"]}), "phones[1]"),
            (json!({"email": "nobody"}), "email"),
            (json!({"vertical_id": 0}), "vertical_id"),
            (json!({"subtype_id": 4}), "subtype_id"),
            (json!({"fields": {"nested": {"a": 1}}}), "fields.nested"),
            (json!({"id": 5}), "id"),
        ];
        for (value, field) in cases {
            let err = lead.change(input(value.clone()), now()).unwrap_err();
            assert_eq!(err.field, field, "{value}");
        }
        assert!(serde_json::from_value::<LeadInput>(json!({"version": 3})).is_err());
    }

    #[test]
    fn refs_use_the_unambiguous_alphabet() {
        let r = draw_ref(now(), [0, 1, 250, 254, 255]);
        assert!(is_ref(&r), "{r}");
        assert!(r.ends_with("23UYZ"), "{r}");
        assert!(!is_ref("E2R3JKM1"), "1 is not in the alphabet");
        assert!(!is_ref("E2R3JK"));
    }

    #[test]
    fn refs_start_with_their_second_and_wrap_about_every_nine_hours() {
        let at = |second: i64| Timestamp::from_second(second).unwrap();
        let random = [7, 7, 7, 7, 7];
        assert_eq!(&draw_ref(at(0), random)[..REF_CLOCK_LEN], "222");
        assert_eq!(&draw_ref(at(1), random)[..REF_CLOCK_LEN], "223");
        assert_eq!(&draw_ref(at(32), random)[..REF_CLOCK_LEN], "232");
        assert_eq!(&draw_ref(at(32767), random)[..REF_CLOCK_LEN], "ZZZ");
        assert_eq!(draw_ref(at(32768), random), draw_ref(at(0), random));
        assert_eq!(draw_ref(at(-1), random), draw_ref(at(32767), random), "before 1970 wraps too");
        // Within one second the clock part stays, whatever the random part.
        let a = draw_ref(at(1_800_000_000), [0; REF_RANDOM_LEN]);
        let b = draw_ref(at(1_800_000_000), [255; REF_RANDOM_LEN]);
        assert_eq!(a[..REF_CLOCK_LEN], b[..REF_CLOCK_LEN]);
        assert_ne!(a, b);
    }

    proptest! {
        #[test]
        fn priority_is_accepted_exactly_in_range(p in -1000i64..1000) {
            let lead = Lead::create("E2R3JKM2".into(), LeadInput::default(), now()).unwrap();
            let result = lead.change(LeadInput { priority: Some(p), ..Default::default() }, now());
            prop_assert_eq!(result.is_ok(), (0..=100).contains(&p));
        }

        #[test]
        fn every_change_is_recorded_and_nothing_else(name in proptest::option::of("[a-z]{0,8}"), city in proptest::option::of("[a-z]{0,8}")) {
            let lead = Lead::create("E2R3JKM2".into(), input(json!({"name": "ann", "city": "perth"})), now()).unwrap();
            let (next, changes) = lead.change(LeadInput { name: Some(name.clone()), city: Some(city.clone()), ..Default::default() }, now()).unwrap();
            prop_assert_eq!(changes.get("name").is_some(), next.name != lead.name);
            prop_assert_eq!(changes.get("city").is_some(), next.city != lead.city);
            prop_assert_eq!(changes.len(), usize::from(next.name != lead.name) + usize::from(next.city != lead.city));
        }
    }
}
