//! The upgrade-script linter: what Odoo would silently ignore or trip on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::addons::AddonsScan;
use crate::pysig::{check_migrate, MigrateCheck};
use crate::scripts::{is_valid_folder_name, normalise_folder, script_dirs, FolderRules, Stage};
use crate::version::{parse_version, Series};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; runs as meant today.
    Warning,
    /// Will not run as the author meant (the lint exits 1).
    Error,
}

/// One thing the linter found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Module concerned.
    pub module: String,
    /// File or folder concerned.
    pub path: PathBuf,
    /// What is wrong and what Odoo does with it.
    pub message: String,
}

/// All findings, sorted by module then path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LintReport {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl LintReport {
    /// Whether something would not run as the author meant.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

struct Ctx<'a> {
    module: &'a str,
    series: &'a Series,
    rules: FolderRules,
    current: Option<&'a str>,
    out: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    fn add(&mut self, severity: Severity, path: &Path, message: impl Into<String>) {
        self.out.push(Finding {
            severity,
            module: self.module.to_string(),
            path: path.to_path_buf(),
            message: message.into(),
        });
    }
}

/// Lints the upgrade scripts of every module found (and of `--upgrade-path` dirs).
pub fn lint_addons(
    scan: &AddonsScan,
    upgrade_paths: &[PathBuf],
    series: &Series,
    rules: FolderRules,
) -> LintReport {
    let mut findings = Vec::new();
    for (name, addon) in &scan.addons {
        let mut ctx = Ctx {
            module: name,
            series,
            rules,
            current: addon.full_version.as_deref(),
            out: &mut findings,
        };
        let mut normalised: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for (_, dir) in script_dirs(name, Some(&addon.path), upgrade_paths) {
            lint_source_dir(&mut ctx, &dir, &mut normalised);
        }
        for (version, dirs) in normalised {
            let mut names: Vec<String> = dirs
                .iter()
                .filter_map(|d| d.file_name()?.to_str().map(str::to_string))
                .collect();
            names.sort();
            names.dedup();
            if names.len() > 1 {
                ctx.add(Severity::Warning, &dirs[0], format!(
                    "folders {} all mean version {version}: Odoo runs them as separate versions in no guaranteed order",
                    names.join(", ")
                ));
            }
        }
    }
    for up in upgrade_paths {
        let Ok(entries) = std::fs::read_dir(up) else {
            continue;
        };
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            let name = e.file_name().to_string_lossy().to_string();
            if !scan.addons.contains_key(&name) {
                findings.push(Finding {
                    severity: Severity::Warning,
                    module: name.clone(),
                    path: e.path(),
                    message: format!("module {name} is not in the addons paths: its manifest version is unknown, scripts not checked"),
                });
            }
        }
    }
    findings
        .sort_by(|a, b| (&a.module, &a.path, &a.message).cmp(&(&b.module, &b.path, &b.message)));
    LintReport { findings }
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn lint_source_dir(ctx: &mut Ctx<'_>, dir: &Path, normalised: &mut BTreeMap<String, Vec<PathBuf>>) {
    for entry in sorted_entries(dir) {
        let name = file_name(&entry);
        if !entry.is_dir() {
            if Stage::of_file(&name).is_some() {
                ctx.add(
                    Severity::Error,
                    &entry,
                    "script outside a version folder: Odoo never runs it",
                );
            }
            continue;
        }
        if name == "__pycache__" {
            continue;
        }
        if name == "tests" {
            ctx.add(
                Severity::Warning,
                &entry,
                "`tests` folders are skipped by Odoo: none of these scripts run",
            );
            continue;
        }
        if !is_valid_folder_name(&name) {
            ctx.add(Severity::Error, &entry, format!(
                "invalid version folder {name:?}: Odoo skips it (\"Invalid version for upgrade script\"); use 0.0.0, x.y, x.y.z or {}.x.y[.z]",
                ctx.series
            ));
            continue;
        }
        let full = normalise_folder(ctx.series, &name, ctx.rules);
        normalised
            .entry(full.clone())
            .or_default()
            .push(entry.clone());
        lint_folder_version(ctx, &entry, &name, &full);
        lint_folder_files(ctx, &entry);
    }
}

fn lint_folder_version(ctx: &mut Ctx<'_>, dir: &Path, name: &str, full: &str) {
    let three_parts_no_series = name != "0.0.0" && name.matches('.').count() == 2;
    if three_parts_no_series {
        match ctx.rules {
            FolderRules::V16 => ctx.add(Severity::Error, dir, format!(
                "Odoo 16.0 reads {name:?} as a full version, lower than any 16.0 version: it never runs; name it {}.{name}",
                ctx.series
            )),
            FolderRules::V17 => ctx.add(Severity::Warning, dir, format!(
                "17.0 reads {name:?} as {full}, but Odoo 16.0 took it as a full version and never ran it"
            )),
        }
    }
    let Some(current) = ctx.current else { return };
    if name == "0.0.0" {
        return;
    }
    let (folder_v, current_v) = (parse_version(full), parse_version(current));
    let above = if full != name {
        folder_v.tail(2) > current_v.tail(2)
    } else {
        folder_v > current_v
    };
    if above {
        ctx.add(Severity::Error, dir, format!(
            "version {full} is above the manifest version {current}: these scripts never run until the version is bumped"
        ));
    }
}

fn lint_folder_files(ctx: &mut Ctx<'_>, dir: &Path) {
    let mut scripts = 0;
    for entry in sorted_entries(dir) {
        let name = file_name(&entry);
        if entry.is_dir() {
            let nested_py = sorted_entries(&entry)
                .iter()
                .any(|p| file_name(p).ends_with(".py"));
            if name != "__pycache__" && nested_py {
                ctx.add(
                    Severity::Error,
                    &entry,
                    "sub-folders of a version folder are not scanned: these scripts never run",
                );
            }
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        let stage = Stage::of_file(&name);
        match (name.ends_with(".py"), stage) {
            (true, Some(_)) => {
                scripts += 1;
                lint_script(ctx, &entry);
            }
            (true, None) if name == "__init__.py" => {}
            (true, None) => ctx.add(Severity::Error, &entry, format!(
                "{name:?} has no pre-/post-/end- prefix (case-sensitive, with a hyphen): Odoo ignores it"
            )),
            (false, Some(_)) => ctx.add(Severity::Error, &entry, "only .py files run: Odoo ignores this file"),
            (false, None) => {}
        }
    }
    if scripts == 0 {
        ctx.add(
            Severity::Warning,
            dir,
            "version folder without any pre-/post-/end- script",
        );
    }
}

fn lint_script(ctx: &mut Ctx<'_>, path: &Path) {
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => return ctx.add(Severity::Error, path, format!("cannot read: {e}")),
    };
    match check_migrate(&src) {
        MigrateCheck::Ok | MigrateCheck::Indirect(_) => {}
        MigrateCheck::Missing => ctx.add(Severity::Error, path,
            "no migrate(cr, version) function: Odoo 17 logs an error and skips the script, Odoo 18 fails"),
        MigrateCheck::Async => ctx.add(Severity::Error, path,
            "`async def migrate` only creates a coroutine when Odoo calls it: nothing runs"),
        MigrateCheck::WrongSignature(sig) => ctx.add(Severity::Error, path, format!(
            "{sig} cannot be called as migrate(cr, version): the update fails with a TypeError"
        )),
        MigrateCheck::Not18(sig) => ctx.add(Severity::Warning, path, format!(
            "{sig}: Odoo 18 requires exactly migrate(cr, version) (or _cr, _version) as positional parameters"
        )),
        MigrateCheck::Unreadable { line, message } => {
            ctx.add(Severity::Error, path, format!("line {line}: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::scan_addons;
    use std::fs;

    const OK: &str = "def migrate(cr, version):\n    pass\n";

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn lint(root: &Path, series: &str) -> LintReport {
        let s: Series = series.parse().unwrap();
        let scan = scan_addons(&[root.to_path_buf()], &s);
        lint_addons(&scan, &[], &s, FolderRules::for_series(&s))
    }

    fn has(r: &LintReport, sev: Severity, path_end: &str, words: &str) -> bool {
        r.findings
            .iter()
            .any(|f| f.severity == sev && f.path.ends_with(path_end) && f.message.contains(words))
    }

    #[test]
    fn a_clean_module_has_no_findings() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "m/__manifest__.py", "{'version': '1.2'}");
        write(tmp.path(), "m/migrations/1.2/pre-a.py", OK);
        write(tmp.path(), "m/upgrades/0.0.0/end-b.py", OK);
        write(tmp.path(), "m/migrations/1.2/README.txt", "notes");
        let r = lint(tmp.path(), "17.0");
        assert!(r.findings.is_empty(), "{:#?}", r.findings);
        assert!(!r.has_errors());
    }

    #[test]
    fn every_trap_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        write(t, "m/__manifest__.py", "{'version': '1.2'}");
        write(t, "m/migrations/1.2/pre_underscore.py", OK);
        write(t, "m/migrations/1.2/pre-data.sql", "select 1");
        write(t, "m/migrations/1.2/nested/pre-deep.py", OK);
        write(t, "m/migrations/1.2/post-nomigrate.py", "x = 1\n");
        write(
            t,
            "m/migrations/1.2/post-badsig.py",
            "def migrate(cr):\n    pass\n",
        );
        write(
            t,
            "m/migrations/1.2/end-env.py",
            "def migrate(env, version):\n    pass\n",
        );
        write(t, "m/migrations/v1.3/pre-a.py", OK);
        write(t, "m/migrations/tests/pre-a.py", OK);
        write(t, "m/migrations/1.3/pre-a.py", OK);
        write(t, "m/upgrades/17.0.1.2/pre-b.py", OK);
        write(t, "m/migrations/1.1.0/pre-c.py", OK);
        write(t, "m/migrations/pre-loose.py", OK);
        let r = lint(t, "17.0");
        assert!(r.has_errors());
        assert!(has(
            &r,
            Severity::Error,
            "pre_underscore.py",
            "no pre-/post-/end- prefix"
        ));
        assert!(has(&r, Severity::Error, "pre-data.sql", "only .py"));
        assert!(has(&r, Severity::Error, "nested", "sub-folders"));
        assert!(has(
            &r,
            Severity::Error,
            "post-nomigrate.py",
            "no migrate(cr, version)"
        ));
        assert!(has(&r, Severity::Error, "post-badsig.py", "TypeError"));
        assert!(has(&r, Severity::Warning, "end-env.py", "Odoo 18"));
        assert!(has(&r, Severity::Error, "v1.3", "invalid version folder"));
        assert!(has(&r, Severity::Warning, "tests", "skipped"));
        assert!(has(
            &r,
            Severity::Error,
            "1.3",
            "above the manifest version"
        ));
        assert!(r.findings.iter().any(|f| f
            .message
            .contains("1.2, 17.0.1.2 all mean version 17.0.1.2")));
        assert!(has(&r, Severity::Warning, "1.1.0", "16.0"));
        assert!(has(
            &r,
            Severity::Error,
            "pre-loose.py",
            "outside a version folder"
        ));
    }

    #[test]
    fn sixteen_rules_make_three_part_folders_errors() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "m/__manifest__.py", "{'version': '1.0.1'}");
        write(tmp.path(), "m/migrations/1.0.1/pre-a.py", OK);
        let r = lint(tmp.path(), "16.0");
        assert!(has(&r, Severity::Error, "1.0.1", "never runs"));
    }
}
