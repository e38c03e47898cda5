//! VICIdial's archive request and refusal bodies: the flags and `lead_ids` of the JSON body, and
//! the seed's 400 shape (`message`, `lead_errors`, `lead_ids`) with its messages as spelt there.

use leadline_core::archive::{Batch, BatchError, Direction};
use serde_json::Value;

/// A refusal in the seed's 400 shape: what was wrong and the values it was wrong about.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    pub lead_errors: usize,
    pub lead_ids: Vec<Value>,
}

impl Refusal {
    fn plain(message: impl Into<String>) -> Refusal {
        Refusal { message: message.into(), lead_errors: 0, lead_ids: Vec::new() }
    }

    fn listing(message: &str, values: Vec<Value>) -> Refusal {
        Refusal { message: message.into(), lead_errors: values.len(), lead_ids: values }
    }
}

impl From<&BatchError> for Refusal {
    fn from(error: &BatchError) -> Refusal {
        let ids = |ids: &[i64]| ids.iter().map(|&id| Value::from(id)).collect();
        match error {
            BatchError::NoIds => Refusal::plain("lead_ids must contain atleast 1 value"),
            BatchError::TooManyIds { max } => Refusal::plain(format!("lead_ids cannot exceed {max} values")),
            BatchError::DuplicateIds(dup) => Refusal::listing("lead_ids cannot contain duplicate values", ids(dup)),
            BatchError::MissingIds(missing) => Refusal::listing("lead_ids does not exist", ids(missing)),
        }
    }
}

fn flag(body: &Value, name: &str) -> Result<bool, Refusal> {
    body.get(name).and_then(Value::as_bool).ok_or_else(|| Refusal::plain(format!("{name} must be a boolean value")))
}

/// Reads a parsed request body into a checked batch, in the seed's order: the flags, then
/// `lead_ids` (integers only), then the batch's own checks (at least one id, at most `max_ids`,
/// no duplicates). A dearchive has no `update_leads` flag; one sent anyway is ignored, as are
/// other unknown fields.
///
/// Choices where the page is silent: `lead_ids` that is missing, `null` or `[]` has "at least 1
/// value" missing; a `lead_ids` that is not an array is one wrong value, listed; an integer beyond
/// the 64-bit range counts as not an integer; a duplicated id is listed once.
pub fn check_request(body: &Value, direction: Direction, max_ids: usize) -> Result<Batch, Refusal> {
    let insert = flag(body, "insert_leads")?;
    let update = match direction {
        Direction::Archive => flag(body, "update_leads")?,
        Direction::Dearchive => false,
    };
    let delete = flag(body, "delete_leads")?;
    let values = match body.get("lead_ids") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(values)) => values.as_slice(),
        Some(other) => return Err(Refusal::listing("lead_ids must only contain integer values", vec![other.clone()])),
    };
    let wrong: Vec<Value> = values.iter().filter(|v| v.as_i64().is_none()).cloned().collect();
    if !wrong.is_empty() {
        return Err(Refusal::listing("lead_ids must only contain integer values", wrong));
    }
    let lead_ids = values.iter().filter_map(Value::as_i64).collect();
    Batch { direction, insert, update, delete, lead_ids }.checked(max_ids).map_err(|e| Refusal::from(&e))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(body: Value) -> Result<Batch, Refusal> {
        check_request(&body, Direction::Archive, 500)
    }

    #[test]
    fn flags_are_checked_in_order_and_must_be_booleans() {
        let e = check(json!({"update_leads": true, "delete_leads": true, "lead_ids": [1]})).unwrap_err();
        assert_eq!(e.message, "insert_leads must be a boolean value");
        let e = check(json!({"insert_leads": true, "update_leads": "true", "delete_leads": 1, "lead_ids": [1]}))
            .unwrap_err();
        assert_eq!(e.message, "update_leads must be a boolean value");
        let e = check(json!({"insert_leads": true, "update_leads": false, "delete_leads": null, "lead_ids": [1]}))
            .unwrap_err();
        assert_eq!((e.message.as_str(), e.lead_errors), ("delete_leads must be a boolean value", 0));
        assert!(check_request(
            &json!({"insert_leads": true, "delete_leads": false, "lead_ids": [1]}),
            Direction::Dearchive,
            500
        )
        .is_ok());
    }

    #[test]
    fn lead_ids_are_integers_at_least_one_at_most_the_limit_and_distinct() {
        let base =
            |ids: Value| json!({"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": ids});
        let e = check(base(json!([1, "0", 2.5, null]))).unwrap_err();
        assert_eq!(e.lead_ids, vec![json!("0"), json!(2.5), json!(null)]);
        assert_eq!(e.lead_errors, 3);
        assert_eq!(check(base(json!([]))).unwrap_err().message, "lead_ids must contain atleast 1 value");
        assert_eq!(check(base(Value::Null)).unwrap_err().message, "lead_ids must contain atleast 1 value");
        let e = check(base(json!("7"))).unwrap_err();
        assert_eq!((e.lead_errors, e.lead_ids.clone()), (1, vec![json!("7")]));
        let many: Vec<i64> = (1..=501).collect();
        assert_eq!(check(base(json!(many))).unwrap_err().message, "lead_ids cannot exceed 500 values");
        assert!(check(base(json!(many[..500]))).is_ok());
        assert_eq!(
            check_request(&base(json!([1, 2, 3])), Direction::Archive, 2).unwrap_err().message,
            "lead_ids cannot exceed 2 values"
        );
        let e = check(base(json!([4, 5, 4, 4, 6, 5]))).unwrap_err();
        assert_eq!((e.message.as_str(), e.lead_errors), ("lead_ids cannot contain duplicate values", 2));
        assert_eq!(e.lead_ids, vec![json!(4), json!(5)]);
        let ok = check(base(json!([9, 3, 7]))).unwrap();
        assert_eq!(ok.lead_ids, vec![9, 3, 7]);
        assert!(ok.insert && ok.update && ok.delete);
    }

    #[test]
    fn missing_ids_are_refused_in_the_seeds_words_listing_each() {
        let e = Refusal::from(&BatchError::MissingIds(vec![5, 9]));
        assert_eq!(e, Refusal::listing("lead_ids does not exist", vec![json!(5), json!(9)]));
        assert_eq!(e.lead_errors, 2);
    }
}
