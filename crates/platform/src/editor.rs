//! The web editor: reading a build's checkout (`<data-dir>/builds/<build>/src`) and
//! committing one file to its branch, which then builds like a push; and forking a branch
//! into a new development branch from the UI.
//!
//! Paths come from the browser: [`relative_path`] (pure) accepts only plain relative paths,
//! and every component is then checked on disk not to be a symlink, so nothing outside the
//! checkout is ever read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slipway_git::{RefUpdate, Signature};

use crate::branches::Branch;
use crate::builds::Build;
use crate::error::{PlatformError, Result};
use crate::people::User;
use crate::projects::Project;
use crate::Platform;

/// The largest file the editor opens.
pub const MAX_EDIT_BYTES: u64 = 1 << 20;

/// An entry of a checkout folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// File or folder name.
    pub name: String,
    /// Whether it is a folder.
    pub dir: bool,
    /// Size in bytes (files).
    pub size: u64,
}

/// One file written from the editor: its path in the checkout, its new text, the commit
/// message.
#[derive(Debug, Clone, Copy)]
pub struct FileEdit<'a> {
    /// Relative path in the checkout ([`relative_path`]).
    pub path: &'a str,
    /// The file's new content.
    pub content: &'a str,
    /// The commit message.
    pub message: &'a str,
}

/// `path` as a list of plain components: no absolute path, `..`, `.`, empty part, NUL, nor
/// `.git`. `""` is the checkout's root.
pub fn relative_path(path: &str) -> Result<PathBuf> {
    let invalid = || {
        PlatformError::Invalid(format!(
            "{path:?} is not a path inside the checkout (use a relative path such as shop_core/__manifest__.py)"
        ))
    };
    let mut out = PathBuf::new();
    if path.is_empty() {
        return Ok(out);
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." || part == ".git" || part.contains('\0') {
            return Err(invalid());
        }
        out.push(part);
    }
    Ok(out)
}

/// `root/rel`, after checking that no component of it is a symlink.
fn resolve(root: &Path, rel: &Path) -> Result<PathBuf> {
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(PlatformError::Invalid(format!(
                    "{} is a symbolic link; the editor does not follow links",
                    rel.display()
                )))
            }
            Ok(_) => {}
            Err(_) => {
                return Err(PlatformError::NotFound(format!(
                    "{} is not in this build's checkout",
                    rel.display()
                )))
            }
        }
    }
    Ok(at)
}

/// The commit an edit made in `build`'s checkout goes on top of: the branch's head, and only
/// while the build is of that commit. Once the branch moved on, the file shown predates newer
/// pushes, and committing it would silently undo them: a Conflict naming what to do.
fn edit_base(branch: &str, head: Option<&str>, build: i64, revision: &str) -> Result<String> {
    let head =
        head.ok_or_else(|| PlatformError::Invalid(format!("branch {branch} has no commit yet")))?;
    if head != revision {
        return Err(PlatformError::Conflict(format!(
            "{branch} moved since build #{build} (built from {}, the branch is now at {}); \
             open the newest build of {branch} and edit there, so newer pushes are not \
             overwritten",
            short(revision),
            short(head)
        )));
    }
    Ok(head.to_string())
}

fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

impl Platform {
    /// The checkout of a build.
    pub fn checkout_dir(&self, build: &Build) -> PathBuf {
        self.env().build_dir(&build.name).join("src")
    }

    /// The entries of folder `path` of a build's checkout: folders first, then by name.
    pub async fn list_checkout(&self, build: &Build, path: &str) -> Result<Vec<Entry>> {
        let dir = resolve(&self.checkout_dir(build), &relative_path(path)?)?;
        let mut entries = Vec::new();
        let mut read = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| PlatformError::Io {
                context: format!("listing {path:?} of build {}", build.name),
                source: e,
            })?;
        while let Ok(Some(entry)) = read.next_entry().await {
            let Ok(meta) = tokio::fs::symlink_metadata(entry.path()).await else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if meta.file_type().is_symlink() || name == ".git" {
                continue;
            }
            entries.push(Entry {
                name,
                dir: meta.is_dir(),
                size: if meta.is_dir() { 0 } else { meta.len() },
            });
        }
        entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    /// The text of file `path` of a build's checkout (UTF-8, at most [`MAX_EDIT_BYTES`]).
    pub async fn read_checkout_file(&self, build: &Build, path: &str) -> Result<String> {
        let file = resolve(&self.checkout_dir(build), &relative_path(path)?)?;
        let meta = tokio::fs::metadata(&file)
            .await
            .map_err(|e| PlatformError::Io {
                context: format!("reading {path}"),
                source: e,
            })?;
        if !meta.is_file() {
            return Err(PlatformError::Invalid(format!("{path} is not a file")));
        }
        if meta.len() > MAX_EDIT_BYTES {
            return Err(PlatformError::Invalid(format!(
                "{path} is {} bytes; the editor opens files up to {MAX_EDIT_BYTES} bytes",
                meta.len()
            )));
        }
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|e| PlatformError::Io {
                context: format!("reading {path}"),
                source: e,
            })?;
        String::from_utf8(bytes).map_err(|_| {
            PlatformError::Invalid(format!("{path} is not UTF-8 text; edit it with Git"))
        })
    }

    /// Commits `edit` on the branch, on top of `build`'s revision, which must still be the
    /// branch's head ([`edit_base`]; a push racing the commit is a Conflict too), records the
    /// push in History and builds it. Returns the commit and the build.
    pub async fn commit_from_editor(
        &self,
        project: &Project,
        branch: &Branch,
        build: &Build,
        edit: &FileEdit<'_>,
        by: &User,
    ) -> Result<(String, i64)> {
        let FileEdit {
            path,
            content,
            message,
        } = *edit;
        let rel = relative_path(path)?;
        if rel.as_os_str().is_empty() {
            return Err(PlatformError::Invalid("name the file to commit".into()));
        }
        let message = message.trim();
        if message.is_empty() {
            return Err(PlatformError::Invalid("write a commit message".into()));
        }
        let head = edit_base(
            &branch.name,
            branch.head.as_deref(),
            build.id,
            &build.revision,
        )?;
        let repo = self.env().repos.open(&project.name).await?;
        let author = Signature {
            name: by.name.clone(),
            email: by
                .email
                .clone()
                .unwrap_or_else(|| format!("{}@slipway.invalid", by.login)),
        };
        let _refs = self.lock_refs(project.id).await;
        let sha = repo
            .commit_file(
                &branch.name,
                path,
                content.as_bytes(),
                message,
                &author,
                &head,
            )
            .await
            .map_err(|e| match e {
                slipway_git::Error::TargetMoved { .. } => PlatformError::Conflict(format!(
                    "{} moved since this build (someone pushed); reload the file and edit again",
                    branch.name
                )),
                other => other.into(),
            })?;
        let update = RefUpdate {
            branch: branch.name.clone(),
            old: Some(head),
            new: Some(sha.clone()),
        };
        let builds = self.on_push(project, by, &[update]).await?;
        let build = builds.first().copied().ok_or_else(|| {
            PlatformError::Conflict("the commit was made but no build was enqueued".into())
        })?;
        Ok((sha, build))
    }
}

impl Platform {
    /// Forks `source` into a new development branch `name` at the same commit, recorded in
    /// History and built like a push; refused past the project's limits
    /// ([`Platform::check_limits`]). Returns the new branch's build.
    pub async fn fork(
        &self,
        project: &Project,
        source: &Branch,
        name: &str,
        by: &User,
    ) -> Result<i64> {
        let head = source.head.clone().ok_or_else(|| {
            PlatformError::Invalid(format!("branch {} has no commit to fork yet", source.name))
        })?;
        let repo = self.env().repos.open(&project.name).await?;
        let _refs = self.lock_refs(project.id).await;
        self.check_limits(project, crate::limits::NewBuild::Branch)
            .await?;
        let sha = repo.create_branch(name, &head).await.map_err(|e| match e {
            slipway_git::Error::AlreadyExists { .. } => PlatformError::Conflict(format!(
                "a branch named {name:?} exists already; pick another name"
            )),
            other => other.into(),
        })?;
        let update = RefUpdate {
            branch: name.to_string(),
            old: None,
            new: Some(sha),
        };
        let builds = self.on_push(project, by, &[update]).await?;
        builds.first().copied().ok_or_else(|| {
            PlatformError::Conflict("the branch was made but no build was enqueued".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_are_accepted() {
        assert_eq!(relative_path("").unwrap(), PathBuf::new());
        assert_eq!(
            relative_path("shop_core/models/sale.py").unwrap(),
            PathBuf::from("shop_core/models/sale.py")
        );
    }

    #[test]
    fn paths_leaving_the_checkout_are_refused() {
        for bad in [
            "/etc/passwd",
            "../other",
            "a/../../b",
            "a/./b",
            ".git/config",
            "a/.git/hooks",
            "a//b",
            "a/",
            "a\0b",
            ".",
        ] {
            assert!(
                matches!(relative_path(bad), Err(PlatformError::Invalid(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn an_edit_goes_on_the_head_its_build_was_made_of() {
        assert_eq!(
            edit_base("feature", Some("abc123"), 7, "abc123").unwrap(),
            "abc123"
        );
    }

    #[test]
    fn an_edit_from_a_build_the_branch_moved_past_is_refused() {
        let err = edit_base("feature", Some("def4567890"), 7, "abc1234567").unwrap_err();
        let PlatformError::Conflict(message) = err else {
            panic!("not a conflict: {err}");
        };
        assert!(
            message.contains("feature moved since build #7"),
            "{message}"
        );
        assert!(message.contains("open the newest build"), "{message}");
        assert!(matches!(
            edit_base("feature", None, 7, "abc"),
            Err(PlatformError::Invalid(_))
        ));
    }

    #[test]
    fn symlinks_inside_the_checkout_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mod")).unwrap();
        std::fs::write(dir.path().join("mod/a.py"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert!(resolve(dir.path(), Path::new("mod/a.py")).is_ok());
        assert!(matches!(
            resolve(dir.path(), Path::new("link/passwd")),
            Err(PlatformError::Invalid(_))
        ));
        assert!(matches!(
            resolve(dir.path(), Path::new("mod/none.py")),
            Err(PlatformError::NotFound(_))
        ));
    }
}
