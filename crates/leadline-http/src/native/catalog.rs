//! `/v1/<collection>` for every reference collection, and `PUT /v1/catalog` to apply a whole
//! catalog file. The collections are described once in leadline-core; these handlers serve all.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use leadline_app::catalog::{self, ApplyReport};
use leadline_app::{page_limit, parse_cursor, Page};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{parse_id, Caller, JsonBody, Params, PathParams};
use crate::AppState;

fn object(value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("", "the body must be a JSON object")),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = catalog::find(&name)?;
    Ok((StatusCode::CREATED, Json(catalog::create(&state.app, &by, c, &object(body)?).await?)))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathParams((name, id)): PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let c = catalog::find(&name)?;
    Ok(Json(catalog::get(&state.app, &by, c, parse_id(&id)?).await?))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathParams(name): PathParams<String>,
    mut params: Params,
) -> Result<Json<Page<Value>>, ApiError> {
    let c = catalog::find(&name)?;
    let after = parse_cursor(params.take("cursor").as_deref())?;
    let limit = page_limit(params.take_i64("limit")?)?;
    Ok(Json(catalog::list(&state.app, &by, c, &params.rest(), after, limit).await?))
}

pub async fn change(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathParams((name, id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let c = catalog::find(&name)?;
    Ok(Json(catalog::patch(&state.app, &by, c, parse_id(&id)?, &object(body)?).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathParams((name, id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let c = catalog::find(&name)?;
    catalog::delete(&state.app, &by, c, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies a catalog file, as `leadline apply` does.
#[utoipa::path(put, path = "/v1/catalog", tag = "catalog", request_body(content = Object, description = "`{\"<collection>\": [objects…]}`"),
    responses((status = 200, body = ApplyReport), (status = 400, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn apply(
    State(state): State<AppState>,
    Caller(by): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ApplyReport>, ApiError> {
    Ok(Json(catalog::apply(&state.app, &by, &body).await?))
}
