//! PostgreSQL for Slipway.
//!
//! - [`Binaries`]: the server programs installed on this machine.
//! - [`EmbeddedCluster`]: the cluster Slipway starts under its data directory when no external
//!   server is configured (initdb on first use, run as an unprivileged user, socket + 127.0.0.1).
//! - [`stream_stdout`]: runs a client tool (pg_dump, pg_basebackup) with its output streamed.
//! - [`Server`]: how to reach a server, embedded or external, as URLs for sqlx and libpq tools.
//!
//! This crate knows nothing of Odoo or of Slipway's domain.

mod binaries;
mod cluster;
mod conn;
mod error;
mod recovery;
mod state;
mod tool;
mod user;

pub use binaries::{parse_server_version, Binaries, ServerVersion};
pub use cluster::{
    archive_settings, dir_size, ClusterOptions, ClusterStatus, EmbeddedCluster, StartOutcome,
};
pub use conn::{EmbeddedConn, Server};
pub use error::{PgError, Result};
pub use recovery::ScratchCluster;
pub use state::{ClusterState, Layout};
pub use tool::{stream_stdout, StreamedRun};
pub use user::ServerUser;
