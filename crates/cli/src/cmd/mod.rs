//! One module per command group; each turns its arguments into calls of the library crates.

mod pg;
mod serve;

use anyhow::Result;
use clap::Subcommand;

use crate::config::GlobalOptions;

/// Slipway's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Slipway server: HTTP API, web UI, workers (starts the embedded PostgreSQL).
    Serve(serve::ServeArgs),
    /// Manage the embedded PostgreSQL of the data directory.
    #[command(subcommand)]
    Pg(pg::PgCommand),
}

impl Command {
    /// Runs the command.
    pub async fn run(self, global: &GlobalOptions) -> Result<()> {
        match self {
            Command::Serve(args) => serve::run(args, global).await,
            Command::Pg(cmd) => pg::run(cmd, global).await,
        }
    }

    /// Whether this is a long-running server process (which logs more by default).
    pub fn is_server(&self) -> bool {
        matches!(self, Command::Serve(_))
    }
}
