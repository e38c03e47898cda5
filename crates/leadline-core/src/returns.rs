//! Lead returns: a buyer gives back a lead it bought; an admin approves the return for credit or
//! for a replacement, or rejects it. This module holds the return's life as a state machine and
//! the rules that decide whether a sale may be returned at all.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Where a return stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Pending,
    ApprovedCredit,
    ApprovedReplace,
    Rejected,
}

/// A buyer's return of a sold lead.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Return {
    pub id: i64,
    pub sale_id: i64,
    pub lead_id: i64,
    pub buyer_contract_id: i64,
    pub buyer_id: i64,
    #[schema(value_type = String)]
    pub status: ReturnStatus,
    pub return_reason_id: i64,
    pub denied_reason_id: Option<i64>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// A lead owed to a buyer for a return approved for replacement.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Replacement {
    pub id: i64,
    pub return_id: i64,
    pub buyer_contract_id: i64,
    pub buyer_id: i64,
    pub status: String,
    pub created_at: Timestamp,
    /// The sale of the replacement lead, once fulfilled.
    pub fulfilled_sale_id: Option<i64>,
}

impl ReturnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Pending => "pending",
            ReturnStatus::ApprovedCredit => "approved_credit",
            ReturnStatus::ApprovedReplace => "approved_replace",
            ReturnStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<ReturnStatus> {
        [ReturnStatus::Pending, ReturnStatus::ApprovedCredit, ReturnStatus::ApprovedReplace, ReturnStatus::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn is_decided(self) -> bool {
        self != ReturnStatus::Pending
    }
}

/// What a caller asks for (CAKE's `return_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnRequest {
    SubmitForApproval,
    ApproveForCredit,
    ApproveToReplace,
    Reject,
}

impl ReturnRequest {
    pub fn parse(text: &str) -> Option<ReturnRequest> {
        match text {
            "submit_for_approval" => Some(ReturnRequest::SubmitForApproval),
            "approve_for_credit" => Some(ReturnRequest::ApproveForCredit),
            "approve_to_replace" => Some(ReturnRequest::ApproveToReplace),
            "reject" => Some(ReturnRequest::Reject),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    /// A return of this sale is already waiting for a decision (CAKE's "Lead is Already in Return List").
    #[error("the lead is already in the return list")]
    AlreadyInReturnList,
    #[error("the return was already decided ({0})")]
    AlreadyDecided(&'static str),
    #[error("the sale is {age_days} days old; the contract takes returns for {max_days} days")]
    TooOld { age_days: i64, max_days: i64 },
    #[error("the lead was a replacement, and this contract does not take replacements back")]
    ReplacementNotReturnable,
    #[error("a rejection needs a denied (reject) reason")]
    DeniedReasonRequired,
}

/// What a decision makes happen, besides the return's new status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnEffect {
    /// Credit the buyer this amount (the sale price).
    Credit(Money),
    /// Queue a replacement lead for the buyer contract.
    Replacement,
    None,
}

/// The next status of a return, from its current one (None: no return of this sale yet). An
/// admin may approve or reject without a pending step; a buyer only submits.
pub fn transition(current: Option<ReturnStatus>, request: ReturnRequest) -> Result<ReturnStatus, ReturnError> {
    match (current, request) {
        (Some(ReturnStatus::Pending), ReturnRequest::SubmitForApproval) => Err(ReturnError::AlreadyInReturnList),
        (Some(decided), _) if decided.is_decided() => Err(ReturnError::AlreadyDecided(decided.as_str())),
        (_, ReturnRequest::SubmitForApproval) => Ok(ReturnStatus::Pending),
        (_, ReturnRequest::ApproveForCredit) => Ok(ReturnStatus::ApprovedCredit),
        (_, ReturnRequest::ApproveToReplace) => Ok(ReturnStatus::ApprovedReplace),
        (_, ReturnRequest::Reject) => Ok(ReturnStatus::Rejected),
    }
}

/// What reaching `status` does for a sale of `price`.
pub fn effect(status: ReturnStatus, price: Money) -> ReturnEffect {
    match status {
        ReturnStatus::ApprovedCredit => ReturnEffect::Credit(price),
        ReturnStatus::ApprovedReplace => ReturnEffect::Replacement,
        ReturnStatus::Pending | ReturnStatus::Rejected => ReturnEffect::None,
    }
}

/// Whether a sale may be returned at `now`: within the contract's return window (whole days
/// since the sale), and not a replacement lead when the contract does not take those back.
pub fn check_returnable(
    sold_at: Timestamp,
    now: Timestamp,
    max_return_age_days: Option<i64>,
    is_replacement: bool,
    replacements_returnable: bool,
) -> Result<(), ReturnError> {
    if let Some(max_days) = max_return_age_days {
        let age = now.duration_since(sold_at);
        let age_days = age.as_secs().div_euclid(86_400);
        if age > SignedDuration::from_hours(24 * max_days) {
            return Err(ReturnError::TooOld { age_days, max_days });
        }
    }
    if is_replacement && !replacements_returnable {
        return Err(ReturnError::ReplacementNotReturnable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ReturnRequest::*;
    use ReturnStatus::*;

    #[test]
    fn the_state_machine_allows_exactly_these_transitions() {
        let cases: &[(Option<ReturnStatus>, ReturnRequest, Result<ReturnStatus, ReturnError>)] = &[
            (None, SubmitForApproval, Ok(Pending)),
            (None, ApproveForCredit, Ok(ApprovedCredit)),
            (None, ApproveToReplace, Ok(ApprovedReplace)),
            (None, Reject, Ok(Rejected)),
            (Some(Pending), SubmitForApproval, Err(ReturnError::AlreadyInReturnList)),
            (Some(Pending), ApproveForCredit, Ok(ApprovedCredit)),
            (Some(Pending), ApproveToReplace, Ok(ApprovedReplace)),
            (Some(Pending), Reject, Ok(Rejected)),
            (Some(ApprovedCredit), SubmitForApproval, Err(ReturnError::AlreadyDecided("approved_credit"))),
            (Some(ApprovedCredit), ApproveForCredit, Err(ReturnError::AlreadyDecided("approved_credit"))),
            (Some(ApprovedCredit), ApproveToReplace, Err(ReturnError::AlreadyDecided("approved_credit"))),
            (Some(ApprovedCredit), Reject, Err(ReturnError::AlreadyDecided("approved_credit"))),
            (Some(ApprovedReplace), ApproveForCredit, Err(ReturnError::AlreadyDecided("approved_replace"))),
            (Some(ApprovedReplace), Reject, Err(ReturnError::AlreadyDecided("approved_replace"))),
            (Some(Rejected), SubmitForApproval, Err(ReturnError::AlreadyDecided("rejected"))),
            (Some(Rejected), ApproveForCredit, Err(ReturnError::AlreadyDecided("rejected"))),
        ];
        for (current, request, expected) in cases {
            assert_eq!(&transition(*current, *request), expected, "{current:?} + {request:?}");
        }
    }

    #[test]
    fn only_approvals_have_effects() {
        let price = Money::parse("35.10").unwrap();
        assert_eq!(effect(ApprovedCredit, price), ReturnEffect::Credit(price));
        assert_eq!(effect(ApprovedReplace, price), ReturnEffect::Replacement);
        assert_eq!(effect(Pending, price), ReturnEffect::None);
        assert_eq!(effect(Rejected, price), ReturnEffect::None);
    }

    #[test]
    fn returns_are_bounded_by_age_and_by_replacement_rules() {
        let sold: Timestamp = "2026-11-01T12:00:00Z".parse().unwrap();
        let day = |d: i64| sold.checked_add(SignedDuration::from_hours(24 * d)).unwrap();
        assert!(check_returnable(sold, day(14), Some(14), false, true).is_ok());
        assert_eq!(
            check_returnable(sold, day(15), Some(14), false, true),
            Err(ReturnError::TooOld { age_days: 15, max_days: 14 })
        );
        assert!(check_returnable(sold, day(400), None, false, true).is_ok());
        assert_eq!(check_returnable(sold, day(1), None, true, false), Err(ReturnError::ReplacementNotReturnable));
        assert!(check_returnable(sold, day(1), None, true, true).is_ok());
    }

    #[test]
    fn statuses_and_requests_read_their_wire_names() {
        for status in [Pending, ApprovedCredit, ApprovedReplace, Rejected] {
            assert_eq!(ReturnStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReturnRequest::parse("approve_to_replace"), Some(ApproveToReplace));
        assert_eq!(ReturnRequest::parse("approve"), None);
    }

    proptest! {
        /// Whatever sequence of requests arrives, a return is decided at most once and only a
        /// credit approval credits: the credits add up to the price times the approvals.
        #[test]
        fn a_return_is_decided_at_most_once(requests in prop::collection::vec(0..4u8, 0..12), cents in 0i64..1_000_000) {
            let price = Money::from_minor(cents);
            let mut status = None;
            let mut credited = Money::default();
            let mut decisions = 0;
            for r in requests {
                let request = [SubmitForApproval, ApproveForCredit, ApproveToReplace, Reject][r as usize];
                if let Ok(next) = transition(status, request) {
                    if next.is_decided() {
                        decisions += 1;
                    }
                    if let ReturnEffect::Credit(amount) = effect(next, price) {
                        credited = credited.checked_add(amount).unwrap();
                    }
                    status = Some(next);
                }
            }
            prop_assert!(decisions <= 1);
            let expected = if status == Some(ApprovedCredit) { price } else { Money::default() };
            prop_assert_eq!(credited, expected);
        }
    }
}
