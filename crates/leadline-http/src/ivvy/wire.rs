//! Reading iVvy request bodies and writing iVvy replies.

use axum::http::StatusCode;
use leadline_core::crm::{format_time, parse_filter, Condition, CrmInput};
use leadline_core::lead::Lead;
use leadline_core::DomainError;
use serde_json::{json, Map, Value};

use super::error::{lead_invalid, IvvyError, NO_SPECIFIC_CODE, REQUEST_EMPTY};

/// Default and largest `perPage`.
pub const PER_PAGE: i64 = 100;

/// The body as a JSON object; an empty body (or `null`) is `None`.
fn object(
    body: &[u8],
    invalid: impl Fn(Vec<DomainError>) -> IvvyError,
) -> Result<Option<Map<String, Value>>, IvvyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(invalid(vec![DomainError::new("", "the body must be a JSON object")])),
        Err(e) => Err(invalid(vec![DomainError::new("", format!("the body is not valid JSON: {e}"))])),
    }
}

/// An integer as iVvy clients send it: a JSON number or a string of digits. `null` is absent.
fn integer(field: &str, value: &Value) -> Result<Option<i64>, DomainError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or(()),
        Value::String(s) => s.trim().parse::<i64>().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
    .map_err(|()| DomainError::new(field, "must be a whole number"))
}

fn id(field: &str, value: &Value) -> Result<Option<i64>, DomainError> {
    match integer(field, value)? {
        Some(n) if n <= 0 => Err(DomainError::new(field, "must be a positive integer id")),
        other => Ok(other),
    }
}

fn text(field: &str, value: &Value) -> Result<Option<String>, DomainError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(DomainError::new(field, "must be text")),
    }
}

fn custom_fields(value: &Value) -> Result<Vec<(i64, Value)>, Vec<DomainError>> {
    let Value::Array(items) = value else {
        return match value {
            Value::Null => Ok(Vec::new()),
            _ => Err(vec![DomainError::new("customFields", "must be a list of {fieldId, fieldValue}")]),
        };
    };
    let mut fields = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("customFields[{i}]");
        let Some(item) = item.as_object() else {
            errors.push(DomainError::new(at, "must be an object {fieldId, fieldValue}"));
            continue;
        };
        let field_id = item.get("fieldId").unwrap_or(&Value::Null);
        match id(&format!("{at}.fieldId"), field_id) {
            Ok(Some(field_id)) => match item.get("fieldValue").unwrap_or(&Value::Null) {
                Value::Array(_) | Value::Object(_) => {
                    errors.push(DomainError::new(format!("{at}.fieldValue"), "must be text, a number or true/false"))
                }
                value => fields.push((field_id, value.clone())),
            },
            Ok(None) => errors.push(DomainError::new(format!("{at}.fieldId"), "is required")),
            Err(e) => errors.push(e),
        }
        if let Some(key) = item.keys().find(|k| *k != "fieldId" && *k != "fieldValue") {
            errors
                .push(DomainError::new(format!("{at}.{key}"), "unknown field; a custom field has fieldId, fieldValue"));
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

/// Reads an addOrUpdateLead body: the lead's id (absent to add) and the given fields.
pub fn lead_request(body: &[u8]) -> Result<(Option<i64>, CrmInput), IvvyError> {
    let map = object(body, |e| lead_invalid(&e))?.unwrap_or_default();
    if map.values().all(Value::is_null) {
        return Err(IvvyError::new(StatusCode::BAD_REQUEST, REQUEST_EMPTY, "The request is empty"));
    }
    let mut input = CrmInput::default();
    let mut lead_id = None;
    let mut errors = Vec::new();
    for (key, value) in &map {
        let k = key.as_str();
        let result: Result<(), Vec<DomainError>> = (|| {
            let one = |e: DomainError| vec![e];
            match k {
                "id" => lead_id = id(k, value).map_err(one)?,
                "name" => input.name = text(k, value).map_err(one)?,
                "description" => input.description = text(k, value).map_err(one)?,
                "qualityId" => input.quality_id = id(k, value).map_err(one)?,
                "industryId" => input.industry_id = id(k, value).map_err(one)?,
                "sourceId" => input.source_id = id(k, value).map_err(one)?,
                "companyId" => input.company_id = id(k, value).map_err(one)?,
                "companyLeadContactId" => input.company_lead_contact_id = id(k, value).map_err(one)?,
                "contactId" => input.contact_id = id(k, value).map_err(one)?,
                "ownerUserId" => input.owner_user_id = id(k, value).map_err(one)?,
                "typeId" => input.type_id = id(k, value).map_err(one)?,
                "subtypeId" => input.subtype_id = id(k, value).map_err(one)?,
                "stageId" => input.stage_id = id(k, value).map_err(one)?,
                "stageReasonId" => input.stage_reason_id = id(k, value).map_err(one)?,
                "channelId" => input.channel_id = id(k, value).map_err(one)?,
                "customFields" => input.custom_fields = custom_fields(value)?,
                "company" | "contact" => match value {
                    Value::Null => {}
                    Value::Object(object) if k == "company" => input.new_company = Some(object.clone()),
                    Value::Object(object) => input.new_contact = Some(object.clone()),
                    _ => return Err(one(DomainError::new(k, format!("must be a {k} object")))),
                },
                // SDKs may send every property of their model; unknown ones are refused only
                // when they carry a value, so a typo never passes silently.
                _ if value.is_null() => {}
                _ => return Err(one(DomainError::new(k, "unknown field of a lead"))),
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.extend(e);
        }
    }
    if !errors.is_empty() {
        return Err(lead_invalid(&errors));
    }
    Ok((lead_id, input))
}

/// A list call's paging and, for leads, its filter.
#[derive(Debug)]
pub struct ListRequest {
    pub start: i64,
    pub per_page: i64,
    pub conditions: Vec<Condition>,
}

/// Reads `{"start", "perPage", "filter"}` (all optional); `filter` only where `filters` is true.
pub fn list_request(body: &[u8], filters: bool) -> Result<ListRequest, IvvyError> {
    let map = object(body, |e| IvvyError::invalid(&e))?.unwrap_or_default();
    let mut request = ListRequest { start: 0, per_page: PER_PAGE, conditions: Vec::new() };
    let mut errors = Vec::new();
    for (key, value) in &map {
        match key.as_str() {
            "start" => match integer(key, value) {
                Ok(Some(n)) if n >= 0 => request.start = n,
                Ok(None) => {}
                Ok(Some(_)) => errors.push(DomainError::new(key.as_str(), "must be 0 or more")),
                Err(e) => errors.push(e),
            },
            "perPage" => match integer(key, value) {
                Ok(Some(n)) if (1..=PER_PAGE).contains(&n) => request.per_page = n,
                Ok(None) => {}
                Ok(Some(_)) => errors.push(DomainError::new(key.as_str(), format!("must be between 1 and {PER_PAGE}"))),
                Err(e) => errors.push(e),
            },
            "filter" if filters => match value {
                Value::Null => {}
                Value::Object(filter) => match parse_filter(filter) {
                    Ok(conditions) => request.conditions = conditions,
                    Err(e) => errors.extend(e.into_iter().map(|e| e.within("filter"))),
                },
                _ => errors.push(DomainError::new("filter", "must be an object of field filters")),
            },
            _ if value.is_null() => {}
            other => errors.push(DomainError::new(
                other,
                if filters {
                    "unknown parameter; a list takes start, perPage, filter"
                } else {
                    "unknown parameter; a list takes start, perPage"
                },
            )),
        }
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(IvvyError::invalid(&errors))
    }
}

/// Reads a look-up addOrUpdate body: the id (absent to add) and the object's fields.
pub fn lookup_request(body: &[u8]) -> Result<(Option<i64>, Map<String, Value>), IvvyError> {
    let mut map = object(body, |e| IvvyError::invalid(&e))?.unwrap_or_default();
    if map.values().all(Value::is_null) {
        return Err(IvvyError::new(StatusCode::BAD_REQUEST, NO_SPECIFIC_CODE, "The request is empty"));
    }
    let lookup_id = match map.remove("id") {
        Some(value) => id("id", &value).map_err(|e| IvvyError::invalid(&[e]))?,
        None => None,
    };
    map.retain(|_, v| !v.is_null());
    Ok((lookup_id, map))
}

/// A lead as getLeadList shows it.
pub fn show_lead(lead: &Lead) -> Value {
    let custom_fields: Vec<Value> = lead
        .fields
        .iter()
        .filter_map(|(key, value)| key.parse::<i64>().ok().map(|id| json!({"fieldId": id, "fieldValue": value})))
        .collect();
    json!({
        "id": lead.id,
        "name": lead.name,
        "qualityId": lead.quality_id,
        "industryId": lead.industry_id,
        "sourceId": lead.source_id,
        "companyId": lead.company_id,
        "companyLeadContactId": lead.company_lead_contact_id,
        "contactId": lead.contact_id,
        "ownerUserId": lead.owner_user_id,
        "typeId": lead.type_id,
        "subtypeId": lead.subtype_id,
        "stageId": lead.stage_id,
        "stageReasonId": lead.stage_reason_id,
        "channelId": lead.channel_id,
        "description": lead.description,
        "customFields": custom_fields,
        "createdDate": format_time(lead.created_at),
        "modifiedDate": format_time(lead.updated_at),
    })
}

pub fn list_reply(total: i64, start: i64, per_page: i64, results: Vec<Value>) -> Value {
    json!({
        "meta": {"totalResults": total, "start": start, "perPage": per_page, "count": results.len()},
        "results": results,
    })
}
