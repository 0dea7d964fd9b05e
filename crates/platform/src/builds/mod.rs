//! Builds: a revision + a database + an Odoo server process + its logs, with a state
//! (pending, building, running, stopped, done) and a result (success, warning, failed,
//! killed) kept apart.
//!
//! - [`naming`]: build names (pure).
//! - [`BuildStore`]: builds in the metadata database; enqueueing a build supersedes the
//!   branch's older pending builds in the same transaction, so two racing pushes leave one.
//! - [`pipeline`]: what a worker does with a build job, each process in the build's sandbox
//!   (`slipway-sandbox`); [`SessionProgram`] and `Pipeline::command_in_build` start a
//!   person's program (Shell, SSH) in that same sandbox.
//! - [`OdooLogins`]: the key each build's `slipway_connect` checks Connect's tokens with, and
//!   the random admin password of production databases Slipway creates (both derived from a
//!   server secret, never stored).

mod development;
mod inside;
mod interrupted;
pub mod naming;
mod odoo_logins;
pub mod pipeline;
mod production;
mod production_upgrade;
mod staging;
mod store;
pub mod supervisor;
pub mod templates;

pub use inside::SessionProgram;
pub use odoo_logins::OdooLogins;
pub use store::{Build, BuildResult, BuildState, BuildStore, Taken};
