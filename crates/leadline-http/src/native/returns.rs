//! `/v1/returns`: buyers return leads they bought; admins approve them for credit or for a
//! replacement, or reject them. Also a buyer's ledger and the pending replacement requests.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use leadline_app::returns::{self, LeadKey, LedgerView, Replacement, Return, ReturnCall};
use leadline_app::store::ReturnFilter;
use leadline_app::{page_limit, parse_cursor, AppError, Page};
use leadline_core::history::Api;
use leadline_core::returns::{ReturnRequest, ReturnStatus};
use serde::Deserialize;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, Params, PathId};
use crate::AppState;

/// A new return. `decision` defaults to `submit_for_approval` (the only one a buyer key may
/// make); an admin may approve or reject at once.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReturnRequest {
    pub lead_id: i64,
    /// Which sale, when the lead was sold to several contracts.
    pub buyer_contract_id: Option<i64>,
    pub return_reason_id: i64,
    /// submit_for_approval | approve_for_credit | approve_to_replace | reject
    #[schema(value_type = Option<String>)]
    pub decision: Option<ReturnRequest>,
    /// Required with `reject`.
    pub denied_reason_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/returns", tag = "returns", request_body = NewReturnRequest,
    responses((status = 201, body = Return), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    JsonBody(body): JsonBody<NewReturnRequest>,
) -> Result<(StatusCode, Json<Return>), ApiError> {
    let call = ReturnCall {
        lead: LeadKey::Id(body.lead_id),
        vertical_id: None,
        buyer_contract_id: body.buyer_contract_id,
        request: body.decision.unwrap_or(ReturnRequest::SubmitForApproval),
        return_reason_id: Some(body.return_reason_id),
        denied_reason_id: body.denied_reason_id,
    };
    let view = returns::request(&state.app, &by, Api::Native, &call).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/returns", tag = "returns",
    params(("status" = Option<String>, Query, description = "pending | approved_credit | approved_replace | rejected"),
        ("buyer_id" = Option<i64>, Query), ("lead_id" = Option<i64>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<Return>), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(by): Caller,
    mut params: Params,
) -> Result<Json<Page<Return>>, ApiError> {
    let status = params
        .take("status")
        .map(|s| {
            ReturnStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_request("status", "must be pending, approved_credit, approved_replace or rejected")
            })
        })
        .transpose()?;
    let filter = ReturnFilter {
        status,
        buyer_id: params.take_i64("buyer_id")?,
        lead_id: params.take_i64("lead_id")?,
        after: parse_cursor(params.take("cursor").as_deref())?,
        limit: page_limit(params.take_i64("limit")?)?,
    };
    params.finish()?;
    Ok(Json(returns::list(&state.app, &by, filter).await?))
}

#[utoipa::path(get, path = "/v1/returns/{id}", tag = "returns", params(("id" = i64, Path)),
    responses((status = 200, body = Return), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
) -> Result<Json<Return>, ApiError> {
    Ok(Json(returns::get(&state.app, &by, id).await?))
}

/// How to approve: for a credit of the sale price, or for a replacement lead.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// credit | replacement
    #[serde(rename = "for")]
    pub approve_for: String,
}

#[utoipa::path(post, path = "/v1/returns/{id}/approve", tag = "returns", params(("id" = i64, Path)), request_body = ApproveRequest,
    responses((status = 200, body = Return), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> Result<Json<Return>, ApiError> {
    let request = match body.approve_for.as_str() {
        "credit" => ReturnRequest::ApproveForCredit,
        "replacement" => ReturnRequest::ApproveToReplace,
        _ => return Err(AppError::invalid("for", "must be credit or replacement").into()),
    };
    Ok(Json(returns::decide(&state.app, &by, Api::Native, id, request, None).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// A reject reason (`reject_reasons` collection).
    pub denied_reason_id: i64,
}

#[utoipa::path(post, path = "/v1/returns/{id}/reject", tag = "returns", params(("id" = i64, Path)), request_body = RejectRequest,
    responses((status = 200, body = Return), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(body): JsonBody<RejectRequest>,
) -> Result<Json<Return>, ApiError> {
    let view =
        returns::decide(&state.app, &by, Api::Native, id, ReturnRequest::Reject, Some(body.denied_reason_id)).await?;
    Ok(Json(view))
}

#[utoipa::path(get, path = "/v1/buyers/{id}/ledger", tag = "returns",
    params(("id" = i64, Path), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = LedgerView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn buyer_ledger(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    mut params: Params,
) -> Result<Json<LedgerView>, ApiError> {
    let after = parse_cursor(params.take("cursor").as_deref())?;
    let limit = page_limit(params.take_i64("limit")?)?;
    params.finish()?;
    Ok(Json(returns::ledger(&state.app, &by, id, after, limit).await?))
}

#[utoipa::path(get, path = "/v1/replacement-requests", tag = "returns",
    params(("status" = Option<String>, Query, description = "pending | fulfilled"), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Page<Replacement>), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn replacement_requests(
    State(state): State<AppState>,
    Caller(by): Caller,
    mut params: Params,
) -> Result<Json<Page<Replacement>>, ApiError> {
    let status = params.take("status");
    if let Some(status) = status.as_deref() {
        if !matches!(status, "pending" | "fulfilled") {
            return Err(ApiError::bad_request("status", "must be pending or fulfilled"));
        }
    }
    let after = parse_cursor(params.take("cursor").as_deref())?;
    let limit = page_limit(params.take_i64("limit")?)?;
    params.finish()?;
    Ok(Json(returns::replacements(&state.app, &by, status.as_deref(), after, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilRequest {
    /// The replacement lead, in the contract's vertical.
    pub lead_id: i64,
}

#[utoipa::path(post, path = "/v1/replacement-requests/{id}/fulfil", tag = "returns", params(("id" = i64, Path)), request_body = FulfilRequest,
    responses((status = 201, body = leadline_app::sales::Sale), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn fulfil_replacement(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(body): JsonBody<FulfilRequest>,
) -> Result<(StatusCode, Json<leadline_app::sales::Sale>), ApiError> {
    let sale = returns::fulfil_replacement(&state.app, &by, Api::Native, id, body.lead_id).await?;
    Ok((StatusCode::CREATED, Json(sale)))
}
