//! Shell: a terminal in a build's folder, in the browser, over a WebSocket
//! (`GET /api/builds/{id}/shell`).
//!
//! The PTY is made by util-linux's `script`, which runs `bash` on a pseudo-terminal and
//! relays it on plain pipes, so no terminal code lives here. `psql` connects to the build's
//! database (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD` from its `odoo.conf`),
//! and `odoo-bin shell` finds the build's virtualenv, Odoo and configuration (`ODOO_RC`).
//! A shell nobody typed in for `serve --shell-idle` (15 minutes by default) is closed. It runs
//! as the user Slipway runs as, like the build's own Odoo server.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use slipway_platform::projects::Action;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{build_for, ApiError, ApiResult, ApiUser};
use crate::AppState;

/// The libpq environment of a build, from its `odoo.conf` text: `PGHOST`, `PGPORT`,
/// `PGDATABASE`, `PGUSER`, `PGPASSWORD` for the keys present (and not `False`).
pub(crate) fn pg_env(conf: &str) -> Vec<(&'static str, String)> {
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

/// The series of the build's project (the runtime whose `odoo-bin` it runs).
async fn series_of(state: &AppState, build: &slipway_platform::builds::Build) -> String {
    match state.platform.projects.get(&build.project).await {
        Ok(project) => project.series,
        Err(_) => String::new(),
    }
}

/// The virtualenv folder of requirements key `key` under `venvs` (`<key>-py<version>`).
fn venv_dir(venvs: &Path, key: &str) -> Option<std::path::PathBuf> {
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

/// Whether the WebSocket's `Origin` (when sent) is this server: a page of another site
/// cannot open a shell with the user's cookie.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// `GET /api/builds/{id}/shell` (WebSocket): the terminal's bytes both ways.
pub(crate) async fn shell(
    State(state): State<AppState>,
    user: ApiUser,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    if !same_origin(&headers) {
        return Err(ApiError::forbidden(
            "shells open only from Slipway's own pages",
        ));
    }
    let build = build_for(&state, &user, id, Action::Shell).await?;
    let dir = state.platform.env().build_dir(&build.name);
    let conf = tokio::fs::read_to_string(dir.join("odoo.conf"))
        .await
        .map_err(|_| ApiError::not_found(format!("build #{id} has no environment (yet)")))?;
    let mut env = pg_env(&conf);
    if !env.iter().any(|(k, _)| *k == "PGDATABASE") {
        if let Some(db) = &build.database {
            env.push(("PGDATABASE", db.clone()));
        }
    }
    // `odoo-bin shell` works as on Odoo.sh: the build's virtualenv and Odoo source first on
    // PATH, its odoo.conf as Odoo's default configuration file.
    let mut path = Vec::new();
    if let Some(key) = &build.venv_key {
        let venvs = state.platform.env().builds_dir.with_file_name("venvs");
        if let Some(venv) = venv_dir(&venvs, key) {
            path.push(venv.join("bin"));
        }
    }
    if let Ok(Some(runtime)) = state
        .platform
        .projects
        .runtime(&series_of(&state, &build).await)
        .await
    {
        path.push(std::path::PathBuf::from(runtime.source_dir));
    }
    if let Some(system) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&system));
    }
    let path = std::env::join_paths(path).unwrap_or_else(|_| "/usr/bin:/bin".into());
    env.push(("ODOO_RC", dir.join("odoo.conf").display().to_string()));
    env.push(("PATH", path.to_string_lossy().into_owned()));
    tracing::info!(build = %build.name, user = %user.0.login, "shell opened");
    let idle = state.shell_idle;
    Ok(ws.on_upgrade(move |socket| run(socket, dir, env, idle)))
}

async fn run(
    mut socket: WebSocket,
    dir: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    idle: Duration,
) {
    let child = spawn(&dir, &env);
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            let _ = socket
                .send(Message::Text(
                    format!("cannot start a shell: {e}\r\n").into(),
                ))
                .await;
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return;
    };
    let mut buf = vec![0u8; 16 * 1024];
    let idle_reason = format!("closed after {} without input", humanize(idle));
    let reason = loop {
        tokio::select! {
            incoming = tokio::time::timeout(idle, socket.recv()) => match incoming {
                Err(_) => break idle_reason.as_str(),
                Ok(Some(Ok(Message::Text(text)))) => {
                    if stdin.write_all(text.as_bytes()).await.is_err() { break "the shell ended"; }
                }
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    if stdin.write_all(&bytes).await.is_err() { break "the shell ended"; }
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break "",
                Ok(Some(Ok(_))) => {}
            },
            read = stdout.read(&mut buf) => match read {
                Ok(0) | Err(_) => break "the shell ended",
                Ok(n) => {
                    if socket.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break ""; }
                }
            },
        }
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    if !reason.is_empty() {
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: reason.into(),
            })))
            .await;
    }
}

/// "15 minutes", "1 minute", "30 seconds".
fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn spawn(dir: &Path, env: &[(&'static str, String)]) -> std::io::Result<tokio::process::Child> {
    let mut command = Command::new("script");
    command
        .args([
            "--quiet",
            "--flush",
            "--return",
            "--command",
            "stty rows 30 cols 110 2>/dev/null; exec bash --noprofile --norc -i",
            "/dev/null",
        ])
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", dir)
        .env("TERM", "xterm-256color")
        .env("LANG", "C.UTF-8")
        .env("PS1", "\\w$ ")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_limit_reads_as_people_say_it() {
        assert_eq!(humanize(Duration::from_secs(900)), "15 minutes");
        assert_eq!(humanize(Duration::from_secs(60)), "1 minute");
        assert_eq!(humanize(Duration::from_secs(2)), "2 seconds");
        assert_eq!(humanize(Duration::from_secs(90)), "90 seconds");
    }

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
    fn only_this_servers_pages_open_shells() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "slipway.example:8080".parse().unwrap());
        assert!(same_origin(&headers), "no Origin: not a browser page");
        headers.insert(
            header::ORIGIN,
            "http://slipway.example:8080".parse().unwrap(),
        );
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
