//! `slipway user create | list` and `slipway odoo add | list`: people and Odoo runtimes,
//! through the API.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use slipway_api::people::{CreatedUser, NewUserRequest, PasswordChange, User};
use slipway_api::projects::{NewRuntime, Runtime};

use super::projects::print_answer;
use crate::client::{Client, ClientOptions};
use crate::config::GlobalOptions;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints their first API token (shown once).
    Create(CreateUserArgs),
    /// List users.
    List(JsonArg),
    /// Set a user's web UI password, read from the first line of standard input (Slipway
    /// admins for anyone, users for themselves).
    Passwd(PasswdArgs),
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Login.
    login: String,
}

#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Login (lowercase letters, digits, `.`, `_`, `-`).
    login: String,
    /// Display name.
    #[arg(long, default_value = "")]
    name: String,
    /// Email.
    #[arg(long)]
    email: Option<String>,
    /// Make them a Slipway administrator.
    #[arg(long)]
    admin: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OdooCommand {
    /// Register the Odoo source tree (holding `odoo-bin`) builds of SERIES run.
    Add(AddRuntimeArgs),
    /// List registered Odoo runtimes.
    List(JsonArg),
}

#[derive(Debug, Args)]
pub struct AddRuntimeArgs {
    /// Odoo series, e.g. 17.0.
    series: String,
    /// The Odoo source tree (its `odoo-bin`, `odoo/release.py`, `addons/`).
    #[arg(long)]
    source: std::path::PathBuf,
}

pub async fn run_user(
    cmd: UserCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        UserCommand::Create(args) => {
            let created: CreatedUser = api
                .post_as(
                    "/api/users",
                    &NewUserRequest {
                        login: args.login,
                        name: args.name,
                        email: args.email,
                        admin: args.admin,
                    },
                )
                .await?;
            if args.json {
                return print_answer(&created);
            }
            println!("user {} created", created.user.login);
            println!("token (shown once): {}", created.token);
            Ok(())
        }
        UserCommand::Passwd(args) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            api.call(
                reqwest::Method::PUT,
                &format!(
                    "/api/users/{}/password",
                    crate::client::segment(&args.login)
                ),
                Some(&PasswordChange {
                    password: password.to_string(),
                }),
            )
            .await?;
            println!("password of {} set", args.login);
            Ok(())
        }
        UserCommand::List(args) => {
            let users: Vec<User> = api.get_as("/api/users").await?;
            if args.json {
                return print_answer(&users);
            }
            for u in &users {
                println!(
                    "{:<20} {:<30} {}",
                    u.login,
                    u.name,
                    if u.is_admin { "admin" } else { "" }
                );
            }
            Ok(())
        }
    }
}

pub async fn run_odoo(
    cmd: OdooCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        OdooCommand::Add(args) => {
            let source = std::fs::canonicalize(&args.source)
                .with_context(|| format!("Odoo source {}", args.source.display()))?;
            let runtime: Runtime = api
                .post_as(
                    "/api/runtimes",
                    &NewRuntime {
                        series: args.series,
                        source: source.display().to_string(),
                    },
                )
                .await?;
            println!("Odoo {} registered: {}", runtime.series, runtime.source_dir);
            Ok(())
        }
        OdooCommand::List(args) => {
            let runtimes: Vec<Runtime> = api.get_as("/api/runtimes").await?;
            if args.json {
                return print_answer(&runtimes);
            }
            for r in &runtimes {
                println!("{:<6} {}", r.series, r.source_dir);
            }
            Ok(())
        }
    }
}
