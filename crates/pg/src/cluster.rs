//! The embedded PostgreSQL cluster: one per Slipway data directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use crate::binaries::Binaries;
use crate::conn::{EmbeddedConn, Server};
use crate::error::{PgError, Result};
use crate::state::{ClusterState, Layout};
use crate::user::ServerUser;

/// How the cluster is tuned. Production keeps PostgreSQL's durable defaults; test runs trade
/// durability for speed.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Skip fsync at initdb and at run time (tests only: a crash may lose data).
    pub unsafe_fast: bool,
    /// Use the server binaries of this directory instead of discovering them.
    pub bin_dir: Option<PathBuf>,
    /// Archive the WAL (point-in-time recovery): `archive_mode = on` with an
    /// `archive_command` copying each finished segment into the spool folder
    /// ([`Layout::wal_spool`]), fsynced, before it reports success, so PostgreSQL keeps the
    /// segment and retries until it is stored. Slipway moves spooled files into the backup
    /// repository. `archive_timeout` closes a segment at most a minute after a write.
    pub wal_archive: bool,
}

/// What `start` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOutcome {
    /// It was already running; nothing was done.
    AlreadyRunning,
    /// It was stopped and is now running.
    Started,
    /// It did not exist: initdb ran, then it started.
    Created,
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// Whether the server is up.
    pub running: bool,
    /// The postmaster's process id when running.
    pub pid: Option<u32>,
    /// Version of the binaries used for this data directory.
    pub version: String,
    /// PGDATA.
    pub pgdata: PathBuf,
    /// The Unix socket directory.
    pub socket_dir: PathBuf,
    /// The TCP port on 127.0.0.1 (the last one used when stopped).
    pub port: Option<u16>,
    /// Bytes used by PGDATA.
    pub data_bytes: u64,
}

/// An embedded cluster living under `<data-dir>/pg`.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    layout: Layout,
    options: ClusterOptions,
    user: ServerUser,
}

impl EmbeddedCluster {
    /// The cluster of `data_dir` (which may not exist yet). Nothing is created here.
    pub fn new(data_dir: &Path, options: ClusterOptions) -> Result<Self> {
        let data_dir = absolute(data_dir)?;
        Ok(Self {
            layout: Layout::new(&data_dir),
            options,
            user: ServerUser::for_this_process()?,
        })
    }

    /// The cluster's paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The binaries able to run this data directory: the installed default for a new cluster,
    /// the matching major version for an existing one.
    pub fn binaries(&self) -> Result<Binaries> {
        let default = match &self.options.bin_dir {
            Some(dir) => Binaries::at(dir)?,
            None => Binaries::discover()?,
        };
        let Some(data_major) = self.data_major()? else {
            return Ok(default);
        };
        if default.version().major == data_major {
            return Ok(default);
        }
        Binaries::for_major(data_major).map_err(|_| PgError::MajorVersionMismatch {
            pgdata: self.layout.pgdata.clone(),
            data_major,
            found: default.version().full.clone(),
        })
    }

    /// Starts the cluster, creating it on first use. Idempotent; recovers from a stale
    /// postmaster.pid left by a crash.
    pub async fn start(&self) -> Result<StartOutcome> {
        if self.running_pid().is_some() {
            let binaries = self.binaries()?;
            self.secure_access(&binaries).await?;
            return Ok(StartOutcome::AlreadyRunning);
        }
        let binaries = self.binaries()?;
        let mut state = ClusterState::load(&self.layout.state_file)?;
        let created = self.ensure_initialized(&binaries, &mut state).await?;
        self.remove_stale_pid_file()?;
        let port = choose_port(state.port)?;
        self.prepare_socket_dir()?;
        if self.options.wal_archive {
            self.prepare_wal_spool()?;
        }
        self.write_settings(port)?;
        if state.password.is_some() {
            // Written before the server reads it: no moment with the old rules.
            self.write_access_rules()?;
        }
        self.pg_ctl_start(&binaries).await?;
        state.port = Some(port);
        state.socket_dir = Some(self.layout.socket_dir.clone());
        if state.password.is_none() {
            // A cluster of an older Slipway that never got a password: set it through the
            // socket its old rules still trust, then close that door.
            let password = random_password();
            self.set_superuser_password(&state, port, &binaries, &password)
                .await?;
            state.password = Some(password);
        }
        state.save(&self.layout.state_file)?;
        self.secure_access(&binaries).await?;
        tracing::info!(pgdata = %self.layout.pgdata.display(), port, "embedded PostgreSQL running");
        Ok(if created {
            StartOutcome::Created
        } else {
            StartOutcome::Started
        })
    }

    /// Writes Slipway's `pg_hba.conf` and, when the running server still has other rules
    /// (a data directory of an older Slipway trusting its socket), reloads it.
    async fn secure_access(&self, binaries: &Binaries) -> Result<()> {
        if !self.write_access_rules()? {
            return Ok(());
        }
        let mut cmd = Command::new(binaries.tool("pg_ctl"));
        cmd.arg("reload").arg("-D").arg(&self.layout.pgdata);
        self.run_as_server_user(cmd, "pg_ctl reload").await?;
        tracing::info!(pgdata = %self.layout.pgdata.display(), "PostgreSQL access rules rewritten: no trust");
        Ok(())
    }

    /// Writes `pg_hba.conf` ([`access_rules`]); returns whether it changed.
    fn write_access_rules(&self) -> Result<bool> {
        let path = self.layout.pgdata.join("pg_hba.conf");
        let wanted = access_rules(self.user.name());
        if std::fs::read_to_string(&path).is_ok_and(|text| text == wanted) {
            return Ok(false);
        }
        let tmp = self.layout.pgdata.join("pg_hba.conf.slipway");
        std::fs::write(&tmp, &wanted)?;
        set_private_file(&tmp)?;
        self.user.take_ownership(&tmp)?;
        std::fs::rename(&tmp, &path)?;
        Ok(true)
    }

    /// Stops the cluster (fast shutdown: sessions are disconnected). Returns false when it
    /// was not running.
    pub async fn stop(&self) -> Result<bool> {
        if self.running_pid().is_none() {
            return Ok(false);
        }
        let binaries = self.binaries()?;
        let mut cmd = Command::new(binaries.tool("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.layout.pgdata)
            .args(["-m", "fast", "-w", "-t", "60"]);
        self.run_as_server_user(cmd, "pg_ctl stop").await?;
        Ok(true)
    }

    /// The cluster's state, running or not.
    pub fn status(&self) -> Result<ClusterStatus> {
        let state = ClusterState::load(&self.layout.state_file)?;
        Ok(ClusterStatus {
            running: self.running_pid().is_some(),
            pid: self.running_pid(),
            version: self.binaries()?.version().full.clone(),
            pgdata: self.layout.pgdata.clone(),
            socket_dir: self.layout.socket_dir.clone(),
            port: state.port,
            data_bytes: dir_size(&self.layout.pgdata),
        })
    }

    /// How to connect, once started.
    pub fn server(&self) -> Result<Server> {
        let state = ClusterState::load(&self.layout.state_file)?;
        let port = match (self.running_pid(), state.port) {
            (Some(_), Some(port)) => port,
            _ => {
                return Err(PgError::NotRunning {
                    data_dir: self.layout.data_dir.clone(),
                })
            }
        };
        Ok(Server::Embedded(EmbeddedConn {
            socket_dir: self.layout.socket_dir.clone(),
            port,
            user: state.superuser,
            password: state.password,
            over_tcp: true,
        }))
    }

    /// The postmaster's pid if it is alive. A pid file whose process is gone, or belongs to
    /// another program since the pid was reused, does not count: the postmaster is the process
    /// whose working directory is PGDATA (PostgreSQL moves there at start).
    pub fn running_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.layout.pgdata.join("postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        let pgdata = std::fs::canonicalize(&self.layout.pgdata).ok()?;
        (cwd == pgdata).then_some(pid)
    }

    /// The major version recorded in PGDATA/PG_VERSION, if the cluster exists.
    fn data_major(&self) -> Result<Option<u32>> {
        match std::fs::read_to_string(self.layout.pgdata.join("PG_VERSION")) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PgError::DataDir {
                path: self.layout.pgdata.clone(),
                source: e,
            }),
        }
    }

    /// Runs initdb when PGDATA does not hold a cluster yet. On failure, removes what it
    /// created, so the next attempt starts clean. Returns whether it created the cluster.
    /// A new cluster gets the superuser's password at initdb, recorded in `state` (and saved
    /// at once: the access rules written next accept nothing else).
    async fn ensure_initialized(
        &self,
        binaries: &Binaries,
        state: &mut ClusterState,
    ) -> Result<bool> {
        if self.data_major()?.is_some() {
            return Ok(false);
        }
        let data_dir_existed = self.layout.data_dir.exists();
        let password = random_password();
        let result = self.initialize(binaries, &password).await;
        let result = result.and_then(|()| {
            state.password = Some(password);
            state.save(&self.layout.state_file)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&self.layout.pgdata);
            if !data_dir_existed {
                let _ = std::fs::remove_dir_all(&self.layout.data_dir);
            }
        }
        result.map(|()| true)
    }

    async fn initialize(&self, binaries: &Binaries, password: &str) -> Result<()> {
        let data_dir = &self.layout.data_dir;
        let data_dir_error = |source| PgError::DataDir {
            path: data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
        if !self.user.can_enter(data_dir).await {
            return Err(PgError::Unreachable {
                user: self.user.name().to_string(),
                path: data_dir.clone(),
            });
        }
        create_private_dir(&self.layout.pgdata).map_err(data_dir_error)?;
        self.user.take_ownership(&self.layout.pgdata)?;
        // initdb reads the password from a file only the server user can read, removed at once.
        let password_file = data_dir.join(".initdb-password");
        std::fs::write(&password_file, password).map_err(data_dir_error)?;
        set_private_file(&password_file)?;
        self.user.take_ownership(&password_file)?;
        let mut cmd = Command::new(binaries.tool("initdb"));
        cmd.arg("-D")
            .arg(&self.layout.pgdata)
            .args(["-U", "postgres", "--encoding=UTF8", "--locale=C"])
            .args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()));
        if self.options.unsafe_fast {
            cmd.arg("--no-sync");
        }
        let initialized = self.run_as_server_user(cmd, "initdb").await;
        let _ = std::fs::remove_file(&password_file);
        initialized?;
        let conf = self.layout.pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str("\n# Port, socket and tuning written by Slipway at each start.\ninclude_if_exists = 'slipway.conf'\n");
        std::fs::write(&conf, text)?;
        tracing::info!(pgdata = %self.layout.pgdata.display(), "initialized embedded PostgreSQL");
        Ok(())
    }

    /// Removes a postmaster.pid whose process is gone (a crash or kill -9), and the socket
    /// lock files it left: PostgreSQL would otherwise refuse to start when the old pid still
    /// exists as a zombie or was reused. The socket directory is this cluster's alone.
    fn remove_stale_pid_file(&self) -> Result<()> {
        let pid_file = self.layout.pgdata.join("postmaster.pid");
        if !pid_file.exists() || self.running_pid().is_some() {
            return Ok(());
        }
        tracing::warn!(file = %pid_file.display(), "removing stale postmaster.pid left by a crash");
        std::fs::remove_file(pid_file)?;
        let leftovers = std::fs::read_dir(&self.layout.socket_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".s.PGSQL."));
        for entry in leftovers {
            std::fs::remove_file(entry.path())?;
        }
        Ok(())
    }

    fn prepare_socket_dir(&self) -> Result<()> {
        let dir = &self.layout.socket_dir;
        create_private_dir(dir).map_err(|source| PgError::DataDir {
            path: dir.clone(),
            source,
        })?;
        self.user.take_ownership(dir)
    }

    fn prepare_wal_spool(&self) -> Result<()> {
        let dir = &self.layout.wal_spool;
        create_private_dir(dir).map_err(|source| PgError::DataDir {
            path: dir.clone(),
            source,
        })?;
        self.user.take_ownership(dir)
    }

    fn write_settings(&self, port: u16) -> Result<()> {
        let mut settings = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 200\n",
            self.layout.socket_dir.to_string_lossy().replace('\'', "''")
        );
        if self.options.unsafe_fast {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        if self.options.wal_archive {
            settings.push_str(&archive_settings(&self.layout.wal_spool)?);
        }
        std::fs::write(&self.layout.settings_file, settings)?;
        self.user.take_ownership(&self.layout.settings_file)
    }

    /// `pg_ctl start`, retried a few times: after a kill -9 of the postmaster its orphaned
    /// backends hold the shared memory for a moment and PostgreSQL refuses until they exit.
    async fn pg_ctl_start(&self, binaries: &Binaries) -> Result<()> {
        let mut last_error = String::new();
        for attempt in 0..10 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let mut cmd = Command::new(binaries.tool("pg_ctl"));
            cmd.arg("start")
                .arg("-D")
                .arg(&self.layout.pgdata)
                .arg("-l")
                .arg(&self.layout.log_file)
                .args(["-w", "-t", "60"]);
            self.user.apply(&mut cmd);
            let output = cmd.current_dir("/").output().await?;
            if output.status.success() {
                return Ok(());
            }
            last_error = self.start_failure_detail(&output);
            if !last_error.contains("still in use") {
                break;
            }
        }
        Err(PgError::StartFailed {
            pgdata: self.layout.pgdata.clone(),
            detail: last_error,
        })
    }

    /// The useful part of a failed start: pg_ctl's own words and the server log's last lines.
    fn start_failure_detail(&self, output: &Output) -> String {
        let log = std::fs::read_to_string(&self.layout.log_file).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{} {}",
            String::from_utf8_lossy(&output.stderr).trim(),
            tail.join(" | ")
        )
    }

    async fn set_superuser_password(
        &self,
        state: &ClusterState,
        port: u16,
        binaries: &Binaries,
        password: &str,
    ) -> Result<()> {
        let mut cmd = Command::new(binaries.tool("psql"));
        cmd.arg("-X")
            .arg("-q")
            .args(["-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.layout.socket_dir)
            .args([
                "-p",
                &port.to_string(),
                "-U",
                &state.superuser,
                "-d",
                "postgres",
            ])
            .arg("-c")
            .arg(format!(
                "ALTER ROLE \"{}\" PASSWORD '{password}'",
                state.superuser
            ));
        run(cmd, "psql (set superuser password)").await
    }

    async fn run_as_server_user(&self, mut cmd: Command, what: &str) -> Result<()> {
        self.user.apply(&mut cmd);
        cmd.current_dir("/");
        run(cmd, what).await
    }
}

/// The settings that archive every finished WAL file into `spool`: copied under a dot name,
/// fsynced, renamed, the folder fsynced; any failure exits non-zero, so PostgreSQL keeps the
/// file in pg_wal and tries again. Copying again over a file already spooled is harmless.
pub fn archive_settings(spool: &Path) -> Result<String> {
    let dir = spool.to_string_lossy();
    if dir.contains(['"', '\'', '\\', '$', '`', '%', '\n']) {
        return Err(PgError::DataDir {
            path: spool.to_path_buf(),
            source: std::io::Error::other(
                "the WAL spool path holds a quote, $, `, % or \\; choose a plainer --data-dir",
            ),
        });
    }
    let command = format!(
        "cp \"%p\" \"{dir}/.%f.tmp\" && sync \"{dir}/.%f.tmp\" && mv -f \"{dir}/.%f.tmp\" \"{dir}/%f\" && sync \"{dir}\""
    );
    Ok(format!(
        "wal_level = replica\narchive_mode = on\narchive_timeout = 60\narchive_command = '{command}'\n"
    ))
}

/// The cluster's `pg_hba.conf`: nobody is trusted. Only when the server runs as the `postgres`
/// system user does that user reach the `postgres` role by `peer` (as Debian's own clusters
/// allow); when Slipway runs unprivileged the server runs as Slipway's user, which gets no
/// `peer` line at all, since every process of that user (and a build, unless sandboxed as
/// another uid) would then be superuser. Everyone else, Slipway included, gives a password
/// (SCRAM), over the socket or 127.0.0.1.
pub fn access_rules(server_os_user: &str) -> String {
    let mut rules = String::from(
        "# Written by Slipway at each start; edits are overwritten. No trust for anyone.\n\
         # TYPE  DATABASE     USER      ADDRESS        METHOD\n",
    );
    if server_os_user == "postgres" {
        rules.push_str("local   all          postgres                 peer\n");
        rules.push_str("local   replication  postgres                 peer\n");
    }
    rules.push_str(
        "local   all          all                      scram-sha-256\n\
         host    all          all       127.0.0.1/32   scram-sha-256\n\
         host    all          all       ::1/128        scram-sha-256\n\
         host    replication  postgres  127.0.0.1/32   scram-sha-256\n\
         host    replication  postgres  ::1/128        scram-sha-256\n",
    );
    rules
}

fn set_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Runs a command to completion; a non-zero exit becomes an error carrying its stderr.
pub(crate) async fn run(mut cmd: Command, what: &str) -> Result<()> {
    let output = cmd.output().await.map_err(|e| PgError::Command {
        command: what.to_string(),
        detail: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(PgError::Command {
        command: what.to_string(),
        detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// The previous port when it is still free (clients and builds remember it), else any free one.
fn choose_port(previous: Option<u16>) -> Result<u16> {
    if let Some(port) = previous {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        tracing::info!(port, "previous PostgreSQL port is taken; choosing another");
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// An absolute path without `.` or `..`, whether or not it exists yet: paths are compared with
/// what the kernel reports for the server process, and shown to users.
fn absolute(path: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut clean = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// Total size of the files under `dir` (0 when it does not exist).
pub fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_command_stores_durably_before_reporting_success() {
        let text = archive_settings(Path::new("/srv/slipway/wal-spool")).unwrap();
        assert!(text.contains("archive_mode = on\n"), "{text}");
        assert!(text.contains("archive_timeout = 60\n"), "{text}");
        let command = text
            .lines()
            .find_map(|l| l.strip_prefix("archive_command = '"))
            .and_then(|l| l.strip_suffix('\''))
            .unwrap();
        assert_eq!(
            command,
            "cp \"%p\" \"/srv/slipway/wal-spool/.%f.tmp\" && sync \"/srv/slipway/wal-spool/.%f.tmp\" \
             && mv -f \"/srv/slipway/wal-spool/.%f.tmp\" \"/srv/slipway/wal-spool/%f\" \
             && sync \"/srv/slipway/wal-spool\""
        );
        for bad in ["/a'b", "/a\"b", "/a$b", "/a%b", "/a`b", "/a\\b"] {
            assert!(archive_settings(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
