//! The contract of `/api`: what the CLI and the web UI send and what the server answers.
//!
//! The server serializes these types and the CLI deserializes the same ones, so a renamed or
//! retyped field breaks the build of one side instead of silently reading `null` on the other.
//! Where an answer is a domain record as it is (a backup, a build), the record's own type is the
//! contract and this crate re-exports it from the crate that owns it.
//!
//! Errors have one shape, [`ErrorBody`]: `{"error": {"code": "not_found", "message": "..."}}`,
//! with the matching HTTP status; a request body that is not the JSON a route takes is answered
//! in that shape too (`invalid`), never as plain text.
//!
//! **Invariants:** every field rename is a rename here, on both sides at once; nothing in this
//! crate does I/O.

pub mod backups;
pub mod builds;
mod error;
pub mod people;
pub mod projects;
pub mod upgrade;

pub use error::{ErrorBody, ErrorDetail};
