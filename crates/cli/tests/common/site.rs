//! A running `slipway serve` with the Odoo stand-in registered, and a Git work tree to push
//! from: the world the build tests act in, as a user would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, slipway_bin, spawn_serve_with, terminate, wait_healthy, DataDir};

/// The repository root (fixtures live under `tests/fixtures`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The Odoo source builds run: a real one from `SLIPWAY_TEST_ODOO_SRC`, else the stand-in.
pub fn odoo_source() -> (PathBuf, String) {
    match std::env::var_os("SLIPWAY_TEST_ODOO_SRC") {
        Some(dir) => (PathBuf::from(dir), "17.0".into()),
        None => (
            repo_root().join("tests/fixtures/odoo-standin"),
            "17.0".into(),
        ),
    }
}

/// Whether builds run on the stand-in (its test hooks, such as `standin_warning` in a
/// manifest or `/standin/send_mail`, are available), not a real Odoo.
pub fn on_standin() -> bool {
    std::env::var_os("SLIPWAY_TEST_ODOO_SRC").is_none()
}

/// How long a build may take: a real Odoo's first build makes its virtualenv and runs
/// Odoo's own tests (minutes), the stand-in's takes seconds.
fn build_patience() -> Duration {
    Duration::from_secs(if on_standin() { 240 } else { 1200 })
}

pub struct Site {
    pub data: DataDir,
    pub port: u16,
    pub child: Option<Child>,
    serve_args: Vec<String>,
}

impl Site {
    /// `slipway serve` on a fresh data directory, with the Odoo runtime registered.
    pub fn start(serve_args: &[&str]) -> Self {
        let data = DataDir::new();
        std::fs::set_permissions(
            data.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut site = Self {
            data,
            port: free_port(),
            child: None,
            serve_args: serve_args.iter().map(|s| s.to_string()).collect(),
        };
        site.launch();
        let (source, series) = odoo_source();
        site.cli_ok(&["odoo", "add", &series, "--source", source.to_str().unwrap()]);
        site
    }

    fn launch(&mut self) {
        let sftp = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<&str> = vec!["--sftp-listen", &sftp, "--chores-every", "1"];
        // Logs are followed for 3 s unless the test says otherwise.
        if !self.serve_args.iter().any(|a| a == "--log-follow") {
            args.extend(["--log-follow", "3"]);
        }
        args.extend(self.serve_args.iter().map(String::as_str));
        let mut child = spawn_serve_with(self.data.path(), self.port, &[], &args);
        wait_healthy(self.port, &mut child);
        self.child = Some(child);
    }

    /// Stops `serve` (SIGTERM) and starts it again on the same data directory.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            assert!(terminate(&mut child).success());
        }
        self.port = free_port();
        self.launch();
    }

    /// Kills `serve` as a crash would (SIGKILL: nothing of it runs any more), without starting
    /// it again.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts `serve` again after [`crash`](Self::crash), on the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "serve still runs");
        self.port = free_port();
        self.launch();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A request to build `build` at `path`, as a browser sends it: to this server with
    /// `Host: <build>.localhost:<port>`, the build's own host name (builds are served nowhere
    /// else). Redirects are not followed.
    pub fn build_request(
        &self,
        method: reqwest::Method,
        build: &str,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .request(method, format!("{}{path}", self.url()))
            .header(
                reqwest::header::HOST,
                format!("{build}.localhost:{}", self.port),
            )
    }

    /// Connect to build `id` (named `name`): asks the API for the one-time link, checks it is
    /// on the build's own host (with the port), lands on it, and returns the `session_id=...`
    /// cookie the landing set, and the link's path (for checking it works only once).
    pub fn connect(&self, id: i64, name: &str) -> (String, String) {
        let (status, link) = self.post(&format!("/api/builds/{id}/connect"), serde_json::json!({}));
        assert_eq!(status, 200, "{link}");
        let url = link["url"].as_str().unwrap();
        let origin = format!("http://{name}.localhost:{}", self.port);
        let path = url
            .strip_prefix(&origin)
            .unwrap_or_else(|| panic!("{url} is not on {origin}"));
        assert!(path.starts_with("/slipway/connect?ticket="), "{url}");
        let landing = self
            .build_request(reqwest::Method::GET, name, path)
            .send()
            .unwrap();
        assert_eq!(landing.status(), 303, "{:?}", landing.text());
        let cookie = landing.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        (cookie, path.to_string())
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.path().join("cli-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `slipway --data-dir D --server URL <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(slipway_bin())
            .arg("--data-dir")
            .arg(self.data.path())
            .args(["--server", &self.url()])
            .args(args)
            .env_remove("SLIPWAY_TOKEN")
            .output()
            .unwrap()
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn get(&self, path: &str) -> Value {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(self.token())
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().unwrap()
    }

    /// GET `path`, `None` unless it succeeded.
    pub fn try_get(&self, path: &str) -> Option<Value> {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(self.token())
            .send()
            .ok()?;
        response
            .status()
            .is_success()
            .then(|| response.json().ok())
            .flatten()
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.url()))
            .bearer_auth(self.token())
            .json(&body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    pub fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .patch(format!("{}{path}", self.url()))
            .bearer_auth(self.token())
            .json(&body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// A new user, with `role` in `project` when one is given; returns their API token.
    pub fn member(&self, project: Option<&str>, login: &str, role: &str) -> String {
        let (status, created) = self.post("/api/users", serde_json::json!({"login": login}));
        assert_eq!(status, 201, "{created}");
        if let Some(project) = project {
            self.cli_ok(&["project", "member", project, login, role]);
        }
        created["token"].as_str().unwrap().to_string()
    }

    /// The Git URL of a project, with the token as the password.
    pub fn git_url(&self, project: &str) -> String {
        format!(
            "http://slipway:{}@127.0.0.1:{}/git/{project}.git",
            self.token(),
            self.port
        )
    }

    /// Waits until build `id` is neither pending nor building; returns it.
    pub fn wait_build(&self, id: i64) -> Value {
        let deadline = Instant::now() + build_patience();
        loop {
            let build = self.get(&format!("/api/builds/{id}"));
            let state = build["state"].as_str().unwrap().to_string();
            if state != "pending" && state != "building" {
                return build;
            }
            assert!(
                Instant::now() < deadline,
                "build {id} still {state}: {build}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The newest build of a branch whose revision is `sha`, once it exists.
    pub fn build_of(&self, project: &str, branch: &str, sha: &str) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let builds = self.try_get(&format!("/api/projects/{project}/builds?branch={branch}"));
            let found = builds
                .as_ref()
                .and_then(|b| b.as_array()?.iter().find(|b| b["revision"] == sha).cloned());
            if let Some(b) = found {
                return b["id"].as_i64().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no build of {sha} on {branch}: {builds:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The newest build of a branch with an id above `after`, once it is finished.
    pub fn settled_build_after(&self, project: &str, branch: &str, after: i64) -> Value {
        let deadline = Instant::now() + build_patience();
        loop {
            let builds = self.get(&format!("/api/projects/{project}/builds?branch={branch}"));
            if let Some(b) = builds.as_array().unwrap().first() {
                let id = b["id"].as_i64().unwrap();
                if id > after {
                    return self.wait_build(id);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no new build on {branch}: {builds}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// A project of the `shop` fixture whose `main` is production and running; returns the
    /// work tree (on `main`) and the production build.
    pub fn project_with_production(&self, name: &str) -> (WorkTree, Value) {
        self.project_with_production_on(name, "17.0")
    }

    /// [`Self::project_with_production`] on Odoo `series` (its runtime registered).
    pub fn project_with_production_on(&self, name: &str, series: &str) -> (WorkTree, Value) {
        self.cli_ok(&["project", "create", name, "--odoo", series]);
        let tree = WorkTree::from_fixture("shop", &self.git_url(name));
        tree.push("main");
        let dev = self.wait_build(self.build_of(name, "main", &tree.git(&["rev-parse", "HEAD"])));
        assert_eq!(dev["state"], "running", "{dev}");
        self.cli_ok(&[
            "branch",
            "set",
            name,
            "main",
            "--stage",
            "production",
            "--confirm",
        ]);
        let prod = self.settled_build_after(name, "main", dev["id"].as_i64().unwrap());
        assert_eq!(prod["state"], "running", "{prod}");
        (tree, prod)
    }

    /// Pushes a new development branch `branch` from the tree's current commit with one
    /// more file; returns its running build.
    pub fn push_branch(&self, tree: &WorkTree, project: &str, branch: &str, file: &str) -> Value {
        tree.git(&["checkout", "-q", "-b", branch]);
        tree.write(file, &format!("written on {branch}\n"));
        let sha = tree.commit(&format!("{branch}: add {file}"));
        tree.push(branch);
        let build = self.wait_build(self.build_of(project, branch, &sha));
        assert_eq!(build["state"], "running", "{build}");
        build
    }

    /// Whether database `name` exists on the data directory's cluster.
    pub fn database_exists(&self, name: &str) -> bool {
        self.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        ) == "1"
    }

    /// The unaligned output of `sql` run on database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(slipway_bin())
            .arg("--data-dir")
            .arg(self.data.path())
            .args(["pg", "psql", db, "--", "-Atc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The `db_*` login of a build's odoo.conf: (host, port, user, password).
    pub fn conf_login(&self, build: &str) -> (String, String, String, String) {
        let conf = std::fs::read_to_string(
            self.data
                .path()
                .join("builds")
                .join(build)
                .join("odoo.conf"),
        )
        .unwrap();
        let value = |key: &str| {
            conf.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("{key} in {conf}"))
        };
        (
            value("db_host"),
            value("db_port"),
            value("db_user"),
            value("db_password"),
        )
    }

    /// `psql -c 'select 1'` on `db` with a build's odoo.conf login, as code in that build
    /// would try it: Ok, or psql's error.
    pub fn psql_with_login(&self, build: &str, db: &str) -> Result<(), String> {
        let (host, port, user, password) = self.conf_login(build);
        let out = Command::new("psql")
            .args([
                "-X", "-w", "-At", "-h", &host, "-p", &port, "-U", &user, "-d", db,
            ])
            .args(["-c", "select 1"])
            .env("PGPASSWORD", password)
            .env("PGPASSFILE", "/dev/null")
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// Runs the registered Odoo on a build's database as a user would from a shell
    /// (`odoo-bin -c <its odoo.conf> <args> --stop-after-init`).
    pub fn odoo_bin(&self, build: &str, args: &[&str]) {
        self.odoo_bin_of(&odoo_source().0, build, args)
    }

    /// [`Self::odoo_bin`] with the Odoo source tree `source` (a build of another series).
    pub fn odoo_bin_of(&self, source: &Path, build: &str, args: &[&str]) {
        let conf = self
            .data
            .path()
            .join("builds")
            .join(build)
            .join("odoo.conf");
        // The conf names the build's sandbox paths (~/src/user, ~/data): from the host, the
        // same folders by their host paths (flags win over the conf).
        let build_dir = self.data.path().join("builds").join(build);
        let addons = format!(
            "{},{}",
            build_dir.join("src").display(),
            source.join("addons").display()
        );
        let out = Command::new("python3")
            .arg(source.join("odoo-bin"))
            .arg("-c")
            .arg(conf)
            .args(["--addons-path", &addons, "--data-dir"])
            .arg(self.data.path())
            .args(args)
            .arg("--stop-after-init")
            .env("SLIPWAY_BIN", slipway_bin())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "odoo-bin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
        }
    }
}

/// A Git work tree holding a copy of a fixture project, pushing to a Slipway project.
pub struct WorkTree {
    pub dir: tempfile::TempDir,
}

impl WorkTree {
    /// A work tree with the files of `tests/fixtures/projects/<fixture>`, committed on main.
    pub fn from_fixture(fixture: &str, remote: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &repo_root().join("tests/fixtures/projects").join(fixture),
            dir.path(),
        );
        let tree = Self { dir };
        tree.git(&["init", "-q", "-b", "main"]);
        tree.git(&["remote", "add", "origin", remote]);
        tree.commit("initial modules");
        tree
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "Jane Dev")
            .env("GIT_AUTHOR_EMAIL", "jane@example.com")
            .env("GIT_COMMITTER_NAME", "Jane Dev")
            .env("GIT_COMMITTER_EMAIL", "jane@example.com")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn write(&self, path: &str, text: &str) {
        let file = self.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    /// Commits everything; returns the new head.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn push(&self, refspec: &str) {
        self.git(&["push", "-q", "origin", refspec]);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
