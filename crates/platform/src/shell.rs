//! Shells in a build: what runs when someone opens the Shell tab or logs in over SSH.
//!
//! [`Platform::shell_command`] is the one place that says how a shell of a build is started:
//! inside the build's sandbox, as the build's own processes run
//! ([`Platform::command_in_build`]): Odoo.sh's layout (`~/src/user`, `~/src/odoo`,
//! `~/data`, `~/logs`), `psql` connected to the build's database as its own role, `odoo-bin
//! shell` finding the build's virtualenv, Odoo and configuration (`ODOO_RC`). A terminal's
//! PTY is made by util-linux's `script`, which runs `bash` on a pseudo-terminal and relays it
//! on plain pipes, so no terminal code lives in Slipway. [`Platform::may_open_shell`] is who
//! may.

use std::process::Stdio;

use tokio::process::Command;

use crate::builds::{Build, SessionProgram};
use crate::error::Result;
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
    /// The command that starts a shell of `kind` in `build`'s sandbox: stdin and stdout
    /// piped (stderr too for [`ShellKind::Exec`]; a terminal's goes to its PTY), killed when
    /// dropped. Fails when the build has no environment (yet) or its sandbox cannot be made.
    pub async fn shell_command(&self, build: &Build, kind: ShellKind) -> Result<Command> {
        let program = session_program(&kind);
        let mut command = self.command_in_build(build, &program).await?;
        let stderr = match kind {
            ShellKind::Terminal { .. } => Stdio::null(),
            ShellKind::Exec(_) => Stdio::piped(),
        };
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
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
}

/// `bash` for a shell of `kind`: on a PTY of the asked size, or `bash -c` without one.
fn session_program(kind: &ShellKind) -> SessionProgram {
    match kind {
        ShellKind::Terminal { rows, cols } => SessionProgram {
            program: "bash".into(),
            args: vec![
                "-c".into(),
                format!(
                    "stty rows {rows} cols {cols} 2>/dev/null; exec bash --noprofile --norc -i"
                ),
            ],
            env: vec![
                ("TERM".into(), "xterm-256color".into()),
                ("PS1".into(), "\\w$ ".into()),
            ],
            pty: true,
        },
        ShellKind::Exec(line) => SessionProgram {
            program: "bash".into(),
            args: vec!["-c".into(), line.clone()],
            env: Vec::new(),
            pty: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_runs_in_bash_without_a_terminal() {
        let program = session_program(&ShellKind::Exec("echo hi".into()));
        assert_eq!(program.program, "bash");
        assert_eq!(program.args, ["-c", "echo hi"]);
        assert!(!program.pty);
    }

    #[test]
    fn a_terminal_gets_its_size_and_a_pty() {
        let program = session_program(&ShellKind::Terminal {
            rows: 40,
            cols: 120,
        });
        assert!(program.pty);
        assert!(
            program.args[1].starts_with("stty rows 40 cols 120"),
            "{:?}",
            program.args
        );
    }
}
