//! Backups a crash cut short: a backup is `running` while the process taking it holds a
//! session-level advisory lock in the metadata database ([`WriterLock`]), so any process can
//! tell a backup being written from one whose writer died (the lock goes with its
//! connection, and so with the process), on this machine or another. A dead writer's backup
//! is finished when the primary holds its manifest (it was cut short while being copied: the
//! copies are made again) and failed otherwise; its chunks are then nobody's and go at the
//! next garbage collection, once their write session is stale. The decision is [`decide`].

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::records::{self, BackupState, ListFilter};
use super::{blocking, Backups};
use crate::error::Result;

/// The lock a process holds while it writes backup `id`, on a connection of its own.
#[derive(Debug)]
pub(crate) struct WriterLock(sqlx::PgConnection);

fn lock_key(id: &str) -> String {
    format!("slipway.backup-writer:{id}")
}

impl WriterLock {
    /// Takes the lock of backup `id` (before its `running` row is written).
    pub(crate) async fn hold(pool: &PgPool, id: &str) -> Result<WriterLock> {
        let mut conn = pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(lock_key(id))
            .execute(&mut conn)
            .await?;
        Ok(WriterLock(conn))
    }

    /// The lock of backup `id` when nobody holds it (its writer is gone), else `None`.
    async fn take_if_free(pool: &PgPool, id: &str) -> Result<Option<WriterLock>> {
        let mut conn = pool.acquire().await?.detach();
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(lock_key(id))
            .fetch_one(&mut conn)
            .await?;
        if free {
            Ok(Some(WriterLock(conn)))
        } else {
            use sqlx::Connection;
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Lets the lock go (closing its connection ends its session).
    pub(crate) async fn release(self) {
        use sqlx::Connection;
        let _ = self.0.close().await;
    }
}

/// What the primary location holds of a backup left `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrimaryCopy {
    /// Its manifest, readable: the backup is whole there (a manifest is written last).
    Whole,
    /// No manifest: the writer died before it finished.
    Missing,
    /// A manifest that cannot be read; why.
    Damaged(String),
}

/// What becomes of a backup left `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Its writer is alive: it is still being taken.
    LeaveAlone,
    /// Whole in the primary: copy it to the locations that lack it and record it done.
    Complete,
    /// Not usable: failed, with this reason.
    Fail(String),
}

/// The decision for a backup found `running`, noticed at `now`.
pub(crate) fn decide(writer_alive: bool, primary: &PrimaryCopy, now: DateTime<Utc>) -> Recovery {
    if writer_alive {
        return Recovery::LeaveAlone;
    }
    let when = now.format("%Y-%m-%d %H:%M:%S UTC");
    match primary {
        PrimaryCopy::Whole => Recovery::Complete,
        PrimaryCopy::Missing => Recovery::Fail(format!(
            "interrupted by a restart of Slipway at {when}: the process taking it stopped before \
             the backup was whole; nothing of it can be restored, take a new one"
        )),
        PrimaryCopy::Damaged(why) => Recovery::Fail(format!(
            "interrupted by a restart of Slipway at {when}, and its manifest in the primary \
             cannot be read ({why}); take a new backup"
        )),
    }
}

/// How one interrupted backup was ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Copied again to every location.
    Completed,
    /// Whole in the primary, still missing from a location: why.
    StillIncomplete(Vec<String>),
    /// Marked failed: why.
    Failed(String),
}

/// Where a backup stands after its copies were made again.
pub(crate) struct Copies {
    pub(crate) done: usize,
    pub(crate) total: usize,
    pub(crate) errors: Vec<String>,
}

impl Backups {
    /// Ends the backups whose writer died (see the module documentation): `serve` and the
    /// `backup` commands call it at start, and prune before its plan. Returns a line per
    /// backup ended.
    pub async fn finish_interrupted_backups(&self) -> Result<Vec<String>> {
        Ok(self
            .end_interrupted_backups()
            .await?
            .into_iter()
            .map(|(id, ended)| match ended {
                Ended::Completed => format!(
                    "backup {id} was cut short while being copied: every location now holds it"
                ),
                Ended::StillIncomplete(errors) => format!(
                    "backup {id} was cut short while being copied: the primary holds it, a \
                     location still lacks it ({})",
                    errors.join("; ")
                ),
                Ended::Failed(reason) => format!("backup {id} failed: {reason}"),
            })
            .collect())
    }

    pub(crate) async fn end_interrupted_backups(&self) -> Result<Vec<(String, Ended)>> {
        let mut ended = Vec::new();
        let running = records::list(&self.pool, &ListFilter::default())
            .await?
            .into_iter()
            .filter(|r| r.state == BackupState::Running);
        for record in running {
            let Some(lock) = WriterLock::take_if_free(&self.pool, &record.id).await? else {
                continue;
            };
            let outcome = self.end_interrupted(&record.id).await;
            lock.release().await;
            if let Some(how) = outcome? {
                tracing::warn!(backup = %record.id, outcome = ?how, "backup cut short by a crash ended");
                ended.push((record.id, how));
            }
        }
        Ok(ended)
    }

    /// Ends backup `id`, whose lock the caller holds; `None` when it was not running any more.
    async fn end_interrupted(&self, id: &str) -> Result<Option<Ended>> {
        // read again under the lock: its writer may have finished it before dying
        match records::get(&self.pool, id).await? {
            Some(r) if r.state == BackupState::Running => {}
            _ => return Ok(None),
        }
        let (repo, owned) = (self.repo.clone(), id.to_string());
        let primary = blocking(move || {
            Ok(match repo.primary_manifest(&owned) {
                Ok(Some(_)) => PrimaryCopy::Whole,
                Ok(None) => PrimaryCopy::Missing,
                Err(e) => PrimaryCopy::Damaged(e.to_string()),
            })
        })
        .await?;
        Ok(Some(match decide(false, &primary, Utc::now()) {
            Recovery::LeaveAlone => return Ok(None),
            Recovery::Complete => {
                let copies = self.complete_copies(id).await?;
                if copies.done == copies.total {
                    Ended::Completed
                } else {
                    Ended::StillIncomplete(copies.errors)
                }
            }
            Recovery::Fail(reason) => {
                records::record_failure(&self.pool, id, &reason).await?;
                Ended::Failed(reason)
            }
        }))
    }

    /// Copies backup `id` to the locations that lack it and records where it now is; a
    /// backup counts as done only once every location holds it.
    pub(crate) async fn complete_copies(&self, id: &str) -> Result<Copies> {
        let (repo, owned) = (self.repo.clone(), id.to_string());
        let statuses = blocking(move || Ok(repo.replicate(&owned)?)).await?;
        let done: Vec<String> = statuses
            .iter()
            .filter(|s| s.complete)
            .map(|s| s.location.clone())
            .collect();
        let complete = done.len() == statuses.len();
        let errors: Vec<String> = statuses.iter().filter_map(|s| s.error.clone()).collect();
        records::record_copies(&self.pool, id, &done, complete, &errors).await?;
        if !complete {
            tracing::warn!(backup = %id, "still missing from a location: {}", errors.join("; "));
        }
        Ok(Copies {
            done: done.len(),
            total: statuses.len(),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-03-04T05:06:07Z".parse().unwrap()
    }

    #[test]
    fn a_backup_whose_writer_lives_is_left_alone_whatever_the_primary_holds() {
        for primary in [
            PrimaryCopy::Whole,
            PrimaryCopy::Missing,
            PrimaryCopy::Damaged("x".into()),
        ] {
            assert_eq!(decide(true, &primary, at()), Recovery::LeaveAlone);
        }
    }

    #[test]
    fn a_dead_writer_s_backup_whole_in_the_primary_is_completed() {
        assert_eq!(decide(false, &PrimaryCopy::Whole, at()), Recovery::Complete);
    }

    #[test]
    fn a_dead_writer_s_backup_without_a_manifest_fails_saying_when_and_why() {
        let Recovery::Fail(reason) = decide(false, &PrimaryCopy::Missing, at()) else {
            panic!("not failed");
        };
        assert!(
            reason.starts_with("interrupted by a restart of Slipway at 2026-03-04 05:06:07 UTC"),
            "{reason}"
        );
        assert!(reason.contains("take a new one"), "{reason}");
        let Recovery::Fail(reason) = decide(false, &PrimaryCopy::Damaged("bad json".into()), at())
        else {
            panic!("not failed");
        };
        assert!(reason.contains("bad json"), "{reason}");
    }
}
