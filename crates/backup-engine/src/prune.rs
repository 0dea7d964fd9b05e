//! Retention: which backups go (the pure [`plan_retention`] per source), then a garbage
//! collection of the chunks nothing needs any more, in every location.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_backup::retention::{plan_retention, BackupInfo};
use slipway_backup::store::GcOptions;
use slipway_backup::{BackupLabels, RepoGcReport};

use super::records::{self, BackupState, ListFilter};
use super::recovery::Ended;
use super::{blocking, Backups};
use crate::error::Result;

/// What a prune did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Backups deleted by the retention plan.
    pub deleted: Vec<String>,
    /// Backups kept.
    pub kept: usize,
    /// Backups left `running` by a process that died before they were whole, now failed.
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
        for (id, ended) in self.end_interrupted_backups().await? {
            match ended {
                Ended::Completed => report.completed.push(id),
                Ended::StillIncomplete(errors) => report
                    .still_incomplete
                    .push(format!("{id}: {}", errors.join("; "))),
                Ended::Failed(_) => report.interrupted.push(id),
            }
        }
        let all = records::list(&self.pool, &ListFilter::default()).await?;
        let mut groups: BTreeMap<(Option<String>, Option<String>, String), Vec<BackupInfo>> =
            BTreeMap::new();
        for r in &all {
            if r.state == BackupState::Incomplete {
                let copies = self.complete_copies(&r.id).await?;
                if copies.done == copies.total {
                    report.completed.push(r.id.clone());
                } else {
                    report
                        .still_incomplete
                        .push(format!("{}: {}", r.id, copies.errors.join("; ")));
                }
            }
            match r.state {
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
