//! `odoo-bin` processes: one-shot tasks and long-running servers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use slipway_sandbox::Jail;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::log::{LogClassifier, LogVerdict};
use super::source::OdooSource;
use crate::venv::Venv;
use crate::Error;

/// How often a starting server's `/web/health` is asked.
const HEALTH_POLL: Duration = Duration::from_millis(25);

/// What a one-shot `odoo-bin` run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OdooTask {
    /// `-i modules`, with or without demo data, and tests.
    Install {
        /// Modules to install.
        modules: Vec<String>,
        /// Load demo data (else `--without-demo=all`).
        demo: bool,
        /// Run the tests of the installed modules.
        tests: Option<TestSelection>,
    },
    /// `-u modules` (`all` allowed).
    Update {
        /// Modules to update.
        modules: Vec<String>,
    },
}

/// Which tests to run (`--test-enable`, `--test-tags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestSelection {
    /// `--test-tags` (Odoo's syntax), or every `standard` test.
    pub tags: Option<String>,
}

impl OdooTask {
    /// The command-line arguments after `-c conf`.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            OdooTask::Install {
                modules,
                demo,
                tests,
            } => {
                out.extend(["-i".to_string(), modules.join(",")]);
                if !demo {
                    out.push("--without-demo=all".into());
                }
                if let Some(t) = tests {
                    out.push("--test-enable".into());
                    if let Some(tags) = &t.tags {
                        out.extend(["--test-tags".to_string(), tags.clone()]);
                    }
                }
            }
            OdooTask::Update { modules } => out.extend(["-u".to_string(), modules.join(",")]),
        }
        out.push("--stop-after-init".into());
        out
    }
}

/// How a one-shot run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    /// Exit code; `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// What its log says.
    pub verdict: LogVerdict,
    /// Wall time.
    pub duration: Duration,
}

impl TaskOutcome {
    /// Exit 0 and no ERROR/CRITICAL record.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.verdict.errors == 0
    }
}

/// `python odoo-bin -c conf`, in `jail` when given: there the venv, the source and the conf
/// are named by their paths inside (the caller bound them), the working folder is the
/// sandbox's home and `env` is the sandbox's.
fn odoo_command(
    venv: &Venv,
    source: &OdooSource,
    conf: &Path,
    env: &[(String, String)],
    jail: Option<&Jail>,
) -> Result<Command, Error> {
    let mut cmd = match jail {
        Some(jail) => {
            let mut jail = jail.clone();
            jail.sandbox.setenv("PYTHONUNBUFFERED", "1");
            for (k, v) in env {
                jail.sandbox.setenv(k, v);
            }
            let inside = |p: &Path| jail.sandbox.inside(p).unwrap_or_else(|| p.to_path_buf());
            let args = [
                inside(&source.odoo_bin).into_os_string(),
                "-c".into(),
                inside(conf).into_os_string(),
            ];
            jail.command(inside(&venv.python), &args)
                .map_err(|e| Error::Sandbox(e.to_string()))?
        }
        None => {
            let mut cmd = Command::new(&venv.python);
            cmd.arg(&source.odoo_bin)
                .arg("-c")
                .arg(conf)
                .current_dir(&source.root)
                .env("PYTHONUNBUFFERED", "1");
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd
        }
    };
    cmd.stdin(Stdio::null()).process_group(0);
    Ok(cmd)
}

async fn open_append(path: &Path) -> Result<tokio::fs::File, Error> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(Error::io(format!("opening {}", path.display())))
}

/// [`run_task_with`] without a line callback.
pub async fn run_task(
    venv: &Venv,
    source: &OdooSource,
    conf: &Path,
    task: &OdooTask,
    log: &Path,
    env: &[(String, String)],
) -> Result<TaskOutcome, Error> {
    run_task_with(venv, source, conf, task, log, env, &mut |_| {}).await
}

/// [`run_task_in`] unconfined.
pub async fn run_task_with(
    venv: &Venv,
    source: &OdooSource,
    conf: &Path,
    task: &OdooTask,
    log: &Path,
    env: &[(String, String)],
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<TaskOutcome, Error> {
    run_task_in(None, venv, source, conf, task, log, env, on_line).await
}

/// Runs `odoo-bin -c conf <task> --stop-after-init` with the venv's python
/// in its own process group, appending stdout and stderr to `log` line by
/// line and calling `on_line` for each. The database is the conf's
/// `db_name`; `env` is added to the environment (e.g. `SLIPWAY_BIN`, which
/// the stand-in uses to run upgrade scripts). Dropping the future kills the
/// process group. In `jail` when given (see [`odoo_command`]).
#[allow(clippy::too_many_arguments)]
pub async fn run_task_in(
    jail: Option<&Jail>,
    venv: &Venv,
    source: &OdooSource,
    conf: &Path,
    task: &OdooTask,
    log: &Path,
    env: &[(String, String)],
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<TaskOutcome, Error> {
    let started = Instant::now();
    let mut file = open_append(log).await?;
    let mut cmd = odoo_command(venv, source, conf, env, jail)?;
    cmd.args(task.args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if jail.is_none() {
        // A sandbox dies with Slipway (`bwrap --die-with-parent`); unconfined, the task asks
        // the kernel for the same, so a crash of Slipway never leaves an install running on.
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
    }
    let child = cmd.spawn().map_err(|source| Error::Spawn {
        program: venv.python.display().to_string(),
        source,
    })?;
    let mut guard = GroupGuard::new(child);
    let child = guard
        .child
        .as_mut()
        .ok_or_else(|| Error::Venv("no child".into()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, tx.clone())));
    let err = child.stderr.take().map(|s| tokio::spawn(pump(s, tx)));
    let mut classifier = LogClassifier::new();
    let ctx = format!("writing {}", log.display());
    while let Some(line) = rx.recv().await {
        classifier.feed(&line);
        on_line(&line);
        file.write_all(line.as_bytes())
            .await
            .map_err(Error::io(ctx.clone()))?;
        file.write_all(b"\n")
            .await
            .map_err(Error::io(ctx.clone()))?;
    }
    for pump in [out, err].into_iter().flatten() {
        let _ = pump.await;
    }
    file.flush().await.map_err(Error::io(ctx))?;
    let status = child
        .wait()
        .await
        .map_err(Error::io("waiting for odoo-bin"))?;
    guard.disarm();
    Ok(TaskOutcome {
        exit_code: status.code(),
        verdict: classifier.verdict().clone(),
        duration: started.elapsed(),
    })
}

/// Sends a pipe's lines (lossy UTF-8) down the channel.
async fn pump<R: tokio::io::AsyncRead + Unpin>(reader: R, tx: tokio::sync::mpsc::Sender<String>) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Kills the child's process group when dropped, unless disarmed.
struct GroupGuard {
    child: Option<Child>,
    pid: Option<u32>,
}

impl GroupGuard {
    fn new(child: Child) -> Self {
        let pid = child.id();
        Self {
            child: Some(child),
            pid,
        }
    }

    /// The leader was reaped: take down what it may have left in its group.
    fn disarm(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        self.child = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// A running build server: `odoo-bin -c conf` in its own process group,
/// stdout and stderr appended to its log (`odoo.log`) by the process itself,
/// so the server keeps logging if Slipway goes away.
///
/// Dropping an `OdooServer` kills its process group (SIGKILL): a server is
/// either [`stop`](Self::stop)ped, or deliberately left running with
/// [`detach`](Self::detach) (then [`stop_pid`] stops it later, from any
/// process). A Slipway process that exits without dropping it (crash,
/// `exit`) leaves the server running, to be found by its pid.
#[derive(Debug)]
pub struct OdooServer {
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl OdooServer {
    /// Starts the server. It answers on the conf's `http_port`; see
    /// [`wait_healthy`](Self::wait_healthy).
    pub async fn start(
        venv: &Venv,
        source: &OdooSource,
        conf: &Path,
        log: &Path,
        env: &[(String, String)],
    ) -> Result<OdooServer, Error> {
        Self::start_in(None, venv, source, conf, log, env).await
    }

    /// [`start`](Self::start) in `jail` when given: the log is an inherited descriptor,
    /// so the sandbox needs no write access to the logs folder.
    pub async fn start_in(
        jail: Option<&Jail>,
        venv: &Venv,
        source: &OdooSource,
        conf: &Path,
        log: &Path,
        env: &[(String, String)],
    ) -> Result<OdooServer, Error> {
        let file = open_append(log).await?.into_std().await;
        let file2 = file
            .try_clone()
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let mut cmd = odoo_command(venv, source, conf, env, jail)?;
        cmd.stdout(Stdio::from(file)).stderr(Stdio::from(file2));
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            program: venv.python.display().to_string(),
            source,
        })?;
        let pid = child.id().ok_or_else(|| Error::Spawn {
            program: "odoo-bin".into(),
            source: std::io::Error::other("exited at once"),
        })?;
        Ok(OdooServer {
            child: Some(child),
            pid,
            log: log.to_path_buf(),
        })
    }

    /// Process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Polls `GET http://127.0.0.1:port/web/health` until it answers 200.
    /// Fails early when the process exits, or after `timeout`; the error
    /// carries the end of the log. The server is left running on timeout.
    pub async fn wait_healthy(&mut self, port: u16, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child
                    .try_wait()
                    .map_err(Error::io("waiting for odoo-bin"))?
                {
                    let code = status
                        .code()
                        .map(|c| format!("code {c}"))
                        .unwrap_or_else(|| "a signal".into());
                    return Err(Error::Unhealthy {
                        message: format!(
                            "the Odoo server exited with {code} before answering /web/health"
                        ),
                        log_tail: log_tail(&self.log, 40).await,
                    });
                }
            }
            if health_ok(port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Unhealthy {
                    message: format!(
                        "the Odoo server did not answer GET /web/health on port {port} within {}s",
                        timeout.as_secs()
                    ),
                    log_tail: log_tail(&self.log, 40).await,
                });
            }
            // A refused connection costs microseconds; a coarser poll would add its half
            // to every start, and production's unavailability is made of starts.
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    /// SIGTERM to the group, SIGKILL after `grace`, and the process reaped.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            let group = Pid::from_raw(self.pid as i32);
            let _ = killpg(group, Signal::SIGTERM);
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait().await;
            }
            let _ = killpg(group, Signal::SIGKILL); // stragglers of the group
        }
    }

    /// Leaves the server running and forgets it; returns its pid for
    /// [`stop_pid`].
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }
}

impl Drop for OdooServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }
}

/// A plain HTTP/1.0 GET (a dependency-free client is ten lines; the server
/// is local and the answer's status line is all we read).
async fn health_ok(port: u16) -> bool {
    http_status(port, "/web/health").await == Some(200)
}

/// The status code `GET path` gets from a server on `127.0.0.1:port`, or `None` when nothing
/// answers within 2 seconds (a plain HTTP/1.0 request: no client library for one line).
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(request.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < 12 {
            let n = s.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let head = String::from_utf8_lossy(&buf[..got]).to_string();
        if !head.starts_with("HTTP/1.") {
            return None;
        }
        head.get(9..12)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// Makes `odoo_data/filestore` a link to `filestore_root`, where Slipway keeps every
/// database's files (`<root>/<db>`), so an unconfined Odoo reads and writes them in place.
pub fn link_filestore(odoo_data: &Path, filestore_root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(odoo_data)?;
    std::fs::create_dir_all(filestore_root)?;
    let link = odoo_data.join("filestore");
    if link.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(filestore_root, &link)?;
    }
    Ok(())
}

/// The last `lines` lines of a log (at most its last 64 KiB).
pub(crate) async fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(64 * 1024);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether `pid` is a live (not zombie) process whose command line names
/// Odoo (`odoo-bin`, `odoo`), so a recycled pid is never signalled.
fn is_odoo_process(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if matches!(state, None | Some('Z') | Some('X')) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("odoo")
}

/// Stops a server by pid, e.g. one started by a previous Slipway process:
/// SIGTERM to its process group, SIGKILL after `grace`. Does nothing unless
/// the pid is a live process whose command line names Odoo (a recycled pid
/// is left alone). Returns whether a process was signalled.
pub async fn stop_pid(pid: u32, grace: Duration) -> bool {
    if pid == 0 || pid > i32::MAX as u32 || !is_odoo_process(pid) {
        return false;
    }
    let target = Pid::from_raw(pid as i32);
    let signal_all = |sig: Signal| {
        if killpg(target, sig).is_err() {
            let _ = kill(target, sig);
        }
    };
    signal_all(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_odoo_process(pid) {
            let _ = killpg(target, Signal::SIGKILL);
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal_all(Signal::SIGKILL);
    true
}

/// Kills (SIGKILL, with their process groups) the processes whose command line has `arg` as
/// one of its arguments, such as a build's odoo.conf: the `odoo-bin` or `bwrap` of a build
/// whose Slipway died mid-task. Returns how many were found.
pub fn kill_processes_with_arg(arg: &Path) -> usize {
    let wanted = arg.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !cmdline.split(|b| *b == 0).any(|a| a == wanted) {
            continue;
        }
        let target = Pid::from_raw(pid);
        let _ = killpg(target, Signal::SIGKILL);
        let _ = kill(target, Signal::SIGKILL);
        killed += 1;
    }
    killed
}

/// A free TCP port on 127.0.0.1 (free when asked; bind soon).
pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(Error::io("finding a free port on 127.0.0.1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_arguments() {
        let install = OdooTask::Install {
            modules: vec!["sale".into(), "my_mod".into()],
            demo: false,
            tests: Some(TestSelection {
                tags: Some("/my_mod".into()),
            }),
        };
        assert_eq!(
            install.args(),
            [
                "-i",
                "sale,my_mod",
                "--without-demo=all",
                "--test-enable",
                "--test-tags",
                "/my_mod",
                "--stop-after-init"
            ]
        );
        let demo = OdooTask::Install {
            modules: vec!["base".into()],
            demo: true,
            tests: None,
        };
        assert_eq!(demo.args(), ["-i", "base", "--stop-after-init"]);
        let update = OdooTask::Update {
            modules: vec!["all".into()],
        };
        assert_eq!(update.args(), ["-u", "all", "--stop-after-init"]);
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().unwrap();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[tokio::test]
    async fn processes_naming_a_file_are_killed_and_others_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("odoo.conf");
        let spawn = |arg: &Path| {
            tokio::process::Command::new("python3")
                .args(["-c", "import time; time.sleep(30)"])
                .arg(arg)
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        };
        let mut orphan = spawn(&conf);
        let mut other = spawn(&dir.path().join("other.conf"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(kill_processes_with_arg(&conf), 1);
        let status = tokio::time::timeout(Duration::from_secs(5), orphan.wait())
            .await
            .expect("killed")
            .unwrap();
        assert!(!status.success());
        assert!(
            other.try_wait().unwrap().is_none(),
            "another build's process"
        );
    }

    #[tokio::test]
    async fn stop_pid_leaves_non_odoo_processes_alone() {
        let mut sleeper = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = sleeper.id().unwrap();
        assert!(!stop_pid(pid, Duration::from_millis(100)).await);
        assert!(sleeper.try_wait().unwrap().is_none(), "sleep was killed");
        assert!(!stop_pid(0, Duration::from_millis(10)).await);
    }
}
