//! The Odoo runtime of builds: a registered source tree ([`OdooSource`]), the
//! `odoo.conf` of a build ([`OdooConf`]), one-shot `odoo-bin` runs
//! ([`run_task`]), long-running servers ([`OdooServer`]), the reading of
//! Odoo's logs ([`classify_log`]) and Slipway's own module `slipway_connect`
//! ([`connect`]), which every build loads server-wide for the Connect button.
//!
//! Everything here drives `odoo-bin` through its command line and its
//! configuration file only, so a real Odoo and Slipway's stand-in
//! (`tests/fixtures/odoo-standin`) are interchangeable.

mod conf;
pub mod connect;
mod log;
mod process;
mod source;

pub use conf::{OdooConf, SmtpSettings};
pub use log::{
    classify_log, record_of, Cause, LogClassifier, LogVerdict, TestCounts, HARMLESS_WARNINGS,
};
pub use process::{
    free_port, http_status, kill_processes_with_arg, link_filestore, run_task, run_task_in,
    run_task_with, stop_pid, OdooServer, OdooTask, TaskOutcome, TestSelection,
};
pub use source::{series_from_release, OdooSource};
