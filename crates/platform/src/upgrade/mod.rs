//! The upgrade platform's domain: requests filed through `/database/v1`, their files and their
//! processing.

pub mod files;
pub(crate) mod keys;
pub mod notes;
mod process;
pub mod rules;
mod store;
mod worker;

pub use files::{offered_targets, upgraded_name, UpgradeFiles};
pub use keys::{generate_key, key_digest, key_matches};
pub use process::Processor;
pub use store::{Inspection, UpgradeRecord, UpgradeStore};
pub use worker::{run_worker, PROCESS_JOB};
