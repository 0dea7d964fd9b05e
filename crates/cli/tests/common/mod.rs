//! Helpers for tests that run the real `slipway` binary.
#![allow(dead_code)]

pub mod site;
pub mod upgrade_api;
pub mod upgrade_world;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `slipway` binary built for this test run.
pub fn slipway_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slipway"))
}

/// `slipway --data-dir <dir> <args>`, run to completion.
pub fn slipway(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(slipway_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SLIPWAY_PG_URL")
        // A free port for the mail catcher: tests run `serve` side by side.
        .env("SLIPWAY_SMTP_LISTEN", "127.0.0.1:0")
        .env("SLIPWAY_SSH_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run slipway")
}

/// Runs slipway and insists it succeeded; returns its stdout.
pub fn slipway_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = slipway(data_dir, args);
    assert!(
        out.status.success(),
        "slipway {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `slipway pg status --json` as JSON.
pub fn status(data_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&slipway_ok(data_dir, &["pg", "status", "--json"])).expect("json")
}

/// A short-lived data directory under /tmp (short paths keep the socket inside it). The
/// cluster in it is stopped when the guard drops, so a failing test leaves no server behind.
pub struct DataDir {
    pub dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("slw-")
                .tempdir_in("/tmp")
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = slipway(self.path(), &["pg", "stop"]);
    }
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn spawn_serve(data_dir: &Path, port: u16, global: &[&str]) -> Child {
    spawn_serve_with(data_dir, port, global, &[])
}

/// `slipway [global] serve --listen 127.0.0.1:<port> [serve_args]`, stderr kept for failures.
pub fn spawn_serve_with(data_dir: &Path, port: u16, global: &[&str], serve_args: &[&str]) -> Child {
    Command::new(slipway_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(global)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(serve_args)
        .env_remove("SLIPWAY_PG_URL")
        .env("SLIPWAY_SMTP_LISTEN", "127.0.0.1:0")
        .env("SLIPWAY_SSH_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Polls /healthz until it answers 200, for at most a minute.
pub fn wait_healthy(port: u16, child: &mut Child) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::blocking::Client::new();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("slipway serve exited early with {status}");
        }
        if let Ok(resp) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
        {
            if resp.status() == 200 {
                return resp.json().unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no healthy /healthz within a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap()
}
