//! OpenUpgrade's addons: checking a folder's layout, and fetching them from PyPI.
//!
//! PyPI has them as wheels per series (`odoo-addon-openupgrade-scripts`,
//! `odoo-addon-openupgrade-framework`), which require an `odoo` distribution that does not
//! exist: they are taken with `pip download --no-deps` and unpacked, never `pip install`ed.
//! `--only-binary=:all:` makes pip fetch wheels only, so no package code runs while fetching.

use std::path::{Path, PathBuf};

use slipway_odoo::Series;
use tokio::process::Command;

use crate::error::{Error, Result};

/// The PyPI distribution of OpenUpgrade's scripts.
pub const SCRIPTS_DIST: &str = "odoo-addon-openupgrade-scripts";
/// The PyPI distribution of OpenUpgrade's framework.
pub const FRAMEWORK_DIST: &str = "odoo-addon-openupgrade-framework";

/// What a folder holding OpenUpgrade's addons must have, relative to it.
const PARTS: &[&str] = &[
    "openupgrade_framework/__manifest__.py",
    "openupgrade_scripts/__manifest__.py",
    "openupgrade_scripts/apriori.py",
    "openupgrade_scripts/scripts/",
];

/// What `dir` lacks of OpenUpgrade's layout (`openupgrade_framework/__manifest__.py`...);
/// empty when it is whole.
pub fn missing_parts(dir: &Path) -> Vec<String> {
    PARTS
        .iter()
        .filter(|part| {
            let path = dir.join(part.trim_end_matches('/'));
            if part.ends_with('/') {
                !path.is_dir()
            } else {
                !path.is_file()
            }
        })
        .map(|part| part.to_string())
        .collect()
}

/// OpenUpgrade's renames and merges of modules (`openupgrade_scripts/apriori.py` in `dir`).
pub fn read_apriori(dir: &Path) -> Result<crate::preflight::Apriori> {
    let path = dir.join("openupgrade_scripts/apriori.py");
    let text = std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
    Ok(crate::preflight::Apriori::parse(&text))
}

/// The modules OpenUpgrade in `dir` covers for `series`: those with a version folder of the
/// series (`scripts/<module>/17.0.1.3/`) holding a migration script or a finished analysis
/// (`upgrade_analysis_work.txt`).
pub fn covered_modules(dir: &Path, series: &Series) -> std::collections::BTreeSet<String> {
    let prefix = format!("{series}.");
    let entries = |path: &Path| -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .collect()
    };
    let covers = |folder: &Path| {
        entries(folder).iter().any(|file| {
            let name = file.file_name().to_string_lossy().to_string();
            name == "upgrade_analysis_work.txt" || name.ends_with("-migration.py")
        })
    };
    entries(&dir.join("openupgrade_scripts/scripts"))
        .into_iter()
        .filter(|module| {
            entries(&module.path()).iter().any(|version| {
                version.file_name().to_string_lossy().starts_with(&prefix)
                    && covers(&version.path())
            })
        })
        .map(|module| module.file_name().to_string_lossy().to_string())
        .collect()
}

/// The pip requirement of the scripts: `version` exactly, which must be of `series`, or the
/// newest of the series.
pub fn scripts_requirement(series: &Series, version: Option<&str>) -> Result<String> {
    match version {
        None => Ok(format!("{SCRIPTS_DIST}=={series}.*")),
        Some(v) if v.starts_with(&format!("{series}.")) && is_version_text(v) => {
            Ok(format!("{SCRIPTS_DIST}=={v}"))
        }
        Some(v) => Err(Error::Invalid(format!(
            "--openupgrade {v:?} is not a version of OpenUpgrade's scripts for {series}: give one such as {series}.1.0.1.493 (see https://pypi.org/project/{SCRIPTS_DIST}/#history)"
        ))),
    }
}

fn is_version_text(v: &str) -> bool {
    v.split('.')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The distribution and version a wheel's file name says
/// (`odoo_addon_openupgrade_scripts-17.0.1.0.1.493-py3-none-any.whl`).
pub fn wheel_version<'a>(file_name: &'a str, dist: &str) -> Option<&'a str> {
    let stem = file_name.strip_suffix(".whl")?;
    let mut parts = stem.split('-');
    let name = parts.next()?;
    let version = parts.next()?;
    (name == dist.replace('-', "_")).then_some(version)
}

/// The exact versions fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `odoo-addon-openupgrade-scripts`'s.
    pub scripts_version: String,
    /// `odoo-addon-openupgrade-framework`'s.
    pub framework_version: String,
}

/// Fetches OpenUpgrade's addons of `series` from PyPI with `python`'s pip and puts them in
/// `dest` (`dest/openupgrade_framework`, `dest/openupgrade_scripts`), replacing what it held
/// only once the new ones are whole. `scripts_version` pins the scripts (else the newest of
/// the series).
pub async fn fetch_from_pypi(
    python: &str,
    series: &Series,
    scripts_version: Option<&str>,
    dest: &Path,
) -> Result<Fetched> {
    let scripts = scripts_requirement(series, scripts_version)?;
    let framework = format!("{FRAMEWORK_DIST}=={series}.*");
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    let work = tempfile::Builder::new()
        .prefix(".openupgrade-")
        .tempdir_in(parent)
        .map_err(io(format!("creating a folder in {}", parent.display())))?;
    let wheels = work.path().join("wheels");
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--dest",
        ])
        .arg(&wheels)
        .args([&scripts, &framework])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(io(format!("running {python} -m pip download")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(Error::Failed(format!(
            "pip could not download {scripts} and {framework} from PyPI ({}); check the network, or give a folder with --openupgrade-dir",
            tail.into_iter().rev().collect::<Vec<_>>().join(" ").trim()
        )));
    }
    let unpacked = work.path().join("addons");
    let mut versions = Vec::new();
    for dist in [SCRIPTS_DIST, FRAMEWORK_DIST] {
        let (wheel, version) = find_wheel(&wheels, dist)?;
        unpack_addons(&wheel, &work.path().join(dist), &unpacked).await?;
        versions.push(version);
    }
    let missing = missing_parts(&unpacked);
    if !missing.is_empty() {
        return Err(Error::Failed(format!(
            "the wheels from PyPI lack {}: they are not laid out as OpenUpgrade's addons",
            missing.join(", ")
        )));
    }
    replace_dir(&unpacked, dest, work.path())?;
    let framework_version = versions.pop().unwrap_or_default();
    let scripts_version = versions.pop().unwrap_or_default();
    Ok(Fetched {
        scripts_version,
        framework_version,
    })
}

/// The wheel of `dist` pip wrote in `dir`, and its version.
fn find_wheel(dir: &Path, dist: &str) -> Result<(PathBuf, String)> {
    let entries = std::fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))?;
    entries
        .flatten()
        .find_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let version = wheel_version(&name, dist)?.to_string();
            Some((e.path(), version))
        })
        .ok_or_else(|| Error::Failed(format!("pip downloaded no wheel of {dist}")))
}

/// Extracts `wheel` (checked as every zip Slipway reads) into `scratch`, then moves its
/// `odoo/addons/*` into `addons`.
async fn unpack_addons(wheel: &Path, scratch: &Path, addons: &Path) -> Result<()> {
    let (zip, dest) = (wheel.to_path_buf(), scratch.to_path_buf());
    tokio::task::spawn_blocking(move || {
        slipway_dump::extract_zip(&zip, &dest, &Default::default())
    })
    .await
    .map_err(|e| Error::Failed(format!("unpacking {}: {e}", wheel.display())))?
    .map_err(|e| Error::Failed(format!("unpacking {}: {e}", wheel.display())))?;
    let inner = scratch.join("odoo").join("addons");
    std::fs::create_dir_all(addons).map_err(io(format!("creating {}", addons.display())))?;
    let modules = std::fs::read_dir(&inner).map_err(io(format!(
        "{} holds no odoo/addons/ folder",
        wheel.display()
    )))?;
    for module in modules.flatten() {
        let to = addons.join(module.file_name());
        std::fs::rename(module.path(), &to).map_err(io(format!("moving {}", to.display())))?;
    }
    Ok(())
}

/// `new` becomes `dest` by renames (the old one moved aside into `work`, removed with it).
fn replace_dir(new: &Path, dest: &Path, work: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::rename(dest, work.join("previous"))
            .map_err(io(format!("moving {} aside", dest.display())))?;
    }
    std::fs::rename(new, dest).map_err(io(format!("writing {}", dest.display())))
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_give_their_versions() {
        assert_eq!(
            wheel_version(
                "odoo_addon_openupgrade_scripts-17.0.1.0.1.493-py3-none-any.whl",
                SCRIPTS_DIST
            ),
            Some("17.0.1.0.1.493")
        );
        assert_eq!(
            wheel_version(
                "odoo_addon_openupgrade_framework-17.0.1.0.0.10-py3-none-any.whl",
                SCRIPTS_DIST
            ),
            None
        );
        assert_eq!(wheel_version("README.txt", SCRIPTS_DIST), None);
    }

    #[test]
    fn a_pinned_version_must_be_of_the_series() {
        let series: Series = "17.0".parse().unwrap();
        assert_eq!(
            scripts_requirement(&series, None).unwrap(),
            "odoo-addon-openupgrade-scripts==17.0.*"
        );
        assert_eq!(
            scripts_requirement(&series, Some("17.0.1.0.1.493")).unwrap(),
            "odoo-addon-openupgrade-scripts==17.0.1.0.1.493"
        );
        for bad in ["16.0.1.0.0", "17.0.1;rm -rf", "17.0."] {
            let e = scripts_requirement(&series, Some(bad)).unwrap_err();
            assert!(e.to_string().contains("17.0"), "{e}");
        }
    }

    #[test]
    fn a_folder_is_openupgrade_when_both_addons_and_the_scripts_are_there() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(missing_parts(dir.path()).len(), 4);
        for file in [
            "openupgrade_framework/__manifest__.py",
            "openupgrade_scripts/__manifest__.py",
            "openupgrade_scripts/apriori.py",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        assert_eq!(missing_parts(dir.path()), ["openupgrade_scripts/scripts/"]);
        std::fs::create_dir(dir.path().join("openupgrade_scripts/scripts")).unwrap();
        assert!(missing_parts(dir.path()).is_empty());
    }
}

/// PyPI for real, opt-in (`SLIPWAY_TEST_PYPI=1`): CI needs no network.
#[cfg(test)]
mod pypi {
    use super::*;

    #[tokio::test]
    async fn openupgrade_17_comes_from_pypi_pinned_and_laid_out() {
        if std::env::var_os("SLIPWAY_TEST_PYPI").is_none() {
            eprintln!("SLIPWAY_TEST_PYPI is not set: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("openupgrade");
        let series: Series = "17.0".parse().unwrap();
        let fetched = fetch_from_pypi("python3", &series, None, &dest)
            .await
            .unwrap();
        assert!(fetched.scripts_version.starts_with("17.0."), "{fetched:?}");
        assert!(
            fetched.framework_version.starts_with("17.0."),
            "{fetched:?}"
        );
        assert!(missing_parts(&dest).is_empty());
        // Pinned: the same version again, and it replaces what was there.
        let again = fetch_from_pypi("python3", &series, Some(&fetched.scripts_version), &dest)
            .await
            .unwrap();
        assert_eq!(again, fetched);
        let e = fetch_from_pypi("python3", &series, Some("17.0.0.0.0.0"), &dest)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("pip could not download"), "{e}");
        assert!(
            missing_parts(&dest).is_empty(),
            "a failed fetch keeps the old addons"
        );
    }
}
