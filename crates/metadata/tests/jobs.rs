//! The job queue on a real PostgreSQL.

use std::time::Duration;

use serde_json::json;
use slipway_metadata::{JobKind, JobQueue, Metadata};
use slipway_testkit::TestDb;

async fn queue() -> (TestDb, JobQueue) {
    let db = TestDb::new().await;
    let meta = Metadata::open_url(db.url()).await.unwrap();
    let queue = JobQueue::new(meta.pool().clone());
    (db, queue)
}

#[tokio::test]
async fn two_workers_never_take_the_same_job() {
    let (_db, queue) = queue().await;
    let first = queue
        .enqueue(JobKind::BuildRun, &json!({"n": 1}))
        .await
        .unwrap();
    let second = queue
        .enqueue(JobKind::BuildRun, &json!({"n": 2}))
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        queue.claim("w1", &[JobKind::BuildRun]),
        queue.claim("w2", &[JobKind::BuildRun])
    );
    let mut ids = vec![a.unwrap().unwrap().id, b.unwrap().unwrap().id];
    ids.sort();
    assert_eq!(ids, vec![first, second]);
    assert!(queue
        .claim("w3", &[JobKind::BuildRun])
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn workers_only_take_the_kinds_they_handle() {
    let (_db, queue) = queue().await;
    queue
        .enqueue(JobKind::UpgradeProcess, &json!({}))
        .await
        .unwrap();
    assert!(queue
        .claim("w", &[JobKind::BuildRun])
        .await
        .unwrap()
        .is_none());
    let job = queue
        .claim("w", &[JobKind::UpgradeProcess])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.kind, JobKind::UpgradeProcess);
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn finished_jobs_keep_their_outcome() {
    let (_db, queue) = queue().await;
    let ok = queue.enqueue(JobKind::BuildRun, &json!({})).await.unwrap();
    let bad = queue.enqueue(JobKind::BuildRun, &json!({})).await.unwrap();
    queue.claim("w", &[JobKind::BuildRun]).await.unwrap();
    queue.claim("w", &[JobKind::BuildRun]).await.unwrap();
    queue.complete(ok).await.unwrap();
    queue.fail(bad, "odoo-bin exited with 1").await.unwrap();
    assert_eq!(queue.state(ok).await.unwrap().as_deref(), Some("done"));
    assert_eq!(queue.state(bad).await.unwrap().as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_again() {
    let (_db, queue) = queue().await;
    let id = queue.enqueue(JobKind::BuildRun, &json!({})).await.unwrap();
    queue
        .claim("crashed", &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        queue
            .requeue_abandoned(Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        queue
            .requeue_abandoned(Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );

    let again = queue
        .claim("w2", &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
}

#[tokio::test]
async fn a_job_whose_worker_process_died_is_taken_again_at_once() {
    let (_db, queue) = queue().await;
    let id = queue.enqueue(JobKind::BuildRun, &json!({})).await.unwrap();
    let liveness = queue.hold_liveness("serve-build-0").await.unwrap();
    assert!(liveness.worker().starts_with("serve-build-0~pg"));
    queue
        .claim(liveness.worker(), &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();
    let long = Duration::from_secs(3600);
    assert_eq!(queue.requeue_abandoned(long).await.unwrap(), 0, "alive");
    // what a crash does: the worker's session ends with its process
    liveness.release().await;
    let mut requeued = 0;
    for _ in 0..50 {
        requeued = queue.requeue_abandoned(long).await.unwrap();
        if requeued > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(requeued, 1, "taken back without waiting for the heartbeat");
    let again = queue
        .claim("w2", &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    // a worker without a liveness lock keeps the heartbeat's grace
    assert_eq!(queue.requeue_abandoned(long).await.unwrap(), 0);
}

#[tokio::test]
async fn a_kind_the_code_does_not_know_is_refused_by_name() {
    let (db, queue) = queue().await;
    // A newer Slipway queued a kind this one does not know: it is an error naming the value,
    // never taken for another kind; the queue's own work goes on.
    sqlx::query("INSERT INTO jobs (kind, payload) VALUES ('backup.weekly', '{}')")
        .execute(db.pool())
        .await
        .unwrap();
    let err = sqlx::query_scalar::<_, JobKind>("SELECT kind FROM jobs")
        .fetch_one(db.pool())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"backup.weekly\" as a job kind"),
        "{err}"
    );
    assert!(queue.claim("w", &JobKind::ALL).await.unwrap().is_none());
}

#[tokio::test]
async fn migrations_apply_twice_without_harm() {
    let db = TestDb::new().await;
    Metadata::open_url(db.url()).await.unwrap();
    let meta = Metadata::open_url(db.url()).await.unwrap();
    assert!(meta
        .server_version()
        .await
        .unwrap()
        .starts_with(char::is_numeric));
}

/// What the listener hears next (a hang guard, not a timing: a trigger that does not fire
/// would wait forever).
async fn next_kind(listener: &mut sqlx::postgres::PgListener) -> String {
    let heard = tokio::time::timeout(Duration::from_secs(30), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(heard.channel(), slipway_metadata::JOBS_CHANNEL);
    heard.payload().to_string()
}

#[tokio::test]
async fn queued_jobs_wake_listening_workers() {
    let (_db, queue) = queue().await;
    let mut listener = queue.listener().await.unwrap();

    let id = queue.enqueue(JobKind::BuildRun, &json!({})).await.unwrap();
    assert_eq!(next_kind(&mut listener).await, "build.run");

    // claimed, then put back by a shutdown: queued again, so workers are woken again
    queue
        .claim("w", &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();
    queue.release(id).await.unwrap();
    assert_eq!(next_kind(&mut listener).await, "build.run");

    // finishing a job is not news
    queue
        .claim("w", &[JobKind::BuildRun])
        .await
        .unwrap()
        .unwrap();
    queue.complete(id).await.unwrap();
    queue
        .enqueue(JobKind::UpgradeProcess, &json!({}))
        .await
        .unwrap();
    assert_eq!(next_kind(&mut listener).await, "upgrade.process");
}
