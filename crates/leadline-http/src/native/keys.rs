//! `/v1/keys`: admin-only key management. The secret is in the create response only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use leadline_app::keys::{self, ApiKey, CreatedKey, KeyRequest};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, PathId};
use crate::AppState;

#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = KeyRequest,
    responses((status = 201, body = CreatedKey, description = "The secret is shown only here"),
              (status = 400, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    JsonBody(request): JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    Ok((StatusCode::CREATED, Json(keys::create(&state.app, &by, &request).await?)))
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = Vec<ApiKey>), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Caller(by): Caller) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(keys::list(&state.app, &by).await?))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = i64, Path)),
    responses((status = 200, body = ApiKey, description = "Revoked from the next request on"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(keys::revoke(&state.app, &by, id).await?))
}
