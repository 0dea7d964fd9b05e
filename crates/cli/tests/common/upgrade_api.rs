//! A client of the upgrade API (`/database/v1`) as customers use it: form posts, raw uploads,
//! `status` polled until the request is finished.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The contract the tests' requests are made under (`slipway contract add` it first).
pub const CONTRACT: &str = "M123456-abcdef";

/// `slipway serve` on a new data directory holding [`CONTRACT`], with `serve_args` and its SFTP
/// on a free port, healthy: the data directory, the server and its base URL.
pub fn start_server(serve_args: &[&str]) -> (super::DataDir, std::process::Child, String) {
    let data = super::DataDir::new();
    // The sandboxed pip that makes an engine's virtualenv goes through it.
    std::fs::set_permissions(
        data.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    super::slipway_ok(data.path(), &["contract", "add", CONTRACT]);
    let port = super::free_port();
    let sftp = format!("127.0.0.1:{}", super::free_port());
    let mut args = serve_args.to_vec();
    args.extend(["--sftp-listen", &sftp]);
    let mut child = super::spawn_serve_with(data.path(), port, &[], &args);
    super::wait_healthy(port, &mut child);
    (data, child, format!("http://127.0.0.1:{port}"))
}

/// The upgrade API of one server, asking for one target.
pub struct UpgradeApi {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::blocking::Client,
    /// The series `create` asks for.
    pub target: String,
    /// How long a request may stay pending or in progress.
    pub patience: Duration,
}

impl UpgradeApi {
    pub fn new(base: String, target: &str, patience: Duration) -> Self {
        Self {
            base,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            target: target.to_string(),
            patience,
        }
    }

    pub fn call(&self, method: &str, form: &[(&str, &str)]) -> Value {
        self.http
            .post(format!("{}/database/v1/{method}", self.base))
            .form(form)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// `create` for the target; returns (id, key).
    pub fn create(&self, filename: &str, aim: &str) -> (String, String) {
        let created = self.call(
            "create",
            &[
                ("contract", CONTRACT),
                ("email", "ops@example.com"),
                ("target", &self.target),
                ("aim", aim),
                ("filename", filename),
            ],
        );
        assert_eq!(created["failures"], serde_json::json!([]), "{created}");
        let id = created["request"]["id"].to_string();
        (id, created["request"]["key"].as_str().unwrap().to_string())
    }

    /// POSTs `file` as the raw body of `method` (`upload`, `upload_modules`), insisting on success.
    pub fn send(&self, method: &str, id: &str, key: &str, file: &Path) {
        let sent: Value = self
            .http
            .post(format!("{}/database/v1/{method}", self.base))
            .query(&[("key", key), ("request", id)])
            .header("Content-Type", "application/octet-stream")
            .body(std::fs::read(file).unwrap())
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(sent["failures"], serde_json::json!([]), "{method}: {sent}");
    }

    /// create + upload + process; returns (id, key).
    pub fn submit(&self, dump: &Path, aim: &str) -> (String, String) {
        let (id, key) = self.create(dump.file_name().unwrap().to_str().unwrap(), aim);
        self.send("upload", &id, &key, dump);
        let processed = self.call("process", &[("key", &key), ("request", &id)]);
        assert_eq!(processed["request"]["state"], "pending", "{processed}");
        (id, key)
    }

    /// create + upload_modules (custom modules, zipped) + upload + process; returns (id, key).
    pub fn submit_with_modules(&self, dump: &Path, modules: &Path, aim: &str) -> (String, String) {
        let (id, key) = self.create(dump.file_name().unwrap().to_str().unwrap(), aim);
        self.send("upload_modules", &id, &key, modules);
        self.send("upload", &id, &key, dump);
        let processed = self.call("process", &[("key", &key), ("request", &id)]);
        assert_eq!(processed["request"]["state"], "pending", "{processed}");
        (id, key)
    }

    /// Polls status until the request leaves pending/progress (at most `patience`).
    pub fn wait_finished(&self, id: &str, key: &str) -> Value {
        let deadline = Instant::now() + self.patience;
        loop {
            let status = self.call("status", &[("key", key), ("request", id)]);
            let state = status["request"]["state"].as_str().unwrap().to_string();
            if !["pending", "progress"].contains(&state.as_str()) {
                return status["request"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "still {state} after {:?}",
                self.patience
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn get(&self, url: &str) -> reqwest::blocking::Response {
        self.http.get(url).send().unwrap()
    }
}

/// A file of the repository (fixtures are under `tests/fixtures`).
pub fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)
}

/// A dump of the shared fixtures (`v16_base.zip`...).
pub fn odoo_dump(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/odoo-dumps"
    ))
    .join(name)
}

/// A running server with a contract, killed (and its PostgreSQL stopped) on drop; its upgrade
/// API is `Deref`.
pub struct Platform {
    pub data: super::DataDir,
    pub child: Child,
    pub api: UpgradeApi,
    /// Its engines' OpenUpgrade folders, in release order (the target's last).
    pub engines: Vec<slipway_testkit::EngineFixture>,
    _runtimes: Vec<tempfile::TempDir>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        super::terminate(&mut self.child);
    }
}

impl std::ops::Deref for Platform {
    type Target = UpgradeApi;
    fn deref(&self) -> &UpgradeApi {
        &self.api
    }
}

impl std::ops::DerefMut for Platform {
    fn deref_mut(&mut self) -> &mut UpgradeApi {
        &mut self.api
    }
}

/// A server whose target is 17.0: the stand-in as its runtime and a ready upgrade engine.
pub fn platform(scripts: &Path) -> Platform {
    platform_for(scripts, "17.0")
}

/// A server whose one target is `series`.
pub fn platform_for(scripts: &Path, series: &str) -> Platform {
    platform_with(scripts, &[series])
}

/// A server with an engine for each of `series` (the last is the target), set up as an admin
/// does: `slipway odoo add` (a copy of the stand-in saying it is that series) and `slipway
/// upgrade engine add --openupgrade-dir` (pip takes `openupgradelib` from the fixture's wheel,
/// no PyPI).
pub fn platform_with(scripts: &Path, series: &[&str]) -> Platform {
    platform_serving(scripts, series, &[])
}

/// [`platform_with`], `serve` given `serve_args` too (`--workers 0`: requests stay pending).
pub fn platform_serving(scripts: &Path, series: &[&str], serve_args: &[&str]) -> Platform {
    let engines: Vec<_> = series
        .iter()
        .map(|s| slipway_testkit::EngineFixture::for_series(s))
        .collect();
    engines[0].set_pip_env();
    let mut args = vec!["--upgrade-scripts", scripts.to_str().unwrap()];
    args.extend_from_slice(serve_args);
    let (data, child, base) = start_server(&args);
    let mut runtimes = Vec::new();
    for (series, engine) in series.iter().zip(&engines) {
        let runtime = slipway_testkit::standin_of_series(series);
        let source = runtime.path().to_str().unwrap();
        super::slipway_ok(
            data.path(),
            &["--server", &base, "odoo", "add", series, "--source", source],
        );
        let openupgrade = engine.openupgrade_dir();
        let added = super::slipway_ok(
            data.path(),
            &[
                "--server",
                &base,
                "upgrade",
                "engine",
                "add",
                series,
                "--openupgrade-dir",
                openupgrade.to_str().unwrap(),
            ],
        );
        let first: Vec<&str> = added.split_whitespace().take(2).collect();
        assert_eq!(first, [*series, "ready"], "{added}");
        runtimes.push(runtime);
    }
    let target = series.last().unwrap();
    Platform {
        data,
        child,
        api: UpgradeApi::new(base, target, Duration::from_secs(180)),
        engines,
        _runtimes: runtimes,
    }
}
