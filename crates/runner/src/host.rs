//! The Python host process and its JSON-lines protocol.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use slipway_sandbox::Jail;

use crate::Error;

/// The host's source, embedded so the binary is self-contained.
const HOST_PY: &str = include_str!("host.py");

/// What the host says on stdout or stderr while a request runs.
pub(crate) enum HostLine {
    /// A protocol message (reply or event).
    Message(Value),
    /// A line the script (or Python) wrote to stderr.
    Output(String),
}

/// A running host: one python3 process, one database connection.
pub(crate) struct Host {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<Lines<BufReader<ChildStderr>>>,
}

impl Host {
    /// Starts `python -u -c <host source>` (in `jail` when given) and waits for it to be
    /// ready.
    pub(crate) async fn start(
        python: &str,
        jail: Option<&Jail>,
    ) -> Result<(Host, Vec<String>), Error> {
        let mut command = match jail {
            Some(jail) => jail
                .command(python, &["-u".into(), "-c".into(), HOST_PY.into()])
                .map_err(|e| Error::Sandbox(e.to_string()))?,
            None => {
                let mut command = Command::new(python);
                command.args(["-u", "-c", HOST_PY]);
                command
            }
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::PythonMissing {
                python: python.to_string(),
                source,
            })?;
        let take_err = || Error::Host("cannot open the host's pipes".into());
        let stdin = child.stdin.take().ok_or_else(take_err)?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(take_err)?).lines();
        let stderr = child.stderr.take().map(|e| BufReader::new(e).lines());
        let mut host = Host {
            child,
            stdin,
            stdout,
            stderr,
        };
        let mut output = Vec::new();
        let ready = host.reply(&mut |line| output.push(line)).await?;
        if ready["kind"] == "psycopg2_missing" {
            let msg = ready["error"]
                .as_str()
                .unwrap_or("psycopg2 is missing")
                .to_string();
            return Err(Error::Psycopg2Missing(msg));
        }
        if ready["ok"] != true {
            return Err(Error::Host(format!(
                "unexpected greeting {ready} {}",
                output.join("\n")
            )));
        }
        Ok((host, output))
    }

    /// Sends one request and returns its reply; events and output go to `on_line`.
    pub(crate) async fn call(
        &mut self,
        request: &Value,
        on_line: &mut (dyn FnMut(HostLine) + Send),
    ) -> Result<Value, Error> {
        let mut line = request.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| Error::Host(format!("cannot write to the host: {e}")))?;
        loop {
            let msg = self
                .next_message(&mut |l| on_line(HostLine::Output(l)))
                .await?;
            if msg.get("event").is_some() {
                on_line(HostLine::Message(msg));
                continue;
            }
            return Ok(msg);
        }
    }

    async fn reply(&mut self, on_output: &mut (dyn FnMut(String) + Send)) -> Result<Value, Error> {
        self.next_message(on_output).await
    }

    /// The next protocol line, relaying stderr lines as they come.
    async fn next_message(
        &mut self,
        on_output: &mut (dyn FnMut(String) + Send),
    ) -> Result<Value, Error> {
        loop {
            let stderr_line = async {
                match self.stderr.as_mut() {
                    Some(e) => e.next_line().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                line = self.stdout.next_line() => {
                    let line = line.map_err(|e| Error::Host(e.to_string()))?;
                    let Some(line) = line else {
                        let rest = self.drain_stderr().await;
                        let status = self.child.wait().await.ok();
                        return Err(Error::Host(format!("python exited ({status:?}): {}", rest.join("\n"))));
                    };
                    return serde_json::from_str(&line)
                        .map_err(|e| Error::Host(format!("bad reply {line:?}: {e}")));
                }
                line = stderr_line => match line {
                    Ok(Some(l)) => on_output(l),
                    _ => self.stderr = None,
                },
            }
        }
    }

    async fn drain_stderr(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        if let Some(e) = self.stderr.as_mut() {
            while let Ok(Some(l)) = e.next_line().await {
                rest.push(l);
            }
        }
        rest
    }

    /// Asks the host to exit and waits for it.
    pub(crate) async fn quit(mut self) {
        let _ = self.call(&json!({"op": "quit"}), &mut |_| {}).await;
        let _ = self.child.wait().await;
    }
}
