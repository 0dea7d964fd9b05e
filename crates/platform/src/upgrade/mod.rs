//! The upgrade platform's domain: requests filed through `/database/v1`, their files and their
//! processing.

pub mod files;
mod keys;
pub mod rules;
mod store;

pub use files::{offered_targets, upgraded_name, UpgradeFiles};
pub use keys::{generate_key, key_digest, key_matches};
pub use store::{Inspection, UpgradeRecord, UpgradeStore};
