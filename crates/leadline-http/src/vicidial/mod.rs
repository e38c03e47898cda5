//! The VICIdial lead-archive dialect: `POST /vicidial/leads/archive` and
//! `POST /vicidial/leads/dearchive`, with the seed page's statuses, messages and body shapes.
//!
//! A request is handled in this order: the key (`Authorization: Key=…`, 401), office hours (the
//! archive call only, 403), the body's JSON (500 in the seed's shape when it does not parse), the
//! fields (400 with `lead_errors`/`lead_ids`), the ids' existence (400), then the batch (200 with
//! its counts). The batch runs on Leadline's own store, or on a VICIdial database when one is
//! configured. See docs/dialects/vicidial.md for every choice made where the page is silent.

mod wire;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use leadline_app::archive::{self, ArchiveError, Target};
use leadline_app::{keys, AppError, Principal};
use leadline_core::archive::{held_by_office_hours, Counts, Direction, OfficeHours, DEFAULT_MAX_LEAD_IDS};
use leadline_core::history::Api;
use serde_json::{json, Value};

use wire::check_request;
pub(crate) use wire::Refusal;

use crate::AppState;

/// Settings of the VICIdial dialect.
#[derive(Debug, Clone)]
pub struct VicidialSettings {
    /// When the archive call is refused (403); none: never.
    pub office_hours: Option<OfficeHours>,
    /// Most ids in one request.
    pub max_lead_ids: usize,
    /// Leadline's own lead table, or a VICIdial database.
    pub target: Target,
}

impl Default for VicidialSettings {
    fn default() -> Self {
        VicidialSettings { office_hours: None, max_lead_ids: DEFAULT_MAX_LEAD_IDS, target: Target::Leadline }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/vicidial/leads/archive", post(archive_leads))
        .route("/vicidial/leads/dearchive", post(dearchive_leads))
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

fn refused(status: StatusCode, error: Refusal) -> Response {
    (status, Json(json!({"message": error.message, "lead_errors": error.lead_errors, "lead_ids": error.lead_ids})))
        .into_response()
}

fn unexpected(text: String) -> Response {
    refused(StatusCode::INTERNAL_SERVER_ERROR, Refusal { message: text, lead_errors: 0, lead_ids: Vec::new() })
}

async fn archive_leads(state: State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    handle(state, headers, body, Direction::Archive).await
}

async fn dearchive_leads(state: State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    handle(state, headers, body, Direction::Dearchive).await
}

/// The key from `Authorization: Key=<key>`; any other form, or a key that is unknown, expired,
/// revoked or not allowed to archive, is the seed's 401.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    let unauthorized = || message(StatusCode::UNAUTHORIZED, "unable to validate api user");
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.trim().strip_prefix("Key="))
        .map(str::trim)
        .ok_or_else(unauthorized)?;
    match keys::authenticate(&state.app, secret).await {
        Ok(principal) if archive::authorize(&principal).is_ok() => Ok(principal),
        Ok(_) | Err(AppError::Unauthorized(_)) => Err(unauthorized()),
        Err(error) => Err(failure(error)),
    }
}

fn failure(error: AppError) -> Response {
    tracing::error!(%error, source = ?std::error::Error::source(&error), "vicidial archive request failed");
    let text = match error.operator_detail() {
        // A VICIdial database that lacks a table or an archive column: the operator's to fix.
        Some(detail) => detail.to_string(),
        None => "the batch could not be processed; the server log has the cause. Nothing was deleted unless it was archived first".into(),
    };
    unexpected(text)
}

/// The body as JSON, or the parser's complaint in the seed's wording: what, where in the
/// document, line and position.
fn parse_body(body: &[u8]) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let outcome: Result<Value, _> = serde_path_to_error::deserialize(&mut deserializer);
    let (path, inner) = match outcome {
        Ok(value) => match deserializer.end() {
            Ok(()) => return Ok(value),
            Err(e) => (String::from("."), e),
        },
        Err(e) => (e.path().to_string(), e.into_inner()),
    };
    let what = inner.to_string();
    let what = what.split(" at line ").next().unwrap_or(&what).to_string();
    let path = if path == "." { String::new() } else { path };
    Err(format!("{what}. Path '{path}', line {}, position {}.", inner.line(), inner.column()))
}

async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    direction: Direction,
) -> Response {
    let principal = match authenticate(&state, &headers).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let settings = &state.settings.vicidial;
    if held_by_office_hours(settings.office_hours.as_ref(), direction, state.app.now()) {
        return message(StatusCode::FORBIDDEN, "api cannot be executed during office hours time condition");
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return unexpected("the request body is larger than this server accepts".into())
        }
        Err(rejection) => return unexpected(format!("the request body could not be read: {rejection}")),
    };
    let value = match parse_body(&body) {
        Ok(value) => value,
        Err(text) => return unexpected(text),
    };
    let batch = match check_request(&value, direction, settings.max_lead_ids) {
        Ok(batch) => batch,
        Err(error) => return refused(StatusCode::BAD_REQUEST, error),
    };
    match archive::run(&state.app, &settings.target, &principal, Api::Vicidial, &batch).await {
        Ok(counts) => done(direction, counts),
        Err(ArchiveError::Refused(error)) => refused(StatusCode::BAD_REQUEST, Refusal::from(&error)),
        Err(ArchiveError::App(AppError::Forbidden(_))) => {
            message(StatusCode::UNAUTHORIZED, "unable to validate api user")
        }
        Err(ArchiveError::App(error)) => failure(error),
    }
}

fn done(direction: Direction, counts: Counts) -> Response {
    let body = match direction {
        Direction::Archive => json!({
            "message": "lead_ids batch was successfully processed",
            "select_count": counts.select_count,
            "insert_count": counts.insert_count,
            "update_count": counts.update_count,
            "delete_count": counts.delete_count,
        }),
        Direction::Dearchive => json!({
            "message": "lead_ids batch was successfully processed",
            "select_count": counts.select_count,
            "insert_count": counts.insert_count,
            "delete_count": counts.delete_count,
        }),
    };
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_failure_names_the_path_line_and_position() {
        let text = parse_body(b"{\"lead_ids\": [1, 2, s]}").unwrap_err();
        assert_eq!(text, "expected value. Path 'lead_ids[2]', line 1, position 21.");
        assert!(parse_body(b"").unwrap_err().starts_with("EOF while parsing a value. Path '', line 1"));
        assert!(parse_body(b"{} x").unwrap_err().starts_with("trailing characters."));
        assert_eq!(parse_body(b" {\"a\": 1} "), Ok(json!({"a": 1})));
    }
}
