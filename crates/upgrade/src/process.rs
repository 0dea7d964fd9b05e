//! Processing an upgrade request: inspect the dump, restore it into a scratch database, take it
//! through each series step with that series' engine (check the installed modules, then the
//! step's Odoo with OpenUpgrade), verify the result with a stock Odoo of the target, neutralize
//! it for `test` requests, and write the upgraded dump (in the input's format), its SQL, the
//! notes and the log.
//!
//! A run is all or nothing: any failure marks the request `failed` with a message for the
//! customer, and removes the scratch database and the partial results. A run interrupted by a
//! restart starts over from the uploaded dump.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use slipway_dump::{
    CreateOptions, Format, InspectOptions, Inspection, Mode, OutputFormat, RestoreOptions, Target,
};
use slipway_odoo::{DbState, Series};
use slipway_runner::odoo::TaskOutcome;
use slipway_runner::read_db_state;
use tokio::io::AsyncWriteExt;

use super::engines::{openupgrade, ready_series, upgrade_steps, EngineCatalog, EngineStatus};
use super::files::{upgraded_name, UpgradeFiles};
use super::notes::{NoteStep, Notes};
use super::preflight::{StepCheck, StepInput};
use odoo::{left_behind, EngineRuntime, SeriesStep, Upgrading};

mod odoo;
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
    /// The `slipway` binary, which the Odoo stand-in runs scripts with (`SLIPWAY_BIN`).
    pub slipway_bin: Option<PathBuf>,
    /// The sandbox the engines' Odoo runs in, with customers' modules and scripts (`None`:
    /// unconfined, `serve --no-sandbox`). It sees the folders of the run read-only and
    /// reaches the scratch database over TCP only, as its own role.
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

/// The folder of a request where its engines' runs keep their odoo.conf and home.
const ODOO_WORK: &str = "odoo";

/// The state a run is in while it goes: notes and log.
struct Run {
    /// The request.
    id: i64,
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
        // Odoo's output is appended to the same file by its own handle.
        let _ = self.log.flush().await;
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
            id,
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
        // The engines' odoo.conf named the scratch database's role and password.
        let _ = tokio::fs::remove_dir_all(self.files.dir(id).join(ODOO_WORK)).await;
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
        let log = tokio::fs::read_to_string(self.files.log(id))
            .await
            .unwrap_or_default();
        run.notes.log_warnings = super::notes::warning_kinds(&log);
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
        let mut custom = self.unpack_custom_modules(r, run).await?;
        // Custom modules whose code stays with the branch: checked as custom, run without
        // their code, left at their old version for the branch's code to update.
        let left: BTreeSet<String> = (r.custom_modules.0.iter())
            .filter(|m| !custom.names.contains(*m))
            .cloned()
            .collect();
        custom.names.extend(left.iter().cloned());
        let dsn = self.scratch_dsn(scratch).await?;
        let before = read_db_state(&dsn).await?;
        let mut changes = ModuleChanges::default();
        let last = steps.len() - 1;
        for (n, engine) in steps.iter().enumerate() {
            // Custom modules are written for the target: only its step loads their code.
            let step = SeriesStep {
                id: r.id,
                engine,
                runtime: EngineRuntime::of(engine)?,
                scratch,
                dsn: &dsn,
                custom: if n == last { &custom.dirs[..] } else { &[] },
            };
            let check = self.step_check(&step, &custom.names, run).await?;
            changes.note(&check);
            self.step_upgrade(&step, &left, run).await?;
            if n == last {
                self.step_leave_for_code(&dsn, &left, run).await?;
                self.step_verify(&step, &left, run).await?;
            }
        }
        let after = read_db_state(&dsn).await?;
        run.notes.modules = changes.lines(&before, &after, &custom.names, &left);
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
        // For the progress a branch's Upgrade tab shows; a failure to record it is no failure
        // of the step.
        if let Err(e) = self.store.set_step(run.id, title).await {
            tracing::warn!(request = run.id, "recording the step: {e}");
        }
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
    async fn series_steps(&self, source: &str, target: &str) -> StepResult<Vec<EngineStatus>> {
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
        let engines = self.engines.engines().await?;
        match upgrade_steps(&from, &to, &ready_series(&engines)) {
            Ok(steps) => Ok(steps
                .iter()
                .filter_map(|s| engines.iter().find(|e| e.ready && e.engine.series == *s))
                .cloned()
                .collect()),
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

    /// Extracts the custom modules sent with the request, if any, and reads their manifests
    /// as the target series reads them.
    async fn unpack_custom_modules(&self, r: &UpgradeRecord, run: &mut Run) -> StepResult<Custom> {
        let zip = self.files.modules(r.id);
        if !zip.is_file() {
            return Ok(Custom::default());
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
            open_to_all(&dir)?;
            let dirs = addons_paths_in(&dir);
            let scan = slipway_odoo::scan_addons(&dirs, &target);
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
            let names = scan.addons.keys().cloned().collect();
            Ok((Custom { names, dirs }, lines))
        })
        .await
    }

    /// Whether the step's Odoo can take the database: every installed module known to it,
    /// to OpenUpgrade's renames and merges, or sent as a custom module. Also notes which
    /// modules OpenUpgrade does not cover.
    async fn step_check(
        &self,
        step: &SeriesStep<'_>,
        custom: &BTreeSet<String>,
        run: &mut Run,
    ) -> StepResult<StepCheck> {
        let series = step.engine.engine.series.to_string();
        let title = format!("Check the installed modules against Odoo {series}");
        let check = self
            .timed(run, &title, async {
                let db = read_db_state(step.dsn).await?;
                let installed: Vec<String> = db
                    .modules
                    .iter()
                    .filter(|m| m.state.is_installed())
                    .map(|m| m.name.clone())
                    .collect();
                let ou = &step.engine.engine.openupgrade_dir;
                let check = StepCheck::of(StepInput {
                    installed: &installed,
                    available: &step.runtime.modules(),
                    apriori: &openupgrade::read_apriori(ou)?,
                    custom,
                    covered: &openupgrade::covered_modules(ou, &step.engine.engine.series),
                });
                if let Some(refusal) = check.refusal(&series) {
                    return Err(StepFailure(refusal));
                }
                let mut lines = vec![format!("{} installed modules", installed.len())];
                lines.extend(check.lines(&series));
                Ok((check, lines))
            })
            .await?;
        run.notes.warnings.extend(check.coverage_warning(&series));
        Ok(check)
    }

    /// The step's Odoo with OpenUpgrade: `-u all`, judged by its log (any ERROR or CRITICAL
    /// fails the request, quoting the first).
    async fn step_upgrade(
        &self,
        step: &SeriesStep<'_>,
        left: &BTreeSet<String>,
        run: &mut Run,
    ) -> StepResult {
        let series = &step.engine.engine.series;
        let title = format!("Upgrade to {series} with OpenUpgrade");
        let log = self.files.log(step.id);
        self.timed(run, &title, async {
            let upgrading = Upgrading {
                keep_demo: has_demo_data(step.dsn).await?,
                standard_scripts: (self.scripts_dir.as_ref())
                    .map(|d| d.join(series.to_string()))
                    .filter(|d| d.is_dir()),
            };
            let odoo = self.odoo_run(step, Some(&upgrading)).await?;
            let logged_before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let outcome = odoo.update_all(&log).await?;
            if !outcome.succeeded()
                && !only_left_modules_missing(&outcome, &log, logged_before, left)
            {
                return Err(StepFailure(failure_of(&outcome, &log, series)));
            }
            let mut lines = vec![format!(
                "odoo-bin -u all --load=base,web,openupgrade_framework: {} warning(s), {:.1} s",
                outcome.verdict.warnings,
                outcome.duration.as_secs_f64()
            )];
            if upgrading.keep_demo {
                lines.push("demo data kept (OPENUPGRADE_USE_DEMO=yes)".into());
            }
            Ok(((), lines))
        })
        .await
    }

    /// The target Odoo, without OpenUpgrade, must serve the result, and every installed
    /// module must carry the target series.
    async fn step_verify(
        &self,
        step: &SeriesStep<'_>,
        left: &BTreeSet<String>,
        run: &mut Run,
    ) -> StepResult {
        let series = &step.engine.engine.series;
        let title = format!("Verify with a stock Odoo {series}");
        let log = self.files.log(step.id);
        self.timed(run, &title, async {
            let mut db = read_db_state(step.dsn).await?;
            db.modules.retain(|m| !left.contains(&m.name));
            let behind = left_behind(&db, series);
            if !behind.is_empty() {
                return Err(StepFailure(format!(
                    "These installed modules were not upgraded to {series}: {}",
                    behind.join(", ")
                )));
            }
            let odoo = self.odoo_run(step, None).await?;
            let mut lines = vec![if left.is_empty() {
                format!("every installed module is at {series}")
            } else {
                format!("every installed module but those left for your code is at {series}")
            }];
            lines.extend(odoo.serves(&log).await?);
            Ok(((), lines))
        })
        .await
    }

    /// Custom modules left for the branch's code keep their old version and are set to be
    /// updated (`to upgrade`), as Odoo.sh leaves them: the branch's build updates them on the
    /// target series with its own code and upgrade scripts.
    async fn step_leave_for_code(
        &self,
        dsn: &str,
        left: &BTreeSet<String>,
        run: &mut Run,
    ) -> StepResult {
        if left.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = left.iter().cloned().collect();
        self.timed(run, "Leave the custom modules for your code", async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(dsn).await?;
            sqlx::query(
                "UPDATE ir_module_module SET state = 'to upgrade' \
                 WHERE name = ANY($1) AND state = 'installed'",
            )
            .bind(&names)
            .execute(&mut conn)
            .await?;
            let _ = conn.close().await;
            Ok((
                (),
                vec![format!(
                    "left for your code (set to be updated): {}",
                    names.join(", ")
                )],
            ))
        })
        .await
    }

    /// The scratch database as its own role: scripts (the customer's too) run with no rights
    /// on any other database.
    async fn scratch_dsn(&self, scratch: &str) -> Result<String, StepFailure> {
        self.target
            .owner_url(scratch)
            .await
            .map_err(|e| StepFailure(format!("Reaching the scratch database: {e}")))
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
                    // The customer reads the notes: the file's name, not the server's path.
                    format!("{} ({} bytes)", upgraded_name(&r.filename), written.bytes),
                    format!("SQL: {} bytes", as_sql.bytes),
                ],
            ))
        })
        .await
    }
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

/// An empty file, opened to append: Odoo's runs append to the same log.
async fn create_file(path: &Path) -> Result<tokio::fs::File> {
    let io = |source| Error::Io {
        context: format!("creating {}", path.display()),
        source,
    };
    tokio::fs::File::create(path).await.map_err(io)?;
    tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(io)
}

/// The custom modules sent with a request: their names, and the folders holding them.
#[derive(Debug, Default)]
struct Custom {
    names: BTreeSet<String>,
    dirs: Vec<PathBuf>,
}

/// The renames and merges OpenUpgrade made along the steps, for the report.
#[derive(Debug, Default)]
struct ModuleChanges {
    renamed: Vec<(String, String)>,
    merged: Vec<(String, String)>,
}

impl ModuleChanges {
    fn note(&mut self, check: &StepCheck) {
        self.renamed.extend(check.renamed.iter().cloned());
        self.merged.extend(check.merged.iter().cloned());
    }

    /// A line per module installed before: its old and new version, or what became of it.
    fn lines(
        &self,
        before: &DbState,
        after: &DbState,
        custom: &BTreeSet<String>,
        left: &BTreeSet<String>,
    ) -> Vec<String> {
        let version_after = |name: &str| {
            after
                .modules
                .iter()
                .find(|m| m.name == name && m.state.is_installed())
                .map(|m| m.latest_version.clone().unwrap_or_default())
        };
        before
            .modules
            .iter()
            .filter(|m| m.state.is_installed())
            .map(|m| {
                let old = m.latest_version.clone().unwrap_or_default();
                let tag = if custom.contains(&m.name) {
                    " (custom)"
                } else {
                    ""
                };
                let renamed = self.renamed.iter().find(|(from, _)| *from == m.name);
                let merged = self.merged.iter().find(|(from, _)| *from == m.name);
                if left.contains(&m.name) {
                    return format!(
                        "{} (custom) {old}: left for your code, set to be updated",
                        m.name
                    );
                }
                match (renamed, merged, version_after(&m.name)) {
                    (Some((_, new)), _, _) => format!("{} {old}: renamed {new}", m.name),
                    (_, Some((_, into)), _) => format!("{} {old}: merged into {into}", m.name),
                    (_, _, Some(new)) => format!("{}{tag}: {old} -> {new}", m.name),
                    (_, _, None) => format!("{}{tag} {old}: removed", m.name),
                }
            })
            .collect()
    }
}

/// Whether an update run that did not succeed only failed on Odoo's "Some modules are not
/// loaded" error naming modules of `left` (run without their code on purpose): it exited 0
/// and every error record it appended to `log` after `offset` is that one.
fn only_left_modules_missing(
    outcome: &TaskOutcome,
    log: &Path,
    offset: u64,
    left: &BTreeSet<String>,
) -> bool {
    if left.is_empty() || outcome.exit_code != Some(0) {
        return false;
    }
    let text = std::fs::read(log).unwrap_or_default();
    let appended = String::from_utf8_lossy(text.get(offset as usize..).unwrap_or_default());
    let errors: Vec<&str> = appended
        .lines()
        .filter(|line| slipway_runner::odoo::classify_log(line).errors > 0)
        .collect();
    !errors.is_empty()
        && errors
            .iter()
            .all(|e| super::preflight::only_left_modules_not_loaded(e, left))
}

/// Whether any module of the database was installed with demo data.
async fn has_demo_data(dsn: &str) -> StepResult<bool> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(dsn).await?;
    let demo: Option<bool> =
        sqlx::query_scalar("SELECT bool_or(demo) FROM ir_module_module WHERE state = 'installed'")
            .fetch_one(&mut conn)
            .await?;
    Ok(demo.unwrap_or(false))
}

/// What the customer reads when a step's Odoo failed: its first error record and the lines
/// after it (the traceback), from the log.
fn failure_of(outcome: &TaskOutcome, log: &Path, series: &Series) -> String {
    let exit = outcome
        .exit_code
        .map_or("was killed".to_string(), |c| format!("exited with {c}"));
    let Some(first) = &outcome.verdict.first_error else {
        return format!(
            "Odoo {series}'s upgrade run {exit} without logging an error; see upgrade.log"
        );
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let excerpt: Vec<&str> = text
        .lines()
        .skip_while(|line| line != first)
        .take(12)
        .collect();
    let excerpt = if excerpt.is_empty() {
        first.clone()
    } else {
        excerpt.join("\n")
    };
    format!(
        "Odoo {series}'s upgrade run logged {} error(s) and {exit}; the first:\n{excerpt}",
        outcome.verdict.errors
    )
}

/// Makes an extracted folder readable by the sandbox's uid (zips carry their own modes).
fn open_to_all(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.is_dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        for entry in std::fs::read_dir(dir)? {
            open_to_all(&entry?.path())?;
        }
    } else if meta.is_file() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}
