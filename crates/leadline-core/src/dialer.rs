//! Dialer rules: campaign-template field mapping, phone normalization by country, callback times
//! in a contact-hours zone, dispositions and what their actions do, and the dialing order.

use jiff::civil::DateTime;
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::catalog::{DispositionAction, TemplateField};
use crate::lead::{Lead, LeadInput};
use crate::phone::Phone;
use crate::schedule::Schedule;
use crate::DomainError;

/// Why a dialer load or update was refused. The Noojee dialect numbers these (101–117) and words
/// some of them in its own terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialerError {
    #[error("no lead in this campaign has that external id")]
    LeadNotFound,
    #[error("the lead has no phone number in any phone field")]
    NoPhone,
    #[error("phone {0} is on a do-not-call list")]
    Dnc(String),
    #[error("another lead in this campaign already has phone {0}")]
    DuplicatePhone(String),
    #[error("`{0}` is not a disposition of this campaign's template")]
    UnknownDisposition(String),
    #[error("the lead has no disposition yet, so there is none to keep")]
    NoDispositionToKeep,
    /// A load asked to keep the lead's value of this field (named as the dialect names it).
    #[error("field `{0}` asks to keep the lead's value, which only an update may ask")]
    KeepOnInsert(String),
    #[error("the lead is held by {holder} until {until}; nothing was changed")]
    Leased { holder: String, until: Timestamp },
    #[error("the lead changed while this update was applied; nothing was changed")]
    StaleVersion,
    #[error("`{0}` is not a contact-hours name")]
    UnknownContactHours(String),
    #[error("another lead in this campaign already has external id `{0}`")]
    ExternalIdTaken(String),
    /// An update named no external id (the field as the dialect names it).
    #[error("an update needs {0} to find the lead")]
    NoExternalId(String),
    #[error("`{0}` is not a callback date written yyyy/MM/dd HH:mm")]
    BadCallbackDate(String),
    #[error("a valid allocation id of this campaign is required")]
    NoAllocation,
    #[error("a valid campaign template id is required")]
    NoTemplate,
    #[error("a valid campaign id of this template is required")]
    NoCampaign,
    /// Input the vendor's table has no code for (a priority out of range, a malformed phone).
    #[error("{0}")]
    Invalid(DomainError),
}

/// How a country writes its phone numbers: the calling code, the trunk prefix dialed before a
/// national number, and the length of a national number without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneCountry {
    pub iso: &'static str,
    pub calling_code: &'static str,
    pub trunk_prefix: &'static str,
    pub national_digits: (usize, usize),
}

pub const PHONE_COUNTRIES: &[PhoneCountry] = &[
    PhoneCountry { iso: "AU", calling_code: "61", trunk_prefix: "0", national_digits: (9, 9) },
    PhoneCountry { iso: "NZ", calling_code: "64", trunk_prefix: "0", national_digits: (8, 10) },
    PhoneCountry { iso: "GB", calling_code: "44", trunk_prefix: "0", national_digits: (9, 10) },
    PhoneCountry { iso: "IE", calling_code: "353", trunk_prefix: "0", national_digits: (7, 9) },
    PhoneCountry { iso: "US", calling_code: "1", trunk_prefix: "1", national_digits: (10, 10) },
    PhoneCountry { iso: "CA", calling_code: "1", trunk_prefix: "1", national_digits: (10, 10) },
];

pub fn phone_country(iso: &str) -> Option<&'static PhoneCountry> {
    PHONE_COUNTRIES.iter().find(|c| c.iso.eq_ignore_ascii_case(iso))
}

/// Normalizes a written number to digits in international form for the template's country, so
/// `03 8321 8199`, `+61 3 8321 8199` and `0061383218199` are one number. Without a country the
/// digits are kept as written.
pub fn normalize_phone(text: &str, country: Option<&PhoneCountry>) -> Result<Phone, DomainError> {
    let written = Phone::parse(text)?;
    let Some(country) = country else { return Ok(written) };
    let digits = written.as_str();
    let international = text.trim_start().starts_with('+');
    let national = |n: &str| (country.national_digits.0..=country.national_digits.1).contains(&n.len());
    let normalized = if international {
        digits.to_string()
    } else if let Some(rest) = digits.strip_prefix("00").or_else(|| digits.strip_prefix("011")) {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix(country.trunk_prefix).filter(|rest| national(rest)) {
        format!("{}{rest}", country.calling_code)
    } else if national(digits) {
        format!("{}{digits}", country.calling_code)
    } else {
        digits.to_string()
    };
    Phone::parse(&normalized)
}

/// The ways a normalized number may have been written on a do-not-call list, in the order
/// [`any_dnc_form`] asks them.
pub fn dnc_forms(phone: &str, country: Option<&PhoneCountry>) -> Vec<String> {
    let mut forms = Vec::new();
    any_dnc_form(phone, country, |form| {
        forms.push(form.to_string());
        false
    });
    forms
}

/// Whether `listed` holds any of the ways a normalized number may have been written on a
/// do-not-call list: as stored, and, for a number in the template country, in national form
/// with and without its trunk prefix. Asked without allocating: a list import asks this for
/// every phone it loads.
pub fn any_dnc_form(phone: &str, country: Option<&PhoneCountry>, mut listed: impl FnMut(&str) -> bool) -> bool {
    if listed(phone) {
        return true;
    }
    let Some((country, national)) = country.and_then(|c| Some((c, phone.strip_prefix(c.calling_code)?))) else {
        return false;
    };
    let mut trunk_form = [0u8; 64];
    let length = country.trunk_prefix.len() + national.len();
    let with_trunk = match trunk_form.get_mut(..length) {
        Some(form) => {
            let (prefix, rest) = form.split_at_mut(country.trunk_prefix.len());
            prefix.copy_from_slice(country.trunk_prefix.as_bytes());
            rest.copy_from_slice(national.as_bytes());
            listed(std::str::from_utf8(form).unwrap_or_default())
        }
        None => listed(&format!("{}{national}", country.trunk_prefix)),
    };
    with_trunk || listed(national)
}

/// Which lead attribute a template field fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Phone,
    Name,
    FirstName,
    LastName,
    Address1,
    City,
    State,
    PostalCode,
    Country,
    Email,
    /// Kept in the lead's `fields` under the template's field name.
    Custom,
}

/// Template field names that fill the lead's own columns (compared without case, spaces or
/// underscores). Phone-kind fields fill the lead's phones in template order.
pub fn target_of(field: &TemplateField) -> Target {
    if field.kind == "phone" {
        return Target::Phone;
    }
    // The key is built on the stack: this runs for every template field of every row loaded.
    // A name with a letter or digit outside ASCII, or longer than any alias, is no alias.
    let mut key = [0u8; 16];
    let mut len = 0;
    for c in field.name.chars().filter(|c| c.is_alphanumeric()) {
        if !c.is_ascii() || len == key.len() {
            return Target::Custom;
        }
        key[len] = c.to_ascii_lowercase() as u8;
        len += 1;
    }
    match &key[..len] {
        b"name" | b"fullname" => Target::Name,
        b"firstname" | b"givenname" => Target::FirstName,
        b"lastname" | b"surname" | b"familyname" => Target::LastName,
        b"streetaddress" | b"address" | b"address1" => Target::Address1,
        b"city" | b"suburb" | b"town" => Target::City,
        b"state" | b"province" => Target::State,
        b"postcode" | b"postalcode" | b"zip" | b"zipcode" => Target::PostalCode,
        b"country" => Target::Country,
        b"email" | b"emailaddress" => Target::Email,
        _ => Target::Custom,
    }
}

/// Reads a callback date `yyyy/MM/dd HH:mm` as wall time in `zone`. In a daylight-saving gap
/// (a wall time that never happens) the time moves forward by the gap; in an overlap (a wall
/// time that happens twice) the earlier instant is taken.
pub fn parse_callback(text: &str, zone: &TimeZone) -> Result<Timestamp, DialerError> {
    let bad = || DialerError::BadCallbackDate(text.to_string());
    let trimmed = text.trim();
    let shape_ok = trimmed.len() == 16
        && trimmed.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '/',
            10 => c == ' ',
            13 => c == ':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    let civil: DateTime = DateTime::strptime("%Y/%m/%d %H:%M", trimmed).map_err(|_| bad())?;
    let zoned = zone.to_ambiguous_zoned(civil).disambiguate(Disambiguation::Compatible).map_err(|_| bad())?;
    Ok(zoned.timestamp())
}

/// One field of a dialer write: a new value, or the lead's present value kept as it is (what a
/// dialect's own sentinel, such as Noojee's `<No Change>`, asks for).
#[derive(Debug, Clone, PartialEq)]
pub enum Given<T> {
    Keep,
    Set(T),
}

impl<T> Given<T> {
    /// The new value, if the field gives one.
    pub fn set(&self) -> Option<&T> {
        match self {
            Given::Keep => None,
            Given::Set(value) => Some(value),
        }
    }
}

/// What a dialect calls a record's own fields, so an error names the field its caller wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordNames {
    pub external_id: &'static str,
    pub disposition: &'static str,
    pub callback: &'static str,
    pub priority: &'static str,
    pub contact_hours: &'static str,
}

impl Default for RecordNames {
    fn default() -> Self {
        RecordNames {
            external_id: "external_id",
            disposition: "disposition",
            callback: "callback_at",
            priority: "priority",
            contact_hours: "contact_hours",
        }
    }
}

/// A load or update as a dialect hands it over: the lead's own dialer fields apart, template and
/// custom fields by name. Text is as written; the rules here read it (a callback in the lead's
/// zone, a priority from 0 to 100) inside the write, so a refusal comes in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialerRecord {
    pub external_id: Option<String>,
    pub disposition: Option<Given<String>>,
    /// Written `yyyy/MM/dd HH:mm`, read in the lead's contact-hours zone.
    pub callback: Option<Given<String>>,
    pub priority: Option<Given<String>>,
    /// A contact-hours name.
    pub contact_hours: Option<Given<String>>,
    /// Template and custom fields, in the order given.
    pub fields: Vec<(String, Given<Value>)>,
    pub names: RecordNames,
}

impl DialerRecord {
    /// The value given for a template or custom field.
    pub fn field(&self, name: &str) -> Option<&Given<Value>> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first field asking to keep its value, if any (an insert has nothing to keep).
    pub fn kept_field(&self) -> Option<String> {
        let keeps = |given: &Option<Given<String>>| matches!(given, Some(Given::Keep));
        let names = &self.names;
        if keeps(&self.disposition) {
            return Some(names.disposition.into());
        }
        if keeps(&self.callback) {
            return Some(names.callback.into());
        }
        if keeps(&self.contact_hours) {
            return Some(names.contact_hours.into());
        }
        if keeps(&self.priority) {
            return Some(names.priority.into());
        }
        self.fields.iter().find(|(_, v)| *v == Given::Keep).map(|(k, _)| k.clone())
    }

    /// The priority given, a whole number from 0 to 100; None when not given or kept.
    pub fn priority(&self) -> Result<Option<i64>, DialerError> {
        let Some(Given::Set(text)) = &self.priority else { return Ok(None) };
        let bad = |shown: &str| {
            DialerError::Invalid(DomainError::new(
                self.names.priority,
                format!("`{shown}` is not a whole number from 0 to 100"),
            ))
        };
        let number = text.trim().parse::<i64>().map_err(|_| bad(text))?;
        if (0..=100).contains(&number) {
            Ok(Some(number))
        } else {
            Err(bad(&number.to_string()))
        }
    }

    /// The lead input this record asks for, through the template. `current` holds the lead's
    /// present custom fields (for a kept phone field and for recomputing phones).
    pub fn to_input(
        &self,
        template: &[TemplateField],
        country: Option<&PhoneCountry>,
        current: Option<&Lead>,
    ) -> Result<LeadInput, DialerError> {
        let mut input = LeadInput::default();
        let mut fields = Map::new();
        let text_of = |value: &Value| -> Option<String> {
            match value {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        };
        // Phone fields, in template order; each keeps its own value in `fields` so a later
        // update keeping one of them leaves exactly that one as it was.
        let mut phones: Vec<String> = Vec::new();
        let mut phones_given = false;
        for field in template.iter().filter(|f| target_of(f) == Target::Phone) {
            let value = match self.field(&field.name) {
                Some(Given::Keep) | None => current.and_then(|l| l.fields.get(&field.name)).and_then(text_of),
                Some(Given::Set(v)) => {
                    phones_given = true;
                    match text_of(v) {
                        Some(raw) => {
                            let phone = normalize_phone(&raw, country)
                                .map_err(|e| DialerError::Invalid(e.within(&field.name)))?;
                            fields.insert(field.name.clone(), Value::from(phone.as_str()));
                            Some(phone.as_str().to_string())
                        }
                        None => {
                            fields.insert(field.name.clone(), Value::Null);
                            None
                        }
                    }
                }
            };
            if let Some(phone) = value {
                if !phones.contains(&phone) {
                    phones.push(phone);
                }
            }
        }
        if phones_given || current.is_none() {
            input.phones = Some(phones);
        }
        for (name, given) in &self.fields {
            let Given::Set(value) = given else { continue };
            let template_field = template.iter().find(|f| &f.name == name);
            let target = template_field.map(target_of).unwrap_or(Target::Custom);
            let text = text_of(value);
            let slot = match target {
                Target::Phone => continue,
                Target::Name => &mut input.name,
                Target::FirstName => &mut input.first_name,
                Target::LastName => &mut input.last_name,
                Target::Address1 => &mut input.address1,
                Target::City => &mut input.city,
                Target::State => &mut input.state,
                Target::PostalCode => &mut input.postal_code,
                Target::Country => &mut input.country,
                Target::Email => &mut input.email,
                Target::Custom => {
                    fields.insert(name.clone(), value.clone());
                    continue;
                }
            };
            *slot = Some(text);
        }
        if !fields.is_empty() {
            input.fields = Some(fields);
        }
        input.external_id = self.external_id.clone().map(Some);
        input.priority = self.priority()?;
        Ok(input)
    }
}

/// What a disposition does beyond the lead's own row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideEffect {
    /// Put these numbers on the system-wide do-not-call list.
    AddDnc(Vec<String>),
    /// Load a copy of the lead into this allocation.
    CopyTo(i64),
    /// Call this URL (fields already substituted) after the change commits.
    Webhook(String),
}

/// A disposition as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    pub code: String,
    pub closes_lead: bool,
    pub actions: Vec<DispositionAction>,
}

/// Applies a disposition to a lead: its code, open or closed, a callback, a move; and the side
/// effects to carry out in the same transaction (DNC, copies) or after it (webhooks).
pub fn apply_disposition(lead: &mut Lead, disposition: &Disposition, now: Timestamp) -> Vec<SideEffect> {
    lead.disposition = Some(disposition.code.clone());
    lead.closed = disposition.closes_lead;
    lead.lock_holder = None;
    lead.lock_until = None;
    let mut effects = Vec::new();
    for action in &disposition.actions {
        match action {
            DispositionAction::Close => lead.closed = true,
            DispositionAction::Callback { after_minutes } => {
                lead.closed = false;
                lead.callback_at = now.checked_add(SignedDuration::from_mins(i64::from(*after_minutes))).ok();
            }
            DispositionAction::Dnc => {
                effects.push(SideEffect::AddDnc(lead.phones.iter().map(|p| p.as_str().to_string()).collect()))
            }
            DispositionAction::CopyToAllocation { allocation_id } => effects.push(SideEffect::CopyTo(*allocation_id)),
            DispositionAction::MoveToAllocation { allocation_id } => lead.allocation_id = Some(*allocation_id),
            DispositionAction::Url { url } => effects.push(SideEffect::Webhook(substitute(url, lead))),
        }
    }
    effects
}

/// Replaces `${field}` in a URL with the lead's value (its own columns first, then its custom
/// fields), URL-encoded; unknown names become empty.
pub fn substitute(template: &str, lead: &Lead) -> String {
    let shown = serde_json::to_value(lead).expect("leads serialize");
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let value = shown.get(name).filter(|v| !v.is_object()).or_else(|| lead.fields.get(name));
        let text = match value {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            Some(other) => other.to_string(),
        };
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether a lead may be dialed now: open, not held, its callback (if any) due, and its
/// contact hours (if any) open.
pub fn is_dialable(lead: &Lead, hours: Option<&Schedule>, now: Timestamp) -> bool {
    !lead.closed
        && lead.lock_until.is_none_or(|until| until <= now)
        && lead.callback_at.is_none_or(|at| at <= now)
        && hours.is_none_or(|s| s.is_open_at(now))
}

/// The dialing order: lower priority number first, then due callbacks before new leads, then
/// first come, first served (lower id).
pub fn dial_order(a: &Lead, b: &Lead) -> std::cmp::Ordering {
    let callback_rank = |l: &Lead| if l.callback_at.is_some() { 0 } else { 1 };
    (a.priority, callback_rank(a), a.id).cmp(&(b.priority, callback_rank(b), b.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::Lead;
    use crate::schedule::Window;
    use serde_json::json;

    fn template() -> Vec<TemplateField> {
        [
            ("Name", "text"),
            ("StreetAddress", "text"),
            ("City", "text"),
            ("PostCode", "text"),
            ("FirstPhone", "phone"),
            ("SecondPhone", "phone"),
            ("Colour", "text"),
        ]
        .iter()
        .map(|(n, k)| TemplateField { name: n.to_string(), kind: k.to_string() })
        .collect()
    }

    #[test]
    fn template_field_names_fill_columns_whatever_their_case_spaces_and_underscores() {
        let target = |name: &str, kind: &str| target_of(&TemplateField { name: name.into(), kind: kind.into() });
        assert_eq!(target("Given Name", "text"), Target::FirstName);
        assert_eq!(target("family_name", "text"), Target::LastName);
        assert_eq!(target("E-mail Address", "text"), Target::Email);
        assert_eq!(target("ZIP code", "text"), Target::PostalCode);
        assert_eq!(target("Street Address", "text"), Target::Address1);
        assert_eq!(target("Address 1", "text"), Target::Address1);
        assert_eq!(target("Mobile", "phone"), Target::Phone);
        // No alias: another word, a letter outside ASCII, a name longer than any alias.
        assert_eq!(target("Colour", "text"), Target::Custom);
        assert_eq!(target("Cíty", "text"), Target::Custom);
        assert_eq!(target("Street Address Of The Lead", "text"), Target::Custom);
        assert_eq!(target("", "text"), Target::Custom);
    }

    fn set(text: &str) -> Given<Value> {
        Given::Set(json!(text))
    }

    fn with_fields(fields: &[(&str, Given<Value>)]) -> DialerRecord {
        DialerRecord { fields: fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(), ..Default::default() }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn lead(input: LeadInput) -> Lead {
        Lead::create("E2R3JKM2".into(), input, at("2026-11-22T00:00:00Z")).unwrap()
    }

    #[test]
    fn phones_are_normalized_by_the_template_country() {
        let au = phone_country("AU");
        for written in ["03 8321 8199", "+61 3 8321 8199", "0061 3 8321 8199", "383218199"] {
            assert_eq!(normalize_phone(written, au).unwrap().as_str(), "61383218199", "{written}");
        }
        let us = phone_country("us");
        assert_eq!(normalize_phone("(212) 555-0100", us).unwrap().as_str(), "12125550100");
        assert_eq!(normalize_phone("1 212 555 0100", us).unwrap().as_str(), "12125550100");
        assert_eq!(normalize_phone("03 8321 8199", None).unwrap().as_str(), "0383218199");
    }

    #[test]
    fn a_number_is_looked_up_on_dnc_lists_in_each_way_it_may_be_written() {
        assert_eq!(dnc_forms("61390000000", phone_country("AU")), vec!["61390000000", "0390000000", "390000000"]);
        assert_eq!(dnc_forms("0390000000", None), vec!["0390000000"]);
        // Asked without allocating, the same forms answer.
        let au = phone_country("AU");
        for (phone, country) in [("61390000000", au), ("0390000000", None), ("61390000000", None), ("4412345", au)] {
            let forms = dnc_forms(phone, country);
            for form in &forms {
                assert!(any_dnc_form(phone, country, |f| f == form), "{phone}: {form}");
            }
            let mut asked = Vec::new();
            assert!(!any_dnc_form(phone, country, |f| {
                asked.push(f.to_string());
                false
            }));
            asked.sort();
            let mut expected = forms.clone();
            expected.sort();
            assert_eq!(asked, expected, "{phone}: every form is asked, and nothing else");
        }
    }

    #[test]
    fn template_fields_fill_columns_phones_and_custom_fields() {
        let record = DialerRecord {
            external_id: Some("9856".into()),
            priority: Some(Given::Set("5".into())),
            ..with_fields(&[
                ("Name", set("Jane Smith")),
                ("StreetAddress", set("Suite 8")),
                ("PostCode", set("3064")),
                ("FirstPhone", set("0383218199")),
                ("SecondPhone", set("")),
                ("Colour", set("red")),
            ])
        };
        let input = record.to_input(&template(), phone_country("AU"), None).unwrap();
        assert_eq!(input.name, Some(Some("Jane Smith".into())));
        assert_eq!(input.address1, Some(Some("Suite 8".into())));
        assert_eq!(input.postal_code, Some(Some("3064".into())));
        assert_eq!(input.phones, Some(vec!["61383218199".to_string()]));
        assert_eq!(input.priority, Some(5));
        assert_eq!(input.external_id, Some(Some("9856".into())));
        let fields = input.fields.unwrap();
        assert_eq!((fields["Colour"].clone(), fields["FirstPhone"].clone()), (json!("red"), json!("61383218199")));
    }

    #[test]
    fn a_kept_phone_field_keeps_that_number() {
        let first = with_fields(&[("FirstPhone", set("0383218199")), ("SecondPhone", set("0412345678"))])
            .to_input(&template(), phone_country("AU"), None)
            .unwrap();
        let existing = lead(first);
        let update = with_fields(&[("FirstPhone", set("0398765432")), ("SecondPhone", Given::Keep)])
            .to_input(&template(), phone_country("AU"), Some(&existing))
            .unwrap();
        assert_eq!(update.phones, Some(vec!["61398765432".to_string(), "61412345678".to_string()]));
        let untouched =
            with_fields(&[("City", set("Perth"))]).to_input(&template(), phone_country("AU"), Some(&existing)).unwrap();
        assert_eq!(untouched.phones, None, "phones not given are left alone");
        let kept_text = with_fields(&[("City", Given::Keep)]).to_input(&template(), None, Some(&existing)).unwrap();
        assert_eq!((kept_text.city, kept_text.fields), (None, None), "a kept field is not written");
    }

    #[test]
    fn a_kept_field_is_named_as_the_dialect_names_it_and_priority_is_checked() {
        let names = RecordNames { disposition: "theirDisposition", priority: "theirPriority", ..Default::default() };
        let keeps = |record: DialerRecord| DialerRecord { names, ..record }.kept_field();
        assert_eq!(keeps(with_fields(&[("FirstPhone", Given::Keep)])), Some("FirstPhone".into()));
        assert_eq!(
            keeps(DialerRecord { disposition: Some(Given::Keep), ..Default::default() }),
            Some("theirDisposition".into())
        );
        assert_eq!(keeps(with_fields(&[("FirstPhone", set("0383218199"))])), None);
        let priority =
            |text: &str| DialerRecord { names, priority: Some(Given::Set(text.into())), ..Default::default() };
        for bad in ["101", "-1", "high", "2.5"] {
            match priority(bad).priority() {
                Err(DialerError::Invalid(e)) => assert_eq!(e.field, "theirPriority", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(priority(" 0 ").priority().unwrap(), Some(0));
        assert_eq!(DialerRecord { priority: Some(Given::Keep), ..Default::default() }.priority().unwrap(), None);
    }

    #[test]
    fn callback_dates_are_wall_time_in_the_zone_with_defined_dst_behaviour() {
        let sydney = TimeZone::get("Australia/Sydney").unwrap();
        assert_eq!(parse_callback("2026/11/23 10:30", &sydney).unwrap(), at("2026-11-22T23:30:00Z"));
        // 2026-10-04 02:30 does not exist in Sydney (clocks jump 02:00 -> 03:00): moved forward.
        assert_eq!(parse_callback("2026/10/04 02:30", &sydney).unwrap(), at("2026-10-03T16:30:00Z"));
        // 2026-04-05 02:30 happens twice (03:00 -> 02:00): the earlier one.
        assert_eq!(parse_callback("2026/04/05 02:30", &sydney).unwrap(), at("2026-04-04T15:30:00Z"));
        for bad in ["2026-11-23 10:30", "2026/13/01 10:00", "2026/11/23", "23/11/2026 10:30", "2026/11/23 25:00"] {
            assert!(matches!(parse_callback(bad, &sydney), Err(DialerError::BadCallbackDate(_))), "{bad}");
        }
    }

    #[test]
    fn each_disposition_action_does_its_part() {
        let mut l = lead(LeadInput {
            phones: Some(vec!["0383218199".into()]),
            name: Some(Some("Jo Bloggs".into())),
            ..Default::default()
        });
        l.lock_holder = Some("agent".into());
        let now = at("2026-11-22T10:00:00Z");
        let disposition = Disposition {
            code: "CB".into(),
            closes_lead: true,
            actions: vec![
                DispositionAction::Callback { after_minutes: 30 },
                DispositionAction::Dnc,
                DispositionAction::CopyToAllocation { allocation_id: 4 },
                DispositionAction::MoveToAllocation { allocation_id: 5 },
                DispositionAction::Url { url: "http://hook.test/x?name=${name}&phone=${phones}&c=${Colour}".into() },
            ],
        };
        let effects = apply_disposition(&mut l, &disposition, now);
        assert_eq!(l.disposition.as_deref(), Some("CB"));
        assert!(!l.closed, "a callback reopens what closes_lead closed");
        assert_eq!(l.callback_at, Some(at("2026-11-22T10:30:00Z")));
        assert_eq!((l.allocation_id, l.lock_holder.clone()), (Some(5), None));
        assert_eq!(
            effects,
            vec![
                SideEffect::AddDnc(vec!["0383218199".into()]),
                SideEffect::CopyTo(4),
                SideEffect::Webhook("http://hook.test/x?name=Jo%20Bloggs&phone=0383218199&c=".into()),
            ]
        );
        let close = Disposition { code: "SALE".into(), closes_lead: false, actions: vec![DispositionAction::Close] };
        apply_disposition(&mut l, &close, now);
        assert!(l.closed);
    }

    #[test]
    fn dialable_leads_are_open_free_due_and_inside_their_hours() {
        let now = at("2026-11-23T00:00:00Z"); // Monday 11:00 in Sydney
        let hours = Schedule::new(
            "Australia/Sydney",
            &[Window { day: "mon".into(), start: "09:00".into(), end: "17:00".into() }],
        )
        .unwrap();
        let closed_hours = Schedule::new(
            "Australia/Sydney",
            &[Window { day: "tue".into(), start: "09:00".into(), end: "17:00".into() }],
        )
        .unwrap();
        let base = lead(LeadInput::default());
        let mut held = base.clone();
        held.lock_until = Some(at("2026-11-23T00:03:00Z"));
        let mut expired = base.clone();
        expired.lock_until = Some(at("2026-11-22T23:59:00Z"));
        let mut later = base.clone();
        later.callback_at = Some(at("2026-11-23T01:00:00Z"));
        let mut closed = base.clone();
        closed.closed = true;
        let cases = [
            (&base, None, true),
            (&base, Some(&hours), true),
            (&base, Some(&closed_hours), false),
            (&held, None, false),
            (&expired, None, true),
            (&later, None, false),
            (&closed, None, false),
        ];
        for (i, (l, h, expected)) in cases.iter().enumerate() {
            assert_eq!(is_dialable(l, *h, now), *expected, "case {i}");
        }
    }

    #[test]
    fn dial_order_is_priority_then_callbacks_then_first_come() {
        let make = |id: i64, priority: i64, callback: bool| {
            let mut l = lead(LeadInput::default());
            l.id = id;
            l.priority = priority;
            l.callback_at = callback.then(|| at("2026-11-22T00:00:00Z"));
            l
        };
        let mut leads =
            [make(1, 10, false), make(2, 10, true), make(3, 5, false), make(4, 10, false), make(5, 5, true)];
        leads.sort_by(dial_order);
        assert_eq!(leads.iter().map(|l| l.id).collect::<Vec<_>>(), vec![5, 3, 2, 1, 4]);
    }
}
