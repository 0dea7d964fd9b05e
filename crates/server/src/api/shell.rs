//! Shell: a terminal in a build's folder, in the browser, over a WebSocket
//! (`GET /api/builds/{id}/shell`).
//!
//! What runs is the platform's ([`slipway_platform::Platform::shell_command`], a
//! [`ShellKind::Terminal`]): `bash` on a PTY in the build's folder, `psql` connected to its
//! database, `odoo-bin shell` finding its configuration. This handler only relays bytes. A
//! shell nobody typed in for `serve --shell-idle` (15 minutes by default) is closed.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use slipway_platform::projects::Action;
use slipway_platform::shell::ShellKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{build_for, ApiError, ApiResult, ApiUser};
use crate::AppState;

/// The terminal's size: the Shell tab's xterm is made to fit it.
const ROWS: u16 = 30;
const COLS: u16 = 110;

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
    let command = state
        .platform
        .shell_command(
            &build,
            ShellKind::Terminal {
                rows: ROWS,
                cols: COLS,
            },
        )
        .await?;
    tracing::info!(build = %build.name, user = %user.0.login, "shell opened");
    let idle = state.shell_idle;
    Ok(ws.on_upgrade(move |socket| run(socket, command, idle)))
}

async fn run(mut socket: WebSocket, mut command: Command, idle: Duration) {
    let child = command.spawn();
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
pub(crate) fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
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
