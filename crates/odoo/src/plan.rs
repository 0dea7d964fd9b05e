//! The update plan: which modules an update touches and which scripts run, in
//! which order, decided from the addons found and the database's module registry.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::addons::{Addon, AddonsScan};
use crate::graph::{build_graph, GraphNode, ModuleGraph};
use crate::scripts::{
    discover_scripts, normalise_folder, scripts_to_run, FolderRules, Source, Stage,
};
use crate::version::{parse_version, Series};
use crate::Error;

/// A module's `ir_module_module.state`: exactly the values Odoo writes (`STATES` in
/// `odoo/addons/base/models/ir_module.py`). It serializes to Odoo's own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleState {
    /// `uninstallable`: its manifest says it cannot be installed (Odoo's default).
    Uninstallable,
    /// `uninstalled`.
    Uninstalled,
    /// `installed`.
    Installed,
    /// `to upgrade`: installed, with an update requested.
    ToUpgrade,
    /// `to remove`: installed, with an uninstall requested.
    ToRemove,
    /// `to install`: not installed yet, with an install requested.
    ToInstall,
}

impl ModuleState {
    /// Every state, in Odoo's order.
    pub const ALL: [ModuleState; 6] = [
        ModuleState::Uninstallable,
        ModuleState::Uninstalled,
        ModuleState::Installed,
        ModuleState::ToUpgrade,
        ModuleState::ToRemove,
        ModuleState::ToInstall,
    ];

    /// The name Odoo stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleState::Uninstallable => "uninstallable",
            ModuleState::Uninstalled => "uninstalled",
            ModuleState::Installed => "installed",
            ModuleState::ToUpgrade => "to upgrade",
            ModuleState::ToRemove => "to remove",
            ModuleState::ToInstall => "to install",
        }
    }

    /// Whether the module's code is in the database now: `to upgrade` and `to remove` are
    /// still installed until the pending operation runs.
    pub fn is_installed(self) -> bool {
        matches!(
            self,
            ModuleState::Installed | ModuleState::ToUpgrade | ModuleState::ToRemove
        )
    }
}

impl FromStr for ModuleState {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| Error::UnknownModuleState(name.to_string()))
    }
}

impl fmt::Display for ModuleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ModuleState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One row of `ir_module_module` (with its `ir_module_module_dependency` names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbModule {
    /// Technical name.
    pub name: String,
    /// Where the module is in its life.
    pub state: ModuleState,
    /// The full installed version, if any.
    pub latest_version: Option<String>,
    /// Dependency names as recorded in the database.
    pub depends: Vec<String>,
}

/// The module registry of a database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbState {
    /// All rows of `ir_module_module`.
    pub modules: Vec<DbModule>,
}

impl DbState {
    /// The series of the database: the first two parts of `base`'s `latest_version`.
    pub fn series(&self) -> Option<Series> {
        let base = self.modules.iter().find(|m| m.name == "base")?;
        Series::of_version(base.latest_version.as_deref()?)
    }

    fn installed(&self) -> impl Iterator<Item = &DbModule> {
        self.modules.iter().filter(|m| m.state.is_installed())
    }
}

/// Which modules to update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateRequest {
    /// Installed modules whose adapted manifest version went up (a production push).
    VersionBumps,
    /// `-u m1,m2` (`all` or `base` update every installed module).
    Modules(Vec<String>),
}

/// Why a module is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Its manifest version is higher than the installed one.
    Version,
    /// It was asked for.
    Requested,
    /// It depends on an updated module (Odoo's `-u` pulls dependents in).
    Dependent,
}

/// A module the update touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanModule {
    /// Technical name.
    pub name: String,
    /// `latest_version` before the update (what `migrate` receives).
    pub installed_version: Option<String>,
    /// Adapted manifest version written after its `post` scripts.
    pub new_version: String,
    /// Why it is updated.
    pub reason: Reason,
}

/// One script to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Module the script belongs to.
    pub module: String,
    /// Stage.
    pub stage: Stage,
    /// Normalised folder version (or `0.0.0`).
    pub version: String,
    /// Path of the script.
    pub script: PathBuf,
    /// Where it was found.
    pub source: Source,
    /// The raw folder name, as Odoo prints it in its log line.
    #[serde(skip)]
    pub folder: String,
}

/// What an update will do, before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The series scripts are normalised against.
    pub series: String,
    /// Updated modules in load order (`base` first, then depth, then name).
    pub modules: Vec<PlanModule>,
    /// Scripts in execution order.
    pub steps: Vec<Step>,
    /// Things the user should know (modules left out, skipped folders...).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The steps of one module and stage, in order.
    pub fn steps_of<'a>(
        &'a self,
        module: &'a str,
        stage: Stage,
    ) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps
            .iter()
            .filter(move |s| s.module == module && s.stage == stage)
    }
}

/// Everything the plan is decided from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// Modules found in the addons paths.
    pub addons: &'a AddonsScan,
    /// The database's module registry.
    pub db: &'a DbState,
    /// What to update.
    pub request: &'a UpdateRequest,
    /// The series (usually the database's).
    pub series: &'a Series,
    /// Folder normalisation rules.
    pub rules: FolderRules,
    /// `--upgrade-path` directories.
    pub upgrade_paths: &'a [PathBuf],
}

/// Decides the update plan (reads only the script folders of updated modules).
pub fn build_plan(input: &PlanInput<'_>) -> Plan {
    let mut warnings = Vec::new();
    let nodes = graph_nodes(input, &mut warnings);
    let graph = build_graph(&nodes);
    for ex in &graph.excluded {
        warnings.push(format!(
            "module {}: not loaded, unmet dependencies: {}",
            ex.name,
            ex.missing.join(", ")
        ));
    }
    let reasons = update_set(input, &graph, &nodes, &mut warnings);
    let graph_order: Vec<String> = graph
        .order
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| reasons.contains_key(n))
        .collect();
    let modules: Vec<PlanModule> = base_first(&graph_order)
        .iter()
        .map(|name| plan_module(input, name, reasons[name]))
        .collect();
    let steps = plan_steps(input, &modules, &graph_order, &mut warnings);
    Plan {
        series: input.series.to_string(),
        modules,
        steps,
        warnings,
    }
}

fn usable<'a>(input: &'a PlanInput<'_>, name: &str) -> Option<&'a Addon> {
    input
        .addons
        .addons
        .get(name)
        .filter(|a| a.manifest.installable && a.full_version.is_some())
}

/// Installed modules, with dependencies from their manifest, or from the
/// database when absent from the addons paths.
fn graph_nodes(input: &PlanInput<'_>, warnings: &mut Vec<String>) -> Vec<GraphNode> {
    let mut nodes = Vec::new();
    for m in input.db.installed() {
        match input.addons.addons.get(&m.name) {
            Some(a) if usable(input, &m.name).is_some() => nodes.push(GraphNode {
                name: m.name.clone(),
                depends: a.manifest.depends.clone(),
            }),
            Some(_) => warnings.push(format!("module {}: not installable, skipped", m.name)),
            None => nodes.push(GraphNode {
                name: m.name.clone(),
                depends: m.depends.clone(),
            }),
        }
    }
    add_new_dependencies(input, &mut nodes, warnings);
    nodes
}

/// Dependencies added to a manifest since install: Odoo installs them during
/// the update (`button_upgrade`), so they join the graph, without scripts.
fn add_new_dependencies(
    input: &PlanInput<'_>,
    nodes: &mut Vec<GraphNode>,
    warnings: &mut Vec<String>,
) {
    let mut i = 0;
    while i < nodes.len() {
        for dep in nodes[i].depends.clone() {
            if nodes.iter().any(|n| n.name == dep) {
                continue;
            }
            if let Some(addon) = usable(input, &dep) {
                warnings.push(format!(
                    "module {dep}: not installed, Odoo installs it as a new dependency of {} (no upgrade scripts run on install)",
                    nodes[i].name
                ));
                let depends = addon.manifest.depends.clone();
                nodes.push(GraphNode { name: dep, depends });
            }
        }
        i += 1;
    }
}

fn update_set(
    input: &PlanInput<'_>,
    graph: &ModuleGraph,
    nodes: &[GraphNode],
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Reason> {
    let in_graph = |n: &str| graph.depth(n).is_some();
    let mut seeds: BTreeMap<String, Reason> = BTreeMap::new();
    match input.request {
        UpdateRequest::VersionBumps => {
            for m in input.db.installed().filter(|m| in_graph(&m.name)) {
                let Some(new) = usable(input, &m.name).and_then(|a| a.full_version.as_deref())
                else {
                    continue;
                };
                if parse_version(new) > parse_version(m.latest_version.as_deref().unwrap_or("")) {
                    seeds.insert(m.name.clone(), Reason::Version);
                } else if m.state == ModuleState::ToUpgrade {
                    warnings.push(format!(
                        "module {}: marked 'to upgrade' in the database",
                        m.name
                    ));
                    seeds.insert(m.name.clone(), Reason::Requested);
                }
            }
        }
        UpdateRequest::Modules(names) => {
            let everything = names.iter().any(|n| n == "all" || n == "base");
            for name in names.iter().filter(|n| *n != "all") {
                if in_graph(name) {
                    seeds.insert(name.clone(), Reason::Requested);
                } else {
                    warnings.push(format!(
                        "module {name}: not installed (or not loadable), not updated"
                    ));
                }
            }
            if everything {
                let all = names.iter().any(|n| n == "all");
                for (name, _) in &graph.order {
                    let reason = if all {
                        Reason::Requested
                    } else {
                        Reason::Dependent
                    };
                    seeds.entry(name.clone()).or_insert(reason);
                }
            }
        }
    }
    let mut out = seeds.clone();
    for seed in seeds.keys() {
        for dep in graph.dependents(nodes, seed) {
            out.entry(dep).or_insert(Reason::Dependent);
        }
    }
    // Modules being installed are not updated.
    out.retain(|name, _| input.db.installed().any(|m| &m.name == name));
    out.retain(|name, _| {
        let present = usable(input, name).is_some();
        if !present {
            warnings.push(format!(
                "module {name}: installed but not in the addons paths, not updated"
            ));
        }
        present
    });
    out
}

/// `base` first and alone, then the graph order (depth, then name).
fn base_first(graph_order: &[String]) -> Vec<String> {
    let mut order = graph_order.to_vec();
    if let Some(pos) = order.iter().position(|n| n == "base") {
        let base = order.remove(pos);
        order.insert(0, base);
    }
    order
}

fn plan_module(input: &PlanInput<'_>, name: &str, reason: Reason) -> PlanModule {
    let installed_version = input
        .db
        .modules
        .iter()
        .find(|m| m.name == name)
        .and_then(|m| m.latest_version.clone());
    let new_version = usable(input, name)
        .and_then(|a| a.full_version.clone())
        .unwrap_or_default();
    PlanModule {
        name: name.to_string(),
        installed_version,
        new_version,
        reason,
    }
}

/// Pre and post per module in load order, then every module's end scripts in graph order.
fn plan_steps(
    input: &PlanInput<'_>,
    modules: &[PlanModule],
    graph_order: &[String],
    warnings: &mut Vec<String>,
) -> Vec<Step> {
    let mut per_module = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for m in modules {
        let dir = usable(input, &m.name).map(|a| a.path.as_path());
        let found = discover_scripts(&m.name, dir, input.upgrade_paths);
        for s in &found.skipped {
            if s.reason.starts_with("Invalid") && reported.insert(s.path.clone()) {
                warnings.push(format!("{}: {:?}", s.reason, s.path.display().to_string()));
            }
        }
        per_module.insert(m.name.clone(), found);
    }
    let mut steps = Vec::new();
    let collect = |m: &PlanModule, stage: Stage, steps: &mut Vec<Step>| {
        let installed = m.installed_version.as_deref().unwrap_or("");
        let found = &per_module[&m.name];
        for f in scripts_to_run(
            found,
            input.series,
            input.rules,
            installed,
            &m.new_version,
            stage,
        ) {
            steps.push(Step {
                module: m.name.clone(),
                stage,
                version: normalise_folder(input.series, &f.folder, input.rules),
                script: f.path,
                source: f.source,
                folder: f.folder,
            });
        }
    };
    for m in modules {
        collect(m, Stage::Pre, &mut steps);
        collect(m, Stage::Post, &mut steps);
    }
    // End scripts follow the plain graph order: base is no longer special.
    for name in graph_order {
        if let Some(m) = modules.iter().find(|m| &m.name == name) {
            collect(m, Stage::End, &mut steps);
        }
    }
    steps
}

#[cfg(test)]
mod tests;
