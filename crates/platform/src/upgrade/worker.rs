//! The worker loop that takes `upgrade.process` jobs from the queue.

use std::time::Duration;

use tokio::sync::watch;

use super::process::{Processor, HEARTBEAT_TIMEOUT};
use crate::jobs::{Job, JobQueue};

/// The job kind `process` queues.
pub const PROCESS_JOB: &str = "upgrade.process";

/// Takes and processes upgrade jobs until `shutdown` turns true. A job cut short by the
/// shutdown goes back to the queue at once, so the next start resumes it; a job whose worker
/// died is taken again once its heartbeat is older than [`HEARTBEAT_TIMEOUT`].
pub async fn run_worker(
    queue: JobQueue,
    processor: Processor,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        if let Err(e) = queue.requeue_abandoned(HEARTBEAT_TIMEOUT).await {
            tracing::warn!(worker = %name, "requeueing abandoned jobs: {e}");
        }
        let job = match queue.claim(&name, &[PROCESS_JOB]).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(worker = %name, "claiming a job: {e}");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        tokio::select! {
            _ = handle(&queue, &processor, &job) => {}
            _ = shutdown.changed() => {
                tracing::info!(job = job.id, "shutting down: job goes back to the queue");
                if let Err(e) = queue.release(job.id).await {
                    tracing::warn!(job = job.id, "releasing job: {e}");
                }
            }
        }
    }
}

/// Runs one job with heartbeats, then records its outcome.
async fn handle(queue: &JobQueue, processor: &Processor, job: &Job) {
    let Some(id) = job.payload["request"].as_i64() else {
        let _ = queue.fail(job.id, "payload has no request id").await;
        return;
    };
    let span = tracing::info_span!("upgrade", request = id, job = job.id);
    let _entered = span.enter();
    let beat = async {
        loop {
            tokio::time::sleep(HEARTBEAT_TIMEOUT / 4).await;
            let _ = queue.heartbeat(job.id).await;
        }
    };
    let outcome = tokio::select! {
        outcome = processor.process(id) => outcome,
        _ = beat => unreachable!("the heartbeat loop never ends"),
    };
    let recorded = match outcome {
        Ok(state) => {
            tracing::info!(state = state.as_str(), "job done");
            queue.complete(job.id).await
        }
        Err(e) => {
            tracing::error!("processing failed: {e}");
            queue.fail(job.id, &e.to_string()).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!("recording the job's outcome: {e}");
    }
}
