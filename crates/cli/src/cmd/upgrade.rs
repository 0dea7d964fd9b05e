//! `slipway upgrade engine add|list|remove`: the upgrade engines of the server (admins only),
//! through `/api/upgrade/engines`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use slipway_api::upgrade::{EngineStatus, NewUpgradeEngine, OpenUpgradeSource};

use super::people::JsonArg;
use super::progress::spinner;
use super::projects::print_answer;
use crate::client::{segment, Client, ClientOptions};
use crate::config::GlobalOptions;

#[derive(Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Upgrade engines: what takes databases to a target series (its Odoo runtime,
    /// OpenUpgrade, optionally upgrade-util).
    #[command(subcommand)]
    Engine(EngineCommand),
}

#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Add (or replace) the engine of SERIES; OpenUpgrade comes from PyPI unless
    /// --openupgrade-dir names a folder.
    Add(AddEngineArgs),
    /// List the engines: series, runtime, OpenUpgrade, paths, ready or why not.
    List(JsonArg),
    /// Remove the engine of SERIES (and the OpenUpgrade files fetched for it).
    Remove(RemoveEngineArgs),
}

#[derive(Debug, Args)]
pub struct AddEngineArgs {
    /// The series it upgrades to, e.g. 17.0 (its Odoo runtime is `slipway odoo add`'s).
    series: String,
    /// An exact version of odoo-addon-openupgrade-scripts on PyPI (default: the newest of the
    /// series).
    #[arg(long, conflicts_with = "openupgrade_dir")]
    openupgrade: Option<String>,
    /// A folder holding openupgrade_framework/ and openupgrade_scripts/ (a checkout of
    /// OCA/OpenUpgrade, or your own scripts in its layout) instead of PyPI.
    #[arg(long)]
    openupgrade_dir: Option<PathBuf>,
    /// A checkout of odoo/upgrade-util (its src/ goes first on the upgrade path).
    #[arg(long)]
    upgrade_util: Option<PathBuf>,
    /// Print the engine as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveEngineArgs {
    /// The series of the engine.
    series: String,
}

pub async fn run(
    cmd: UpgradeCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    let UpgradeCommand::Engine(cmd) = cmd;
    match cmd {
        EngineCommand::Add(args) => {
            let folder = |dir: Option<PathBuf>, flag: &str| -> Result<Option<String>> {
                dir.map(|d| {
                    std::fs::canonicalize(&d)
                        .with_context(|| format!("{flag} {}", d.display()))
                        .map(|p| p.display().to_string())
                })
                .transpose()
            };
            let body = NewUpgradeEngine {
                series: args.series.clone(),
                openupgrade_dir: folder(args.openupgrade_dir, "--openupgrade-dir")?,
                upgrade_util: folder(args.upgrade_util, "--upgrade-util")?,
                openupgrade: args.openupgrade,
            };
            let what = match &body.openupgrade_dir {
                Some(_) => "checking the folders and making the engine's virtualenv",
                None => "fetching OpenUpgrade from PyPI and making the engine's virtualenv",
            };
            let bar = spinner(
                &format!("upgrade engine {}: {what}", args.series),
                args.json,
            );
            let added: Result<EngineStatus> = api.post_as("/api/upgrade/engines", &body).await;
            bar.finish_and_clear();
            let status = added?;
            if args.json {
                return print_answer(&status);
            }
            print_engine(&status);
            Ok(())
        }
        EngineCommand::List(args) => {
            let engines: Vec<EngineStatus> = api.get_as("/api/upgrade/engines").await?;
            if args.json {
                return print_answer(&engines);
            }
            if engines.is_empty() {
                println!("no upgrade engine: add one with `slipway upgrade engine add 17.0`");
            }
            for status in &engines {
                print_engine(status);
            }
            Ok(())
        }
        EngineCommand::Remove(args) => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/upgrade/engines/{}", segment(&args.series)),
                None::<&()>,
            )
            .await?;
            println!("upgrade engine {} removed", args.series);
            Ok(())
        }
    }
}

/// One engine: a line of what it is, then its paths, then ready or each reason why not.
fn print_engine(status: &EngineStatus) {
    let engine = &status.engine;
    let openupgrade = match &engine.openupgrade {
        OpenUpgradeSource::Pypi {
            scripts_version,
            framework_version,
        } => format!("OpenUpgrade {scripts_version} (framework {framework_version}, PyPI)"),
        OpenUpgradeSource::Folder => "OpenUpgrade from a folder".to_string(),
    };
    let state = if status.ready { "ready" } else { "NOT READY" };
    println!("{:<8} {state:<10} {openupgrade}", engine.series.to_string());
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    };
    println!("  runtime:      {}", path(&status.runtime_dir));
    println!("  openupgrade:  {}", engine.openupgrade_dir.display());
    println!("  upgrade-util: {}", path(&engine.upgrade_util_dir));
    println!("  python:       {}", path(&status.python));
    for reason in &status.not_ready {
        println!("  not ready: {reason}");
    }
}
