//! `slipway addons list`: the modules of addons paths, in Odoo's load order.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use slipway_odoo::{build_graph, scan_addons, AutoInstall, GraphNode, Problem, Series};

use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum AddonsCommand {
    /// List modules in graph order (depth, then name), with manifest problems.
    List(ListArgs),
}

/// Where modules are looked for (shared with `migrate`).
#[derive(Debug, Clone, Args)]
pub struct AddonsPathArgs {
    /// Addons directories, comma-separated or repeated; the first holding a module wins.
    #[arg(long = "addons-path", value_delimiter = ',', required = true)]
    pub addons_path: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    paths: AddonsPathArgs,
    /// Odoo series the versions are adapted to.
    #[arg(long, default_value = "17.0")]
    series: Series,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Listing {
    series: String,
    modules: Vec<ModuleRow>,
    problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
struct ModuleRow {
    name: String,
    path: PathBuf,
    version: String,
    full_version: Option<String>,
    depends: Vec<String>,
    auto_install: AutoInstall,
    installable: bool,
    /// `None` when the module cannot load (not installable, unmet dependencies).
    depth: Option<usize>,
}

pub fn run(cmd: AddonsCommand) -> Result<()> {
    let AddonsCommand::List(args) = cmd;
    let listing = list(&args.paths.addons_path, &args.series);
    if args.json {
        return print_json(&listing);
    }
    print_table(&listing);
    Ok(())
}

fn list(paths: &[PathBuf], series: &Series) -> Listing {
    let scan = scan_addons(paths, series);
    let nodes: Vec<GraphNode> = scan
        .addons
        .values()
        .filter(|a| a.manifest.installable && a.full_version.is_some())
        .map(|a| GraphNode {
            name: a.name.clone(),
            depends: a.manifest.depends.clone(),
        })
        .collect();
    let graph = build_graph(&nodes);
    let mut problems = scan.problems.clone();
    for ex in &graph.excluded {
        problems.push(Problem {
            path: scan.addons[&ex.name].path.display().to_string(),
            message: format!(
                "module {}: unmet dependencies: {}",
                ex.name,
                ex.missing.join(", ")
            ),
        });
    }
    let row = |name: &str| {
        let a = &scan.addons[name];
        ModuleRow {
            name: a.name.clone(),
            path: a.path.clone(),
            version: a.manifest.version.clone(),
            full_version: a.full_version.clone(),
            depends: a.manifest.depends.clone(),
            auto_install: a.manifest.auto_install.clone(),
            installable: a.manifest.installable,
            depth: graph.depth(name),
        }
    };
    let mut modules: Vec<ModuleRow> = graph.order.iter().map(|(n, _)| row(n)).collect();
    modules.extend(
        scan.addons
            .keys()
            .filter(|n| graph.depth(n).is_none())
            .map(|n| row(n)),
    );
    Listing {
        series: series.to_string(),
        modules,
        problems,
    }
}

fn print_table(listing: &Listing) {
    let width = listing
        .modules
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:>5}  {:<14}  DEPENDS",
        "NAME", "DEPTH", "VERSION"
    );
    for m in &listing.modules {
        let depth = m.depth.map_or("-".into(), |d| d.to_string());
        let version = m.full_version.clone().unwrap_or_else(|| m.version.clone());
        let note = if m.installable {
            ""
        } else {
            "  (not installable)"
        };
        println!(
            "{:<width$}  {depth:>5}  {version:<14}  {}{note}",
            m.name,
            m.depends.join(",")
        );
    }
    println!(
        "{} modules (series {})",
        listing.modules.len(),
        listing.series
    );
    for p in &listing.problems {
        eprintln!("problem: {}: {}", p.path, p.message);
    }
}
