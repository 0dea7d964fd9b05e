//! Upgrade engines in the metadata database (`upgrade_engines`, migration 0010).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use slipway_odoo::Series;
use sqlx::PgPool;

use super::{OpenUpgradeSource, UpgradeEngine};
use crate::error::{Error, Result};

/// The engines' rows.
#[derive(Debug, Clone)]
pub struct EngineStore {
    pool: PgPool,
}

#[derive(sqlx::FromRow)]
struct Row {
    series: String,
    openupgrade_source: String,
    openupgrade_dir: String,
    scripts_version: Option<String>,
    framework_version: Option<String>,
    upgrade_util_dir: Option<String>,
    added_at: DateTime<Utc>,
}

impl TryFrom<Row> for UpgradeEngine {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        let unreadable =
            |what: &str| Error::Unreadable(format!("upgrade engine {}: {what}", row.series));
        let series: Series = row
            .series
            .parse()
            .map_err(|_| unreadable("not an Odoo series"))?;
        let openupgrade = match (
            row.openupgrade_source.as_str(),
            row.scripts_version.clone(),
            row.framework_version.clone(),
        ) {
            ("pypi", Some(scripts_version), Some(framework_version)) => OpenUpgradeSource::Pypi {
                scripts_version,
                framework_version,
            },
            ("folder", _, _) => OpenUpgradeSource::Folder,
            (other, _, _) => {
                return Err(unreadable(&format!("unknown OpenUpgrade source {other:?}")))
            }
        };
        Ok(UpgradeEngine {
            series,
            openupgrade,
            openupgrade_dir: PathBuf::from(row.openupgrade_dir),
            upgrade_util_dir: row.upgrade_util_dir.map(PathBuf::from),
            added_at: row.added_at,
        })
    }
}

const COLUMNS: &str = "series, openupgrade_source, openupgrade_dir, scripts_version, \
     framework_version, upgrade_util_dir, added_at";

impl EngineStore {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Stores the engine of its series, replacing an earlier one.
    pub async fn put(&self, engine: &UpgradeEngine) -> Result<UpgradeEngine> {
        let (scripts, framework) = match &engine.openupgrade {
            OpenUpgradeSource::Pypi {
                scripts_version,
                framework_version,
            } => (
                Some(scripts_version.as_str()),
                Some(framework_version.as_str()),
            ),
            OpenUpgradeSource::Folder => (None, None),
        };
        let row: Row = sqlx::query_as(&format!(
            "INSERT INTO upgrade_engines (series, openupgrade_source, openupgrade_dir, \
             scripts_version, framework_version, upgrade_util_dir) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (series) DO UPDATE SET openupgrade_source = EXCLUDED.openupgrade_source, \
             openupgrade_dir = EXCLUDED.openupgrade_dir, scripts_version = EXCLUDED.scripts_version, \
             framework_version = EXCLUDED.framework_version, \
             upgrade_util_dir = EXCLUDED.upgrade_util_dir, added_at = now() RETURNING {COLUMNS}"
        ))
        .bind(engine.series.to_string())
        .bind(engine.openupgrade.kind())
        .bind(engine.openupgrade_dir.display().to_string())
        .bind(scripts)
        .bind(framework)
        .bind(engine.upgrade_util_dir.as_ref().map(|d| d.display().to_string()))
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    /// Every engine, in release order.
    pub async fn list(&self) -> Result<Vec<UpgradeEngine>> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM upgrade_engines"))
            .fetch_all(&self.pool)
            .await?;
        let mut engines = rows
            .into_iter()
            .map(UpgradeEngine::try_from)
            .collect::<Result<Vec<_>>>()?;
        engines.sort_by(|a, b| a.series.cmp(&b.series));
        Ok(engines)
    }

    /// The engine of `series`, if any.
    pub async fn get(&self, series: &Series) -> Result<Option<UpgradeEngine>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM upgrade_engines WHERE series = $1"
        ))
        .bind(series.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(UpgradeEngine::try_from).transpose()
    }

    /// Removes the engine of `series`; false when there was none.
    pub async fn remove(&self, series: &Series) -> Result<bool> {
        let done = sqlx::query("DELETE FROM upgrade_engines WHERE series = $1")
            .bind(series.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
