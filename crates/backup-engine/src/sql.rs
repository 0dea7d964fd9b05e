//! SQL against the Odoo databases (not the metadata database): what a backup records about a
//! database to check a restore against, and what an import turns off. Connections, renames
//! and drops are [`Target`]'s.

use std::collections::BTreeMap;

use slipway_dump::{quote_ident as ident, Target};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// The tables whose row counts a backup records and a verification compares (those present).
pub const MAIN_TABLES: &[&str] = &[
    "res_partner",
    "res_users",
    "res_company",
    "res_groups",
    "ir_attachment",
    "ir_module_module",
    "ir_model",
    "ir_model_fields",
    "ir_model_data",
    "ir_ui_view",
    "ir_ui_menu",
    "ir_config_parameter",
    "ir_cron",
    "mail_message",
    "product_template",
    "account_move",
    "account_move_line",
    "sale_order",
    "stock_move",
];

/// A pool to `db` as the role owning it (never the superuser: an Odoo database may hold
/// triggers); `NotFound` when there is no such database.
pub(crate) async fn as_owner(target: &Target, db: &str) -> Result<PgPool> {
    let owner = database_owner(target, db).await?;
    Ok(target.connect_as(db, &owner).await?)
}

/// The role owning `db`, or `NotFound` naming it.
pub(crate) async fn database_owner(target: &Target, db: &str) -> Result<String> {
    match target.database_owner(db).await {
        Err(slipway_dump::DumpError::NoDatabase(_)) => Err(Error::NotFound(format!(
            "database {db:?} does not exist on the server"
        ))),
        owner => Ok(owner?),
    }
}

/// What a backup records of a database: installed modules, base version, row counts of the
/// main tables, the server version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DatabaseFacts {
    pub modules: BTreeMap<String, String>,
    pub base_version: Option<String>,
    pub row_counts: BTreeMap<String, i64>,
    pub postgresql: Option<String>,
}

impl DatabaseFacts {
    pub(crate) fn series(&self) -> Option<String> {
        let base = self.base_version.as_deref()?;
        let mut parts = base.split('.');
        let (a, b) = (parts.next()?, parts.next()?);
        Some(format!("{a}.{b}"))
    }
}

/// Refuses a database holding what the connection's role (its owner) cannot read, which
/// `pg_dump` would stop at half-way: a table, view or sequence without `SELECT`, a schema
/// without `USAGE` (made by another role, such as a superuser by hand). The error names the
/// first few and says how to give them to the owner.
pub(crate) async fn check_readable(conn: &mut sqlx::PgConnection, database: &str) -> Result<()> {
    let unreadable: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT 'schema', quote_ident(n.nspname), pg_get_userbyid(n.nspowner)::text \
         FROM pg_namespace n \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_%' AND NOT has_schema_privilege(n.oid, 'USAGE') \
         UNION ALL \
         SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' \
                WHEN 'm' THEN 'materialized view' ELSE 'table' END, \
                quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                pg_get_userbyid(c.relowner)::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_%' AND NOT has_table_privilege(c.oid, 'SELECT') \
         ORDER BY 1, 2 LIMIT 5",
    )
    .fetch_all(&mut *conn)
    .await?;
    let Some((kind, name, _)) = unreadable.first() else {
        return Ok(());
    };
    let mut what: Vec<String> = unreadable
        .iter()
        .map(|(kind, name, owner)| format!("{kind} {name} (owned by {owner})"))
        .collect();
    if what.len() == 5 {
        what.push("...".into());
    }
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    let alter = match kind.as_str() {
        "schema" => "SCHEMA",
        "sequence" => "SEQUENCE",
        "view" => "VIEW",
        "materialized view" => "MATERIALIZED VIEW",
        _ => "TABLE",
    };
    Err(Error::Conflict(format!(
        "database {database:?} holds what its owner role {role} cannot read, so it cannot be \
         backed up: {}; nothing was written. As a superuser, give each to the owner \
         (`slipway pg psql {database} -- -c 'ALTER {alter} {name} OWNER TO {role}'`) or drop \
         it, then back up again",
        what.join(", ")
    )))
}

pub(crate) async fn facts(conn: &mut sqlx::PgConnection) -> Result<DatabaseFacts> {
    let mut facts = DatabaseFacts::default();
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY($1)",
    )
    .bind(MAIN_TABLES)
    .fetch_all(&mut *conn)
    .await?;
    for table in MAIN_TABLES
        .iter()
        .filter(|t| present.iter().any(|p| p == *t))
    {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", ident(table)))
            .fetch_one(&mut *conn)
            .await?;
        facts.row_counts.insert(table.to_string(), n);
    }
    if present.iter().any(|t| t == "ir_module_module") {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT name::text, latest_version::text FROM ir_module_module \
             WHERE state = 'installed' ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await?;
        facts.modules = rows
            .into_iter()
            .map(|(n, v)| (n, v.unwrap_or_default()))
            .collect();
        facts.base_version = facts.modules.get("base").cloned();
    }
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut *conn)
        .await?;
    facts.postgresql = version.split_whitespace().next().map(str::to_string);
    Ok(facts)
}

/// Turns off outgoing mail servers and scheduled actions, as Odoo.sh does on import.
pub(crate) async fn disable_mail_and_crons(pool: &PgPool) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for (table, what) in [
        ("ir_mail_server", "outgoing mail servers disabled"),
        ("fetchmail_server", "incoming mail servers disabled"),
        ("ir_cron", "scheduled actions disabled"),
    ] {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 AND column_name = 'active')",
        )
        .bind(table)
        .fetch_one(pool)
        .await?;
        if exists {
            let n = sqlx::query(&format!(
                "UPDATE {} SET active = false WHERE active",
                ident(table)
            ))
            .execute(pool)
            .await?
            .rows_affected();
            done.push(format!("{what} ({n})"));
        }
    }
    Ok(done)
}
