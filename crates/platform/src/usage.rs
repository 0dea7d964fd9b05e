//! What a project holds, measured for its [`crate::limits`], and the refusals applied: to a
//! push (in git's hook, [`Platform::push_guard`]) and to forks and rebuilds
//! ([`Platform::check_limits`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{PlatformError, Result};
use crate::limits::{self, NewBuild, ProjectUsage};
use crate::projects::{push_protection, Project, Role};
use crate::Platform;

/// How long a filestore's measured size is trusted: walking one is reading every file's
/// metadata, and pushes come in bursts.
const FILESTORE_SIZE_TTL: Duration = Duration::from_secs(60);

/// Filestore sizes measured in the last [`FILESTORE_SIZE_TTL`], by database.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilestoreSizes(Arc<Mutex<HashMap<String, (Instant, u64)>>>);

impl FilestoreSizes {
    fn fresh(&self, database: &str) -> Option<u64> {
        let sizes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, bytes) = sizes.get(database)?;
        (at.elapsed() < FILESTORE_SIZE_TTL).then_some(*bytes)
    }

    fn put(&self, database: &str, bytes: u64) {
        let mut sizes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sizes.retain(|_, (at, _)| at.elapsed() < FILESTORE_SIZE_TTL);
        sizes.insert(database.to_string(), (Instant::now(), bytes));
    }
}

impl Platform {
    /// What `project` holds now, as its limits count it: its builds that are not over, and
    /// (only when a disk limit is set) the size of their databases, one query for all of
    /// them, plus their filestores, each walked at most once a minute.
    pub async fn project_usage(&self, project: &Project) -> Result<ProjectUsage> {
        let live_builds = self.builds.count_live_of_project(project.id).await?;
        if self.limits.project_disk.is_none() {
            return Ok(ProjectUsage {
                live_builds,
                disk_bytes: 0,
            });
        }
        let databases = self.builds.live_databases_of_project(project.id).await?;
        let target = &self.env().target;
        let mut disk_bytes = target.databases_size(&databases).await?;
        for database in &databases {
            let bytes = match self.filestore_sizes.fresh(database) {
                Some(bytes) => bytes,
                None => {
                    let folder = target.filestore(database);
                    let bytes = tokio::task::spawn_blocking(move || slipway_pg::dir_size(&folder))
                        .await
                        .map_err(|e| {
                            PlatformError::Failed(format!("measuring a filestore: {e}"))
                        })?;
                    self.filestore_sizes.put(database, bytes);
                    bytes
                }
            };
            disk_bytes += bytes;
        }
        Ok(ProjectUsage {
            live_builds,
            disk_bytes,
        })
    }

    /// Refuses a new build of `project` past its limits (`build_limit`, `disk_limit`: a
    /// Conflict naming the usage, the limit and what to free); production is never refused.
    pub async fn check_limits(&self, project: &Project, build: NewBuild) -> Result<()> {
        if build == NewBuild::Rebuild(crate::stages::Stage::Production) {
            return Ok(());
        }
        let usage = self.project_usage(project).await?;
        match limits::refusal(&self.limits, &project.name, &usage, build) {
            Some(refusal) => {
                tracing::info!(project = %project.name, code = refusal.code, "new build refused: {}", refusal.message);
                Err(refusal.into())
            }
            None => Ok(()),
        }
    }

    /// What git checks on a push into `project` by someone with `role`: the branches
    /// protected from them, the builds one push may start, and the new branches the project
    /// has room for. Read under [`Platform::lock_refs`], so no other change of the project's
    /// branches slips in between.
    pub async fn push_guard(
        &self,
        project: &Project,
        role: Role,
    ) -> Result<slipway_git::http::PushGuard> {
        let branches = self.branches.list(project.id).await?;
        let protected = push_protection(&project.settings, role, &branches);
        let usage = self.project_usage(project).await?;
        Ok(limits::push_guard(
            &self.limits,
            &project.name,
            &usage,
            protected,
        ))
    }
}
