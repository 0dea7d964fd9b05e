//! History: every push (commits, authors) and platform event of a branch, in the `events`
//! table with subject `branch:<id>`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::Result;

/// One line of a branch's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    /// Id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What: `push`, `branch.created`, `stage`, `build.failed`...
    pub kind: String,
    /// Details: the message, the commits of a push, the build...
    pub detail: Value,
}

/// The history store.
#[derive(Debug, Clone)]
pub struct History {
    pool: PgPool,
}

fn subject(branch_id: i64) -> String {
    format!("branch:{branch_id}")
}

impl History {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records an event on a branch. `detail` should hold a human `message`.
    pub async fn record(&self, branch_id: i64, kind: &str, detail: Value) -> Result<()> {
        sqlx::query("INSERT INTO events (kind, subject, detail) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(subject(branch_id))
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A branch's history, newest first.
    pub async fn list(&self, branch_id: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query_as(
            "SELECT id, at, kind, detail FROM events WHERE subject = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(subject(branch_id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
