//! When the daily backup is due: a pure function of the schedule, the last slot handled and
//! "now".
//!
//! A *slot* is the instant a day's backup is scheduled for: the local time of day on that
//! local date in the schedule's time zone. When that local time does not exist (the clocks
//! jump forward over it) the slot is the first local time after the gap; when it exists twice
//! (the clocks go back) it is the earlier one. The backup due at `now` is the latest slot at
//! or before `now`, if it is later than the last slot handled; slots missed in between (the
//! server was down) are not run one by one: the latest runs once, which catches the missed
//! days up with one fresh backup.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A daily backup at a local time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySchedule {
    /// Local time of day.
    pub time: NaiveTime,
    /// Time zone of that time.
    pub tz: Tz,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum Decision {
    /// Take the backup of this slot now.
    Run {
        /// The slot (record it as handled).
        slot: DateTime<Utc>,
        /// Earlier slots that were missed and are caught up by this one run.
        missed: u32,
    },
    /// Nothing is due before `until`.
    Wait {
        /// The next slot.
        until: DateTime<Utc>,
    },
}

impl DailySchedule {
    /// The slot of a local date.
    pub fn slot_on(&self, date: NaiveDate) -> DateTime<Utc> {
        let local = date.and_time(self.time);
        // a gap is at most a few hours; step until the local time exists
        for minutes in (0..=24 * 60).step_by(15) {
            let candidate = local + Duration::minutes(minutes);
            if let Some(at) = self.tz.from_local_datetime(&candidate).earliest() {
                return at.with_timezone(&Utc);
            }
        }
        Utc.from_utc_datetime(&local)
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The latest slot at or before `now`.
    pub fn latest_slot(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = self.local_date(now);
        let slot = self.slot_on(today);
        if slot <= now {
            return slot;
        }
        let yesterday = today.pred_opt().unwrap_or(today);
        self.slot_on(yesterday)
    }

    /// The first slot after `now`.
    pub fn next_slot(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = self.local_date(now);
        let slot = self.slot_on(today);
        if slot > now {
            return slot;
        }
        let tomorrow = today.succ_opt().unwrap_or(today);
        self.slot_on(tomorrow)
    }
}

/// Decides whether a daily backup is due; see the module documentation. `last_slot` is the
/// slot last handled (`None` before the first run, when the schedule's creation counts as
/// handled: a schedule created at 10:00 for 03:00 first runs tomorrow).
pub fn decide(
    schedule: &DailySchedule,
    last_slot: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decision {
    let handled = last_slot.unwrap_or(created_at);
    let latest = schedule.latest_slot(now);
    if latest <= handled {
        return Decision::Wait {
            until: schedule.next_slot(now.max(handled)),
        };
    }
    let mut missed = 0u32;
    let mut slot = schedule.latest_slot(latest - Duration::seconds(1));
    while slot > handled && missed < 10_000 {
        missed += 1;
        slot = schedule.latest_slot(slot - Duration::seconds(1));
    }
    Decision::Run {
        slot: latest,
        missed,
    }
}

/// How many times a failed daily backup is tried again before its day is given up.
pub const MAX_RETRIES: u32 = 3;

/// The wait before the first try again; it doubles with each failure (15, 30, 60 minutes).
pub const FIRST_RETRY_AFTER: Duration = Duration::minutes(15);

/// Whether the daily backup of `slot`, which failed `failures` times, the last at
/// `failed_at`, is to be tried again at `now`. A cause that passes (a location that was
/// unreachable, a disk that was full) then costs a day's backup only if it lasts for hours;
/// once the next slot has come, that slot's own run takes over.
pub fn retry_due(
    schedule: &DailySchedule,
    slot: DateTime<Utc>,
    failures: u32,
    failed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    if failures == 0 || failures > MAX_RETRIES {
        return false;
    }
    let wait = FIRST_RETRY_AFTER * (1 << (failures - 1));
    now >= failed_at + wait && schedule.next_slot(slot) > now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn paris(h: u32, m: u32) -> DailySchedule {
        DailySchedule {
            time: NaiveTime::from_hms_opt(h, m, 0).unwrap(),
            tz: chrono_tz::Europe::Paris,
        }
    }

    fn utc(h: u32) -> DailySchedule {
        DailySchedule {
            time: NaiveTime::from_hms_opt(h, 0, 0).unwrap(),
            tz: Tz::UTC,
        }
    }

    #[test]
    fn a_slot_is_local_time_in_the_schedule_zone() {
        // Paris is UTC+1 in winter, UTC+2 in summer
        let s = paris(3, 0);
        assert_eq!(
            s.slot_on(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()),
            at("2026-01-15T02:00:00Z")
        );
        assert_eq!(
            s.slot_on(NaiveDate::from_ymd_opt(2026, 7, 15).unwrap()),
            at("2026-07-15T01:00:00Z")
        );
    }

    #[test]
    fn a_time_skipped_by_the_spring_change_runs_just_after_the_gap() {
        // 2026-03-29 in Paris: 02:00 -> 03:00, so 02:30 does not exist
        let s = paris(2, 30);
        let slot = s.slot_on(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert_eq!(slot, at("2026-03-29T01:00:00Z"), "03:00 CEST");
        // and the day before and after are normal
        assert_eq!(
            s.slot_on(NaiveDate::from_ymd_opt(2026, 3, 28).unwrap()),
            at("2026-03-28T01:30:00Z")
        );
        assert_eq!(
            s.slot_on(NaiveDate::from_ymd_opt(2026, 3, 30).unwrap()),
            at("2026-03-30T00:30:00Z")
        );
    }

    #[test]
    fn a_time_repeated_by_the_autumn_change_runs_once_at_its_first_occurrence() {
        // 2026-10-25 in Paris: 03:00 CEST -> 02:00 CET, so 02:30 happens twice
        let s = paris(2, 30);
        let slot = s.slot_on(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap());
        assert_eq!(slot, at("2026-10-25T00:30:00Z"));
        let handled = slot;
        // at the second 02:30 (01:30 UTC) nothing is due
        assert!(matches!(
            decide(
                &s,
                Some(handled),
                at("2026-01-01T00:00:00Z"),
                at("2026-10-25T01:30:00Z")
            ),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn due_once_per_day_at_the_slot() {
        let s = utc(3);
        let created = at("2026-05-01T10:00:00Z");
        // created after today's slot: first run tomorrow
        assert_eq!(
            decide(&s, None, created, at("2026-05-01T23:00:00Z")),
            Decision::Wait {
                until: at("2026-05-02T03:00:00Z")
            }
        );
        let first = decide(&s, None, created, at("2026-05-02T03:00:00Z"));
        assert_eq!(
            first,
            Decision::Run {
                slot: at("2026-05-02T03:00:00Z"),
                missed: 0
            }
        );
        // once handled, not again the same day (a restart reads last_slot back)
        let last = Some(at("2026-05-02T03:00:00Z"));
        assert_eq!(
            decide(&s, last, created, at("2026-05-02T03:00:30Z")),
            Decision::Wait {
                until: at("2026-05-03T03:00:00Z")
            }
        );
        assert!(matches!(
            decide(&s, last, created, at("2026-05-03T03:00:00Z")),
            Decision::Run { .. }
        ));
    }

    #[test]
    fn missed_days_are_caught_up_exactly_once() {
        let s = utc(3);
        let created = at("2026-05-01T00:00:00Z");
        let last = Some(at("2026-05-02T03:00:00Z"));
        // the server was down from the 2nd to the 5th at noon
        let now = at("2026-05-05T12:00:00Z");
        let decision = decide(&s, last, created, now);
        assert_eq!(
            decision,
            Decision::Run {
                slot: at("2026-05-05T03:00:00Z"),
                missed: 2
            }
        );
        // once that slot is recorded, nothing more until tomorrow
        let Decision::Run { slot, .. } = decision else {
            unreachable!()
        };
        assert_eq!(
            decide(&s, Some(slot), created, now),
            Decision::Wait {
                until: at("2026-05-06T03:00:00Z")
            }
        );
    }

    #[test]
    fn a_restart_before_the_slot_waits_and_after_the_slot_runs() {
        let s = utc(3);
        let created = at("2026-05-01T00:00:00Z");
        let last = Some(at("2026-05-09T03:00:00Z"));
        assert!(matches!(
            decide(&s, last, created, at("2026-05-10T02:59:59Z")),
            Decision::Wait { .. }
        ));
        assert_eq!(
            decide(&s, last, created, at("2026-05-10T03:00:00Z")),
            Decision::Run {
                slot: at("2026-05-10T03:00:00Z"),
                missed: 0
            }
        );
    }

    #[test]
    fn every_day_of_a_simulated_year_runs_exactly_once_across_dst() {
        let s = paris(2, 30);
        let created = at("2026-01-01T00:00:00Z");
        let mut last = None;
        let mut runs = Vec::new();
        let mut now = at("2026-01-01T00:00:00Z");
        while now < at("2027-01-01T00:00:00Z") {
            if let Decision::Run { slot, missed } = decide(&s, last, created, now) {
                assert_eq!(missed, 0, "at {now}");
                runs.push(slot);
                last = Some(slot);
            }
            now += Duration::minutes(10);
        }
        assert_eq!(runs.len(), 365);
        let dates: std::collections::BTreeSet<NaiveDate> = runs
            .iter()
            .map(|r| r.with_timezone(&s.tz).date_naive())
            .collect();
        assert_eq!(dates.len(), 365, "one run per local date");
    }

    #[test]
    fn a_failed_backup_is_tried_again_after_15_30_then_60_minutes() {
        let s = utc(3);
        let slot = at("2026-03-10T03:00:00Z");
        let failed = at("2026-03-10T03:05:00Z");
        assert!(!retry_due(&s, slot, 1, failed, at("2026-03-10T03:19:59Z")));
        assert!(retry_due(&s, slot, 1, failed, at("2026-03-10T03:20:00Z")));
        assert!(!retry_due(&s, slot, 2, failed, at("2026-03-10T03:34:59Z")));
        assert!(retry_due(&s, slot, 2, failed, at("2026-03-10T03:35:00Z")));
        assert!(!retry_due(&s, slot, 3, failed, at("2026-03-10T04:04:59Z")));
        assert!(retry_due(&s, slot, 3, failed, at("2026-03-10T04:05:00Z")));
    }

    #[test]
    fn a_day_is_given_up_after_three_retries_or_when_the_next_slot_comes() {
        let s = utc(3);
        let slot = at("2026-03-10T03:00:00Z");
        let failed = at("2026-03-10T03:05:00Z");
        assert!(!retry_due(&s, slot, 4, failed, at("2026-03-10T12:00:00Z")));
        assert!(
            !retry_due(&s, slot, 0, failed, at("2026-03-10T12:00:00Z")),
            "no failure"
        );
        let late = at("2026-03-11T02:50:00Z");
        assert!(
            !retry_due(&s, slot, 1, late, at("2026-03-11T03:20:00Z")),
            "next slot's turn"
        );
        assert!(retry_due(&s, slot, 1, failed, at("2026-03-11T02:59:59Z")));
        assert!(!retry_due(&s, slot, 1, failed, at("2026-03-11T03:00:00Z")));
    }
}
