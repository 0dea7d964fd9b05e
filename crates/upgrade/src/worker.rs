//! The worker loop that takes `upgrade.process` jobs from the queue.

use tokio::sync::watch;
use tracing::Instrument;

use super::process::Processor;
use crate::error::{Error, Result};
use slipway_metadata::{Job, JobKind, JobQueue};

/// Takes and processes upgrade jobs until `shutdown` turns true (see [`slipway_metadata::run_worker`]).
pub async fn run_worker(
    queue: JobQueue,
    processor: Processor,
    name: String,
    shutdown: watch::Receiver<bool>,
) {
    slipway_metadata::run_worker(queue, JobKind::UpgradeProcess, name, shutdown, |job| {
        handle(processor.clone(), job)
    })
    .await
}

async fn handle(processor: Processor, job: Job) -> Result<()> {
    let Some(id) = job.payload["request"].as_i64() else {
        return Err(Error::NoRequestInPayload { job: job.id });
    };
    let span = tracing::info_span!("upgrade", request = id, job = job.id);
    async move {
        let state = processor.process(id).await?;
        tracing::info!(state = state.as_str(), "job done");
        Ok(())
    }
    .instrument(span)
    .await
}
