//! The Odoo stand-in (tests/fixtures/odoo-standin) with the real `slipway` binary: `-u` runs
//! upgrade scripts through `slipway migrate run`, and `slipway db neutralize` works on its
//! databases.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_runner::odoo::{run_task, OdooConf, OdooSource, OdooTask, TaskOutcome};
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
