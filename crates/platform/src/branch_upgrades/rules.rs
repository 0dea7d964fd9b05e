//! The Upgrade tab's rules, pure: which branches may upgrade, to which series, which modules
//! stop an upgrade before it starts, the states an upgrade goes through, and when upgrade mode
//! ends.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use slipway_odoo::Series;

use crate::stages::Stage;
use crate::text_column::{by_name, text_column};

/// How long a staging branch stays in upgrade mode after its test upgrade (Odoo.sh: 30 days).
pub const UPGRADE_MODE_DAYS: i64 = 30;

/// What an upgrade of a branch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeKind {
    /// A test upgrade of production's database into a staging branch, then upgrade mode.
    Test,
    /// Production's own upgrade, armed and run by the next push to production.
    Production,
}

impl UpgradeKind {
    /// Every kind.
    pub const ALL: [UpgradeKind; 2] = [UpgradeKind::Test, UpgradeKind::Production];

    /// The name stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeKind::Test => "test",
            UpgradeKind::Production => "production",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, Self::as_str, s)
    }
}

text_column!(UpgradeKind, "branch upgrade kind");

/// Where a branch's upgrade is.
///
/// A test upgrade: `requested` (a backup of production is taken or found, sent to the
/// upgrade platform) -> `upgrading` (the platform works; its step and log are mirrored) ->
/// `restoring` (the upgraded database comes back into the staging branch) -> `upgrade_mode`
/// (each push restores the kept upgraded database and updates the custom modules) ->
/// `closed` (30 days later, or on demand). A production upgrade: `armed` (the next push
/// starts it) -> `upgrading` -> `done`, or `reverted`. Any of them may end `failed` or
/// `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchUpgradeState {
    /// A production upgrade waiting for the next push to production.
    Armed,
    /// Accepted; the backup and the submission to the upgrade platform come next.
    Requested,
    /// The upgrade platform is upgrading the database.
    Upgrading,
    /// The upgraded database is being brought back into the branch.
    Restoring,
    /// A staging branch whose pushes restore the upgraded database and update its custom
    /// modules on the target series.
    UpgradeMode,
    /// Upgrade mode ended (after 30 days, or on demand).
    Closed,
    /// A production upgrade that succeeded.
    Done,
    /// A production upgrade that failed and was put back as it was.
    Reverted,
    /// It failed; `error` says why.
    Failed,
    /// Someone cancelled it.
    Cancelled,
}

impl BranchUpgradeState {
    /// Every state, in lifecycle order.
    pub const ALL: [BranchUpgradeState; 10] = [
        BranchUpgradeState::Armed,
        BranchUpgradeState::Requested,
        BranchUpgradeState::Upgrading,
        BranchUpgradeState::Restoring,
        BranchUpgradeState::UpgradeMode,
        BranchUpgradeState::Closed,
        BranchUpgradeState::Done,
        BranchUpgradeState::Reverted,
        BranchUpgradeState::Failed,
        BranchUpgradeState::Cancelled,
    ];

    /// The states of an upgrade that still holds its branch (at most one per branch, the
    /// database's unique index `branch_upgrades_one_open` says the same).
    pub const OPEN: [BranchUpgradeState; 5] = [
        BranchUpgradeState::Armed,
        BranchUpgradeState::Requested,
        BranchUpgradeState::Upgrading,
        BranchUpgradeState::Restoring,
        BranchUpgradeState::UpgradeMode,
    ];

    /// The name stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchUpgradeState::Armed => "armed",
            BranchUpgradeState::Requested => "requested",
            BranchUpgradeState::Upgrading => "upgrading",
            BranchUpgradeState::Restoring => "restoring",
            BranchUpgradeState::UpgradeMode => "upgrade_mode",
            BranchUpgradeState::Closed => "closed",
            BranchUpgradeState::Done => "done",
            BranchUpgradeState::Reverted => "reverted",
            BranchUpgradeState::Failed => "failed",
            BranchUpgradeState::Cancelled => "cancelled",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, Self::as_str, s)
    }

    /// Whether the upgrade still holds its branch.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// Whether work is under way (the background job has something to do).
    pub fn is_working(self) -> bool {
        matches!(
            self,
            BranchUpgradeState::Requested
                | BranchUpgradeState::Upgrading
                | BranchUpgradeState::Restoring
        )
    }
}

impl std::fmt::Display for BranchUpgradeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(BranchUpgradeState, "branch upgrade state");

/// Why the Upgrade tab is not available on a branch; `None`: it is.
pub fn unavailable_because(stage: Stage, production_running: bool) -> Option<String> {
    if stage == Stage::Development {
        return Some(
            "upgrades are for production and staging branches: test an upgrade on a staging branch"
                .into(),
        );
    }
    if !production_running {
        return Some(
            "the project's production build is not running: an upgrade starts from production's database"
                .into(),
        );
    }
    None
}

/// The series an upgrade of a database of `source` may reach: those of the ready engines
/// above it, in order.
pub fn offered_targets(source: &Series, ready: &[Series]) -> Vec<Series> {
    let mut offered: Vec<Series> = ready.iter().filter(|s| *s > source).cloned().collect();
    offered.sort();
    offered.dedup();
    offered
}

/// `target` if it is one of `offered`, else why not and what to ask for.
pub fn check_target(target: &str, source: &Series, offered: &[Series]) -> Result<Series, String> {
    let listed = || {
        if offered.is_empty() {
            "none: this server has no ready upgrade engine above it (`slipway upgrade engine add`)"
                .to_string()
        } else {
            offered
                .iter()
                .map(Series::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let Ok(series) = target.trim().parse::<Series>() else {
        return Err(format!(
            "{target:?} is not an Odoo series; the targets offered for Odoo {source} are {}",
            listed()
        ));
    };
    if offered.contains(&series) {
        Ok(series)
    } else {
        Err(format!(
            "Odoo {series} is not offered for a database of Odoo {source}; the targets offered are {}",
            listed()
        ))
    }
}

/// The modules of the database an upgrade cannot take: installed, not of the source series'
/// Odoo, and absent from the branch's code. Sorted.
pub fn missing_custom_modules(
    installed: &BTreeSet<String>,
    standard: &BTreeSet<String>,
    branch_code: &BTreeSet<String>,
) -> Vec<String> {
    installed
        .iter()
        .filter(|m| !standard.contains(*m) && !branch_code.contains(*m))
        .cloned()
        .collect()
}

/// The custom modules of an upgrade: the branch's own modules installed in the database,
/// which the engine leaves for the branch's code to update on the target series. Sorted.
pub fn custom_modules(installed: &BTreeSet<String>, branch_code: &BTreeSet<String>) -> Vec<String> {
    installed.intersection(branch_code).cloned().collect()
}

/// Odoo.sh's advice when modules installed in the database are missing from the code.
pub fn missing_modules_advice(missing: &[String], branch: &str) -> String {
    format!(
        "These modules are installed in the database but missing from the code of branch {branch}: {}. \
         The upgrade cannot start without them: for each, either uninstall it from production, or \
         add to the branch an empty module of that name with a manifest (`__manifest__.py` with its \
         name, version and dependencies) and, if needed, upgrade scripts (`migrations/<version>/`) \
         that move its data; once the upgrade is done in production, remove it completely \
         (uninstall it, then delete it from the code).",
        missing.join(", ")
    )
}

/// Until when upgrade mode lasts, entered at `now`.
pub fn upgrade_mode_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(UPGRADE_MODE_DAYS)
}

/// Whether upgrade mode lasting until `until` is over at `now`.
pub fn upgrade_mode_over(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    until.is_some_and(|until| until <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn series(s: &str) -> Series {
        s.parse().unwrap()
    }

    #[test]
    fn every_state_reads_back_from_its_name_and_only_open_ones_hold_the_branch() {
        for state in BranchUpgradeState::ALL {
            assert_eq!(BranchUpgradeState::parse(state.as_str()), Some(state));
        }
        assert!(BranchUpgradeState::UpgradeMode.is_open());
        assert!(!BranchUpgradeState::UpgradeMode.is_working());
        assert!(BranchUpgradeState::Upgrading.is_working());
        for ended in [
            BranchUpgradeState::Closed,
            BranchUpgradeState::Failed,
            BranchUpgradeState::Cancelled,
            BranchUpgradeState::Done,
            BranchUpgradeState::Reverted,
        ] {
            assert!(!ended.is_open(), "{ended}");
        }
        assert_eq!(
            serde_json::to_value(BranchUpgradeState::UpgradeMode).unwrap(),
            "upgrade_mode"
        );
    }

    #[test]
    fn the_tab_is_for_staging_and_production_of_a_project_whose_production_runs() {
        assert!(unavailable_because(Stage::Staging, true).is_none());
        assert!(unavailable_because(Stage::Production, true).is_none());
        let dev = unavailable_because(Stage::Development, true).unwrap();
        assert!(dev.contains("staging"), "{dev}");
        let stopped = unavailable_because(Stage::Staging, false).unwrap();
        assert!(
            stopped.contains("production build is not running"),
            "{stopped}"
        );
    }

    #[test]
    fn only_ready_series_above_the_source_are_offered() {
        let ready = [
            series("15.0"),
            series("17.0"),
            series("16.0"),
            series("18.0"),
        ];
        assert_eq!(
            offered_targets(&series("16.0"), &ready),
            [series("17.0"), series("18.0")]
        );
        assert!(offered_targets(&series("18.0"), &ready).is_empty());
    }

    #[test]
    fn a_target_not_offered_is_refused_with_the_ones_that_are() {
        let offered = [series("17.0")];
        assert_eq!(
            check_target("17.0", &series("16.0"), &offered),
            Ok(series("17.0"))
        );
        let e = check_target("18.0", &series("16.0"), &offered).unwrap_err();
        assert!(e.contains("not offered") && e.contains("17.0"), "{e}");
        let e = check_target("seventeen", &series("16.0"), &offered).unwrap_err();
        assert!(e.contains("not an Odoo series"), "{e}");
        let e = check_target("17.0", &series("16.0"), &[]).unwrap_err();
        assert!(e.contains("slipway upgrade engine add"), "{e}");
    }

    #[test]
    fn modules_neither_standard_nor_in_the_code_are_missing_and_the_code_s_own_are_custom() {
        let installed = set(&["base", "sale", "shop_core", "old_addon"]);
        let standard = set(&["base", "sale", "web"]);
        let code = set(&["shop_core", "shop_extra"]);
        assert_eq!(
            missing_custom_modules(&installed, &standard, &code),
            ["old_addon"]
        );
        assert_eq!(custom_modules(&installed, &code), ["shop_core"]);
        let advice = missing_modules_advice(&["old_addon".into()], "staging");
        assert!(advice.contains("old_addon"), "{advice}");
        assert!(advice.contains("empty module"), "{advice}");
        assert!(advice.contains("remove it completely"), "{advice}");
    }

    #[test]
    fn upgrade_mode_lasts_thirty_days() {
        let now = Utc::now();
        let until = upgrade_mode_until(now);
        assert!(!upgrade_mode_over(Some(until), now + Duration::days(29)));
        assert!(upgrade_mode_over(Some(until), now + Duration::days(30)));
        assert!(!upgrade_mode_over(None, now + Duration::days(400)));
    }
}
