//! Archiving leads off the live table: the rules of one batch (its ids, the steps in the order
//! insert → update → delete; dearchive: insert → delete), the counts of what it did, and office
//! hours. A dialect reads its own request into a [`Batch`] (VICIdial's JSON body, a console form)
//! and words a [`BatchError`] its own way.
//!
//! The checks here need no database except the last one (do the ids exist?), which
//! [`missing_ids`] decides from the ids the store found.

use std::collections::{BTreeSet, HashSet};

use jiff::civil::Date;
use jiff::Timestamp;
use serde::Serialize;

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

/// A refused batch, in the order the checks run. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("a batch needs at least one lead id")]
    NoIds,
    #[error("a batch holds at most {max} lead ids")]
    TooManyIds { max: usize },
    /// Each id given more than once, listed once, in request order.
    #[error("lead ids given more than once: {}", listed(.0))]
    DuplicateIds(Vec<i64>),
    /// The ids that are not where the batch reads from, in request order; a bulk run drops
    /// them and goes on.
    #[error("lead ids not found: {}", listed(.0))]
    MissingIds(Vec<i64>),
}

fn listed(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

impl Batch {
    /// Checks the ids, in the order VICIdial's seed page lists the checks: at least one, at most
    /// `max_ids`, no id twice. A dearchive has no update step, whatever was asked.
    pub fn checked(mut self, max_ids: usize) -> Result<Batch, BatchError> {
        if self.lead_ids.is_empty() {
            return Err(BatchError::NoIds);
        }
        if self.lead_ids.len() > max_ids {
            return Err(BatchError::TooManyIds { max: max_ids });
        }
        let mut seen = HashSet::with_capacity(self.lead_ids.len());
        let mut listed = HashSet::new();
        let duplicated: Vec<i64> =
            self.lead_ids.iter().copied().filter(|&id| !seen.insert(id) && listed.insert(id)).collect();
        if !duplicated.is_empty() {
            return Err(BatchError::DuplicateIds(duplicated));
        }
        if self.direction == Direction::Dearchive {
            self.update = false;
        }
        Ok(self)
    }
}

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

/// The last check: every id must be where the batch reads from (the live table to archive, the
/// archive to dearchive). Lists those that are not, in request order.
pub fn missing_ids(batch: &Batch, found: &[i64]) -> Result<(), BatchError> {
    let found: HashSet<i64> = found.iter().copied().collect();
    let missing: Vec<i64> = batch.lead_ids.iter().copied().filter(|id| !found.contains(id)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BatchError::MissingIds(missing))
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
    use super::*;

    fn batch(direction: Direction, lead_ids: &[i64]) -> Batch {
        Batch { direction, insert: true, update: true, delete: true, lead_ids: lead_ids.to_vec() }
    }

    #[test]
    fn a_batch_has_at_least_one_id_at_most_the_limit_and_each_once() {
        assert_eq!(batch(Direction::Archive, &[]).checked(500), Err(BatchError::NoIds));
        let many: Vec<i64> = (1..=501).collect();
        assert_eq!(batch(Direction::Archive, &many).checked(500), Err(BatchError::TooManyIds { max: 500 }));
        assert!(batch(Direction::Archive, &many[..500]).checked(500).is_ok());
        assert_eq!(batch(Direction::Archive, &[1, 2, 3]).checked(2), Err(BatchError::TooManyIds { max: 2 }));
        // An empty batch is refused before its size, its size before its duplicates.
        assert_eq!(batch(Direction::Archive, &[4, 4, 4]).checked(2), Err(BatchError::TooManyIds { max: 2 }));
        let e = batch(Direction::Archive, &[4, 5, 4, 4, 6, 5]).checked(500).unwrap_err();
        assert_eq!(e, BatchError::DuplicateIds(vec![4, 5]));
        assert_eq!(e.to_string(), "lead ids given more than once: 4, 5");
        let ok = batch(Direction::Archive, &[9, 3, 7]).checked(500).unwrap();
        assert_eq!(ok.lead_ids, vec![9, 3, 7]);
        assert!(ok.insert && ok.update && ok.delete);
        let back = batch(Direction::Dearchive, &[9]).checked(500).unwrap();
        assert!(back.insert && !back.update && back.delete, "a dearchive has no update step");
    }

    #[test]
    fn missing_ids_are_listed_in_request_order() {
        let batch = batch(Direction::Archive, &[5, 1, 9]).checked(500).unwrap();
        assert!(missing_ids(&batch, &[1, 5, 9]).is_ok());
        assert_eq!(missing_ids(&batch, &[1]), Err(BatchError::MissingIds(vec![5, 9])));
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
