//! `/api/1/track.asmx`: UpdateLeadInQueue (and, as table entries, the TRACK operations after it).

use leadline_app::queues::{self, QueueCall, LEAD_IN_VERTICAL};
use leadline_app::returns::LeadKey;
use leadline_app::{AppError, Principal};
use leadline_core::history::Api;
use leadline_core::queues::QueueAction;

use super::{
    failure, refused, Access, Args, Fields, HandlerFuture, Kind, Node, Operation, Outcome, Param, ResultType, Service,
};
use crate::AppState;

pub const TRACK_V1: Service = Service {
    name: "track",
    path: "/api/1/track.asmx",
    namespace: "http://cakemarketing.com/api/1/",
    operations: &[&UPDATE_LEAD_IN_QUEUE, &super::returns::RETURN_LEAD_V1],
};

pub const INVALID_LEAD: &str = "Invalid Lead ID";
pub const LEAD_NOT_IN_VERTICAL: &str = "Can not find Lead ID in this vertical";
pub const INVALID_QUEUE: &str = "Invalid Custom Queue ID";
pub const INVALID_VERTICAL: &str = "Invalid Vertical ID";
pub const INVALID_STATUS: &str = "Invalid Queue Status ID";
pub const INVALID_ACTION: &str = "Invalid Action";
pub const INVALID_FEE: &str = "Invalid Call Center Fee";
pub const INVALID_CONTRACT: &str = "Invalid Buyer Contract ID";

pub const UPDATE_LEAD_IN_QUEUE: Operation = Operation {
    name: "UpdateLeadInQueue",
    root: "update_lead_response",
    doc: "Acts on a lead in the pre-sale call-center queues: change its queue status, move it to its \
          vertical's call-center or review queue or to a custom queue, throw it out, and (Leadline's \
          additions) charge a call-center fee or refer it to a buyer contract.",
    access: Access::Admin,
    params: &[
        Param { name: "lead_id", kind: Kind::Text, invalid: INVALID_LEAD, doc: "the lead's public id, e.g. E2R3JKM1" },
        Param {
            name: "vertical_id",
            kind: Kind::Int,
            invalid: INVALID_VERTICAL,
            doc: "when given, the lead must be in this vertical",
        },
        Param {
            name: "custom_queue_status_id",
            kind: Kind::Int,
            invalid: INVALID_STATUS,
            doc: "the queue status to set (required by change_status_only)",
        },
        Param {
            name: "action",
            kind: Kind::Text,
            invalid: INVALID_ACTION,
            doc: "change_status_only, move_to_queue, move_to_review_queue, move_to_custom_queue, throw_out; \
                  Leadline adds add_call_center_fee and refer_to_buyer",
        },
        Param {
            name: "custom_queue_id",
            kind: Kind::Int,
            invalid: INVALID_QUEUE,
            doc: "the target of move_to_custom_queue",
        },
        Param {
            name: "call_center_fee",
            kind: Kind::Text,
            invalid: INVALID_FEE,
            doc: "Leadline: a fee such as 12.50, charged on the lead with any action",
        },
        Param {
            name: "buyer_contract_id",
            kind: Kind::Int,
            invalid: INVALID_CONTRACT,
            doc: "Leadline: the contract refer_to_buyer sells the lead under",
        },
    ],
    result: &[("success", ResultType::Bool), ("message", ResultType::Text), ("lead_id", ResultType::Text)],
    handler: update_lead_in_queue,
};

fn update_lead_in_queue(state: AppState, by: Principal, args: Args) -> HandlerFuture {
    Box::pin(async move {
        let Some(lead_ref) = args.text("lead_id") else { return Outcome::Answer(failure(INVALID_LEAD)) };
        let action = match args.text("action").map(|a| QueueAction::parse(&a)) {
            Some(Ok(action)) => action,
            _ => return Outcome::Answer(failure(INVALID_ACTION)),
        };
        let call_center_fee = match args.text("call_center_fee").map(|f| queues::parse_fee(&f)) {
            None => None,
            Some(Ok(fee)) => Some(fee),
            Some(Err(_)) => return Outcome::Answer(failure(INVALID_FEE)),
        };
        let call = QueueCall {
            lead: LeadKey::Ref(lead_ref),
            vertical_id: args.int("vertical_id"),
            queue_status_id: args.int("custom_queue_status_id"),
            action,
            queue_id: args.int("custom_queue_id"),
            call_center_fee,
            buyer_contract_id: args.int("buyer_contract_id"),
        };
        match queues::act(&state.app, &by, Api::Cake, &call).await {
            Ok(outcome) => {
                let fields: Fields = vec![
                    ("success", Node::Bool(true)),
                    ("message", Node::Text("Lead updated".into())),
                    ("lead_id", Node::Text(outcome.lead.lead_ref)),
                ];
                Outcome::Answer(fields)
            }
            Err(error) => refused(error, queue_message),
        }
    })
}

/// The CAKE message for a refused queue action.
fn queue_message(error: &AppError) -> String {
    match error {
        AppError::NotFound { what, .. } if *what == LEAD_IN_VERTICAL => LEAD_NOT_IN_VERTICAL.into(),
        AppError::NotFound { .. } => INVALID_LEAD.into(),
        AppError::Invalid(e) => match e.field.as_str() {
            "vertical_id" => INVALID_VERTICAL.into(),
            "queue_status_id" => INVALID_STATUS.into(),
            "queue_id" => INVALID_QUEUE.into(),
            "action" => INVALID_ACTION.into(),
            "call_center_fee" => INVALID_FEE.into(),
            "buyer_contract_id" => INVALID_CONTRACT.into(),
            "lead_id" => INVALID_LEAD.into(),
            _ => e.to_string(),
        },
        AppError::AlreadySold { .. } => "Lead is already sold to this buyer contract".into(),
        other => other.to_string(),
    }
}
