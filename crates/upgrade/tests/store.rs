//! The upgrade store on a real PostgreSQL: typed rows and the one-transaction `process`.

use slipway_metadata::{JobKind, Metadata};
use slipway_testkit::TestDb;
use slipway_upgrade::rules::{Aim, NewRequest, RequestState};
use slipway_upgrade::UpgradeStore;

async fn store() -> (TestDb, UpgradeStore, i64) {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let store = UpgradeStore::new(meta.pool().clone());
    store.add_contract("M123456-abcdef", "test").await.unwrap();
    let new = NewRequest {
        contract: "M123456-abcdef".into(),
        email: "john.doe@example.com".into(),
        target: "17.0".into(),
        aim: Aim::Production,
        filename: "db.dump".into(),
        timezone: None,
        custom_modules: vec!["shop_core".into()],
    };
    let (record, _key) = store.create(&new).await.unwrap();
    assert_eq!(
        (record.aim, record.state),
        (Aim::Production, RequestState::Draft)
    );
    assert_eq!(
        record.custom_modules.0,
        ["shop_core"],
        "kept for the engine"
    );
    (db, store, record.id)
}

async fn queued_jobs(db: &TestDb) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT payload FROM jobs WHERE kind = $1 ORDER BY id")
        .bind(JobKind::UpgradeProcess)
        .fetch_all(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn processing_moves_the_request_and_queues_its_job_together() {
    let (db, store, id) = store().await;
    let queued = store.queue_processing(id).await.unwrap().unwrap();
    assert_eq!(queued.state, RequestState::Pending);
    assert_eq!(queued_jobs(&db).await, [serde_json::json!({"request": id})]);

    // Already pending: neither moved nor queued again.
    assert!(store.queue_processing(id).await.unwrap().is_none());
    assert_eq!(queued_jobs(&db).await.len(), 1);
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_leaves_the_request_in_draft() {
    let (db, store, id) = store().await;
    sqlx::query("ALTER TABLE jobs ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        .execute(db.pool())
        .await
        .unwrap();
    assert!(store.queue_processing(id).await.is_err());
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.state, RequestState::Draft);
    assert!(queued_jobs(&db).await.is_empty());
}

#[tokio::test]
async fn a_state_the_code_does_not_know_is_refused_by_name() {
    let (db, store, id) = store().await;
    for statement in [
        "ALTER TABLE upgrade_requests DROP CONSTRAINT upgrade_requests_state_check",
        "UPDATE upgrade_requests SET state = 'lost'",
    ] {
        sqlx::query(statement).execute(db.pool()).await.unwrap();
    }
    let message = store.get(id).await.unwrap_err().to_string();
    assert!(message.contains("state"), "{message}");
    assert!(message.contains("lost"), "{message}");
}

#[tokio::test]
async fn a_finished_run_gives_the_rate_that_estimates_the_next() {
    let (db, store, id) = store().await;
    assert_eq!(store.seconds_per_byte().await.unwrap(), None, "no run yet");
    assert!(store.set_upload(id, 1_000_000, "00").await.unwrap());
    store.queue_processing(id).await.unwrap().unwrap();
    let processing = [RequestState::Pending];
    assert!(store
        .transition(id, &processing, RequestState::Progress)
        .await
        .unwrap());
    assert!(store
        .transition(id, &[RequestState::Progress], RequestState::Done)
        .await
        .unwrap());
    // A run of 20 s on a 1 MB dump.
    sqlx::query("UPDATE upgrade_requests SET processed_at = finished_at - interval '20 seconds'")
        .execute(db.pool())
        .await
        .unwrap();
    let rate = store.seconds_per_byte().await.unwrap().unwrap();
    assert!((rate - 20e-6).abs() < 1e-9, "{rate}");
}
