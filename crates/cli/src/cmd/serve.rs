//! `slipway serve`: the server, on the embedded PostgreSQL unless `--pg-url` says otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use slipway_mail::smtp::SmtpCatcher;
use slipway_platform::builds::pipeline::{BuildEnv, BuildSandbox, SandboxPolicy, SmtpForBuild};
use slipway_platform::limits::{ByteSize, Limits};
use slipway_platform::people::NewUser;
use slipway_platform::throttle::ThrottlePolicy;
use slipway_platform::{DataDir, Metadata, Platform};
use slipway_server::{AppState, ServerConfig};
use slipway_upgrade::delegate::{InProcess, Remote, RemoteService};
use slipway_upgrade::{run_worker, Delegate, Processor, UpgradeService};

use crate::config::GlobalOptions;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve HTTP on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8400")]
    listen: SocketAddr,

    /// Standard upgrade scripts of the upgrade platform: `DIR/<target series>/<module>/<version>/`,
    /// run at each series step (the targets offered are the series with a ready upgrade
    /// engine: `slipway upgrade engine add`).
    #[arg(long, env = "SLIPWAY_UPGRADE_SCRIPTS")]
    upgrade_scripts: Option<PathBuf>,

    /// Send branches' upgrades to another upgrade platform instead of this Slipway's own, as
    /// Odoo.sh sends them to upgrade.odoo.com: the base URL of its /database/v1 API (another
    /// Slipway, such as https://upgrade.example.com). Goes with --upgrade-contract.
    #[arg(long, env = "SLIPWAY_UPGRADE_SERVICE")]
    upgrade_service: Option<String>,

    /// The contract requests are filed under at --upgrade-service.
    #[arg(long, env = "SLIPWAY_UPGRADE_CONTRACT", hide_env_values = true)]
    upgrade_contract: Option<String>,

    /// The region part of upgrade request URLs (`/database/<region>/<id>/<key>/...`).
    #[arg(long, env = "SLIPWAY_REGION", default_value = "local")]
    region: String,

    /// The largest dump the upgrade API accepts, in bytes.
    #[arg(long, env = "SLIPWAY_MAX_UPLOAD", default_value_t = 100 * 1024 * 1024 * 1024)]
    max_upload: u64,

    /// Where the upgrade platform's SFTP server listens (started on first use).
    #[arg(long, env = "SLIPWAY_SFTP_LISTEN", default_value = "127.0.0.1:2200")]
    sftp_listen: SocketAddr,

    /// Where the SSH server into builds listens (`ssh -p PORT <build>@host`): an address,
    /// or `off`. Default: port 2222 on the address HTTP listens on.
    #[arg(long, env = "SLIPWAY_SSH_LISTEN")]
    ssh_listen: Option<SshListen>,

    /// Where the mail catcher's SMTP server listens: development and staging builds send
    /// their mail there, and it never leaves the machine.
    #[arg(long, env = "SLIPWAY_SMTP_LISTEN", default_value = "127.0.0.1:2525")]
    smtp_listen: SocketAddr,

    /// How many upgrade requests are processed at once.
    #[arg(long, env = "SLIPWAY_WORKERS", default_value_t = 1)]
    workers: usize,

    /// How many builds run their pipeline at once.
    #[arg(long, env = "SLIPWAY_BUILD_WORKERS", default_value_t = 2)]
    build_workers: usize,

    /// The domain builds are served under: `<build>.<domain>`, production at
    /// `<project>.<domain>`, branches at `<project>-<branch>.<domain>` (`*.localhost` reaches
    /// this machine in browsers without any DNS set-up; a real domain needs a wildcard DNS
    /// entry).
    #[arg(long, env = "SLIPWAY_DOMAIN", default_value = "localhost")]
    domain: String,

    /// The Python that creates build virtualenvs.
    #[arg(long, env = "SLIPWAY_PYTHON", default_value = "python3")]
    python: String,

    /// How long a build server gets to answer its health check, in seconds.
    #[arg(long, env = "SLIPWAY_HEALTH_TIMEOUT", default_value_t = 180)]
    health_timeout: u64,

    /// How often the scheduler's chores run (development database lifetime, running
    /// limits, template trimming), in seconds.
    #[arg(long, env = "SLIPWAY_CHORES_EVERY", default_value_t = 60)]
    chores_every: u64,

    /// The SMTP relay production builds really send mail through (`host:port`); without it
    /// production uses the mail servers configured in its database.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY")]
    smtp_relay: Option<String>,

    /// User of the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_USER")]
    smtp_relay_user: Option<String>,

    /// Password of the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_PASSWORD", hide_env_values = true)]
    smtp_relay_password: Option<String>,

    /// Use SSL with the production SMTP relay.
    #[arg(long, env = "SLIPWAY_SMTP_RELAY_SSL")]
    smtp_relay_ssl: bool,

    /// The primary copy of the backup repository (default `<data-dir>/backups/primary`).
    #[arg(long, env = "SLIPWAY_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,

    /// A further copy of the backup repository: a folder or
    /// s3://bucket/prefix?endpoint=URL&region=R (repeatable; default
    /// `<data-dir>/backups/replica-1` and `replica-2`).
    #[arg(
        long = "backup-replica",
        env = "SLIPWAY_BACKUP_REPLICAS",
        value_delimiter = ','
    )]
    backup_replicas: Vec<String>,

    /// When production's daily backup runs (`HH:MM`), local time in --daily-backup-tz.
    #[arg(long, env = "SLIPWAY_DAILY_BACKUP_AT", default_value = "02:00")]
    daily_backup_at: chrono::NaiveTime,

    /// The IANA time zone of --daily-backup-at (e.g. Europe/Brussels): the backups' days follow
    /// its clock changes.
    #[arg(long, env = "SLIPWAY_DAILY_BACKUP_TZ", default_value = "UTC", value_parser = parse_time_zone)]
    daily_backup_tz: String,

    /// How long `logs?follow=1` streams before ending by itself, in seconds.
    #[arg(long, env = "SLIPWAY_LOG_FOLLOW", default_value_t = 300)]
    log_follow: u64,

    /// How long a Shell may go without input before it is closed, in seconds.
    #[arg(long, env = "SLIPWAY_SHELL_IDLE", default_value_t = 900)]
    shell_idle: u64,

    /// Failed password sign-ins of one login before it is locked out for --login-lockout
    /// (each failure also delays the next answer); one address gets six times as many.
    #[arg(long, env = "SLIPWAY_LOGIN_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    login_failures: u32,

    /// How long the mail catcher keeps a silent SMTP connection open, in seconds.
    #[arg(long, env = "SLIPWAY_SMTP_IDLE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    smtp_idle: u64,

    /// How long a locked-out login or address waits, in minutes.
    #[arg(long, env = "SLIPWAY_LOGIN_LOCKOUT", default_value_t = 15)]
    login_lockout: u64,

    /// How many branches one push may create or update (each is built): a push moving more
    /// is refused whole by git, before any branch moves.
    #[arg(long, env = "SLIPWAY_MAX_BUILDS_PER_PUSH", default_value_t = Limits::default().builds_per_push, value_parser = at_least_one)]
    max_builds_per_push: usize,

    /// How many builds a project may hold: pending, building, running or stopped (each holds
    /// a database or is making one). At the limit, pushes and forks creating a branch are
    /// refused; existing branches still build.
    #[arg(long, env = "SLIPWAY_MAX_BUILDS_PER_PROJECT", default_value_t = Limits::default().builds_per_project, value_parser = at_least_one)]
    max_builds_per_project: usize,

    /// How much disk a project's live databases and filestores may use (such as 20GiB,
    /// 500MiB, or off). Over it, new branches and rebuilds of development and staging are
    /// refused; production is never refused.
    #[arg(long, env = "SLIPWAY_MAX_PROJECT_DISK", default_value_t = DiskLimit(Limits::default().project_disk))]
    max_project_disk: DiskLimit,

    /// How long an HTTP client has to send a request's head (its line and headers), in
    /// seconds.
    #[arg(long, env = "SLIPWAY_HTTP_HEADER_TIMEOUT", default_value_t = slipway_server::HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    http_header_timeout: u64,

    /// How long an HTTP request body may go without a byte before the request is answered
    /// 408 and its connection closed, in seconds. Idle time, not the total: a slow but steady
    /// upload of any size (a dump, a git push) goes through.
    #[arg(long, env = "SLIPWAY_HTTP_BODY_IDLE", default_value_t = slipway_server::BODY_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    http_body_idle: u64,

    /// UNSAFE: run builds' code (pip, odoo-bin, tests), and upgrade requests' scripts, without
    /// a sandbox, with Slipway's own rights: they can read every secret of the data directory
    /// and act as Slipway. The web UI shows a warning on every page.
    #[arg(long, env = "SLIPWAY_NO_SANDBOX")]
    no_sandbox: bool,

    /// When Slipway runs as root, project P's sandboxed processes run as uid and gid
    /// BASE + P; pip and upgrade requests' scripts as BASE. Choose a range no user has.
    #[arg(long, env = "SLIPWAY_SANDBOX_UID_BASE", default_value_t = 1_500_000)]
    sandbox_uid_base: u32,

    /// RLIMIT_NPROC of sandboxed processes: processes and threads per uid (per project).
    #[arg(long, env = "SLIPWAY_SANDBOX_MAX_PROCESSES", default_value_t = 512)]
    sandbox_max_processes: u64,

    /// RLIMIT_AS of each sandboxed process, in bytes (address space, above its memory use).
    #[arg(long, env = "SLIPWAY_SANDBOX_MAX_MEMORY", default_value_t = 4 << 30)]
    sandbox_max_memory: u64,

    /// RLIMIT_CPU of one-shot tasks (install, update, tests), in CPU seconds; 0: none.
    #[arg(long, env = "SLIPWAY_SANDBOX_TASK_CPU", default_value_t = 3600)]
    sandbox_task_cpu: u64,
}

/// `--ssh-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
enum SshListen {
    Off,
    At(SocketAddr),
}

impl std::str::FromStr for SshListen {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if text == "off" {
            return Ok(Self::Off);
        }
        text.parse().map(Self::At).map_err(|_| {
            format!("{text:?} is neither an address (such as 0.0.0.0:2222) nor \"off\"")
        })
    }
}

/// `--max-project-disk`: a size, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DiskLimit(Option<u64>);

impl std::str::FromStr for DiskLimit {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if text.trim() == "off" {
            return Ok(Self(None));
        }
        let size: ByteSize = text.parse().map_err(|e| format!("{e}, or off"))?;
        Ok(Self(Some(size.0)))
    }
}

impl std::fmt::Display for DiskLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(bytes) => f.write_str(&ByteSize(bytes).exact()),
        }
    }
}

/// A count of 1 or more (a limit of 0 would refuse everything).
fn at_least_one(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number of 1 or more")),
    }
}

impl ServeArgs {
    /// What one push and one project may take.
    fn limits(&self) -> Limits {
        Limits {
            builds_per_push: self.max_builds_per_push,
            builds_per_project: self.max_builds_per_project,
            project_disk: self.max_project_disk.0,
        }
    }

    /// The other upgrade platform branches' upgrades go to (`--upgrade-service` with
    /// `--upgrade-contract`), if any.
    fn remote_upgrades(&self) -> Result<Option<Remote>> {
        let (url, contract) =
            match (&self.upgrade_service, &self.upgrade_contract) {
                (None, None) => return Ok(None),
                (Some(url), Some(contract)) => (url, contract),
                (url, _) => anyhow::bail!(
                "--upgrade-service and --upgrade-contract go together ({} is missing): give both \
                 to send upgrades to another upgrade platform, or neither to upgrade here",
                if url.is_some() { "--upgrade-contract" } else { "--upgrade-service" }
            ),
            };
        let service =
            RemoteService::new(url, contract).context("--upgrade-service/--upgrade-contract")?;
        Ok(Some(Remote::new(service)?))
    }

    /// Where the builds' SSH server listens, if at all.
    fn ssh_address(&self) -> Option<SocketAddr> {
        match self.ssh_listen {
            Some(SshListen::Off) => None,
            Some(SshListen::At(address)) => Some(address),
            None => Some(SocketAddr::new(self.listen.ip(), 2222)),
        }
    }
}

/// The sandbox builds and upgrade scripts run in, as `serve`'s flags and this machine allow:
/// `--no-sandbox` turns it off; a machine that cannot make one (no bwrap, no namespaces)
/// still serves, but builds refuse to start and the UI says why.
async fn sandbox_policy(args: &ServeArgs) -> SandboxPolicy {
    if args.no_sandbox {
        tracing::warn!("--no-sandbox: builds' code runs with Slipway's own rights");
        return SandboxPolicy::Off;
    }
    let identity = slipway_sandbox::Identity::for_uid(args.sandbox_uid_base);
    match slipway_sandbox::probe(identity).await {
        Ok(bwrap) => SandboxPolicy::On(BuildSandbox {
            bwrap,
            uid_base: args.sandbox_uid_base,
            limits: slipway_sandbox::Limits {
                processes: Some(args.sandbox_max_processes),
                address_space: Some(args.sandbox_max_memory),
                cpu_seconds: None,
            },
            task_cpu_seconds: (args.sandbox_task_cpu > 0).then_some(args.sandbox_task_cpu),
        }),
        Err(e) => {
            tracing::error!(error = %e, "builds will refuse to start");
            SandboxPolicy::Unavailable(e.to_string())
        }
    }
}

/// Binds the builds' SSH server (reading or creating its host key), unless it is off.
async fn bind_ssh(
    args: &ServeArgs,
    config: &ServerConfig,
) -> Result<Option<slipway_server::build_ssh::BuildSsh>> {
    let Some(address) = args.ssh_address() else {
        return Ok(None);
    };
    let ssh = slipway_server::build_ssh::BuildSsh::bind(address, &config.layout().sftp()).await?;
    Ok(Some(ssh))
}

/// The sandbox of pip and of upgrade requests' scripts: uid BASE, nothing of builds.
fn platform_jail(policy: &SandboxPolicy) -> Option<slipway_sandbox::Jail> {
    let SandboxPolicy::On(settings) = policy else {
        return None;
    };
    let identity = slipway_sandbox::Identity::for_uid(settings.uid_base);
    Some(slipway_sandbox::Jail {
        bwrap: settings.bwrap.clone(),
        sandbox: slipway_sandbox::Sandbox::new(
            identity,
            settings.limits,
            &slipway_sandbox::HostLayout::read(),
        ),
    })
}

pub async fn run(args: ServeArgs, global: &GlobalOptions) -> Result<()> {
    let began = Instant::now();
    let remote_upgrades = args.remote_upgrades()?;
    // Bind first: a taken port must fail before anything is started or created.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; choose another address with --listen",
                args.listen
            )
        })?;
    if let Some(dir) = &args.upgrade_scripts {
        anyhow::ensure!(
            dir.is_dir(),
            "--upgrade-scripts {} is not a directory",
            dir.display()
        );
    }
    let config = ServerConfig {
        data_dir: global.absolute_data_dir()?,
        upgrade_scripts: args.upgrade_scripts.clone(),
        region: args.region.clone(),
        max_upload_bytes: args.max_upload,
        sftp_listen: args.sftp_listen,
        domain: args.domain.clone(),
        log_follow_for: Duration::from_secs(args.log_follow),
        shell_idle: Duration::from_secs(args.shell_idle),
        smtp_listen: args.smtp_listen,
        smtp_idle: Duration::from_secs(args.smtp_idle),
        sign_in: ThrottlePolicy {
            login_failures: args.login_failures,
            address_failures: args.login_failures.saturating_mul(6),
            lockout: Duration::from_secs(args.login_lockout * 60),
            ..ThrottlePolicy::default()
        },
        header_read_timeout: Duration::from_secs(args.http_header_timeout),
        body_idle_timeout: Duration::from_secs(args.http_body_idle),
    };
    let mail = bind_smtp(&config).await?;
    let ssh = bind_ssh(&args, &config).await?;
    let postgres = global.postgres().await?;
    let served = serve_with(
        listener,
        mail,
        ssh,
        remote_upgrades,
        &args,
        &config,
        global,
        &postgres.server,
        began,
    )
    .await;
    tracing::info!("stopping");
    postgres.stop_if_started().await;
    served
}

/// The mail catcher: its bound SMTP server, and the one store and credentials that the
/// server, the builds' odoo.conf and the API share (clones of one store share its lock).
struct Mail {
    catcher: SmtpCatcher,
    store: slipway_mail::MailStore,
    credentials: slipway_mail::BuildCredentials,
}

/// Binds the mail catcher's SMTP server, creating the SMTP secret on first start.
async fn bind_smtp(config: &ServerConfig) -> Result<Mail> {
    let secret_path = config.layout().smtp_secret();
    let secret = slipway_mail::load_or_create_secret(&secret_path)
        .with_context(|| format!("reading the SMTP secret {}", secret_path.display()))?;
    let store = slipway_mail::MailStore::new(config.layout().mails());
    let credentials = slipway_mail::BuildCredentials::new(secret);
    let catcher = SmtpCatcher::bind(config.smtp_listen, store.clone(), credentials.clone())
        .await?
        .with_idle_timeout(config.smtp_idle);
    Ok(Mail {
        catcher,
        store,
        credentials,
    })
}

#[allow(clippy::too_many_arguments)] // each is one of serve's parts, bound before it starts
async fn serve_with(
    listener: tokio::net::TcpListener,
    mail: Mail,
    ssh: Option<slipway_server::build_ssh::BuildSsh>,
    remote_upgrades: Option<Remote>,
    args: &ServeArgs,
    config: &ServerConfig,
    global: &GlobalOptions,
    server: &slipway_pg::Server,
    began: Instant,
) -> Result<()> {
    let metadata = Metadata::open(server)
        .await
        .context("opening the metadata database")?;
    let smtp = mail.catcher;
    let smtp_addr = smtp.local_addr()?;
    let target = build_target(server, global.binaries()?, config)?;
    let adopted = target
        .prepare_server(slipway_platform::METADATA_DB, "odoo")
        .await
        .context("preparing PostgreSQL: roles and connect rights")?;
    if !adopted.is_empty() {
        tracing::warn!(databases = ?adopted, "databases of the old shared role odoo now have a role each; running builds get their new login at their next build");
    }
    let sandbox = sandbox_policy(args).await;
    let public_port = listener.local_addr()?.port();
    let mut env = build_env(
        args,
        config,
        target.clone(),
        smtp_addr,
        mail.store,
        mail.credentials,
        metadata.pool().clone(),
    )?;
    if let Some(jail) = platform_jail(&sandbox) {
        env.venvs = env.venvs.sandboxed(jail);
    }
    let upgrade_jail = platform_jail(&sandbox);
    env.sandbox = sandbox;
    env.public = slipway_platform::builds::naming::PublicAddress::new(
        "http",
        &config.domain,
        Some(public_port),
    );
    // every new backup gets its restore drill, run by the worker below
    env.backups = env
        .backups
        .map(slipway_platform::backups::Backups::verifying_new_backups);
    if let Some(spool) = wal_spool(global)? {
        env.backups = env.backups.map(|b| b.with_wal_spool(spool));
    }
    let platform = Platform::new(metadata.pool().clone(), env).with_limits(args.limits());
    if let Some(backups) = platform.env().backups.as_ref() {
        // before any server starts on a database a crash left mid-swap
        backups
            .finish_interrupted_swaps()
            .await
            .context("ending restores a crash cut short")?;
        backups
            .finish_interrupted_backups()
            .await
            .context("ending backups a crash cut short")?;
    }
    bootstrap_first_user(&platform, &config.layout()).await?;
    match config.remove_interrupted_imports() {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed dumps of imports interrupted by a stop"),
        Err(e) => tracing::warn!(error = %e, "cannot clear interrupted imports"),
    }
    let mut state = AppState::new(metadata, config, platform.clone());
    let branch_upgrades = delegate_for(remote_upgrades, &state.upgrade);
    match &branch_upgrades {
        Delegate::Remote(remote) => {
            tracing::info!(service = %remote.service.url, "branches' upgrades go to another upgrade platform")
        }
        Delegate::InProcess(_) => tracing::debug!("branches' upgrades run here"),
    }
    let platform = platform.with_upgrade_delegate(branch_upgrades);
    state.platform = platform.clone();
    if let Some(ssh) = ssh {
        let address = ssh.local_addr()?;
        state.ssh_port = Some(address.port());
        tracing::info!(%address, "SSH into builds: ssh -p {} <build>@host", address.port());
        tokio::spawn(ssh.run(state.clone()));
    }
    let (stop_workers, mut workers) =
        start_workers(&state, target, upgrade_jail, config, args.workers);
    {
        let platform = platform.clone();
        let stopped: Vec<_> = (0..args.build_workers)
            .map(|_| stop_workers.subscribe())
            .collect();
        workers.push(tokio::spawn(async move {
            // The running builds' servers come back before any build job runs: a production
            // update cut short by the stop restarts production's server itself, and two
            // starts of one server race for its port and its odoo.conf.
            if let Err(e) = platform.resume_running_builds().await {
                tracing::warn!("resuming running builds: {e}");
            }
            let build_workers: Vec<_> = stopped
                .into_iter()
                .enumerate()
                .map(|(n, stopped)| {
                    let platform = platform.clone();
                    let name = format!("{}-build-{n}", std::process::id());
                    tokio::spawn(async move { platform.run_build_worker(name, stopped).await })
                })
                .collect();
            for worker in build_workers {
                let _ = worker.await;
            }
        }));
    }
    {
        // branches' upgrades: each job takes one through its phases (a restart resumes it)
        let platform = platform.clone();
        let stopped = stop_workers.subscribe();
        workers.push(tokio::spawn(async move {
            slipway_platform::run_worker(
                platform.queue.clone(),
                slipway_platform::JobKind::BranchUpgrade,
                format!("{}-branch-upgrade", std::process::id()),
                stopped,
                |job| {
                    let platform = platform.clone();
                    async move { platform.run_branch_upgrade_job(&job).await }
                },
            )
            .await
        }));
    }
    {
        let platform = platform.clone();
        let stopped = stop_workers.subscribe();
        let every = Duration::from_secs(args.chores_every.max(1));
        workers.push(tokio::spawn(async move {
            platform.run_scheduler(every, stopped).await
        }));
    }
    if let Some(backups) = platform.env().backups.clone() {
        let stopped = stop_workers.subscribe();
        let scheduled = backups.clone();
        workers.push(tokio::spawn(async move {
            let options = slipway_platform::backups::SchedulerOptions::default();
            slipway_platform::backups::run_scheduler(scheduled, options, stopped).await
        }));
        let drills = backups.clone();
        let stopped = stop_workers.subscribe();
        workers.push(tokio::spawn(async move {
            slipway_platform::run_worker(
                slipway_platform::JobQueue::new(drills.pool().clone()),
                slipway_platform::JobKind::BackupVerify,
                format!("{}-verify", std::process::id()),
                stopped,
                |job| {
                    let drills = drills.clone();
                    async move { drills.run_verify_job(&job).await.map_err(|e| e.to_string()) }
                },
            )
            .await
        }));
        if global.pg_url.is_none() {
            // the embedded cluster archives its WAL into the spool: move it into the repository
            let stopped = stop_workers.subscribe();
            workers.push(tokio::spawn(async move {
                slipway_platform::backups::run_wal_ingest(backups, Duration::from_secs(10), stopped)
                    .await
            }));
        }
    }
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        %smtp_addr,
        ready_ms = began.elapsed().as_millis() as u64,
        "Slipway listening on http://{addr}, catching mail on smtp://{smtp_addr}"
    );
    // The HTTP server owns the stop signal; the SMTP server stops when it is sent or dropped
    // (HTTP ended for any reason).
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let smtp = tokio::spawn(smtp.run(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    let http_shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    let served = slipway_server::serve(listener, state, http_shutdown)
        .await
        .context("serving HTTP");
    let _ = smtp.await;
    served?;
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    platform.shutdown().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Where branches' upgrades go: the remote of `--upgrade-service` when given, else this
/// Slipway's own upgrade platform (`service`, the one `/database/v1` serves).
fn delegate_for(remote: Option<Remote>, service: &UpgradeService) -> Delegate {
    match remote {
        Some(remote) => Delegate::Remote(remote),
        None => Delegate::InProcess(InProcess {
            service: service.clone(),
        }),
    }
}

/// Where databases of builds and upgrade requests live, each owned by a role of its own.
fn build_target(
    server: &slipway_pg::Server,
    binaries: slipway_pg::Binaries,
    config: &ServerConfig,
) -> Result<slipway_dump::Target> {
    Ok(slipway_dump::Target::new(
        server.clone(),
        binaries,
        &config.data_dir,
    )?)
}

/// The embedded cluster's WAL spool (none with an external PostgreSQL: its WAL is not ours).
fn wal_spool(global: &GlobalOptions) -> Result<Option<PathBuf>> {
    if global.pg_url.is_some() {
        return Ok(None);
    }
    Ok(Some(global.embedded_cluster()?.layout().wal_spool.clone()))
}

fn build_env(
    args: &ServeArgs,
    config: &ServerConfig,
    target: slipway_dump::Target,
    smtp: SocketAddr,
    mails: slipway_mail::MailStore,
    credentials: slipway_mail::BuildCredentials,
    metadata_pool: sqlx::PgPool,
) -> Result<BuildEnv> {
    let mut env = BuildEnv::under(&config.data_dir, target);
    env.venvs = slipway_runner::venv::Venvs::new(config.layout().venvs(), args.python.clone());
    env.production_smtp = production_smtp(args)?;
    env.slipway_bin = std::env::current_exe().ok();
    env.health_timeout = Duration::from_secs(args.health_timeout);
    env.mails = Some(mails);
    let repository = super::backup::open_repository(
        args.backup_dir.clone(),
        &args.backup_replicas,
        false,
        &config.data_dir,
    )?;
    env.backups = Some(slipway_platform::backups::Backups::new(
        metadata_pool,
        env.target.clone(),
        repository,
    ));
    env.daily_backup_at = args.daily_backup_at;
    env.daily_backup_tz = args.daily_backup_tz.clone();
    // Development and staging builds send to the catcher, as themselves.
    env.smtp = Some(SmtpForBuild(std::sync::Arc::new(move |build| {
        let login = credentials.credentials_for(build);
        Some(slipway_runner::odoo::SmtpSettings {
            host: smtp.ip().to_string(),
            port: smtp.port(),
            user: Some(login.user),
            password: Some(login.password),
            ssl: false,
        })
    })));
    Ok(env)
}

fn production_smtp(args: &ServeArgs) -> Result<Option<slipway_runner::odoo::SmtpSettings>> {
    let Some(relay) = &args.smtp_relay else {
        return Ok(None);
    };
    let (host, port) = relay
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--smtp-relay {relay:?} should be host:port"))?;
    Ok(Some(slipway_runner::odoo::SmtpSettings {
        host,
        port,
        user: args.smtp_relay_user.clone(),
        password: args.smtp_relay_password.clone(),
        ssl: args.smtp_relay_ssl,
    }))
}

/// The first start creates the first administrator and prints their token once; it is
/// also saved (mode 0600) in the data directory, where the CLI on this machine finds it.
async fn bootstrap_first_user(platform: &Platform, layout: &DataDir) -> Result<()> {
    if platform.people.count().await? > 0 {
        return Ok(());
    }
    let (user, token) = platform
        .people
        .create(&NewUser {
            login: "admin".into(),
            name: "Administrator".into(),
            email: None,
            is_admin: true,
        })
        .await
        .context("creating the first user")?;
    let path = layout.cli_token();
    write_private(&path, &token)
        .with_context(|| format!("saving the token to {}", path.display()))?;
    println!(
        "First user: {} (administrator). API token, shown once: {token}\nIt is saved in {} for the CLI on this machine.",
        user.login,
        path.display()
    );
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Starts the upgrade workers; they stop when the returned sender says `true`.
fn start_workers(
    state: &AppState,
    target: slipway_dump::Target,
    sandbox: Option<slipway_sandbox::Jail>,
    config: &ServerConfig,
    count: usize,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let processor = Processor {
        store: state.upgrade.store.clone(),
        files: state.upgrade.files.clone(),
        scripts_dir: config.upgrade_scripts.clone(),
        engines: std::sync::Arc::new(state.platform.clone()),
        target,
        slipway_bin: std::env::current_exe().ok(),
        sandbox,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = (0..count)
        .map(|n| {
            let name = format!("{}-{n}", std::process::id());
            tokio::spawn(run_worker(
                state.upgrade.queue.clone(),
                processor.clone(),
                name,
                stopped.clone(),
            ))
        })
        .collect();
    (stop, workers)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

/// An IANA time zone name, checked.
fn parse_time_zone(name: &str) -> Result<String, slipway_platform::backups::Error> {
    slipway_platform::backups::parse_time_zone(name).map(|_| name.to_string())
}
