//! Changes made to a restored database, always as its owner role:
//! neutralization and the "copy" identity reset.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::PgPool;

use crate::error::Result;
use crate::neutralize::{plan, Columns, Plan};

/// What neutralizing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NeutralizeReport {
    /// Steps run, as "[module] what".
    pub applied: Vec<String>,
    /// Steps skipped, as "[module] what: reason".
    pub skipped: Vec<String>,
}

impl From<&Plan> for NeutralizeReport {
    fn from(p: &Plan) -> Self {
        Self {
            applied: p
                .run
                .iter()
                .map(|s| format!("[{}] {}", s.module, s.what))
                .collect(),
            skipped: p
                .skipped
                .iter()
                .map(|s| format!("[{}] {}: {}", s.step.module, s.step.what, s.reason))
                .collect(),
        }
    }
}

/// Reads installed modules and columns and plans the neutralization.
pub(crate) async fn plan_for(pool: &PgPool) -> Result<Plan> {
    let installed: Vec<String> = sqlx::query_scalar(
        "SELECT name::text FROM ir_module_module WHERE state IN ('installed', 'to upgrade', 'to remove')",
    )
    .fetch_all(pool)
    .await?;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .fetch_all(pool)
    .await?;
    let installed: BTreeSet<String> = installed.into_iter().collect();
    let columns: Columns = columns.into_iter().collect();
    Ok(plan(&installed, &columns))
}

/// Runs the plan in one transaction: all steps or none.
pub(crate) async fn run_plan(pool: &PgPool, p: &Plan) -> Result<()> {
    let mut tx = pool.begin().await?;
    for step in &p.run {
        for sql in &step.sql {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Neutralizes the database behind `pool` (connected as its owner).
pub(crate) async fn neutralize(pool: &PgPool) -> Result<NeutralizeReport> {
    let p = plan_for(pool).await?;
    run_plan(pool, &p).await?;
    Ok(NeutralizeReport::from(&p))
}

/// What Odoo's `ir.config_parameter.init(force=True)` does to a restored
/// copy: a new identity, so the copy is not mistaken for the original.
pub(crate) async fn reset_identity(pool: &PgPool) -> Result<()> {
    let params = [
        ("database.secret", "gen_random_uuid()::text"),
        ("database.uuid", "gen_random_uuid()::text"),
        (
            "database.create_date",
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
        ),
        ("web.base.url", "'http://localhost:8069'"),
    ];
    let mut tx = pool.begin().await?;
    for (key, value) in params {
        let sql = format!(
            "INSERT INTO ir_config_parameter (key, value) VALUES ($1, {value}) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        );
        sqlx::query(&sql).bind(key).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Gives the copy `db` a new identity, as Odoo's duplicate does ([`reset_identity`]): a staging
/// copy must never pass for production (IAP accounts, licences and mail gateways key on
/// `database.uuid`).
pub async fn reset_database_identity(target: &crate::db::Target, db: &str) -> Result<()> {
    let pool = target.as_owner(db).await?;
    let reset = reset_identity(&pool).await;
    pool.close().await;
    reset
}

/// What `db neutralize` did or would do.
#[derive(Debug, Clone, Serialize)]
pub struct NeutralizeOutcome {
    /// The database.
    pub database: String,
    /// Whether anything was changed (`false` for a dry run).
    pub applied: bool,
    /// Steps run (or to run) and skipped.
    pub steps: NeutralizeReport,
    /// The SQL script (dry run only).
    pub sql: Option<String>,
}

/// Neutralizes database `db` as its owner role; with `dry_run`, only
/// returns the SQL it would run.
pub async fn neutralize_database(
    target: &crate::db::Target,
    db: &str,
    dry_run: bool,
) -> Result<NeutralizeOutcome> {
    let admin = target.admin().await?;
    let owner = crate::db::database_owner(&admin, db).await?;
    admin.close().await;
    let pool = crate::db::connect(&target.url_as(db, &owner)).await?;
    let p = plan_for(&pool).await?;
    if !dry_run {
        run_plan(&pool, &p).await?;
    }
    pool.close().await;
    Ok(NeutralizeOutcome {
        database: db.to_string(),
        applied: !dry_run,
        steps: NeutralizeReport::from(&p),
        sql: dry_run.then(|| p.script()),
    })
}
