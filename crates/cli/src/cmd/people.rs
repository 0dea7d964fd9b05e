//! `slipway user create | list | passwd | key add|list|remove`, `slipway token create | list |
//! revoke` and `slipway odoo add | list`: people, their SSH keys and API tokens, and Odoo
//! runtimes, through the API.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use slipway_api::people::{
    ApiToken, CreatedToken, CreatedUser, NewSshKey, NewToken, NewUserRequest, PasswordChange,
    SshKey, User,
};
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
    /// Your SSH public keys, which log you in to builds (`ssh -p 2222 <build>@host`).
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Register a public key (one OpenSSH line, as in ~/.ssh/id_ed25519.pub).
    Add(AddKeyArgs),
    /// List your keys.
    List(JsonArg),
    /// Remove one of your keys by its id.
    Remove(RemoveKeyArgs),
}

#[derive(Debug, Args)]
pub struct AddKeyArgs {
    /// The public key file, or `-` for standard input.
    file: std::path::PathBuf,
    /// What to call it (the key's comment by default).
    #[arg(long, default_value = "")]
    name: String,
}

#[derive(Debug, Args)]
pub struct RemoveKeyArgs {
    /// The key's id (`slipway user key list`).
    id: i64,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new API token for yourself; prints it (shown once).
    Create(CreateTokenArgs),
    /// List your tokens: label, creation, last use, expiry.
    List(JsonArg),
    /// Revoke one of your tokens: the next request with it is refused.
    Revoke(RevokeTokenArgs),
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// What it is for (`ci`, `laptop`).
    #[arg(long, default_value = "")]
    label: String,
    /// Days it lives (1 to 3650); without it the token does not expire.
    #[arg(long, value_name = "DAYS")]
    expires_in_days: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeTokenArgs {
    /// The token's id (`slipway token list`).
    id: i64,
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
        UserCommand::Key(cmd) => run_key(cmd, &api).await,
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

async fn run_key(cmd: KeyCommand, api: &Client) -> Result<()> {
    match cmd {
        KeyCommand::Add(args) => {
            let public_key = read_key_file(&args.file)?;
            let key: SshKey = api
                .post_as(
                    "/api/me/keys",
                    &NewSshKey {
                        name: args.name,
                        public_key,
                    },
                )
                .await?;
            println!("key #{} {} added ({})", key.id, key.fingerprint, key.name);
            Ok(())
        }
        KeyCommand::List(args) => {
            let keys: Vec<SshKey> = api.get_as("/api/me/keys").await?;
            if args.json {
                return print_answer(&keys);
            }
            for k in &keys {
                let used = k
                    .last_used_at
                    .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "never used".into());
                println!(
                    "{:<5} {:<24} {:<12} {} {}",
                    k.id, k.name, k.algorithm, k.fingerprint, used
                );
            }
            Ok(())
        }
        KeyCommand::Remove(args) => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/me/keys/{}", args.id),
                None::<&()>,
            )
            .await?;
            println!("key #{} removed", args.id);
            Ok(())
        }
    }
}

/// The text of a public key file, `-` being standard input.
fn read_key_file(file: &std::path::Path) -> Result<String> {
    if file == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the public key from standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .with_context(|| format!("reading the public key {}", file.display()))
}

pub async fn run_token(
    cmd: TokenCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        TokenCommand::Create(args) => {
            let created: CreatedToken = api
                .post_as(
                    "/api/me/tokens",
                    &NewToken {
                        label: args.label,
                        expires_in_days: args.expires_in_days,
                    },
                )
                .await?;
            if args.json {
                return print_answer(&created);
            }
            println!(
                "token #{} created{}",
                created.token.id,
                expiry_words(&created.token)
            );
            println!("token (shown once): {}", created.secret);
            Ok(())
        }
        TokenCommand::List(args) => {
            let tokens: Vec<ApiToken> = api.get_as("/api/me/tokens").await?;
            if args.json {
                return print_answer(&tokens);
            }
            println!(
                "{:<6} {:<20} {:<17} {:<17} EXPIRES",
                "ID", "LABEL", "CREATED", "LAST USED"
            );
            let minute = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
            for t in &tokens {
                println!(
                    "{:<6} {:<20} {:<17} {:<17} {}",
                    t.id,
                    t.label,
                    minute(&t.created_at),
                    t.last_used_at.as_ref().map_or("never".into(), minute),
                    t.expires_at.as_ref().map_or("never".into(), minute),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke(args) => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/me/tokens/{}", args.id),
                None::<&()>,
            )
            .await?;
            println!("token #{} revoked", args.id);
            Ok(())
        }
    }
}

/// `, expires 2027-01-06 10:00 UTC`, or nothing for a token that does not expire.
fn expiry_words(token: &ApiToken) -> String {
    token
        .expires_at
        .map(|at| format!(", expires {}", at.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default()
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
