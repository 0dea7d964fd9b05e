//! Shared helpers of the dump integration tests: a [`Target`] on the
//! shared test cluster with a temporary data directory, and databases that
//! are dropped at the end of the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use slipway_dump::Target;
use sqlx::PgPool;

pub fn fixture(name: &str) -> PathBuf {
    slipway_testkit::odoo_dumps_dir().join(name)
}

pub struct World {
    pub target: Target,
    pub data: tempfile::TempDir,
    names: Vec<String>,
}

impl World {
    pub fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        let target = Target::new(
            slipway_testkit::shared_server().clone(),
            slipway_testkit::binaries(),
            data.path(),
        )
        .unwrap();
        Self {
            target,
            data,
            names: Vec::new(),
        }
    }

    /// A database name nobody uses yet, dropped when the world goes.
    pub fn name(&mut self, prefix: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("{prefix}_{}_{n}_{nanos:08x}", std::process::id());
        self.names.push(name.clone());
        name
    }

    pub async fn admin(&self, db: &str) -> PgPool {
        PgPool::connect(&self.target.server.url(db)).await.unwrap()
    }

    pub async fn exists(&self, db: &str) -> bool {
        let pool = self.admin("postgres").await;
        let row = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        row.is_some()
    }

    pub async fn modules(&self, db: &str) -> Vec<(String, String)> {
        let pool = self.admin(db).await;
        let rows = sqlx::query_as(
            "SELECT name::text, latest_version::text FROM ir_module_module WHERE state = 'installed' ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    }

    pub async fn param(&self, db: &str, key: &str) -> Option<String> {
        let pool = self.admin(db).await;
        let v = sqlx::query_scalar("SELECT value FROM ir_config_parameter WHERE key = $1")
            .bind(key)
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        v
    }

    pub async fn scalar_i64(&self, db: &str, sql: &str) -> i64 {
        let pool = self.admin(db).await;
        let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    }

    pub fn filestore(&self, db: &str) -> PathBuf {
        self.target.filestore(db)
    }
}

impl Drop for World {
    /// Drops the test's databases through `Target::drop_database`, which drops their roles
    /// too (on a runtime of its own: drop may run inside the test's).
    fn drop(&mut self) {
        let (target, names) = (self.target.clone(), std::mem::take(&mut self.names));
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                for name in &names {
                    let _ = target.drop_database(name).await;
                }
            });
        })
        .join();
    }
}

/// The role owning database `db`.
pub async fn owner_of(w: &World, db: &str) -> String {
    w.target.database_owner(db).await.unwrap()
}

/// The bytes of a file, to check a source was not modified.
pub fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}
