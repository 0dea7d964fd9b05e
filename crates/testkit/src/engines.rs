//! Upgrade engines without PyPI: an OpenUpgrade folder laid out as OCA/OpenUpgrade, and a
//! folder of packages offering pip a stand-in `openupgradelib` wheel (`PIP_NO_INDEX`,
//! `PIP_FIND_LINKS`), so tests register ready engines offline. The stand-in is NOT
//! openupgradelib: it only lets the engine's virtualenv be made and found.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The Odoo stand-in's source tree (`tests/fixtures/odoo-standin`, series 17.0), NOT Odoo.
pub fn odoo_standin_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/odoo-standin"
    ))
}

/// A copy of the Odoo stand-in that says it is `series` (`13.0`), to register as the runtime
/// of another series than the stand-in's own 17.0; removed on drop.
pub fn standin_of_series(series: &str) -> tempfile::TempDir {
    let (major, minor) = series.split_once('.').expect("a series such as 16.0");
    let copy = tempfile::tempdir().expect("a temporary folder");
    copy_tree(&odoo_standin_dir(), copy.path());
    let release = copy.path().join("odoo/release.py");
    let text = std::fs::read_to_string(&release).unwrap();
    assert!(
        text.contains("version_info = (17, 0, 0,"),
        "the stand-in's release.py changed shape"
    );
    let changed = text.replace(
        "version_info = (17, 0, 0,",
        &format!("version_info = ({major}, {minor}, 0,"),
    );
    std::fs::write(&release, changed).unwrap();
    open_to_all(copy.path());
    copy
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

/// The folders an engine is added from; removed on drop.
pub struct EngineFixture {
    root: tempfile::TempDir,
}

impl EngineFixture {
    /// Makes both folders, readable by every uid (pip may run in a sandbox as another).
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        let fixture = Self { root };
        let ou = fixture.openupgrade_dir();
        for (file, text) in [
            (
                "openupgrade_framework/__manifest__.py",
                "{'name': 'OpenUpgrade Framework (test)', 'version': '17.0.1.0.0'}\n",
            ),
            (
                "openupgrade_scripts/__manifest__.py",
                "{'name': 'OpenUpgrade Scripts (test)', 'version': '17.0.1.0.0'}\n",
            ),
            (
                "openupgrade_scripts/apriori.py",
                "renamed_modules = {}\nmerged_modules = {}\n",
            ),
        ] {
            let path = ou.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(ou.join("openupgrade_scripts/scripts/base/17.0.1.3")).unwrap();
        write_wheel(&fixture.wheels_dir());
        open_to_all(fixture.root.path());
        fixture
    }

    /// A folder laid out as OCA/OpenUpgrade (`--openupgrade-dir`).
    pub fn openupgrade_dir(&self) -> PathBuf {
        self.root.path().join("openupgrade")
    }

    /// The folder holding the stand-in `openupgradelib` wheel.
    pub fn wheels_dir(&self) -> PathBuf {
        self.root.path().join("wheels")
    }

    /// The environment that makes pip take packages from [`Self::wheels_dir`] only.
    pub fn pip_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PIP_NO_INDEX", "1".into()),
            ("PIP_FIND_LINKS", self.wheels_dir().display().to_string()),
        ]
    }

    /// Sets [`Self::pip_env`] in this process (each test runs in its own process under
    /// nextest), for a server run in-process or spawned from it.
    pub fn set_pip_env(&self) {
        for (key, value) in self.pip_env() {
            std::env::set_var(key, value);
        }
    }
}

impl Default for EngineFixture {
    fn default() -> Self {
        Self::new()
    }
}

/// `openupgradelib-0.0.0-py3-none-any.whl`: a package whose only content says it is a stand-in.
fn write_wheel(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let file = std::fs::File::create(dir.join("openupgradelib-0.0.0-py3-none-any.whl")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let info = "openupgradelib-0.0.0.dist-info";
    for (name, text) in [
        ("openupgradelib/__init__.py".to_string(), "\"\"\"Slipway's test stand-in, NOT openupgradelib.\"\"\"\n"),
        (format!("{info}/METADATA"), "Metadata-Version: 2.1\nName: openupgradelib\nVersion: 0.0.0\n"),
        (format!("{info}/WHEEL"), "Wheel-Version: 1.0\nGenerator: slipway-testkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (format!("{info}/RECORD"), ""),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn open_to_all(dir: &Path) {
    for entry in walk(dir) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(walk(&path));
        } else {
            all.push(path);
        }
    }
    all
}
