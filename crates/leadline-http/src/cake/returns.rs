//! Returns in CAKE's wire: the admin's `ReturnLead` (TRACK v1 and v2), the buyer's `Return`, and
//! the return- and reject-reason look-ups. All of it calls `leadline_app::returns::request`.

use leadline_app::returns::{self, LeadKey, ReturnCall, ReturnTargetError};
use leadline_app::{AppError, Principal};
use leadline_core::history::Api;
use leadline_core::returns::{ReturnError, ReturnRequest};

use super::get::{lookup, Lookup};
use super::track::{INVALID_CONTRACT, INVALID_LEAD, INVALID_VERTICAL, LEAD_NOT_IN_VERTICAL};
use super::{
    failure, refused, Access, Args, HandlerFuture, Kind, Node, Operation, Outcome, Param, ResultType, Service,
};
use crate::AppState;

pub const TRACK_V2: Service = Service {
    name: "track",
    path: "/api/2/track.asmx",
    namespace: "http://cakemarketing.com/api/2/",
    operations: &[&RETURN_LEAD_V2],
};

pub const BUYERS_LEADS_V1: Service = Service {
    name: "leads",
    path: "/buyers/api/1/leads.asmx",
    namespace: "http://cakemarketing.com/buyers/api/1/",
    operations: &[&BUYER_RETURN, &GET_RETURN_REASONS],
};

pub const INVALID_RETURN_TYPE: &str = "Invalid Return Type";
pub const INVALID_RETURN_REASON: &str = "Invalid Return Reason ID";
pub const INVALID_DENIED_REASON: &str = "Invalid Denied Reason ID";
pub const ALREADY_IN_RETURN_LIST: &str = "Lead is Already in Return List";
pub const ALREADY_DECIDED: &str = "Lead Return has Already been Decided";
pub const DENIED_REASON_REQUIRED: &str = "Denied Reason ID is Required to Reject a Return";
pub const NOT_SOLD: &str = "Lead has not been Sold";
pub const AMBIGUOUS: &str = "Lead was Sold to More than One Buyer Contract; pass buyer_contract_id";
pub const TOO_OLD: &str = "Lead is Past the Maximum Return Age";
pub const REPLACEMENT_NOT_RETURNABLE: &str = "Replacement Leads are not Returnable under this Contract";

const LEAD_ID: Param =
    Param { name: "lead_id", kind: Kind::Text, invalid: INVALID_LEAD, doc: "the lead's public id, e.g. E2R3JKM1" };
const VERTICAL_ID: Param = Param {
    name: "vertical_id",
    kind: Kind::Int,
    invalid: INVALID_VERTICAL,
    doc: "when given, the lead must be in this vertical",
};
const BUYER_CONTRACT_ID: Param = Param {
    name: "buyer_contract_id",
    kind: Kind::Int,
    invalid: INVALID_CONTRACT,
    doc: "which sale of a lead sold to several contracts; must be a contract that bought the lead (0 or empty: the only sale)",
};
const RETURN_TYPE: Param = Param {
    name: "return_type",
    kind: Kind::Text,
    invalid: INVALID_RETURN_TYPE,
    doc: "approve_to_replace, approve_for_credit, submit_for_approval or reject",
};
const RETURN_REASON_ID: Param = Param {
    name: "return_reason_id",
    kind: Kind::Int,
    invalid: INVALID_RETURN_REASON,
    doc: "a return reason id (GetReturnReasons); required for a new return",
};
const DENIED_REASON_ID: Param = Param {
    name: "denied_reason_id",
    kind: Kind::Int,
    invalid: INVALID_DENIED_REASON,
    doc: "a reject (denied) reason id (GetRejectReasons); required by reject",
};

const RESULT: &[(&str, ResultType)] = &[("success", ResultType::Bool), ("message", ResultType::Text)];
const RETURN_DOC: &str = "Returns a sold lead: submit it for approval, approve it for credit or for a replacement, or \
                          reject it. Admin keys only.";

pub const RETURN_LEAD_V1: Operation = Operation {
    name: "ReturnLead",
    root: "lead_return_response",
    doc: RETURN_DOC,
    access: Access::Admin,
    params: &[LEAD_ID, VERTICAL_ID, RETURN_TYPE, RETURN_REASON_ID, DENIED_REASON_ID],
    result: RESULT,
    handler: return_lead,
};

pub const RETURN_LEAD_V2: Operation = Operation {
    name: "ReturnLead",
    root: "lead_return_response",
    doc: RETURN_DOC,
    access: Access::Admin,
    params: &[LEAD_ID, VERTICAL_ID, BUYER_CONTRACT_ID, RETURN_TYPE, RETURN_REASON_ID, DENIED_REASON_ID],
    result: RESULT,
    handler: return_lead,
};

pub const BUYER_RETURN: Operation = Operation {
    name: "Return",
    root: "lead_return_response",
    doc: "A buyer returns a lead it bought; the return waits for an admin's decision. Buyer keys only.",
    access: Access::Buyer,
    params: &[LEAD_ID, RETURN_REASON_ID, BUYER_CONTRACT_ID],
    result: RESULT,
    handler: buyer_return,
};

pub const RETURN_REASONS_LOOKUP: Lookup = Lookup {
    collection: "return-reasons",
    list: "return_reasons",
    item: "return_reason",
    id: "return_reason_id",
    name: "return_reason_name",
};
pub const REJECT_REASONS_LOOKUP: Lookup = Lookup {
    collection: "reject-reasons",
    list: "reject_reasons",
    item: "reject_reason",
    id: "reject_reason_id",
    name: "reject_reason_name",
};

pub const GET_RETURN_REASONS: Operation = Operation {
    name: "GetReturnReasons",
    root: "return_reasons_response",
    doc: "Lists the return reasons: their ids and names.",
    access: Access::AdminOrBuyer,
    params: &[],
    result: &[
        ("success", ResultType::Bool),
        ("message", ResultType::Text),
        ("row_count", ResultType::Int),
        (
            "return_reasons",
            ResultType::List {
                item: "return_reason",
                fields: &[("return_reason_id", ResultType::Int), ("return_reason_name", ResultType::Text)],
            },
        ),
    ],
    handler: |state, by, _| lookup(state, by, &RETURN_REASONS_LOOKUP),
};

pub const GET_REJECT_REASONS: Operation = Operation {
    name: "GetRejectReasons",
    root: "reject_reasons_response",
    doc: "Lists the reject (denied) reasons a return can be rejected with: their ids and names.",
    access: Access::AdminOrBuyer,
    params: &[],
    result: &[
        ("success", ResultType::Bool),
        ("message", ResultType::Text),
        ("row_count", ResultType::Int),
        (
            "reject_reasons",
            ResultType::List {
                item: "reject_reason",
                fields: &[("reject_reason_id", ResultType::Int), ("reject_reason_name", ResultType::Text)],
            },
        ),
    ],
    handler: |state, by, _| lookup(state, by, &REJECT_REASONS_LOOKUP),
};

/// The success message of each return type.
fn done(request: ReturnRequest) -> &'static str {
    match request {
        ReturnRequest::SubmitForApproval => "Lead Submitted for Return Approval",
        ReturnRequest::ApproveForCredit => "Lead Return Approved for Credit",
        ReturnRequest::ApproveToReplace => "Lead Return Approved for Replacement",
        ReturnRequest::Reject => "Lead Return Rejected",
    }
}

fn succeeded(request: ReturnRequest) -> Outcome {
    Outcome::Answer(vec![("success", Node::Bool(true)), ("message", Node::Text(done(request).into()))])
}

fn return_lead(state: AppState, by: Principal, args: Args) -> HandlerFuture {
    Box::pin(async move {
        let Some(lead_ref) = args.text("lead_id") else { return Outcome::Answer(failure(INVALID_LEAD)) };
        let Some(request) = args.text("return_type").and_then(|t| ReturnRequest::parse(&t)) else {
            return Outcome::Answer(failure(INVALID_RETURN_TYPE));
        };
        let call = ReturnCall {
            lead: LeadKey::Ref(lead_ref),
            vertical_id: args.int("vertical_id"),
            buyer_contract_id: args.int("buyer_contract_id"),
            request,
            return_reason_id: args.int("return_reason_id"),
            denied_reason_id: args.int("denied_reason_id"),
        };
        match returns::request(&state.app, &by, Api::Cake, &call).await {
            Ok(_) => succeeded(request),
            Err(error) => refused(error, |e| message(e, false)),
        }
    })
}

fn buyer_return(state: AppState, by: Principal, args: Args) -> HandlerFuture {
    Box::pin(async move {
        let Some(lead_ref) = args.text("lead_id") else { return Outcome::Answer(failure(INVALID_LEAD)) };
        let call = ReturnCall {
            lead: LeadKey::Ref(lead_ref),
            vertical_id: None,
            buyer_contract_id: args.int("buyer_contract_id"),
            request: ReturnRequest::SubmitForApproval,
            return_reason_id: args.int("return_reason_id"),
            denied_reason_id: None,
        };
        if call.return_reason_id.is_none() {
            return Outcome::Answer(failure(INVALID_RETURN_REASON));
        }
        match returns::request(&state.app, &by, Api::Cake, &call).await {
            Ok(_) => succeeded(ReturnRequest::SubmitForApproval),
            Err(error) => refused(error, |e| message(e, true)),
        }
    })
}

/// The CAKE message for a refused return. For a buyer, a lead it did not buy reads exactly like
/// a lead that does not exist, so a buyer key learns nothing of other buyers' sales.
fn message(error: &AppError, buyer: bool) -> String {
    match error {
        AppError::ReturnTarget(target) => match target {
            ReturnTargetError::UnknownLead | ReturnTargetError::NotSoldToBuyer => INVALID_LEAD,
            ReturnTargetError::WrongVertical(_) => LEAD_NOT_IN_VERTICAL,
            ReturnTargetError::UnknownVertical(_) => INVALID_VERTICAL,
            ReturnTargetError::NotSold if buyer => INVALID_LEAD,
            ReturnTargetError::NotSold => NOT_SOLD,
            ReturnTargetError::ContractDidNotBuy(_) => INVALID_CONTRACT,
            ReturnTargetError::Ambiguous(_) => AMBIGUOUS,
            ReturnTargetError::UnknownReturnReason(_) | ReturnTargetError::ReturnReasonRequired => {
                INVALID_RETURN_REASON
            }
            ReturnTargetError::UnknownDeniedReason(_) => INVALID_DENIED_REASON,
        }
        .into(),
        AppError::Return(r) => match r {
            ReturnError::AlreadyInReturnList => ALREADY_IN_RETURN_LIST,
            ReturnError::AlreadyDecided(_) => ALREADY_DECIDED,
            ReturnError::TooOld { .. } => TOO_OLD,
            ReturnError::ReplacementNotReturnable => REPLACEMENT_NOT_RETURNABLE,
            ReturnError::DeniedReasonRequired => DENIED_REASON_REQUIRED,
        }
        .into(),
        AppError::NotFound { .. } => INVALID_LEAD.into(),
        AppError::Forbidden(_) | AppError::Unauthorized(_) => super::API_KEY.invalid.into(),
        other => other.to_string(),
    }
}
