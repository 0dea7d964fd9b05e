//! Which backups to keep: a pure function of the backups, "now" and a policy.
//!
//! # The rules
//!
//! Dates are calendar dates in the policy's time zone ([`RetentionPolicy::tz`]); a backup's
//! date is the local date of its `taken_at`. "Automatic" means [`BackupKind::Daily`].
//!
//! 1. **Daily tier**: of the automatic backups taken at or before `now`, group by local date;
//!    the newest backup of each of the `daily` most recent dates *that have one* is kept.
//! 2. **Weekly tier**: the same with ISO weeks (Monday to Sunday, ISO week-numbering year):
//!    the newest automatic backup of each of the `weekly` most recent ISO weeks that have one.
//! 3. **Monthly tier**: the same with calendar months: the newest automatic backup of each of
//!    the `monthly` most recent months that have one.
//!
//!    The tiers count independently (as restic's `--keep-daily/weekly/monthly` do): the
//!    current week's and month's newest backup is usually also today's, so with one backup a
//!    day the plan keeps fewer than `daily + weekly + monthly` distinct backups; each kept
//!    backup lists every reason that keeps it.
//! 4. **Manual and safety backups** (`Manual`, `BeforeUpdate`, `BeforeRestore`,
//!    `BeforeImport`, `BeforeUpgrade`) are kept while younger than `manual_keep_days` × 24 h.
//!    `Manual` backups are also limited to `manual_per_day` per local date: when a date holds
//!    more (the limit was lowered, or a caller skipped [`manual_slots_left`]), the newest
//!    `manual_per_day` are kept and the others are deleted and reported in
//!    [`RetentionPlan::over_daily_limit`]. Safety backups are never limited: an operation on
//!    production must never be refused for want of a backup slot.
//! 5. **Future backups** (`taken_at > now`, clock skew) are kept, reported in
//!    [`RetentionPlan::future`], and take no slot in any tier.
//! 6. **The newest backup** taken at or before `now`, of any kind, is always kept.
//!
//! Ties (two backups at the same instant) are broken by the greater id, so the plan is
//! deterministic.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// The scheduled daily backup of production (the only "automatic" kind).
    Daily,
    /// Asked for by a user.
    Manual,
    /// Taken before an update of production.
    BeforeUpdate,
    /// Taken before a restore into production.
    BeforeRestore,
    /// Taken before an import into production.
    BeforeImport,
    /// Taken before an upgrade of production.
    BeforeUpgrade,
}

impl BackupKind {
    /// Every kind, in declaration order.
    pub const ALL: [BackupKind; 6] = [
        BackupKind::Daily,
        BackupKind::Manual,
        BackupKind::BeforeUpdate,
        BackupKind::BeforeRestore,
        BackupKind::BeforeImport,
        BackupKind::BeforeUpgrade,
    ];

    /// Its name as it is serialized, stored and shown (`daily`, `before-update`…).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Daily => "daily",
            BackupKind::Manual => "manual",
            BackupKind::BeforeUpdate => "before-update",
            BackupKind::BeforeRestore => "before-restore",
            BackupKind::BeforeImport => "before-import",
            BackupKind::BeforeUpgrade => "before-upgrade",
        }
    }

    /// True for the kinds kept like manual backups (rule 4).
    pub fn is_manual_like(self) -> bool {
        self != BackupKind::Daily
    }
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What retention needs to know about one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// The backup's id.
    pub id: String,
    /// Why it was taken.
    pub kind: BackupKind,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
}

/// How many backups to keep. [`Default`] is Odoo.sh's: 7 daily, 4 weekly, 3 monthly,
/// manual backups kept 7 days and at most 5 a day, dates in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Dates with an automatic backup to keep one of.
    pub daily: u32,
    /// ISO weeks with an automatic backup to keep one of.
    pub weekly: u32,
    /// Months with an automatic backup to keep one of.
    pub monthly: u32,
    /// Days a manual or safety backup is kept.
    pub manual_keep_days: u32,
    /// Manual backups allowed per local date.
    pub manual_per_day: u32,
    /// The time zone whose calendar defines dates, weeks and months.
    pub tz: Tz,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            daily: 7,
            weekly: 4,
            monthly: 3,
            manual_keep_days: 7,
            manual_per_day: 5,
            tz: Tz::UTC,
        }
    }
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum KeepReason {
    /// The newest automatic backup of this local date.
    Daily {
        /// The local date.
        date: NaiveDate,
    },
    /// The newest automatic backup of this ISO week.
    Weekly {
        /// ISO week-numbering year.
        year: i32,
        /// ISO week, 1 to 53.
        week: u32,
    },
    /// The newest automatic backup of this month.
    Monthly {
        /// Calendar year.
        year: i32,
        /// Month, 1 to 12.
        month: u32,
    },
    /// A manual or safety backup younger than `manual_keep_days`.
    Recent,
    /// Dated after "now" (clock skew); kept until the clocks agree.
    Future,
    /// The newest backup.
    Newest,
}

/// A backup the plan keeps, with every reason that keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The backup's id.
    pub id: String,
    /// Why it is kept (never empty).
    pub reasons: Vec<KeepReason>,
}

/// The decision: each backup is in exactly one of `keep` and `delete`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPlan {
    /// Backups to keep.
    pub keep: Vec<Kept>,
    /// Backups to delete.
    pub delete: Vec<String>,
    /// Manual backups beyond the per-day limit (also in `delete`).
    pub over_daily_limit: Vec<String>,
    /// Backups dated after "now" (also in `keep`).
    pub future: Vec<String>,
}

/// Decides which backups to keep and which to delete; see the module documentation.
pub fn plan_retention(
    backups: &[BackupInfo],
    now: DateTime<Utc>,
    policy: &RetentionPolicy,
) -> RetentionPlan {
    let mut sorted: Vec<&BackupInfo> = backups.iter().collect();
    sorted.sort_by(|a, b| (b.taken_at, &b.id).cmp(&(a.taken_at, &a.id)));
    let (future, past): (Vec<&BackupInfo>, Vec<&BackupInfo>) =
        sorted.iter().partition(|b| b.taken_at > now);

    let mut reasons: HashMap<&str, Vec<KeepReason>> = HashMap::new();
    for (id, reason) in gfs_tiers(&past, policy) {
        add(&mut reasons, id, reason);
    }
    let over_limit = over_daily_limit(&past, now, policy);
    for b in past.iter().filter(|b| b.kind.is_manual_like()) {
        if is_recent(b, now, policy) && !over_limit.contains(&b.id.as_str()) {
            add(&mut reasons, &b.id, KeepReason::Recent);
        }
    }
    for b in &future {
        add(&mut reasons, &b.id, KeepReason::Future);
    }
    if let Some(newest) = past.first() {
        add(&mut reasons, &newest.id, KeepReason::Newest);
    }
    split(&sorted, reasons, &future, &over_limit)
}

/// How many more manual backups may be taken on `now`'s local date (rule 4).
pub fn manual_slots_left(
    backups: &[BackupInfo],
    now: DateTime<Utc>,
    policy: &RetentionPolicy,
) -> u32 {
    let today = local_date(now, policy.tz);
    let taken = backups
        .iter()
        .filter(|b| b.kind == BackupKind::Manual && local_date(b.taken_at, policy.tz) == today)
        .count();
    let taken = u32::try_from(taken).unwrap_or(u32::MAX);
    policy.manual_per_day.saturating_sub(taken)
}

fn add<'a>(reasons: &mut HashMap<&'a str, Vec<KeepReason>>, id: &'a str, reason: KeepReason) {
    reasons.entry(id).or_default().push(reason);
}

fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The three tiers over `past` (newest first), as (id, reason) pairs.
fn gfs_tiers<'a>(past: &[&'a BackupInfo], policy: &RetentionPolicy) -> Vec<(&'a str, KeepReason)> {
    let automatic: Vec<(&'a str, NaiveDate)> = past
        .iter()
        .filter(|b| b.kind == BackupKind::Daily)
        .map(|b| (b.id.as_str(), local_date(b.taken_at, policy.tz)))
        .collect();
    let daily = |d: NaiveDate| KeepReason::Daily { date: d };
    let weekly = |d: NaiveDate| {
        let w = d.iso_week();
        KeepReason::Weekly {
            year: w.year(),
            week: w.week(),
        }
    };
    let monthly = |d: NaiveDate| KeepReason::Monthly {
        year: d.year(),
        month: d.month(),
    };
    let mut kept = tier(&automatic, policy.daily, daily);
    kept.extend(tier(&automatic, policy.weekly, weekly));
    kept.extend(tier(&automatic, policy.monthly, monthly));
    kept
}

/// The first (newest) backup of each of the `count` most recent buckets. `automatic` is newest
/// first and local dates only go down along it, so a bucket never comes back once left.
fn tier<'a>(
    automatic: &[(&'a str, NaiveDate)],
    count: u32,
    bucket: impl Fn(NaiveDate) -> KeepReason,
) -> Vec<(&'a str, KeepReason)> {
    let mut kept: Vec<(&'a str, KeepReason)> = Vec::new();
    for &(id, date) in automatic {
        let reason = bucket(date);
        if kept.last().is_some_and(|(_, last)| *last == reason) {
            continue;
        }
        if kept.len() >= count as usize {
            break;
        }
        kept.push((id, reason));
    }
    kept
}

fn is_recent(b: &BackupInfo, now: DateTime<Utc>, policy: &RetentionPolicy) -> bool {
    now - b.taken_at < Duration::days(i64::from(policy.manual_keep_days))
}

/// Manual backups of `past` (newest first) beyond the newest `manual_per_day` of their local
/// date, among those still young enough to be kept.
fn over_daily_limit<'a>(
    past: &[&'a BackupInfo],
    now: DateTime<Utc>,
    policy: &RetentionPolicy,
) -> Vec<&'a str> {
    let mut per_date: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    let mut over = Vec::new();
    for b in past.iter().filter(|b| b.kind == BackupKind::Manual) {
        let seen = per_date
            .entry(local_date(b.taken_at, policy.tz))
            .or_default();
        *seen += 1;
        if *seen > policy.manual_per_day && is_recent(b, now, policy) {
            over.push(b.id.as_str());
        }
    }
    over
}

fn split(
    sorted: &[&BackupInfo],
    mut reasons: HashMap<&str, Vec<KeepReason>>,
    future: &[&BackupInfo],
    over_limit: &[&str],
) -> RetentionPlan {
    let mut plan = RetentionPlan {
        future: future.iter().map(|b| b.id.clone()).collect(),
        over_daily_limit: over_limit.iter().map(|id| id.to_string()).collect(),
        ..RetentionPlan::default()
    };
    for b in sorted {
        match reasons.remove(b.id.as_str()) {
            Some(reasons) => plan.keep.push(Kept {
                id: b.id.clone(),
                reasons,
            }),
            None => plan.delete.push(b.id.clone()),
        }
    }
    plan
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
