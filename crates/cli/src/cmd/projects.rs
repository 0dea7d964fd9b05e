//! `slipway project | branch | build ...`: projects, their branches and builds, through the
//! API.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use slipway_api::builds::{Build, BuildView, KeepRequest};
use slipway_api::projects::{
    AddDomainRequest, AdminPassword, Branch, BranchAddresses, BranchListed, BranchUpdate,
    BranchView, CustomDomain, Event, HistoryEvent, InstallSet, Member, MemberEntry, MergeRequest,
    MergeResult, NewProject, Project, ProjectUpdate, ProjectView, StagingBehaviour, VisibleProject,
};
use slipway_api::ErrorBody;

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
    /// The login and password of production's Odoo administrator (project admins only;
    /// never admin/admin; staging copies of production have it too).
    AdminPassword(ProjectArg),
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
    /// Where the branch is reached: its address and custom domains.
    Domains(BranchArg),
    /// Route a host name of yours to the branch (project admins; point its DNS at Slipway).
    AddDomain(DomainArgs),
    /// Stop routing a custom domain to the branch.
    RemoveDomain(DomainArgs),
    /// The Upgrade tab: start a test upgrade (`--target 17.0`), see it (`--status`), cancel
    /// it or close upgrade mode (`--cancel`).
    Upgrade(super::branch_upgrade::UpgradeArgs),
}

#[derive(Debug, Args)]
pub struct DomainArgs {
    /// Project name.
    project: String,
    /// Branch name.
    branch: String,
    /// The host name (`erp.example.com`).
    host: String,
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
    /// The Odoo series the branch's builds run (`17.0`), e.g. on a fork that ports the
    /// modules to the next version before an upgrade.
    #[arg(long, value_name = "SERIES")]
    odoo: Option<String>,
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
    /// Download a dump of a running build's database as it is now (Odoo.sh's "Download dump"):
    /// an Odoo zip with its filestore, or with --no-filestore the .sql.gz an upgrade request
    /// takes; exact unless --neutralize.
    Dump(DumpArgs),
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
pub struct DumpArgs {
    /// Build id.
    id: i64,
    /// The file to write.
    #[arg(long, short = 'o')]
    output: std::path::PathBuf,
    /// Leave the filestore out: a .sql.gz instead of an Odoo zip.
    #[arg(long)]
    no_filestore: bool,
    /// A neutralized copy (no mails, crons, payments…) instead of the exact database.
    #[arg(long)]
    neutralize: bool,
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
            let created: ProjectView = api
                .post_as(
                    "/api/projects",
                    &NewProject {
                        name: args.name,
                        odoo: args.odoo,
                        trial: args.trial,
                    },
                )
                .await?;
            if args.json {
                return print_answer(&created);
            }
            println!(
                "project {} created (Odoo {}); push to {}{}",
                created.project.name,
                created.project.series,
                client.server.trim_end_matches('/'),
                created.git_path
            );
            Ok(())
        }
        ProjectCommand::List(args) => {
            let projects: Vec<VisibleProject> = api.get_as("/api/projects").await?;
            if args.json {
                return print_answer(&projects);
            }
            for p in &projects {
                println!("{:<30} Odoo {}", p.project.name, p.project.series);
            }
            Ok(())
        }
        ProjectCommand::Set(args) => {
            let path = format!("/api/projects/{}", segment(&args.project));
            let current: ProjectView = api.get_as(&path).await?;
            let mut settings = current.project.settings.0;
            if let Some(n) = args.max_running_dev_builds {
                settings.max_running_dev_builds = n;
            }
            if let Some(days) = args.dev_database_days {
                settings.dev_database_days = days;
            }
            let trial_until = match args.trial_until.as_deref() {
                Some("none") => Some(None),
                Some(until) => Some(Some(
                    chrono::DateTime::parse_from_rfc3339(until)
                        .with_context(|| {
                            format!("--trial-until {until:?}: give an RFC 3339 time, or none")
                        })?
                        .to_utc(),
                )),
                None => None,
            };
            let update = ProjectUpdate {
                trial_until,
                settings: Some(settings),
            };
            let project: Project = api
                .call_as::<ProjectView>(Method::PATCH, &path, Some(&update))
                .await?
                .project;
            println!(
                "{}: settings {}, trial until {}",
                project.name,
                text(&project.settings),
                text(&project.trial_until)
            );
            Ok(())
        }
        ProjectCommand::Show(args) => {
            let shown: ProjectView = api
                .get_as(&format!("/api/projects/{}", segment(&args.project)))
                .await?;
            if args.json {
                return print_answer(&shown);
            }
            print_fields(&[
                ("name", shown.project.name.clone()),
                ("odoo", shown.project.series.clone()),
                ("git", shown.git_path.clone()),
                ("created", text(&shown.project.created_at)),
            ]);
            Ok(())
        }
        ProjectCommand::AdminPassword(args) => {
            let path = format!(
                "/api/projects/{}/production/admin-password",
                segment(&args.project)
            );
            let login: AdminPassword = api.get_as(&path).await?;
            if args.json {
                return print_answer(&login);
            }
            print_fields(&[
                ("login", login.login.clone()),
                ("password", login.password.clone()),
            ]);
            eprintln!(
                "Set when Slipway created production's database; if someone changed it in Odoo since, \
                 Connect still logs in (it needs no password)."
            );
            Ok(())
        }
        ProjectCommand::Members(args) => {
            let path = format!("/api/projects/{}/members", segment(&args.project));
            let members: Vec<Member> = api.get_as(&path).await?;
            if args.json {
                return print_answer(&members);
            }
            print_members(&members);
            Ok(())
        }
        ProjectCommand::Member(args) => {
            let path = format!("/api/projects/{}/members", segment(&args.project));
            let current: Vec<Member> = api.get_as(&path).await?;
            let mut list: Vec<MemberEntry> = current
                .into_iter()
                .filter(|m| m.login != args.login)
                .map(|m| MemberEntry {
                    login: m.login,
                    role: m.role.as_str().to_string(),
                })
                .collect();
            if let Some(role) = args.role {
                list.push(MemberEntry {
                    login: args.login,
                    role,
                });
            }
            let members: Vec<Member> = api.call_as(Method::PUT, &path, Some(&list)).await?;
            print_members(&members);
            Ok(())
        }
    }
}

/// Prints an answer for `--json` as the server wrote it: keys sorted, every field there.
pub(super) fn print_answer<T: Serialize>(answer: &T) -> Result<()> {
    print_json(&serde_json::to_value(answer)?)
}

fn print_members(members: &[Member]) {
    for m in members {
        println!("{:<24} {:<10} {}", m.login, m.role.as_str(), m.name);
    }
}

/// A field as the tables show it: its JSON text, a string without quotes, `-` for none.
fn text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) | Err(_) => "-".into(),
        Ok(other) => other.to_string(),
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
            let branches: Vec<BranchListed> = api
                .get_as(&format!(
                    "/api/projects/{}/branches",
                    segment(&args.project)
                ))
                .await?;
            if args.json {
                return print_answer(&branches);
            }
            for listed in &branches {
                let b = &listed.branch;
                // What serves first; a newer build (a failed attempt, one under way) beside it.
                let shown = listed.serving_build.as_ref().or(listed.last_build.as_ref());
                let newer = listed
                    .last_build
                    .as_ref()
                    .filter(|last| shown.is_some_and(|s| s.id != last.id))
                    .map(|l| format!("  (newer #{} {} {})", l.id, l.state, text(&l.result)))
                    .unwrap_or_default();
                println!(
                    "{:<12} {:<30} {:<10} #{} {} {}{newer}",
                    b.stage,
                    b.name,
                    short(b.head.as_deref()),
                    text(&shown.map(|l| l.id)),
                    text(&shown.map(|l| l.state)),
                    text(&shown.and_then(|l| l.result))
                );
            }
            Ok(())
        }
        BranchCommand::Show(args) => {
            let shown: BranchView = api
                .get_as(&branch_path(&args.project, &args.branch))
                .await?;
            if args.json {
                return print_answer(&shown);
            }
            let branch = &shown.branch;
            print_fields(&[
                ("branch", branch.name.clone()),
                ("stage", branch.stage.to_string()),
                ("head", text(&branch.head)),
                ("settings", text(&branch.settings)),
            ]);
            print_builds(&shown.builds);
            Ok(())
        }
        BranchCommand::Set(args) => set_branch(&api, args).await,
        BranchCommand::Merge(args) => {
            let path = format!("{}/merge", branch_path(&args.project, &args.branch));
            let merged: MergeResult = api
                .post_as(
                    &path,
                    &MergeRequest {
                        into: args.into.clone(),
                    },
                )
                .await?;
            match merged {
                MergeResult::Merged { sha, build } => println!(
                    "merged {} into {} ({}); build #{build} queued",
                    args.branch,
                    args.into,
                    short(Some(&sha)),
                ),
                _ => println!("{} already contains {}", args.into, args.branch),
            }
            Ok(())
        }
        BranchCommand::History(args) => {
            let events: Vec<Event> = api
                .get_as(&format!(
                    "{}/history",
                    branch_path(&args.project, &args.branch)
                ))
                .await?;
            if args.json {
                return print_answer(&events);
            }
            for e in &events {
                println!(
                    "{}  {:<16} {}",
                    text(&e.at),
                    e.event.kind(),
                    e.event.message()
                );
                if let HistoryEvent::Push { commits, .. } = &e.event {
                    for c in commits {
                        println!(
                            "      {} {} <{}> {}",
                            short(Some(&c.sha)),
                            c.author,
                            c.email,
                            c.summary
                        );
                    }
                }
            }
            Ok(())
        }
        BranchCommand::Domains(args) => {
            let found: BranchAddresses = api
                .get_as(&format!(
                    "{}/domains",
                    branch_path(&args.project, &args.branch)
                ))
                .await?;
            if args.json {
                return print_answer(&found);
            }
            println!("{}", found.address);
            for d in &found.domains {
                println!(
                    "{}  (added by {}, {})",
                    d.host,
                    d.added_by,
                    text(&d.created_at)
                );
            }
            Ok(())
        }
        BranchCommand::AddDomain(args) => {
            let added: CustomDomain = api
                .post_as(
                    &format!("{}/domains", branch_path(&args.project, &args.branch)),
                    &AddDomainRequest { host: args.host },
                )
                .await?;
            println!(
                "{} now routes to branch {} (its DNS must point at this Slipway)",
                added.host, args.branch
            );
            Ok(())
        }
        BranchCommand::RemoveDomain(args) => {
            api.call(
                Method::DELETE,
                &format!(
                    "{}/domains/{}",
                    branch_path(&args.project, &args.branch),
                    segment(&args.host)
                ),
                None::<&()>,
            )
            .await?;
            println!("{} no longer routes to branch {}", args.host, args.branch);
            Ok(())
        }
        BranchCommand::Upgrade(args) => {
            let path = branch_path(args.project(), args.branch());
            super::branch_upgrade::run(&api, path, args).await
        }
        BranchCommand::Rebuild(args) => {
            let build: Build = api
                .post_as(
                    &format!("{}/rebuild", branch_path(&args.project, &args.branch)),
                    &serde_json::json!({}),
                )
                .await?;
            if args.json {
                return print_answer(&build);
            }
            println!("build #{} queued", build.id);
            Ok(())
        }
    }
}

async fn set_branch(api: &Client, args: SetBranchArgs) -> Result<()> {
    let path = branch_path(&args.project, &args.branch);
    let current: BranchView = api.get_as(&path).await?;
    let mut settings = current.branch.settings.0;
    if let Some(install) = &args.install {
        settings.install = match install.as_str() {
            "own" => InstallSet::Own,
            "all" => InstallSet::All,
            list => InstallSet::List {
                modules: list
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            },
        };
    }
    if let Some(tests) = args.tests {
        settings.tests = tests;
    }
    if let Some(tags) = &args.test_tags {
        settings.test_tags = (!tags.is_empty()).then(|| tags.clone());
    }
    if let Some(behaviour) = &args.staging_behaviour {
        settings.staging_behaviour = staging_behaviour(behaviour)?;
    }
    if let Some(series) = &args.odoo {
        settings.series = Some(series.clone());
    }
    let update = BranchUpdate {
        settings: Some(settings),
        stage: args.stage,
        confirm: args.confirm,
    };
    let branch: Branch = api.call_as(Method::PATCH, &path, Some(&update)).await?;
    println!(
        "{} is in {}; settings {}",
        branch.name,
        branch.stage,
        text(&branch.settings)
    );
    Ok(())
}

/// `--staging-behaviour`, read as the API names it.
fn staging_behaviour(name: &str) -> Result<StagingBehaviour> {
    serde_json::from_value(Value::String(name.to_string()))
        .with_context(|| format!("--staging-behaviour {name:?}: update_previous or new_build"))
}

fn short(sha: Option<&str>) -> String {
    sha.map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|| "-".into())
}

fn print_builds(builds: &[Build]) {
    for b in builds {
        println!(
            "#{:<6} {:<10} {:<9} {:<8} {:<24} {:<34} {}",
            b.id,
            short(Some(&b.revision)),
            b.state,
            text(&b.result),
            b.name,
            tests_text(b),
            text(&b.message)
        );
    }
}

/// Odoo's count of a build's tests, `-` when it ran none.
fn tests_text(build: &Build) -> String {
    text(&build.tests.map(|t| t.to_string()))
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
            let builds: Vec<Build> = api.get_as(&path).await?;
            if args.json {
                return print_answer(&builds);
            }
            print_builds(&builds);
            Ok(())
        }
        BuildCommand::Show(args) => {
            let shown: BuildView = api.get_as(&format!("/api/builds/{}", args.id)).await?;
            if args.json {
                return print_answer(&shown);
            }
            let build = &shown.build;
            let mut fields = vec![
                ("build", format!("#{} {}", build.id, build.name)),
                ("branch", format!("{}/{}", build.project, build.branch)),
                ("revision", build.revision.clone()),
                ("state", build.state.to_string()),
                ("result", text(&build.result)),
                ("step", text(&build.step)),
                ("message", text(&build.message)),
                ("tests", tests_text(build)),
                ("failed log", text(&build.failed_log)),
                ("template hit", build.template_hit.to_string()),
            ];
            // A build that never served has no address to give.
            fields.extend(shown.url.map(|url| ("url", url)));
            print_fields(&fields);
            Ok(())
        }
        BuildCommand::Logs(args) => logs(&api, args).await,
        BuildCommand::Dump(args) => dump(&api, args).await,
        BuildCommand::Stop(args) => {
            let build: Build = api
                .post_as(
                    &format!("/api/builds/{}/stop", args.id),
                    &serde_json::json!({}),
                )
                .await?;
            println!("build #{} is {}", args.id, build.state);
            Ok(())
        }
        BuildCommand::Keep(args) => {
            let build: Build = api
                .post_as(
                    &format!("/api/builds/{}/keep", args.id),
                    &KeepRequest { keep: !args.off },
                )
                .await?;
            if args.json {
                print_answer(&build)?;
            } else if args.off {
                println!("build #{} is no longer kept", args.id);
            } else {
                println!("build #{} kept", args.id);
            }
            Ok(())
        }
    }
}

/// `build dump`: the answer of `GET /api/builds/{id}/dump` streamed to a partial file renamed
/// at the end, so a failed download leaves no file that looks whole.
async fn dump(api: &Client, args: DumpArgs) -> Result<()> {
    let format = if args.no_filestore {
        "format=sql-gz&filestore=false"
    } else {
        "format=zip"
    };
    let neutralized = if args.neutralize {
        "&neutralized=true"
    } else {
        ""
    };
    let path = format!("/api/builds/{}/dump?{format}{neutralized}", args.id);
    let mut response = api.send(Method::GET, &path, None::<&()>).await?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let message = response
            .json::<ErrorBody>()
            .await
            .map(|body| body.error.message)
            .unwrap_or_else(|_| "no details".into());
        bail!("dump of build #{}: {message} (HTTP {status})", args.id);
    }
    let partial = args.output.with_extension("partial");
    let written = async {
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut size = 0u64;
        while let Some(chunk) = response.chunk().await? {
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await?;
            size += chunk.len() as u64;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        tokio::fs::rename(&partial, &args.output).await?;
        Ok::<u64, anyhow::Error>(size)
    }
    .await;
    match written {
        Ok(size) => {
            println!("wrote {} ({size} bytes)", args.output.display());
            Ok(())
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e.context(format!("writing {}", args.output.display())))
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
        let message = response
            .json::<ErrorBody>()
            .await
            .map(|body| body.error.message)
            .unwrap_or_else(|_| "cannot read the log".into());
        bail!("{message}");
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
