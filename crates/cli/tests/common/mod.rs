//! Helpers for tests that run the real `slipway` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
