use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone};

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn backup(kind: BackupKind, at: DateTime<Utc>) -> BackupInfo {
    BackupInfo {
        id: at.to_rfc3339(),
        kind,
        taken_at: at,
    }
}

/// One daily backup at `hour`:00 UTC on every date from `from` to `to`, inclusive.
fn daily_backups(from: &str, to: &str, hour: u32) -> Vec<BackupInfo> {
    date(from)
        .iter_days()
        .take_while(|d| *d <= date(to))
        .map(|d| {
            backup(
                BackupKind::Daily,
                Utc.from_utc_datetime(&d.and_hms_opt(hour, 0, 0).unwrap()),
            )
        })
        .collect()
}

/// The kept backups as the UTC dates they were taken on, after checking that every backup is
/// in exactly one of keep and delete and every kept one has a reason.
fn kept_dates(backups: &[BackupInfo], plan: &RetentionPlan) -> BTreeSet<NaiveDate> {
    check_partition(backups, plan);
    let by_id = |id: &str| {
        backups
            .iter()
            .find(|b| b.id == id)
            .unwrap()
            .taken_at
            .date_naive()
    };
    plan.keep.iter().map(|k| by_id(&k.id)).collect()
}

fn check_partition(backups: &[BackupInfo], plan: &RetentionPlan) {
    let mut seen: Vec<&str> = plan.keep.iter().map(|k| k.id.as_str()).collect();
    seen.extend(plan.delete.iter().map(String::as_str));
    seen.sort();
    let mut all: Vec<&str> = backups.iter().map(|b| b.id.as_str()).collect();
    all.sort();
    assert_eq!(seen, all, "each backup is kept or deleted, once");
    assert!(plan.keep.iter().all(|k| !k.reasons.is_empty()));
}

fn dates(list: &[&str]) -> BTreeSet<NaiveDate> {
    list.iter().map(|s| date(s)).collect()
}

fn reasons_of<'a>(plan: &'a RetentionPlan, id: &str) -> &'a [KeepReason] {
    &plan.keep.iter().find(|k| k.id == id).unwrap().reasons
}

fn count(plan: &RetentionPlan, pred: impl Fn(&KeepReason) -> bool) -> usize {
    plan.keep
        .iter()
        .flat_map(|k| &k.reasons)
        .filter(|r| pred(r))
        .count()
}

/// 2025-06-18 is a Wednesday of ISO week 25. Kept: the 7 days June 12-18 (daily); ISO weeks
/// 25 and 24 have their newest backup on June 18 and Sunday June 15, already kept, weeks 23
/// and 22 add Sundays June 8 and 1; June's newest is June 18, May and April add their last
/// days. 7 + 2 + 2 = 11 distinct backups for 7 + 4 + 3 = 14 reasons.
const EXPECTED_ON_2025_06_18: [&str; 11] = [
    "2025-06-18",
    "2025-06-17",
    "2025-06-16",
    "2025-06-15",
    "2025-06-14",
    "2025-06-13",
    "2025-06-12",
    "2025-06-08",
    "2025-06-01",
    "2025-05-31",
    "2025-04-30",
];

#[test]
fn three_years_of_daily_backups_keep_7_daily_4_weekly_3_monthly() {
    let backups = daily_backups("2022-06-19", "2025-06-18", 2);
    let plan = plan_retention(
        &backups,
        utc("2025-06-18T12:00:00Z"),
        &RetentionPolicy::default(),
    );

    assert_eq!(kept_dates(&backups, &plan), dates(&EXPECTED_ON_2025_06_18));
    assert_eq!(plan.delete.len(), backups.len() - 11);
    assert_eq!(count(&plan, |r| matches!(r, KeepReason::Daily { .. })), 7);
    assert_eq!(count(&plan, |r| matches!(r, KeepReason::Weekly { .. })), 4);
    assert_eq!(count(&plan, |r| matches!(r, KeepReason::Monthly { .. })), 3);
    let today = reasons_of(&plan, &backups[backups.len() - 1].id);
    assert_eq!(
        today,
        [
            KeepReason::Daily {
                date: date("2025-06-18")
            },
            KeepReason::Weekly {
                year: 2025,
                week: 25
            },
            KeepReason::Monthly {
                year: 2025,
                month: 6
            },
            KeepReason::Newest,
        ]
    );
    assert_eq!(
        plan.keep[0].id,
        backups[backups.len() - 1].id,
        "newest first"
    );
}

/// What a real system does: a backup a day, the plan applied each day to what survived.
/// Applying it daily for three years ends where the one-shot plan does, and never keeps
/// more than 7 + 4 + 3 backups.
#[test]
fn applying_the_plan_every_day_for_three_years_matches_the_one_shot_plan() {
    let policy = RetentionPolicy::default();
    let mut alive: Vec<BackupInfo> = Vec::new();
    for b in daily_backups("2022-06-19", "2025-06-18", 2) {
        let now = b.taken_at + Duration::hours(10);
        alive.push(b);
        let plan = plan_retention(&alive, now, &policy);
        check_partition(&alive, &plan);
        alive.retain(|b| !plan.delete.contains(&b.id));
        assert!(alive.len() <= 14, "{} kept on {now}", alive.len());
    }
    let kept: BTreeSet<NaiveDate> = alive.iter().map(|b| b.taken_at.date_naive()).collect();
    assert_eq!(kept, dates(&EXPECTED_ON_2025_06_18));
}

#[test]
fn gaps_reach_back_to_the_most_recent_days_and_weeks_that_have_backups() {
    // Nothing from June 11 to June 17: the daily tier reaches back to June 5.
    let mut backups = daily_backups("2025-04-01", "2025-06-10", 2);
    backups.extend(daily_backups("2025-06-18", "2025-06-18", 2));
    let plan = plan_retention(
        &backups,
        utc("2025-06-18T12:00:00Z"),
        &RetentionPolicy::default(),
    );

    let expected = dates(&[
        "2025-06-18",
        "2025-06-10",
        "2025-06-09",
        "2025-06-08",
        "2025-06-07",
        "2025-06-06",
        "2025-06-05", // daily
        "2025-06-01", // week 22 (weeks 25, 24, 23 have June 18, 10, 8)
        "2025-05-31",
        "2025-04-30", // months
    ]);
    assert_eq!(kept_dates(&backups, &plan), expected);
}

#[test]
fn a_missing_week_is_skipped_not_counted() {
    // ISO week 24 (June 9-15) has no backup: the weekly tier takes weeks 25, 23, 22, 21.
    let mut backups = daily_backups("2025-05-01", "2025-06-08", 2);
    backups.extend(daily_backups("2025-06-16", "2025-06-18", 2));
    let policy = RetentionPolicy {
        daily: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-06-18T12:00:00Z"), &policy);

    let weeks: Vec<u32> = plan
        .keep
        .iter()
        .flat_map(|k| &k.reasons)
        .filter_map(|r| match r {
            KeepReason::Weekly { week, .. } => Some(*week),
            _ => None,
        })
        .collect();
    assert_eq!(weeks, [25, 23, 22, 21]);
    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&["2025-06-18", "2025-06-08", "2025-06-01", "2025-05-25"])
    );
}

#[test]
fn several_backups_a_day_the_newest_of_each_day_wins() {
    let mut backups = Vec::new();
    for hour in [1, 9, 17] {
        backups.extend(daily_backups("2025-06-01", "2025-06-18", hour));
    }
    // Now is 10:00 on June 18: today's 17:00 backup has not been taken yet.
    let now = utc("2025-06-18T10:00:00Z");
    let backups: Vec<BackupInfo> = backups.into_iter().filter(|b| b.taken_at <= now).collect();
    let policy = RetentionPolicy {
        weekly: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, now, &policy);

    check_partition(&backups, &plan);
    let kept: Vec<String> = plan.keep.iter().map(|k| k.id.clone()).collect();
    let expected: Vec<String> = [
        "2025-06-18T09",
        "2025-06-17T17",
        "2025-06-16T17",
        "2025-06-15T17",
        "2025-06-14T17",
        "2025-06-13T17",
        "2025-06-12T17",
    ]
    .iter()
    .map(|p| utc(&format!("{p}:00:00Z")).to_rfc3339())
    .collect();
    assert_eq!(kept, expected);
}

#[test]
fn month_ends_and_leap_day_are_the_monthly_backups() {
    let backups = daily_backups("2023-11-15", "2024-03-05", 2);
    let policy = RetentionPolicy {
        daily: 0,
        weekly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2024-03-05T12:00:00Z"), &policy);

    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&["2024-03-05", "2024-02-29", "2024-01-31"])
    );
    let policy = RetentionPolicy {
        daily: 0,
        weekly: 0,
        monthly: 5,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2024-03-05T12:00:00Z"), &policy);
    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&[
            "2024-03-05",
            "2024-02-29",
            "2024-01-31",
            "2023-12-31",
            "2023-11-30"
        ])
    );
}

#[test]
fn february_without_a_leap_day_ends_on_the_28th() {
    let backups = daily_backups("2025-01-20", "2025-03-02", 2);
    let policy = RetentionPolicy {
        daily: 0,
        weekly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-03-02T12:00:00Z"), &policy);
    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&["2025-03-02", "2025-02-28", "2025-01-31"])
    );
}

#[test]
fn iso_weeks_cross_the_new_year() {
    // December 30, 2024 (a Monday) starts ISO week 1 of 2025.
    let backups = daily_backups("2024-12-16", "2025-01-04", 2);
    let policy = RetentionPolicy {
        daily: 0,
        monthly: 0,
        weekly: 3,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-01-04T12:00:00Z"), &policy);

    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&["2025-01-04", "2024-12-29", "2024-12-22"])
    );
    assert!(
        reasons_of(&plan, &plan.keep[0].id).contains(&KeepReason::Weekly {
            year: 2025,
            week: 1
        })
    );
    assert!(
        reasons_of(&plan, &plan.keep[1].id).contains(&KeepReason::Weekly {
            year: 2024,
            week: 52
        })
    );
}

fn brussels_daily_02_30(from: &str, to: &str) -> Vec<BackupInfo> {
    // A scheduler "at 02:30 local": on the spring-forward day 02:30 does not exist and runs at
    // 03:30 CEST; on the fall-back day 02:30 happens twice and the scheduler runs at both.
    let tz = chrono_tz::Europe::Brussels;
    let mut backups = Vec::new();
    for d in date(from).iter_days().take_while(|d| *d <= date(to)) {
        let local = d.and_hms_opt(2, 30, 0).unwrap();
        let instants: Vec<DateTime<Utc>> = match tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
            chrono::LocalResult::Ambiguous(a, b) => {
                vec![a.with_timezone(&Utc), b.with_timezone(&Utc)]
            }
            chrono::LocalResult::None => {
                vec![tz
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .unwrap()
                    .with_timezone(&Utc)]
            }
        };
        backups.extend(instants.into_iter().map(|t| backup(BackupKind::Daily, t)));
    }
    backups
}

#[test]
fn dst_spring_forward_a_0230_backup_belongs_to_its_local_day() {
    let backups = brussels_daily_02_30("2025-03-20", "2025-03-31");
    // 02:30 local is 01:30 UTC in winter, 00:30 UTC in summer: UTC dates match local dates.
    assert!(
        backups
            .iter()
            .any(|b| b.taken_at == utc("2025-03-30T01:30:00Z")),
        "03:30 CEST"
    );
    let policy = RetentionPolicy {
        tz: chrono_tz::Europe::Brussels,
        weekly: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-03-31T10:00:00Z"), &policy);
    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&[
            "2025-03-31",
            "2025-03-30",
            "2025-03-29",
            "2025-03-28",
            "2025-03-27",
            "2025-03-26",
            "2025-03-25"
        ])
    );
}

#[test]
fn dst_fall_back_the_later_of_two_0230_backups_is_the_days_daily() {
    let backups = brussels_daily_02_30("2025-10-20", "2025-10-27");
    let twice: Vec<&BackupInfo> = backups
        .iter()
        .filter(|b| b.taken_at.date_naive() == date("2025-10-26"))
        .collect();
    assert_eq!(
        twice.len(),
        2,
        "02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC)"
    );
    let policy = RetentionPolicy {
        tz: chrono_tz::Europe::Brussels,
        weekly: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-10-27T10:00:00Z"), &policy);

    assert!(plan
        .delete
        .contains(&utc("2025-10-26T00:30:00Z").to_rfc3339()));
    let later = utc("2025-10-26T01:30:00Z").to_rfc3339();
    assert_eq!(
        reasons_of(&plan, &later),
        [KeepReason::Daily {
            date: date("2025-10-26")
        }]
    );
    assert_eq!(plan.keep.len(), 7);
}

#[test]
fn dates_are_local_a_late_evening_utc_backup_is_the_next_local_day() {
    // 23:30 UTC on June 17 is 01:30 CEST on June 18, the same local day as 10:00 UTC June 18.
    let late = backup(BackupKind::Daily, utc("2025-06-17T23:30:00Z"));
    let morning = backup(BackupKind::Daily, utc("2025-06-18T10:00:00Z"));
    let backups = vec![late.clone(), morning.clone()];
    let now = utc("2025-06-18T12:00:00Z");
    let brussels = RetentionPolicy {
        tz: chrono_tz::Europe::Brussels,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, now, &brussels);
    assert_eq!(plan.delete, vec![late.id.clone()]);
    let plan = plan_retention(&backups, now, &RetentionPolicy::default());
    assert!(plan.delete.is_empty(), "two UTC days");
}

#[test]
fn future_backups_are_kept_reported_and_take_no_slot() {
    let mut backups = daily_backups("2025-06-01", "2025-06-18", 2);
    let skewed = backup(BackupKind::Daily, utc("2025-06-19T02:00:00Z"));
    backups.push(skewed.clone());
    let policy = RetentionPolicy {
        weekly: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-06-18T12:00:00Z"), &policy);

    assert_eq!(plan.future, vec![skewed.id.clone()]);
    assert_eq!(reasons_of(&plan, &skewed.id), [KeepReason::Future]);
    assert_eq!(
        kept_dates(&backups, &plan),
        dates(&[
            "2025-06-19",
            "2025-06-18",
            "2025-06-17",
            "2025-06-16",
            "2025-06-15",
            "2025-06-14",
            "2025-06-13",
            "2025-06-12"
        ])
    );
    let today = utc("2025-06-18T02:00:00Z").to_rfc3339();
    assert!(reasons_of(&plan, &today).contains(&KeepReason::Newest));
}

#[test]
fn manual_and_safety_backups_are_kept_for_manual_keep_days() {
    let now = utc("2025-06-18T12:00:00Z");
    let kinds = [
        BackupKind::Manual,
        BackupKind::BeforeUpdate,
        BackupKind::BeforeRestore,
        BackupKind::BeforeImport,
        BackupKind::BeforeUpgrade,
    ];
    let mut backups = daily_backups("2025-06-18", "2025-06-18", 2);
    let mut young = Vec::new();
    let mut old = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let minutes = i64::try_from(i).unwrap();
        let y = backup(
            kind,
            now - Duration::days(7) + Duration::minutes(minutes + 1),
        );
        let o = backup(kind, now - Duration::days(7) - Duration::minutes(minutes));
        young.push(y.id.clone());
        old.push(o.id.clone());
        backups.extend([y, o]);
    }
    let plan = plan_retention(&backups, now, &RetentionPolicy::default());
    check_partition(&backups, &plan);
    for id in &young {
        assert_eq!(reasons_of(&plan, id), [KeepReason::Recent]);
    }
    let mut deleted = plan.delete.clone();
    deleted.sort();
    old.sort();
    assert_eq!(deleted, old);
}

#[test]
fn manual_backups_over_the_daily_limit_are_reported_and_deleted_oldest_first() {
    let now = utc("2025-06-18T20:00:00Z");
    let manual: Vec<BackupInfo> = (0..7)
        .map(|h| backup(BackupKind::Manual, utc(&format!("2025-06-18T1{h}:00:00Z"))))
        .collect();
    let safety: Vec<BackupInfo> = (0..7)
        .map(|h| {
            backup(
                BackupKind::BeforeUpdate,
                utc(&format!("2025-06-18T1{h}:30:00Z")),
            )
        })
        .collect();
    let mut backups = manual.clone();
    backups.extend(safety.clone());
    let plan = plan_retention(&backups, now, &RetentionPolicy::default());

    check_partition(&backups, &plan);
    let oldest_two = vec![manual[1].id.clone(), manual[0].id.clone()];
    assert_eq!(plan.over_daily_limit, oldest_two);
    assert_eq!(plan.delete, oldest_two);
    assert_eq!(
        plan.keep.len(),
        12,
        "5 manual + 7 before-update (never limited)"
    );
    assert_eq!(
        manual_slots_left(&backups, now, &RetentionPolicy::default()),
        0
    );
    assert_eq!(
        manual_slots_left(&manual[..3], now, &RetentionPolicy::default()),
        2
    );
    assert_eq!(
        manual_slots_left(
            &manual,
            now + Duration::days(1),
            &RetentionPolicy::default()
        ),
        5
    );
}

#[test]
fn the_newest_backup_is_never_deleted() {
    let old_manual = backup(BackupKind::Manual, utc("2024-01-01T10:00:00Z"));
    let older_daily = backup(BackupKind::Daily, utc("2023-01-01T10:00:00Z"));
    let backups = vec![older_daily.clone(), old_manual.clone()];
    let nothing = RetentionPolicy {
        daily: 0,
        weekly: 0,
        monthly: 0,
        manual_keep_days: 0,
        manual_per_day: 0,
        tz: Tz::UTC,
    };
    let plan = plan_retention(&backups, utc("2025-06-18T12:00:00Z"), &nothing);
    assert_eq!(
        plan.keep,
        [Kept {
            id: old_manual.id,
            reasons: vec![KeepReason::Newest]
        }]
    );
    assert_eq!(plan.delete, [older_daily.id]);
    assert_eq!(
        plan.over_daily_limit,
        Vec::<String>::new(),
        "too old to be over a limit"
    );
}

#[test]
fn ties_are_broken_by_id_and_no_backups_means_an_empty_plan() {
    let at = utc("2025-06-18T02:00:00Z");
    let a = BackupInfo {
        id: "a".into(),
        kind: BackupKind::Daily,
        taken_at: at,
    };
    let b = BackupInfo {
        id: "b".into(),
        kind: BackupKind::Daily,
        taken_at: at,
    };
    let plan = plan_retention(
        &[a, b],
        at,
        &RetentionPolicy {
            weekly: 0,
            monthly: 0,
            ..RetentionPolicy::default()
        },
    );
    assert_eq!(plan.keep[0].id, "b");
    assert_eq!(plan.delete, ["a"]);
    assert_eq!(
        plan_retention(&[], at, &RetentionPolicy::default()),
        RetentionPlan::default()
    );
}

#[test]
fn the_plan_serializes_with_kebab_case_reasons() {
    let backups = daily_backups("2025-06-18", "2025-06-18", 2);
    let policy = RetentionPolicy {
        weekly: 0,
        monthly: 0,
        ..RetentionPolicy::default()
    };
    let plan = plan_retention(&backups, utc("2025-06-18T12:00:00Z"), &policy);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["keep"][0]["reasons"][0],
        serde_json::json!({"reason": "daily", "date": "2025-06-18"})
    );
    assert_eq!(
        json["keep"][0]["reasons"][1],
        serde_json::json!({"reason": "newest"})
    );
}
