//! Archiving leads off the live table, VICIdial style: the request of one batch, its checks in
//! the order the seed page lists them, the counts of its reply, and office hours.
//!
//! A batch names lead ids and the steps to run, always in the order insert → update → delete
//! (dearchive: insert → delete). The checks here need no database except the last one (do the
//! ids exist?), which [`missing_ids`] decides from the ids the store found.

use std::collections::{BTreeSet, HashSet};

use jiff::civil::Date;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::schedule::{Schedule, Window};
use crate::DomainError;

/// The seed's default limit of ids in one request.
pub const DEFAULT_MAX_LEAD_IDS: usize = 500;

/// Which way a batch moves leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Live table → archive: copy (insert), refresh (update), then delete the live row.
    Archive,
    /// Archive → live table: copy back (insert), then delete the archive row.
    Dearchive,
}

impl Direction {
    pub fn verb(self) -> &'static str {
        match self {
            Direction::Archive => "archive",
            Direction::Dearchive => "dearchive",
        }
    }
}

/// One checked batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub direction: Direction,
    pub insert: bool,
    /// Always false for a dearchive (it has no update step).
    pub update: bool,
    pub delete: bool,
    /// Distinct ids, in the order given.
    pub lead_ids: Vec<i64>,
}

/// A refused batch: the seed's 400 body (`message`, `lead_errors`, `lead_ids`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchError {
    pub message: String,
    pub lead_errors: usize,
    pub lead_ids: Vec<Value>,
}

impl BatchError {
    fn plain(message: impl Into<String>) -> BatchError {
        BatchError { message: message.into(), lead_errors: 0, lead_ids: Vec::new() }
    }

    fn listing(message: &str, ids: Vec<Value>) -> BatchError {
        BatchError { message: message.into(), lead_errors: ids.len(), lead_ids: ids }
    }

    /// Whether the batch was refused because some ids are not where it reads from (`lead_ids`
    /// lists them); a bulk run drops those and goes on.
    pub fn is_missing_ids(&self) -> bool {
        self.message == MISSING_IDS
    }
}

/// The seed's message for ids that are not in the table a batch reads from.
const MISSING_IDS: &str = "lead_ids does not exist";

/// What a batch did. `select_count` is the ids found where the batch reads from; the others count
/// rows actually written (an update that would change nothing is not made and not counted; a
/// delete refused by the comparison is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub select_count: u64,
    pub insert_count: u64,
    pub update_count: u64,
    pub delete_count: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.select_count += other.select_count;
        self.insert_count += other.insert_count;
        self.update_count += other.update_count;
        self.delete_count += other.delete_count;
    }
}

fn flag(body: &Value, name: &str) -> Result<bool, BatchError> {
    body.get(name).and_then(Value::as_bool).ok_or_else(|| BatchError::plain(format!("{name} must be a boolean value")))
}

/// Checks a parsed request body, in the seed's order: the flags, then `lead_ids` (integers only,
/// at least one, at most `max_ids`, no duplicates). A dearchive has no `update_leads` flag; one
/// sent anyway is ignored, as are other unknown fields.
///
/// Choices where the page is silent: `lead_ids` that is missing, `null` or `[]` has "at least 1
/// value" missing; a `lead_ids` that is not an array is one wrong value, listed; an integer beyond
/// the 64-bit range counts as not an integer; a duplicated id is listed once.
pub fn check_request(body: &Value, direction: Direction, max_ids: usize) -> Result<Batch, BatchError> {
    let insert = flag(body, "insert_leads")?;
    let update = match direction {
        Direction::Archive => flag(body, "update_leads")?,
        Direction::Dearchive => false,
    };
    let delete = flag(body, "delete_leads")?;
    let values = match body.get("lead_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values.clone(),
        Some(other) => {
            return Err(BatchError::listing("lead_ids must only contain integer values", vec![other.clone()]))
        }
    };
    let wrong: Vec<Value> = values.iter().filter(|v| v.as_i64().is_none()).cloned().collect();
    if !wrong.is_empty() {
        return Err(BatchError::listing("lead_ids must only contain integer values", wrong));
    }
    if values.is_empty() {
        return Err(BatchError::plain("lead_ids must contain atleast 1 value"));
    }
    if values.len() > max_ids {
        return Err(BatchError::plain(format!("lead_ids cannot exceed {max_ids} values")));
    }
    let ids: Vec<i64> = values.iter().filter_map(Value::as_i64).collect();
    let mut seen = HashSet::with_capacity(ids.len());
    let mut duplicated = Vec::new();
    let mut listed = HashSet::new();
    for &id in &ids {
        if !seen.insert(id) && listed.insert(id) {
            duplicated.push(Value::from(id));
        }
    }
    if !duplicated.is_empty() {
        return Err(BatchError::listing("lead_ids cannot contain duplicate values", duplicated));
    }
    Ok(Batch { direction, insert, update, delete, lead_ids: ids })
}

/// The last check: every id must be where the batch reads from (the live table to archive, the
/// archive to dearchive). Lists those that are not, in request order.
pub fn missing_ids(batch: &Batch, found: &[i64]) -> Result<(), BatchError> {
    let found: HashSet<i64> = found.iter().copied().collect();
    let missing: Vec<Value> =
        batch.lead_ids.iter().filter(|id| !found.contains(id)).map(|&id| Value::from(id)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BatchError::listing(MISSING_IDS, missing))
    }
}

/// When the archive call is refused: a weekly schedule in a named zone, plus holidays (whole
/// local days with no office hours). Without a schedule there are no office hours.
#[derive(Debug, Clone)]
pub struct OfficeHours {
    schedule: Schedule,
    holidays: BTreeSet<Date>,
}

/// Whether office hours hold a batch back at `now`: archiving waits for them to end (the live
/// table is busy then); dearchiving may run at any time. No office hours hold nothing back.
pub fn held_by_office_hours(hours: Option<&OfficeHours>, direction: Direction, now: jiff::Timestamp) -> bool {
    direction == Direction::Archive && hours.is_some_and(|hours| hours.contains(now))
}

impl OfficeHours {
    /// `holidays` are local dates written YYYY-MM-DD. Errors name the field.
    pub fn new(timezone: &str, windows: &[Window], holidays: &[String]) -> Result<OfficeHours, DomainError> {
        let schedule = Schedule::new(timezone, windows)?;
        let holidays = holidays
            .iter()
            .enumerate()
            .map(|(i, text)| {
                text.parse::<Date>().map_err(|_| {
                    DomainError::new(format!("holidays[{i}]"), format!("`{text}` is not a date written YYYY-MM-DD"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(OfficeHours { schedule, holidays })
    }

    /// Whether `at` falls inside office hours: inside a window of the schedule, read on the local
    /// wall clock of the zone, on a day that is not a holiday.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.schedule.zone().clone());
        !self.holidays.contains(&local.date()) && self.schedule.is_open_at(at)
    }
}

/// Parses an age such as `180d`, `12h`, `30m` or `2w` into seconds.
pub fn parse_age(text: &str) -> Result<i64, DomainError> {
    let bad = || DomainError::new("older_than", format!("`{text}` is not an age such as 180d, 2w, 12h or 30m"));
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "w" => 7 * 86_400,
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    number.checked_mul(seconds).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(body: Value) -> Result<Batch, BatchError> {
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
    fn missing_ids_are_listed_in_request_order() {
        let batch =
            check(json!({"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": [5, 1, 9]}))
                .unwrap();
        assert!(missing_ids(&batch, &[1, 5, 9]).is_ok());
        let e = missing_ids(&batch, &[1]).unwrap_err();
        assert_eq!((e.lead_errors, e.lead_ids), (2, vec![json!(5), json!(9)]));
    }

    #[test]
    fn office_hours_follow_the_local_clock_and_skip_holidays() {
        let windows = vec![Window { day: "fri".into(), start: "08:00".into(), end: "18:00".into() }];
        let hours = OfficeHours::new("Australia/Sydney", &windows, &["2026-12-25".into()]).unwrap();
        // Friday 2026-12-18, 09:00 in Sydney (UTC+11) is 22:00 UTC the day before.
        assert!(hours.contains("2026-12-17T22:00:00Z".parse().unwrap()));
        assert!(!hours.contains("2026-12-18T08:00:00Z".parse().unwrap()), "19:00 local is after hours");
        // Friday 2026-12-25 is a holiday.
        assert!(!hours.contains("2026-12-24T22:00:00Z".parse().unwrap()));
        let e = OfficeHours::new("UTC", &windows, &["25/12/2026".into()]).unwrap_err();
        assert_eq!(e.field, "holidays[0]");
    }

    #[test]
    fn ages_read_as_seconds() {
        assert_eq!(parse_age("180d").unwrap(), 180 * 86_400);
        assert_eq!(parse_age("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_age("0d").unwrap(), 0);
        assert!(parse_age("d").is_err());
        assert!(parse_age("10y").is_err());
        assert!(parse_age("-1d").is_err());
    }
}
