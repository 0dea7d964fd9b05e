//! Upgrade engines: `/api/upgrade/engines` (Slipway admins only).

use serde::{Deserialize, Serialize};

/// An engine as stored, where its OpenUpgrade comes from, and its status as listed.
pub use slipway_platform::upgrade_engines::{EngineStatus, OpenUpgradeSource, UpgradeEngine};

/// `POST /api/upgrade/engines`: add (or replace) the engine of a series. With neither
/// `openupgrade` nor `openupgrade_dir`, OpenUpgrade's newest addons of the series come from
/// PyPI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUpgradeEngine {
    /// The series it upgrades to (`17.0`).
    pub series: String,
    /// An exact version of `odoo-addon-openupgrade-scripts` to fetch from PyPI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openupgrade: Option<String>,
    /// A folder on the server holding `openupgrade_framework/` and `openupgrade_scripts/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openupgrade_dir: Option<String>,
    /// A checkout of odoo/upgrade-util on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_util: Option<String>,
}

/// A branch upgrade's state and kind, as answered.
pub use slipway_platform::branch_upgrades::rules::{BranchUpgradeState, UpgradeKind};
/// `GET /api/projects/{p}/branches/{b}/upgrade`: the Upgrade tab's state (also the answer of
/// `POST` and `DELETE`).
pub use slipway_platform::branch_upgrades::{UpgradeOverview, UpgradeView};

/// `POST /api/projects/{p}/branches/{b}/upgrade`: start an upgrade of the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartUpgrade {
    /// The series to reach (`17.0`), one of the overview's `targets`.
    pub target: String,
}
