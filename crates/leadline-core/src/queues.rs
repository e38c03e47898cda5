//! Call-center queue actions: what each action does to a lead's queue state.
//!
//! A lead sits in at most one queue at a time (`queue_id`), carries a queue status
//! (`queue_status_id`), and may be thrown out (`thrown_out`, in no queue at all). The use case
//! resolves which queue an action targets (the vertical's call-center or review queue, or a named
//! custom queue) and this module decides the change, without I/O.

use crate::lead::LeadInput;
use crate::money::Money;
use crate::DomainError;

/// One queue action. The first five are CAKE's published `action` values; the last two are the
/// summary's sub-actions that CAKE publishes no parameter for, defined by Leadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// Sets the queue status only.
    ChangeStatusOnly,
    /// Moves the lead into its vertical's call-center queue.
    MoveToQueue,
    /// Moves the lead into its vertical's review queue.
    MoveToReviewQueue,
    /// Moves the lead into a named custom queue.
    MoveToCustomQueue,
    /// Takes the lead out of every queue and marks it thrown out.
    ThrowOut,
    /// Charges a call-center fee on the lead (a ledger entry); the queue is left alone.
    AddCallCenterFee,
    /// Sells the lead to a buyer contract; a sold lead leaves the pre-sale queue.
    ReferToBuyer,
}

impl QueueAction {
    pub const ALL: [QueueAction; 7] = [
        QueueAction::ChangeStatusOnly,
        QueueAction::MoveToQueue,
        QueueAction::MoveToReviewQueue,
        QueueAction::MoveToCustomQueue,
        QueueAction::ThrowOut,
        QueueAction::AddCallCenterFee,
        QueueAction::ReferToBuyer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueAction::ChangeStatusOnly => "change_status_only",
            QueueAction::MoveToQueue => "move_to_queue",
            QueueAction::MoveToReviewQueue => "move_to_review_queue",
            QueueAction::MoveToCustomQueue => "move_to_custom_queue",
            QueueAction::ThrowOut => "throw_out",
            QueueAction::AddCallCenterFee => "add_call_center_fee",
            QueueAction::ReferToBuyer => "refer_to_buyer",
        }
    }

    pub fn parse(text: &str) -> Result<QueueAction, DomainError> {
        QueueAction::ALL.into_iter().find(|a| a.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = QueueAction::ALL.iter().map(|a| a.as_str()).collect();
            DomainError::new("action", format!("`{text}` is not one of {}", names.join(", ")))
        })
    }

    /// The kind of queue this action moves the lead into, when it moves it.
    pub fn target_kind(self) -> Option<&'static str> {
        match self {
            QueueAction::MoveToQueue => Some("call_center"),
            QueueAction::MoveToReviewQueue => Some("review"),
            QueueAction::MoveToCustomQueue => Some("custom"),
            _ => None,
        }
    }
}

/// Checks a call-center fee: more than zero, exact to the cent.
pub fn check_fee(text: &str) -> Result<Money, DomainError> {
    let fee = Money::parse(text.trim()).map_err(|e| DomainError::new("call_center_fee", e.message))?;
    if fee.minor() <= 0 {
        return Err(DomainError::new("call_center_fee", "must be more than zero"));
    }
    Ok(fee)
}

/// The change an action makes to the lead's queue fields. `target_queue` is the queue the use
/// case resolved for a move (ignored otherwise); `status` is the queue status to set, if any.
pub fn change(action: QueueAction, target_queue: Option<i64>, status: Option<i64>) -> Result<LeadInput, DomainError> {
    let mut input = LeadInput { queue_status_id: status.map(Some), ..LeadInput::default() };
    match action {
        QueueAction::ChangeStatusOnly => {
            if status.is_none() {
                return Err(DomainError::new("queue_status_id", "change_status_only needs a queue status"));
            }
        }
        QueueAction::MoveToQueue | QueueAction::MoveToReviewQueue | QueueAction::MoveToCustomQueue => {
            let queue = target_queue.ok_or_else(|| DomainError::new("queue_id", "a move needs a target queue"))?;
            input.queue_id = Some(Some(queue));
            // A lead moved into a queue is back in play.
            input.thrown_out = Some(false);
        }
        QueueAction::ThrowOut => {
            input.queue_id = Some(None);
            input.thrown_out = Some(true);
        }
        QueueAction::AddCallCenterFee => {}
        QueueAction::ReferToBuyer => input.queue_id = Some(None),
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_from_its_own_name_and_nothing_else_does() {
        for action in QueueAction::ALL {
            assert_eq!(QueueAction::parse(action.as_str()).unwrap(), action);
        }
        for bad in ["", "THROW_OUT", "throw out", "move", "change_status_only "] {
            assert_eq!(QueueAction::parse(bad).unwrap_err().field, "action", "{bad:?}");
        }
    }

    #[test]
    fn moves_set_the_queue_and_bring_a_thrown_out_lead_back() {
        let input = change(QueueAction::MoveToCustomQueue, Some(7), Some(3)).unwrap();
        assert_eq!(
            (input.queue_id, input.queue_status_id, input.thrown_out),
            (Some(Some(7)), Some(Some(3)), Some(false))
        );
        assert_eq!(change(QueueAction::MoveToQueue, None, None).unwrap_err().field, "queue_id");
    }

    #[test]
    fn throw_out_empties_the_queue_and_status_only_needs_a_status() {
        let input = change(QueueAction::ThrowOut, Some(7), None).unwrap();
        assert_eq!((input.queue_id, input.thrown_out, input.queue_status_id), (Some(None), Some(true), None));
        assert_eq!(change(QueueAction::ChangeStatusOnly, None, None).unwrap_err().field, "queue_status_id");
        let input = change(QueueAction::ChangeStatusOnly, None, Some(4)).unwrap();
        assert_eq!((input.queue_id, input.queue_status_id, input.thrown_out), (None, Some(Some(4)), None));
    }

    #[test]
    fn fees_are_positive_exact_amounts() {
        assert_eq!(check_fee("12.50").unwrap().minor(), 1250);
        assert_eq!(check_fee(" 3 ").unwrap().minor(), 300);
        for bad in ["0", "0.00", "-1", "1.005", "1e3", "abc", ""] {
            assert_eq!(check_fee(bad).unwrap_err().field, "call_center_fee", "{bad:?}");
        }
    }
}
