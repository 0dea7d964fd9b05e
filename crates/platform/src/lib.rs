//! Slipway's domain and its persistence.
//!
//! - [`Metadata`]: the `slipway` metadata database, created on first use, with the schema
//!   migrations embedded in the binary (`migrations/`).
//! - [`JobQueue`]: the queue every long operation goes through (`FOR UPDATE SKIP LOCKED`).
//!
//! Projects, branches, builds, backups and upgrade requests land here as the product grows.

mod error;
mod jobs;
mod metadata;

pub use error::{PlatformError, Result};
pub use jobs::{Job, JobQueue};
pub use metadata::{create_database_if_missing, Metadata, METADATA_DB};
pub mod backups;
pub mod upgrade;
