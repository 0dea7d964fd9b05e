//! The test harness of Slipway's integration tests.
//!
//! One real PostgreSQL cluster serves a whole test run, shared by every test process (cargo
//! nextest runs each test in its own process): the first test to need it starts it under a
//! file lock, the others find it running. Each test gets its own fresh database, dropped when
//! the [`TestDb`] goes out of scope.
//!
//! ```no_run
//! # async fn example() {
//! let db = slipway_testkit::TestDb::new().await;
//! sqlx::query("CREATE TABLE t (id int)").execute(db.pool()).await.unwrap();
//! # }
//! ```
//!
//! [`EngineFixture`] gives tests a ready upgrade engine without PyPI (an OpenUpgrade-shaped
//! folder, a stand-in `openupgradelib` wheel for pip), and [`standin_of_series`] the Odoo
//! stand-in saying it is another series. Together they run a real major-version step on the
//! stand-in (`-u all` with `openupgrade_framework` loaded): the fixture's `apriori.py` merges
//! `web_kanban_gauge` into `web` for 17.0 as OpenUpgrade's does, its base scripts apply that
//! in SQL and leave marker parameters, and [`EngineFixture::add_script`] adds more (a failing
//! one makes the step fail).
//!
//! The cluster lives in `target/slipway-test-pg` (or `$SLIPWAY_TEST_PG_DIR`) and is tuned for
//! speed (no fsync). The test script stops it at the end of the run; a run that finds it
//! running just reuses it.

mod engines;

pub use engines::{odoo_standin_dir, standin_of_series, EngineFixture};

use std::fs::File;
use std::path::PathBuf;
use std::sync::OnceLock;

use nix::fcntl::{Flock, FlockArg};
use slipway_pg::{Binaries, ClusterOptions, EmbeddedCluster, Server};
use sqlx::postgres::{PgPool, PgPoolOptions};

/// Where the shared test cluster lives.
pub fn cluster_dir() -> PathBuf {
    match std::env::var_os("SLIPWAY_TEST_PG_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/slipway-test-pg"
        )),
    }
}

/// The real Odoo databases shared with the project (`shared/fixtures/odoo-dumps`): read-only.
pub fn odoo_dumps_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/odoo-dumps"
    ))
}

/// The shared cluster, started if needed. Panics with the reason when it cannot start: every
/// integration test needs it.
pub fn shared_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        std::thread::spawn(start_shared_cluster)
            .join()
            .expect("starting the test cluster panicked")
    })
}

/// Server binaries of the shared cluster (`psql`, `pg_dump`, `pg_restore`...).
pub fn binaries() -> Binaries {
    Binaries::discover().expect("PostgreSQL binaries")
}

fn start_shared_cluster() -> Server {
    let dir = cluster_dir();
    std::fs::create_dir_all(dir.parent().expect("cluster dir has a parent"))
        .expect("create the test cluster's parent directory");
    let lock_path = dir.with_extension("lock");
    let lock_file = File::create(&lock_path).expect("create the test cluster lock file");
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).expect("lock the test cluster");
    let cluster = EmbeddedCluster::new(
        &dir,
        ClusterOptions {
            unsafe_fast: true,
            bin_dir: None,
            wal_archive: false,
        },
    )
    .expect("test cluster layout");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(cluster.start())
        .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL in {}: {e}", dir.display()));
    cluster.server().expect("test cluster is running")
}

/// A fresh, empty database for one test, on the shared cluster; dropped on drop.
pub struct TestDb {
    name: String,
    url: String,
    pool: PgPool,
}

impl TestDb {
    /// Creates the database. Its name starts with `t_` and is unique across processes.
    pub async fn new() -> Self {
        let server = shared_server();
        let name = format!("t_{}_{:08x}", std::process::id(), rand::random::<u32>());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&server.url("postgres"))
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .expect("create the test database");
        admin.close().await;
        let url = server.url(&name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&url)
            .await
            .expect("connect to the test database");
        Self { name, url, pool }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for sqlx and libpq tools (`psql`, `pg_restore`...), as the cluster's superuser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool connected to the database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The server holding the database, to create more databases beside it.
    pub fn server(&self) -> &'static Server {
        shared_server()
    }
}

impl Drop for TestDb {
    /// Drops the database with a synchronous `psql`, since Drop cannot await; connections
    /// still open (the pool, a leaked child process) are terminated by `WITH (FORCE)`.
    fn drop(&mut self) {
        let _ = std::process::Command::new(binaries().tool("psql"))
            .arg("-X")
            .arg("-q")
            .arg(shared_server().url("postgres"))
            .arg("-c")
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// `curl -sS ARGS` (the real client, as Odoo's documentation uses it), insisting on success;
/// its output read as JSON.
pub fn curl_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .arg("-sS")
        .args(args)
        .output()
        .expect("curl (dev/setup installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "curl {args:?}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
