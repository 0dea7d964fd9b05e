//! One module per command group; each turns its arguments into calls of the library crates.

mod addons;
mod backup;
mod branch_upgrade;
mod contract;
mod db;
mod dump;
mod migrate;
mod people;
mod pg;
mod progress;
mod projects;
mod serve;
mod upgrade;

use anyhow::Result;
use clap::Subcommand;

use crate::client::ClientOptions;
use crate::config::GlobalOptions;

/// Slipway's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Slipway server: HTTP API, web UI, workers (starts the embedded PostgreSQL).
    Serve(Box<serve::ServeArgs>),
    /// Manage the contracts allowed to use the upgrade platform.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// Manage the embedded PostgreSQL of the data directory.
    #[command(subcommand)]
    Pg(pg::PgCommand),
    /// Odoo modules found in addons paths.
    #[command(subcommand)]
    Addons(addons::AddonsCommand),
    /// Odoo upgrade scripts: what an update would run, run it, or lint the scripts.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
    /// Odoo dumps: inspect, restore and create them.
    #[command(subcommand)]
    Dump(dump::DumpCommand),
    /// Odoo databases: neutralize and clone them.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Odoo runtimes: register the Odoo source tree each series' builds run.
    #[command(subcommand)]
    Odoo(people::OdooCommand),
    /// Users and their API tokens.
    #[command(subcommand)]
    User(people::UserCommand),
    /// Your API tokens: create (with an expiry), list (with their last use), revoke.
    #[command(subcommand)]
    Token(people::TokenCommand),
    /// Projects (each a Git repository of Odoo modules hosted at /git/NAME.git).
    #[command(subcommand)]
    Project(projects::ProjectCommand),
    /// Branches: stages, settings, history, rebuilds.
    #[command(subcommand)]
    Branch(projects::BranchCommand),
    /// Builds: list, show, logs, stop, keep.
    #[command(subcommand)]
    Build(projects::BuildCommand),
    /// Backups: deduplicated, replicated, verified by a restore drill.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// The upgrade platform's engines: `slipway upgrade engine add|list|remove`.
    #[command(subcommand)]
    Upgrade(upgrade::UpgradeCommand),
}

impl Command {
    /// Runs the command.
    pub async fn run(self, global: &GlobalOptions, client: &ClientOptions) -> Result<()> {
        match self {
            Command::Serve(args) => serve::run(*args, global).await,
            Command::Pg(cmd) => pg::run(cmd, global).await,
            Command::Contract(cmd) => contract::run(cmd, global).await,
            Command::Addons(cmd) => addons::run(cmd),
            Command::Migrate(cmd) => migrate::run(cmd, global).await,
            Command::Dump(cmd) => dump::run(cmd, global).await,
            Command::Db(cmd) => db::run(cmd, global).await,
            Command::Odoo(cmd) => people::run_odoo(cmd, client, global).await,
            Command::User(cmd) => people::run_user(cmd, client, global).await,
            Command::Token(cmd) => people::run_token(cmd, client, global).await,
            Command::Project(cmd) => projects::run_project(cmd, client, global).await,
            Command::Branch(cmd) => projects::run_branch(cmd, client, global).await,
            Command::Build(cmd) => projects::run_build(cmd, client, global).await,
            Command::Backup(cmd) => backup::run(cmd, global, client).await,
            Command::Upgrade(cmd) => upgrade::run(cmd, client, global).await,
        }
    }

    /// Whether this is a long-running server process (which logs more by default).
    pub fn is_server(&self) -> bool {
        matches!(self, Command::Serve(_))
    }

    /// Whether the command only prints what it read (the API's clients, `addons`): such a
    /// command reading into `| head` ends quietly at the closed pipe, as Unix tools do. The
    /// others keep Rust's ignored SIGPIPE, because they write into pipes of child processes
    /// (`psql`, `pg_dump`) and must report a child that died, not vanish.
    pub fn ends_at_a_closed_pipe(&self) -> bool {
        matches!(
            self,
            Command::Odoo(_)
                | Command::User(_)
                | Command::Token(_)
                | Command::Project(_)
                | Command::Branch(_)
                | Command::Build(_)
                | Command::Addons(_)
                | Command::Upgrade(_)
        )
    }
}
