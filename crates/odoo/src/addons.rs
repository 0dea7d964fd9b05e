//! Addons discovery over addons paths: the first path holding a module name wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::{parse_manifest, Manifest};
use crate::version::{adapt_version, Series};

/// Manifest file names, in Odoo's order of preference.
pub const MANIFEST_NAMES: [&str; 2] = ["__manifest__.py", "__openerp__.py"];

/// A module found in an addons path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Addon {
    /// Technical name (the directory name).
    pub name: String,
    /// The module directory.
    pub path: PathBuf,
    /// The manifest as read, with defaults.
    pub manifest: Manifest,
    /// `adapt_version(manifest.version)`; `None` when rejected (only allowed if not installable).
    pub full_version: Option<String>,
}

/// Something wrong or noteworthy about a file: a bad manifest, a deprecated name...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file or directory concerned (with `:line` when known).
    pub path: String,
    /// What is wrong, for a human.
    pub message: String,
}

/// The result of scanning addons paths.
#[derive(Debug, Clone, Default)]
pub struct AddonsScan {
    /// Modules by name (first addons path wins).
    pub addons: BTreeMap<String, Addon>,
    /// Manifests that could not be read, deprecated names, missing paths.
    pub problems: Vec<Problem>,
}

/// Scans addons paths in order, like Odoo's `get_module_path`.
pub fn scan_addons(paths: &[PathBuf], series: &Series) -> AddonsScan {
    let mut scan = AddonsScan::default();
    for root in paths {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) => {
                scan.problems.push(Problem {
                    path: root.display().to_string(),
                    message: format!("addons path cannot be read: {e}"),
                });
                continue;
            }
        };
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if scan.addons.contains_key(&name) {
                continue;
            }
            if let Some(addon) = read_addon(&dir, &name, series, &mut scan.problems) {
                scan.addons.insert(name, addon);
            }
        }
    }
    scan
}

fn manifest_file(dir: &Path) -> Option<PathBuf> {
    MANIFEST_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn read_addon(
    dir: &Path,
    name: &str,
    series: &Series,
    problems: &mut Vec<Problem>,
) -> Option<Addon> {
    let file = manifest_file(dir)?;
    if file.ends_with("__openerp__.py") {
        problems.push(Problem {
            path: file.display().to_string(),
            message:
                "__openerp__.py manifests are deprecated since 17.0, rename it to __manifest__.py"
                    .into(),
        });
    }
    let src = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) => {
            problems.push(Problem {
                path: file.display().to_string(),
                message: format!("cannot read: {e}"),
            });
            return None;
        }
    };
    let manifest = match parse_manifest(&src) {
        Ok(m) => m,
        Err(e) => {
            let path = match e.line {
                Some(line) => format!("{}:{line}", file.display()),
                None => file.display().to_string(),
            };
            problems.push(Problem {
                path,
                message: format!("invalid manifest: {}", e.message),
            });
            return None;
        }
    };
    let full_version = match adapt_version(series, &manifest.version) {
        Ok(v) => Some(v),
        Err(e) if manifest.installable => {
            problems.push(Problem {
                path: file.display().to_string(),
                message: format!("module {name}: invalid manifest: {e}"),
            });
            return None;
        }
        Err(_) => None,
    };
    Some(Addon {
        name: name.to_string(),
        path: dir.to_path_buf(),
        manifest,
        full_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn module(root: &Path, name: &str, manifest: &str) {
        fs::create_dir_all(root.join(name)).unwrap();
        fs::write(root.join(name).join("__manifest__.py"), manifest).unwrap();
    }

    #[test]
    fn first_addons_path_wins_and_bad_manifests_are_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        module(&a, "sale_x", "{'version': '1.1'}");
        module(&b, "sale_x", "{'version': '9.9'}");
        module(&b, "broken", "{\n  'name': 'x'\n  'version': '1.0'}");
        fs::create_dir_all(b.join("old")).unwrap();
        fs::write(b.join("old/__openerp__.py"), "{'installable': False}").unwrap();
        fs::create_dir_all(b.join("not_a_module")).unwrap();
        let scan = scan_addons(&[a.clone(), b.clone()], &"17.0".parse().unwrap());
        let names: Vec<_> = scan.addons.keys().cloned().collect();
        assert_eq!(names, ["old", "sale_x"]);
        assert_eq!(
            scan.addons["sale_x"].full_version.as_deref(),
            Some("17.0.1.1")
        );
        assert!(scan.addons["sale_x"].path.starts_with(&a));
        let broken = scan
            .problems
            .iter()
            .find(|p| p.path.contains("broken"))
            .unwrap();
        assert!(
            broken.path.ends_with("__manifest__.py:3"),
            "{}",
            broken.path
        );
        assert!(scan
            .problems
            .iter()
            .any(|p| p.message.contains("__openerp__.py")));
    }

    #[test]
    fn rejected_version_is_a_problem_only_when_installable() {
        let tmp = tempfile::tempdir().unwrap();
        module(tmp.path(), "bad", "{'version': '1'}");
        module(tmp.path(), "off", "{'version': '1', 'installable': False}");
        let scan = scan_addons(&[tmp.path().to_path_buf()], &"17.0".parse().unwrap());
        assert!(!scan.addons.contains_key("bad"));
        assert_eq!(scan.addons["off"].full_version, None);
        assert_eq!(scan.problems.len(), 1);
    }
}
