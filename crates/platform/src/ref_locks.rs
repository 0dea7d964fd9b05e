//! One change of a project's branches at a time. A push (the server diffs the branches
//! around `git-receive-pack`), an editor commit, a merge and a fork each move refs and then
//! record what moved; interleaved, two of them would see the same change (the same head
//! built twice, a push's commits recorded twice) or enqueue their builds out of order (the
//! newer build superseded by the older).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-project locks on branch changes, shared by every clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefLocks(Arc<Mutex<HashMap<i64, Arc<AsyncMutex<()>>>>>);

/// Held while a project's branches change and the change is recorded.
#[derive(Debug)]
pub struct RefsGuard {
    _guard: OwnedMutexGuard<()>,
}

impl RefLocks {
    /// Waits for project `project_id`'s branches to be ours to change.
    pub(crate) async fn lock(&self, project_id: i64) -> RefsGuard {
        let mutex = {
            let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // A lock nobody holds or waits for is only the map's: forget it.
            locks.retain(|_, m| Arc::strong_count(m) > 1);
            locks.entry(project_id).or_default().clone()
        };
        RefsGuard {
            _guard: mutex.lock_owned().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_project_s_branch_changes_wait_for_each_other() {
        let locks = RefLocks::default();
        let held = locks.lock(1).await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a second change waits for the first"
        );
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the lock is released with its guard")
            .unwrap();
    }

    #[tokio::test]
    async fn other_projects_do_not_wait() {
        let locks = RefLocks::default();
        let _held = locks.lock(1).await;
        tokio::time::timeout(Duration::from_secs(5), locks.lock(2))
            .await
            .expect("another project's lock is free");
    }
}
