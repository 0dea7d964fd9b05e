//! Build states on a real PostgreSQL: what the pipeline records never overwrites a kill.

use slipway_platform::builds::{BuildResult, BuildState, BuildStore};
use slipway_platform::stages::Stage;
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
        .enqueue(branch, Stage::Development, "aaa", "push")
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
    assert_eq!(build.result, Some(BuildResult::Killed));
    assert_eq!(build.message.as_deref(), Some("branch deleted"));

    let starting = builds
        .enqueue(branch, Stage::Development, "bbb", "push")
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
    assert_eq!(builds.get(starting).await.unwrap().state, BuildState::Done);

    // A running build whose server dies is still recorded as failed.
    let running = builds
        .enqueue(branch, Stage::Development, "ccc", "push")
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
        builds.get(running).await.unwrap().result,
        Some(BuildResult::Failed)
    );
}

#[tokio::test]
async fn a_production_update_that_ends_after_a_kill_still_serves_production() {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let builds = BuildStore::new(meta.pool().clone());
    let branch = branch(meta.pool(), "production").await;
    let update = builds
        .enqueue(branch, Stage::Production, "aaa", "push")
        .await
        .unwrap();
    assert!(builds.begin(update, "p1").await.unwrap());
    builds.kill_unfinished(update, "stopped").await.unwrap();
    // Its server is production's now: the record follows what serves.
    assert!(builds
        .set_running(update, 8069, 4242, BuildResult::Success, "updated")
        .await
        .unwrap());
    assert_eq!(builds.get(update).await.unwrap().state, BuildState::Running);
}

#[tokio::test]
async fn stored_names_read_as_enums_and_an_unknown_one_is_a_clear_error() {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let (stage, state): (Stage, BuildState) =
        sqlx::query_as("SELECT 'staging'::text, 'running'::text")
            .fetch_one(meta.pool())
            .await
            .unwrap();
    assert_eq!((stage, state), (Stage::Staging, BuildState::Running));
    let unknown = sqlx::query_as::<_, (BuildState,)>("SELECT 'teleported'::text")
        .fetch_one(meta.pool())
        .await
        .unwrap_err();
    let message = unknown.to_string();
    assert!(
        message.contains("\"teleported\" as a build state"),
        "{message}"
    );
}
