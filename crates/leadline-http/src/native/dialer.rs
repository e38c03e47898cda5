//! The dial queue on the native API: lease the next lead of an allocation, release it, give it
//! a disposition. The same use cases serve the Noojee dialect.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::SignedDuration;
use leadline_app::dialer;
use leadline_core::lead::Lead;
use serde::Deserialize;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, PathId};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// Who dials the lead (an agent or a dialer seat).
    pub holder: String,
    /// How long the lead is held; 180 (three minutes) when left out.
    #[serde(default)]
    pub lease_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub holder: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionRequest {
    /// A disposition code of the campaign's template.
    pub code: String,
    /// The holder of the lease, when the lead is leased.
    #[serde(default)]
    pub holder: Option<String>,
}

#[utoipa::path(post, path = "/v1/allocations/{id}/next-lead", tag = "dialer", request_body = LeaseRequest,
    params(("id" = i64, Path, description = "allocation id")),
    responses((status = 200, body = Lead, description = "Leased to the holder"), (status = 204, description = "Nothing is dialable now"),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn next_lead(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(request): JsonBody<LeaseRequest>,
) -> Result<Response, ApiError> {
    let lease = SignedDuration::from_secs(request.lease_seconds.unwrap_or(180));
    match dialer::next_lead(&state.app, &by, id, &request.holder, lease).await? {
        Some(lead) => Ok(Json(lead).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(post, path = "/v1/leads/{id}/release", tag = "dialer", request_body = ReleaseRequest, params(("id" = i64, Path)),
    responses((status = 200, body = Lead), (status = 404, body = Problem), (status = 409, body = Problem, description = "Not held by this holder")),
    security(("bearer" = [])))]
pub async fn release(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(request): JsonBody<ReleaseRequest>,
) -> Result<Json<Lead>, ApiError> {
    Ok(Json(dialer::release(&state.app, &by, id, &request.holder).await?))
}

#[utoipa::path(post, path = "/v1/leads/{id}/disposition", tag = "dialer", request_body = DispositionRequest, params(("id" = i64, Path)),
    responses((status = 200, body = Lead), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem, description = "Held by someone else")),
    security(("bearer" = [])))]
pub async fn disposition(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(request): JsonBody<DispositionRequest>,
) -> Result<Json<Lead>, ApiError> {
    Ok(Json(dialer::set_disposition(&state.app, &by, id, &request.code, request.holder.as_deref()).await?))
}
