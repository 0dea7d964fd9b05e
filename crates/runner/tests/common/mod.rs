//! A small Odoo-like world for runner tests: a module registry in a real
//! database and an addons tree of custom modules with upgrade scripts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use slipway_odoo::{build_plan, scan_addons, FolderRules, Plan, PlanInput, Series, UpdateRequest};
use slipway_runner::{read_db_state, run_plan, Error, RunEvent, RunOptions, RunReport};
use slipway_testkit::TestDb;

pub struct World {
    pub db: TestDb,
    pub tree: tempfile::TempDir,
}

/// The registry tables as Odoo 17 has them (the columns Slipway reads and writes).
const REGISTRY: &str = "
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE,
    state varchar, latest_version varchar, demo boolean DEFAULT false);
CREATE TABLE ir_module_module_dependency (id serial PRIMARY KEY,
    module_id integer REFERENCES ir_module_module(id) ON DELETE CASCADE, name varchar);
";

impl World {
    pub async fn new() -> World {
        let db = TestDb::new().await;
        sqlx::raw_sql(REGISTRY).execute(db.pool()).await.unwrap();
        let w = World {
            db,
            tree: tempfile::tempdir().unwrap(),
        };
        w.installed("base", "17.0.1.3", &[]).await;
        w
    }

    pub async fn installed(&self, name: &str, version: &str, deps: &[&str]) {
        let id: i32 = sqlx::query_scalar(
            "INSERT INTO ir_module_module (name, state, latest_version) VALUES ($1, 'installed', $2) RETURNING id",
        )
        .bind(name)
        .bind(version)
        .fetch_one(self.db.pool())
        .await
        .unwrap();
        for d in deps {
            sqlx::query(
                "INSERT INTO ir_module_module_dependency (module_id, name) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(d)
            .execute(self.db.pool())
            .await
            .unwrap();
        }
    }

    pub fn addons(&self) -> PathBuf {
        self.tree.path().join("addons")
    }

    /// Writes a file of the addons tree.
    pub fn file(&self, rel: &str, body: &str) -> &Self {
        let p = self.addons().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }

    pub async fn plan(&self, request: UpdateRequest) -> Plan {
        plan_for(&self.addons(), self.db.url(), request).await
    }

    pub async fn scalar(&self, sql: &str) -> Option<String> {
        sqlx::query_scalar::<_, Option<String>>(sql)
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    pub async fn version_of(&self, module: &str) -> String {
        self.scalar(&format!(
            "SELECT latest_version FROM ir_module_module WHERE name = '{module}'"
        ))
        .await
        .unwrap_or_default()
    }

    pub async fn table_exists(&self, table: &str) -> bool {
        self.scalar(&format!("SELECT to_regclass('{table}')::text"))
            .await
            .is_some()
    }
}

pub async fn plan_for(addons: &Path, url: &str, request: UpdateRequest) -> Plan {
    let db = read_db_state(url).await.unwrap();
    let series: Series = db.series().unwrap();
    let scan = scan_addons(&[addons.to_path_buf()], &series);
    assert!(scan.problems.is_empty(), "{:?}", scan.problems);
    build_plan(&PlanInput {
        addons: &scan,
        db: &db,
        request: &request,
        series: &series,
        rules: FolderRules::for_series(&series),
        upgrade_paths: &[],
    })
}

/// Runs a plan, collecting every event.
pub async fn run(
    plan: &Plan,
    url: &str,
    commit_per_module: bool,
) -> (Result<RunReport, Error>, Vec<RunEvent>) {
    let mut events = Vec::new();
    let opts = RunOptions {
        commit_per_module,
        ..RunOptions::default()
    };
    let result = run_plan(plan, url, &opts, &mut |e| events.push(e)).await;
    (result, events)
}

pub fn lines(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ScriptStarted { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}
