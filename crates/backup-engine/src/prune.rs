//! Retention: which backups go (the pure [`plan_retention`] per source), then a garbage
//! collection of the chunks nothing needs any more, in every location.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_backup::retention::{plan_retention, BackupInfo};
use slipway_backup::store::GcOptions;
use slipway_backup::{BackupLabels, RepoGcReport};

use super::records::{self, BackupState, ListFilter};
use super::{blocking, Backups};
use crate::error::Result;

/// What a prune did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Backups deleted by the retention plan.
    pub deleted: Vec<String>,
    /// Backups kept.
    pub kept: usize,
    /// Backups left `running` by a process that died, now marked failed.
    pub interrupted: Vec<String>,
    /// Backups missing from some location that are now in every one (copied again).
    pub completed: Vec<String>,
    /// Backups still missing from some location (it stays unreachable): what is wrong.
    pub still_incomplete: Vec<String>,
    /// Records of failed backups removed (they hold nothing).
    pub failed_removed: usize,
    /// Base backups of the cluster deleted (older than the point-in-time recovery window).
    pub base_backups_deleted: Vec<String>,
    /// Archived WAL files deleted (older than the oldest base backup kept).
    pub wal_deleted: usize,
    /// The garbage collection.
    pub gc: RepoGcReport,
}

impl Backups {
    /// Applies the retention policy to every source's backups and collects garbage.
    pub async fn prune(&self, now: DateTime<Utc>, gc: &GcOptions) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let all = records::list(&self.pool, &ListFilter::default()).await?;
        let stale = now - chrono::Duration::from_std(gc.stale_session).unwrap_or_default();
        let mut groups: BTreeMap<(Option<String>, Option<String>, String), Vec<BackupInfo>> =
            BTreeMap::new();
        for r in &all {
            if r.state == BackupState::Incomplete {
                self.complete_copies(&r.id, &mut report).await?;
            }
            match r.state {
                BackupState::Running if r.created_at < stale => {
                    let (repo, id) = (self.repo.clone(), r.id.clone());
                    let written = blocking(move || Ok(repo.load(&id).is_ok())).await?;
                    if written {
                        // cut short while it was being copied: the primary holds it whole
                        self.complete_copies(&r.id, &mut report).await?;
                    } else {
                        records::record_failure(
                            &self.pool,
                            &r.id,
                            "interrupted: the process taking it stopped before it was recorded",
                        )
                        .await?;
                        report.interrupted.push(r.id.clone());
                    }
                }
                BackupState::Failed
                    if r.created_at
                        < now - chrono::Duration::days(i64::from(self.policy.manual_keep_days)) =>
                {
                    records::delete(&self.pool, &r.id).await?;
                    report.failed_removed += 1;
                }
                BackupState::Complete | BackupState::Incomplete => groups
                    .entry((
                        r.project.clone(),
                        r.branch.clone(),
                        r.source_database.clone(),
                    ))
                    .or_default()
                    .push(BackupInfo {
                        id: r.id.clone(),
                        kind: r.kind,
                        taken_at: r.created_at,
                    }),
                _ => {}
            }
        }
        for infos in groups.values() {
            let plan = plan_retention(infos, now, &self.policy);
            report.kept += plan.keep.len();
            for id in plan.delete {
                let (repo, owned) = (self.repo.clone(), id.clone());
                let unreachable = blocking(move || Ok(repo.delete(&owned)?)).await?;
                for u in unreachable {
                    tracing::warn!(backup = %id, "deleting a replica's copy: {u}");
                }
                records::delete(&self.pool, &id).await?;
                report.deleted.push(id);
            }
        }
        // point-in-time recovery reaches back as many days as daily backups are kept
        let window = chrono::Duration::days(i64::from(self.policy.daily.max(1)));
        (report.base_backups_deleted, report.wal_deleted) = self.prune_pitr(now, window).await?;
        let (repo, options) = (self.repo.clone(), *gc);
        report.gc = blocking(move || Ok(repo.gc(&options)?)).await?;
        Ok(report)
    }

    /// Copies backup `id` to the locations that lack it and records where it now is; a
    /// backup counts as done only once every location holds it.
    async fn complete_copies(&self, id: &str, report: &mut PruneReport) -> Result<()> {
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
        if complete {
            report.completed.push(id.to_string());
        } else {
            tracing::warn!(backup = %id, "still missing from a location: {}", errors.join("; "));
            report
                .still_incomplete
                .push(format!("{id}: {}", errors.join("; ")));
        }
        Ok(())
    }

    /// The backups of the same source and labels, for the manual backups' daily limit.
    pub(crate) async fn retention_infos(
        &self,
        labels: &BackupLabels,
        database: &str,
    ) -> Result<Vec<BackupInfo>> {
        let rows = records::list(
            &self.pool,
            &ListFilter {
                project: labels.project.clone(),
                branch: labels.branch.clone(),
                database: Some(database.to_string()),
            },
        )
        .await?;
        Ok(rows
            .iter()
            .filter(|r| r.state.is_kept())
            .map(|r| BackupInfo {
                id: r.id.clone(),
                kind: r.kind,
                taken_at: r.created_at,
            })
            .collect())
    }
}
