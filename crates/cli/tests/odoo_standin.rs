//! The Odoo stand-in (tests/fixtures/odoo-standin) with the real `slipway` binary: `-u` runs
//! upgrade scripts through `slipway migrate run`, a major-version update runs them with
//! OpenUpgrade's layout (`EngineFixture`), and `slipway db neutralize` works on its databases.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_runner::odoo::{
    free_port, run_task, OdooConf, OdooServer, OdooSource, OdooTask, TaskOutcome,
};
use slipway_runner::read_db_state;
use slipway_runner::venv::{Venv, Venvs};
use sqlx::Connection;

fn standin() -> OdooSource {
    OdooSource::inspect(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/odoo-standin"
    )))
    .unwrap()
}

async fn venv(src: &OdooSource) -> Venv {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-venvs"
    ));
    std::fs::create_dir_all(&root).unwrap();
    let reqs: Vec<PathBuf> = src.requirements().into_iter().collect();
    Venvs::new(root.clone(), "python3".into())
        .ensure(&reqs, &root.join("pip.log"))
        .await
        .unwrap()
}

/// A CREATEDB role on the shared test cluster and the database of the test, dropped on drop.
struct Role {
    user: String,
    password: String,
    port: u16,
    db: String,
}

impl Role {
    async fn new() -> Role {
        let server = slipway_testkit::shared_server();
        let slipway_pg::Server::Embedded(conn) = server else {
            panic!("embedded test cluster")
        };
        let user = format!("odoo_c{:08x}", rand::random::<u32>());
        let password = format!("pw{:08x}", rand::random::<u32>());
        let mut c = sqlx::PgConnection::connect(&server.url("postgres"))
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{password}'"
        ))
        .execute(&mut c)
        .await
        .unwrap();
        let db = format!("{user}_db");
        Role {
            user,
            password,
            port: conn.port,
            db,
        }
    }

    fn url(&self) -> String {
        slipway_testkit::shared_server().url(&self.db)
    }

    /// The database's URL as the role itself (what Odoo connects as).
    fn own_url(&self) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            self.user, self.password, self.port, self.db
        )
    }

    fn conf(&self, addons: &Path, data: &Path, src: &OdooSource) -> OdooConf {
        let mut addons_path = vec![addons.to_path_buf()];
        addons_path.extend(src.addons_dirs());
        OdooConf {
            db_host: "127.0.0.1".into(),
            db_port: self.port,
            db_user: self.user.clone(),
            db_password: self.password.clone(),
            db_name: self.db.clone(),
            addons_path,
            data_dir: data.to_path_buf(),
            http_interface: "127.0.0.1".into(),
            http_port: 8069,
            smtp: None,
            list_db: false,
            proxy_mode: true,
            max_cron_threads: 0,
            without_demo: true,
            admin_passwd: "master".into(),
            log_level: "info".into(),
            connect_key: None,
            upgrade_path: Vec::new(),
            load: Vec::new(),
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE); DROP ROLE IF EXISTS {};",
            self.db, self.user
        );
        let _ = std::process::Command::new(slipway_testkit::binaries().tool("psql"))
            .args(["-X", "-q"])
            .arg(slipway_testkit::shared_server().url("postgres"))
            .arg("-c")
            .arg(sql)
            .output();
    }
}

fn manifest(addons: &Path, version: &str) {
    let dir = addons.join("upg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("__init__.py"), "").unwrap();
    std::fs::write(
        dir.join("__manifest__.py"),
        format!("{{'name': 'Upg', 'version': '{version}', 'depends': ['mail']}}"),
    )
    .unwrap();
}

fn script(addons: &Path, folder: &str, name: &str, body: &str) {
    let dir = addons.join("upg/migrations").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), body).unwrap();
}

async fn update(src: &OdooSource, venv: &Venv, conf: &Path, log: &Path) -> TaskOutcome {
    let env = [(
        "SLIPWAY_BIN".to_string(),
        env!("CARGO_BIN_EXE_slipway").to_string(),
    )];
    let task = OdooTask::Update {
        modules: vec!["upg".into()],
    };
    run_task(venv, src, conf, &task, log, &env).await.unwrap()
}

async fn param(url: &str, key: &str) -> Option<String> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT value FROM ir_config_parameter WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut c)
        .await
        .unwrap()
}

async fn version(url: &str) -> Option<String> {
    let db = read_db_state(url).await.unwrap();
    db.modules
        .into_iter()
        .find(|m| m.name == "upg")
        .and_then(|m| m.latest_version)
}

#[tokio::test(flavor = "multi_thread")]
async fn update_runs_upgrade_scripts_through_slipway_and_a_failing_one_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let addons = tmp.path().join("addons");
    let src = standin();
    let venv = venv(&src).await;
    let role = Role::new().await;
    let conf = tmp.path().join("odoo.conf");
    role.conf(&addons, &tmp.path().join("data"), &src)
        .write(&conf)
        .unwrap();
    manifest(&addons, "1.0");
    let log = tmp.path().join("install.log");
    let task = OdooTask::Install {
        modules: vec!["upg".into()],
        demo: false,
        tests: None,
    };
    let out = run_task(&venv, &src, &conf, &task, &log, &[])
        .await
        .unwrap();
    assert!(
        out.succeeded(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(version(&role.url()).await.as_deref(), Some("17.0.1.0"));

    // 1.1: a pre script records the old version
    manifest(&addons, "1.1");
    script(
        &addons,
        "1.1",
        "pre-record.py",
        "def migrate(cr, version):\n    cr.execute(\"INSERT INTO ir_config_parameter (key, value) VALUES ('upg.from', %s)\", (version,))\n",
    );
    let log = tmp.path().join("update.log");
    let out = update(&src, &venv, &conf, &log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(out.succeeded(), "{text}");
    assert!(
        text.contains("module upg: Running migration [>1.1] pre-record"),
        "{text}"
    );
    assert_eq!(version(&role.url()).await.as_deref(), Some("17.0.1.1"));
    assert_eq!(
        param(&role.url(), "upg.from").await.as_deref(),
        Some("17.0.1.0")
    );

    // 1.2: a post script writes, then raises: ERROR, exit 1, nothing changed
    manifest(&addons, "1.2");
    script(
        &addons,
        "1.2",
        "post-break.py",
        "def migrate(cr, version):\n    cr.execute(\"UPDATE ir_config_parameter SET value = 'broken' WHERE key = 'upg.from'\")\n    raise ValueError('upgrade went wrong')\n",
    );
    let log = tmp.path().join("update2.log");
    let out = update(&src, &venv, &conf, &log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(out.exit_code, Some(1), "{text}");
    assert!(out.verdict.errors > 0);
    assert!(text.contains("upgrade went wrong"), "{text}");
    assert_eq!(version(&role.url()).await.as_deref(), Some("17.0.1.1"));
    assert_eq!(
        param(&role.url(), "upg.from").await.as_deref(),
        Some("17.0.1.0")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slipway_neutralizes_and_inspects_a_standin_database() {
    let tmp = tempfile::tempdir().unwrap();
    let addons = tmp.path().join("addons");
    std::fs::create_dir_all(&addons).unwrap();
    let src = standin();
    let venv = venv(&src).await;
    let role = Role::new().await;
    let conf = tmp.path().join("odoo.conf");
    role.conf(&addons, &tmp.path().join("data"), &src)
        .write(&conf)
        .unwrap();
    let task = OdooTask::Install {
        modules: vec!["contacts".into()],
        demo: false,
        tests: None,
    };
    let log = tmp.path().join("install.log");
    let out = run_task(&venv, &src, &conf, &task, &log, &[])
        .await
        .unwrap();
    assert!(
        out.succeeded(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let url = role.url();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO ir_mail_server (name, smtp_host, smtp_port) VALUES ('real', 'smtp.example.com', 587)")
        .execute(&mut c)
        .await
        .unwrap();
    let pg_url = slipway_testkit::shared_server().url("postgres");
    let data = common::DataDir::new();
    // the database is the role's, not Slipway's: its password comes the libpq way
    let out = std::process::Command::new(common::slipway_bin())
        .arg("--data-dir")
        .arg(data.path())
        .args(["--pg-url", &pg_url, "db", "neutralize", "-d", &role.db])
        .env("PGPASSWORD", &role.password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let active: Vec<String> =
        sqlx::query_scalar("SELECT name FROM ir_mail_server WHERE active ORDER BY name")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(active, ["neutralization - disable emails"]);
    let crons: Vec<String> = sqlx::query_scalar("SELECT cron_name FROM ir_cron WHERE active")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(crons, ["Base: Auto-vacuum internal data"]);
    assert_eq!(
        param(&url, "database.is_neutralized").await.as_deref(),
        Some("true")
    );
    let _ = c.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The stand-in saying it is `series`, its venv, and a role with an empty custom addons folder.
struct Runtime {
    source: OdooSource,
    venv: Venv,
    _copy: tempfile::TempDir,
}

impl Runtime {
    async fn of_series(series: &str) -> Runtime {
        let copy = slipway_testkit::standin_of_series(series);
        let source = OdooSource::inspect(copy.path()).unwrap();
        assert_eq!(source.series.to_string(), series);
        let venv = venv(&source).await;
        Runtime {
            source,
            venv,
            _copy: copy,
        }
    }
}

fn slipway_env() -> Vec<(String, String)> {
    vec![(
        "SLIPWAY_BIN".to_string(),
        env!("CARGO_BIN_EXE_slipway").to_string(),
    )]
}

/// The odoo.conf of a major-version step as the upgrade platform writes it: the runtime's
/// addons then OpenUpgrade's folder, OpenUpgrade loaded server-wide, and `upgrade_path` when
/// given (else the framework finds `openupgrade_scripts/scripts` itself).
fn step_conf(
    role: &Role,
    rt: &Runtime,
    engine: &slipway_testkit::EngineFixture,
    dir: &Path,
    upgrade_path: Option<&str>,
) -> PathBuf {
    let mut conf = role.conf(&engine.openupgrade_dir(), &dir.join("data"), &rt.source);
    conf.addons_path = rt.source.addons_dirs();
    conf.addons_path.push(engine.openupgrade_dir());
    conf.load = vec!["openupgrade_framework".into()];
    conf.upgrade_path = upgrade_path
        .map(|dirs| dirs.split(',').map(PathBuf::from).collect())
        .unwrap_or_default();
    let path = dir.join("step.conf");
    conf.write(&path).unwrap();
    path
}

/// `-u all --stop-after-init` with `conf`; the outcome and the log.
async fn update_all(
    rt: &Runtime,
    conf: &Path,
    env: &[(String, String)],
    log: &Path,
) -> (TaskOutcome, String) {
    let task = OdooTask::Update {
        modules: vec!["all".into()],
    };
    let out = run_task(&rt.venv, &rt.source, conf, &task, log, env)
        .await
        .unwrap();
    (out, std::fs::read_to_string(log).unwrap())
}

/// A 16.0 database of the 16.0 stand-in with base, web, mail and contacts, with demo data.
async fn make_16_database(rt: &Runtime, role: &Role, dir: &Path) {
    let addons = dir.join("addons");
    std::fs::create_dir_all(&addons).unwrap();
    let conf = dir.join("make16.conf");
    let mut odoo_conf = role.conf(&addons, &dir.join("data"), &rt.source);
    odoo_conf.without_demo = false;
    odoo_conf.write(&conf).unwrap();
    let task = OdooTask::Install {
        modules: ["base", "web", "mail", "contacts"].map(String::from).into(),
        demo: true,
        tests: None,
    };
    let log = dir.join("make16.log");
    let out = run_task(&rt.venv, &rt.source, &conf, &task, &log, &[])
        .await
        .unwrap();
    assert!(
        out.succeeded(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(versions(&role.url()).await["base"], "16.0.1.3");
    let demo_user = "SELECT count(*) FROM res_users WHERE login = 'demo'";
    assert_eq!(scalar(&role.url(), demo_user).await, 1);
}

/// name -> latest_version of the installed modules.
async fn versions(url: &str) -> std::collections::BTreeMap<String, String> {
    let db = read_db_state(url).await.unwrap();
    db.modules
        .into_iter()
        .filter(|m| m.state.is_installed())
        .map(|m| (m.name, m.latest_version.unwrap_or_default()))
        .collect()
}

async fn scalar(url: &str, query: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let value = sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap();
    let _ = c.close().await;
    value
}

/// Serves the database with `rt` WITHOUT OpenUpgrade (as verification does): `Ok(status of
/// GET /web/login)`, or the error of a server that did not come up, with its log.
async fn serve_login(rt: &Runtime, role: &Role, dir: &Path, name: &str) -> Result<u16, String> {
    let addons = dir.join("addons");
    std::fs::create_dir_all(&addons).unwrap();
    let mut conf = role.conf(&addons, &dir.join("data"), &rt.source);
    conf.http_port = free_port().unwrap();
    let path = dir.join(format!("{name}.conf"));
    conf.write(&path).unwrap();
    let log = dir.join(format!("{name}.log"));
    let mut server = OdooServer::start(&rt.venv, &rt.source, &path, &log, &[])
        .await
        .unwrap();
    let healthy = server
        .wait_healthy(conf.http_port, Duration::from_secs(60))
        .await;
    let result = match healthy {
        Ok(()) => {
            let url = format!("http://127.0.0.1:{}/web/login", conf.http_port);
            Ok(reqwest::get(url).await.unwrap().status().as_u16())
        }
        Err(_) => Err(std::fs::read_to_string(&log).unwrap()),
    };
    server.stop(Duration::from_secs(5)).await;
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn a_16_database_goes_to_17_through_openupgrade_and_only_then_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let (v16, v17) = (
        Runtime::of_series("16.0").await,
        Runtime::of_series("17.0").await,
    );
    let engine = slipway_testkit::EngineFixture::new();
    let role = Role::new().await;
    make_16_database(&v16, &role, tmp.path()).await;

    // Odoo 17 cannot serve a 16.0 schema: the server refuses to start.
    let refused = serve_login(&v17, &role, tmp.path(), "serve16").await;
    let log = refused.expect_err("the 17.0 stand-in served a 16.0 database");
    assert!(
        log.contains("CRITICAL") && log.contains("another Odoo series (base 16.0.1.3)"),
        "{log}"
    );

    // A failing OpenUpgrade script: ERROR, exit 1, the database still 16.0.
    let failing = slipway_testkit::EngineFixture::new();
    failing.add_script(
        "mail",
        "17.0.1.15",
        "post-migration.py",
        "def migrate(cr, version):\n    raise Exception('migration fails on purpose')\n",
    );
    let conf = step_conf(&role, &v17, &failing, tmp.path(), None);
    let mut env = slipway_env();
    env.push(("OPENUPGRADE_USE_DEMO".into(), "yes".into()));
    let (out, text) = update_all(&v17, &conf, &env, &tmp.path().join("failing.log")).await;
    assert_eq!(out.exit_code, Some(1), "{text}");
    assert!(
        out.verdict.errors > 0 && text.contains("migration fails on purpose"),
        "{text}"
    );
    assert_eq!(versions(&role.url()).await["base"], "16.0.1.3");

    // The step as the platform runs it, keeping demo data.
    // upgrade-util's folder is optional: one that is missing is no script, as in Odoo.
    let upgrade_path = format!(
        "{},{}",
        tmp.path().join("no-upgrade-util/src").display(),
        engine
            .openupgrade_dir()
            .join("openupgrade_scripts/scripts")
            .display()
    );
    let conf = step_conf(&role, &v17, &engine, tmp.path(), Some(&upgrade_path));
    let (out, text) = update_all(&v17, &conf, &env, &tmp.path().join("upgrade.log")).await;
    assert!(out.succeeded(), "{text}");
    let upgraded = versions(&role.url()).await;
    assert_eq!(
        upgraded.keys().collect::<Vec<_>>(),
        ["base", "contacts", "mail", "web"],
        "{text}"
    );
    for (name, version) in &upgraded {
        assert!(version.starts_with("17.0."), "{name} {version}: {text}");
    }
    // OpenUpgrade's base scripts ran, in Odoo's order, from the 16.0 version on.
    let pre = text.find("Running migration [>17.0.1.3] pre-migration");
    let post = text.find("Running migration [17.0.1.3>] post-migration");
    assert!(pre.is_some() && pre < post, "{text}");
    assert_eq!(
        param(&role.url(), "openupgrade_test.base_pre_migration")
            .await
            .as_deref(),
        Some("16.0.1.3")
    );
    assert!(
        text.contains("WARNING")
            && text.contains("OpenUpgrade: Module Unknown: Not dropping the column of field"),
        "{text}"
    );
    assert_eq!(out.verdict.errors, 0, "{text}");
    assert_eq!(
        scalar(
            &role.url(),
            "SELECT count(*) FROM res_users WHERE login = 'demo'"
        )
        .await,
        1,
        "OPENUPGRADE_USE_DEMO=yes keeps demo data"
    );
    assert_eq!(
        scalar(
            &role.url(),
            "SELECT count(*) FROM ir_module_module WHERE demo"
        )
        .await,
        4
    );

    // Now Odoo 17 serves it.
    assert_eq!(
        serve_login(&v17, &role, tmp.path(), "serve17").await,
        Ok(200)
    );

    // The next major step, 17.0 -> 18.0, with the 18.0 stand-in and engine.
    let v18 = Runtime::of_series("18.0").await;
    let engine18 = slipway_testkit::EngineFixture::for_series("18.0");
    let conf = step_conf(&role, &v18, &engine18, tmp.path(), None);
    let (out, text) = update_all(&v18, &conf, &env, &tmp.path().join("to18.log")).await;
    assert!(out.succeeded(), "{text}");
    for (name, version) in versions(&role.url()).await {
        assert!(version.starts_with("18.0."), "{name} {version}: {text}");
    }
    assert_eq!(
        param(&role.url(), "openupgrade_test.base_pre_migration")
            .await
            .as_deref(),
        Some("17.0.1.3")
    );
    assert_eq!(
        serve_login(&v18, &role, tmp.path(), "serve18").await,
        Ok(200)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_openupgrade_use_demo_the_upgraded_database_loses_its_demo_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (v16, v17) = (
        Runtime::of_series("16.0").await,
        Runtime::of_series("17.0").await,
    );
    let engine = slipway_testkit::EngineFixture::new();
    let role = Role::new().await;
    make_16_database(&v16, &role, tmp.path()).await;
    let demo_user = "SELECT count(*) FROM res_users WHERE login = 'demo'";

    // A step that fails leaves the demo data as it was.
    let failing = slipway_testkit::EngineFixture::new();
    failing.add_script(
        "base",
        "17.0.1.3",
        "end-migration.py",
        "def migrate(cr, version):\n    raise Exception('migration fails on purpose')\n",
    );
    let conf = step_conf(&role, &v17, &failing, tmp.path(), None);
    let (out, text) = update_all(&v17, &conf, &slipway_env(), &tmp.path().join("fail.log")).await;
    assert_eq!(out.exit_code, Some(1), "{text}");
    assert_eq!(scalar(&role.url(), demo_user).await, 1, "{text}");

    // An installed module the 17.0 runtime lacks is skipped with a warning, then reported
    // by Odoo 17's "Some modules are not loaded" and "inconsistent states" ERRORs, as a
    // real Odoo 17 logs them after `-u all` (the run still exits 0).
    let mut c = sqlx::PgConnection::connect(&role.url()).await.unwrap();
    sqlx::query("INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_gone', 'installed', '16.0.1.0')")
        .execute(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;

    // No upgrade_path: OpenUpgrade's framework sets it to openupgrade_scripts/scripts.
    let conf = step_conf(&role, &v17, &engine, tmp.path(), None);
    let (out, text) = update_all(&v17, &conf, &slipway_env(), &tmp.path().join("up.log")).await;
    assert_eq!(out.exit_code, Some(0), "{text}");
    assert_eq!(out.verdict.errors, 2, "{text}");
    assert!(
        text.contains(
            "Some modules have inconsistent states, some dependencies may be missing: ['x_gone']"
        ),
        "{text}"
    );
    assert!(
        text.contains("WARNING") && text.contains("module x_gone: not installable, skipped"),
        "{text}"
    );
    assert!(
        text.contains("ERROR") && text.contains("Some modules are not loaded, some dependencies or manifest may be missing: ['x_gone']"),
        "{text}"
    );
    assert_eq!(versions(&role.url()).await["x_gone"], "16.0.1.0");
    assert!(
        text.contains("Setting upgrade_path to the scripts directory"),
        "{text}"
    );
    assert!(text.contains("demo data dropped"), "{text}");
    assert_eq!(
        param(&role.url(), "openupgrade_test.base_post_migration")
            .await
            .as_deref(),
        Some("16.0.1.3")
    );
    assert_eq!(versions(&role.url()).await["mail"], "17.0.1.15");
    assert_eq!(scalar(&role.url(), demo_user).await, 0);
    assert_eq!(
        scalar(
            &role.url(),
            "SELECT count(*) FROM ir_module_module WHERE demo"
        )
        .await,
        0
    );

    // Odoo checks the --upgrade-path flag: a folder without scripts is refused.
    let empty = tmp.path().join("no-scripts");
    std::fs::create_dir_all(&empty).unwrap();
    let out = tokio::process::Command::new(&v17.venv.python)
        .arg(&v17.source.odoo_bin)
        .arg("-c")
        .arg(&conf)
        .arg(format!("--upgrade-path={}", empty.display()))
        .args(["-u", "all", "--stop-after-init"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a valid upgrade directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real Odoo 16.0 `v16_base.zip`, restored as the database's role: the 17.0 stand-in
/// with the 17.0 engine takes it to 17.0, `web_kanban_gauge` merged into `web` as
/// OpenUpgrade 17.0 does, and then serves it.
#[tokio::test(flavor = "multi_thread")]
async fn the_real_v16_base_dump_goes_to_17_with_web_kanban_gauge_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let v17 = Runtime::of_series("17.0").await;
    let engine = slipway_testkit::EngineFixture::new();
    let role = Role::new().await;
    restore_as_role(
        &role,
        &slipway_testkit::odoo_dumps_dir().join("v16_base.zip"),
    );
    let before = versions(&role.url()).await;
    assert_eq!(before.len(), 8);
    assert_eq!(before["web_kanban_gauge"], "16.0.1.0");

    let conf = step_conf(&role, &v17, &engine, tmp.path(), None);
    let (out, text) = update_all(&v17, &conf, &slipway_env(), &tmp.path().join("up.log")).await;
    assert!(out.succeeded() && out.verdict.errors == 0, "{text}");
    let after = versions(&role.url()).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        [
            "auth_totp",
            "base",
            "base_import",
            "bus",
            "web",
            "web_editor",
            "web_tour"
        ],
        "{text}"
    );
    for (name, version) in &after {
        assert!(version.starts_with("17.0."), "{name} {version}: {text}");
    }
    assert!(!text.contains("not installable"), "{text}");
    assert_eq!(
        scalar(
            &role.url(),
            "SELECT count(*) FROM ir_model_data WHERE module = 'web_kanban_gauge'"
        )
        .await,
        0
    );
    assert_eq!(
        serve_login(&v17, &role, tmp.path(), "serve17").await,
        Ok(200)
    );
}

/// Creates the role's database and replays an Odoo zip's `dump.sql` in it as the role (the
/// filestore is not needed by the stand-in).
fn restore_as_role(role: &Role, zip: &Path) {
    let archive = std::fs::File::open(zip).unwrap();
    let mut archive = zip::ZipArchive::new(archive).unwrap();
    let mut sql = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("dump.sql").unwrap(), &mut sql).unwrap();
    // psql older than 15.14 does not know pg_dump's \restrict lines
    let sql: String = sql
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| format!("{l}\n"))
        .collect();
    let psql = slipway_testkit::binaries().tool("psql");
    let admin = slipway_testkit::shared_server().url("postgres");
    let create = std::process::Command::new(&psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &admin, "-c"])
        .arg(format!(
            "CREATE DATABASE \"{}\" OWNER {}",
            role.db, role.user
        ))
        .output()
        .unwrap();
    assert!(create.status.success(), "{create:?}");
    let mut child = std::process::Command::new(&psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &role.own_url()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stand-in leaves out only its own records a real database's table needs more columns
/// for; a module's record missing a required value fails the install, as in Odoo, and
/// nothing of it is kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_module_record_missing_a_required_value_fails_the_install() {
    let tmp = tempfile::tempdir().unwrap();
    let addons = tmp.path().join("addons");
    let module = addons.join("bad_record");
    std::fs::create_dir_all(module.join("data")).unwrap();
    std::fs::write(
        module.join("__manifest__.py"),
        "{'name': 'Bad record', 'version': '1.0', 'depends': ['base'], 'data': ['data/servers.xml']}\n",
    )
    .unwrap();
    std::fs::write(module.join("__init__.py"), "").unwrap();
    // ir_mail_server.name is required.
    std::fs::write(
        module.join("data/servers.xml"),
        "<odoo><record model=\"ir.mail_server\" id=\"nameless\"><field name=\"smtp_host\">smtp.example.com</field></record></odoo>\n",
    )
    .unwrap();
    let src = standin();
    let venv = venv(&src).await;
    let role = Role::new().await;
    let conf = tmp.path().join("odoo.conf");
    role.conf(&addons, &tmp.path().join("data"), &src)
        .write(&conf)
        .unwrap();
    let log = tmp.path().join("install.log");
    let task = OdooTask::Install {
        modules: vec!["bad_record".into()],
        demo: false,
        tests: None,
    };
    let out = run_task(&venv, &src, &conf, &task, &log, &[])
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(out.exit_code, Some(1), "{text}");
    assert!(out.verdict.errors > 0, "{text}");
    assert!(!text.contains("not created"), "{text}");
    assert_eq!(
        scalar(
            &role.url(),
            "SELECT count(*) FROM ir_mail_server WHERE smtp_host = 'smtp.example.com'"
        )
        .await,
        0
    );
}
