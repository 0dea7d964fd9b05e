//! Slipway's hosted Git repositories, driven through the real `git` binary (no libgit2): one
//! bare repository per project under `<data-dir>/git/<project>.git`.
//!
//! [`Repos`] creates, opens and deletes them; [`Repo`] reads branches and commits, exports a
//! revision's tree safely, merges one branch into another and commits a file without a
//! working tree (`git merge-tree --write-tree`, a temporary index, `commit-tree`), always
//! moving a branch with `update-ref <new> <old>` so a concurrent push is never overwritten.
//!
//! [`http`] serves them over smart HTTP: a streaming CGI bridge to `git http-backend`, with no
//! authentication of its own (the caller checks the user first).
//!
//! **Invariants:** every `git` runs with [`git_command`]'s environment (no user or system
//! config, no hooks from the repository); a branch only moves by compare-and-set; an exported
//! tree never writes outside its target (no symlink escapes).
//!
//! ## Design notes
//!
//! Hosted Git, through the real `git` binary (`tokio::process`, no libgit2), knowing nothing of
//! builds. `Repos` holds one bare repository per project at `<data-dir>/git/<project>.git`, created
//! in a temporary folder then renamed into place (`main` default branch, `http.receivepack`,
//! `receive.fsckObjects` against hostile pushes, `core.hooksPath` an empty folder: the push hook is
//! the server diffing `Repo::branches()` before and after, `Repo::ref_updates` being the pure
//! diff). `Repo` reads branches and commits (`new ^old`), exports a tree (`git archive` streamed
//! into a safe tar extraction, `extract.rs`), merges without a working tree (`merge-tree
//! --write-tree`, `commit-tree` with both parents) and commits one file for the web editor (a
//! temporary `GIT_INDEX_FILE`) and creates a branch at a commit for a fork (never over an existing
//! one). `git_command()` is the one clean environment for every git process (only `PATH` inherited,
//! no system or global config, `LC_ALL=C`).
//!
//! Invariants: every user string passes a check in `names.rs` before reaching git, so none reads as
//! an option; a branch only moves by `update-ref <ref> <new> <old>`, so a concurrent push is never
//! overwritten (`TargetMoved`); a conflicting merge moves no branch; an export never writes outside
//! its destination nor through a symlink, and keeps only symlinks that provably resolve inside it.
//!
//! `http` bridges Git smart HTTP to `git http-backend` (CGI: request body streamed to its stdin,
//! its stdout parsed for `Status:` and streamed back, a body size cap answered 413). It only serves
//! `/<project>.git/{info/refs,git-upload-pack,git-receive-pack}` (so no `..` nor repository files)
//! and does no authentication: the caller checks the user (`is_push` says when write rights are
//! needed) and diffs the branches around a push (a `git-receive-pack` call returns only once git
//! has exited, so the branches read right after it are the pushed ones).
#![warn(missing_docs)]

mod cmd;
mod extract;
pub mod http;
mod names;
mod repo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cmd::git_command;
pub use extract::symlink_stays_inside;
pub use names::{check_branch, check_file_path, check_project, check_rev, check_signature};

/// What went wrong with a repository or a `git` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `git` is not installed.
    #[error("the `git` program was not found on PATH: install Git 2.38 or newer")]
    GitMissing,
    /// A repository, branch or revision does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `branch "main"`.
        what: String,
    },
    /// A repository that should be new already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What exists, e.g. `repository "shop"`.
        what: String,
    },
    /// A name, path or signature refused before reaching `git`.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What kind of value (`branch name`, `file path`, ...).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `git` exited with an error.
    #[error("`git {command}` failed: {stderr}")]
    GitFailed {
        /// The arguments given to `git`.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// An entry of an exported archive would have escaped the destination.
    #[error("unsafe entry {path:?} in the exported tree ({reason}); nothing outside the destination was written")]
    UnsafeArchiveEntry {
        /// The entry's path as written in the archive.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A branch moved between reading it and updating it: someone pushed meanwhile.
    #[error("branch {branch:?} moved meanwhile (expected {expected}, now {actual}): reload and try again")]
    TargetMoved {
        /// The branch.
        branch: String,
        /// The commit the change was based on.
        expected: String,
        /// The branch's commit now (`deleted` when it is gone).
        actual: String,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One branch's change between two snapshots of [`Repo::branches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The branch name (without `refs/heads/`).
    pub branch: String,
    /// Its commit before; `None` when the branch was created.
    pub old: Option<String>,
    /// Its commit after; `None` when the branch was deleted.
    pub new: Option<String>,
}

/// One commit as History shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full commit id.
    pub sha: String,
    /// Author name.
    pub author_name: String,
    /// Author e-mail.
    pub author_email: String,
    /// Author date, RFC 3339 with the author's offset.
    pub date: String,
    /// First line of the message.
    pub summary: String,
}

/// Who makes a commit written by Slipway (author and committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// What [`Repo::merge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// A merge commit with both heads as parents is the target's new head.
    Merged {
        /// The merge commit.
        sha: String,
    },
    /// The source is already contained in the target: nothing to do.
    UpToDate,
    /// The branches conflict; nothing was written to any branch.
    Conflict {
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
}

/// The folder holding every project's bare repository.
#[derive(Debug, Clone)]
pub struct Repos {
    root: PathBuf,
}

/// One project's bare repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The repository folder (`<root>/<project>.git`).
    pub path: PathBuf,
}

impl Repos {
    /// Repositories under `root` (`<data-dir>/git`), created on the first [`Repos::create`].
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The folder of all repositories.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `project`'s repository lives (`<root>/<project>.git`). Does not check the name:
    /// [`Repos::create`], [`Repos::open`] and [`Repos::delete`] do.
    pub fn path(&self, project: &str) -> PathBuf {
        self.root.join(format!("{project}.git"))
    }

    /// Creates `project`'s empty bare repository with `main` as its default branch, pushes over
    /// HTTP allowed, every pushed object checked (`receive.fsckObjects`), and hooks disabled
    /// (`core.hooksPath` is an empty folder). Built in a temporary folder and renamed into
    /// place, so a failure leaves nothing behind.
    pub async fn create(&self, project: &str) -> Result<Repo> {
        check_project(project)?;
        let path = self.path(project);
        if path.exists() {
            return Err(Error::AlreadyExists {
                what: format!("repository {project:?}"),
            });
        }
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|source| Error::Io {
                path: self.root.clone(),
                source,
            })?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{project}.new-"))
            .tempdir_in(&self.root)
            .map_err(|source| Error::Io {
                path: self.root.clone(),
                source,
            })?;
        let work = staging.path().join("repo.git");
        let work_str = work.to_string_lossy().into_owned();
        cmd::run(
            None,
            &[
                "init",
                "--quiet",
                "--bare",
                "--template=",
                "-b",
                "main",
                &work_str,
            ],
            &[],
            None,
        )
        .await?;
        let hooks = path.join("hooks");
        let hooks_str = hooks.to_string_lossy().into_owned();
        for (key, value) in [
            ("http.receivepack", "true"),
            ("receive.fsckObjects", "true"),
            ("core.hooksPath", hooks_str.as_str()),
        ] {
            cmd::run(Some(&work), &["config", key, value], &[], None).await?;
        }
        tokio::fs::create_dir(work.join("hooks"))
            .await
            .map_err(|source| Error::Io {
                path: work.join("hooks"),
                source,
            })?;
        tokio::fs::rename(&work, &path).await.map_err(|source| {
            if path.exists() {
                Error::AlreadyExists {
                    what: format!("repository {project:?}"),
                }
            } else {
                Error::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        Ok(Repo { path })
    }

    /// Opens `project`'s repository.
    pub async fn open(&self, project: &str) -> Result<Repo> {
        check_project(project)?;
        let path = self.path(project);
        let is_repo = tokio::fs::metadata(path.join("HEAD")).await.is_ok()
            && tokio::fs::metadata(path.join("objects")).await.is_ok();
        if is_repo {
            Ok(Repo { path })
        } else {
            Err(Error::NotFound {
                what: format!("repository {project:?}"),
            })
        }
    }

    /// Deletes `project`'s repository: renamed aside first (so it disappears at once, never
    /// half-deleted under its name), then removed.
    pub async fn delete(&self, project: &str) -> Result<()> {
        let repo = self.open(project).await?;
        let trash = tempfile::Builder::new()
            .prefix(&format!(".{project}.deleted-"))
            .tempdir_in(&self.root)
            .map_err(|source| Error::Io {
                path: self.root.clone(),
                source,
            })?;
        let aside = trash.path().join("repo.git");
        tokio::fs::rename(&repo.path, &aside)
            .await
            .map_err(|source| Error::Io {
                path: repo.path.clone(),
                source,
            })?;
        let trash_path = trash.keep();
        tokio::fs::remove_dir_all(&trash_path)
            .await
            .map_err(|source| Error::Io {
                path: trash_path,
                source,
            })
    }
}

impl Repo {
    /// What changed between two snapshots of [`Repo::branches`], in branch name order.
    pub fn ref_updates(
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) -> Vec<RefUpdate> {
        let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| {
                let old = before.get(name);
                let new = after.get(name);
                (old != new).then(|| RefUpdate {
                    branch: name.clone(),
                    old: old.cloned(),
                    new: new.cloned(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn update(branch: &str, old: Option<&str>, new: Option<&str>) -> RefUpdate {
        RefUpdate {
            branch: branch.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        }
    }

    #[test]
    fn ref_updates_lists_created_updated_deleted() {
        let before = map(&[("main", "a1"), ("gone", "b1"), ("same", "c1")]);
        let after = map(&[("main", "a2"), ("new", "d1"), ("same", "c1")]);
        assert_eq!(
            Repo::ref_updates(&before, &after),
            vec![
                update("gone", Some("b1"), None),
                update("main", Some("a1"), Some("a2")),
                update("new", None, Some("d1")),
            ]
        );
    }

    #[test]
    fn ref_updates_of_identical_snapshots_is_empty() {
        let snap = map(&[("main", "a1")]);
        assert!(Repo::ref_updates(&snap, &snap).is_empty());
        assert!(Repo::ref_updates(&BTreeMap::new(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn ref_updates_from_nothing_and_to_nothing() {
        let snap = map(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            Repo::ref_updates(&BTreeMap::new(), &snap),
            vec![update("a", None, Some("1")), update("b", None, Some("2"))]
        );
        assert_eq!(
            Repo::ref_updates(&snap, &BTreeMap::new()),
            vec![update("a", Some("1"), None), update("b", Some("2"), None)]
        );
    }
}
