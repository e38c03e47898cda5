//! `/v1/archive/leads/{id}`: a lead moved to the archive, read as it was when it left.

use axum::extract::State;
use axum::Json;
use leadline_core::lead::Lead;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, PathId};
use crate::AppState;

#[utoipa::path(get, path = "/v1/archive/leads/{id}", tag = "leads", params(("id" = i64, Path)),
    responses((status = 200, body = Lead, description = "The archived lead, every field as it was archived"),
              (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
) -> Result<Json<Lead>, ApiError> {
    Ok(Json(leadline_app::archive::get(&state.app, &by, id).await?))
}
