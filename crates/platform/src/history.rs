//! History: every push (commits, authors) and platform event of a branch, in the `events`
//! table with subject `branch:<id>`.
//!
//! An event is a [`HistoryEvent`]: its variant is the `kind` column (`push`, `stage`,
//! `build.failed`...) and its fields the `detail` column, each with a human `message`. The
//! web UI's History view and `slipway branch history` read both as `{"kind", "detail"}`, so a
//! variant's name and fields are the stored and answered JSON: renaming one is a migration.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use crate::builds::BuildResult;
use crate::error::{PlatformError, Result};
use crate::stages::Stage;

/// One line of a branch's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened: `"kind"` and `"detail"` in the JSON.
    #[serde(flatten)]
    pub event: HistoryEvent,
}

/// What happened on a branch. Every variant carries the sentence the History shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail")]
pub enum HistoryEvent {
    /// Commits were pushed (or written by the editor, a merge, a fork).
    #[serde(rename = "push")]
    Push {
        /// Sentence.
        message: String,
        /// Who pushed.
        pusher: String,
        /// The branch's head before (none for a new branch).
        old: Option<String>,
        /// Its head now.
        new: String,
        /// The commits pushed, newest first (at most 50).
        commits: Vec<PushedCommit>,
    },
    /// A push created the branch, in development.
    #[serde(rename = "branch.created")]
    BranchCreated {
        /// Sentence.
        message: String,
    },
    /// The branch was deleted (its builds stopped, their databases dropped).
    #[serde(rename = "branch.deleted")]
    BranchDeleted {
        /// Sentence.
        message: String,
    },
    /// Another branch's code was merged into this one.
    #[serde(rename = "merge")]
    Merge {
        /// Sentence.
        message: String,
        /// The branch merged in.
        source: String,
        /// The merge commit.
        sha: String,
    },
    /// The branch moved to another stage.
    #[serde(rename = "stage")]
    StageMoved {
        /// Sentence.
        message: String,
        /// Its stage before.
        from: Stage,
        /// Its stage now.
        to: Stage,
    },
    /// Someone asked for a new build of the branch's head.
    #[serde(rename = "rebuild")]
    Rebuild {
        /// Sentence.
        message: String,
        /// The build queued.
        build: i64,
    },
    /// An admin gave the branch a custom domain.
    #[serde(rename = "domain.added")]
    DomainAdded {
        /// Sentence.
        message: String,
        /// The host name.
        host: String,
    },
    /// An admin took a custom domain from the branch.
    #[serde(rename = "domain.removed")]
    DomainRemoved {
        /// Sentence.
        message: String,
        /// The host name.
        host: String,
    },
    /// A build is running, with its result.
    #[serde(rename = "build.ready")]
    BuildReady {
        /// Sentence: the build's summary.
        message: String,
        /// The build.
        build: i64,
        /// How it went.
        result: BuildResult,
    },
    /// A build failed; the message says why.
    #[serde(rename = "build.failed")]
    BuildFailed {
        /// Why.
        message: String,
        /// The build.
        build: i64,
    },
    /// A development build's database was dropped: at the end of its lifetime, or its branch
    /// became production.
    #[serde(rename = "build.dropped")]
    BuildDropped {
        /// Sentence.
        message: String,
        /// The build.
        build: i64,
    },
    /// Production was updated in place to a new revision.
    #[serde(rename = "production.updated")]
    ProductionUpdated {
        /// Sentence: what was updated, how long production was unavailable.
        message: String,
        /// The build.
        build: i64,
        /// The modules updated.
        modules: Vec<String>,
        /// How long production did not answer, in milliseconds.
        unavailable_ms: u64,
    },
    /// A failed production update was rolled back to the snapshot taken before it.
    #[serde(rename = "production.rolled_back")]
    ProductionRolledBack {
        /// Sentence: why, and whether the rollback is complete.
        message: String,
        /// The build whose update failed.
        build: i64,
        /// How long the rollback took, in milliseconds.
        rollback_ms: u64,
        /// Whether everything was put back.
        complete: bool,
    },
    /// An update interrupted by a stop of Slipway was rolled back when the build resumed.
    #[serde(rename = "production.recovered")]
    ProductionRecovered {
        /// Sentence.
        message: String,
        /// The build updating again.
        build: i64,
    },
    /// A backup of the branch's database was taken (by hand, or before an update).
    #[serde(rename = "backup")]
    BackupTaken {
        /// Sentence.
        message: String,
        /// The backup's id.
        backup: String,
        /// The build whose update it precedes (none for a manual backup).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build: Option<i64>,
    },
    /// The branch's database was restored: from a backup, or as it was at a moment.
    #[serde(rename = "backup.restored")]
    BackupRestored {
        /// Sentence.
        message: String,
        /// The backup restored (none for a point-in-time recovery).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup: Option<String>,
        /// The moment restored, RFC 3339 (a point-in-time recovery only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// The backup of what was replaced, if one was taken.
        safety_backup: Option<String>,
    },
    /// A dump was imported into the branch's database.
    #[serde(rename = "backup.imported")]
    BackupImported {
        /// Sentence.
        message: String,
        /// The dump's format (`zip`, `sql`...).
        format: String,
        /// The Odoo version the dump says it is of.
        odoo_version: Option<String>,
        /// The backup of what was replaced, if one was taken.
        safety_backup: Option<String>,
        /// What the import switched off (crons, mail servers) in the imported copy.
        disabled: Vec<String>,
    },
    /// An import of another series' dump switched the branch's Odoo series.
    #[serde(rename = "series.switched")]
    SeriesSwitched {
        /// Sentence.
        message: String,
        /// The series before.
        from: String,
        /// The series now.
        to: String,
    },
    /// Someone opened an SSH session (shell, command, scp or sftp) in one of the branch's builds.
    #[serde(rename = "ssh.opened")]
    SshOpened {
        /// Sentence: who, where, what.
        message: String,
        /// Who logged in.
        login: String,
        /// The build.
        build: i64,
    },
    /// A project admin was shown production's Odoo administrator password.
    #[serde(rename = "admin_password.shown")]
    AdminPasswordShown {
        /// Sentence: who.
        message: String,
        /// Who saw it.
        login: String,
    },
    /// Someone asked for an upgrade of the branch (the Upgrade tab).
    #[serde(rename = "upgrade.requested")]
    UpgradeRequested {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
        /// The series it goes to.
        target: String,
    },
    /// The upgrade's database went to the upgrade platform.
    #[serde(rename = "upgrade.started")]
    UpgradeStarted {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
        /// The backup of production it started from.
        backup: String,
    },
    /// The upgrade platform upgraded the database.
    #[serde(rename = "upgrade.database_upgraded")]
    UpgradeDatabaseUpgraded {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
    },
    /// The upgraded database is in the branch (and upgrade mode began, when `mode_until`).
    #[serde(rename = "upgrade.brought_back")]
    UpgradeBroughtBack {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
        /// Until when upgrade mode lasts, RFC 3339 (none: no custom module, no mode).
        mode_until: Option<String>,
    },
    /// Upgrade mode ended (after 30 days, or on demand); its kept database dropped.
    #[serde(rename = "upgrade.mode_closed")]
    UpgradeModeClosed {
        /// Sentence: why.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
    },
    /// An upgrade failed; the message says why.
    #[serde(rename = "upgrade.failed")]
    UpgradeFailed {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
    },
    /// A production upgrade succeeded: production serves its upgraded database on the target.
    #[serde(rename = "production.upgraded")]
    ProductionUpgraded {
        /// Sentence: from and to which series, how long production was unavailable.
        message: String,
        /// The build that runs it.
        build: i64,
        /// The branch upgrade.
        upgrade: i64,
    },
    /// A production upgrade failed and everything was put back (database, revision, series).
    #[serde(rename = "production.upgrade_reverted")]
    ProductionUpgradeReverted {
        /// Sentence: why, and whether the revert is complete.
        message: String,
        /// The build whose upgrade failed.
        build: i64,
        /// The branch upgrade.
        upgrade: i64,
        /// Whether everything was put back.
        complete: bool,
    },
    /// Someone cancelled an upgrade under way.
    #[serde(rename = "upgrade.cancelled")]
    UpgradeCancelled {
        /// Sentence.
        message: String,
        /// The branch upgrade.
        upgrade: i64,
    },
    /// An SSH session in one of the branch's builds ended.
    #[serde(rename = "ssh.closed")]
    SshClosed {
        /// Sentence: who, where, how it ended.
        message: String,
        /// Who had logged in.
        login: String,
        /// The build.
        build: i64,
    },
}

/// A commit of a push, as History shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedCommit {
    /// Full commit id.
    pub sha: String,
    /// Author name.
    pub author: String,
    /// Author e-mail.
    pub email: String,
    /// Author date, RFC 3339.
    pub date: String,
    /// First line of the message.
    pub summary: String,
}

impl From<&slipway_git::CommitInfo> for PushedCommit {
    fn from(c: &slipway_git::CommitInfo) -> Self {
        Self {
            sha: c.sha.clone(),
            author: c.author_name.clone(),
            email: c.author_email.clone(),
            date: c.date.clone(),
            summary: c.summary.clone(),
        }
    }
}

/// An event as the `events` table holds it: the same JSON as [`HistoryEvent`]'s, split in
/// two columns.
#[derive(Serialize, Deserialize)]
struct Stored {
    kind: String,
    detail: Value,
}

impl HistoryEvent {
    /// The event's kind as stored and answered (`push`, `build.failed`...): serde's tag is
    /// the one place that names it.
    pub fn kind(&self) -> String {
        self.stored().map(|stored| stored.kind).unwrap_or_default()
    }

    /// The sentence the History shows.
    pub fn message(&self) -> &str {
        use HistoryEvent::*;
        match self {
            Push { message, .. }
            | BranchCreated { message }
            | BranchDeleted { message }
            | Merge { message, .. }
            | StageMoved { message, .. }
            | DomainAdded { message, .. }
            | DomainRemoved { message, .. }
            | Rebuild { message, .. }
            | BuildReady { message, .. }
            | BuildFailed { message, .. }
            | BuildDropped { message, .. }
            | ProductionUpdated { message, .. }
            | ProductionRolledBack { message, .. }
            | ProductionRecovered { message, .. }
            | BackupTaken { message, .. }
            | BackupRestored { message, .. }
            | BackupImported { message, .. }
            | SeriesSwitched { message, .. }
            | SshOpened { message, .. }
            | SshClosed { message, .. }
            | AdminPasswordShown { message, .. }
            | UpgradeRequested { message, .. }
            | UpgradeStarted { message, .. }
            | UpgradeDatabaseUpgraded { message, .. }
            | UpgradeBroughtBack { message, .. }
            | UpgradeModeClosed { message, .. }
            | UpgradeFailed { message, .. }
            | ProductionUpgraded { message, .. }
            | ProductionUpgradeReverted { message, .. }
            | UpgradeCancelled { message, .. } => message,
        }
    }

    fn stored(&self) -> Result<Stored> {
        let json = serde_json::to_value(self).map_err(PlatformError::Event)?;
        serde_json::from_value(json).map_err(PlatformError::Event)
    }

    /// The event stored as `kind` and `detail`; a kind this version does not know, or a
    /// detail that does not fit it, is an error naming the event.
    fn from_stored(id: i64, stored: Stored) -> Result<Self> {
        let kind = stored.kind.clone();
        let json = serde_json::to_value(stored).map_err(PlatformError::Event)?;
        serde_json::from_value(json).map_err(|e| {
            PlatformError::Unreadable(format!(
                "History event #{id} ({kind}) is not one this version of Slipway can read: {e}"
            ))
        })
    }
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

    /// Records an event on a branch.
    pub async fn record(&self, branch_id: i64, event: HistoryEvent) -> Result<()> {
        let Stored { kind, detail } = event.stored()?;
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
        let rows: Vec<(i64, DateTime<Utc>, String, Value)> = sqlx::query_as(
            "SELECT id, at, kind, detail FROM events WHERE subject = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(subject(branch_id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, at, kind, detail)| {
                let event = HistoryEvent::from_stored(id, Stored { kind, detail })?;
                Ok(Event { id, at, event })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored_json(event: &HistoryEvent) -> Value {
        let Stored { kind, detail } = event.stored().unwrap();
        json!({"kind": kind, "detail": detail})
    }

    #[test]
    fn a_stage_move_is_stored_as_the_history_view_reads_it() {
        let event = HistoryEvent::StageMoved {
            message: "moved from development to staging by ana".into(),
            from: Stage::Development,
            to: Stage::Staging,
        };
        assert_eq!(
            stored_json(&event),
            json!({"kind": "stage", "detail": {"message": "moved from development to staging by ana",
                "from": "development", "to": "staging"}})
        );
    }

    #[test]
    fn a_manual_backup_has_no_build_and_one_before_an_update_has_one() {
        let manual = HistoryEvent::BackupTaken {
            message: "manual backup b1 by ana".into(),
            backup: "b1".into(),
            build: None,
        };
        assert_eq!(
            stored_json(&manual)["detail"],
            json!({"backup": "b1", "message": "manual backup b1 by ana"})
        );
        let before_update = HistoryEvent::BackupTaken {
            message: "backup b2 taken before the update".into(),
            backup: "b2".into(),
            build: Some(7),
        };
        assert_eq!(stored_json(&before_update)["detail"]["build"], 7);
    }

    #[test]
    fn a_point_in_time_recovery_names_its_moment_and_keeps_a_null_safety_backup() {
        let event = HistoryEvent::BackupRestored {
            message: "production restored".into(),
            backup: None,
            at: Some("2026-11-21T10:42:00Z".into()),
            safety_backup: None,
        };
        assert_eq!(
            stored_json(&event),
            json!({"kind": "backup.restored", "detail": {"at": "2026-11-21T10:42:00Z",
                "safety_backup": null, "message": "production restored"}})
        );
    }

    #[test]
    fn an_ssh_session_names_its_login_and_build_like_other_build_events() {
        let event = HistoryEvent::SshOpened {
            message: "ana opened an SSH shell in shop-main-3".into(),
            login: "ana".into(),
            build: 3,
        };
        assert_eq!(
            stored_json(&event),
            json!({"kind": "ssh.opened", "detail": {"message": "ana opened an SSH shell in shop-main-3",
                "login": "ana", "build": 3}})
        );
    }

    #[test]
    fn events_read_back_as_they_were_recorded() {
        let event = HistoryEvent::BuildReady {
            message: "clean".into(),
            build: 3,
            result: BuildResult::Warning,
        };
        let back = HistoryEvent::from_stored(1, event.stored().unwrap()).unwrap();
        assert_eq!(back, event);
        let line = Event {
            id: 1,
            at: Utc::now(),
            event,
        };
        assert_eq!(line.event.kind(), "build.ready");
        assert_eq!(line.event.message(), "clean");
        let answered = serde_json::to_value(&line).unwrap();
        assert_eq!(answered["kind"], "build.ready");
        assert_eq!(answered["detail"]["result"], "warning");
    }

    #[test]
    fn an_unknown_kind_is_an_error_naming_the_event() {
        let stored = Stored {
            kind: "build.teleported".into(),
            detail: json!({"message": "?"}),
        };
        let e = HistoryEvent::from_stored(42, stored).unwrap_err();
        assert!(e.to_string().contains("#42 (build.teleported)"), "{e}");
    }
}
