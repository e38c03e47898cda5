//! The Noojee Contact dialect: `/servicemanager/rest/CampaignAPI/…` insert and update of campaign
//! leads, with Noojee's codes (0, 101–117), messages and HTTP statuses.
//!
//! Choices where the vendor's page is silent (see docs/dialects/noojee.md): an unusable `apiKey`
//! is HTTP 401 `{"code":401,"message":"INVALID_API_KEY"}`; a key that may not touch the campaign is
//! 403; input the code table has no code for (a malformed body, a priority outside 0–100, a phone
//! that is not a number) is code 103 `EXCEPTION` with HTTP 400, since it is the caller's to fix.

mod limit;
mod wire;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use leadline_app::dialer::{self, CampaignIds};
use leadline_app::{keys, AppError, Principal};
use leadline_core::dialer::DialerRecord;
use leadline_core::history::Api;
use serde_json::{json, Value};

pub use limit::{Kind, Limiter, Limits};
use wire::{Code, Params};

use crate::rate_limit::{ClientAddr, Group, Limited};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/servicemanager/rest/CampaignAPI/{operation}", post(campaign_api))
}

/// A Noojee reply: the code, its message, and the status the vendor gives it.
fn reply(code: Code, detail: Option<String>, extra: Value) -> Response {
    let mut body = json!({"code": code.number(), "message": code.message()});
    if let Some(detail) = detail {
        body["detail"] = Value::from(detail);
    }
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    (code.status(), Json(body)).into_response()
}

fn refusal(error: AppError) -> (Code, String) {
    let code = Code::of(&error);
    if code == Code::Exception && matches!(error, AppError::Store(_)) {
        // Noojee has no code of its own for a database away or full: the exception says which.
        if let Some(unavailable) = error.unavailable() {
            tracing::warn!(%error, "noojee request refused: the database cannot serve");
            return (code, unavailable.detail().into());
        }
        tracing::error!(%error, source = ?std::error::Error::source(&error), "noojee request failed");
        return (code, "internal error".into());
    }
    (code, wire::detail(&error))
}

async fn campaign_api(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(operation): Path<String>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let kind = match operation.as_str() {
        "insertLeadFast" | "insertLead" => Kind::Insert,
        "updateLeadFast" | "updateLead" => Kind::Update,
        _ => {
            return (StatusCode::NOT_FOUND, Json(json!({"code": 404, "message": "NOT_FOUND", "detail": format!("CampaignAPI has no operation `{operation}`; it has insertLeadFast, insertLead, updateLeadFast and updateLead")})))
                .into_response()
        }
    };
    let limiter = state.noojee_limiter.clone();
    let params = Params::parse(query.as_deref().unwrap_or(""));
    // Past a rate limit (the key's, or without a valid key the address's), Noojee's 109.
    let limited = |limited: Limited| reply(Code::TooManyRequests, Some(limited.detail()), json!({}));
    let principal = match authenticate(&state, &params).await {
        Ok(p) => p,
        Err(response) if response.status() == StatusCode::UNAUTHORIZED => {
            if let Err(over) = state.rate_limiter.check_address(Group::Noojee, client.0) {
                return limited(over);
            }
            return response;
        }
        Err(response) => return response,
    };
    if let Err(over) = state.rate_limiter.check_key(Group::Noojee, principal.key_id) {
        return limited(over);
    }
    let records = match wire::records(&body, limiter.limits().batch_limit) {
        Ok(records) => records,
        Err(detail) => return reply(Code::Exception, Some(detail), json!({})),
    };
    let ids = CampaignIds {
        template_id: params.id("fTemplateId"),
        campaign_id: params.id("fCampaignId"),
        allocation_id: params.id("fAllocationId"),
    };
    // A key that may not touch the campaign is refused before it takes a place in the queue.
    if let Err(AppError::Forbidden(detail)) = dialer::check_campaign(&principal, ids.campaign_id) {
        return forbidden(detail);
    }
    // Waiting for a turn happens before anything is read or written, so a 109 changes nothing.
    let Some(_permit) = limiter.acquire(kind).await else {
        return reply(
            Code::TooManyRequests,
            Some(format!("no turn within {} s; retry later", limiter.wait(kind).as_secs())),
            json!({}),
        );
    };
    let allow_duplicates = params.flag("allowDuplicates");
    let url_external_id = params.text("njExternalLeadId");
    let batch = records.batch;
    let mut outcomes = Vec::with_capacity(records.items.len());
    for mut record in records.items {
        if record.external_id.is_none() {
            record.external_id = url_external_id.clone();
        }
        let result = match kind {
            Kind::Insert => dialer::insert(&state.app, &principal, Api::Noojee, ids, &record, allow_duplicates).await,
            Kind::Update => dialer::update(&state.app, &principal, Api::Noojee, ids, &record).await,
        };
        outcomes.push(result);
    }
    if !batch {
        return match outcomes.pop().expect("one record") {
            Ok(lead) => reply(
                Code::Ok,
                None,
                json!({"id": lead.id, "ref": lead.lead_ref, "njExternalLeadId": lead.external_id}),
            ),
            Err(AppError::Forbidden(detail)) => forbidden(detail),
            Err(error) => {
                let (code, detail) = refusal(error);
                reply(code, Some(detail), json!({}))
            }
        };
    }
    let mut results = Vec::with_capacity(outcomes.len());
    let (mut done, mut rejected) = (0, 0);
    for (index, outcome) in outcomes.into_iter().enumerate() {
        results.push(match outcome {
            Ok(lead) => {
                done += 1;
                json!({"index": index, "code": 0, "message": "OK", "id": lead.id, "ref": lead.lead_ref, "njExternalLeadId": lead.external_id})
            }
            Err(AppError::Forbidden(detail)) => return forbidden(detail),
            Err(error) => {
                rejected += 1;
                let (code, detail) = refusal(error);
                json!({"index": index, "code": code.number(), "message": code.message(), "detail": detail})
            }
        });
    }
    let (imported, updated) = match kind {
        Kind::Insert => (done, 0),
        Kind::Update => (0, done),
    };
    let summary = format!("Imported {imported} Updated {updated} Rejected {rejected} leads.");
    (StatusCode::OK, Json(json!({"code": 0, "message": summary, "results": results}))).into_response()
}

fn forbidden(detail: String) -> Response {
    (StatusCode::FORBIDDEN, Json(json!({"code": 403, "message": "FORBIDDEN", "detail": detail}))).into_response()
}

async fn authenticate(state: &AppState, params: &Params) -> Result<Principal, Response> {
    let unauthorized = |detail: String| {
        (StatusCode::UNAUTHORIZED, Json(json!({"code": 401, "message": "INVALID_API_KEY", "detail": detail})))
            .into_response()
    };
    let Some(key) = params.text("apiKey") else {
        return Err(unauthorized("pass the key as the apiKey URL parameter".into()));
    };
    match keys::authenticate(&state.app, &key).await {
        Ok(principal) => Ok(principal),
        Err(AppError::Unauthorized(detail)) => Err(unauthorized(detail)),
        Err(error) => {
            let (code, detail) = refusal(error);
            Err(reply(code, Some(detail), json!({})))
        }
    }
}

/// Turns a parsed body into dialer records (exposed for the fuzz-style tests).
pub fn parse_records(body: &[u8]) -> Result<Vec<DialerRecord>, String> {
    wire::records(body, usize::MAX).map(|r| r.items)
}
