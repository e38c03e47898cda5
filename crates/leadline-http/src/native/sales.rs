//! `/v1/sales`: sell a lead under a buyer contract; list sales (a buyer key sees its own).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use leadline_app::sales::{self, Sale};
use leadline_app::store::SaleFilter;
use leadline_app::{page_limit, parse_cursor, Page};
use leadline_core::history::Api;
use serde::Deserialize;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, Params};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleRequest {
    pub lead_id: i64,
    pub buyer_contract_id: i64,
}

#[utoipa::path(post, path = "/v1/sales", tag = "sales", request_body = SaleRequest,
    responses((status = 201, body = Sale), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    JsonBody(request): JsonBody<SaleRequest>,
) -> Result<(StatusCode, Json<Sale>), ApiError> {
    let sale = sales::sell(&state.app, &by, Api::Native, request.lead_id, request.buyer_contract_id).await?;
    Ok((StatusCode::CREATED, Json(sale)))
}

#[utoipa::path(get, path = "/v1/sales", tag = "sales",
    params(("buyer_id" = Option<i64>, Query), ("lead_id" = Option<i64>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<Sale>), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(by): Caller,
    mut params: Params,
) -> Result<Json<Page<Sale>>, ApiError> {
    let filter = SaleFilter {
        buyer_id: params.take_i64("buyer_id")?,
        lead_id: params.take_i64("lead_id")?,
        after: parse_cursor(params.take("cursor").as_deref())?,
        limit: page_limit(params.take_i64("limit")?)?,
    };
    params.finish()?;
    Ok(Json(sales::list(&state.app, &by, filter).await?))
}
