//! Contracts and upgrade requests in the metadata database.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgPool;

use super::rules::{Aim, NewRequest, RequestState};
use crate::error::Result;
use slipway_metadata::JobKind;
use slipway_secrets::{generate_key, key_digest, key_matches};

/// An upgrade request as stored. `aim` and `state` are read into their enums: a value the code
/// does not know fails the read with the column and the value named.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UpgradeRecord {
    pub id: i64,
    pub contract: String,
    pub email: String,
    pub target: String,
    pub aim: Aim,
    pub filename: String,
    pub timezone: Option<String>,
    pub state: RequestState,
    pub skip_test: bool,
    pub customer_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub upload_size: Option<i64>,
    pub upload_sha256: Option<String>,
    pub ssh_keys: Option<String>,
    pub database_uuid: Option<String>,
    pub database_version: Option<String>,
    pub postgresql: Option<String>,
    pub compressions: Json<Vec<String>>,
    pub filestore: bool,
    /// What its processing is doing now (`17.0: odoo -u all`).
    pub step: Option<String>,
    /// Custom modules left at their old version for the branch's code (in-process requests).
    pub custom_modules: Json<Vec<String>>,
}

impl UpgradeRecord {
    /// Seconds the processing took, or has taken so far (`elapsed`); 0 before it started.
    pub fn elapsed_seconds(&self, now: DateTime<Utc>) -> i64 {
        match (self.processed_at, self.finished_at) {
            (Some(start), Some(end)) => (end - start).num_seconds(),
            (Some(start), None) => (now - start).num_seconds(),
            _ => 0,
        }
    }
}

/// A contract, and how many requests it filed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Contract {
    /// The code clients send as `contract`.
    pub code: String,
    /// A note for people (customer, project).
    pub note: String,
    /// How many requests it filed.
    pub requests: i64,
}

const COLUMNS: &str = "id, contract, email, target, aim, filename, timezone, state, skip_test, \
    customer_message, created_at, processed_at, finished_at, upload_size, upload_sha256, ssh_keys, \
    database_uuid, database_version, postgresql, compressions, filestore, step, custom_modules";

/// What inspecting the uploaded dump taught us, for `status`.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub database_uuid: Option<String>,
    pub database_version: Option<String>,
    pub postgresql: Option<String>,
    pub compressions: Vec<String>,
    pub filestore: bool,
}

/// Contracts and requests.
#[derive(Debug, Clone)]
pub struct UpgradeStore {
    pool: PgPool,
}

impl UpgradeStore {
    /// The store in the metadata database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Adds a contract (no-op when it exists).
    pub async fn add_contract(&self, code: &str, note: &str) -> Result<()> {
        sqlx::query("INSERT INTO contracts (code, note) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(code)
            .bind(note)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every contract with its note and how many requests it filed.
    pub async fn list_contracts(&self) -> Result<Vec<Contract>> {
        Ok(sqlx::query_as(
            "SELECT c.code, c.note, count(r.id) AS requests FROM contracts c \
             LEFT JOIN upgrade_requests r ON r.contract = c.code GROUP BY c.code ORDER BY c.code",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a contract that filed no request; returns whether it existed. A contract with
    /// requests stays, since their history refers to it.
    pub async fn remove_contract(&self, code: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM contracts c WHERE code = $1 \
             AND NOT EXISTS (SELECT 1 FROM upgrade_requests r WHERE r.contract = c.code)",
        )
        .bind(code)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The set of known contract codes (for validating `create`).
    pub async fn contract_exists(&self, code: &str) -> Result<bool> {
        let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM contracts WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Files a new request in `draft`; returns it with its private key (shown only now).
    pub async fn create(&self, new: &NewRequest) -> Result<(UpgradeRecord, String)> {
        let key = generate_key();
        let record = sqlx::query_as(&format!(
            "INSERT INTO upgrade_requests \
             (key_digest, contract, email, target, aim, filename, timezone, custom_modules) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        ))
        .bind(key_digest(&key))
        .bind(&new.contract)
        .bind(&new.email)
        .bind(&new.target)
        .bind(new.aim.as_str())
        .bind(&new.filename)
        .bind(&new.timezone)
        .bind(Json(&new.custom_modules))
        .fetch_one(&self.pool)
        .await?;
        Ok((record, key))
    }

    /// The request `id` if `key` is its key; `None` both for an unknown id and a wrong key.
    pub async fn authenticate(&self, id: i64, key: &str) -> Result<Option<UpgradeRecord>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT key_digest FROM upgrade_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        // Compare against a digest even for an unknown id, so both cases take the same time.
        let stored = row.map(|(d,)| d).unwrap_or_else(|| key_digest(""));
        if !key_matches(&stored, key) || key.is_empty() {
            return Ok(None);
        }
        self.get(id).await
    }

    /// The request `id`, for the worker (no key).
    pub async fn get(&self, id: i64) -> Result<Option<UpgradeRecord>> {
        let select = format!("SELECT {COLUMNS} FROM upgrade_requests WHERE id = $1");
        self.one_request(&select, id).await
    }

    /// The request `id` as `sql` (a statement on `$1`, the id, returning [`COLUMNS`]) reads or
    /// leaves it.
    async fn one_request(&self, sql: &str, id: i64) -> Result<Option<UpgradeRecord>> {
        Ok(sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Puts a received upload in place (`install`, a rename) and records its size and digest,
    /// both under the request's row lock and only while it is in `draft`: a concurrent
    /// `process` waits, so the worker never sees a dump other than the one recorded. Returns
    /// false (and installs nothing) when the request left `draft`.
    pub async fn install_upload(
        &self,
        id: i64,
        size: i64,
        sha256: &str,
        install: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let state: Option<(RequestState,)> =
            sqlx::query_as("SELECT state FROM upgrade_requests WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if state.map(|(s,)| s) != Some(RequestState::Draft) {
            return Ok(false);
        }
        install().map_err(|source| crate::error::Error::Io {
            context: format!("installing the upload of request {id}"),
            source,
        })?;
        sqlx::query(
            "UPDATE upgrade_requests SET upload_size = $2, upload_sha256 = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(size)
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records the uploaded dump's size and digest, only while in `draft`. Returns false when
    /// the request left `draft` meanwhile.
    pub async fn set_upload(&self, id: i64, size: i64, sha256: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE upgrade_requests SET upload_size = $2, upload_sha256 = $3 \
             WHERE id = $1 AND state = 'draft'",
        )
        .bind(id)
        .bind(size)
        .bind(sha256)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the authorized SSH keys of the request's SFTP user.
    pub async fn set_ssh_keys(&self, id: i64, keys: &str) -> Result<()> {
        sqlx::query("UPDATE upgrade_requests SET ssh_keys = $2 WHERE id = $1")
            .bind(id)
            .bind(keys)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves the request from one of `from` to `to`, atomically; false when it was in
    /// another state (someone else moved it first).
    pub async fn transition(
        &self,
        id: i64,
        from: &[RequestState],
        to: RequestState,
    ) -> Result<bool> {
        Ok(move_state(&self.pool, id, from, to).await?.is_some())
    }

    /// [`transition`](Self::transition), returning the request as it is after the move.
    pub(crate) async fn transition_returning(
        &self,
        id: i64,
        from: &[RequestState],
        to: RequestState,
    ) -> Result<Option<UpgradeRecord>> {
        move_state(&self.pool, id, from, to).await
    }

    /// Moves the request from `draft` to `pending` and queues its processing, in one
    /// transaction: either both happen or neither. Returns the request as queued, or `None`
    /// when it had left `draft` meanwhile.
    pub async fn queue_processing(&self, id: i64) -> Result<Option<UpgradeRecord>> {
        let mut tx = self.pool.begin().await?;
        let Some(queued) =
            move_state(&mut *tx, id, &[RequestState::Draft], RequestState::Pending).await?
        else {
            return Ok(None);
        };
        slipway_metadata::enqueue_with(
            &mut *tx,
            JobKind::UpgradeProcess,
            &serde_json::json!({"request": id}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Asks for delivery without the test phase; returns the request as it is then.
    pub async fn set_skip_test(&self, id: i64) -> Result<Option<UpgradeRecord>> {
        let update = format!(
            "UPDATE upgrade_requests SET skip_test = true WHERE id = $1 RETURNING {COLUMNS}"
        );
        self.one_request(&update, id).await
    }

    /// The message shown to the customer (why it failed, what to do).
    pub async fn set_customer_message(&self, id: i64, message: &str) -> Result<()> {
        sqlx::query("UPDATE upgrade_requests SET customer_message = $2 WHERE id = $1")
            .bind(id)
            .bind(message)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what the processing is doing now.
    pub async fn set_step(&self, id: i64, step: &str) -> Result<()> {
        sqlx::query("UPDATE upgrade_requests SET step = $2 WHERE id = $1")
            .bind(id)
            .bind(step)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what inspecting the dump found.
    pub async fn set_inspection(&self, id: i64, found: &Inspection) -> Result<()> {
        sqlx::query(
            "UPDATE upgrade_requests SET database_uuid = $2, database_version = $3, \
             postgresql = $4, compressions = $5, filestore = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(&found.database_uuid)
        .bind(&found.database_version)
        .bind(&found.postgresql)
        .bind(Json(&found.compressions))
        .bind(found.filestore)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Seconds per byte of past successful runs, to estimate a new one; `None` before the
    /// first success.
    pub async fn seconds_per_byte(&self) -> Result<Option<f64>> {
        // extract() gives numeric (PostgreSQL 14+), which sqlx does not decode as f64.
        let (rate,): (Option<f64>,) = sqlx::query_as(
            "SELECT (sum(extract(epoch FROM finished_at - processed_at)) / nullif(sum(upload_size), 0))::float8 \
             FROM (SELECT * FROM upgrade_requests WHERE state IN ('done', 'delivered') \
                   AND processed_at IS NOT NULL AND upload_size > 0 \
                   ORDER BY finished_at DESC LIMIT 20) recent",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(rate)
    }
}

/// The compare-and-set behind every state move, through `executor` (the pool, or a
/// transaction that does more with it). Stamps `processed_at` on entering `progress` and
/// `finished_at` on reaching an end.
async fn move_state<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: i64,
    from: &[RequestState],
    to: RequestState,
) -> Result<Option<UpgradeRecord>> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    Ok(sqlx::query_as(&format!(
        "UPDATE upgrade_requests SET state = $3, \
           processed_at = CASE WHEN $3 = 'progress' THEN now() ELSE processed_at END, \
           finished_at = CASE WHEN $3 IN ('done', 'failed', 'delivered', 'cancelled') \
                              THEN now() ELSE finished_at END \
         WHERE id = $1 AND state = ANY($2) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&from)
    .bind(to.as_str())
    .fetch_optional(executor)
    .await?)
}
