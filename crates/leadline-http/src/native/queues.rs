//! `/v1/leads/{id}/queue-actions` and `/v1/leads/{id}/ledger`: the call-center queue actions of
//! the CAKE dialect's UpdateLeadInQueue, through the same use case, and a lead's money.

use axum::extract::State;
use axum::Json;
use leadline_app::queues::{self, LeadLedgerView, QueueCall, QueueOutcome};
use leadline_app::returns::LeadKey;
use leadline_core::history::Api;
use leadline_core::queues::QueueAction;
use serde::Deserialize;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, JsonBody, PathId};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueActionRequest {
    /// change_status_only, move_to_queue, move_to_review_queue, move_to_custom_queue, throw_out,
    /// add_call_center_fee or refer_to_buyer.
    pub action: String,
    /// When given, the lead must be in this vertical.
    #[serde(default)]
    pub vertical_id: Option<i64>,
    /// The queue status to set (required by change_status_only).
    #[serde(default)]
    pub queue_status_id: Option<i64>,
    /// The custom queue move_to_custom_queue moves the lead into.
    #[serde(default)]
    pub queue_id: Option<i64>,
    /// A fee to charge on the lead, as a decimal string such as "12.50".
    #[serde(default)]
    pub call_center_fee: Option<String>,
    /// The buyer contract refer_to_buyer sells the lead under.
    #[serde(default)]
    pub buyer_contract_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/leads/{id}/queue-actions", tag = "queues", request_body = QueueActionRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = QueueOutcome), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn act(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    JsonBody(request): JsonBody<QueueActionRequest>,
) -> Result<Json<QueueOutcome>, ApiError> {
    let action = QueueAction::parse(&request.action).map_err(leadline_app::AppError::from)?;
    let call_center_fee = request.call_center_fee.as_deref().map(queues::parse_fee).transpose()?;
    let call = QueueCall {
        lead: LeadKey::Id(id),
        vertical_id: request.vertical_id,
        queue_status_id: request.queue_status_id,
        action,
        queue_id: request.queue_id,
        call_center_fee,
        buyer_contract_id: request.buyer_contract_id,
    };
    Ok(Json(queues::act(&state.app, &by, Api::Native, &call).await?))
}

#[utoipa::path(get, path = "/v1/leads/{id}/ledger", tag = "queues", params(("id" = i64, Path)),
    responses((status = 200, body = LeadLedgerView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
) -> Result<Json<LeadLedgerView>, ApiError> {
    Ok(Json(queues::lead_ledger(&state.app, &by, id).await?))
}
