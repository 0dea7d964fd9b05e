//! The template-database cache (click-odoo-initdb's idea): a development build whose
//! (Odoo series and revision, module set with its files' contents, demo flag) hash is cached
//! gets its database by `CREATE DATABASE ... TEMPLATE`, not by an install.
//!
//! Which entries to trim is a pure decision ([`to_trim`]); the store keeps the entries.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::BuildResult;
use crate::error::Result;

/// Template database names start with this, so they are never mistaken for builds.
pub const TEMPLATE_PREFIX: &str = "slipway_tpl_";

/// A cached template.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Template {
    /// The hash it stands for.
    pub key: String,
    /// Its database (and filestore) name.
    pub database: String,
    /// The build whose install made it.
    pub build_id: Option<i64>,
    /// That install's result (`success` or `warning`: a failed install is never cached).
    pub result: BuildResult,
    /// Last time a build used it.
    pub last_used_at: DateTime<Utc>,
}

/// The database name of the template for `key`.
pub fn template_database(key: &str) -> String {
    format!("{TEMPLATE_PREFIX}{}", &key[..key.len().min(32)])
}

/// Which templates to drop (pure): those unused for longer than `max_age`, then the least
/// recently used beyond `max_count`.
pub fn to_trim(
    templates: &[Template],
    now: DateTime<Utc>,
    max_age: Duration,
    max_count: usize,
) -> Vec<String> {
    let mut sorted: Vec<&Template> = templates.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.last_used_at));
    sorted
        .iter()
        .enumerate()
        .filter(|(rank, t)| *rank >= max_count || now - t.last_used_at > max_age)
        .map(|(_, t)| t.key.clone())
        .collect()
}

/// The cache's entries in the metadata database.
#[derive(Debug, Clone)]
pub struct TemplateStore {
    pool: PgPool,
}

impl TemplateStore {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The template for `key`, marked used, if cached.
    pub async fn take(&self, key: &str) -> Result<Option<Template>> {
        let row = sqlx::query_as(
            "UPDATE template_cache SET last_used_at = now(), uses = uses + 1 WHERE key = $1 \
             RETURNING key, database, build_id, result, last_used_at",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Records a new template.
    pub async fn insert(
        &self,
        key: &str,
        database: &str,
        build_id: i64,
        result: BuildResult,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO template_cache (key, database, build_id, result) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(database)
        .bind(build_id)
        .bind(result)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every entry.
    pub async fn list(&self) -> Result<Vec<Template>> {
        let rows = sqlx::query_as(
            "SELECT key, database, build_id, result, last_used_at FROM template_cache ORDER BY last_used_at DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Forgets an entry (its database is dropped by the caller).
    pub async fn remove(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM template_cache WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(key: &str, days_ago: i64, now: DateTime<Utc>) -> Template {
        Template {
            key: key.into(),
            database: template_database(key),
            build_id: None,
            result: BuildResult::Success,
            last_used_at: now - Duration::days(days_ago),
        }
    }

    #[test]
    fn old_and_surplus_templates_are_trimmed() {
        let now = Utc::now();
        let all = vec![
            template("a", 0, now),
            template("b", 1, now),
            template("c", 2, now),
            template("d", 30, now),
        ];
        assert_eq!(to_trim(&all, now, Duration::days(14), 10), vec!["d"]);
        assert_eq!(to_trim(&all, now, Duration::days(14), 2), vec!["c", "d"]);
        assert!(to_trim(&all[..1], now, Duration::days(14), 1).is_empty());
    }

    #[test]
    fn template_names_are_prefixed_and_bounded() {
        let name = template_database(&"f".repeat(64));
        assert!(name.starts_with(TEMPLATE_PREFIX));
        assert!(name.len() <= 63);
    }
}
