//! A throw-away cluster recovered from a base backup to a point in time: the caller unpacks
//! the base backup into [`ScratchCluster::pgdata`] and puts the WAL files replay needs in
//! [`ScratchCluster::wal_dir`]; [`ScratchCluster::recover_to`] then replays them up to the
//! target and promotes, without archiving anything and listening on its own socket only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::binaries::Binaries;
use crate::cluster::{create_private_dir, run};
use crate::conn::{EmbeddedConn, Server};
use crate::error::{PgError, Result};
use crate::user::ServerUser;

/// The port number in the socket's name (no TCP is opened).
const SOCKET_PORT: u16 = 5432;

/// A scratch cluster under one folder: `pgdata/`, `run/` (socket), `wal/` (files for the
/// `restore_command`), `server.log`.
#[derive(Debug)]
pub struct ScratchCluster {
    dir: PathBuf,
    binaries: Binaries,
    user: ServerUser,
    superuser: String,
    password: Option<String>,
}

impl ScratchCluster {
    /// Creates the folder (which must not exist) and its sub-folders, owned by the server
    /// user. `superuser` is the role the base backup's cluster was created with, `password`
    /// its password there (the scratch cluster trusts no one either).
    pub fn create(
        dir: &Path,
        binaries: Binaries,
        superuser: &str,
        password: Option<&str>,
    ) -> Result<ScratchCluster> {
        let user = ServerUser::for_this_process()?;
        let io = |source| PgError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        if dir.exists() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a scratch cluster folder already exists there",
            )));
        }
        let cluster = ScratchCluster {
            dir: dir.to_path_buf(),
            binaries,
            user,
            superuser: superuser.to_string(),
            password: password.map(str::to_string),
        };
        for sub in [dir.to_path_buf(), cluster.pgdata(), cluster.socket_dir()] {
            create_private_dir(&sub).map_err(io)?;
            cluster.user.take_ownership(&sub)?;
        }
        std::fs::create_dir_all(cluster.wal_dir()).map_err(io)?;
        Ok(cluster)
    }

    /// Where the base backup goes.
    pub fn pgdata(&self) -> PathBuf {
        self.dir.join("pgdata")
    }

    /// Where the WAL files replay reads go (any owner; readable by the server user).
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// `tar -x` into PGDATA as the server user, reading the archive on its stdin.
    pub fn untar_command(&self) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("tar");
        cmd.arg("-x")
            .arg("-f")
            .arg("-")
            .arg("-C")
            .arg(self.pgdata());
        if let Some((uid, gid)) = self.user.ids() {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir("/");
        cmd
    }

    /// Replays the WAL up to `target` (a timestamp PostgreSQL reads, e.g.
    /// `2026-11-21 10:42:00+00`), then promotes. Fails, with the server's own words, when the
    /// target is not reached (`recovery ended before configured recovery target was
    /// reached`) or the server does not start within `timeout`.
    pub async fn recover_to(&self, target: &str, timeout: Duration) -> Result<()> {
        let pgdata = self.pgdata();
        if target.contains(['\'', '\\', '\n']) {
            return Err(PgError::Command {
                command: "recovery".into(),
                detail: format!("{target:?} is not a timestamp"),
            });
        }
        // The base backup carries the live cluster's port and socket settings: replace them.
        let quote = |p: &Path| p.to_string_lossy().replace('\'', "''");
        std::fs::write(pgdata.join("slipway.conf"), "")?;
        let settings = format!(
            "\n# Point-in-time recovery by Slipway\nport = {SOCKET_PORT}\nlisten_addresses = ''\n\
             unix_socket_directories = '{socket}'\narchive_mode = off\nhot_standby = off\n\
             fsync = off\nmax_connections = 20\nrestore_command = 'cp \"{wal}/%f\" \"%p\"'\n\
             recovery_target_time = '{target}'\nrecovery_target_action = 'promote'\n\
             recovery_target_timeline = 'current'\n",
            socket = quote(&self.socket_dir()),
            wal = quote(&self.wal_dir()).replace('%', "%%"),
        );
        let auto = pgdata.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
        text.push_str(&settings);
        std::fs::write(&auto, text)?;
        std::fs::write(pgdata.join("recovery.signal"), "")?;
        // Only its socket, and only with a password (a base backup of an older Slipway
        // carries `trust` rules).
        std::fs::write(pgdata.join("pg_hba.conf"), "local all all scram-sha-256\n")?;
        let _ = std::fs::remove_file(pgdata.join("postmaster.pid"));
        for file in [
            "slipway.conf",
            "postgresql.auto.conf",
            "recovery.signal",
            "pg_hba.conf",
        ] {
            self.user.take_ownership(&pgdata.join(file))?;
        }
        let mut cmd = Command::new(self.binaries.tool("pg_ctl"));
        cmd.arg("start")
            .arg("-D")
            .arg(&pgdata)
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", &timeout.as_secs().max(1).to_string()]);
        self.user.apply(&mut cmd);
        cmd.current_dir("/");
        // With hot_standby off, pg_ctl returns as soon as recovery has started; the
        // postmaster writes `ready` in postmaster.pid once promoted, and exits on a FATAL.
        let output = cmd.output().await?;
        let started = std::time::Instant::now();
        let pid_file = pgdata.join("postmaster.pid");
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        while output.status.success() {
            match std::fs::read_to_string(&pid_file) {
                Ok(text) if text.lines().nth(7).is_some_and(|s| s.trim() == "ready") => {
                    return Ok(());
                }
                Ok(_) if started.elapsed() > timeout => {
                    stderr = format!("recovery did not end within {}s", timeout.as_secs());
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => {
                    stderr = "the server stopped during recovery".into();
                    break;
                }
            }
        }
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let important: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("FATAL") || l.contains("PANIC"))
            .collect();
        let detail = if important.is_empty() {
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        } else {
            important.join(" | ")
        };
        Err(PgError::StartFailed {
            pgdata,
            detail: format!("{stderr}: {detail}"),
        })
    }

    /// How to connect (its socket, as the superuser, with its password).
    pub fn server(&self) -> Server {
        Server::Embedded(EmbeddedConn {
            socket_dir: self.socket_dir(),
            port: SOCKET_PORT,
            user: self.superuser.clone(),
            password: self.password.clone(),
            over_tcp: false,
        })
    }

    /// Stops it (immediately: nothing of it is kept) and removes its folder.
    pub async fn remove(self) {
        let pgdata = self.pgdata();
        if pgdata.join("postmaster.pid").exists() {
            let mut cmd = Command::new(self.binaries.tool("pg_ctl"));
            cmd.arg("stop")
                .arg("-D")
                .arg(&pgdata)
                .args(["-m", "immediate", "-w", "-t", "60"]);
            self.user.apply(&mut cmd);
            cmd.current_dir("/");
            if let Err(e) = run(cmd, "pg_ctl stop (scratch cluster)").await {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not stop a scratch cluster");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove a scratch cluster");
        }
    }
}
