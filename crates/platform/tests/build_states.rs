//! Build states on a real PostgreSQL: what the pipeline records never overwrites a kill.

use slipway_platform::builds::{BuildResult, BuildStore};
use slipway_platform::Metadata;
use slipway_testkit::TestDb;

/// A branch of a new project at `stage`; returns its id.
async fn branch(pool: &sqlx::PgPool, stage: &str) -> i64 {
    let (project,): (i64,) =
        sqlx::query_as("INSERT INTO projects (name, series) VALUES ('shop', '17.0') RETURNING id")
            .fetch_one(pool)
            .await
            .unwrap();
    let (branch,): (i64,) = sqlx::query_as(
        "INSERT INTO branches (project_id, name, stage) VALUES ($1, 'main', $2) RETURNING id",
    )
    .bind(project)
    .bind(stage)
    .fetch_one(pool)
    .await
    .unwrap();
    branch
}

#[tokio::test]
async fn a_build_killed_while_it_fails_or_starts_stays_killed() {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let builds = BuildStore::new(meta.pool().clone());
    let branch = branch(meta.pool(), "development").await;

    let failing = builds
        .enqueue(branch, "development", "aaa", "push")
        .await
        .unwrap();
    assert!(builds.begin(failing, "b1").await.unwrap());
    assert!(builds
        .kill_unfinished(failing, "branch deleted")
        .await
        .unwrap());
    // The kill cut the build's Odoo off, which then reports a failure.
    let recorded = builds
        .finish(failing, BuildResult::Failed, "install failed")
        .await
        .unwrap();
    assert!(!recorded);
    let build = builds.get(failing).await.unwrap();
    assert_eq!(build.result.as_deref(), Some("killed"));
    assert_eq!(build.message.as_deref(), Some("branch deleted"));

    let starting = builds
        .enqueue(branch, "development", "bbb", "push")
        .await
        .unwrap();
    assert!(builds.begin(starting, "b2").await.unwrap());
    assert!(builds
        .kill_unfinished(starting, "stopped by ana")
        .await
        .unwrap());
    let recorded = builds
        .set_running(starting, 8069, 4242, BuildResult::Success, "ready")
        .await
        .unwrap();
    assert!(!recorded, "a killed build does not come back as running");
    assert_eq!(builds.get(starting).await.unwrap().state, "done");

    // A running build whose server dies is still recorded as failed.
    let running = builds
        .enqueue(branch, "development", "ccc", "push")
        .await
        .unwrap();
    assert!(builds.begin(running, "b3").await.unwrap());
    assert!(builds
        .set_running(running, 8070, 4243, BuildResult::Success, "ready")
        .await
        .unwrap());
    assert!(builds
        .finish(
            running,
            BuildResult::Failed,
            "server could not be restarted"
        )
        .await
        .unwrap());
    assert_eq!(
        builds.get(running).await.unwrap().result.as_deref(),
        Some("failed")
    );
}

#[tokio::test]
async fn a_production_update_that_ends_after_a_kill_still_serves_production() {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let builds = BuildStore::new(meta.pool().clone());
    let branch = branch(meta.pool(), "production").await;
    let update = builds
        .enqueue(branch, "production", "aaa", "push")
        .await
        .unwrap();
    assert!(builds.begin(update, "p1").await.unwrap());
    builds.kill_unfinished(update, "stopped").await.unwrap();
    // Its server is production's now: the record follows what serves.
    assert!(builds
        .set_running(update, 8069, 4242, BuildResult::Success, "updated")
        .await
        .unwrap());
    assert_eq!(builds.get(update).await.unwrap().state, "running");
}
