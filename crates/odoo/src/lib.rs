//! Pure knowledge of Odoo, no I/O beyond reading files: manifests read like
//! `ast.literal_eval`, versions (`parse_version`, `adapt_version`, series),
//! addons discovery, the module graph, upgrade-script discovery, the update
//! plan and the upgrade-script linter.
//!
//! Odoo 17.0's behaviour is the reference (`odoo/modules/{module,graph,
//! loading,migration}.py`); 16.0 differences are options.
//!
//! ## Design notes
//!
//! Pure Odoo knowledge; reads files, never writes, never talks to a database. Manifests read as
//! `ast.literal_eval` does (`pylex.rs` + `literal.rs`: every manifest of Odoo 17 and the OCA trees
//! we tried parses, a bad one is a `Problem` naming file and line); `parse_version` (setuptools'
//! old algorithm), `adapt_version`, `Series`; `scan_addons` (first addons path wins) and
//! `build_graph` (depth, then name; uninstallable or unmet modules excluded with their dependants);
//! upgrade-script discovery, folder validation and normalisation (17.0 rules, 16.0 as an option),
//! the run condition and Odoo's order (`scripts.rs`); `build_plan`, the pure function from addons +
//! module registry + request to the ordered steps; `lint_addons` and `check_migrate` (signature
//! checked by lexing the script, without running it). (A major-version step is Odoo's own `-u all`
//! with OpenUpgrade, run by the upgrade platform; nothing here imitates it.)
//!
//! Invariant: a plan lists exactly what Odoo 17 would run, in Odoo's order: `base` alone first, per
//! module `pre`, load, `post`, then every `end` after all modules.

mod addons;
mod graph;
mod lint;
mod literal;
mod manifest;
mod plan;
mod pylex;
mod pysig;
mod scripts;
mod version;

pub use addons::{scan_addons, Addon, AddonsScan, Problem, MANIFEST_NAMES};
pub use graph::{build_graph, Excluded, GraphNode, ModuleGraph};
pub use lint::{lint_addons, Finding, LintReport, Severity};
pub use literal::{literal_eval, LiteralError, PyValue};
pub use manifest::{read_manifest, AutoInstall, Manifest};
pub use plan::{
    build_plan, DbModule, DbState, ModuleState, Plan, PlanInput, PlanModule, Reason, Step,
    UpdateRequest,
};
pub use pysig::{check_migrate, MigrateCheck};
pub use scripts::{
    discover_scripts, is_valid_folder_name, normalise_folder, scripts_to_run, FolderRules,
    ModuleScripts, ScriptFile, Skipped, Source, Stage,
};
pub use version::{adapt_version, compare_versions, parse_version, ParsedVersion, Series};

/// Errors of the Odoo knowledge crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A series that is neither `NN.0` nor `saas~NN.N`.
    #[error("invalid Odoo series {0:?}: expected e.g. 17.0 or saas~17.1")]
    InvalidSeries(String),
    /// A manifest version `adapt_version` rejects (17.0+).
    #[error("invalid version {version:?}: modules should have a version in format x.y, x.y.z, {series}.x.y or {series}.x.y.z")]
    InvalidVersion {
        /// The version without its series prefix.
        version: String,
        /// The series it was adapted to.
        series: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An `ir_module_module.state` that is none of Odoo's.
    #[error("unknown module state {0:?}: Odoo's are uninstallable, uninstalled, installed, to upgrade, to remove and to install")]
    UnknownModuleState(String),
}
