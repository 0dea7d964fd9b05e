//! `slipway`: the server (`serve`) and the client commands for everything it does.
//!
//! ## Design notes
//!
//! clap derive. `config.rs` holds the one configuration struct (flags > environment > defaults);
//! `cmd/` has one module per command group (`serve`, `pg`, `contract`, `addons`, `migrate`, `dump`,
//! `db`, `backup` (with `restore --at TIME`, `pitr-window`, `base-backup`), and the API clients
//! `odoo`, `upgrade engine`, `user`, `project`, `branch`, `build`); `serve` also starts the upgrade and build workers
//! (the build workers once the running builds' servers are back, so a resumed production update
//! never starts production's server alongside the startup), the scheduler and the WAL ingest (every
//! 10 s), and creates the first administrator (token printed once, saved 0600 in
//! `<data-dir>/cli-token` for the CLI on that machine); `client.rs` is the HTTP client of `/api`
//! (`backup import --into PROJECT/BRANCH` streams the dump to the import route; the other `backup`
//! commands work on the repository directly); `output.rs` prints `--json` or aligned text. Errors
//! are `anyhow` with context, printed on one line, exit code 1.

mod client;
mod cmd;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cmd::Command;
use crate::config::GlobalOptions;

/// Odoo.sh's workflow on your own servers: branches become tested builds, production updates
/// roll back on failure, backups run themselves, and dumps get upgraded.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(flatten)]
    client: client::ClientOptions,
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.ends_at_a_closed_pipe() {
        end_at_a_closed_pipe();
    }
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.command.run(&cli.global, &cli.client)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Restores SIGPIPE's default action, which Rust's runtime ignores: `println!` into a pipe
/// its reader closed (`slipway build list | head`) would otherwise panic.
fn end_at_a_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: set once, before any thread starts, to the default disposition.
    if let Err(e) = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) } {
        eprintln!("warning: cannot restore SIGPIPE: {e}");
    }
}

/// Logs go to stderr, filtered by `RUST_LOG`; by default the server says what it does and
/// client commands only warn.
fn init_logging(command: &Command) {
    let default = if command.is_server() { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
