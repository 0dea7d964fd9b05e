//! [`InProcess`]: this Slipway's own upgrade platform, called directly: a request is filed in
//! the store as `/database/v1` files one (under [`BRANCH_UPGRADES_CONTRACT`]), its dump put in
//! place, and its processing queued for the `upgrade.process` workers.

use std::path::Path;

use super::{Filed, Progress, UpgradeOrder};
use crate::error::{Error, Result};
use crate::files::sha256_of;
use crate::rules::{NewRequest, RequestState};
use crate::service::{Credentials, UpgradeService};
use crate::store::UpgradeRecord;

/// The contract requests of branches' Upgrade tabs are filed under, so that they are told
/// apart from those of `/database/v1` clients (`slipway upgrade contract list` shows it).
pub const BRANCH_UPGRADES_CONTRACT: &str = "slipway-branch-upgrades";

/// This Slipway's upgrade platform.
#[derive(Debug, Clone)]
pub struct InProcess {
    /// The service `/database/v1` calls too.
    pub service: UpgradeService,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl InProcess {
    pub(super) async fn submit(&self, order: &UpgradeOrder) -> Result<Filed> {
        let store = &self.service.store;
        store
            .add_contract(
                BRANCH_UPGRADES_CONTRACT,
                "upgrades started from branches' Upgrade tabs",
            )
            .await?;
        let filename = order
            .dump
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Invalid(format!("{} names no file", order.dump.display())))?;
        let new = NewRequest {
            contract: BRANCH_UPGRADES_CONTRACT.into(),
            email: order.email.clone(),
            target: order.target.clone(),
            aim: order.aim,
            filename: filename.clone(),
            timezone: None,
            custom_modules: order.custom_modules.clone(),
        };
        let (record, key) = store.create(&new).await?;
        let original = self.service.files.original(record.id, &filename);
        if let Some(parent) = original.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        tokio::fs::copy(&order.dump, &original)
            .await
            .map_err(io(format!("copying {}", order.dump.display())))?;
        let digested = original.clone();
        let (size, sha256) = tokio::task::spawn_blocking(move || sha256_of(&digested))
            .await
            .map_err(|e| Error::Failed(format!("reading the dump: {e}")))?
            .map_err(io(format!("reading {}", original.display())))?;
        store.set_upload(record.id, size as i64, &sha256).await?;
        let filed = Filed {
            id: record.id,
            key: key.clone(),
        };
        self.service
            .process(&Credentials { id: record.id, key })
            .await
            .map_err(|e| Error::Failed(format!("queueing upgrade request {}: {e}", record.id)))?;
        Ok(filed)
    }

    async fn record(&self, request: &Filed) -> Result<UpgradeRecord> {
        self.service
            .store
            .authenticate(request.id, &request.key)
            .await?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "upgrade request {} is not on this server (or its key is wrong)",
                    request.id
                ))
            })
    }

    pub(super) async fn progress(&self, request: &Filed) -> Result<Progress> {
        let record = self.record(request).await?;
        Ok(Progress {
            state: record.state,
            step: record.step,
            message: record.customer_message,
        })
    }

    pub(super) async fn fetch_upgraded(&self, request: &Filed, dest: &Path) -> Result<()> {
        let record = self.record(request).await?;
        if !matches!(record.state, RequestState::Done | RequestState::Delivered) {
            return Err(Error::Invalid(format!(
                "upgrade request {} has no upgraded dump ({})",
                record.id,
                record.state.as_str()
            )));
        }
        let upgraded = self.service.files.upgraded(record.id, &record.filename);
        tokio::fs::copy(&upgraded, dest)
            .await
            .map_err(io(format!("copying {}", upgraded.display())))?;
        Ok(())
    }

    pub(super) async fn fetch_log(&self, request: &Filed, dest: &Path) -> Result<()> {
        let record = self.record(request).await?;
        let log = self.service.files.log(record.id);
        match tokio::fs::copy(&log, dest).await {
            Ok(_) => Ok(()),
            // not started yet: its log is empty
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tokio::fs::write(dest, b"")
                .await
                .map_err(io(format!("writing {}", dest.display()))),
            Err(e) => Err(io(format!("copying {}", log.display()))(e)),
        }
    }

    pub(super) async fn cancel(&self, request: &Filed) -> Result<()> {
        let record = self.record(request).await?;
        if record.state.is_unfinished() {
            // Only a request not yet processing can be cancelled; one processing runs to its
            // end, and the branch's upgrade ignores its result.
            let cancellable = crate::rules::Action::Cancel.allowed_in();
            self.service
                .store
                .transition(record.id, cancellable, RequestState::Cancelled)
                .await?;
        }
        Ok(())
    }
}
