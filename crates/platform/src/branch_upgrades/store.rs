//! The `branch_upgrades` table (migration 0011): a branch's upgrades, each moved along its
//! states by compare-and-set, so a job resumed after a restart and a cancel never both win.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgPool;

use super::rules::{BranchUpgradeState, UpgradeKind};
use crate::error::{PlatformError, Result};
use slipway_upgrade::Filed;

/// A branch's upgrade as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BranchUpgrade {
    /// Id.
    pub id: i64,
    /// The branch.
    pub branch_id: i64,
    /// Test (staging) or production.
    pub kind: UpgradeKind,
    /// Where it is.
    pub state: BranchUpgradeState,
    /// The series of the database before.
    pub source_series: String,
    /// The series it goes to.
    pub target: String,
    /// Who asked.
    pub requested_by: String,
    /// The branch's own modules installed in the database, left for its code.
    pub custom_modules: Json<Vec<String>>,
    /// The backup it started from.
    pub backup: Option<String>,
    /// The request on the upgrade platform, once submitted.
    pub request: Option<Json<Filed>>,
    /// What it is doing now.
    pub step: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The upgraded database kept for upgrade mode.
    pub kept_database: Option<String>,
    /// When upgrade mode ends.
    pub mode_until: Option<DateTime<Utc>>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, branch_id, kind, state, source_series, target, requested_by, \
    custom_modules, backup, request, step, error, kept_database, mode_until, created_at, \
    updated_at, finished_at";

/// What a new upgrade is.
#[derive(Debug, Clone)]
pub struct NewBranchUpgrade {
    /// The branch.
    pub branch_id: i64,
    /// Test or production.
    pub kind: UpgradeKind,
    /// Its first state (`requested`, or `armed` for production).
    pub state: BranchUpgradeState,
    /// The series before.
    pub source_series: String,
    /// The target.
    pub target: String,
    /// Who asked.
    pub requested_by: String,
    /// The custom modules left for the branch's code.
    pub custom_modules: Vec<String>,
}

/// Branches' upgrades.
#[derive(Debug, Clone)]
pub struct BranchUpgrades {
    pool: PgPool,
}

fn ended(state: BranchUpgradeState) -> bool {
    !state.is_open()
}

impl BranchUpgrades {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records `new` and queues its `branch.upgrade` job (unless it is armed: the push that
    /// triggers it queues it), in one transaction. A branch with an open upgrade refuses
    /// another (Conflict).
    pub async fn insert(&self, new: &NewBranchUpgrade) -> Result<BranchUpgrade> {
        let mut tx = self.pool.begin().await?;
        let inserted: std::result::Result<BranchUpgrade, sqlx::Error> = sqlx::query_as(&format!(
            "INSERT INTO branch_upgrades (branch_id, kind, state, source_series, target, \
             requested_by, custom_modules) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(new.branch_id)
        .bind(new.kind)
        .bind(new.state)
        .bind(&new.source_series)
        .bind(&new.target)
        .bind(&new.requested_by)
        .bind(Json(&new.custom_modules))
        .fetch_one(&mut *tx)
        .await;
        let upgrade = match inserted {
            Ok(upgrade) => upgrade,
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("branch_upgrades_one_open") => {
                return Err(PlatformError::ConflictCode {
                    code: "upgrade_open",
                    message: "this branch already has an upgrade under way or in upgrade mode; \
                              cancel it first (DELETE, `slipway branch upgrade P B --cancel`)"
                        .into(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        if upgrade.state.is_working() {
            slipway_metadata::enqueue_with(
                &mut *tx,
                slipway_metadata::JobKind::BranchUpgrade,
                &serde_json::json!({ "upgrade": upgrade.id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(upgrade)
    }

    /// Upgrade `id`.
    pub async fn get(&self, id: i64) -> Result<BranchUpgrade> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM branch_upgrades WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("no branch upgrade #{id}")))
    }

    /// The branch's newest upgrade, if it ever had one.
    pub async fn latest_of_branch(&self, branch_id: i64) -> Result<Option<BranchUpgrade>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM branch_upgrades WHERE branch_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(branch_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The branch's open upgrade (under way, armed or in upgrade mode), if any.
    pub async fn open_of_branch(&self, branch_id: i64) -> Result<Option<BranchUpgrade>> {
        Ok(self
            .latest_of_branch(branch_id)
            .await?
            .filter(|u| u.state.is_open()))
    }

    /// Upgrades in upgrade mode.
    pub async fn in_upgrade_mode(&self) -> Result<Vec<BranchUpgrade>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM branch_upgrades WHERE state = $1 ORDER BY id"
        ))
        .bind(BranchUpgradeState::UpgradeMode)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves upgrade `id` from one of `from` to `to`; `None` when it was in another state
    /// (moved by someone else first). An end state stamps `finished_at`.
    pub async fn transition(
        &self,
        id: i64,
        from: &[BranchUpgradeState],
        to: BranchUpgradeState,
    ) -> Result<Option<BranchUpgrade>> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        Ok(sqlx::query_as(&format!(
            "UPDATE branch_upgrades SET state = $3, updated_at = now(), \
               step = CASE WHEN $4 THEN NULL ELSE step END, \
               finished_at = CASE WHEN $4 THEN now() ELSE finished_at END \
             WHERE id = $1 AND state = ANY($2) RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(&from)
        .bind(to)
        .bind(ended(to))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records what it is doing now.
    pub async fn set_step(&self, id: i64, step: &str) -> Result<()> {
        self.update(id, "step = $2", step).await
    }

    /// Records the backup it starts from.
    pub async fn set_backup(&self, id: i64, backup: &str) -> Result<()> {
        self.update(id, "backup = $2", backup).await
    }

    /// Records the request filed on the upgrade platform.
    pub async fn set_request(&self, id: i64, filed: &Filed) -> Result<()> {
        sqlx::query("UPDATE branch_upgrades SET request = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(Json(filed))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the kept upgraded database.
    pub async fn set_kept_database(&self, id: i64, database: &str) -> Result<()> {
        self.update(id, "kept_database = $2", database).await
    }

    /// Ends an open upgrade as `failed` with `error`; false when it had ended already.
    pub async fn fail(&self, id: i64, error: &str) -> Result<bool> {
        let open: Vec<&str> = BranchUpgradeState::OPEN
            .iter()
            .map(|s| s.as_str())
            .collect();
        let done = sqlx::query(
            "UPDATE branch_upgrades SET state = 'failed', error = $2, updated_at = now(), \
             finished_at = now() WHERE id = $1 AND state = ANY($3)",
        )
        .bind(id)
        .bind(error)
        .bind(&open)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Enters upgrade mode until `until`; `None` when it was no longer restoring.
    pub async fn enter_upgrade_mode(
        &self,
        id: i64,
        until: DateTime<Utc>,
    ) -> Result<Option<BranchUpgrade>> {
        Ok(sqlx::query_as(&format!(
            "UPDATE branch_upgrades SET state = 'upgrade_mode', mode_until = $2, step = NULL, \
             updated_at = now() WHERE id = $1 AND state = 'restoring' RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(until)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update(&self, id: i64, set: &str, value: &str) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE branch_upgrades SET {set}, updated_at = now() WHERE id = $1"
        ))
        .bind(id)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
