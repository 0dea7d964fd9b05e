//! The upgrade platform's domain: requests filed through `/database/v1`, their files and their
//! processing.
//!
//! - [`rules`]: the API's pure rules (validation of `create`, which call is allowed in which
//!   state, the documented failure reasons), unit-tested without a database.
//! - [`UpgradeStore`]: requests and contracts in the metadata database; [`UpgradeFiles`]: each
//!   request's folder (the dump, the results, the log, the notes).
//! - [`Processor`] and [`run_worker`]: the `upgrade.process` job, one request at a time.
//! - [`UpgradeService`]: the operations the HTTP API and the SFTP endpoint call (create, upload,
//!   process, skip_test, cancel, status...), each returning the request or the documented
//!   [`rules::Failure`]s.
//!
//! - [`engines`]: upgrade engines (a series' Odoo runtime + OpenUpgrade + upgrade-util +
//!   `openupgradelib`): their rows ([`EngineStore`], migration 0010), OpenUpgrade fetched from
//!   PyPI or checked in a folder, and [`engines::readiness`] (pure). The targets `create`
//!   offers, and the series a request goes through, are those of the ready engines.
//!
//! - [`delegate`]: where a branch's upgrade is sent ([`Delegate`]): [`delegate::InProcess`]
//!   files it in this store under its own contract, with the branch's custom modules (left at
//!   their old version, `to upgrade`, for the branch's code) and the current step recorded for
//!   its progress.
//!
//! It knows nothing of projects and builds, nor of HTTP. Runtimes are the platform's, so this
//! crate only *asks* which engines are ready, through [`EngineCatalog`], which the platform
//! implements (the platform depends on this crate, as on the backup engine, never the reverse): the engines'
//! rows and OpenUpgrade's files are here, joining them with runtimes and virtualenvs is there,
//! and the crate graph stays one-way.
//!
//! **Invariants:** a request's key is stored only as a digest; a request moves only along the
//! documented states (`rules::check_state`), each move a compare-and-set in the database.
//!
//! ## Design notes
//!
//! The upgrade platform's domain: `rules.rs` (pure: `create` validation reporting every failure at
//! once, the states and which call each allows, Odoo's `human_size`, the API's date and `HH:MM`
//! formats), keys (128-bit, only their SHA-256 stored, compared in constant time:
//! `slipway-secrets`), `store.rs` (contracts and requests, state moves as conditional `UPDATE`s so
//! two callers never both win), `files.rs` (`<data-dir>/upgrade/<id>/...`), `engines.rs` (below),
//! `preflight.rs` (pure: OpenUpgrade's `apriori.py` read, and whether a step's Odoo can take
//! the installed modules), `process.rs` (inspect -> restore into `slipway_upgrade_<id>` as the
//! database's owner role -> per major version: the preflight check, then the step's engine
//! runs `odoo-bin -u all` with `openupgrade_framework` loaded server-wide, the upgrade path
//! (upgrade-util's `src`, OpenUpgrade's scripts, the standard scripts of the series) and
//! `OPENUPGRADE_TARGET_VERSION`/`OPENUPGRADE_USE_DEMO`, in the sandbox (`process/odoo.rs`),
//! its log appended to `upgrade.log` and judged by the runner's log classifier -> a stock Odoo
//! of the target, without OpenUpgrade, must answer `/web/login` with 200 and every installed
//! module carry the target series -> neutralize `test` requests -> write the upgraded dump in
//! the input's format, its SQL, `notes.html` (steps, modules old -> new, renames, merges,
//! coverage warnings, log warnings by kind) and `upgrade.log`; any failure removes partial
//! results and sets `customer_message`), `worker.rs` (the `upgrade.process` job loop: heartbeats,
//! jobs released on shutdown so a restart resumes them, from the uploaded dump).

pub mod delegate;
pub mod engines;
mod error;
pub mod files;
pub mod notes;
pub mod preflight;
mod process;
pub mod rules;
mod service;
mod store;
mod worker;

pub use delegate::{Delegate, Filed, Progress, UpgradeOrder};
pub use engines::{
    EngineCatalog, EngineFacts, EngineStatus, EngineStore, OpenUpgradeSource, RuntimeFact,
    UpgradeEngine,
};
pub use error::{Error, Result};
pub use files::{upgraded_name, RequestFile, UpgradeFiles};
pub use process::Processor;
pub use service::{
    CallError, CallResult, Credentials, ReceivedFile, RequestStatus, UpgradeService,
};
pub use store::{Contract, Inspection, UpgradeRecord, UpgradeStore};
pub use worker::run_worker;
