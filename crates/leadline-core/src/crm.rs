//! CRM leads (the sales-team side): what an add-or-update must carry, how a lead's type, stage,
//! company and contact must fit together, and the filters of a lead list.
//!
//! The CRM vocabulary is iVvy's (`sourceId`, `companyLeadContactId`, …), the one CRM API Leadline
//! speaks, so errors name fields as a CRM client sent them. Every check returns *all* offending
//! fields, not the first, so a client can fix a request in one round.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

use crate::lead::Lead;
use crate::DomainError;

/// What a client sent for a CRM lead. `None` means "not given": on an update it leaves the
/// lead's value as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrmInput {
    pub name: Option<String>,
    pub quality_id: Option<i64>,
    pub industry_id: Option<i64>,
    pub source_id: Option<i64>,
    pub company_id: Option<i64>,
    pub company_lead_contact_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub owner_user_id: Option<i64>,
    pub type_id: Option<i64>,
    pub subtype_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub stage_reason_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub description: Option<String>,
    /// `customFields`: field id and value, kept in the lead's `fields` under the id's digits.
    pub custom_fields: Vec<(i64, Value)>,
    /// A `company` object: a new company for the lead, created with it.
    pub new_company: Option<serde_json::Map<String, Value>>,
    /// A `contact` object: a new contact created with the lead, which becomes the lead contact of
    /// a company lead, or the contact of a contact lead.
    pub new_contact: Option<serde_json::Map<String, Value>>,
}

/// Every id field of a CRM lead with the catalog collection it points at, in the order errors
/// list them.
pub const REFERENCES: &[(&str, &str)] = &[
    ("qualityId", "lead-qualities"),
    ("industryId", "industries"),
    ("sourceId", "lead-sources"),
    ("companyId", "companies"),
    ("companyLeadContactId", "contacts"),
    ("contactId", "contacts"),
    ("ownerUserId", "users"),
    ("typeId", "lead-types"),
    ("stageId", "lead-stages"),
    ("channelId", "lead-channels"),
];

impl CrmInput {
    /// The given id of each reference field (subtypes and stage reasons live inside their type
    /// and stage, and are checked by [`check_links`]).
    pub fn references(&self) -> Vec<(&'static str, &'static str, i64)> {
        let ids = [
            self.quality_id,
            self.industry_id,
            self.source_id,
            self.company_id,
            self.company_lead_contact_id,
            self.contact_id,
            self.owner_user_id,
            self.type_id,
            self.stage_id,
            self.channel_id,
        ];
        REFERENCES.iter().zip(ids).filter_map(|((field, target), id)| id.map(|id| (*field, *target, id))).collect()
    }

    /// Whether the request carries nothing at all to write.
    pub fn is_empty(&self) -> bool {
        self == &CrmInput::default()
    }
}

/// The rules for adding a lead (a request without `id`). Returns every broken rule.
pub fn check_add(input: &CrmInput) -> Vec<DomainError> {
    let mut errors = Vec::new();
    let new_company = input.new_company.is_some();
    let new_contact = input.new_contact.is_some();
    let has_company = input.company_id.is_some() || new_company;
    if new_company && input.company_id.is_some() {
        errors.push(DomainError::new("company", "give companyId or a company object, not both"));
    }
    if new_company && input.company_lead_contact_id.is_some() {
        errors.push(DomainError::new(
            "companyLeadContactId",
            "a new company has no contacts yet; send the lead contact as a contact object",
        ));
    } else if new_contact && has_company && input.company_lead_contact_id.is_some() {
        errors.push(DomainError::new("contact", "give companyLeadContactId or a contact object, not both"));
    }
    if new_contact && input.contact_id.is_some() {
        errors.push(DomainError::new("contact", "give contactId or a contact object, not both"));
    }
    // A new contact is the lead contact of a company lead, or else the contact of a contact lead.
    let has_contact = input.contact_id.is_some() || (new_contact && !has_company);
    let has_lead_contact = input.company_lead_contact_id.is_some() || new_contact;
    if input.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        errors.push(DomainError::new("name", "is required when adding a lead"));
    }
    for (field, value) in [("sourceId", input.source_id), ("typeId", input.type_id), ("stageId", input.stage_id)] {
        if value.is_none() {
            errors.push(DomainError::new(field, "is required when adding a lead"));
        }
    }
    match (has_company, has_contact) {
        (true, true) => errors.push(DomainError::new(
            "contactId",
            "a lead belongs to a company (companyId) or to a contact (contactId), not to both",
        )),
        (true, false) => {
            if !has_lead_contact {
                errors.push(DomainError::new("companyLeadContactId", "is required when adding a company lead"));
            }
        }
        (false, true) => {
            if input.industry_id.is_none() {
                errors.push(DomainError::new("industryId", "is required when adding a contact lead"));
            }
            if input.company_lead_contact_id.is_some() {
                errors.push(DomainError::new("companyLeadContactId", "belongs to a company lead; give companyId"));
            }
        }
        (false, false) => errors.push(DomainError::new(
            "companyId",
            "a lead belongs to a company (companyId and companyLeadContactId) or to a contact (contactId and \
             industryId); give one of them",
        )),
    }
    errors
}

/// The CRM links of a lead as they will be after the write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Links {
    pub type_id: Option<i64>,
    pub subtype_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub stage_reason_id: Option<i64>,
    pub company_id: Option<i64>,
    pub company_lead_contact_id: Option<i64>,
}

impl Links {
    /// `current` (none for an add) with what `input` gives laid over it.
    pub fn after(current: Option<&Lead>, input: &CrmInput) -> Links {
        let was = |f: fn(&Lead) -> Option<i64>| current.and_then(f);
        Links {
            type_id: input.type_id.or(was(|l| l.type_id)),
            subtype_id: input.subtype_id.or(was(|l| l.subtype_id)),
            stage_id: input.stage_id.or(was(|l| l.stage_id)),
            stage_reason_id: input.stage_reason_id.or(was(|l| l.stage_reason_id)),
            company_id: input.company_id.or(was(|l| l.company_id)),
            company_lead_contact_id: input.company_lead_contact_id.or(was(|l| l.company_lead_contact_id)),
        }
    }
}

/// What the store knows about the objects [`Links`] point at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkFacts {
    /// The subtype ids of the lead's type (when it has a type that exists).
    pub subtypes: Option<Vec<i64>>,
    /// The reason ids of the lead's stage (when it has a stage that exists).
    pub stage_reasons: Option<Vec<i64>>,
    /// The company of the company lead contact (outer `None` when there is no such contact).
    pub contact_company: Option<Option<i64>>,
}

/// How the lead's type and subtype, stage and reason, company and contact fit together. On an
/// update only the rules touching a given field are checked, so a lead that predates a rule can
/// still have its other fields changed.
pub fn check_links(adding: bool, input: &CrmInput, links: &Links, facts: &LinkFacts) -> Vec<DomainError> {
    let mut errors = Vec::new();
    if adding || input.type_id.is_some() || input.subtype_id.is_some() {
        match (links.type_id, &facts.subtypes, links.subtype_id) {
            (Some(t), Some(subtypes), None) if !subtypes.is_empty() => {
                errors.push(DomainError::new("subtypeId", format!("is required: lead type {t} has subtypes")))
            }
            (Some(t), Some(subtypes), Some(s)) if !subtypes.contains(&s) => {
                errors.push(DomainError::new("subtypeId", format!("lead type {t} has no subtype {s}")))
            }
            (None, _, Some(_)) => errors.push(DomainError::new("subtypeId", "needs a typeId")),
            _ => {}
        }
    }
    if adding || input.stage_id.is_some() || input.stage_reason_id.is_some() {
        match (links.stage_id, &facts.stage_reasons, links.stage_reason_id) {
            (Some(st), Some(reasons), Some(r)) if !reasons.contains(&r) => {
                errors.push(DomainError::new("stageReasonId", format!("lead stage {st} has no reason {r}")))
            }
            (None, _, Some(_)) => errors.push(DomainError::new("stageReasonId", "needs a stageId")),
            _ => {}
        }
    }
    if adding || input.company_id.is_some() || input.company_lead_contact_id.is_some() {
        if let (Some(company), Some(contact), Some(of)) =
            (links.company_id, links.company_lead_contact_id, facts.contact_company)
        {
            if of != Some(company) {
                errors.push(DomainError::new(
                    "companyLeadContactId",
                    format!("contact {contact} does not belong to company {company}"),
                ));
            }
        }
        if links.company_id.is_none() && links.company_lead_contact_id.is_some() {
            errors.push(DomainError::new("companyLeadContactId", "needs a companyId"));
        }
    }
    errors
}

/// How a list filter compares (`name__BEGINS`, `stageId__NOT`, …; no modifier is equality).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Equals,
    Not,
    Begins,
    Contains,
    LessThan,
    GreaterThan,
    Empty,
}

impl Modifier {
    pub fn parse(text: &str) -> Option<Modifier> {
        Some(match text {
            "" => Modifier::Equals,
            "NOT" => Modifier::Not,
            "BEGINS" => Modifier::Begins,
            "CONTAINS" => Modifier::Contains,
            "LESSTHAN" => Modifier::LessThan,
            "GREATERTHAN" => Modifier::GreaterThan,
            "EMPTY" => Modifier::Empty,
            _ => return None,
        })
    }
}

/// What a filterable lead column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Id,
    Text,
    Time,
}

/// A filterable field: its CRM name, the lead column and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterField {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: ColumnKind,
}

const fn ff(name: &'static str, column: &'static str, kind: ColumnKind) -> FilterField {
    FilterField { name, column, kind }
}

pub const FILTER_FIELDS: &[FilterField] = &[
    ff("id", "id", ColumnKind::Id),
    ff("name", "name", ColumnKind::Text),
    ff("description", "description", ColumnKind::Text),
    ff("qualityId", "quality_id", ColumnKind::Id),
    ff("industryId", "industry_id", ColumnKind::Id),
    ff("sourceId", "source_id", ColumnKind::Id),
    ff("companyId", "company_id", ColumnKind::Id),
    ff("companyLeadContactId", "company_lead_contact_id", ColumnKind::Id),
    ff("contactId", "contact_id", ColumnKind::Id),
    ff("ownerUserId", "owner_user_id", ColumnKind::Id),
    ff("typeId", "type_id", ColumnKind::Id),
    ff("subtypeId", "subtype_id", ColumnKind::Id),
    ff("stageId", "stage_id", ColumnKind::Id),
    ff("stageReasonId", "stage_reason_id", ColumnKind::Id),
    ff("channelId", "channel_id", ColumnKind::Id),
    ff("createdDate", "created_at", ColumnKind::Time),
    ff("modifiedDate", "updated_at", ColumnKind::Time),
];

/// A filter's operand, typed for its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Int(i64),
    Text(String),
    Time(Timestamp),
    /// `__EMPTY`: true for "is empty", false for "is not empty".
    Empty(bool),
}

/// One checked filter condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: FilterField,
    pub modifier: Modifier,
    pub operand: Operand,
}

/// The CRM's date-time form: `yyyy-mm-dd HH:mm:ss`, in UTC.
pub fn format_time(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Reads `yyyy-mm-dd HH:mm:ss` (or a bare `yyyy-mm-dd`, meaning midnight) as UTC.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let civil = if text.len() == 10 {
        jiff::civil::Date::strptime("%Y-%m-%d", text).ok()?.to_datetime(jiff::civil::Time::midnight())
    } else {
        DateTime::strptime("%Y-%m-%d %H:%M:%S", text).ok()?
    };
    civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// Checks one filter `key: value`, where `key` is a field name with an optional `__MODIFIER`.
pub fn parse_condition(key: &str, value: &Value) -> Result<Condition, DomainError> {
    let (name, modifier_text) = key.split_once("__").unwrap_or((key, ""));
    let field = FILTER_FIELDS.iter().find(|f| f.name == name).copied().ok_or_else(|| {
        let known: Vec<&str> = FILTER_FIELDS.iter().map(|f| f.name).collect();
        DomainError::new(key, format!("leads cannot be filtered by `{name}`; filter by one of {}", known.join(", ")))
    })?;
    let modifier = Modifier::parse(modifier_text).ok_or_else(|| {
        DomainError::new(
            key,
            format!("`{modifier_text}` is not one of BEGINS, CONTAINS, LESSTHAN, GREATERTHAN, NOT, EMPTY"),
        )
    })?;
    let wrong = |expected: &str| DomainError::new(key, format!("must be {expected}"));
    // iVvy clients often send numbers as strings; both forms are read.
    let as_text = || match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let operand = match (modifier, field.kind) {
        (Modifier::Empty, _) => Operand::Empty(match value {
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_i64() == Some(1) => true,
            Value::Number(n) if n.as_i64() == Some(0) => false,
            Value::String(s) if s == "true" || s == "1" => true,
            Value::String(s) if s == "false" || s == "0" => false,
            _ => return Err(wrong("true or false")),
        }),
        (Modifier::Begins | Modifier::Contains, ColumnKind::Text) => {
            Operand::Text(as_text().filter(|t| !t.is_empty()).ok_or_else(|| wrong("non-empty text"))?)
        }
        (Modifier::Begins | Modifier::Contains, _) => {
            return Err(DomainError::new(key, format!("{name} is not text; BEGINS and CONTAINS compare text")))
        }
        (_, ColumnKind::Id) => {
            Operand::Int(as_text().and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| wrong("a whole number"))?)
        }
        (_, ColumnKind::Text) => Operand::Text(as_text().ok_or_else(|| wrong("text"))?),
        (_, ColumnKind::Time) => Operand::Time(
            as_text()
                .as_deref()
                .and_then(parse_time)
                .ok_or_else(|| wrong("a date-time such as 2026-11-22 14:30:00"))?,
        ),
    };
    Ok(Condition { field, modifier, operand })
}

/// Checks a whole filter object, returning every offending key.
pub fn parse_filter(filter: &serde_json::Map<String, Value>) -> Result<Vec<Condition>, Vec<DomainError>> {
    let mut conditions = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in filter {
        match parse_condition(key, value) {
            Ok(c) => conditions.push(c),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(conditions)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn company_lead() -> CrmInput {
        CrmInput {
            name: Some("Gala dinner".into()),
            source_id: Some(1),
            type_id: Some(2),
            stage_id: Some(3),
            company_id: Some(4),
            company_lead_contact_id: Some(5),
            ..Default::default()
        }
    }

    fn contact_lead() -> CrmInput {
        CrmInput {
            company_id: None,
            company_lead_contact_id: None,
            contact_id: Some(6),
            industry_id: Some(7),
            ..company_lead()
        }
    }

    fn fields(errors: &[DomainError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_complete_company_lead_and_a_complete_contact_lead_pass() {
        assert_eq!(check_add(&company_lead()), vec![]);
        assert_eq!(check_add(&contact_lead()), vec![]);
    }

    #[test]
    fn each_required_on_add_field_is_named_when_missing() {
        let cases: Vec<(CrmInput, &str)> = vec![
            (CrmInput { name: None, ..company_lead() }, "name"),
            (CrmInput { name: Some("  ".into()), ..company_lead() }, "name"),
            (CrmInput { source_id: None, ..company_lead() }, "sourceId"),
            (CrmInput { type_id: None, ..company_lead() }, "typeId"),
            (CrmInput { stage_id: None, ..company_lead() }, "stageId"),
            (CrmInput { company_lead_contact_id: None, ..company_lead() }, "companyLeadContactId"),
            (CrmInput { industry_id: None, ..contact_lead() }, "industryId"),
            (CrmInput { contact_id: None, ..contact_lead() }, "companyId"),
            (CrmInput { company_id: Some(4), ..contact_lead() }, "contactId"),
        ];
        for (input, field) in cases {
            assert_eq!(fields(&check_add(&input)), vec![field], "{input:?}");
        }
    }

    #[test]
    fn new_company_and_contact_objects_stand_in_for_their_ids() {
        let object = || Some(serde_json::Map::new());
        let new_both = CrmInput {
            company_id: None,
            company_lead_contact_id: None,
            new_company: object(),
            new_contact: object(),
            ..company_lead()
        };
        assert_eq!(check_add(&new_both), vec![]);
        let new_contact_in_company =
            CrmInput { company_lead_contact_id: None, new_contact: object(), ..company_lead() };
        assert_eq!(check_add(&new_contact_in_company), vec![]);
        let new_contact_lead = CrmInput { contact_id: None, new_contact: object(), ..contact_lead() };
        assert_eq!(check_add(&new_contact_lead), vec![]);
        let cases: Vec<(CrmInput, Vec<&str>)> = vec![
            (CrmInput { new_company: object(), ..company_lead() }, vec!["company", "companyLeadContactId"]),
            (CrmInput { new_contact: object(), ..company_lead() }, vec!["contact"]),
            (CrmInput { new_contact: object(), ..contact_lead() }, vec!["contact"]),
            (
                CrmInput { new_company: object(), company_id: None, company_lead_contact_id: None, ..company_lead() },
                vec!["companyLeadContactId"],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(fields(&check_add(&input)), expected, "{input:?}");
        }
    }

    #[test]
    fn every_missing_field_is_listed_at_once() {
        let errors = check_add(&CrmInput { description: Some("x".into()), ..Default::default() });
        assert_eq!(fields(&errors), vec!["name", "sourceId", "typeId", "stageId", "companyId"]);
    }

    #[test]
    fn a_type_with_subtypes_needs_one_of_them() {
        let facts = LinkFacts { subtypes: Some(vec![21, 22]), ..Default::default() };
        let input = company_lead();
        let links = Links::after(None, &input);
        assert_eq!(fields(&check_links(true, &input, &links, &facts)), vec!["subtypeId"]);
        let input = CrmInput { subtype_id: Some(22), ..company_lead() };
        assert!(check_links(true, &input, &Links::after(None, &input), &facts).is_empty());
        let input = CrmInput { subtype_id: Some(23), ..company_lead() };
        let errors = check_links(true, &input, &Links::after(None, &input), &facts);
        assert_eq!(errors[0].message, "lead type 2 has no subtype 23");
        let no_subtypes = LinkFacts { subtypes: Some(vec![]), ..Default::default() };
        assert!(check_links(true, &company_lead(), &Links::after(None, &company_lead()), &no_subtypes).is_empty());
    }

    #[test]
    fn reasons_must_belong_to_the_stage_and_contacts_to_the_company() {
        let input = CrmInput { stage_reason_id: Some(9), ..company_lead() };
        let facts = LinkFacts { subtypes: None, stage_reasons: Some(vec![8]), contact_company: Some(Some(40)) };
        let errors = check_links(true, &input, &Links::after(None, &input), &facts);
        assert_eq!(fields(&errors), vec!["stageReasonId", "companyLeadContactId"]);
        assert_eq!(errors[1].message, "contact 5 does not belong to company 4");
    }

    #[test]
    fn an_update_checks_only_the_rules_its_fields_touch() {
        let facts = LinkFacts { subtypes: Some(vec![21]), ..Default::default() };
        let links = Links { type_id: Some(2), ..Default::default() };
        let description = CrmInput { description: Some("new".into()), ..Default::default() };
        assert!(check_links(false, &description, &links, &facts).is_empty());
        let retype = CrmInput { type_id: Some(2), ..Default::default() };
        assert_eq!(fields(&check_links(false, &retype, &links, &facts)), vec!["subtypeId"]);
    }

    #[test]
    fn filter_keys_read_their_modifier_and_type_their_operand() {
        let cases = [
            ("name", json!("Gala"), Modifier::Equals, Operand::Text("Gala".into())),
            ("name__BEGINS", json!("Ga"), Modifier::Begins, Operand::Text("Ga".into())),
            ("description__CONTAINS", json!("vip"), Modifier::Contains, Operand::Text("vip".into())),
            ("stageId__NOT", json!("3"), Modifier::Not, Operand::Int(3)),
            ("id__LESSTHAN", json!(10), Modifier::LessThan, Operand::Int(10)),
            ("id__GREATERTHAN", json!(2), Modifier::GreaterThan, Operand::Int(2)),
            ("ownerUserId__EMPTY", json!(true), Modifier::Empty, Operand::Empty(true)),
            ("description__EMPTY", json!("0"), Modifier::Empty, Operand::Empty(false)),
            (
                "createdDate__GREATERTHAN",
                json!("2026-11-22 10:00:00"),
                Modifier::GreaterThan,
                Operand::Time("2026-11-22T10:00:00Z".parse().unwrap()),
            ),
            (
                "modifiedDate__LESSTHAN",
                json!("2026-11-23"),
                Modifier::LessThan,
                Operand::Time("2026-11-23T00:00:00Z".parse().unwrap()),
            ),
        ];
        for (key, value, modifier, operand) in cases {
            let c = parse_condition(key, &value).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!((c.modifier, c.operand), (modifier, operand), "{key}");
        }
    }

    #[test]
    fn bad_filters_name_their_key() {
        let cases = [
            ("colour", json!("red")),
            ("name__STARTS", json!("a")),
            ("stageId__BEGINS", json!("1")),
            ("stageId", json!("three")),
            ("createdDate", json!("yesterday")),
            ("name__EMPTY", json!("maybe")),
            ("name__CONTAINS", json!("")),
        ];
        for (key, value) in cases {
            let err = parse_condition(key, &value).unwrap_err();
            assert_eq!(err.field, key);
        }
        let filter = json!({"colour": 1, "stageId": "x", "name": "ok"});
        let errors = parse_filter(filter.as_object().unwrap()).unwrap_err();
        assert_eq!(fields(&errors), vec!["colour", "stageId"]);
    }

    #[test]
    fn times_read_and_write_the_crm_form_in_utc() {
        let t = parse_time("2012-04-03 22:23:24").unwrap();
        assert_eq!(t, "2012-04-03T22:23:24Z".parse::<Timestamp>().unwrap());
        assert_eq!(format_time(t), "2012-04-03 22:23:24");
        assert_eq!(parse_time("2012-04-03T22:23:24"), None);
        assert_eq!(parse_time("2012-13-03 22:23:24"), None);
    }
}
