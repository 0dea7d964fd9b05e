//! Shells in a build: what runs when someone opens the Shell tab or logs in over SSH.
//!
//! [`Platform::shell_command`] is the one place that says how a shell of a build is started:
//! in the build's folder, with `psql` connected to the build's database (`PGHOST`, `PGPORT`,
//! `PGDATABASE`, `PGUSER`, `PGPASSWORD` from its `odoo.conf`), and `odoo-bin shell` finding
//! the build's virtualenv, Odoo and configuration (`ODOO_RC`). A terminal's PTY is made by
//! util-linux's `script`, which runs `bash` on a pseudo-terminal and relays it on plain pipes,
//! so no terminal code lives in Slipway. [`Platform::may_open_shell`] is who may.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::builds::Build;
use crate::error::{PlatformError, Result};
use crate::people::User;
use crate::projects::{allowed, Action, Role};
use crate::service::Platform;

/// What kind of shell to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellKind {
    /// An interactive `bash` on a pseudo-terminal of this size (the Shell tab, `ssh build@host`).
    Terminal {
        /// Lines.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// `bash -c` this command line, without a terminal (`ssh build@host CMD`, `scp`, `sftp`).
    Exec(String),
}

impl Platform {
    /// The command that starts a shell of `kind` in `build`: its folder as the working
    /// directory and `HOME`, a clean environment with the build's database and Odoo, stdin and
    /// stdout piped (stderr too for [`ShellKind::Exec`]; a terminal's goes to its PTY), killed
    /// when dropped. NotFound when the build has no environment (yet).
    pub async fn shell_command(&self, build: &Build, kind: ShellKind) -> Result<Command> {
        let dir = self.env().build_dir(&build.name);
        let conf_path = dir.join("odoo.conf");
        let conf = tokio::fs::read_to_string(&conf_path).await.map_err(|_| {
            PlatformError::NotFound(format!("build #{} has no environment (yet)", build.id))
        })?;
        let mut env = pg_env(&conf);
        if !env.iter().any(|(k, _)| *k == "PGDATABASE") {
            if let Some(db) = &build.database {
                env.push(("PGDATABASE", db.clone()));
            }
        }
        env.push(("ODOO_RC", conf_path.display().to_string()));
        env.push(("PATH", self.shell_path(build).await));
        let mut command = match kind {
            ShellKind::Terminal { rows, cols } => terminal(rows, cols),
            ShellKind::Exec(line) => exec(&line),
        };
        command
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("LANG", "C.UTF-8")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        Ok(command)
    }

    /// Whether `user` may open a shell in `build`: Odoo.sh's rule for the build's stage
    /// ([`allowed`] with [`Action::Shell`]), by the user's role in its project (Slipway
    /// administrators are admins everywhere; non-members may not).
    pub async fn may_open_shell(&self, user: &User, build: &Build) -> Result<bool> {
        let role = if user.is_admin {
            Some(Role::Admin)
        } else {
            let project = self.projects.get(&build.project).await?;
            self.projects.role(project.id, user.id).await?
        };
        Ok(role.is_some_and(|role| allowed(role, Action::Shell, build.stage)))
    }

    /// `PATH` as on Odoo.sh: the build's virtualenv and Odoo source first, so that `python`
    /// and `odoo-bin` are the build's, then Slipway's own `PATH`.
    async fn shell_path(&self, build: &Build) -> String {
        let mut path = Vec::new();
        if let Some(key) = &build.venv_key {
            let venvs = self.env().builds_dir.with_file_name("venvs");
            if let Some(venv) = venv_dir(&venvs, key) {
                path.push(venv.join("bin"));
            }
        }
        let series = match self.projects.get(&build.project).await {
            Ok(project) => project.series,
            Err(_) => String::new(),
        };
        if let Ok(Some(runtime)) = self.projects.runtime(&series).await {
            path.push(PathBuf::from(runtime.source_dir));
        }
        if let Some(system) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&system));
        }
        std::env::join_paths(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/usr/bin:/bin".into())
    }
}

/// `bash` on a pseudo-terminal of `rows` × `cols`, through `script`; its stderr is the PTY's.
fn terminal(rows: u16, cols: u16) -> Command {
    let mut command = Command::new("script");
    command
        .args([
            "--quiet",
            "--flush",
            "--return",
            "--command",
            &format!("stty rows {rows} cols {cols} 2>/dev/null; exec bash --noprofile --norc -i"),
            "/dev/null",
        ])
        .env_clear()
        .env("TERM", "xterm-256color")
        .env("PS1", "\\w$ ")
        .stderr(Stdio::null());
    command
}

/// `bash -c line`, its three streams piped.
fn exec(line: &str) -> Command {
    let mut command = Command::new("bash");
    command
        .args(["-c", line])
        .env_clear()
        .stderr(Stdio::piped());
    command
}

/// The libpq environment of a build, from its `odoo.conf` text: `PGHOST`, `PGPORT`,
/// `PGDATABASE`, `PGUSER`, `PGPASSWORD` for the keys present (and not `False`).
fn pg_env(conf: &str) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    for line in conf.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() || value == "False" {
            continue;
        }
        let name = match key.trim() {
            "db_host" => "PGHOST",
            "db_port" => "PGPORT",
            "db_name" => "PGDATABASE",
            "db_user" => "PGUSER",
            "db_password" => "PGPASSWORD",
            _ => continue,
        };
        env.push((name, value.to_string()));
    }
    env
}

/// The virtualenv folder of requirements key `key` under `venvs` (`<key>-py<version>`).
fn venv_dir(venvs: &Path, key: &str) -> Option<PathBuf> {
    let prefix = format!("{key}-py");
    std::fs::read_dir(venvs)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_reaches_the_database_odoo_conf_names() {
        let conf =
            "[options]\naddons_path = /x\ndb_host = /tmp/slipway-ab\ndb_name = shop-main-3\n\
                    db_password = False\ndb_port = 5433\ndb_user = odoo\nhttp_port = 8069\n";
        assert_eq!(
            pg_env(conf),
            vec![
                ("PGHOST", "/tmp/slipway-ab".to_string()),
                ("PGDATABASE", "shop-main-3".to_string()),
                ("PGPORT", "5433".to_string()),
                ("PGUSER", "odoo".to_string()),
            ]
        );
    }

    #[test]
    fn a_command_runs_in_bash_without_a_terminal() {
        let command = exec("echo hi");
        let std = command.as_std();
        assert_eq!(std.get_program(), "bash");
        assert_eq!(std.get_args().collect::<Vec<_>>(), ["-c", "echo hi"]);
    }
}
