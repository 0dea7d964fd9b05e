//! A registered Odoo source tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_odoo::Series;

use crate::Error;

/// A registered Odoo source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooSource {
    /// The tree's root (holding `odoo-bin`).
    pub root: PathBuf,
    /// Its series, from `odoo/release.py`.
    pub series: Series,
    /// `root/odoo-bin`.
    pub odoo_bin: PathBuf,
}

impl OdooSource {
    /// Checks `root/odoo-bin` and reads the series from `root/odoo/release.py`
    /// (`version_info`, else `serie`).
    pub fn inspect(root: &Path) -> Result<OdooSource, Error> {
        let bad = |message: String| Error::OdooSource {
            root: root.to_path_buf(),
            message,
        };
        let root = root
            .canonicalize()
            .map_err(|e| bad(format!("cannot open the directory: {e}")))?;
        let odoo_bin = root.join("odoo-bin");
        if !odoo_bin.is_file() {
            return Err(bad("no odoo-bin file at its root".into()));
        }
        let release = root.join("odoo").join("release.py");
        let text = std::fs::read_to_string(&release)
            .map_err(|e| bad(format!("cannot read {}: {e}", release.display())))?;
        let series = series_from_release(&text).ok_or_else(|| {
            bad(format!(
                "{} has no version_info or serie Slipway can read",
                release.display()
            ))
        })?;
        Ok(OdooSource {
            root,
            series,
            odoo_bin,
        })
    }

    /// `root/addons` and `root/odoo/addons` that exist, in that order (the
    /// addons path Odoo's own documentation gives for a source install).
    pub fn addons_dirs(&self) -> Vec<PathBuf> {
        [
            self.root.join("addons"),
            self.root.join("odoo").join("addons"),
        ]
        .into_iter()
        .filter(|p| p.is_dir())
        .collect()
    }

    /// `root/requirements.txt` if present.
    pub fn requirements(&self) -> Option<PathBuf> {
        Some(self.root.join("requirements.txt")).filter(|p| p.is_file())
    }

    /// A short revision of the tree for cache keys: `git:<HEAD>` when the root
    /// is the top of a clean git checkout, else `tree:<hash>` of
    /// `odoo/release.py` and the list of files with their sizes (no mtimes,
    /// no contents: cheap on Odoo's 50 000 files, blind to a same-size edit).
    pub fn revision(&self) -> String {
        if let Some(head) = git_head(&self.root) {
            return format!("git:{head}");
        }
        let mut h = blake3::Hasher::new();
        if let Ok(release) = std::fs::read(self.root.join("odoo").join("release.py")) {
            h.update(&release);
        }
        let mut files = Vec::new();
        list_files(&self.root, &self.root, &mut files);
        files.sort();
        for (rel, size) in files {
            h.update(rel.as_bytes());
            h.update(&[0]);
            h.update(&size.to_le_bytes());
        }
        format!("tree:{}", &h.finalize().to_hex()[..16])
    }
}

/// HEAD of a clean checkout whose top level is `root`.
fn git_head(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root {
        return None;
    }
    if !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        return None;
    }
    git(&["rev-parse", "HEAD"])
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == ".git" || name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() {
            list_files(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().into_owned(), meta.len()));
        }
    }
}

/// The series of an Odoo `release.py`: `version_info = (17, 0, ...)` gives
/// `17.0`, `('saas~17', 1, ...)` gives `saas~17.1`; else a literal
/// `serie = '17.0'`.
pub fn series_from_release(text: &str) -> Option<Series> {
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("version_info") {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let inner = rest.strip_prefix('(')?;
            let mut parts = inner.split(',').map(|p| p.trim().trim_matches(['\'', '"']));
            let (major, minor) = (parts.next()?, parts.next()?);
            let text = match major.strip_prefix("saas~") {
                Some(m) => format!("saas~{m}.{minor}"),
                None => format!("{major}.{minor}"),
            };
            return text.parse().ok();
        }
    }
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let keys: Vec<&str> = key.split_whitespace().collect();
        (keys == ["serie"] || keys == ["series"])
            .then(|| value.trim().trim_matches(['\'', '"']).parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_from_odoo_release_files() {
        let v17 = "RELEASE_LEVELS = [ALPHA, BETA, RELEASE_CANDIDATE, FINAL] = ['alpha', 'beta', 'candidate', 'final']\n\
                   version_info = (17, 0, 0, FINAL, 0, '')\n\
                   serie = major_version = '.'.join(str(s) for s in version_info[:2])\n";
        assert_eq!(series_from_release(v17).unwrap().to_string(), "17.0");
        let saas = "version_info = ('saas~17', 1, 0, ALPHA, 1, '')\n";
        assert_eq!(series_from_release(saas).unwrap().to_string(), "saas~17.1");
        assert_eq!(
            series_from_release("serie = '16.0'\n").unwrap().to_string(),
            "16.0"
        );
        assert!(series_from_release("print('hello')\n").is_none());
        assert!(series_from_release("version_info = (banana, 0)\n").is_none());
    }

    #[test]
    fn inspect_refuses_what_is_not_an_odoo_tree() {
        let dir = tempfile::tempdir().unwrap();
        let err = OdooSource::inspect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no odoo-bin"), "{err}");
        std::fs::write(dir.path().join("odoo-bin"), "").unwrap();
        let err = OdooSource::inspect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("release.py"), "{err}");
        std::fs::create_dir(dir.path().join("odoo")).unwrap();
        std::fs::write(dir.path().join("odoo/release.py"), "x = 1\n").unwrap();
        let err = OdooSource::inspect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no version_info"), "{err}");
        std::fs::write(
            dir.path().join("odoo/release.py"),
            "version_info = (16, 0, 0, 'final', 0, '')\n",
        )
        .unwrap();
        let src = OdooSource::inspect(dir.path()).unwrap();
        assert_eq!(src.series.to_string(), "16.0");
        assert!(src.addons_dirs().is_empty());
        assert!(src.requirements().is_none());
        let before = src.revision();
        assert!(before.starts_with("tree:"), "{before}");
        std::fs::create_dir(dir.path().join("addons")).unwrap();
        std::fs::write(dir.path().join("addons/x.py"), "x").unwrap();
        assert_ne!(src.revision(), before);
        assert_eq!(src.addons_dirs(), vec![src.root.join("addons")]);
    }
}
