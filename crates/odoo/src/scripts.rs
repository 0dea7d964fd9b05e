//! Upgrade-script discovery, version-folder rules, run condition and order
//! (`odoo/modules/migration.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::version::{parse_version, ParsedVersion, Series};

/// Odoo's `VERSION_RE`: an optional series prefix, then 2 or 3 numbers.
static VERSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^((6\.1|[6-9]\.0|[1-9][0-9]+\.0|(7|8|9|10)\.saas~[1-9][0-9]*|saas~(1[1-9]|[2-9][0-9]+)\.[1-9])\.)?[0-9]+\.[0-9]+(\.[0-9]+)?$",
    )
    .unwrap_or_else(|_| unreachable!("constant regex"))
});

/// When a script runs relative to its module's loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Before the module is loaded (old schema).
    Pre,
    /// After the module is loaded and its data updated.
    Post,
    /// After all modules are loaded.
    End,
}

impl Stage {
    /// All stages.
    pub const ALL: [Stage; 3] = [Stage::Pre, Stage::Post, Stage::End];

    /// The stage a file name selects (`pre-`, `post-`, `end-`; case-sensitive).
    pub fn of_file(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| name.starts_with(&format!("{}-", s.as_str())))
    }

    /// `pre`, `post` or `end`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Pre => "pre",
            Stage::Post => "post",
            Stage::End => "end",
        }
    }

    /// Odoo's log marker: `[>v]` pre, `[v>]` post, `[$v]` end.
    pub fn marker(self, version: &str) -> String {
        match self {
            Stage::Pre => format!("[>{version}]"),
            Stage::Post => format!("[{version}>]"),
            Stage::End => format!("[${version}]"),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a script was found; also the tie-break order between same-named files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Source {
    /// `<module>/migrations/<version>/`
    #[serde(rename = "migrations")]
    Migrations,
    /// `<module>/upgrades/<version>/`
    #[serde(rename = "upgrades")]
    Upgrades,
    /// `<upgrade-path>/<module>/<version>/`
    #[serde(rename = "upgrade-path")]
    UpgradePath,
}

/// Which Odoo's folder normalisation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FolderRules {
    /// 16.0: a folder with 2 or more dots is taken as a full version (`1.0.0` never runs).
    V16,
    /// 17.0+: only more than 2 dots means a full version.
    V17,
}

impl FolderRules {
    /// The rules of a series.
    pub fn for_series(series: &Series) -> FolderRules {
        if series.is_17_or_later() {
            FolderRules::V17
        } else {
            FolderRules::V16
        }
    }
}

/// Whether Odoo accepts a version folder name (`VERSION_RE`; `tests` is not one).
pub fn is_valid_folder_name(name: &str) -> bool {
    name != "tests" && VERSION_RE.is_match(name)
}

/// Odoo's `convert_version`: the full version a folder stands for.
pub fn normalise_folder(series: &Series, folder: &str, rules: FolderRules) -> String {
    let dots = folder.matches('.').count();
    let full = match rules {
        FolderRules::V17 => dots > 2,
        FolderRules::V16 => dots >= 2,
    };
    if folder == "0.0.0" || full {
        folder.to_string()
    } else {
        format!("{series}.{folder}")
    }
}

/// One script file of a version folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptFile {
    /// The raw version folder name.
    pub folder: String,
    /// Where it was found.
    pub source: Source,
    /// Full path.
    pub path: PathBuf,
    /// File name (what Odoo sorts on).
    pub file_name: String,
}

/// A directory Odoo skips, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The directory.
    pub path: PathBuf,
    /// Odoo's reason.
    pub reason: String,
}

/// The `*.py` files of every valid version folder of one module, all sources merged.
#[derive(Debug, Clone, Default)]
pub struct ModuleScripts {
    /// Raw folder name -> files (any prefix; stage is chosen when running).
    pub folders: BTreeMap<String, Vec<ScriptFile>>,
    /// Version folders Odoo skips (invalid names, `tests`).
    pub skipped: Vec<Skipped>,
}

/// The source directories of a module's scripts, in Odoo's order.
pub(crate) fn script_dirs(
    module: &str,
    module_dir: Option<&Path>,
    upgrade_paths: &[PathBuf],
) -> Vec<(Source, PathBuf)> {
    let mut dirs = Vec::new();
    if let Some(dir) = module_dir {
        dirs.push((Source::Migrations, dir.join("migrations")));
        dirs.push((Source::Upgrades, dir.join("upgrades")));
    }
    dirs.extend(
        upgrade_paths
            .iter()
            .map(|p| (Source::UpgradePath, p.join(module))),
    );
    dirs
}

/// Finds a module's upgrade scripts like `MigrationManager._get_files`.
pub fn discover_scripts(
    module: &str,
    module_dir: Option<&Path>,
    upgrade_paths: &[PathBuf],
) -> ModuleScripts {
    let mut out = ModuleScripts::default();
    for (source, dir) in script_dirs(module, module_dir, upgrade_paths) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(folder) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !path.is_dir() {
                continue;
            }
            if folder == "tests" {
                out.skipped.push(Skipped {
                    path,
                    reason: "tests folders are skipped".into(),
                });
                continue;
            }
            if !VERSION_RE.is_match(&folder) {
                out.skipped.push(Skipped {
                    path,
                    reason: "Invalid version for upgrade script".into(),
                });
                continue;
            }
            let files = py_files(&path, &folder, source);
            out.folders.entry(folder).or_default().extend(files);
        }
    }
    out
}

/// `glob(<folder>/*.py)`: top-level, not hidden, regular files.
fn py_files(dir: &Path, folder: &str, source: Source) -> Vec<ScriptFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let keep = name.ends_with(".py") && !name.starts_with('.') && e.path().is_file();
            keep.then(|| ScriptFile {
                folder: folder.to_string(),
                source,
                path: e.path(),
                file_name: name,
            })
        })
        .collect()
}

/// What decides whether and in which order scripts run for one module.
#[derive(Debug, Clone)]
pub(crate) struct RunContext<'a> {
    pub(crate) series: &'a Series,
    pub(crate) rules: FolderRules,
    /// Old `latest_version` (`""` when empty).
    pub(crate) installed: &'a str,
    /// Adapted manifest version.
    pub(crate) current: &'a str,
}

/// Odoo's `compare`: does a version folder run for this update?
pub(crate) fn folder_runs(ctx: &RunContext<'_>, folder: &str) -> bool {
    let installed = parse_version(ctx.installed);
    let current = parse_version(ctx.current);
    if folder == "0.0.0" && installed < current {
        return true;
    }
    let full = normalise_folder(ctx.series, folder, ctx.rules);
    let parsed = parse_version(&full);
    if full != folder {
        // Version-less folders compare without the series, so a `2.0` script
        // does not run again when the module moves to the next Odoo version.
        return installed.tail(2) < parsed.tail(2) && parsed.tail(2) <= current.tail(2);
    }
    installed < parsed && parsed <= current
}

/// The folders of a module in execution order for a stage (`0.0.0` first for
/// `pre`, last otherwise), whether they run or not.
pub(crate) fn ordered_folders(
    scripts: &ModuleScripts,
    ctx: &RunContext<'_>,
    stage: Stage,
) -> Vec<String> {
    let key = |f: &String| -> (ParsedVersion, String) {
        (
            parse_version(&normalise_folder(ctx.series, f, ctx.rules)),
            f.clone(),
        )
    };
    let mut folders: Vec<String> = scripts
        .folders
        .iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(f, _)| f.clone())
        .collect();
    folders.sort_by_key(key);
    if let Some(pos) = folders.iter().position(|f| f == "0.0.0") {
        let zero = folders.remove(pos);
        match stage {
            Stage::Pre => folders.insert(0, zero),
            _ => folders.push(zero),
        }
    }
    folders
}

/// The scripts of one module and stage that run, in Odoo's order.
pub fn scripts_to_run(
    scripts: &ModuleScripts,
    series: &Series,
    rules: FolderRules,
    installed: &str,
    current: &str,
    stage: Stage,
) -> Vec<ScriptFile> {
    let ctx = RunContext {
        series,
        rules,
        installed,
        current,
    };
    let mut out = Vec::new();
    for folder in ordered_folders(scripts, &ctx, stage) {
        if !folder_runs(&ctx, &folder) {
            continue;
        }
        let mut files: Vec<ScriptFile> = scripts.folders[&folder]
            .iter()
            .filter(|f| Stage::of_file(&f.file_name) == Some(stage))
            .cloned()
            .collect();
        // Lexical by file name; sources in Odoo's order break ties (stable sort).
        files.sort_by(|a, b| (&a.file_name, a.source).cmp(&(&b.file_name, b.source)));
        out.extend(files);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s17() -> Series {
        "17.0".parse().unwrap()
    }

    #[test]
    fn folder_name_validation_follows_version_re() {
        for ok in [
            "1.0",
            "1.0.0",
            "0.0.0",
            "17.0.1.0",
            "17.0.1.0.0",
            "6.1.1.0",
            "saas~17.1.1.0",
            "10.saas~3.1.0",
            "9.0.1.0",
            "17.0.1",
        ] {
            assert!(is_valid_folder_name(ok), "{ok}");
        }
        for bad in [
            "tests",
            "1",
            "1.0.0.0",
            "v1.0",
            "saas~17.0.1.0",
            "5.0.1.0",
            "1.0-beta",
            "17.0.1.0.0.0",
        ] {
            assert!(!is_valid_folder_name(bad), "{bad}");
        }
    }

    #[test]
    fn normalisation_17_and_16() {
        let s = s17();
        assert_eq!(normalise_folder(&s, "2.0", FolderRules::V17), "17.0.2.0");
        assert_eq!(
            normalise_folder(&s, "1.0.0", FolderRules::V17),
            "17.0.1.0.0"
        );
        assert_eq!(
            normalise_folder(&s, "17.0.1.1", FolderRules::V17),
            "17.0.1.1"
        );
        assert_eq!(normalise_folder(&s, "0.0.0", FolderRules::V17), "0.0.0");
        let s16: Series = "16.0".parse().unwrap();
        assert_eq!(normalise_folder(&s16, "1.0.0", FolderRules::V16), "1.0.0");
        assert_eq!(normalise_folder(&s16, "1.0", FolderRules::V16), "16.0.1.0");
        assert_eq!(FolderRules::for_series(&s16), FolderRules::V16);
    }

    fn ctx<'a>(s: &'a Series, installed: &'a str, current: &'a str) -> RunContext<'a> {
        RunContext {
            series: s,
            rules: FolderRules::V17,
            installed,
            current,
        }
    }

    #[test]
    fn run_condition_installed_lt_folder_le_current() {
        let s = s17();
        let c = ctx(&s, "17.0.1.0", "17.0.1.2");
        assert!(!folder_runs(&c, "17.0.1.0"));
        assert!(folder_runs(&c, "17.0.1.1"));
        assert!(folder_runs(&c, "17.0.1.2"));
        assert!(!folder_runs(&c, "17.0.1.3"));
        assert!(folder_runs(&c, "1.2"));
        assert!(folder_runs(&c, "0.0.0"));
        assert!(folder_runs(&c, "1.1.0"), "17.0 reads 1.1.0 as 17.0.1.1.0");
        let again = ctx(&s, "17.0.1.2", "17.0.1.2");
        assert!(
            !folder_runs(&again, "0.0.0"),
            "no version increase, nothing runs"
        );
        assert!(!folder_runs(&again, "1.2"));
    }

    #[test]
    fn version_less_folders_compare_without_series() {
        let s = s17();
        // Upgrading from 16.0.2.0 to 17.0.2.0: a `2.0` script already ran on 16.0.
        let c = ctx(&s, "16.0.2.0", "17.0.2.0");
        assert!(!folder_runs(&c, "2.0"));
        assert!(folder_runs(&c, "17.0.2.0"));
        assert!(
            folder_runs(&c, "16.0.3.0"),
            "full versions compare with their series"
        );
        assert!(folder_runs(&c, "0.0.0"));
    }

    #[test]
    fn sixteen_rules_never_run_three_part_folders() {
        let s16: Series = "16.0".parse().unwrap();
        let c = RunContext {
            series: &s16,
            rules: FolderRules::V16,
            installed: "16.0.1.0",
            current: "16.0.1.0.1",
        };
        assert!(!folder_runs(&c, "1.0.1"));
        let c17 = RunContext {
            series: &s16,
            rules: FolderRules::V17,
            ..c
        };
        assert!(folder_runs(&c17, "1.0.1"));
    }

    #[test]
    fn empty_installed_version_reads_as_0_1() {
        let s = s17();
        let c = ctx(&s, "", "17.0.1.0");
        assert!(folder_runs(&c, "17.0.0.5"));
        assert!(folder_runs(&c, "0.0.0"));
    }

    fn scripts(files: &[(&str, Source, &str)]) -> ModuleScripts {
        let mut m = ModuleScripts::default();
        for (folder, source, name) in files {
            m.folders
                .entry(folder.to_string())
                .or_default()
                .push(ScriptFile {
                    folder: folder.to_string(),
                    source: *source,
                    path: PathBuf::from(format!("{source:?}/{folder}/{name}")),
                    file_name: name.to_string(),
                });
        }
        m
    }

    fn names(v: &[ScriptFile]) -> Vec<String> {
        v.iter()
            .map(|f| format!("{}/{}", f.folder, f.file_name))
            .collect()
    }

    #[test]
    fn zero_folder_first_for_pre_last_for_post_and_end() {
        use Source::*;
        let m = scripts(&[
            ("0.0.0", Migrations, "pre-z.py"),
            ("0.0.0", Migrations, "post-z.py"),
            ("0.0.0", Migrations, "end-z.py"),
            ("1.1", Migrations, "pre-a.py"),
            ("1.1", Migrations, "post-a.py"),
            ("1.1", Migrations, "end-a.py"),
            ("17.0.1.2", Migrations, "pre-b.py"),
            ("17.0.1.2", Migrations, "post-b.py"),
        ]);
        let s = s17();
        let run = |st| {
            names(&scripts_to_run(
                &m,
                &s,
                FolderRules::V17,
                "17.0.1.0",
                "17.0.1.2",
                st,
            ))
        };
        assert_eq!(
            run(Stage::Pre),
            ["0.0.0/pre-z.py", "1.1/pre-a.py", "17.0.1.2/pre-b.py"]
        );
        assert_eq!(
            run(Stage::Post),
            ["1.1/post-a.py", "17.0.1.2/post-b.py", "0.0.0/post-z.py"]
        );
        assert_eq!(run(Stage::End), ["1.1/end-a.py", "0.0.0/end-z.py"]);
    }

    #[test]
    fn folders_ascend_by_parse_version_not_by_text() {
        use Source::*;
        let m = scripts(&[
            ("1.10", Migrations, "pre-c.py"),
            ("1.9", Migrations, "pre-b.py"),
            ("17.0.1.2", Migrations, "pre-a.py"),
        ]);
        let s = s17();
        let got = names(&scripts_to_run(
            &m,
            &s,
            FolderRules::V17,
            "17.0.1.0",
            "17.0.1.10",
            Stage::Pre,
        ));
        assert_eq!(got, ["17.0.1.2/pre-a.py", "1.9/pre-b.py", "1.10/pre-c.py"]);
    }

    #[test]
    fn sources_merge_per_version_in_lexical_order() {
        use Source::*;
        let m = scripts(&[
            ("1.1", Upgrades, "pre-20-b.py"),
            ("1.1", UpgradePath, "pre-10-a.py"),
            ("1.1", Migrations, "pre-30-c.py"),
            ("1.1", Upgrades, "pre-10-a.py"),
            ("1.1", Migrations, "pre_ignored.py"),
            ("1.1", Migrations, "Pre-ignored.py"),
        ]);
        let s = s17();
        let got = scripts_to_run(&m, &s, FolderRules::V17, "17.0.1.0", "17.0.1.1", Stage::Pre);
        let order: Vec<_> = got
            .iter()
            .map(|f| (f.file_name.as_str(), f.source))
            .collect();
        assert_eq!(
            order,
            [
                ("pre-10-a.py", Upgrades),
                ("pre-10-a.py", UpgradePath),
                ("pre-20-b.py", Upgrades),
                ("pre-30-c.py", Migrations)
            ]
        );
    }

    #[test]
    fn discovery_reads_all_sources_and_skips_bad_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let module = tmp.path().join("addons/m");
        let up = tmp.path().join("up");
        for (dir, file) in [
            (module.join("migrations/1.1"), "pre-a.py"),
            (module.join("upgrades/1.1"), "post-b.py"),
            (up.join("m/17.0.1.1"), "end-c.py"),
            (module.join("migrations/tests"), "pre-t.py"),
            (module.join("migrations/v2"), "pre-x.py"),
            (module.join("migrations/1.1/sub"), "pre-nested.py"),
        ] {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), "def migrate(cr, version): pass\n").unwrap();
        }
        std::fs::write(module.join("migrations/1.1/notes.txt"), "x").unwrap();
        let found = discover_scripts("m", Some(&module), &[up]);
        let mut all: Vec<_> = found
            .folders
            .values()
            .flatten()
            .map(|f| (f.folder.clone(), f.file_name.clone(), f.source))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                ("1.1".into(), "post-b.py".into(), Source::Upgrades),
                ("1.1".into(), "pre-a.py".into(), Source::Migrations),
                ("17.0.1.1".into(), "end-c.py".into(), Source::UpgradePath),
            ]
        );
        assert_eq!(found.skipped.len(), 2);
    }

    #[test]
    fn stage_prefix_is_case_sensitive_with_hyphen() {
        assert_eq!(Stage::of_file("pre-x.py"), Some(Stage::Pre));
        assert_eq!(Stage::of_file("end-.py"), Some(Stage::End));
        assert_eq!(Stage::of_file("pre_x.py"), None);
        assert_eq!(Stage::of_file("PRE-x.py"), None);
        assert_eq!(Stage::Post.marker("17.0.1.1"), "[17.0.1.1>]");
        assert_eq!(Stage::End.marker("1.1"), "[$1.1]");
    }
}
