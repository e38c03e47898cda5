//! `/v1/leads`: create, read, list, change (with `If-Match`), history.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_app::store::LeadFilter;
use leadline_app::{leads, page_limit, parse_cursor, Page};
use leadline_core::history::{Api, HistoryEntry};
use leadline_core::lead::{Lead, LeadInput};
use leadline_core::phone::Phone;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, Params, PathId};
use crate::AppState;

/// A lead with its version as the ETag, for the next `If-Match`.
fn with_etag(status: StatusCode, lead: Lead) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", lead.version)).expect("digits are a valid header");
    (status, [(header::ETAG, etag)], Json(lead)).into_response()
}

/// Reads `If-Match: "7"` (or `7`, or a weak `W/"7"`).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    let bare = text.trim().trim_start_matches("W/").trim_matches('"');
    bare.parse::<i64>().map(Some).map_err(|_| {
        ApiError::bad_request("If-Match", format!("If-Match must be a lead version such as \"3\", not `{text}`"))
    })
}

#[utoipa::path(post, path = "/v1/leads", tag = "leads", request_body = LeadInput,
    responses((status = 201, body = Lead, description = "Created; `ETag` holds the version"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    JsonBody(input): JsonBody<LeadInput>,
) -> Result<Response, ApiError> {
    let lead = leads::create(&state.app, &by, Api::Native, input).await?;
    Ok(with_etag(StatusCode::CREATED, lead))
}

#[utoipa::path(get, path = "/v1/leads/{id}", tag = "leads", params(("id" = i64, Path)),
    responses((status = 200, body = Lead), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, Caller(by): Caller, PathId(id): PathId) -> Result<Response, ApiError> {
    let lead = leads::get(&state.app, &by, id).await?;
    Ok(with_etag(StatusCode::OK, lead))
}

#[utoipa::path(patch, path = "/v1/leads/{id}", tag = "leads", request_body = LeadInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "Apply only to this version")),
    responses((status = 200, body = Lead), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 412, body = Problem, description = "Stale version; nothing changed")),
    security(("bearer" = [])))]
pub async fn change(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    JsonBody(input): JsonBody<LeadInput>,
) -> Result<Response, ApiError> {
    let version = if_match(&headers)?;
    let lead = leads::change(&state.app, &by, Api::Native, id, input, version).await?;
    Ok(with_etag(StatusCode::OK, lead))
}

#[utoipa::path(get, path = "/v1/leads", tag = "leads",
    params(("campaign_id" = Option<i64>, Query), ("allocation_id" = Option<i64>, Query), ("vertical_id" = Option<i64>, Query),
           ("queue_id" = Option<i64>, Query), ("phone" = Option<String>, Query), ("external_id" = Option<String>, Query),
           ("updated_since" = Option<String>, Query, description = "RFC 3339 timestamp"),
           ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = Page<Lead>), (status = 400, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(by): Caller,
    mut params: Params,
) -> Result<Json<Page<Lead>>, ApiError> {
    let phone = params
        .take("phone")
        .map(|p| {
            Phone::parse(&p).map(|p| p.as_str().to_string()).map_err(|e| ApiError::bad_request("phone", e.to_string()))
        })
        .transpose()?;
    let updated_since = params
        .take("updated_since")
        .map(|t| {
            t.parse().map_err(|_| ApiError::bad_request("updated_since", format!("`{t}` is not an RFC 3339 timestamp")))
        })
        .transpose()?;
    let filter = LeadFilter {
        campaign_id: params.take_i64("campaign_id")?,
        allocation_id: params.take_i64("allocation_id")?,
        vertical_id: params.take_i64("vertical_id")?,
        queue_id: params.take_i64("queue_id")?,
        external_id: params.take("external_id"),
        phone,
        updated_since,
        after: parse_cursor(params.take("cursor").as_deref())?,
        limit: page_limit(params.take_i64("limit")?)?,
        ..LeadFilter::default()
    };
    params.finish()?;
    Ok(Json(leads::list(&state.app, &by, filter).await?))
}

#[utoipa::path(get, path = "/v1/leads/{id}/history", tag = "leads",
    params(("id" = i64, Path), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<HistoryEntry>), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    mut params: Params,
) -> Result<Json<Page<HistoryEntry>>, ApiError> {
    let after = parse_cursor(params.take("cursor").as_deref())?;
    let limit = page_limit(params.take_i64("limit")?)?;
    params.finish()?;
    Ok(Json(leads::history(&state.app, &by, id, after, limit).await?))
}
