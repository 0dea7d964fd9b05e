//! `slipway project | branch | build ...`: projects, their branches and builds, through the
//! API.

use std::io::Write;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::people::JsonArg;
use crate::client::{segment, Client, ClientOptions};
use crate::config::GlobalOptions;
use crate::output::{print_fields, print_json};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project (and its Git repository at /git/NAME.git).
    Create(CreateProjectArgs),
    /// List projects.
    List(JsonArg),
    /// Show a project.
    Show(ProjectArg),
    /// List a project's collaborators and their roles.
    Members(ProjectArg),
    /// Give a user a role in a project (admin, developer, tester), or remove them.
    Member(MemberArgs),
    /// Change a project's settings.
    Set(SetProjectArgs),
}

#[derive(Debug, Args)]
pub struct MemberArgs {
    /// Project name.
    project: String,
    /// The user's login.
    login: String,
    /// Their role: admin (everything), developer (development builds), tester (staging and
    /// development databases).
    #[arg(required_unless_present = "remove")]
    role: Option<String>,
    /// Remove them from the project.
    #[arg(long, conflicts_with = "role")]
    remove: bool,
}

#[derive(Debug, Args)]
pub struct SetProjectArgs {
    /// Project name.
    project: String,
    /// At most this many development builds run at once (the oldest not kept is stopped).
    #[arg(long)]
    max_running_dev_builds: Option<u32>,
    /// Development databases are dropped after this many days.
    #[arg(long)]
    dev_database_days: Option<u32>,
    /// End of the trial (RFC 3339), or `none` to make it a regular project.
    #[arg(long)]
    trial_until: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateProjectArgs {
    /// Name: lowercase letters, digits and `-`.
    name: String,
    /// Odoo series its builds run, e.g. 17.0.
    #[arg(long)]
    odoo: String,
    /// A trial project: production and staging go back to development after 15 days.
    #[arg(long)]
    trial: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ProjectArg {
    /// Project name.
    project: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BranchCommand {
    /// List a project's branches by stage, with their last build.
    List(ProjectArg),
    /// Show a branch, its settings and builds.
    Show(BranchArg),
    /// Change a branch's settings or stage.
    Set(SetBranchArgs),
    /// A branch's history: pushes (commits, authors) and platform events.
    History(BranchArg),
    /// Build the branch's head again.
    Rebuild(BranchArg),
    /// Merge a branch's code into another (a real git merge; code only, never data).
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Project name.
    project: String,
    /// The branch whose code is merged.
    branch: String,
    /// The branch it is merged into (and then built).
    #[arg(long)]
    into: String,
}

#[derive(Debug, Args)]
pub struct BranchArg {
    /// Project name.
    project: String,
    /// Branch name.
    branch: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SetBranchArgs {
    /// Project name.
    project: String,
    /// Branch name.
    branch: String,
    /// Modules development builds install: `own` (the branch's), `all` (tests off), or a
    /// comma-separated list.
    #[arg(long)]
    install: Option<String>,
    /// Run the tests in development builds.
    #[arg(long)]
    tests: Option<bool>,
    /// Odoo --test-tags for development builds.
    #[arg(long)]
    test_tags: Option<String>,
    /// Staging behaviour upon new commit: `update_previous` or `new_build`.
    #[arg(long)]
    staging_behaviour: Option<String>,
    /// Move the branch to this stage (development, staging, production).
    #[arg(long)]
    stage: Option<String>,
    /// Confirm a promotion to production.
    #[arg(long)]
    confirm: bool,
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// List a project's builds (newest first).
    List(ListBuildsArgs),
    /// Show a build.
    Show(BuildArg),
    /// Print a build log (`pip.log`, `install.log`, `odoo.log`...); --follow streams it.
    Logs(LogsArgs),
    /// Stop a build (kill it if unfinished, stop its server if running).
    Stop(BuildArg),
    /// Keep a development build running beyond the project's limit (--off: stop keeping it).
    Keep(KeepArgs),
}

#[derive(Debug, Args)]
pub struct ListBuildsArgs {
    /// Project name.
    project: String,
    /// Only this branch.
    #[arg(long)]
    branch: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArg {
    /// Build id.
    id: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct KeepArgs {
    /// Build id.
    id: i64,
    /// Stop keeping it: the limit may stop it again.
    #[arg(long)]
    off: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Build id.
    id: i64,
    /// Log name.
    #[arg(default_value = "install.log")]
    name: String,
    /// Follow the log as it grows (ends by itself after 5 minutes).
    #[arg(long, short)]
    follow: bool,
}

pub async fn run_project(
    cmd: ProjectCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        ProjectCommand::Create(args) => {
            let project = api
                .post(
                    "/api/projects",
                    &json!({"name": args.name, "odoo": args.odoo, "trial": args.trial}),
                )
                .await?;
            if args.json {
                return print_json(&project);
            }
            println!(
                "project {} created (Odoo {}); push to {}{}",
                project["name"].as_str().unwrap_or("?"),
                project["series"].as_str().unwrap_or("?"),
                client.server.trim_end_matches('/'),
                project["git_path"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        ProjectCommand::List(args) => {
            let projects = api.get("/api/projects").await?;
            if args.json {
                return print_json(&projects);
            }
            for p in projects.as_array().into_iter().flatten() {
                println!("{:<30} Odoo {}", text(&p["name"]), text(&p["series"]));
            }
            Ok(())
        }
        ProjectCommand::Set(args) => {
            let path = format!("/api/projects/{}", segment(&args.project));
            let current = api.get(&path).await?;
            let mut settings = current["settings"].clone();
            if let Some(n) = args.max_running_dev_builds {
                settings["max_running_dev_builds"] = json!(n);
            }
            if let Some(days) = args.dev_database_days {
                settings["dev_database_days"] = json!(days);
            }
            let mut body = json!({"settings": settings});
            match args.trial_until.as_deref() {
                Some("none") => body["trial_until"] = Value::Null,
                Some(until) => body["trial_until"] = json!(until),
                None => {}
            }
            let project = api.call(Method::PATCH, &path, Some(&body)).await?;
            println!(
                "{}: settings {}, trial until {}",
                text(&project["name"]),
                project["settings"],
                text(&project["trial_until"])
            );
            Ok(())
        }
        ProjectCommand::Show(args) => {
            let project = api
                .get(&format!("/api/projects/{}", segment(&args.project)))
                .await?;
            if args.json {
                return print_json(&project);
            }
            print_fields(&[
                ("name", text(&project["name"])),
                ("odoo", text(&project["series"])),
                ("git", text(&project["git_path"])),
                ("created", text(&project["created_at"])),
            ]);
            Ok(())
        }
        ProjectCommand::Members(args) => {
            let path = format!("/api/projects/{}/members", segment(&args.project));
            let members = api.get(&path).await?;
            if args.json {
                return print_json(&members);
            }
            print_members(&members);
            Ok(())
        }
        ProjectCommand::Member(args) => {
            let path = format!("/api/projects/{}/members", segment(&args.project));
            let current = api.get(&path).await?;
            let mut list: Vec<Value> = current
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["login"] != args.login.as_str())
                .map(|m| json!({"login": m["login"], "role": m["role"]}))
                .collect();
            if let Some(role) = &args.role {
                list.push(json!({"login": args.login, "role": role}));
            }
            let members = api.call(Method::PUT, &path, Some(&list)).await?;
            print_members(&members);
            Ok(())
        }
    }
}

fn print_members(members: &Value) {
    for m in members.as_array().into_iter().flatten() {
        println!(
            "{:<24} {:<10} {}",
            text(&m["login"]),
            text(&m["role"]),
            text(&m["name"])
        );
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn branch_path(project: &str, branch: &str) -> String {
    format!(
        "/api/projects/{}/branches/{}",
        segment(project),
        segment(branch)
    )
}

pub async fn run_branch(
    cmd: BranchCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        BranchCommand::List(args) => {
            let branches = api
                .get(&format!(
                    "/api/projects/{}/branches",
                    segment(&args.project)
                ))
                .await?;
            if args.json {
                return print_json(&branches);
            }
            for b in branches.as_array().into_iter().flatten() {
                let last = &b["last_build"];
                println!(
                    "{:<12} {:<30} {:<10} #{} {} {}",
                    text(&b["stage"]),
                    text(&b["name"]),
                    short(&b["head"]),
                    text(&last["id"]),
                    text(&last["state"]),
                    text(&last["result"])
                );
            }
            Ok(())
        }
        BranchCommand::Show(args) => {
            let branch = api.get(&branch_path(&args.project, &args.branch)).await?;
            if args.json {
                return print_json(&branch);
            }
            print_fields(&[
                ("branch", text(&branch["name"])),
                ("stage", text(&branch["stage"])),
                ("head", text(&branch["head"])),
                ("settings", branch["settings"].to_string()),
            ]);
            print_builds(&branch["builds"]);
            Ok(())
        }
        BranchCommand::Set(args) => set_branch(&api, args).await,
        BranchCommand::Merge(args) => {
            let path = format!("{}/merge", branch_path(&args.project, &args.branch));
            let answer = api.post(&path, &json!({"into": args.into})).await?;
            match answer["result"].as_str() {
                Some("merged") => println!(
                    "merged {} into {} ({}); build #{} queued",
                    args.branch,
                    args.into,
                    short(&answer["sha"]),
                    text(&answer["build"])
                ),
                _ => println!("{} already contains {}", args.into, args.branch),
            }
            Ok(())
        }
        BranchCommand::History(args) => {
            let events = api
                .get(&format!(
                    "{}/history",
                    branch_path(&args.project, &args.branch)
                ))
                .await?;
            if args.json {
                return print_json(&events);
            }
            for e in events.as_array().into_iter().flatten() {
                println!(
                    "{}  {:<16} {}",
                    text(&e["at"]),
                    text(&e["kind"]),
                    text(&e["detail"]["message"])
                );
                for c in e["detail"]["commits"].as_array().into_iter().flatten() {
                    println!(
                        "      {} {} <{}> {}",
                        short(&c["sha"]),
                        text(&c["author"]),
                        text(&c["email"]),
                        text(&c["summary"])
                    );
                }
            }
            Ok(())
        }
        BranchCommand::Rebuild(args) => {
            let build = api
                .post(
                    &format!("{}/rebuild", branch_path(&args.project, &args.branch)),
                    &json!({}),
                )
                .await?;
            if args.json {
                return print_json(&build);
            }
            println!("build #{} queued", text(&build["id"]));
            Ok(())
        }
    }
}

async fn set_branch(api: &Client, args: SetBranchArgs) -> Result<()> {
    let path = branch_path(&args.project, &args.branch);
    let current = api.get(&path).await?;
    let mut settings = current["settings"].clone();
    if let Some(install) = &args.install {
        settings["install"] = match install.as_str() {
            "own" => json!({"mode": "own"}),
            "all" => json!({"mode": "all"}),
            list => {
                json!({"mode": "list", "modules": list.split(',').map(str::trim).filter(|m| !m.is_empty()).collect::<Vec<_>>()})
            }
        };
    }
    if let Some(tests) = args.tests {
        settings["tests"] = json!(tests);
    }
    if let Some(tags) = &args.test_tags {
        settings["test_tags"] = if tags.is_empty() {
            Value::Null
        } else {
            json!(tags)
        };
    }
    if let Some(behaviour) = &args.staging_behaviour {
        settings["staging_behaviour"] = json!(behaviour);
    }
    let mut body = json!({"settings": settings, "confirm": args.confirm});
    if let Some(stage) = &args.stage {
        body["stage"] = json!(stage);
    }
    let branch = api.call(Method::PATCH, &path, Some(&body)).await?;
    println!(
        "{} is in {}; settings {}",
        text(&branch["name"]),
        text(&branch["stage"]),
        branch["settings"]
    );
    Ok(())
}

fn short(sha: &Value) -> String {
    sha.as_str()
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|| "-".into())
}

fn print_builds(builds: &Value) {
    for b in builds.as_array().into_iter().flatten() {
        println!(
            "#{:<6} {:<10} {:<9} {:<8} {:<24} {}",
            text(&b["id"]),
            short(&b["revision"]),
            text(&b["state"]),
            text(&b["result"]),
            text(&b["name"]),
            text(&b["message"])
        );
    }
}

pub async fn run_build(
    cmd: BuildCommand,
    client: &ClientOptions,
    global: &GlobalOptions,
) -> Result<()> {
    let api = Client::new(client, global)?;
    match cmd {
        BuildCommand::List(args) => {
            let mut path = format!("/api/projects/{}/builds", segment(&args.project));
            if let Some(branch) = &args.branch {
                path.push_str(&format!("?branch={}", segment(branch)));
            }
            let builds = api.get(&path).await?;
            if args.json {
                return print_json(&builds);
            }
            print_builds(&builds);
            Ok(())
        }
        BuildCommand::Show(args) => {
            let build = api.get(&format!("/api/builds/{}", args.id)).await?;
            if args.json {
                return print_json(&build);
            }
            print_fields(&[
                (
                    "build",
                    format!("#{} {}", text(&build["id"]), text(&build["name"])),
                ),
                (
                    "branch",
                    format!("{}/{}", text(&build["project"]), text(&build["branch"])),
                ),
                ("revision", text(&build["revision"])),
                ("state", text(&build["state"])),
                ("result", text(&build["result"])),
                ("step", text(&build["step"])),
                ("message", text(&build["message"])),
                ("template hit", text(&build["template_hit"])),
                ("url", text(&build["url"])),
            ]);
            Ok(())
        }
        BuildCommand::Logs(args) => logs(&api, args).await,
        BuildCommand::Stop(args) => {
            let build = api
                .post(&format!("/api/builds/{}/stop", args.id), &json!({}))
                .await?;
            println!("build #{} is {}", args.id, text(&build["state"]));
            Ok(())
        }
        BuildCommand::Keep(args) => {
            let build = api
                .post(
                    &format!("/api/builds/{}/keep", args.id),
                    &json!({"keep": !args.off}),
                )
                .await?;
            if args.json {
                print_json(&build)?;
            } else if args.off {
                println!("build #{} is no longer kept", args.id);
            } else {
                println!("build #{} kept", args.id);
            }
            Ok(())
        }
    }
}

async fn logs(api: &Client, args: LogsArgs) -> Result<()> {
    let mut path = format!("/api/builds/{}/logs/{}", args.id, segment(&args.name));
    if args.follow {
        path.push_str("?follow=1");
    }
    let mut response = api.send(Method::GET, &path, None::<&()>).await?;
    if !response.status().is_success() {
        let value: Value = response.json().await.unwrap_or(Value::Null);
        bail!(
            "{}",
            value["error"]["message"]
                .as_str()
                .unwrap_or("cannot read the log")
        );
    }
    let mut out = std::io::stdout().lock();
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await? {
        if !args.follow {
            out.write_all(&chunk)?;
            continue;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                writeln!(out, "{}", data.strip_prefix(' ').unwrap_or(data))?;
            }
        }
        out.flush()?;
    }
    Ok(())
}
