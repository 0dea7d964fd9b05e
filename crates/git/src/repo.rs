//! [`Repo`]'s reads and writes, each a few `git` plumbing commands.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::cmd::{self, run, run_raw, text};
use crate::names::{check_branch, check_file_path, check_rev, check_signature};
use crate::{CommitInfo, Error, MergeOutcome, Repo, Result, Signature};

/// Field and record separators of `git log --format`.
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

impl Repo {
    fn dir(&self) -> Option<&Path> {
        Some(&self.path)
    }

    /// Every branch (`refs/heads/*`) and its commit.
    pub async fn branches(&self) -> Result<BTreeMap<String, String>> {
        let out = run(
            self.dir(),
            &[
                "for-each-ref",
                "--format=%(objectname) %(refname)",
                "refs/heads/",
            ],
            &[],
            None,
        )
        .await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|line| {
                let (sha, name) = line.split_once(' ')?;
                let name = name.strip_prefix("refs/heads/")?;
                Some((name.to_owned(), sha.to_owned()))
            })
            .collect())
    }

    /// The commit `branch` points to.
    pub async fn branch_head(&self, branch: &str) -> Result<String> {
        check_branch(branch)?;
        self.head_of(branch).await?.ok_or_else(|| Error::NotFound {
            what: format!("branch {branch:?}"),
        })
    }

    async fn head_of(&self, branch: &str) -> Result<Option<String>> {
        let full = format!("refs/heads/{branch}");
        let out = run_raw(
            self.dir(),
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{full}^{{commit}}"),
            ],
            &[],
            None,
        )
        .await?;
        Ok(out.status.success().then(|| text(out.stdout)))
    }

    /// The full id of the commit `rev` names.
    pub async fn resolve(&self, rev: &str) -> Result<String> {
        check_rev(rev)?;
        let out = run_raw(
            self.dir(),
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
            &[],
            None,
        )
        .await?;
        if out.status.success() {
            Ok(text(out.stdout))
        } else {
            Err(Error::NotFound {
                what: format!("commit {rev:?}"),
            })
        }
    }

    /// The commits reachable from `new` but not from `old` (`new ^old`), newest first, at most
    /// `limit`.
    pub async fn commits(
        &self,
        new: &str,
        old: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CommitInfo>> {
        check_rev(new)?;
        if let Some(old) = old {
            check_rev(old)?;
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let format = format!("--format=%H{FIELD}%an{FIELD}%ae{FIELD}%aI{FIELD}%s{RECORD}");
        let max = format!("--max-count={limit}");
        let exclude = old.map(|old| format!("^{old}"));
        let mut args = vec!["log", "--no-color", &format, &max, new];
        if let Some(exclude) = &exclude {
            args.push(exclude);
        }
        args.push("--");
        let out = run(self.dir(), &args, &[], None).await?;
        Ok(String::from_utf8_lossy(&out)
            .split(RECORD)
            .filter_map(|record| {
                let mut fields = record.trim_start_matches('\n').split(FIELD);
                Some(CommitInfo {
                    sha: fields.next().filter(|s| !s.is_empty())?.to_owned(),
                    author_name: fields.next()?.to_owned(),
                    author_email: fields.next()?.to_owned(),
                    date: fields.next()?.to_owned(),
                    summary: fields.next()?.to_owned(),
                })
            })
            .collect())
    }

    /// Writes the tree of commit `sha` into `dest` (created if missing): `git archive` streamed
    /// into a safe extraction (no absolute path, no `..`, symlinks only when they stay inside
    /// `dest`, nothing written through a symlink). Submodules are left empty.
    pub async fn export(&self, sha: &str, dest: &Path) -> Result<()> {
        let commit = self.resolve(sha).await?;
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(|source| Error::Io {
                path: dest.to_owned(),
                source,
            })?;
        let mut child = cmd::git_command()
            .arg("--git-dir")
            .arg(&self.path)
            .args(["archive", "--format=tar", &commit])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(cmd::spawn_error)?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Error::GitFailed {
                command: "archive".into(),
                stderr: "no output pipes".into(),
            });
        };
        let reader = tokio_util::io::SyncIoBridge::new(stdout);
        let dest_owned = dest.to_owned();
        let extraction =
            tokio::task::spawn_blocking(move || crate::extract::extract_tar(reader, &dest_owned));
        let mut errors = Vec::new();
        let (extracted, _) = tokio::join!(extraction, stderr.read_to_end(&mut errors));
        let extracted = extracted.map_err(|e| Error::Io {
            path: dest.to_owned(),
            source: std::io::Error::other(e),
        })?;
        if extracted.is_err() {
            let _ = child.start_kill();
        }
        let status = child.wait().await.map_err(cmd::spawn_error)?;
        extracted?;
        if !status.success() {
            return Err(Error::GitFailed {
                command: format!("archive --format=tar {commit}"),
                stderr: String::from_utf8_lossy(&errors).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// Merges branch `source` into branch `target` without a working tree, as `git merge
    /// --no-ff` would: `git merge-tree --write-tree`, then a merge commit by `author` with both
    /// heads as parents, moved onto `target` only if `target` has not moved meanwhile
    /// ([`Error::TargetMoved`]). On conflict no branch changes (the merge's unreachable objects
    /// are left to `git gc`).
    pub async fn merge(
        &self,
        source_branch: &str,
        target_branch: &str,
        author: &Signature,
    ) -> Result<MergeOutcome> {
        check_signature(&author.name, &author.email)?;
        let source = self.branch_head(source_branch).await?;
        let target = self.branch_head(target_branch).await?;
        let contained = run_raw(
            self.dir(),
            &["merge-base", "--is-ancestor", &source, &target],
            &[],
            None,
        )
        .await?;
        match contained.status.code() {
            Some(0) => return Ok(MergeOutcome::UpToDate),
            Some(1) => {}
            _ => {
                return Err(cmd::failed(
                    &["merge-base", "--is-ancestor", &source, &target],
                    contained,
                ))
            }
        }
        let args = [
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            &target,
            &source,
        ];
        let merged = run_raw(self.dir(), &args, &[], None).await?;
        let output = String::from_utf8_lossy(&merged.stdout).into_owned();
        let mut parts = output.split('\0').filter(|part| !part.is_empty());
        match merged.status.code() {
            Some(0) => {}
            Some(1) => {
                let mut paths: Vec<String> = parts.skip(1).map(str::to_owned).collect();
                paths.sort();
                paths.dedup();
                return Ok(MergeOutcome::Conflict { paths });
            }
            _ => return Err(cmd::failed(&args, merged)),
        }
        let tree = parts.next().unwrap_or_default().trim().to_owned();
        let message = format!("Merge branch '{source_branch}' into {target_branch}");
        let sha = self
            .commit_tree(&tree, &[&target, &source], &message, author)
            .await?;
        self.move_branch(target_branch, &sha, &target).await?;
        Ok(MergeOutcome::Merged { sha })
    }

    /// Commits `contents` as the file `path` of branch `branch` (the web editor's save): the
    /// new commit's parent is `expected_head`, and the branch only moves if it still points
    /// there ([`Error::TargetMoved`] otherwise). An existing file keeps its executable bit.
    /// Returns the new head; when the file already held exactly `contents`, no commit is made
    /// and `expected_head` is returned.
    pub async fn commit_file(
        &self,
        branch: &str,
        path: &str,
        contents: &[u8],
        message: &str,
        author: &Signature,
        expected_head: &str,
    ) -> Result<String> {
        check_file_path(path)?;
        check_signature(&author.name, &author.email)?;
        let head = self.branch_head(branch).await?;
        let expected = self.resolve(expected_head).await?;
        if head != expected {
            return Err(Error::TargetMoved {
                branch: branch.to_owned(),
                expected,
                actual: head,
            });
        }
        let listed = run(
            self.dir(),
            &["ls-tree", "-z", &expected, "--", path],
            &[],
            None,
        )
        .await?;
        let listed = String::from_utf8_lossy(&listed).into_owned();
        let mode = match listed.split(' ').next().filter(|m| !m.is_empty()) {
            None | Some("100644") => "100644",
            Some("100755") => "100755",
            Some(_) => {
                return Err(Error::Invalid {
                    what: "file path",
                    value: path.to_owned(),
                    reason: "it is a folder, a symlink or a submodule in this branch",
                })
            }
        };
        let blob = text(
            run(
                self.dir(),
                &["hash-object", "-w", "--stdin", "--no-filters"],
                &[],
                Some(contents),
            )
            .await?,
        );
        let index_dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let index = index_dir.path().join("index");
        let index_str = index.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index_str.as_str())];
        run(self.dir(), &["read-tree", &expected], &env, None).await?;
        let cacheinfo = format!("{mode},{blob},{path}");
        run(
            self.dir(),
            &["update-index", "--add", "--cacheinfo", &cacheinfo],
            &env,
            None,
        )
        .await?;
        let tree = text(run(self.dir(), &["write-tree"], &env, None).await?);
        let old_tree = text(
            run(
                self.dir(),
                &["rev-parse", &format!("{expected}^{{tree}}")],
                &[],
                None,
            )
            .await?,
        );
        if tree == old_tree {
            return Ok(expected);
        }
        let sha = self
            .commit_tree(&tree, &[&expected], message, author)
            .await?;
        self.move_branch(branch, &sha, &expected).await?;
        Ok(sha)
    }

    /// The contents of file `path` at commit `sha`; `None` when there is no file there (or it
    /// is a folder or submodule).
    pub async fn read_file(&self, sha: &str, path: &str) -> Result<Option<Vec<u8>>> {
        check_file_path(path)?;
        let commit = self.resolve(sha).await?;
        let query = format!("{commit}:{path}\n");
        let out = run(
            self.dir(),
            &["cat-file", "--batch"],
            &[],
            Some(query.as_bytes()),
        )
        .await?;
        let Some(newline) = out.iter().position(|b| *b == b'\n') else {
            return Ok(None);
        };
        let header = String::from_utf8_lossy(&out[..newline]).into_owned();
        let fields: Vec<&str> = header.split(' ').collect();
        match fields.as_slice() {
            [_, "blob", size] => {
                let size: usize = size.parse().map_err(|_| Error::GitFailed {
                    command: "cat-file --batch".into(),
                    stderr: format!("unexpected header {header:?}"),
                })?;
                let start = newline + 1;
                Ok(out.get(start..start + size).map(<[u8]>::to_vec))
            }
            _ => Ok(None),
        }
    }

    /// Creates branch `branch` at commit `rev` (a fork); [`Error::AlreadyExists`] if a
    /// branch of that name exists, even one created a moment ago by a push.
    pub async fn create_branch(&self, branch: &str, rev: &str) -> Result<String> {
        check_branch(branch)?;
        let sha = self.resolve(rev).await?;
        let exists = || Error::AlreadyExists {
            what: format!("branch {branch:?}"),
        };
        if self.head_of(branch).await?.is_some() {
            return Err(exists());
        }
        let full = format!("refs/heads/{branch}");
        let zero = "0".repeat(sha.len());
        let out = run_raw(self.dir(), &["update-ref", &full, &sha, &zero], &[], None).await?;
        if !out.status.success() {
            return Err(exists());
        }
        Ok(sha)
    }

    /// Deletes branch `branch`.
    pub async fn delete_branch(&self, branch: &str) -> Result<()> {
        let head = self.branch_head(branch).await?;
        let full = format!("refs/heads/{branch}");
        run(self.dir(), &["update-ref", "-d", &full, &head], &[], None).await?;
        Ok(())
    }

    async fn commit_tree(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Signature,
    ) -> Result<String> {
        let mut args = vec!["commit-tree", tree];
        for parent in parents {
            args.push("-p");
            args.push(parent);
        }
        let env = [
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_COMMITTER_NAME", author.name.as_str()),
            ("GIT_COMMITTER_EMAIL", author.email.as_str()),
        ];
        let message = if message.ends_with('\n') {
            message.to_owned()
        } else {
            format!("{message}\n")
        };
        Ok(text(
            run(self.dir(), &args, &env, Some(message.as_bytes())).await?,
        ))
    }

    /// `update-ref refs/heads/<branch> <new> <old>`; [`Error::TargetMoved`] if it moved.
    async fn move_branch(&self, branch: &str, new: &str, old: &str) -> Result<()> {
        let full = format!("refs/heads/{branch}");
        let args = ["update-ref", &full, new, old];
        let out = run_raw(self.dir(), &args, &[], None).await?;
        if out.status.success() {
            return Ok(());
        }
        match self.head_of(branch).await? {
            Some(actual) if actual == old => Err(cmd::failed(&args, out)),
            actual => Err(Error::TargetMoved {
                branch: branch.to_owned(),
                expected: old.to_owned(),
                actual: actual.unwrap_or_else(|| "deleted".into()),
            }),
        }
    }
}
