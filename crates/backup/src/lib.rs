#![warn(missing_docs)]
//! Slipway's backups: which to keep ([`retention`]) and where their bytes live ([`store`]).
//!
//! [`retention::plan_retention`] is a pure function of the backups, "now" and a policy.
//! [`store::Store`] is a content-addressed repository of zstd-compressed, content-defined
//! chunks on a local folder, with a garbage collector that is safe during backups.

mod error;
pub mod retention;
pub mod store;

pub use error::Error;
