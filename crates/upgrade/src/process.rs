//! Processing an upgrade request: inspect the dump, restore it into a scratch database, take it
//! through each series step with the standard scripts, neutralize it for `test` requests, and
//! write the upgraded dump (in the input's format), its SQL, the notes and the log.
//!
//! A run is all or nothing: any failure marks the request `failed` with a message for the
//! customer, and removes the scratch database and the partial results. A run interrupted by a
//! restart starts over from the uploaded dump.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use slipway_dump::{
    CreateOptions, Format, InspectOptions, Inspection, Mode, OutputFormat, RestoreOptions, Target,
};
use slipway_odoo::{series_step_plan, AddonsScan, Series};
use slipway_runner::{read_db_state, run_plan, RunEvent, RunOptions};
use tokio::io::AsyncWriteExt;

use super::engines::{ready_series, upgrade_steps, EngineCatalog};
use super::files::UpgradeFiles;
use super::notes::{NoteStep, Notes};
use super::rules::{Aim, RequestState};
use super::store::{self, UpgradeRecord, UpgradeStore};
use crate::error::{Error, Result};

/// What processing needs.
#[derive(Debug, Clone)]
pub struct Processor {
    /// Requests.
    pub store: UpgradeStore,
    /// Their files.
    pub files: UpgradeFiles,
    /// Standard upgrade scripts: `DIR/<series>/<module>/<version>/`.
    pub scripts_dir: Option<PathBuf>,
    /// The upgrade engines: a database goes through the series of the ready ones.
    pub engines: Arc<dyn EngineCatalog>,
    /// Where scratch databases are restored, and as which role.
    pub target: Target,
    /// The Python that runs upgrade scripts.
    pub python: String,
    /// The sandbox customers' scripts run in (`None`: unconfined, `serve --no-sandbox`). It
    /// sees the scripts' folders read-only and reaches the scratch database over TCP only.
    pub sandbox: Option<slipway_sandbox::Jail>,
}

/// A step that failed, with what the customer should read.
#[derive(Debug)]
struct StepFailure(String);

impl<E: std::fmt::Display> From<E> for StepFailure {
    fn from(e: E) -> Self {
        StepFailure(e.to_string())
    }
}

type StepResult<T = ()> = std::result::Result<T, StepFailure>;

/// The state a run is in while it goes: notes and log.
struct Run {
    notes: Notes,
    log: tokio::fs::File,
}

impl Run {
    async fn log(&mut self, line: &str) {
        let stamped = format!(
            "{} {line}\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
        );
        let _ = self.log.write_all(stamped.as_bytes()).await;
    }
}

impl Processor {
    /// Processes request `id`; returns the state it ends in. A request that is no longer
    /// pending (cancelled meanwhile) is left alone.
    pub async fn process(&self, id: i64) -> Result<RequestState> {
        let Some(record) = self.store.get(id).await? else {
            return Ok(RequestState::Failed);
        };
        let resumable = [RequestState::Pending, RequestState::Progress];
        if !self
            .store
            .transition(id, &resumable, RequestState::Progress)
            .await?
        {
            return Ok(record.state);
        }
        tracing::info!(request = id, target = %record.target, "processing upgrade request");
        let scratch = format!("slipway_upgrade_{id}");
        self.clear_results(id).await;
        let mut run = Run {
            notes: Notes {
                heading: format!(
                    "Upgrade request {id}: {} to {}",
                    record.filename, record.target
                ),
                ..Notes::default()
            },
            log: create_file(&self.files.log(id)).await?,
        };
        let outcome = self.run_steps(&record, &scratch, &mut run).await;
        if let Err(e) = self.target.drop_database(&scratch).await {
            tracing::warn!(request = id, "dropping scratch database {scratch}: {e}");
        }
        let end = match outcome {
            Ok(()) if record.skip_test => RequestState::Delivered,
            Ok(()) => RequestState::Done,
            Err(StepFailure(message)) => {
                run.log(&format!("FAILED: {message}")).await;
                run.notes.failure = Some(message.clone());
                self.clear_results(id).await;
                self.store.set_customer_message(id, &message).await?;
                RequestState::Failed
            }
        };
        let notes = self.files.notes(id);
        tokio::fs::write(&notes, run.notes.to_html())
            .await
            .map_err(|source| Error::Io {
                context: format!("writing {}", notes.display()),
                source,
            })?;
        self.store
            .transition(id, &[RequestState::Progress], end)
            .await?;
        tracing::info!(
            request = id,
            state = end.as_str(),
            "upgrade request processed"
        );
        Ok(end)
    }

    /// Removes the results of an earlier, interrupted or failed run.
    async fn clear_results(&self, id: i64) {
        let record_dir = self.files.dir(id);
        let _ = tokio::fs::remove_dir_all(record_dir.join("upgraded")).await;
        let _ = tokio::fs::remove_file(self.files.upgraded_sql(id)).await;
    }

    async fn run_steps(&self, r: &UpgradeRecord, scratch: &str, run: &mut Run) -> StepResult {
        let original = self.files.original(r.id, &r.filename);
        let found = self.step_inspect(r, &original, run).await?;
        let source = found
            .odoo_version
            .clone()
            .ok_or_else(|| StepFailure("The dump holds no Odoo database (no base module found): upload a dump made by Odoo".into()))?;
        let steps = self.series_steps(&source, &r.target).await?;
        self.step_restore(&original, scratch, run).await?;
        self.step_original_sql(r.id, scratch, run).await?;
        let custom = self.unpack_custom_modules(r, run).await?;
        let custom_names: Vec<String> = custom
            .as_ref()
            .map(|scan| scan.addons.keys().cloned().collect())
            .unwrap_or_default();
        for series in &steps {
            self.step_series(series, scratch, &custom_names, run)
                .await?;
        }
        if let Some(scan) = custom {
            self.step_custom_modules(r, &scan, scratch, run).await?;
        }
        run.notes.warnings.push(format!(
            "This version of Slipway does not run Odoo {} on upgrades yet, even with its upgrade engine ready: only upgrade scripts ran (no `-u all`), so Odoo {} may not serve the result.",
            r.target, r.target
        ));
        if r.aim == Aim::Test {
            self.step_neutralize(scratch, run).await?;
        }
        self.step_write(r, &found, scratch, run).await
    }

    async fn timed<T, F>(&self, run: &mut Run, title: &str, step: F) -> StepResult<T>
    where
        F: std::future::Future<Output = StepResult<(T, Vec<String>)>>,
    {
        run.log(&format!("{title}...")).await;
        let started = Instant::now();
        let result = step.await;
        let elapsed = started.elapsed();
        let (ok, details) = match &result {
            Ok((_, details)) => (true, details.clone()),
            Err(StepFailure(message)) => (false, vec![message.clone()]),
        };
        for line in &details {
            run.log(&format!("  {line}")).await;
        }
        run.log(&format!(
            "{title}: {} in {:.1} s",
            if ok { "done" } else { "failed" },
            elapsed.as_secs_f64()
        ))
        .await;
        run.notes.steps.push(NoteStep {
            title: title.to_string(),
            details,
            elapsed,
            ok,
        });
        result.map(|(value, _)| value)
    }

    async fn step_inspect(
        &self,
        r: &UpgradeRecord,
        original: &Path,
        run: &mut Run,
    ) -> StepResult<Inspection> {
        let options = InspectOptions {
            pg_restore: self.target.binaries.tool("pg_restore"),
            zip_limits: Default::default(),
        };
        let path = original.to_path_buf();
        let found = self
            .timed(run, "Inspect the dump", async move {
                let found =
                    tokio::task::spawn_blocking(move || slipway_dump::inspect(&path, &options))
                        .await?
                        .map_err(|e| {
                            StepFailure(format!(
                                "The uploaded file is not a dump Slipway can read: {e}"
                            ))
                        })?;
                let details = vec![
                    format!("format: {}", found.format.as_str()),
                    format!(
                        "Odoo: {}",
                        found.odoo_version.as_deref().unwrap_or("unknown")
                    ),
                    format!(
                        "PostgreSQL: {}",
                        found.postgresql.as_deref().unwrap_or("unknown")
                    ),
                    format!("installed modules: {}", found.modules.len()),
                ];
                Ok((found, details))
            })
            .await?;
        let inspection = store::Inspection {
            database_uuid: found.database_uuid.clone(),
            database_version: found.odoo_version.clone(),
            postgresql: found.postgresql.clone(),
            compressions: found.compressions.clone(),
            filestore: found.filestore.as_ref().is_some_and(|f| f.files > 0),
        };
        self.store.set_inspection(r.id, &inspection).await?;
        Ok(found)
    }

    /// The series the database goes through: those of the ready engines above its own, up to
    /// the request's target.
    async fn series_steps(&self, source: &str, target: &str) -> StepResult<Vec<String>> {
        let series = |s: &str| {
            s.parse::<Series>()
                .map_err(|_| StepFailure(format!("{s} is not an Odoo version")))
        };
        let (from, to) = (series(source)?, series(target)?);
        if from >= to {
            return Err(StepFailure(format!(
                "The database is already Odoo {source}; the target {target} must be a later version"
            )));
        }
        let ready = ready_series(&self.engines.engines().await?);
        match upgrade_steps(&from, &to, &ready) {
            Ok(steps) => Ok(steps.iter().map(Series::to_string).collect()),
            Err(missing) => {
                let missing: Vec<String> = missing.iter().map(Series::to_string).collect();
                Err(StepFailure(format!(
                    "This server has no ready upgrade engine for {}: Odoo {source} goes to {target} one major version at a time, each step by its own engine; ask its administrator (`slipway upgrade engine add {}`, `slipway upgrade engine list`)",
                    missing.join(", "),
                    missing[0]
                )))
            }
        }
    }

    async fn step_restore(&self, original: &Path, scratch: &str, run: &mut Run) -> StepResult {
        let options = RestoreOptions {
            mode: Mode::Move,
            force: true,
            jobs: 2,
            ..RestoreOptions::new(scratch)
        };
        self.timed(run, "Restore into a scratch database", async {
            let report = slipway_dump::restore(&self.target, original, &options)
                .await
                .map_err(|e| StepFailure(format!("The dump could not be restored: {e}")))?;
            Ok((
                (),
                vec![format!("{} attachment files", report.filestore_files)],
            ))
        })
        .await
    }

    async fn step_original_sql(&self, id: i64, scratch: &str, run: &mut Run) -> StepResult {
        let options = create_options(
            scratch,
            OutputFormat::Sql,
            false,
            self.files.original_sql(id),
        );
        self.timed(run, "Keep the original database as SQL", async {
            slipway_dump::create(&self.target, &options).await?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn step_series(
        &self,
        series: &str,
        scratch: &str,
        custom: &[String],
        run: &mut Run,
    ) -> StepResult {
        // A series without standard scripts still moves every module to it.
        let none = tempfile::tempdir()?;
        let dir = (self.scripts_dir.as_ref().map(|d| d.join(series)))
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| none.path().to_path_buf());
        let parsed: Series = series
            .parse()
            .map_err(|_| StepFailure(format!("{series} is not an Odoo series")))?;
        let dsn = self.scratch_dsn(scratch).await?;
        let script_dsn = dsn.clone();
        let sandbox = self.sandbox.clone();
        let python = self.python.clone();
        self.timed(run, &format!("Standard scripts of {series}"), async move {
            let db = read_db_state(&dsn).await?;
            let plan = series_step_plan(&db, &parsed, &dir, custom);
            let mut lines: Vec<String> = plan
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect();
            let report = run_scripts(&plan, &script_dsn, python, sandbox, &mut lines).await?;
            lines.push(format!(
                "{} scripts run, {} modules moved to {series}",
                report.scripts_run, report.modules
            ));
            Ok(((), lines))
        })
        .await
    }

    /// Extracts the custom modules sent with the request, if any, and reads their manifests
    /// as the target series reads them.
    async fn unpack_custom_modules(
        &self,
        r: &UpgradeRecord,
        run: &mut Run,
    ) -> StepResult<Option<AddonsScan>> {
        let zip = self.files.modules(r.id);
        if !zip.is_file() {
            return Ok(None);
        }
        let target: Series = r
            .target
            .parse()
            .map_err(|_| StepFailure(format!("{} is not an Odoo series", r.target)))?;
        let dir = self.files.dir(r.id).join("modules");
        self.timed(run, "Unpack the custom modules", async move {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            let dest = dir.clone();
            tokio::task::spawn_blocking(move || {
                slipway_dump::extract_zip(&zip, &dest, &Default::default())
            })
            .await?
            .map_err(|e| StepFailure(format!("The custom modules zip was refused: {e}")))?;
            let scan = slipway_odoo::scan_addons(&addons_paths_in(&dir), &target);
            let mut lines: Vec<String> = scan
                .addons
                .values()
                .map(|a| format!("{} {}", a.name, a.manifest.version))
                .collect();
            lines.extend(
                scan.problems
                    .iter()
                    .map(|p| format!("warning: {}: {}", p.path, p.message)),
            );
            Ok((Some(scan), lines))
        })
        .await
    }

    /// The custom modules' scripts run as an update on the target series runs them: for the
    /// modules whose manifest version went up.
    /// The scratch database as its own role: scripts (the customer's too) run with no rights
    /// on any other database.
    async fn scratch_dsn(&self, scratch: &str) -> Result<String, StepFailure> {
        self.target
            .owner_url(scratch)
            .await
            .map_err(|e| StepFailure(format!("Reaching the scratch database: {e}")))
    }

    async fn step_custom_modules(
        &self,
        r: &UpgradeRecord,
        scan: &AddonsScan,
        scratch: &str,
        run: &mut Run,
    ) -> StepResult {
        let target: Series = r
            .target
            .parse()
            .map_err(|_| StepFailure(format!("{} is not an Odoo series", r.target)))?;
        let dsn = self.scratch_dsn(scratch).await?;
        let script_dsn = dsn.clone();
        let sandbox = self.sandbox.clone();
        let python = self.python.clone();
        self.timed(run, "Custom modules' scripts", async move {
            let db = read_db_state(&dsn).await?;
            let plan = slipway_odoo::build_plan(&slipway_odoo::PlanInput {
                addons: scan,
                db: &db,
                request: &slipway_odoo::UpdateRequest::VersionBumps,
                series: &target,
                rules: slipway_odoo::FolderRules::for_series(&target),
                upgrade_paths: &[],
            });
            let mut lines: Vec<String> = plan
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect();
            let updated: Vec<String> = plan
                .modules
                .iter()
                .map(|m| format!("{} {}", m.name, m.new_version))
                .collect();
            lines.push(format!("modules updated: {}", updated.join(", ")));
            let report = run_scripts(&plan, &script_dsn, python, sandbox, &mut lines).await?;
            lines.push(format!("{} scripts run", report.scripts_run));
            Ok(((), lines))
        })
        .await
    }

    async fn step_neutralize(&self, scratch: &str, run: &mut Run) -> StepResult {
        self.timed(run, "Neutralize (test request)", async {
            let outcome = slipway_dump::neutralize_database(&self.target, scratch, false).await?;
            let mut lines = outcome.steps.applied.clone();
            lines.extend(
                outcome
                    .steps
                    .skipped
                    .iter()
                    .map(|s| format!("skipped: {s}")),
            );
            Ok(((), lines))
        })
        .await
    }

    async fn step_write(
        &self,
        r: &UpgradeRecord,
        found: &Inspection,
        scratch: &str,
        run: &mut Run,
    ) -> StepResult {
        let (format, filestore) = output_format(found.format);
        let dump = create_options(
            scratch,
            format,
            filestore,
            self.files.upgraded(r.id, &r.filename),
        );
        let sql = create_options(
            scratch,
            OutputFormat::Sql,
            false,
            self.files.upgraded_sql(r.id),
        );
        if let Some(parent) = dump.output.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        self.timed(run, "Write the upgraded dump", async {
            let written = slipway_dump::create(&self.target, &dump).await?;
            let as_sql = slipway_dump::create(&self.target, &sql).await?;
            Ok((
                (),
                vec![
                    format!("{} ({} bytes)", written.output.display(), written.bytes),
                    format!("SQL: {} bytes", as_sql.bytes),
                ],
            ))
        })
        .await
    }
}

/// Runs a plan's scripts in one transaction, noting Odoo's log line of each in `lines`.
async fn run_scripts(
    plan: &slipway_odoo::Plan,
    dsn: &str,
    python: String,
    sandbox: Option<slipway_sandbox::Jail>,
    lines: &mut Vec<String>,
) -> StepResult<slipway_runner::RunReport> {
    let mut on_event = |event: RunEvent| match event {
        RunEvent::ScriptStarted { line, .. } => lines.push(line),
        RunEvent::ScriptSkipped { message, .. } => lines.push(message),
        RunEvent::Output(line) => lines.push(format!("  {line}")),
        _ => {}
    };
    let options = RunOptions {
        python,
        commit_per_module: false,
        sandbox,
    };
    Ok(run_plan(plan, dsn, &options, &mut on_event).await?)
}

/// The addons paths of an extracted modules zip: its top level, and each folder in it that is
/// not itself a module (zips often wrap their modules in one folder).
fn addons_paths_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.to_path_buf()];
    let wrappers = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            slipway_odoo::MANIFEST_NAMES
                .iter()
                .all(|m| !p.join(m).is_file())
        });
    paths.extend(wrappers);
    paths
}

/// The upgraded dump comes back in the format it came in; pg_dump directory and tar archives
/// come back as custom archives, which hold the same and download as one file.
fn output_format(input: Format) -> (OutputFormat, bool) {
    match input {
        Format::OdooZip => (OutputFormat::Zip, true),
        Format::ZipSql => (OutputFormat::Zip, false),
        Format::Sql => (OutputFormat::Sql, false),
        Format::SqlGz => (OutputFormat::SqlGz, false),
        Format::PgCustom | Format::PgDirectory | Format::PgTar => (OutputFormat::Custom, false),
    }
}

fn create_options(
    db: &str,
    format: OutputFormat,
    filestore: bool,
    output: PathBuf,
) -> CreateOptions {
    CreateOptions {
        database: db.to_string(),
        format,
        filestore,
        neutralized: false,
        output,
        jobs: 2,
    }
}

async fn create_file(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::File::create(path)
        .await
        .map_err(|source| Error::Io {
            context: format!("creating {}", path.display()),
            source,
        })
}
