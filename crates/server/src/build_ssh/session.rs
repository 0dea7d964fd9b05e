//! One SSH connection into a build: login, then a shell, a command or `sftp` per channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty};
use slipway_platform::builds::Build;
use slipway_platform::history::HistoryEvent;
use slipway_platform::people::User;
use slipway_platform::shell::ShellKind;
use slipway_platform::Platform;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::time::Instant;

use super::SFTP_SERVER;
use crate::api::shell::humanize;

/// A terminal's size when the client asked for none that makes sense.
const DEFAULT_ROWS: u16 = 24;
const DEFAULT_COLS: u16 = 80;

/// One SSH connection.
pub(super) struct BuildSession {
    platform: Platform,
    peer: SocketAddr,
    idle: Duration,
    /// Who logged in, into which build, once authenticated.
    login: Option<(User, Build)>,
    /// Channels opened and not yet running anything.
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// The terminal size asked for on a channel (`pty-req`).
    ptys: HashMap<ChannelId, (u16, u16)>,
}

impl BuildSession {
    pub(super) fn new(platform: Platform, peer: SocketAddr, idle: Duration) -> Self {
        Self {
            platform,
            peer,
            idle,
            login: None,
            channels: HashMap::new(),
            ptys: HashMap::new(),
        }
    }

    async fn check(&self, user: &str, key: &PublicKey) -> Option<(User, Build)> {
        match self.platform.ssh_login(key, user).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(peer = %self.peer, "SSH login: {e}");
                None
            }
        }
    }

    /// Starts `kind` on `channel` and relays it until it ends; `what` names it in History.
    async fn start(
        &mut self,
        channel: ChannelId,
        kind: ShellKind,
        what: String,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let (Some((user, build)), Some(opened)) =
            (self.login.clone(), self.channels.remove(&channel))
        else {
            return session.channel_failure(channel);
        };
        let child = match self.platform.shell_command(&build, kind).await {
            Ok(mut command) => command.spawn(),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(build = %build.name, "cannot start an SSH session: {e}");
                return session.channel_failure(channel);
            }
        };
        session.channel_success(channel)?;
        let platform = self.platform.clone();
        let idle = self.idle;
        tokio::spawn(async move {
            record(
                &platform,
                &build,
                HistoryEvent::SshOpened {
                    message: format!("{} opened {what} in {} over SSH", user.login, build.name),
                    login: user.login.clone(),
                    build: build.id,
                },
            )
            .await;
            let ended = relay(opened, child, idle).await;
            record(
                &platform,
                &build,
                HistoryEvent::SshClosed {
                    message: format!(
                        "{}'s SSH session in {} ended: {ended}",
                        user.login, build.name
                    ),
                    login: user.login.clone(),
                    build: build.id,
                },
            )
            .await;
        });
        Ok(())
    }
}

async fn record(platform: &Platform, build: &Build, event: HistoryEvent) {
    if let Err(e) = platform.history.record(build.branch_id, event).await {
        tracing::warn!(build = %build.name, "recording an SSH session in History: {e}");
    }
}

impl russh::server::Handler for BuildSession {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.check(user, key).await {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        let Some((owner, build)) = self.check(user, key).await else {
            tracing::info!(peer = %self.peer, user, "SSH login refused");
            return Ok(Auth::reject());
        };
        if let Err(e) = self.platform.ssh_keys.touch(key).await {
            tracing::warn!("noting an SSH key's use: {e}");
        }
        tracing::info!(peer = %self.peer, login = %owner.login, build = %build.name, "SSH login");
        self.login = Some((owner, build));
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let size = |n: u32, default: u16| match u16::try_from(n) {
            Ok(0) | Err(_) => default,
            Ok(n) => n,
        };
        self.ptys.insert(
            channel,
            (
                size(row_height, DEFAULT_ROWS),
                size(col_width, DEFAULT_COLS),
            ),
        );
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (rows, cols) = self
            .ptys
            .get(&channel)
            .copied()
            .unwrap_or((DEFAULT_ROWS, DEFAULT_COLS));
        let kind = ShellKind::Terminal { rows, cols };
        self.start(channel, kind, "a shell".into(), session).await
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(data).into_owned();
        // History names the program only: the rest of a command line may hold secrets, and
        // every member of the project reads History.
        let program = line.split_whitespace().next().unwrap_or("");
        let what = format!("a command ({program})");
        self.start(channel, ShellKind::Exec(line), what, session)
            .await
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name != "sftp" {
            return session.channel_failure(channel);
        }
        let kind = ShellKind::Exec(format!("exec {SFTP_SERVER}"));
        self.start(channel, kind, "sftp".into(), session).await
    }
}

/// What the client did, as the relay's idle clock sees it.
enum Input {
    /// It sent something.
    Typed,
    /// It closed the channel or left.
    Left,
}

/// Relays a channel and a process until the process ends, the client goes, or nothing came
/// from the client for `idle`; says how it ended. The client's input is written to the
/// process by a task of its own, so that a process that is slow to read never stops its
/// output from being relayed (which would stall both, as soon as both pipes are full).
async fn relay(channel: Channel<Msg>, mut child: Child, idle: Duration) -> String {
    let (incoming, outgoing) = channel.split();
    let (inputs, mut input) = tokio::sync::mpsc::channel(16);
    let feeding = tokio::spawn(feed_stdin(incoming, child.stdin.take(), inputs));
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_buf = vec![0u8; 32 * 1024];
    let mut err_buf = vec![0u8; 32 * 1024];
    let mut last_input = Instant::now();
    let left = || Some("the client left".to_string());
    let ended = loop {
        if stdout.is_none() && stderr.is_none() {
            break None;
        }
        tokio::select! {
            event = input.recv() => match event {
                Some(Input::Typed) => last_input = Instant::now(),
                Some(Input::Left) | None => break left(),
            },
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Some(n) => {
                    if outgoing.data(&out_buf[..n]).await.is_err() {
                        break left();
                    }
                }
                None => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Some(n) => {
                    if outgoing.extended_data(1, &err_buf[..n]).await.is_err() {
                        break left();
                    }
                }
                None => stderr = None,
            },
            _ = tokio::time::sleep_until(last_input + idle) => {
                let why = format!("closed after {} without input", humanize(idle));
                let _ = outgoing.extended_data(1, format!("\r\n{why}\r\n").as_bytes()).await;
                break Some(why);
            }
        }
    };
    feeding.abort();
    match ended {
        Some(why) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = outgoing.eof().await;
            let _ = outgoing.close().await;
            why
        }
        None => finish(&outgoing, child).await,
    }
}

/// Writes what the client sends to the process's stdin, closed at the client's EOF; tells
/// the relay of each input and of the client leaving.
async fn feed_stdin(
    mut incoming: ChannelReadHalf,
    mut stdin: Option<ChildStdin>,
    inputs: tokio::sync::mpsc::Sender<Input>,
) {
    loop {
        match incoming.wait().await {
            Some(ChannelMsg::Data { data }) => {
                // a full queue already holds news of input: nothing is lost
                let _ = inputs.try_send(Input::Typed);
                if let Some(pipe) = stdin.as_mut() {
                    if pipe.write_all(&data).await.is_err() {
                        stdin = None;
                    }
                }
            }
            Some(ChannelMsg::Eof) => close_stdin(&mut stdin).await,
            Some(ChannelMsg::Close) | None => {
                let _ = inputs.send(Input::Left).await;
                return;
            }
            Some(_) => {}
        }
    }
}

/// The process closed its output: its exit status goes to the client, then EOF and close.
async fn finish(outgoing: &ChannelWriteHalf<Msg>, mut child: Child) -> String {
    let status = child.wait().await;
    let code = status.as_ref().map(exit_code).unwrap_or(255);
    let _ = outgoing.exit_status(code).await;
    let _ = outgoing.eof().await;
    let _ = outgoing.close().await;
    format!("exit status {code}")
}

/// A shell's exit code as `$?` shows it: 128 + the signal for a killed process.
fn exit_code(status: &ExitStatus) -> u32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u32,
        (None, Some(signal)) => 128 + signal as u32,
        (None, None) => 255,
    }
}

/// Reads what `pipe` has (`None` at its end); a pipe already closed never answers.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(pipe) => match pipe.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

async fn close_stdin(stdin: &mut Option<ChildStdin>) {
    if let Some(mut pipe) = stdin.take() {
        let _ = pipe.shutdown().await;
    }
}
