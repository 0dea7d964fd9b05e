//! Safe extraction of a `git archive` tar stream.
//!
//! Every entry's path must be relative without `..`; regular files and folders are written
//! first, symlinks last and only when they provably stay inside the destination
//! ([`symlink_stays_inside`]); nothing is ever written through a symlink. Other entry types
//! (hard links, devices, FIFOs, pax headers) are skipped.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

fn unsafe_entry(path: &Path, reason: &'static str) -> Error {
    Error::UnsafeArchiveEntry {
        path: path.display().to_string(),
        reason,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// `path` as a relative path of normal parts only, or why not.
fn safe_relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry(path, "it contains '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(path, "it is an absolute path"))
            }
        }
    }
    Ok(out)
}

/// Whether a symlink at `link` (relative to the destination) pointing at `target` resolves
/// inside the destination, whatever other symlinks this rule let through.
///
/// The target must be relative, and `..` parts may only come first (at most as many as `link`
/// has parent folders): after a normal part, a `..` could climb out of another symlink's target,
/// which a lexical check cannot see. `a/../b`-style targets are therefore refused.
pub fn symlink_stays_inside(link: &Path, target: &Path) -> bool {
    let depth = link.components().count().saturating_sub(1);
    let mut ups = 0usize;
    let mut descended = false;
    let mut any = false;
    for component in target.components() {
        match component {
            Component::Normal(_) => {
                descended = true;
                any = true;
            }
            Component::CurDir => any = true,
            Component::ParentDir => {
                if descended {
                    return false;
                }
                ups += 1;
                any = true;
                if ups > depth {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    any
}

/// Refuses `rel` if any folder on its way inside `dest` is a symlink.
fn check_no_symlink_parent(dest: &Path, rel: &Path) -> Result<()> {
    let mut current = dest.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for part in parents.iter().take(parents.len().saturating_sub(1)) {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_entry(rel, "a folder on its path is a symlink"))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&current)(e)),
        }
    }
    Ok(())
}

/// Extracts the tar stream `reader` into the existing folder `dest` (blocking).
pub(crate) fn extract_tar(reader: impl Read, dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_overwrite(true);
    let mut symlinks = Vec::new();
    let entries = archive.entries().map_err(io_error(dest))?;
    for entry in entries {
        let mut entry = entry.map_err(io_error(dest))?;
        let raw = entry.path().map_err(io_error(dest))?.into_owned();
        let rel = safe_relative(&raw)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let out = dest.join(&rel);
        if kind.is_dir() {
            check_no_symlink_parent(dest, &rel)?;
            std::fs::create_dir_all(&out).map_err(io_error(&out))?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            check_no_symlink_parent(dest, &rel)?;
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(io_error(parent))?;
            }
            entry.unpack(&out).map_err(io_error(&out))?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(io_error(&out))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            if symlink_stays_inside(&rel, &target) {
                symlinks.push((rel, target));
            } else {
                tracing::debug!(link = %rel.display(), target = %target.display(),
                    "symlink pointing outside the checkout skipped");
            }
        }
        // Hard links, devices, FIFOs and pax/GNU headers: `git archive` only writes pax
        // headers, which the tar crate applies itself; anything else is skipped.
    }
    for (rel, target) in symlinks {
        check_no_symlink_parent(dest, &rel)?;
        let out = dest.join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        std::os::unix::fs::symlink(&target, &out).map_err(io_error(&out))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(link: &str, target: &str) -> bool {
        symlink_stays_inside(Path::new(link), Path::new(target))
    }

    #[test]
    fn symlinks_inside_or_not() {
        assert!(inside("a", "b"));
        assert!(inside("a", "sub/b"));
        assert!(inside("a", "./b"));
        assert!(inside("x/a", "../b"));
        assert!(inside("x/y/a", "../../b"));
        assert!(inside("x/a", ".."));
        assert!(!inside("a", ".."));
        assert!(!inside("a", "../b"));
        assert!(!inside("x/a", "../../b"));
        assert!(!inside("a", "/etc/passwd"));
        assert!(!inside("a", ""));
        // `..` after a normal part could climb out of another symlink: refused.
        assert!(!inside("a", "sub/../b"));
        assert!(!inside("a", "sub/link/.."));
    }

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    fn file_header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header
    }

    /// Writes a raw name into the header, bypassing the tar crate's own path checks.
    fn raw_name(header: &mut tar::Header, name: &str) {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
    }

    #[test]
    fn extracts_files_folders_and_inside_symlinks() {
        let data = tar_with(|b| {
            let mut h = file_header(tar::EntryType::Directory, 0);
            b.append_data(&mut h, "dir/", &[][..]).unwrap();
            let mut h = file_header(tar::EntryType::Regular, 5);
            h.set_mode(0o755);
            b.append_data(&mut h, "dir/run.sh", &b"hello"[..]).unwrap();
            let mut h = file_header(tar::EntryType::Symlink, 0);
            b.append_link(&mut h, "dir/link", "run.sh").unwrap();
            let mut h = file_header(tar::EntryType::Symlink, 0);
            b.append_link(&mut h, "escape", "../outside").unwrap();
            let mut h = file_header(tar::EntryType::Symlink, 0);
            b.append_link(&mut h, "abs", "/etc/passwd").unwrap();
        });
        let dest = tempfile::tempdir().unwrap();
        extract_tar(&data[..], dest.path()).unwrap();
        assert_eq!(
            std::fs::read(dest.path().join("dir/run.sh")).unwrap(),
            b"hello"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.path().join("dir/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "executable bit kept");
        assert_eq!(
            std::fs::read_link(dest.path().join("dir/link")).unwrap(),
            Path::new("run.sh")
        );
        assert!(std::fs::symlink_metadata(dest.path().join("escape")).is_err());
        assert!(std::fs::symlink_metadata(dest.path().join("abs")).is_err());
    }

    #[test]
    fn refuses_parent_and_absolute_paths() {
        for name in ["../evil", "a/../../evil", "/tmp/evil"] {
            let data = tar_with(|b| {
                let mut h = file_header(tar::EntryType::Regular, 1);
                raw_name(&mut h, name);
                b.append(&h, &b"x"[..]).unwrap();
            });
            let root = tempfile::tempdir().unwrap();
            let dest = root.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            let err = extract_tar(&data[..], &dest).unwrap_err();
            assert!(
                matches!(err, Error::UnsafeArchiveEntry { .. }),
                "{name}: {err}"
            );
            assert!(!root.path().join("evil").exists());
        }
    }

    #[test]
    fn never_writes_through_a_symlink() {
        // A destination that already holds a symlink to elsewhere: a file under it is refused.
        let outside = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join("link")).unwrap();
        let data = tar_with(|b| {
            let mut h = file_header(tar::EntryType::Regular, 1);
            b.append_data(&mut h, "link/file", &b"x"[..]).unwrap();
        });
        let err = extract_tar(&data[..], dest.path()).unwrap_err();
        assert!(matches!(err, Error::UnsafeArchiveEntry { .. }), "{err}");
        assert!(!outside.path().join("file").exists());
    }

    #[test]
    fn skips_hard_links_and_devices() {
        let data = tar_with(|b| {
            let mut h = file_header(tar::EntryType::Regular, 1);
            b.append_data(&mut h, "f", &b"x"[..]).unwrap();
            let mut h = file_header(tar::EntryType::Link, 0);
            b.append_link(&mut h, "hard", "/etc/passwd").unwrap();
            let mut h = file_header(tar::EntryType::Fifo, 0);
            b.append_data(&mut h, "fifo", &[][..]).unwrap();
        });
        let dest = tempfile::tempdir().unwrap();
        extract_tar(&data[..], dest.path()).unwrap();
        assert!(dest.path().join("f").exists());
        assert!(std::fs::symlink_metadata(dest.path().join("hard")).is_err());
        assert!(std::fs::symlink_metadata(dest.path().join("fifo")).is_err());
    }
}
