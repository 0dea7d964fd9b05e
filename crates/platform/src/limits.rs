//! Limits on what one push and one project may take, and the refusals that name them (pure;
//! [`crate::Platform::project_usage`] measures, the edges refuse).
//!
//! - **Builds per push**: one push builds every branch it creates or updates, so it may move at
//!   most [`Limits::builds_per_push`] branches; more refuse the whole push in git's
//!   `pre-receive` hook ([`push_guard`]).
//! - **Builds per project**: the builds a project holds are those that are not over (pending,
//!   building, running or stopped): each holds a database, or is about to make one. At
//!   [`Limits::builds_per_project`], a new branch (pushed or forked) is refused; branches that
//!   exist still build.
//! - **Disk per project**: the sum of its live databases' sizes and their filestores. Over
//!   [`Limits::project_disk`], new branches and rebuilds of development and staging are
//!   refused. **Production is never refused**: its updates are the project's business,
//!   whatever the development builds around it take.

use crate::error::PlatformError;
use crate::stages::Stage;

/// What one push and one project may take (`slipway serve --max-builds-per-push`,
/// `--max-builds-per-project`, `--max-project-disk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Branches one push may create or update.
    pub builds_per_push: usize,
    /// Builds a project may hold (pending, building, running or stopped).
    pub builds_per_project: usize,
    /// Bytes of databases and filestores a project may use before its new builds are refused;
    /// `None`: no limit.
    pub project_disk: Option<u64>,
}

impl Default for Limits {
    /// Ten builds per push: a developer pushes one branch or a few, while a mirror or a
    /// `git push --all` of an old repository moves dozens (the 100-branch push of issue 16
    /// made 100 databases, about 1 GB, and queued 100 installs). Fifty builds per project: a
    /// team's branches with a few builds each kept for the three days of a development
    /// database. 20 GiB: a production of several GiB, its staging copies and dozens of
    /// development databases.
    fn default() -> Self {
        Self {
            builds_per_push: 10,
            builds_per_project: 50,
            project_disk: Some(20 << 30),
        }
    }
}

/// What a project holds now, as the limits count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectUsage {
    /// Builds pending, building, running or stopped.
    pub live_builds: usize,
    /// Bytes of its live databases and their filestores (0 when no disk limit asks for it).
    pub disk_bytes: u64,
}

/// What makes a build new, for the limits: the builds-per-project limit refuses only new
/// branches, the disk limit every new build but production's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewBuild {
    /// A branch that does not exist yet (a push creating it, a fork).
    Branch,
    /// Another build of an existing branch in `Stage` (a rebuild).
    Rebuild(Stage),
}

/// How far past a limit a project is, and what to tell its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The API's error code: `build_limit` or `disk_limit`.
    pub code: &'static str,
    /// What is over which limit, and what to do.
    pub message: String,
}

impl From<Refusal> for PlatformError {
    fn from(refusal: Refusal) -> Self {
        PlatformError::ConflictCode {
            code: refusal.code,
            message: refusal.message,
        }
    }
}

/// What frees room in a project (its builds and their databases).
const MAKE_ROOM: &str = "delete branches you no longer need (git push origin --delete \
    <branch>: their builds and databases go with them), wait for old development databases \
    to reach the end of their lifetime, or ask your Slipway administrator to raise the limit";

/// Why a new build of `project` is refused, if it is.
pub fn refusal(
    limits: &Limits,
    project: &str,
    usage: &ProjectUsage,
    build: NewBuild,
) -> Option<Refusal> {
    if build == NewBuild::Rebuild(Stage::Production) {
        return None;
    }
    if let Some(message) = disk_over(limits, project, usage) {
        return Some(Refusal {
            code: "disk_limit",
            message,
        });
    }
    if build == NewBuild::Branch && usage.live_builds >= limits.builds_per_project {
        return Some(Refusal {
            code: "build_limit",
            message: format!(
                "project {project} holds {} builds (pending, building, running or stopped), \
                 its limit of {} (slipway serve --max-builds-per-project): new branches are \
                 not built until it holds fewer; existing branches still build. To make room, \
                 {MAKE_ROOM}",
                usage.live_builds, limits.builds_per_project
            ),
        });
    }
    None
}

/// The disk limit's refusal, when the project is over it.
fn disk_over(limits: &Limits, project: &str, usage: &ProjectUsage) -> Option<String> {
    let limit = limits.project_disk?;
    (usage.disk_bytes > limit).then(|| {
        format!(
            "project {project} uses {} of disk (its databases and filestores), over its limit \
             of {} (slipway serve --max-project-disk): new branches and rebuilds are refused \
             until it uses less; production is never refused. To free space, {MAKE_ROOM}",
            ByteSize(usage.disk_bytes),
            ByteSize(limit)
        )
    })
}

/// How many branches a push into `project` may create, and why no more: none over the disk
/// limit, else the builds the project has room for.
pub fn new_branches_cap(
    limits: &Limits,
    project: &str,
    usage: &ProjectUsage,
) -> slipway_git::http::BranchCap {
    if let Some(reason) = disk_over(limits, project, usage) {
        return slipway_git::http::BranchCap { max: 0, reason };
    }
    let room = limits.builds_per_project.saturating_sub(usage.live_builds);
    let reason = match refusal(limits, project, usage, NewBuild::Branch) {
        Some(refused) => refused.message,
        None => format!(
            "project {project} has room for {room} more build(s): it holds {} of at most {} \
             (slipway serve --max-builds-per-project). Push fewer new branches at once, or \
             make room first: {MAKE_ROOM}",
            usage.live_builds, limits.builds_per_project
        ),
    };
    slipway_git::http::BranchCap { max: room, reason }
}

/// Everything git checks on a push into `project`: the branches `protected` from this
/// pusher, [`Limits::builds_per_push`], and the new branches the project has room for.
pub fn push_guard(
    limits: &Limits,
    project: &str,
    usage: &ProjectUsage,
    protected: slipway_git::http::ProtectedBranches,
) -> slipway_git::http::PushGuard {
    slipway_git::http::PushGuard {
        protected,
        max_branches: Some(slipway_git::http::BranchCap {
            max: limits.builds_per_push,
            reason: format!(
                "each branch pushed is built, and one push may build at most {} (slipway \
                 serve --max-builds-per-push). Push fewer branches at once (git push origin \
                 <branch> <branch>...), or ask your Slipway administrator to raise the limit",
                limits.builds_per_push
            ),
        }),
        max_new_branches: Some(new_branches_cap(limits, project, usage)),
    }
}

/// A number of bytes, read as people write sizes (`20GiB`, `512 MB`, `1048576`) and shown as
/// `1.5 KiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

impl ByteSize {
    /// The size in the largest binary unit that writes it exactly (`20GiB`, `1536B`), as
    /// [`ByteSize::from_str`](std::str::FromStr) reads it back.
    pub fn exact(self) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 != 0 && self.0.is_multiple_of(1 << shift) {
                return format!("{}{unit}", self.0 >> shift);
            }
        }
        format!("{}B", self.0)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    /// A whole number of bytes with an optional unit, case-insensitive: `B`; `K`, `KiB`,
    /// `M`, `MiB`, `G`, `GiB`, `T`, `TiB` (powers of 1024); `KB`, `MB`, `GB`, `TB` (powers
    /// of 1000).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let bad = || {
            format!(
                "{text:?} is not a size: write a whole number with an optional unit, such as \
                 20GiB, 500MiB, 2GB or 1048576"
            )
        };
        let number: u64 = number.parse().map_err(|_| bad())?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(bad()),
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is more bytes than this machine can count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_project: usize, disk: Option<u64>) -> Limits {
        Limits {
            builds_per_push: 10,
            builds_per_project: per_project,
            project_disk: disk,
        }
    }

    fn usage(live_builds: usize, disk_bytes: u64) -> ProjectUsage {
        ProjectUsage {
            live_builds,
            disk_bytes,
        }
    }

    #[test]
    fn sizes_are_read_as_people_write_them() {
        for (text, bytes) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("1KiB", 1024),
            ("20GiB", 20 << 30),
            ("20 GiB", 20 << 30),
            ("20g", 20 << 30),
            ("512M", 512 << 20),
            ("2GB", 2_000_000_000),
            ("1tb", 1_000_000_000_000),
            ("7 B", 7),
        ] {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in ["", "GiB", "-1", "1.5GiB", "20 parsecs", "99999999999T"] {
            let err = bad.parse::<ByteSize>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn sizes_are_shown_as_people_read_them() {
        assert_eq!(ByteSize(512).to_string(), "512 B");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(20 << 30).to_string(), "20.0 GiB");
        for bytes in [0, 1, 1536, 1 << 20, 20 << 30, 3 << 40, (5 << 30) + 1] {
            let exact = ByteSize(bytes).exact();
            assert_eq!(exact.parse(), Ok(ByteSize(bytes)), "{exact}");
        }
        assert_eq!(ByteSize(20 << 30).exact(), "20GiB");
        assert_eq!(ByteSize(1536).exact(), "1536B");
    }

    #[test]
    fn a_project_at_its_builds_limit_gets_no_new_branch_but_its_branches_still_build() {
        let limits = limits(3, None);
        assert_eq!(
            refusal(&limits, "shop", &usage(2, 0), NewBuild::Branch),
            None
        );
        let refused = refusal(&limits, "shop", &usage(3, 0), NewBuild::Branch).unwrap();
        assert_eq!(refused.code, "build_limit");
        assert!(
            refused.message.contains("project shop holds 3 builds")
                && refused.message.contains("its limit of 3")
                && refused.message.contains("--max-builds-per-project")
                && refused.message.contains("git push origin --delete"),
            "{}",
            refused.message
        );
        for stage in [Stage::Development, Stage::Staging, Stage::Production] {
            assert_eq!(
                refusal(&limits, "shop", &usage(9, 0), NewBuild::Rebuild(stage)),
                None
            );
        }
    }

    #[test]
    fn a_project_over_its_disk_gets_no_new_build_but_production_always_updates() {
        let limits = limits(50, Some(1 << 30));
        let over = usage(1, (1 << 30) + 1);
        for build in [
            NewBuild::Branch,
            NewBuild::Rebuild(Stage::Development),
            NewBuild::Rebuild(Stage::Staging),
        ] {
            let refused = refusal(&limits, "shop", &over, build).unwrap();
            assert_eq!(refused.code, "disk_limit");
            assert!(
                refused.message.contains("uses 1.0 GiB of disk")
                    && refused.message.contains("limit of 1.0 GiB")
                    && refused.message.contains("production is never refused"),
                "{}",
                refused.message
            );
        }
        assert_eq!(
            refusal(&limits, "shop", &over, NewBuild::Rebuild(Stage::Production)),
            None
        );
        assert_eq!(
            refusal(&limits, "shop", &usage(1, 1 << 30), NewBuild::Branch),
            None,
            "at the limit is not over it"
        );
        let unlimited = Limits {
            project_disk: None,
            ..limits
        };
        assert_eq!(
            refusal(&unlimited, "shop", &usage(1, u64::MAX), NewBuild::Branch),
            None
        );
    }

    #[test]
    fn a_push_may_create_as_many_branches_as_the_project_has_room_for() {
        let limits = limits(5, Some(1000));
        let cap = new_branches_cap(&limits, "shop", &usage(3, 10));
        assert_eq!(cap.max, 2);
        assert!(
            cap.reason.contains("room for 2 more build(s)")
                && cap.reason.contains("holds 3 of at most 5"),
            "{}",
            cap.reason
        );
        let full = new_branches_cap(&limits, "shop", &usage(7, 10));
        assert_eq!(full.max, 0);
        assert!(full.reason.contains("holds 7 builds"), "{}", full.reason);
        let over_disk = new_branches_cap(&limits, "shop", &usage(0, 1001));
        assert_eq!(over_disk.max, 0);
        assert!(
            over_disk.reason.contains("1001 B of disk"),
            "{}",
            over_disk.reason
        );
    }

    #[test]
    fn the_push_guard_carries_the_per_push_limit_and_the_protection() {
        let protected = slipway_git::http::ProtectedBranches {
            names: vec!["main".into()],
            reason: "admins only".into(),
        };
        let guard = push_guard(&Limits::default(), "shop", &usage(0, 0), protected.clone());
        assert_eq!(guard.protected, protected);
        let per_push = guard.max_branches.unwrap();
        assert_eq!(per_push.max, 10);
        assert!(
            per_push.reason.contains("at most 10")
                && per_push.reason.contains("--max-builds-per-push")
                && per_push.reason.contains("Push fewer branches at once"),
            "{}",
            per_push.reason
        );
        assert_eq!(guard.max_new_branches.unwrap().max, 50);
    }
}
