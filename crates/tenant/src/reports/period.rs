//! The periods reports cover: whole calendar days, ISO weeks (from Monday), months,
//! quarters and years, in UTC. A report's period is always one of these, never a range of
//! the caller's choosing: two ranges a day apart would differ by that day's records (C7).

use crate::profile::ReportCadence;
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub cadence: ReportCadence,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The first day of the period of `cadence` that holds `date`.
fn start_of(cadence: ReportCadence, date: NaiveDate) -> NaiveDate {
    let first_of = |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date);
    match cadence {
        ReportCadence::Daily => date,
        ReportCadence::Weekly => date
            .checked_sub_signed(TimeDelta::days(i64::from(
                date.weekday().num_days_from_monday(),
            )))
            .unwrap_or(date),
        ReportCadence::Monthly => first_of(date.month()),
        ReportCadence::Quarterly => first_of((date.month() - 1) / 3 * 3 + 1),
        ReportCadence::Yearly => first_of(1),
    }
}

fn next_start(cadence: ReportCadence, start: NaiveDate) -> NaiveDate {
    // At the end of the calendar a period has no end: it never is over, and is refused.
    let months = |n| start.checked_add_months(Months::new(n)).unwrap_or(start);
    let days = |n| {
        start
            .checked_add_signed(TimeDelta::days(n))
            .unwrap_or(start)
    };
    match cadence {
        ReportCadence::Daily => days(1),
        ReportCadence::Weekly => days(7),
        ReportCadence::Monthly => months(1),
        ReportCadence::Quarterly => months(3),
        ReportCadence::Yearly => months(12),
    }
}

/// What the first day of a period of each cadence must be, for error messages.
pub fn alignment(cadence: ReportCadence) -> &'static str {
    match cadence {
        ReportCadence::Daily => "any day",
        ReportCadence::Weekly => "a Monday",
        ReportCadence::Monthly => "the first day of a month",
        ReportCadence::Quarterly => "the first day of January, April, July or October",
        ReportCadence::Yearly => "the first of January",
    }
}

impl Period {
    /// The period of `cadence` starting on `date`; `None` when `date` starts none.
    pub fn starting(cadence: ReportCadence, date: NaiveDate) -> Option<Self> {
        (start_of(cadence, date) == date).then(|| Self {
            cadence,
            start: midnight(date),
            end: midnight(next_start(cadence, date)),
        })
    }

    /// The latest period of `cadence` that is over at `now`.
    pub fn last_closed(cadence: ReportCadence, now: DateTime<Utc>) -> Self {
        let current = start_of(cadence, now.date_naive());
        let previous = start_of(
            cadence,
            current
                .checked_sub_signed(TimeDelta::days(1))
                .unwrap_or(current),
        );
        Self {
            cadence,
            start: midnight(previous),
            end: midnight(current),
        }
    }

    /// Over at `now`; a period with no end (at the end of the calendar) never is.
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.start < self.end && self.end <= now
    }

    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.start < end && start < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_start_where_their_cadence_starts() {
        assert!(Period::starting(ReportCadence::Monthly, day(2026, 11, 1)).is_some());
        assert!(Period::starting(ReportCadence::Monthly, day(2026, 11, 2)).is_none());
        assert!(Period::starting(ReportCadence::Quarterly, day(2026, 10, 1)).is_some());
        assert!(Period::starting(ReportCadence::Quarterly, day(2026, 11, 1)).is_none());
        // 2026-11-30 is a Monday.
        assert!(Period::starting(ReportCadence::Weekly, day(2026, 11, 30)).is_some());
        assert!(Period::starting(ReportCadence::Weekly, day(2026, 12, 1)).is_none());
        let q = Period::starting(ReportCadence::Quarterly, day(2026, 10, 1)).unwrap();
        assert_eq!(q.end, midnight(day(2027, 1, 1)));
    }

    #[test]
    fn the_ends_of_the_calendar_are_periods_that_are_never_over() {
        let now = Utc::now();
        for cadence in ReportCadence::ALL {
            for date in [NaiveDate::MIN, NaiveDate::MAX] {
                if let Some(p) = Period::starting(cadence, date) {
                    assert!(p.start > now || !p.is_over(now) || p.start < p.end);
                }
            }
        }
        let last = Period::starting(ReportCadence::Daily, NaiveDate::MAX).unwrap();
        assert!(!last.is_over(now));
    }

    #[test]
    fn the_last_closed_period_ends_where_the_current_one_starts() {
        let now = midnight(day(2026, 12, 2)) + TimeDelta::hours(15);
        let m = Period::last_closed(ReportCadence::Monthly, now);
        assert_eq!(
            (m.start, m.end),
            (midnight(day(2026, 11, 1)), midnight(day(2026, 12, 1)))
        );
        let d = Period::last_closed(ReportCadence::Daily, now);
        assert_eq!(d.start, midnight(day(2026, 12, 1)));
        let y = Period::last_closed(ReportCadence::Yearly, now);
        assert_eq!(y.start, midnight(day(2025, 1, 1)));
        assert!(
            m.is_over(now)
                && !Period::starting(ReportCadence::Monthly, day(2026, 12, 1))
                    .unwrap()
                    .is_over(now)
        );
    }
}
