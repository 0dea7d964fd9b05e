//! Real major-version upgrades, opt-in: real Odoo 16.0 databases sent to `/database/v1` come
//! back as 17.0 databases that a stock Odoo 17 restores, updates and serves. The server's
//! engine is the real Odoo 17 with OpenUpgrade from PyPI.
//!
//! Runs only when `SLIPWAY_TEST_ODOO_SRC_16` and `SLIPWAY_TEST_ODOO_SRC_17` name Odoo source
//! trees of those series (and PyPI is reachable); otherwise it says so on stderr and passes.
//! The tests' own Odoo runs use a virtualenv per tree made from its requirements under
//! `target/test-venvs` (once, then reused), as the runner's real-Odoo tests do; the server makes
//! its engine's virtualenv itself, as for an admin.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::upgrade_api::UpgradeApi;
use common::{free_port, slipway_ok, terminate, DataDir};
use serde_json::{json, Value};
use slipway_runner::odoo::{classify_log, OdooSource};
use slipway_runner::venv::Venvs;

/// The trees named by the environment, or `None` (said on stderr) when the test cannot run.
fn real_trees() -> Option<(OdooSource, OdooSource)> {
    let tree = |var: &str, series: &str| {
        let dir = std::env::var_os(var)?;
        let source = OdooSource::inspect(Path::new(&dir))
            .unwrap_or_else(|e| panic!("{var} is not an Odoo tree: {e}"));
        assert_eq!(source.series.to_string(), series, "{var}");
        Some(source)
    };
    let found =
        tree("SLIPWAY_TEST_ODOO_SRC_16", "16.0").zip(tree("SLIPWAY_TEST_ODOO_SRC_17", "17.0"));
    if found.is_none() {
        eprintln!(
            "skipped: set SLIPWAY_TEST_ODOO_SRC_16 and SLIPWAY_TEST_ODOO_SRC_17 to Odoo 16.0 and \
             17.0 source trees to run (the engine's OpenUpgrade comes from PyPI)"
        );
    }
    found
}

/// `slipway serve` whose one target is 17.0, set up as an admin does: `slipway odoo add 17.0
/// --source` the real tree, `slipway upgrade engine add 17.0` (OpenUpgrade from PyPI).
struct RealPlatform {
    data: DataDir,
    child: Child,
    api: UpgradeApi,
}

impl Drop for RealPlatform {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

impl RealPlatform {
    fn start(odoo17: &OdooSource) -> Self {
        let (data, child, base) = common::upgrade_api::start_server(&[]);
        let cli = |args: &[&str]| {
            let mut all = vec!["--server", base.as_str()];
            all.extend_from_slice(args);
            slipway_ok(data.path(), &all)
        };
        cli(&[
            "odoo",
            "add",
            "17.0",
            "--source",
            odoo17.root.to_str().unwrap(),
        ]);
        let added = cli(&["upgrade", "engine", "add", "17.0"]);
        let first: Vec<&str> = added.split_whitespace().take(2).collect();
        assert_eq!(first, ["17.0", "ready"], "{added}");
        assert!(added.contains("PyPI"), "{added}");
        Self {
            data,
            child,
            // A real upgrade takes minutes on two shared cores.
            api: UpgradeApi::new(base, "17.0", Duration::from_secs(1500)),
        }
    }

    /// A login role with CREATEDB on the server's cluster, for the test's own Odoo runs (Odoo
    /// refuses `postgres`); its database options for `odoo-bin`.
    fn odoo_role(&self) -> Vec<String> {
        slipway_ok(
            self.data.path(),
            &[
                "pg",
                "psql",
                "postgres",
                "--",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "CREATE ROLE odoo_real LOGIN CREATEDB PASSWORD 'odoo'",
            ],
        );
        let port = common::status(self.data.path())["port"].to_string();
        [
            "--db_host",
            "127.0.0.1",
            "--db_port",
            &port,
            "-r",
            "odoo_real",
            "-w",
            "odoo",
        ]
        .map(String::from)
        .to_vec()
    }
}

/// A real Odoo tree run by the test as an admin runs it by hand: its virtualenv, the database
/// options, a data directory (filestores).
struct Odoo {
    source: OdooSource,
    python: PathBuf,
    db_options: Vec<String>,
    data_dir: PathBuf,
}

impl Odoo {
    fn new(source: OdooSource, db_options: &[String], data_dir: &Path) -> Self {
        Self {
            python: test_venv(&source),
            source,
            db_options: db_options.to_vec(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `odoo-bin [sub] <db options> --data-dir --addons-path <stock> <args>`.
    fn command(&self, sub: Option<&str>, args: &[&str]) -> Command {
        let addons: Vec<String> = self
            .source
            .addons_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.source.odoo_bin)
            .args(sub)
            .args(&self.db_options)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--addons-path", &addons.join(",")])
            .args(args);
        cmd
    }

    /// Runs to completion, insisting on success and a log without ERROR or CRITICAL records;
    /// returns the output.
    fn run(&self, sub: Option<&str>, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .command(sub, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let what = format!("Odoo {} {sub:?} {args:?}", self.source.series);
        assert!(out.status.success(), "{what} failed:\n{log}");
        let verdict = classify_log(&log);
        assert_eq!(
            verdict.errors, 0,
            "{what}: {:?}\n{log}",
            verdict.first_error
        );
        log
    }

    /// `odoo-bin db load -f <db> <zip>`: the database and its filestore.
    fn load(&self, db: &str, zip: &Path) {
        self.run(Some("db"), &["load", "-f", db, zip.to_str().unwrap()], "");
    }

    /// The server on `db`, stopped on drop.
    fn serve(&self, db: &str) -> OdooServer {
        let port = free_port();
        let log = self.data_dir.join(format!("{db}.server.log"));
        let child = self
            .command(
                None,
                &[
                    "-d",
                    db,
                    "--db-filter",
                    &format!("^{db}$"),
                    "--http-interface",
                    "127.0.0.1",
                    "--http-port",
                    &port.to_string(),
                    "--max-cron-threads",
                    "0",
                ],
            )
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .unwrap();
        OdooServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

/// The virtualenv of `source`'s requirements under `target/test-venvs`; its Python.
fn test_venv(source: &OdooSource) -> PathBuf {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-venvs"
    ));
    std::fs::create_dir_all(&root).unwrap();
    let requirements: Vec<PathBuf> = source.requirements().into_iter().collect();
    let venv = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(
            Venvs::new(root.clone(), "python3".into()).ensure(&requirements, &root.join("pip.log")),
        )
        .unwrap_or_else(|e| panic!("the virtualenv of {}: {e}", source.root.display()));
    venv.python
}

struct OdooServer {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for OdooServer {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

impl OdooServer {
    /// Waits (at most two minutes) for `/web/login` to answer; returns its status.
    fn login_page(&mut self, http: &reqwest::blocking::Client) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "Odoo exited with {exit}:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(page) = http.get(format!("{}/web/login", self.base)).send() {
                return page.status().as_u16();
            }
            assert!(Instant::now() < deadline, "Odoo never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Logs in through `/web/session/authenticate`; returns (uid, session cookie).
    fn authenticate(
        &self,
        http: &reqwest::blocking::Client,
        db: &str,
        login: &str,
    ) -> (Value, String) {
        let answer = http
            .post(format!("{}/web/session/authenticate", self.base))
            .json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                          "params": {"db": db, "login": login, "password": login}}))
            .send()
            .unwrap();
        let cookie = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("session_id="))
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_string();
        let body: Value = answer.json().unwrap();
        (body["result"]["uid"].clone(), cookie)
    }

    /// `model.method(*args)` over JSON-RPC in the session of `cookie`; its result.
    fn call(
        &self,
        http: &reqwest::blocking::Client,
        cookie: &str,
        model: &str,
        method: &str,
        args: Value,
    ) -> Value {
        let body: Value = http
            .post(format!("{}/web/dataset/call_kw/{model}/{method}", self.base))
            .header("Cookie", cookie)
            .json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                          "params": {"model": model, "method": method, "args": args, "kwargs": {}}}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(body["error"].is_null(), "{model}.{method}: {body}");
        body["result"].clone()
    }
}

/// What the test's own 16.0 database holds that must come through the upgrade.
struct Kept {
    /// An attachment's id, and the content of its file.
    attachment: (u64, &'static str),
    /// A partner of the demo data: OpenUpgrade deletes demo records unless told to keep them.
    demo_partner: &'static str,
}

const ATTACHED: &str = "Hello from Odoo 16, kept through the upgrade\n";

/// A 16.0 database made by the real Odoo 16 as a customer's would be: mail + contacts with
/// demo data, and a text file attached to the admin's partner; dumped with `odoo-bin db dump`
/// (a zip with its filestore) to `zip`.
fn mail_demo_database(odoo16: &Odoo, zip: &Path) -> Kept {
    let db = "real_v16_mail_demo";
    odoo16.run(
        None,
        &["-d", db, "-i", "mail,contacts", "--stop-after-init"],
        "",
    );
    let script = format!(
        "import base64\n\
         att = env['ir.attachment'].create({{'name': 'hello.txt', 'mimetype': 'text/plain', \
         'res_model': 'res.partner', 'res_id': env.ref('base.partner_admin').id, \
         'datas': base64.b64encode({ATTACHED:?}.encode())}})\n\
         env.cr.commit()\n\
         print('ATTACHMENT', att.id, att.store_fname)\n"
    );
    let out = odoo16.run(Some("shell"), &["-d", db, "--no-http"], &script);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("ATTACHMENT "))
        .unwrap_or_else(|| panic!("no attachment made:\n{out}"));
    let id = line.split_whitespace().next().unwrap().parse().unwrap();
    odoo16.run(Some("db"), &["dump", db, zip.to_str().unwrap()], "");
    Kept {
        attachment: (id, ATTACHED),
        demo_partner: "Azure Interior",
    }
}

#[test]
fn real_odoo_16_databases_come_back_as_17_databases_a_stock_odoo_17_serves() {
    let Some((src16, src17)) = real_trees() else {
        return;
    };
    let started = Instant::now();
    let p = RealPlatform::start(&src17);
    eprintln!("engine ready after {:?}", started.elapsed());
    let db_options = p.odoo_role();
    let work = tempfile::Builder::new()
        .prefix("slw-real-")
        .tempdir_in("/tmp")
        .unwrap();
    let odoo16 = Odoo::new(src16, &db_options, &work.path().join("odoo16"));
    let odoo17 = Odoo::new(src17, &db_options, &work.path().join("odoo17"));

    let mail_demo = work.path().join("v16_mail_demo.zip");
    let kept = mail_demo_database(&odoo16, &mail_demo);
    let cases = [
        (
            slipway_testkit::odoo_dumps_dir().join("v16_base.zip"),
            "production",
            None,
        ),
        (mail_demo, "test", Some(kept)),
    ];
    for (n, (dump, aim, kept)) in cases.iter().enumerate() {
        let name = dump.file_name().unwrap().to_string_lossy().to_string();
        let t0 = Instant::now();
        let (id, key) = p.api.submit(dump, aim);
        let request = p.api.wait_finished(&id, &key);
        assert_eq!(request["state"], "done", "{name}: {request}");
        eprintln!("{name}: done in {:?}", t0.elapsed());
        let upgraded = work.path().join(format!("upgraded_{name}"));
        let archive = p.api.get(request["upgraded_dump_url"].as_str().unwrap());
        assert_eq!(archive.status(), 200, "{name}");
        std::fs::write(&upgraded, archive.bytes().unwrap()).unwrap();
        let inspected: Value = serde_json::from_str(&slipway_ok(
            p.data.path(),
            &["dump", "inspect", upgraded.to_str().unwrap(), "--json"],
        ))
        .unwrap();
        assert_eq!(inspected["format"], "odoo-zip", "{name}");
        assert_eq!(inspected["odoo_version"], "17.0", "{name}");

        // A stock Odoo 17 (no OpenUpgrade) restores it, updates every module without an
        // error, and serves it: the login page, admin's login, the attached file, demo data.
        let db = format!("real_v17_{n}");
        odoo17.load(&db, &upgraded);
        odoo17.run(None, &["-d", &db, "-u", "all", "--stop-after-init"], "");
        let mut server = odoo17.serve(&db);
        let http = &p.api.http;
        assert_eq!(server.login_page(http), 200, "{name}: /web/login");
        let (uid, cookie) = server.authenticate(http, &db, "admin");
        assert_eq!(uid, json!(2), "{name}: admin logs in");
        if let Some(kept) = kept {
            let (id, content) = kept.attachment;
            let file = http
                .get(format!("{}/web/content/{id}", server.base))
                .header("Cookie", &cookie)
                .send()
                .unwrap();
            assert_eq!(file.status(), 200, "{name}: the attachment");
            assert_eq!(file.text().unwrap(), content, "{name}: the attached file");
            let domain = json!([[["name", "=", kept.demo_partner]]]);
            let found = server.call(http, &cookie, "res.partner", "search_count", domain);
            assert_eq!(found, json!(1), "{name}: demo data kept");
        }
        eprintln!("{name}: checked on stock Odoo 17 after {:?}", t0.elapsed());
    }
}
