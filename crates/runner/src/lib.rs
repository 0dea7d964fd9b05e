//! Running code that is not ours: the Python host that executes Odoo upgrade
//! scripts (`migrate(cr, version)`) for a [`slipway_odoo::Plan`] on one real
//! psycopg2 connection, the reader of a database's module registry the plan is
//! decided from, and the Odoo runtime of builds: Odoo source trees and their
//! `odoo-bin` ([`odoo`]), virtualenvs ([`venv`]) and the module folders of a
//! checkout ([`modules`]).
//!
//! ## Design notes
//!
//! Code that is not ours. `run_plan` starts ONE `python3` process (`host.py`, embedded with
//! `include_str!`) holding ONE psycopg2 connection, and drives it over JSON lines on stdin/stdout
//! (scripts' own prints are relayed from stderr, so they cannot break the protocol). `cr` is Odoo's
//! cursor API with psycopg2 semantics. Default: the whole run is one transaction and every script
//! has its own savepoint; `commit_per_module` reproduces Odoo. `read_db_state` reads
//! `ir_module_module`. `odoo/` is the Odoo runtime adapter: `OdooSource` (a registered tree, its
//! series read from `odoo/release.py`), `OdooConf` (a build's odoo.conf, written 0600), `run_task`
//! (one-shot `odoo-bin -i/-u --stop-after-init` into a log, judged by `classify_log`: ERROR and
//! WARNING lines of Odoo's log format, the `Cause` (the first non-test error's exception and
//! module, else the first failing test's) and Odoo's `TestCounts`) and `OdooServer` (a supervised server in its own process
//! group, health-checked on `/web/health`); `venv.rs` keeps virtualenvs keyed by the hash of the
//! requirement files (reused, locked against concurrent creation, removed when pip fails);
//! `modules.rs` finds a checkout's module folders and hashes a module set for the template cache.
//! `stop_pid` stops a server of a previous Slipway process, only if that pid still runs Odoo.
//! `odoo/connect.rs` ships Slipway's own Odoo module `slipway_connect` (its Python in
//! `crates/runner/odoo/`, embedded): every build loads it server-wide (`OdooConf::connect_key`
//! writes `server_wide_modules` and the build's key), and its `POST /slipway/connect/session`
//! opens the administrator's session for a token signed with that key, so Connect needs no
//! password (Odoo 16 to 18: it does what `Session.finalize` does after a password check).
//! Every process can run in a `slipway_sandbox::Jail` (`run_task_in`, `OdooServer::start_in`,
//! `RunOptions::sandbox`, `Venvs::sandboxed`): paths given to the program are translated to
//! the sandbox's with `Sandbox::inside`, and `PythonInstall` binds the interpreter's
//! installation at its own path (virtualenvs name it by absolute paths).
//! Builds' tests run on `tests/fixtures/odoo-standin`, an Odoo-CLI stand-in (not Odoo; its README
//! says what it speaks), or on a real tree with `SLIPWAY_TEST_ODOO_SRC`.

mod dbstate;
mod host;
pub mod modules;
pub mod odoo;
mod run;
pub mod venv;

pub use dbstate::read_db_state;
pub use run::{run_plan, RunEvent, RunOptions, RunReport};
use slipway_odoo::Stage;

/// What failed in a run, for the user: where, why, and Python's traceback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module {module}: {stage} script {script} failed: {message}\n{traceback}")]
pub struct ScriptFailure {
    /// Module.
    pub module: String,
    /// The script's stage: the plan's, which the host is told and does not report back.
    pub stage: Stage,
    /// Script path.
    pub script: String,
    /// What went wrong (ORM needed, syntax error, exception).
    pub message: String,
    /// The Python traceback.
    pub traceback: String,
    /// Modules whose work was committed before the failure (`--commit-per-module`).
    pub committed_modules: Vec<String>,
}

/// Errors of the runner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `python3` could not be started.
    #[error("cannot start {python}: {source} (install Python 3, or point --python at it)")]
    PythonMissing {
        /// The interpreter tried.
        python: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// psycopg2 is not importable by the interpreter.
    #[error("{0}")]
    Psycopg2Missing(String),
    /// The host process misbehaved (died, spoke nonsense).
    #[error("upgrade-script host failed: {0}")]
    Host(String),
    /// Connecting or talking to the database failed.
    #[error("database {database}: {message}")]
    Database {
        /// Database name or URL without password.
        database: String,
        /// What PostgreSQL said.
        message: String,
    },
    /// The database has no Odoo module registry.
    #[error("database {0} is not an Odoo database (no ir_module_module table)")]
    NotOdoo(String),
    /// A script failed; the run was rolled back (or, per module, partly committed).
    #[error("{0}")]
    ScriptFailed(Box<ScriptFailure>),
    /// A directory is not a usable Odoo source tree.
    #[error("{root}: not an Odoo source tree: {message}")]
    OdooSource {
        /// The directory given.
        root: std::path::PathBuf,
        /// What is missing or unreadable.
        message: String,
    },
    /// A virtualenv could not be made (python missing, pip failed).
    #[error("{0}")]
    Venv(String),
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// An Odoo server did not become healthy.
    #[error("{message}\n--- last lines of the log ---\n{log_tail}")]
    Unhealthy {
        /// What happened (exited with code N, no answer within T).
        message: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The sandbox could not be prepared.
    #[error("{0}")]
    Sandbox(String),
    /// An odoo.conf value cannot be written (a line break would inject settings).
    #[error("odoo.conf: {0}")]
    Conf(String),
}

impl Error {
    /// An [`Error::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
