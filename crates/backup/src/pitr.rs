//! Point-in-time recovery, the pure part: PostgreSQL's WAL file names and positions, the
//! window of times a database can be recovered to, and the plan of one recovery (which base
//! backup, which WAL segments).
//!
//! A *base backup* is a copy of the whole cluster (`pg_basebackup`); it is consistent from the
//! moment it finished. Replaying the archived WAL that follows it, without a gap, reaches any
//! later time up to the last archived segment. So each base backup opens an interval
//! `[consistent_at, archived_at of the last segment of the gap-free run after it]`; the
//! recovery window is the union of those intervals.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// PostgreSQL's default WAL segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A file of PostgreSQL's WAL archive, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WalName {
    /// A segment: `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, log, segment within the log).
    Segment {
        /// The timeline.
        timeline: u32,
        /// The high 32 bits of the position.
        log: u32,
        /// The segment within the log.
        seg: u32,
    },
    /// A timeline history file: `TTTTTTTT.history`.
    History {
        /// The timeline.
        timeline: u32,
    },
    /// A backup history file: `<segment>.XXXXXXXX.backup`.
    BackupHistory,
    /// A partial segment left by a promotion: `<segment>.partial`.
    Partial,
}

fn hex8(s: &str) -> Option<u32> {
    (s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
    .then(|| u32::from_str_radix(s, 16).ok())
    .flatten()
}

fn segment_parts(s: &str) -> Option<(u32, u32, u32)> {
    if s.len() != 24 || !s.is_ascii() {
        return None;
    }
    Some((hex8(&s[..8])?, hex8(&s[8..16])?, hex8(&s[16..])?))
}

/// Reads a file name PostgreSQL's archiver hands over; anything else (a path, `..`, lowercase
/// hex, a stray file) is `None`, so a name is safe as an object key and a file name.
pub fn parse_wal_name(name: &str) -> Option<WalName> {
    if let Some((timeline, log, seg)) = segment_parts(name) {
        return Some(WalName::Segment { timeline, log, seg });
    }
    if let Some(tl) = name.strip_suffix(".history") {
        return hex8(tl).map(|timeline| WalName::History { timeline });
    }
    if let Some(rest) = name.strip_suffix(".backup") {
        let (segment, offset) = rest.split_at_checked(24)?;
        let offset = offset.strip_prefix('.')?;
        segment_parts(segment)?;
        hex8(offset)?;
        return Some(WalName::BackupHistory);
    }
    if let Some(segment) = name.strip_suffix(".partial") {
        segment_parts(segment)?;
        return Some(WalName::Partial);
    }
    None
}

/// Segments in one "log" (4 GiB of positions).
pub fn segments_per_log(segment_size: u64) -> u64 {
    0x1_0000_0000 / segment_size.max(1)
}

/// The segment number of a segment file name's log and segment.
pub fn segment_number(log: u32, seg: u32, segment_size: u64) -> u64 {
    u64::from(log) * segments_per_log(segment_size) + u64::from(seg)
}

/// The file name of segment `number` on `timeline`.
pub fn segment_name(timeline: u32, number: u64, segment_size: u64) -> String {
    let per = segments_per_log(segment_size);
    format!("{timeline:08X}{:08X}{:08X}", number / per, number % per)
}

/// The segment holding WAL position `lsn`.
pub fn lsn_segment(lsn: u64, segment_size: u64) -> u64 {
    lsn / segment_size.max(1)
}

/// Reads a WAL position as PostgreSQL prints it (`0/2000028`).
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u64::from(u32::MAX) && lo <= u64::from(u32::MAX)).then_some((hi << 32) | lo)
}

/// Where a base backup starts and ends in the WAL, from its backup history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBackupPoints {
    /// The position replay starts from.
    pub start_lsn: u64,
    /// The timeline.
    pub timeline: u32,
    /// The position replay must reach for the copy to be consistent.
    pub stop_lsn: u64,
    /// The label the backup was started with.
    pub label: String,
}

/// Reads the backup history file PostgreSQL archives when a base backup ends
/// (`<segment>.<offset>.backup`: `START WAL LOCATION: 0/2000028 (file ...)`, `STOP WAL
/// LOCATION: ...`, `START TIMELINE: 1`, `LABEL: ...`).
pub fn parse_backup_history(text: &str) -> Option<BaseBackupPoints> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let lsn = |name: &str| parse_lsn(field(name)?.split_whitespace().next()?);
    let start_lsn = lsn("START WAL LOCATION:")?;
    let stop_lsn = lsn("STOP WAL LOCATION:")?;
    let timeline = field("START TIMELINE:")?.parse().ok()?;
    let label = field("LABEL:")?.to_string();
    (stop_lsn >= start_lsn).then_some(BaseBackupPoints {
        start_lsn,
        timeline,
        stop_lsn,
        label,
    })
}

/// A base backup, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseBackupInfo {
    /// Its id.
    pub id: String,
    /// Its timeline.
    pub timeline: u32,
    /// The segment replay starts in.
    pub start_segment: u64,
    /// The segment that makes it consistent.
    pub stop_segment: u64,
    /// The WAL segment size of its cluster.
    pub segment_size: u64,
    /// When it finished: the earliest time it can be recovered to.
    pub consistent_at: DateTime<Utc>,
}

/// An archived segment: its place and when the archiver handed it over (it holds nothing
/// later than that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivedSegment {
    /// Its timeline.
    pub timeline: u32,
    /// Its number ([`segment_number`]).
    pub number: u64,
    /// When it was archived.
    pub archived_at: DateTime<Utc>,
}

/// A stretch of time a database can be recovered to, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// The earliest time.
    pub from: DateTime<Utc>,
    /// The latest time.
    pub to: DateTime<Utc>,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            self.from.format("%Y-%m-%dT%H:%M:%SZ"),
            self.to.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// Why a time cannot be recovered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PitrError {
    /// No base backup, or none with its WAL.
    #[error(
        "no point-in-time recovery is possible yet: it needs a base backup of the cluster (taken \
         with each daily backup while WAL archiving is on) and the WAL archived after it"
    )]
    NoWindow,
    /// The time is not in the window.
    #[error("{target} is outside the point-in-time recovery window: {}; choose a time in it", windows_text(.windows))]
    Outside {
        /// The time asked for.
        target: String,
        /// What is possible.
        windows: Vec<Interval>,
    },
}

fn windows_text(windows: &[Interval]) -> String {
    let parts: Vec<String> = windows.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        format!("recovery is possible from {}", parts[0])
    } else {
        format!(
            "recovery is possible from {} (WAL is missing between these)",
            parts.join(", or from ")
        )
    }
}

/// The archived segments by timeline and number.
type Runs<'a> = BTreeMap<(u32, u64), &'a ArchivedSegment>;

/// The gap-free run of segments starting at a base backup's first segment, or `None` when
/// the run does not reach the segment that makes the backup consistent.
fn run_of<'a>(base: &BaseBackupInfo, by_number: &Runs<'a>) -> Option<Vec<&'a ArchivedSegment>> {
    let mut run = Vec::new();
    let mut n = base.start_segment;
    while let Some(s) = by_number.get(&(base.timeline, n)) {
        run.push(*s);
        n += 1;
    }
    (n > base.stop_segment).then_some(run)
}

fn index(wal: &[ArchivedSegment]) -> Runs<'_> {
    wal.iter().map(|s| ((s.timeline, s.number), s)).collect()
}

fn interval_of(base: &BaseBackupInfo, run: &[&ArchivedSegment]) -> Interval {
    let last = run.last().map_or(base.consistent_at, |s| s.archived_at);
    Interval {
        from: base.consistent_at,
        to: last.max(base.consistent_at),
    }
}

/// The times a database can be recovered to, oldest first, overlapping intervals merged.
pub fn recovery_windows(bases: &[BaseBackupInfo], wal: &[ArchivedSegment]) -> Vec<Interval> {
    let by_number = index(wal);
    let mut intervals: Vec<Interval> = bases
        .iter()
        .filter_map(|b| run_of(b, &by_number).map(|run| interval_of(b, &run)))
        .collect();
    intervals.sort_by_key(|i| (i.from, i.to));
    let mut merged: Vec<Interval> = Vec::new();
    for i in intervals {
        match merged.last_mut() {
            Some(last) if i.from <= last.to => last.to = last.to.max(i.to),
            _ => merged.push(i),
        }
    }
    merged
}

/// How to recover to one time: the base backup to unpack and the segments replay needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// The base backup.
    pub base: String,
    /// Its timeline.
    pub timeline: u32,
    /// The segments to make available, in order: from the base backup's first one through
    /// the first one archived at least `margin` after the target (replay stops at the first
    /// commit after the target, which may come a little later), or the run's end.
    pub segments: Vec<u64>,
    /// Every segment of the gap-free run (a retry when the target was not reached).
    pub all_segments: Vec<u64>,
}

/// Plans a recovery to `target`: the newest base backup consistent at or before it whose WAL
/// reaches it. `margin` is how far past the target the segments go (see
/// [`RecoveryPlan::segments`]).
pub fn plan_recovery(
    bases: &[BaseBackupInfo],
    wal: &[ArchivedSegment],
    target: DateTime<Utc>,
    margin: Duration,
) -> Result<RecoveryPlan, PitrError> {
    let by_number = index(wal);
    let mut best: Option<(&BaseBackupInfo, Vec<&ArchivedSegment>)> = None;
    for base in bases {
        let Some(run) = run_of(base, &by_number) else {
            continue;
        };
        let interval = interval_of(base, &run);
        if interval.from <= target
            && target <= interval.to
            && best
                .as_ref()
                .is_none_or(|(b, _)| b.consistent_at < base.consistent_at)
        {
            best = Some((base, run));
        }
    }
    let Some((base, run)) = best else {
        let windows = recovery_windows(bases, wal);
        if windows.is_empty() {
            return Err(PitrError::NoWindow);
        }
        return Err(PitrError::Outside {
            target: target.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            windows,
        });
    };
    let all_segments: Vec<u64> = run.iter().map(|s| s.number).collect();
    let end = run
        .iter()
        .position(|s| s.number >= base.stop_segment && s.archived_at >= target + margin)
        .map_or(run.len(), |i| i + 1);
    Ok(RecoveryPlan {
        base: base.id.clone(),
        timeline: base.timeline,
        segments: all_segments[..end].to_vec(),
        all_segments,
    })
}

/// The archived files prune may delete: every segment (and backup history file) of a position
/// before the oldest kept base backup's first segment. Without any base backup, segments
/// archived more than `keep_without_base` before `now`. Timeline history files are kept.
pub fn wal_to_prune(
    wal: &[(String, DateTime<Utc>)],
    bases: &[BaseBackupInfo],
    now: DateTime<Utc>,
    keep_without_base: Duration,
) -> Vec<String> {
    let oldest = bases
        .iter()
        .min_by_key(|b| (b.start_segment, b.timeline))
        .map(|b| (b.start_segment, b.segment_size));
    wal.iter()
        .filter(|(name, archived_at)| {
            let segment = match parse_wal_name(name) {
                Some(WalName::History { .. }) | None => return false,
                Some(_) => segment_parts(&name[..24]),
            };
            match (oldest, segment) {
                (Some((start, size)), Some((_, log, seg))) => {
                    segment_number(log, seg, size) < start
                }
                (None, Some(_)) => *archived_at < now - keep_without_base,
                _ => false,
            }
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The base backups prune may delete: those consistent more than `keep` before `now`,
/// except the newest of them, which opens the window at `now - keep`. So recovery reaches back
/// at least `keep`, and the newest base backup is never deleted.
pub fn base_backups_to_prune(
    bases: &[BaseBackupInfo],
    now: DateTime<Utc>,
    keep: Duration,
) -> Vec<String> {
    let cutoff = now - keep;
    let mut old: Vec<&BaseBackupInfo> = bases.iter().filter(|b| b.consistent_at < cutoff).collect();
    old.sort_by_key(|b| (b.consistent_at, b.id.clone()));
    old.pop();
    old.into_iter().map(|b| b.id.clone()).collect()
}

#[cfg(test)]
#[path = "pitr_tests.rs"]
mod tests;
