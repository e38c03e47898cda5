//! Noojee's wire format: URL parameters, the JSON body (one lead or an array) with its `nj*` keys
//! and `<No Change>`, and the code table.

use axum::http::StatusCode;
use leadline_app::AppError;
use leadline_core::dialer::{DialerError, DialerRecord, Given, RecordNames};
use serde_json::{Map, Value};

/// The vendor's result codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok,
    LeadNotFound,
    NoPhone,
    Exception,
    Dnc,
    Duplicate,
    InvalidDisposition,
    NoDispositionToKeep,
    NoChangeOnInsert,
    TooManyRequests,
    Conflict,
    InvalidContactHours,
    DuplicateExternalId,
    NoExternalId,
    BadCallbackDate,
    AllocationRequired,
    TemplateRequired,
    CampaignRequired,
}

impl Code {
    pub fn number(self) -> u16 {
        match self {
            Code::Ok => 0,
            Code::LeadNotFound => 101,
            Code::NoPhone => 102,
            Code::Exception => 103,
            Code::Dnc => 104,
            Code::Duplicate => 105,
            Code::InvalidDisposition => 106,
            Code::NoDispositionToKeep => 107,
            Code::NoChangeOnInsert => 108,
            Code::TooManyRequests => 109,
            Code::Conflict => 110,
            Code::InvalidContactHours => 111,
            Code::DuplicateExternalId => 112,
            Code::NoExternalId => 113,
            Code::BadCallbackDate => 114,
            Code::AllocationRequired => 115,
            Code::TemplateRequired => 116,
            Code::CampaignRequired => 117,
        }
    }

    /// The message exactly as the vendor spells it (typos included: clients compare them).
    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::LeadNotFound => "COULDNT_FIND_THE_LEAD",
            Code::NoPhone => "NO_PHONE_FIELDS",
            Code::Exception => "EXCEPTION",
            Code::Dnc => "DNC",
            Code::Duplicate => "DUPLICATE",
            Code::InvalidDisposition => "INVALID_DISPOSTION",
            Code::NoDispositionToKeep => "DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED",
            Code::NoChangeOnInsert => "IMPORT_BUT_NOCHANGE_SPECIFIED",
            Code::TooManyRequests => "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS",
            Code::Conflict => "LEAD_NOT_UPDATED_DUE_TO_CONFLICT",
            Code::InvalidContactHours => "INVALID_TIMEZONE_SPECIFIED",
            Code::DuplicateExternalId => "DUPLICATE_EXTERNAL_ID",
            Code::NoExternalId => "EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED",
            Code::BadCallbackDate => "INVALID_CALLBACK_DATE_FORMAT",
            Code::AllocationRequired => "ALLOCATIN_ID_REQUIRED",
            Code::TemplateRequired => "TEMPLATE_ID_REQUIRED",
            Code::CampaignRequired => "CAMPAIGN_ID_REQUIRED",
        }
    }

    /// The vendor's status for the code; 103 is 400 when the caller's input caused it.
    pub fn status(self) -> StatusCode {
        match self {
            Code::Ok => StatusCode::OK,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn of(error: &AppError) -> Code {
        match error {
            AppError::Dialer(d) => match d {
                DialerError::LeadNotFound => Code::LeadNotFound,
                DialerError::NoPhone => Code::NoPhone,
                DialerError::Dnc(_) => Code::Dnc,
                DialerError::DuplicatePhone(_) => Code::Duplicate,
                DialerError::UnknownDisposition(_) => Code::InvalidDisposition,
                DialerError::NoDispositionToKeep => Code::NoDispositionToKeep,
                DialerError::KeepOnInsert(_) => Code::NoChangeOnInsert,
                DialerError::Leased { .. } | DialerError::StaleVersion => Code::Conflict,
                DialerError::UnknownContactHours(_) => Code::InvalidContactHours,
                DialerError::ExternalIdTaken(_) => Code::DuplicateExternalId,
                DialerError::NoExternalId(_) => Code::NoExternalId,
                DialerError::BadCallbackDate(_) => Code::BadCallbackDate,
                DialerError::NoAllocation => Code::AllocationRequired,
                DialerError::NoTemplate => Code::TemplateRequired,
                DialerError::NoCampaign => Code::CampaignRequired,
                DialerError::Invalid(_) => Code::Exception,
            },
            AppError::Conflict(_) | AppError::AlreadySold { .. } | AppError::StaleVersion { .. } => Code::Conflict,
            _ => Code::Exception,
        }
    }
}

/// The detail of a refusal, in Noojee's terms where the rule's own words would not name them.
pub fn detail(error: &AppError) -> String {
    match error {
        AppError::Dialer(DialerError::KeepOnInsert(field)) => {
            format!("field `{field}` says `{NO_CHANGE}`, which only an update may say")
        }
        AppError::Dialer(DialerError::NoDispositionToKeep) => {
            format!("the lead has no disposition yet, so `{NO_CHANGE}` cannot keep it")
        }
        other => other.to_string(),
    }
}

/// URL parameters, trimmed (the vendor's own example puts spaces around them).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        let pairs = form_urlencoded(query);
        Params(pairs.into_iter().map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect())
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
    }

    /// A positive id, or None when absent or not a number (which the code table reports).
    pub fn id(&self, name: &str) -> Option<i64> {
        self.text(name).and_then(|v| v.parse::<i64>().ok()).filter(|id| *id > 0)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.text(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{query}").parse().unwrap_or_default())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The sentinel that leaves a field as it is; clients write it in any case.
const NO_CHANGE: &str = "<No Change>";

fn is_no_change(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case(NO_CHANGE)
}

/// The lead's own dialer fields, as Noojee names them.
pub const NAMES: RecordNames = RecordNames {
    external_id: "njExternalLeadId",
    disposition: "njDisposition",
    callback: "njCallBackDate",
    priority: "njPriority",
    contact_hours: "njContactHours",
};

/// One lead object as a dialer record: the `nj*` keys are the lead's own fields, every other key
/// a template or custom field; `<No Change>` keeps a field, and null or blank text gives nothing
/// for the lead's own fields.
pub fn record(object: Map<String, Value>) -> DialerRecord {
    let mut record = DialerRecord { names: NAMES, ..DialerRecord::default() };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let given = |v: &Value| {
        text(v).filter(|s| !s.trim().is_empty()).map(|s| if is_no_change(&s) { Given::Keep } else { Given::Set(s) })
    };
    for (key, value) in object {
        match key.as_str() {
            "njExternalLeadId" => record.external_id = text(&value).filter(|s| !s.trim().is_empty()),
            "njDisposition" => record.disposition = given(&value),
            "njCallBackDate" => record.callback = given(&value),
            // Checked when the lead is written, so a blank priority is refused there.
            "njPriority" => {
                record.priority = text(&value).map(|s| if is_no_change(&s) { Given::Keep } else { Given::Set(s) })
            }
            "njContactHours" => record.contact_hours = given(&value),
            _ => {
                let field = match &value {
                    Value::String(s) if is_no_change(s) => Given::Keep,
                    _ => Given::Set(value),
                };
                record.fields.push((key, field));
            }
        }
    }
    record
}

pub struct Records {
    pub items: Vec<DialerRecord>,
    /// Whether the body was an array (answered per lead) rather than one object.
    pub batch: bool,
}

/// Reads one lead object or an array of them; an empty body is one empty lead.
pub fn records(body: &[u8], batch_limit: usize) -> Result<Records, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Records { items: vec![record(Map::new())], batch: false });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    match value {
        Value::Object(object) => Ok(Records { items: vec![record(object)], batch: false }),
        Value::Array(items) => {
            if items.is_empty() {
                return Err("the array holds no leads".into());
            }
            if items.len() > batch_limit {
                return Err(format!("a batch holds at most {batch_limit} leads; this one holds {}", items.len()));
            }
            let records = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(object) => Ok(record(object)),
                    _ => Err(format!("item {i} of the array is not a lead object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Records { items: records, batch: true })
        }
        _ => Err("the body must be a lead object or an array of lead objects".into()),
    }
}

#[cfg(test)]
mod tests {
    use leadline_core::catalog::TemplateField;
    use leadline_core::dialer::phone_country;
    use leadline_core::lead::{Lead, LeadInput};
    use serde_json::json;

    use super::*;

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

    fn lead_record(value: Value) -> DialerRecord {
        record(value.as_object().unwrap().clone())
    }

    fn lead(input: LeadInput) -> Lead {
        Lead::create("E2R3JKM2".into(), input, "2026-11-22T00:00:00Z".parse().unwrap()).unwrap()
    }

    #[test]
    fn no_change_is_matched_in_any_case() {
        for text in ["<No Change>", "<NO CHANGE>", " <no change> "] {
            assert!(is_no_change(text), "{text}");
        }
        assert!(!is_no_change("No Change"));
    }

    #[test]
    fn nj_keys_are_the_leads_own_fields_and_the_rest_fill_the_template() {
        let given = lead_record(json!({"njExternalLeadId": "9856", "njDisposition": "<no change>",
            "njCallBackDate": "2026/11/23 10:30", "njPriority": 5, "njContactHours": " ", "City": "Perth",
            "SecondPhone": "<NO CHANGE>", "Colour": null}));
        assert_eq!(given.names, NAMES);
        assert_eq!(given.external_id.as_deref(), Some("9856"));
        assert_eq!(given.disposition, Some(Given::Keep));
        assert_eq!(given.callback, Some(Given::Set("2026/11/23 10:30".into())));
        assert_eq!(given.priority, Some(Given::Set("5".into())));
        assert_eq!(given.contact_hours, None, "blank text gives nothing");
        assert_eq!(
            given.fields,
            vec![
                ("City".to_string(), Given::Set(json!("Perth"))),
                ("SecondPhone".to_string(), Given::Keep),
                ("Colour".to_string(), Given::Set(Value::Null)),
            ]
        );
        assert_eq!(records(b" ", 10).unwrap().items[0].names, NAMES, "an empty body is an empty Noojee lead");
    }

    #[test]
    fn template_fields_fill_columns_phones_and_custom_fields() {
        let input = lead_record(json!({"Name": "Jane Smith", "StreetAddress": "Suite 8", "City": "Abbotsford", "PostCode": "3064",
            "FirstPhone": "0383218199", "SecondPhone": "", "Colour": "red", "njExternalLeadId": "9856", "njPriority": "5"}))
            .to_input(&template(), phone_country("AU"), None)
            .unwrap();
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
    fn no_change_on_one_phone_field_keeps_that_number() {
        let first = lead_record(json!({"FirstPhone": "0383218199", "SecondPhone": "0412345678"}))
            .to_input(&template(), phone_country("AU"), None)
            .unwrap();
        let existing = lead(first);
        let update = lead_record(json!({"FirstPhone": "0398765432", "SecondPhone": "<NO CHANGE>"}))
            .to_input(&template(), phone_country("AU"), Some(&existing))
            .unwrap();
        assert_eq!(update.phones, Some(vec!["61398765432".to_string(), "61412345678".to_string()]));
        let untouched =
            lead_record(json!({"City": "Perth"})).to_input(&template(), phone_country("AU"), Some(&existing)).unwrap();
        assert_eq!(untouched.phones, None, "phones not given are left alone");
    }

    #[test]
    fn an_insert_may_not_say_no_change_and_priority_is_checked() {
        assert_eq!(lead_record(json!({"FirstPhone": "<No Change>"})).kept_field(), Some("FirstPhone".into()));
        assert_eq!(lead_record(json!({"njDisposition": "<no change>"})).kept_field(), Some("njDisposition".into()));
        assert_eq!(lead_record(json!({"FirstPhone": "0383218199"})).kept_field(), None);
        for bad in [json!(101), json!(-1), json!("high"), json!(2.5), json!(""), json!(true)] {
            match lead_record(json!({"njPriority": bad})).priority() {
                Err(DialerError::Invalid(e)) => assert_eq!(e.field, "njPriority", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(lead_record(json!({"njPriority": 0})).priority().unwrap(), Some(0));
        assert_eq!(lead_record(json!({"njPriority": null})).priority, None);
    }

    #[test]
    fn refusals_name_nj_fields_and_no_change_in_noojees_terms() {
        let kept = AppError::Dialer(DialerError::KeepOnInsert("njDisposition".into()));
        assert_eq!(detail(&kept), "field `njDisposition` says `<No Change>`, which only an update may say");
        assert_eq!(
            detail(&AppError::Dialer(DialerError::NoDispositionToKeep)),
            "the lead has no disposition yet, so `<No Change>` cannot keep it"
        );
        let no_id = AppError::Dialer(DialerError::NoExternalId(NAMES.external_id.into()));
        assert_eq!(detail(&no_id), "an update needs njExternalLeadId to find the lead");
    }
}
