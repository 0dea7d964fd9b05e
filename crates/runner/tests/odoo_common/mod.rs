//! Helpers for tests that run Odoo (the stand-in, or the tree in `SLIPWAY_TEST_ODOO_SRC`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use slipway_pg::Server;
use slipway_runner::odoo::{OdooConf, OdooSource};
use slipway_runner::venv::{Venv, Venvs};
use sqlx::Connection;

/// The Odoo tree under test: `$SLIPWAY_TEST_ODOO_SRC`, else the stand-in.
pub fn odoo_root() -> PathBuf {
    match std::env::var_os("SLIPWAY_TEST_ODOO_SRC") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/odoo-standin"
        )),
    }
}

/// Whether the tests run on the stand-in (its test hooks are available).
pub fn on_standin() -> bool {
    std::env::var_os("SLIPWAY_TEST_ODOO_SRC").is_none()
}

pub fn source() -> OdooSource {
    OdooSource::inspect(&odoo_root()).expect("inspect the Odoo tree")
}

/// The virtualenv of the Odoo tree, shared by the test run (made once, then reused).
pub async fn venv() -> Venv {
    let src = source();
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-venvs"
    ));
    let reqs: Vec<PathBuf> = src.requirements().into_iter().collect();
    std::fs::create_dir_all(&root).unwrap();
    Venvs::new(root.clone(), "python3".into())
        .ensure(&reqs, &root.join("pip.log"))
        .await
        .expect("the test virtualenv")
}

/// A login role with CREATEDB and a password on the shared test cluster (Odoo refuses
/// `postgres`), and the databases the test names; all dropped on drop.
pub struct PgRole {
    pub user: String,
    pub password: String,
    pub port: u16,
    pub dbs: Vec<String>,
}

impl PgRole {
    pub async fn new() -> PgRole {
        let server = slipway_testkit::shared_server();
        let Server::Embedded(conn) = server else {
            panic!("the test cluster is embedded")
        };
        let user = format!("odoo_t{:08x}", rand::random::<u32>());
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
        PgRole {
            user,
            password,
            port: conn.port,
            dbs: Vec::new(),
        }
    }

    /// A database name for this test (created by Odoo), dropped with the role.
    pub fn db(&mut self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.user);
        self.dbs.push(name.clone());
        name
    }

    /// A superuser URL of a database (to look inside).
    pub fn url(&self, db: &str) -> String {
        slipway_testkit::shared_server().url(db)
    }

    pub fn conf(&self, db: &str, addons: &[PathBuf], data_dir: &Path, port: u16) -> OdooConf {
        let mut addons_path = addons.to_vec();
        addons_path.extend(source().addons_dirs());
        OdooConf {
            db_host: "127.0.0.1".into(),
            db_port: self.port,
            db_user: self.user.clone(),
            db_password: self.password.clone(),
            db_name: db.into(),
            addons_path,
            data_dir: data_dir.to_path_buf(),
            http_interface: "127.0.0.1".into(),
            http_port: port,
            smtp: None,
            list_db: false,
            proxy_mode: true,
            max_cron_threads: 0,
            without_demo: false,
            admin_passwd: "master".into(),
            log_level: "info".into(),
            connect_key: None,
            upgrade_path: Vec::new(),
            load: Vec::new(),
        }
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let mut sql = String::new();
        for db in &self.dbs {
            sql.push_str(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE);\n"));
        }
        sql.push_str(&format!("DROP ROLE IF EXISTS {};\n", self.user));
        let _ = std::process::Command::new(slipway_testkit::binaries().tool("psql"))
            .args(["-X", "-q"])
            .arg(slipway_testkit::shared_server().url("postgres"))
            .arg("-c")
            .arg(sql)
            .output();
    }
}

/// Writes a module: `files` are (relative path, contents); the manifest is given whole.
pub fn write_module(addons: &Path, name: &str, manifest: &str, files: &[(&str, &str)]) {
    let dir = addons.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("__manifest__.py"), manifest).unwrap();
    std::fs::write(dir.join("__init__.py"), "").unwrap();
    for (rel, text) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}
