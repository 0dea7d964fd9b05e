//! Executes an update plan's scripts in one Python host, as Odoo would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use slipway_odoo::{Plan, PlanModule, Stage, Step};

use slipway_sandbox::Jail;

use crate::dbstate::redact;
use crate::host::{Host, HostLine};
use crate::{Error, ScriptFailure};

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Python interpreter (default `python3` from PATH); needs psycopg2.
    pub python: String,
    /// Commit after each module, as Odoo does, instead of one transaction for the whole run.
    pub commit_per_module: bool,
    /// The sandbox the host runs in (the scripts' folders and the Python installation are
    /// added to it, read-only, at their own paths); `None` runs it unconfined.
    pub sandbox: Option<Jail>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            python: "python3".into(),
            commit_per_module: false,
            sandbox: None,
        }
    }
}

/// What happens during a run, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The host is connected.
    Connected {
        /// Database name.
        dbname: String,
    },
    /// A script is about to run; `line` is Odoo's log line
    /// (`module X: Running migration [>17.0.1.1] pre-foo`).
    ScriptStarted {
        /// 0-based index in the plan's steps.
        index: usize,
        /// Odoo's log line.
        line: String,
    },
    /// A script finished.
    ScriptFinished {
        /// 0-based index in the plan's steps.
        index: usize,
        /// Module.
        module: String,
        /// Script path.
        script: PathBuf,
        /// Wall time of load + `migrate`.
        elapsed: Duration,
    },
    /// A script has no `migrate`: Odoo 17 logs an error and goes on.
    ScriptSkipped {
        /// 0-based index in the plan's steps.
        index: usize,
        /// Odoo's error message.
        message: String,
    },
    /// A module's `latest_version` and `state='installed'` were written.
    ModuleDone {
        /// Module.
        module: String,
        /// The version written.
        version: String,
    },
    /// A line a script (or Python) printed.
    Output(String),
}

/// The outcome of a successful run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Scripts whose `migrate` ran.
    pub scripts_run: usize,
    /// Scripts skipped for lack of `migrate`.
    pub skipped: Vec<String>,
    /// Modules whose version was written.
    pub modules: usize,
    /// Total wall time.
    pub elapsed: Duration,
}

type OnEvent<'a> = &'a mut (dyn FnMut(RunEvent) + Send);

/// Runs every step of `plan` on the database at `dsn` (a libpq URL).
///
/// Default: one transaction, rolled back entirely on any failure. With
/// `commit_per_module`, each module's work is committed once its `post`
/// scripts ran and its version was written, as Odoo does.
pub async fn run_plan(
    plan: &Plan,
    dsn: &str,
    opts: &RunOptions,
    on_event: OnEvent<'_>,
) -> Result<RunReport, Error> {
    let t0 = Instant::now();
    if plan.modules.is_empty() {
        return Ok(RunReport::default());
    }
    let mut plan_inside = None;
    let (mut host, greeting) = match &opts.sandbox {
        Some(jail) => {
            let (jail, python, inside) = host_jail(jail, plan, &opts.python).await?;
            plan_inside = Some(inside);
            Host::start(&python, Some(&jail)).await?
        }
        None => Host::start(&opts.python, None).await?,
    };
    // In a sandbox the host names scripts by their paths inside.
    let plan = plan_inside.as_ref().unwrap_or(plan);
    greeting
        .into_iter()
        .for_each(|l| on_event(RunEvent::Output(l)));
    let connect = json!({"op": "connect", "dsn": dsn, "atomic": !opts.commit_per_module});
    let reply = host.call(&connect, &mut |l| relay(l, on_event)).await?;
    if reply["ok"] != true {
        host.quit().await;
        let message = reply["error"]
            .as_str()
            .unwrap_or("cannot connect")
            .to_string();
        return Err(Error::Database {
            database: redact(dsn),
            message,
        });
    }
    on_event(RunEvent::Connected {
        dbname: reply["dbname"].as_str().unwrap_or_default().to_string(),
    });
    let mut run = Run {
        plan,
        host: &mut host,
        on_event,
        report: RunReport::default(),
        committed: Vec::new(),
        opts,
    };
    let outcome = run.all().await;
    let (mut report, committed) = (run.report, run.committed);
    let finish = json!({"op": "finish", "commit": outcome.is_ok()});
    let finished = host.call(&finish, &mut |l| relay(l, on_event)).await;
    host.quit().await;
    match (outcome, finished) {
        (Err(Error::ScriptFailed(mut failure)), _) => {
            failure.committed_modules = committed;
            Err(Error::ScriptFailed(failure))
        }
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(reply)) if reply["ok"] != true => {
            Err(Error::Host(format!("commit failed: {reply}")))
        }
        (Ok(()), Ok(_)) => {
            report.elapsed = t0.elapsed();
            Ok(report)
        }
    }
}

/// `jail` with what the host needs: the Python installation `python` comes from, at its own
/// path (a virtualenv's shebangs and `pyvenv.cfg` name absolute paths), and the folders of
/// the plan's scripts (each module's `migrations/`), read-only under `~/scripts/<n>`, so
/// nothing of the server's folders shows. Returns the interpreter's path and the plan with
/// its scripts' paths inside.
async fn host_jail(jail: &Jail, plan: &Plan, python: &str) -> Result<(Jail, String, Plan), Error> {
    let install = crate::venv::PythonInstall::of(python).await?;
    let mut jail = jail.clone();
    install.bind_into(&mut jail.sandbox);
    let mut inside = plan.clone();
    let mut folders: Vec<PathBuf> = Vec::new();
    for step in &mut inside.steps {
        let Some(folder) = step.script.parent().and_then(|version| version.parent()) else {
            continue;
        };
        if !folders.iter().any(|f| f == folder) {
            let dest = format!("{}/scripts/{}", slipway_sandbox::HOME, folders.len());
            jail.sandbox.bind_ro(folder, dest);
            folders.push(folder.to_path_buf());
        }
        if let Some(path) = jail.sandbox.inside(&step.script) {
            step.script = path;
        }
    }
    Ok((jail, install.executable.display().to_string(), inside))
}

impl Default for RunReport {
    fn default() -> Self {
        RunReport {
            scripts_run: 0,
            skipped: Vec::new(),
            modules: 0,
            elapsed: Duration::ZERO,
        }
    }
}

fn relay(line: HostLine, on_event: &mut (dyn FnMut(RunEvent) + Send)) {
    if let HostLine::Output(l) = line {
        on_event(RunEvent::Output(l));
    }
}

struct Run<'a, 'b> {
    plan: &'a Plan,
    host: &'a mut Host,
    on_event: OnEvent<'b>,
    report: RunReport,
    committed: Vec<String>,
    opts: &'a RunOptions,
}

impl Run<'_, '_> {
    async fn all(&mut self) -> Result<(), Error> {
        let plan = self.plan;
        for module in &plan.modules {
            for stage in [Stage::Pre, Stage::Post] {
                for (index, step) in indexed(plan, &module.name, stage) {
                    self.step(index, step, module).await?;
                }
            }
            self.module_done(module).await?;
        }
        for (index, step) in plan
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.stage == Stage::End)
        {
            let module = plan.modules.iter().find(|m| m.name == step.module);
            let Some(module) = module else { continue };
            self.step(index, step, module).await?;
        }
        Ok(())
    }

    async fn step(&mut self, index: usize, step: &Step, module: &PlanModule) -> Result<(), Error> {
        let version = module.installed_version.clone().unwrap_or_default();
        let req = json!({
            "op": "run",
            "module": step.module,
            "stage": step.stage.as_str(),
            "script": step.script,
            "version": version,
        });
        let marker = step.stage.marker(&step.folder);
        let on_event = &mut *self.on_event;
        let reply = self
            .host
            .call(&req, &mut |line| match line {
                HostLine::Output(l) => on_event(RunEvent::Output(l)),
                HostLine::Message(m) => {
                    let name = m["name"].as_str().unwrap_or_default();
                    let line = format!("module {}: Running migration {marker} {name}", step.module);
                    on_event(RunEvent::ScriptStarted { index, line });
                }
            })
            .await?;
        self.outcome(index, step, reply)
    }

    fn outcome(&mut self, index: usize, step: &Step, reply: Value) -> Result<(), Error> {
        let text = |k: &str| reply[k].as_str().unwrap_or_default().to_string();
        if reply["ok"] != true {
            return Err(Error::ScriptFailed(Box::new(ScriptFailure {
                module: step.module.clone(),
                stage: step.stage,
                script: step.script.display().to_string(),
                message: text("error"),
                traceback: text("traceback"),
                committed_modules: Vec::new(),
            })));
        }
        if reply.get("skipped").is_some() {
            let message = format!("{} ({})", text("skipped"), step.script.display());
            self.report.skipped.push(message.clone());
            (self.on_event)(RunEvent::ScriptSkipped { index, message });
            return Ok(());
        }
        self.report.scripts_run += 1;
        let elapsed = Duration::from_secs_f64(reply["elapsed"].as_f64().unwrap_or(0.0).max(0.0));
        (self.on_event)(RunEvent::ScriptFinished {
            index,
            module: step.module.clone(),
            script: step.script.clone(),
            elapsed,
        });
        Ok(())
    }

    async fn module_done(&mut self, module: &PlanModule) -> Result<(), Error> {
        let req =
            json!({"op": "module_done", "module": module.name, "version": module.new_version});
        let on_event = &mut *self.on_event;
        let reply = self.host.call(&req, &mut |l| relay(l, on_event)).await?;
        if reply["ok"] != true {
            return Err(Error::ScriptFailed(Box::new(ScriptFailure {
                module: module.name.clone(),
                // Writing the version closes the module's loading, where post scripts run.
                stage: Stage::Post,
                script: "(writing latest_version)".into(),
                message: reply["error"].as_str().unwrap_or_default().to_string(),
                traceback: String::new(),
                committed_modules: Vec::new(),
            })));
        }
        if self.opts.commit_per_module {
            self.committed.push(module.name.clone());
        }
        self.report.modules += 1;
        (self.on_event)(RunEvent::ModuleDone {
            module: module.name.clone(),
            version: module.new_version.clone(),
        });
        Ok(())
    }
}

fn indexed<'a>(
    plan: &'a Plan,
    module: &'a str,
    stage: Stage,
) -> impl Iterator<Item = (usize, &'a Step)> + 'a {
    plan.steps
        .iter()
        .enumerate()
        .filter(move |(_, s)| s.module == module && s.stage == stage)
}
