//! Weekly schedules read in a named IANA time zone (contact hours; later office hours).

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// One open window on one weekday, `start` inclusive and `end` exclusive, in local wall time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub day: String,
    pub start: String,
    pub end: String,
}

/// A parsed weekly schedule in its zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: TimeZone,
    windows: Vec<(Weekday, Time, Time)>,
}

pub fn parse_zone(name: &str) -> Result<TimeZone, DomainError> {
    TimeZone::get(name).map_err(|_| {
        DomainError::new("", format!("`{name}` is not an IANA time zone name such as \"Australia/Sydney\""))
    })
}

fn parse_day(day: &str) -> Result<Weekday, DomainError> {
    Ok(match day {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return Err(DomainError::new("day", format!("`{day}` is not one of mon, tue, wed, thu, fri, sat, sun"))),
    })
}

fn parse_clock(field: &str, text: &str) -> Result<Time, DomainError> {
    let bad = || DomainError::new(field, format!("`{text}` is not a time of day written HH:MM"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    // 24:00 closes a window at midnight.
    if h == 24 && m == 0 {
        return Ok(Time::MAX);
    }
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// Checks the windows of a schedule; each error names the window's index and field.
pub fn validate_windows(windows: &[Window]) -> Result<Vec<(Weekday, Time, Time)>, DomainError> {
    windows
        .iter()
        .enumerate()
        .map(|(index, w)| {
            let parsed = (|| {
                let day = parse_day(&w.day)?;
                let start = parse_clock("start", &w.start)?;
                let end = parse_clock("end", &w.end)?;
                if end <= start {
                    return Err(DomainError::new("end", "the window must end after it starts"));
                }
                Ok((day, start, end))
            })();
            parsed.map_err(|e| e.within(&format!("[{index}]")))
        })
        .collect()
}

impl Schedule {
    pub fn new(zone_name: &str, windows: &[Window]) -> Result<Schedule, DomainError> {
        let zone = parse_zone(zone_name).map_err(|e| e.within("timezone"))?;
        let windows = validate_windows(windows).map_err(|e| e.within("schedule"))?;
        Ok(Schedule { zone, windows })
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Whether the local wall clock at `at` falls inside one of the windows. Because the test is
    /// on wall-clock time, a daylight-saving jump simply moves the instant the window opens.
    pub fn is_open_at(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.zone.clone());
        let (day, time) = (local.weekday(), local.time());
        self.windows.iter().any(|&(d, start, end)| d == day && start <= time && time < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(day: &str, start: &str, end: &str) -> Window {
        Window { day: day.into(), start: start.into(), end: end.into() }
    }

    #[test]
    fn open_inside_a_window_in_its_own_zone() {
        let schedule = Schedule::new("Australia/Sydney", &[window("mon", "09:00", "17:00")]).unwrap();
        // 2026-11-23 is a Monday; Sydney is UTC+11 then.
        let inside: Timestamp = "2026-11-22T23:30:00Z".parse().unwrap(); // 10:30 local
        let before: Timestamp = "2026-11-22T21:30:00Z".parse().unwrap(); // 08:30 local
        assert!(schedule.is_open_at(inside));
        assert!(!schedule.is_open_at(before));
    }

    #[test]
    fn errors_name_the_window_and_field() {
        let err =
            Schedule::new("UTC", &[window("mon", "09:00", "17:00"), window("xyz", "09:00", "10:00")]).unwrap_err();
        assert_eq!(err.field, "schedule[1].day");
        let err = Schedule::new("UTC", &[window("mon", "18:00", "17:00")]).unwrap_err();
        assert_eq!(err.field, "schedule[0].end");
        let err = Schedule::new("Mars/Olympus", &[]).unwrap_err();
        assert_eq!(err.field, "timezone");
    }

    #[test]
    fn midnight_closes_a_window() {
        let schedule = Schedule::new("UTC", &[window("sun", "20:00", "24:00")]).unwrap();
        assert!(schedule.is_open_at("2026-11-22T23:59:00Z".parse().unwrap()));
    }
}
