//! Running `git` with a clean, predictable environment.

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{Error, Result};

/// A `git` command with a clean environment: only `PATH` is inherited; system and global
/// configuration are ignored (a `commit.gpgSign` or `init.templateDir` in the server user's
/// `~/.gitconfig` cannot change what Slipway does), messages are in English, no prompt.
///
/// Also the base of `git http-backend` in the server. The child is killed if dropped.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// What a finished `git` run produced.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

pub(crate) fn spawn_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::GitMissing
    } else {
        Error::Io {
            path: "git".into(),
            source: e,
        }
    }
}

/// Runs `git --git-dir <dir> <args>` with `envs`, feeding `stdin`, and returns its output
/// whatever the exit status.
pub(crate) async fn run_raw(
    dir: Option<&Path>,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Output> {
    let mut cmd = git_command();
    if let Some(dir) = dir {
        cmd.arg("--git-dir").arg(dir);
    }
    cmd.args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(spawn_error)?;
    let pipe = child.stdin.take();
    let feed = async move {
        if let (Some(data), Some(mut pipe)) = (stdin, pipe) {
            // A broken pipe means git stopped reading; its exit status tells why.
            let _ = pipe.write_all(data).await;
        }
    };
    let ((), output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(spawn_error)?;
    Ok(Output {
        status: output.status,
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Like [`run_raw`], but a non-zero exit is [`Error::GitFailed`]; returns stdout.
pub(crate) async fn run(
    dir: Option<&Path>,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let output = run_raw(dir, args, envs, stdin).await?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(failed(args, output))
    }
}

/// The [`Error::GitFailed`] of a finished run.
pub(crate) fn failed(args: &[&str], output: Output) -> Error {
    Error::GitFailed {
        command: args.join(" "),
        stderr: if output.stderr.is_empty() {
            format!("exit status {}", output.status)
        } else {
            output.stderr
        },
    }
}

/// stdout as trimmed text.
pub(crate) fn text(stdout: Vec<u8>) -> String {
    String::from_utf8_lossy(&stdout).trim().to_owned()
}
