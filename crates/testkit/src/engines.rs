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

/// A copy of the Odoo stand-in that says it is `series` (`16.0`, `18.0`), to register as the
/// runtime of another series than the stand-in's own 17.0: the databases it makes carry that
/// series, it updates older ones to it and serves no other; removed on drop.
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

/// `openupgrade_scripts/apriori.py` of a series: OpenUpgrade 17.0's merges `web_kanban_gauge`
/// into `web` (what `v16_base.zip` needs); other series rename and merge nothing here.
fn apriori(series: &str) -> String {
    let merged = match series {
        "17.0" => "{'web_kanban_gauge': 'web'}",
        _ => "{}",
    };
    format!(
        "\"\"\"Slipway's test OpenUpgrade (NOT OpenUpgrade): modules renamed and merged in {series}.\"\"\"\n\
         renamed_modules = {{}}\nmerged_modules = {merged}\n"
    )
}

/// `base`'s pre-migration: what OpenUpgrade's does for the modules `apriori.py` renames or
/// merges, in plain SQL through `cr` (the stand-in `openupgradelib` is empty), plus a marker.
const BASE_PRE_MIGRATION: &str = r#""""Slipway's test OpenUpgrade (NOT OpenUpgrade): base's pre-migration."""
import os


def apriori():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'apriori.py')
    scope = {}
    with open(path, encoding='utf-8') as f:
        exec(compile(f.read(), path, 'exec'), scope)
    return scope.get('renamed_modules', {}), scope.get('merged_modules', {})


def module_id(cr, name):
    cr.execute("SELECT id FROM ir_module_module WHERE name = %s", (name,))
    row = cr.fetchone()
    return row and row[0]


def move_xmlids(cr, old, new):
    cr.execute("""UPDATE ir_model_data d SET module = %s WHERE module = %s AND NOT EXISTS (
                  SELECT 1 FROM ir_model_data o WHERE o.module = %s AND o.name = d.name)""", (new, old, new))
    cr.execute("DELETE FROM ir_model_data WHERE module = %s", (old,))
    cr.execute("UPDATE ir_module_module_dependency SET name = %s WHERE name = %s", (new, old))


def migrate(cr, version):
    renamed, merged = apriori()
    for old, new in renamed.items():
        if module_id(cr, old) and not module_id(cr, new):
            move_xmlids(cr, old, new)
            cr.execute("UPDATE ir_module_module SET name = %s WHERE name = %s", (new, old))
            cr.execute("UPDATE ir_model_data SET name = %s WHERE module = 'base' AND name = %s",
                       ('module_' + new, 'module_' + old))
    for old, new in merged.items():
        cr.execute("SELECT id FROM ir_module_module WHERE name = %s AND state IN ('installed', 'to upgrade')",
                   (old,))
        row = cr.fetchone()
        if not row:
            continue
        move_xmlids(cr, old, new)
        cr.execute("DELETE FROM ir_module_module_dependency WHERE module_id = %s", (row[0],))
        if module_id(cr, new):
            cr.execute("DELETE FROM ir_module_module WHERE id = %s", (row[0],))
            cr.execute("DELETE FROM ir_model_data WHERE module = 'base' AND name = %s", ('module_' + old,))
        else:
            cr.execute("UPDATE ir_module_module SET name = %s WHERE id = %s", (new, row[0]))
    cr.execute("""INSERT INTO ir_config_parameter (key, value) VALUES ('openupgrade_test.base_pre_migration', %s)
                  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""", (version,))
"#;

/// `base`'s post-migration: a marker, and the WARNING line OpenUpgrade's framework writes for
/// each obsolete column it keeps (logged as `openupgradelib.openupgrade.message` does).
const BASE_POST_MIGRATION: &str = r#""""Slipway's test OpenUpgrade (NOT OpenUpgrade): base's post-migration."""
import logging

_logger = logging.getLogger('OpenUpgrade')


def migrate(cr, version):
    _logger.warning('Module Unknown: Not dropping the column of field %s of model %s', 'standin_obsolete', 'res.partner')
    cr.execute("""INSERT INTO ir_config_parameter (key, value) VALUES ('openupgrade_test.base_post_migration', %s)
                  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""", (version,))
"#;

impl EngineFixture {
    /// An engine for 17.0: see [`Self::for_series`].
    pub fn new() -> Self {
        Self::for_series("17.0")
    }

    /// The folders of an engine for `series` (`17.0`, `18.0`), readable by every uid (pip may
    /// run in a sandbox as another): OpenUpgrade's two addons with that series' manifests, its
    /// `apriori.py`, and base scripts for the stand-in's base (`<series>.1.3`) that rename and
    /// merge modules as OpenUpgrade's do, leave the marker parameters
    /// `openupgrade_test.base_pre_migration` and `openupgrade_test.base_post_migration` (the
    /// old version) and log one "Not dropping the column" WARNING; and the `openupgradelib`
    /// wheel.
    pub fn for_series(series: &str) -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        let fixture = Self { root };
        let ou = fixture.openupgrade_dir();
        let framework_manifest = format!(
            "{{'name': 'OpenUpgrade Framework (test)', 'version': '{series}.1.0.0', 'installable': True}}\n"
        );
        let scripts_manifest = format!(
            "{{'name': 'OpenUpgrade Scripts (test)', 'version': '{series}.1.0.0', 'installable': True}}\n"
        );
        let base = format!("openupgrade_scripts/scripts/base/{series}.1.3");
        for (file, text) in [
            (
                "openupgrade_framework/__manifest__.py".to_string(),
                framework_manifest,
            ),
            (
                "openupgrade_framework/__init__.py".to_string(),
                String::new(),
            ),
            (
                "openupgrade_scripts/__manifest__.py".to_string(),
                scripts_manifest,
            ),
            ("openupgrade_scripts/__init__.py".to_string(), String::new()),
            (
                "openupgrade_scripts/apriori.py".to_string(),
                apriori(series),
            ),
            (
                format!("{base}/pre-migration.py"),
                BASE_PRE_MIGRATION.to_string(),
            ),
            (
                format!("{base}/post-migration.py"),
                BASE_POST_MIGRATION.to_string(),
            ),
        ] {
            let path = ou.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        write_wheel(&fixture.wheels_dir());
        open_to_all(fixture.root.path());
        fixture
    }

    /// Adds `openupgrade_scripts/scripts/<module>/<version>/<file>` (e.g. `mail`, `17.0.1.15`,
    /// `post-migration.py`) with `text`, as OpenUpgrade's own scripts are laid out; returns its
    /// path. A test makes a step fail with `def migrate(cr, version): raise Exception(...)`.
    pub fn add_script(&self, module: &str, version: &str, file: &str, text: &str) -> PathBuf {
        let scripts = self.openupgrade_dir().join("openupgrade_scripts/scripts");
        let path = scripts.join(module).join(version).join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        open_to_all(&scripts.join(module));
        path
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
