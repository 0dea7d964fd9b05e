//! `slipway migrate plan | run | lint`: Odoo upgrade scripts, exactly as Odoo runs them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use slipway_odoo::{
    build_plan, lint_addons, scan_addons, FolderRules, LintReport, Plan, PlanInput, Series,
    Severity, UpdateRequest,
};
use slipway_runner::{read_db_state, run_plan, RunEvent, RunOptions};

use super::addons::AddonsPathArgs;
use crate::config::{GlobalOptions, Postgres};
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Show what an update would run, and why, without running anything.
    Plan(PlanArgs),
    /// Run the plan's scripts on the database (one transaction unless --commit-per-module).
    Run(RunArgs),
    /// Report scripts Odoo would silently ignore or trip on (exit 1 if any would not run as meant).
    Lint(LintArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    paths: AddonsPathArgs,
    /// Extra upgrade-script directories (`<dir>/<module>/<version>/`), like Odoo's --upgrade-path.
    #[arg(long = "upgrade-path", value_delimiter = ',')]
    upgrade_path: Vec<PathBuf>,
    /// Database name (on the embedded PostgreSQL or --pg-url's server) or postgres:// URL.
    #[arg(long)]
    database: String,
    /// Modules to update (`all`, or m1,m2); default: those whose manifest version went up.
    #[arg(long, value_delimiter = ',')]
    update: Vec<String>,
    /// Odoo series (default: the series of the database's `base`).
    #[arg(long)]
    series: Option<Series>,
    /// Normalise version folders as Odoo 16.0 did (`1.0.0` is a full version).
    #[arg(long)]
    odoo16_folders: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Commit after each module, as Odoo does (default: the whole run is one transaction).
    #[arg(long)]
    commit_per_module: bool,
    /// The Python interpreter that runs the scripts (needs psycopg2).
    #[arg(long, default_value = "python3")]
    python: String,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    paths: AddonsPathArgs,
    /// Extra upgrade-script directories (`<dir>/<module>/<version>/`).
    #[arg(long = "upgrade-path", value_delimiter = ',')]
    upgrade_path: Vec<PathBuf>,
    /// Odoo series the scripts are meant for.
    #[arg(long, default_value = "17.0")]
    series: Series,
    /// Lint with Odoo 16.0's folder rules.
    #[arg(long)]
    odoo16_folders: bool,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: MigrateCommand, global: &GlobalOptions) -> Result<()> {
    match cmd {
        MigrateCommand::Plan(args) => {
            let (plan, _) = make_plan(&args, global).await?;
            if args.json {
                return print_json(&plan);
            }
            print_plan(&plan);
            Ok(())
        }
        MigrateCommand::Run(args) => run_cmd(args, global).await,
        MigrateCommand::Lint(args) => lint(args),
    }
}

/// A database URL, and the PostgreSQL to stop afterwards if this command started it.
struct Target {
    url: String,
    postgres: Option<Postgres>,
}

impl Target {
    async fn resolve(database: &str, global: &GlobalOptions) -> Result<Target> {
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            return Ok(Target {
                url: database.to_string(),
                postgres: None,
            });
        }
        let pg = global.postgres().await?;
        Ok(Target {
            url: pg.server.url(database),
            postgres: Some(pg),
        })
    }

    async fn release(self) -> Result<()> {
        if let Some(pg) = self.postgres {
            pg.stop_if_started().await;
        }
        Ok(())
    }
}

fn rules(series: &Series, odoo16: bool) -> FolderRules {
    if odoo16 {
        FolderRules::V16
    } else {
        FolderRules::for_series(series)
    }
}

async fn make_plan(args: &PlanArgs, global: &GlobalOptions) -> Result<(Plan, Target)> {
    let target = Target::resolve(&args.database, global).await?;
    let db = read_db_state(&target.url)
        .await
        .with_context(|| format!("reading the modules of database {}", args.database))?;
    let series = match (&args.series, db.series()) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s,
        (None, None) => bail!(
            "database {} has no installed base version; give --series (e.g. 17.0)",
            args.database
        ),
    };
    let scan = scan_addons(&args.paths.addons_path, &series);
    for p in &scan.problems {
        eprintln!("problem: {}: {}", p.path, p.message);
    }
    let request = match args.update.is_empty() {
        true => UpdateRequest::VersionBumps,
        false => UpdateRequest::Modules(args.update.clone()),
    };
    let plan = build_plan(&PlanInput {
        addons: &scan,
        db: &db,
        request: &request,
        series: &series,
        rules: rules(&series, args.odoo16_folders),
        upgrade_paths: &args.upgrade_path,
    });
    Ok((plan, target))
}

fn print_plan(plan: &Plan) {
    if plan.modules.is_empty() {
        println!("Nothing to update (series {}).", plan.series);
    } else {
        let w = plan
            .modules
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "{:<w$}  {:<14}  {:<14}  REASON",
            "MODULE", "INSTALLED", "NEW"
        );
        for m in &plan.modules {
            let installed = m.installed_version.as_deref().unwrap_or("-");
            let reason = serde_json::to_value(m.reason).unwrap_or_default();
            let reason = reason.as_str().unwrap_or_default().to_string();
            println!(
                "{:<w$}  {installed:<14}  {:<14}  {reason}",
                m.name, m.new_version
            );
        }
        println!();
        println!("{} scripts:", plan.steps.len());
        for (i, s) in plan.steps.iter().enumerate() {
            println!(
                "{:>4}. {} {:<4} {:<14} {}",
                i + 1,
                s.module,
                s.stage.as_str(),
                s.version,
                s.script.display()
            );
        }
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
}

async fn run_cmd(args: RunArgs, global: &GlobalOptions) -> Result<()> {
    let (plan, target) = make_plan(&args.plan, global).await?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let opts = RunOptions {
        python: args.python.clone(),
        commit_per_module: args.commit_per_module,
        sandbox: None,
    };
    let bar = progress_bar(plan.steps.len());
    let mut on_event = |e: RunEvent| print_event(&plan, &bar, e);
    let outcome = run_plan(&plan, &target.url, &opts, &mut on_event).await;
    bar.finish_and_clear();
    target.release().await?;
    let report = outcome.with_context(|| match args.commit_per_module {
        true => "update failed; modules finished before the failure stay committed (--commit-per-module)".to_string(),
        false => format!("update failed; database {} rolled back, nothing changed", args.plan.database),
    })?;
    println!(
        "{} scripts run, {} skipped, {} modules updated in {:.2}s",
        report.scripts_run,
        report.skipped.len(),
        report.modules,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} scripts {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Odoo-like log lines; through the bar so it stays at the bottom.
fn print_event(plan: &Plan, bar: &ProgressBar, event: RunEvent) {
    let say = |line: String| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };
    match event {
        RunEvent::Connected { dbname } => say(format!("connected to {dbname}")),
        RunEvent::ScriptStarted { line, .. } => bar.set_message(line),
        RunEvent::ScriptFinished { index, elapsed, .. } => {
            let step = &plan.steps[index];
            let name = step
                .script
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let marker = step.stage.marker(&step.folder);
            say(format!(
                "module {}: Running migration {marker} {name} ({:.3}s)",
                step.module,
                elapsed.as_secs_f64()
            ));
            bar.inc(1);
        }
        RunEvent::ScriptSkipped { message, .. } => {
            say(format!("ERROR {message}"));
            bar.inc(1);
        }
        RunEvent::ModuleDone { module, version } => say(format!(
            "module {module}: latest_version = {version}, state = installed"
        )),
        RunEvent::Output(line) => say(format!("  | {line}")),
    }
}

fn lint(args: LintArgs) -> Result<()> {
    let scan = scan_addons(&args.paths.addons_path, &args.series);
    let report = lint_addons(
        &scan,
        &args.upgrade_path,
        &args.series,
        rules(&args.series, args.odoo16_folders),
    );
    if args.json {
        print_json(&report)?;
    } else {
        print_lint(&report);
    }
    if report.has_errors() {
        let n = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        bail!("{n} upgrade script problem(s) would not run as meant");
    }
    Ok(())
}

fn print_lint(report: &LintReport) {
    for f in &report.findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        println!("{sev}: {}: {}: {}", f.module, f.path.display(), f.message);
    }
    if report.findings.is_empty() {
        println!("No problems found.");
    }
}
