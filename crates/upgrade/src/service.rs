//! [`UpgradeService`]: the operations `/database/v1` and its SFTP endpoint call. Each checks the
//! caller's key and the request's state ([`rules`](crate::rules)), acts, and returns the
//! request as the answer shows it, or the documented failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use slipway_metadata::JobQueue;

use crate::engines::{ready_series, EngineCatalog};
use crate::error::{Error, Result};
use crate::files::{sha256_of, starts_with_zip_magic, UpgradeFiles};
use crate::rules::{check_state, validate_create, Action, CreateParams, Failure, RequestState};
use crate::store::{UpgradeRecord, UpgradeStore};

/// The upgrade platform as its edges (`/database/v1`, SFTP) see it.
#[derive(Debug, Clone)]
pub struct UpgradeService {
    /// Requests and contracts.
    pub store: UpgradeStore,
    /// Where the workers take `upgrade.process` jobs from.
    pub queue: JobQueue,
    /// The requests' files.
    pub files: UpgradeFiles,
    /// The upgrade engines; the series of the ready ones are the targets offered.
    pub engines: Arc<dyn EngineCatalog>,
    /// The region part of request URLs.
    pub region: String,
    /// The largest dump `upload` accepts.
    pub max_upload_bytes: u64,
}

/// Why a call did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The caller's mistake, or a race it lost, as the API's documented failures.
    #[error("{}", messages(.0))]
    Refused(Vec<Failure>),
    /// Something failed on our side.
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<Failure> for CallError {
    fn from(failure: Failure) -> Self {
        CallError::Refused(vec![failure])
    }
}

fn messages(failures: &[Failure]) -> String {
    let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
    messages.join("; ")
}

/// What a call of the upgrade API returns.
pub type CallResult<T> = std::result::Result<T, CallError>;

/// The `request` and `key` pair every call after `create` carries.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The request's id.
    pub id: i64,
    /// Its private key, as `create` gave it.
    pub key: String,
}

/// A request as the API's answers show it.
#[derive(Debug, Clone)]
pub struct RequestStatus {
    /// The request as stored.
    pub record: UpgradeRecord,
    /// How long processing should take (`estimated_time`), from past runs; only while it is
    /// unfinished and has a dump.
    pub estimated_seconds: Option<i64>,
}

/// A body received for a request, complete, in its `incoming/` folder.
#[derive(Debug, Clone)]
pub struct ReceivedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

impl UpgradeService {
    /// Validates the parameters of `create` and files the request in `draft`; returns it with
    /// its private key (shown only now).
    pub async fn create(&self, params: &CreateParams) -> CallResult<(RequestStatus, String)> {
        let contract = params.contract.as_deref().unwrap_or_default();
        let exists = self.store.contract_exists(contract).await?;
        let targets: Vec<String> = ready_series(&self.engines.engines().await?)
            .iter()
            .map(ToString::to_string)
            .collect();
        let new = validate_create(params, &targets, |_| exists).map_err(CallError::Refused)?;
        let (record, key) = self.store.create(&new).await?;
        tracing::info!(request = record.id, target = %record.target, "upgrade request created");
        Ok((self.status_of(record).await, key))
    }

    /// The request `who` names, if the key is right (`KEY:INVALID` otherwise, the same for
    /// an unknown request).
    pub async fn authenticate(&self, who: &Credentials) -> CallResult<UpgradeRecord> {
        self.store
            .authenticate(who.id, &who.key)
            .await?
            .ok_or_else(|| Failure::bad_key().into())
    }

    /// The request `who` names, if `action` is allowed in its state.
    pub async fn authorize(&self, who: &Credentials, action: Action) -> CallResult<UpgradeRecord> {
        let record = self.authenticate(who).await?;
        check_state(record.state, action)?;
        Ok(record)
    }

    /// `status`: the request as it is.
    pub async fn status(&self, who: &Credentials) -> CallResult<RequestStatus> {
        let record = self.authenticate(who).await?;
        Ok(self.status_of(record).await)
    }

    /// The request behind a URL `status` handed out (`/database/<region>/<id>/<key>/...`);
    /// `None` for another region, an unknown request or a wrong key alike.
    pub async fn request_at_url(
        &self,
        region: &str,
        id: i64,
        key: &str,
    ) -> Result<Option<UpgradeRecord>> {
        if region != self.region {
            return Ok(None);
        }
        self.store.authenticate(id, key).await
    }

    /// The request `id` as stored, for a session that logged in for it.
    pub async fn request(&self, id: i64) -> Result<Option<UpgradeRecord>> {
        self.store.get(id).await
    }

    /// `process`: moves a request with a dump from `draft` to `pending` and queues its
    /// processing, both in one transaction.
    pub async fn process(&self, who: &Credentials) -> CallResult<RequestStatus> {
        let record = self.authorize(who, Action::Process).await?;
        if record.upload_size.is_none() {
            return Err(Failure::new(
                "UPLOAD:MISSING",
                "No dump was uploaded: send it with upload or request_sftp_access first",
            )
            .into());
        }
        let queued = self
            .store
            .queue_processing(record.id)
            .await?
            .ok_or_else(changed_meanwhile)?;
        tracing::info!(request = record.id, "upgrade request queued");
        Ok(self.status_of(queued).await)
    }

    /// `skip_test`: the request is delivered without the test phase.
    pub async fn skip_test(&self, who: &Credentials) -> CallResult<RequestStatus> {
        let record = self.authorize(who, Action::SkipTest).await?;
        let updated = self.store.set_skip_test(record.id).await?;
        self.status_or_gone(updated).await
    }

    /// `cancel`: a request not yet processing is cancelled.
    pub async fn cancel(&self, who: &Credentials) -> CallResult<RequestStatus> {
        let record = self.authorize(who, Action::Cancel).await?;
        let cancelled = self
            .store
            .transition_returning(
                record.id,
                Action::Cancel.allowed_in(),
                RequestState::Cancelled,
            )
            .await?
            .ok_or_else(changed_meanwhile)?;
        Ok(self.status_of(cancelled).await)
    }

    /// `upload`: `received` becomes the request's dump, by rename, under the request's row
    /// lock and only while it is in `draft`. `received` is removed when it is not kept.
    pub async fn install_upload(
        &self,
        record: &UpgradeRecord,
        received: &ReceivedFile,
    ) -> CallResult<RequestStatus> {
        let target = self.files.original(record.id, &record.filename);
        let installed = self
            .store
            .install_upload(record.id, received.size as i64, &received.sha256, || {
                install_file(&received.path, &target)
            })
            .await;
        if !matches!(installed, Ok(true)) {
            let _ = tokio::fs::remove_file(&received.path).await;
        }
        if !installed? {
            return Err(Failure::new(
                "STATE:INVALID",
                "The request left the draft state during the upload; the dump was not kept",
            )
            .into());
        }
        tracing::info!(request = record.id, bytes = received.size, "dump uploaded");
        self.refreshed(record.id).await
    }

    /// `upload_modules`: `received`, a zip, becomes the request's custom modules.
    pub async fn install_modules(
        &self,
        record: &UpgradeRecord,
        received: &ReceivedFile,
    ) -> CallResult<RequestStatus> {
        if !starts_with_zip_magic(&received.path) {
            let _ = tokio::fs::remove_file(&received.path).await;
            return Err(Failure::new(
                "MODULES:INVALID",
                "The modules must come as a zip archive with one folder per module",
            )
            .into());
        }
        install_file(&received.path, &self.files.modules(record.id)).map_err(|source| {
            Error::Io {
                context: format!("installing modules of request {}", record.id),
                source,
            }
        })?;
        tracing::info!(
            request = record.id,
            bytes = received.size,
            "custom modules uploaded"
        );
        self.refreshed(record.id).await
    }

    /// `request_sftp_access`: stores the SSH keys the SFTP user logs in with. `ssh_keys` is
    /// what the edge read: the authorized_keys text, or why it is refused; it is reported
    /// only for a request that exists and allows SFTP access.
    pub async fn grant_sftp_access(
        &self,
        who: &Credentials,
        ssh_keys: std::result::Result<String, Failure>,
    ) -> CallResult<UpgradeRecord> {
        let record = self.authorize(who, Action::SftpAccess).await?;
        self.store.set_ssh_keys(record.id, &ssh_keys?).await?;
        Ok(record)
    }

    /// Records the dump written over SFTP at `path`: its size and digest, while the request
    /// is still in `draft`.
    pub async fn record_sftp_upload(&self, id: i64, path: PathBuf) -> CallResult<()> {
        let (size, sha256) = tokio::task::spawn_blocking(move || sha256_of(&path))
            .await
            .map_err(|e| Error::Io {
                context: "reading the uploaded dump".to_string(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| Error::Io {
                context: "reading the uploaded dump".to_string(),
                source,
            })?;
        if !self.store.set_upload(id, size as i64, &sha256).await? {
            return Err(Failure::new(
                "STATE:INVALID",
                "The request left the draft state during the upload; the dump was not recorded",
            )
            .into());
        }
        tracing::info!(request = id, bytes = size, "dump uploaded over SFTP");
        Ok(())
    }

    /// `record` with its estimate.
    pub async fn status_of(&self, record: UpgradeRecord) -> RequestStatus {
        let estimated_seconds = self.estimated_seconds(&record).await;
        RequestStatus {
            record,
            estimated_seconds,
        }
    }

    /// Seconds the processing of `record` should take at the rate of past runs; only looked
    /// up while the estimate still means something, since `status` is the API's hot path.
    async fn estimated_seconds(&self, record: &UpgradeRecord) -> Option<i64> {
        let size = record
            .upload_size
            .filter(|_| record.state.is_unfinished())?;
        let rate = match self.store.seconds_per_byte().await {
            Ok(rate) => rate?,
            Err(e) => {
                tracing::warn!(request = record.id, "estimating the processing time: {e}");
                return None;
            }
        };
        Some((rate * size as f64).ceil() as i64)
    }

    /// The request `id` as it is now in the database.
    async fn refreshed(&self, id: i64) -> CallResult<RequestStatus> {
        let record = self.store.get(id).await?;
        self.status_or_gone(record).await
    }

    async fn status_or_gone(&self, record: Option<UpgradeRecord>) -> CallResult<RequestStatus> {
        let record = record.ok_or_else(Failure::bad_key)?;
        Ok(self.status_of(record).await)
    }
}

fn changed_meanwhile() -> Failure {
    Failure::new(
        "STATE:INVALID",
        "The request changed state meanwhile; ask its status",
    )
}

/// Puts a received file in place, by rename (both are under the request's folder).
fn install_file(received: &Path, target: &Path) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(received, target)
}
