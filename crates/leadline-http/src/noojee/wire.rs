//! Noojee's wire format: URL parameters, the JSON body (one lead or an array), and the code table.

use axum::http::StatusCode;
use leadline_app::AppError;
use leadline_core::dialer::{DialerError, DialerRecord};
use serde_json::Value;

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
                DialerError::NoChangeOnInsert(_) => Code::NoChangeOnInsert,
                DialerError::Leased { .. } | DialerError::StaleVersion => Code::Conflict,
                DialerError::UnknownContactHours(_) => Code::InvalidContactHours,
                DialerError::ExternalIdTaken(_) => Code::DuplicateExternalId,
                DialerError::NoExternalId => Code::NoExternalId,
                DialerError::BadCallbackDate(_) => Code::BadCallbackDate,
                DialerError::NoAllocation => Code::AllocationRequired,
                DialerError::NoTemplate => Code::TemplateRequired,
                DialerError::NoCampaign => Code::CampaignRequired,
                DialerError::Invalid(_) => Code::Exception,
            },
            AppError::Conflict(_) | AppError::StaleVersion { .. } => Code::Conflict,
            _ => Code::Exception,
        }
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

pub struct Records {
    pub items: Vec<DialerRecord>,
    /// Whether the body was an array (answered per lead) rather than one object.
    pub batch: bool,
}

/// Reads one lead object or an array of them; an empty body is one empty lead.
pub fn records(body: &[u8], batch_limit: usize) -> Result<Records, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Records { items: vec![DialerRecord::default()], batch: false });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    match value {
        Value::Object(object) => Ok(Records { items: vec![DialerRecord::from_object(object)], batch: false }),
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
                    Value::Object(object) => Ok(DialerRecord::from_object(object)),
                    _ => Err(format!("item {i} of the array is not a lead object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Records { items: records, batch: true })
        }
        _ => Err("the body must be a lead object or an array of lead objects".into()),
    }
}
