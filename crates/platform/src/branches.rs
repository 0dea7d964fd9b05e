//! Branches of a project: their stage, head and settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgPool;

use crate::error::{PlatformError, Result};
use crate::stages::Stage;

/// A branch, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Branch {
    /// Id.
    pub id: i64,
    /// Its project's id.
    pub project_id: i64,
    /// Its project's name.
    pub project: String,
    /// Git branch name.
    pub name: String,
    /// Its stage.
    pub stage: Stage,
    /// Last pushed revision.
    pub head: Option<String>,
    /// Settings.
    pub settings: Json<BranchSettings>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Branch {
    /// The Odoo series the branch's builds run: its own when set, else its project's.
    pub fn series<'a>(&'a self, project_series: &'a str) -> &'a str {
        self.settings.series.as_deref().unwrap_or(project_series)
    }
}

/// The series a branch running `current` switches to when a dump whose Odoo version is
/// `dump` (`16.0`, `saas~17.1`, or a module version such as `16.0.1.3`) is imported into it:
/// `None` when they are the same series or the dump's version is unknown.
pub fn series_switch(current: &str, dump: Option<&str>) -> Option<String> {
    let dump = dump?;
    let series = dump
        .parse::<slipway_odoo::Series>()
        .ok()
        .or_else(|| slipway_odoo::Series::of_version(dump))?;
    match current.parse::<slipway_odoo::Series>() {
        Ok(current) if current == series => None,
        _ => Some(series.to_string()),
    }
}

/// Which modules a development build installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum InstallSet {
    /// The branch's own modules (Odoo.sh's default).
    Own,
    /// Every installable module found (tests off: a full install is too slow to test).
    All,
    /// These modules.
    List {
        /// Module names.
        modules: Vec<String>,
    },
}

/// What a staging branch does on a new commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagingBehaviour {
    /// Update the previous staging database (the default).
    UpdatePrevious,
    /// A fresh neutralized copy of production.
    NewBuild,
}

/// Per-branch settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BranchSettings {
    /// Modules to install in development builds.
    pub install: InstallSet,
    /// Run the test suite in development builds.
    pub tests: bool,
    /// Odoo `--test-tags`, when only some tests should run.
    pub test_tags: Option<String>,
    /// Staging behaviour upon new commit.
    pub staging_behaviour: StagingBehaviour,
    /// The Odoo series the branch runs when not its project's (`16.0`): set when a dump of
    /// another series is imported into it ([`series_switch`]). A settings update that leaves
    /// it out keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
}

impl Default for BranchSettings {
    fn default() -> Self {
        Self {
            install: InstallSet::Own,
            tests: true,
            test_tags: None,
            staging_behaviour: StagingBehaviour::UpdatePrevious,
            series: None,
        }
    }
}

const BRANCH_SELECT: &str =
    "SELECT b.id, b.project_id, p.name AS project, b.name, b.stage, b.head, \
    b.settings, b.created_at FROM branches b JOIN projects p ON p.id = b.project_id";

/// Branches in the metadata database.
#[derive(Debug, Clone)]
pub struct Branches {
    pool: PgPool,
}

impl Branches {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The live branches of a project, production first.
    pub async fn list(&self, project_id: i64) -> Result<Vec<Branch>> {
        let rows = sqlx::query_as(&format!(
            "{BRANCH_SELECT} WHERE b.project_id = $1 AND b.deleted_at IS NULL \
             ORDER BY CASE b.stage WHEN 'production' THEN 0 WHEN 'staging' THEN 1 ELSE 2 END, b.name"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// A live branch by name, or NotFound.
    pub async fn get(&self, project_id: i64, name: &str) -> Result<Branch> {
        sqlx::query_as(&format!(
            "{BRANCH_SELECT} WHERE b.project_id = $1 AND b.name = $2 AND b.deleted_at IS NULL"
        ))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("no branch named {name:?}")))
    }

    /// A branch by id (deleted ones included).
    pub async fn by_id(&self, id: i64) -> Result<Branch> {
        sqlx::query_as(&format!("{BRANCH_SELECT} WHERE b.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| PlatformError::NotFound(format!("no branch #{id}")))
    }

    /// The live branch named `name`, created in development when missing; `true` when created.
    pub async fn ensure(&self, project_id: i64, name: &str) -> Result<(Branch, bool)> {
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO branches (project_id, name, settings) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, name) WHERE deleted_at IS NULL DO NOTHING RETURNING id",
        )
        .bind(project_id)
        .bind(name)
        .bind(Json(BranchSettings::default()))
        .fetch_optional(&self.pool)
        .await?;
        let branch = self.get(project_id, name).await?;
        Ok((branch, inserted.is_some()))
    }

    /// Records the branch's new head.
    pub async fn set_head(&self, id: i64, head: &str) -> Result<()> {
        sqlx::query("UPDATE branches SET head = $2 WHERE id = $1")
            .bind(id)
            .bind(head)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the branch's settings.
    pub async fn set_settings(&self, id: i64, settings: &BranchSettings) -> Result<()> {
        sqlx::query("UPDATE branches SET settings = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(settings))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets the Odoo series the branch runs (see [`BranchSettings::series`]).
    pub async fn set_series(&self, id: i64, series: &str) -> Result<()> {
        sqlx::query(
            "UPDATE branches SET settings = jsonb_set(settings, '{series}', to_jsonb($2::text)) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(series)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves the branch to `stage` (the caller checked the move with
    /// [`crate::stages::check_move`]; the unique index still refuses a second production).
    pub async fn set_stage(&self, id: i64, stage: Stage) -> Result<()> {
        sqlx::query("UPDATE branches SET stage = $2 WHERE id = $1")
            .bind(id)
            .bind(stage)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                    PlatformError::Conflict("the project has a production branch already".into())
                }
                _ => e.into(),
            })?;
        Ok(())
    }

    /// Marks the branch deleted (its builds are stopped and dropped by the caller).
    pub async fn mark_deleted(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE branches SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the project has a production branch.
    pub async fn production(&self, project_id: i64) -> Result<Option<Branch>> {
        let row = sqlx::query_as(&format!(
            "{BRANCH_SELECT} WHERE b.project_id = $1 AND b.stage = 'production' AND b.deleted_at IS NULL"
        ))
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_odoo_sh_behaviour() {
        let s: BranchSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s.install, InstallSet::Own);
        assert!(s.tests);
        assert_eq!(s.staging_behaviour, StagingBehaviour::UpdatePrevious);
    }

    #[test]
    fn an_import_switches_the_series_only_when_the_dump_s_differs() {
        assert_eq!(series_switch("17.0", Some("17.0")), None);
        assert_eq!(series_switch("17.0", Some("17.0.1.3")), None);
        assert_eq!(series_switch("17.0", Some("16.0")), Some("16.0".into()));
        assert_eq!(series_switch("16.0", Some("17.0.1.0")), Some("17.0".into()));
        assert_eq!(
            series_switch("17.0", Some("saas~17.1")),
            Some("saas~17.1".into())
        );
        assert_eq!(series_switch("17.0", None), None);
        assert_eq!(series_switch("17.0", Some("not a version")), None);
    }

    #[test]
    fn a_branch_runs_its_own_series_else_its_project_s() {
        let mut s: BranchSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s.series, None);
        s.series = Some("16.0".into());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["series"], "16.0");
        let back: BranchSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back.series.as_deref(), Some("16.0"));
    }

    #[test]
    fn install_set_reads_as_the_api_writes_it() {
        let s: BranchSettings =
            serde_json::from_str(r#"{"install":{"mode":"list","modules":["sale"]},"tests":false}"#)
                .unwrap();
        assert_eq!(
            s.install,
            InstallSet::List {
                modules: vec!["sale".into()]
            }
        );
        assert!(!s.tests);
    }
}
