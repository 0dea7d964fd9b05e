//! Before a series step runs anything: can the step's Odoo take this database, and how much of
//! it does OpenUpgrade cover? Pure: the caller reads the database, the runtime's addons and
//! OpenUpgrade's folder; this decides.
//!
//! Every installed module must be known to the step: a module of the step's Odoo, a module
//! OpenUpgrade renames or merges into one (`openupgrade_scripts/apriori.py`), or a custom
//! module sent with the request. A module nobody knows would be left behind half-upgraded (its
//! tables on the old schema, its row on the old version), so the step refuses to start and
//! says what Odoo's upgrade platform says: add an empty module for it.

use std::collections::{BTreeMap, BTreeSet};

/// OpenUpgrade's module renames and merges for one series (`apriori.py`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Apriori {
    /// Old name -> new name.
    pub renamed: BTreeMap<String, String>,
    /// Module -> the module it is merged into.
    pub merged: BTreeMap<String, String>,
}

impl Apriori {
    /// Reads `renamed_modules` and `merged_modules` from the text of `apriori.py`: dicts of
    /// string literals, one entry a line, with comments (as OpenUpgrade writes them). Other
    /// dicts of the file (`renamed_models`...) are not modules and are ignored.
    pub fn parse(text: &str) -> Apriori {
        Apriori {
            renamed: dict_of(text, "renamed_modules"),
            merged: dict_of(text, "merged_modules"),
        }
    }
}

/// The `"key": "value"` pairs of the dict assigned to `name` at the start of a line.
fn dict_of(text: &str, name: &str) -> BTreeMap<String, String> {
    let mut pairs = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        if !inside {
            let assigned = code
                .strip_prefix(name)
                .map(|rest| rest.trim_start().starts_with('='));
            inside = assigned == Some(true) && code.contains('{');
            if !inside {
                continue;
            }
        }
        let body = code.split_once('{').map_or(code, |(_, b)| b);
        let (body, closed) = match body.split_once('}') {
            Some((b, _)) => (b, true),
            None => (body, false),
        };
        let strings = string_literals(body);
        for pair in strings.chunks_exact(2) {
            pairs.insert(pair[0].clone(), pair[1].clone());
        }
        if closed {
            break;
        }
    }
    pairs
}

/// The quoted strings of a line, in order (`"a": "b",` gives `a`, `b`).
fn string_literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            let text: String = chars.by_ref().take_while(|&x| x != c).collect();
            out.push(text);
        }
    }
    out
}

/// What a step is given to judge.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The modules installed in the database now.
    pub installed: &'a [String],
    /// The modules of the step's Odoo (its addons folders).
    pub available: &'a BTreeSet<String>,
    /// OpenUpgrade's renames and merges for the step's series.
    pub apriori: &'a Apriori,
    /// The custom modules sent with the request.
    pub custom: &'a BTreeSet<String>,
    /// The modules OpenUpgrade has scripts or a finished analysis for, for this series.
    pub covered: &'a BTreeSet<String>,
}

/// What a step will do with the installed modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCheck {
    /// Installed modules no one knows: the step must not run.
    pub unknown: Vec<String>,
    /// Installed modules OpenUpgrade renames: (old, new).
    pub renamed: Vec<(String, String)>,
    /// Installed modules OpenUpgrade merges into another: (module, into).
    pub merged: Vec<(String, String)>,
    /// Installed modules of Odoo that OpenUpgrade neither scripts nor analysed for the step:
    /// the ORM updates them, which is often enough and sometimes not.
    pub uncovered: Vec<String>,
}

impl StepCheck {
    /// Judges the installed modules of a step.
    pub fn of(input: StepInput<'_>) -> StepCheck {
        let mut check = StepCheck::default();
        for module in input.installed {
            if input.custom.contains(module) {
                continue;
            }
            if let Some(new) = input.apriori.renamed.get(module) {
                check.renamed.push((module.clone(), new.clone()));
            } else if let Some(into) = input.apriori.merged.get(module) {
                check.merged.push((module.clone(), into.clone()));
            } else if !input.available.contains(module) {
                check.unknown.push(module.clone());
            } else if !input.covered.contains(module) {
                check.uncovered.push(module.clone());
            }
        }
        check
    }

    /// Why the step cannot run, with the advice of Odoo's upgrade platform; `None` when it can.
    pub fn refusal(&self, series: &str) -> Option<String> {
        if self.unknown.is_empty() {
            return None;
        }
        Some(format!(
            "These installed modules do not exist in Odoo {series}, nor are they renamed or merged by OpenUpgrade, nor sent as custom modules: {}. For each, add an empty module with a manifest (and upgrade scripts if its data must move) to the custom modules sent with the request (`upload_modules`), and remove it after the upgrade.",
            self.unknown.join(", ")
        ))
    }

    /// The report's lines for the step: renames, merges and the coverage warning.
    pub fn lines(&self, series: &str) -> Vec<String> {
        self.renamed
            .iter()
            .map(|(old, new)| format!("{old} is renamed {new} (OpenUpgrade)"))
            .chain(
                self.merged
                    .iter()
                    .map(|(m, into)| format!("{m} is merged into {into} (OpenUpgrade)")),
            )
            .chain(
                self.coverage_warning(series)
                    .map(|w| format!("warning: {w}")),
            )
            .collect()
    }

    /// The warning about the modules OpenUpgrade does not cover, if any.
    pub fn coverage_warning(&self, series: &str) -> Option<String> {
        (!self.uncovered.is_empty()).then(|| {
            format!(
                "OpenUpgrade has no scripts nor a finished analysis for {series} of {}: the ORM updates them, check their data",
                self.uncovered.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of OpenUpgrade 17.0's `apriori.py` (an excerpt).
    const APRIORI: &str = r#"""" Encode any known changes to the database here
to help the matching process
"""

# Renamed modules is a mapping from old module name to new module name
renamed_modules = {
    # odoo
    "note": "project_todo",
    # OCA/social
    "mail_activity_unlink_log": "mail_activity_cancel_tracking",
}

# Merged modules contain a mapping from old module names to other,
# preexisting module names
merged_modules = {
    # odoo
    "account_sequence": "account",
    "web_kanban_gauge": "web",  # trailing comment
    # OCA/...
}

# only used here for upgrade_analysis
renamed_models = {
    "mail.channel": "discuss.channel",
}
"#;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn apriori_gives_module_renames_and_merges_not_models() {
        let apriori = Apriori::parse(APRIORI);
        assert_eq!(apriori.renamed.len(), 2);
        assert_eq!(apriori.renamed["note"], "project_todo");
        assert_eq!(apriori.merged["web_kanban_gauge"], "web");
        assert_eq!(apriori.merged["account_sequence"], "account");
        assert!(!apriori.renamed.contains_key("mail.channel"));
        assert_eq!(Apriori::parse("renamed_modules = {}\n"), Apriori::default());
        let one_line = Apriori::parse("merged_modules = {'a': 'b', 'c': 'd'}\nx = {'e': 'f'}\n");
        assert_eq!(one_line.merged.len(), 2);
    }

    #[test]
    fn a_module_nobody_knows_stops_the_step_with_the_platform_s_advice() {
        let installed: Vec<String> = ["base", "web_kanban_gauge", "note", "acme", "legacy_x"]
            .map(String::from)
            .to_vec();
        let check = StepCheck::of(StepInput {
            installed: &installed,
            available: &names(&["base", "web", "project_todo"]),
            apriori: &Apriori::parse(APRIORI),
            custom: &names(&["acme"]),
            covered: &names(&["base"]),
        });
        assert_eq!(check.unknown, vec!["legacy_x".to_string()]);
        assert_eq!(
            check.merged,
            vec![("web_kanban_gauge".into(), "web".into())]
        );
        assert_eq!(check.renamed, vec![("note".into(), "project_todo".into())]);
        assert!(
            check.uncovered.is_empty(),
            "custom modules are theirs to cover"
        );
        let refusal = check.refusal("17.0").unwrap();
        assert!(refusal.contains("legacy_x"), "{refusal}");
        assert!(
            refusal.contains("add an empty module with a manifest"),
            "{refusal}"
        );
        assert!(refusal.contains("remove it after the upgrade"), "{refusal}");
    }

    #[test]
    fn modules_openupgrade_does_not_cover_are_a_warning_not_a_refusal() {
        let installed: Vec<String> = ["base", "auth_totp"].map(String::from).to_vec();
        let check = StepCheck::of(StepInput {
            installed: &installed,
            available: &names(&["base", "auth_totp"]),
            apriori: &Apriori::default(),
            custom: &BTreeSet::new(),
            covered: &names(&["base"]),
        });
        assert_eq!(check.refusal("17.0"), None);
        assert_eq!(check.uncovered, vec!["auth_totp".to_string()]);
        let lines = check.lines("17.0");
        assert!(lines[0].starts_with("warning:") && lines[0].contains("auth_totp"));
    }
}

/// What Odoo 17 logs as an ERROR when installed modules have no code on its addons path
/// (`odoo/modules/loading.py`), followed by their names as a Python list.
pub const MODULES_NOT_LOADED: &str =
    "Some modules are not loaded, some dependencies or manifest may be missing: ";

/// What Odoo 17 logs next, as an ERROR, for the same modules after `-u all`: they stay
/// `to upgrade`, as nothing of theirs was loaded (seen with a real Odoo 17).
pub const MODULES_INCONSISTENT: &str =
    "Some modules have inconsistent states, some dependencies may be missing: ";

/// Whether the error record `record` is one of Odoo's [`MODULES_NOT_LOADED`] or
/// [`MODULES_INCONSISTENT`] naming only modules of `left` (custom modules the upgrade leaves
/// for the branch's code): the errors an upgrade run without their code logs.
pub fn only_left_modules_not_loaded(record: &str, left: &BTreeSet<String>) -> bool {
    let Some((_, list)) =
        (record.split_once(MODULES_NOT_LOADED)).or_else(|| record.split_once(MODULES_INCONSISTENT))
    else {
        return false;
    };
    let Some(inner) = list
        .trim()
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
    else {
        return false;
    };
    let names: Vec<&str> = inner
        .split(',')
        .map(|n| n.trim().trim_matches(|c| c == '\'' || c == '"'))
        .filter(|n| !n.is_empty())
        .collect();
    !names.is_empty() && names.iter().all(|n| left.contains(*n))
}

#[cfg(test)]
mod left_modules_tests {
    use super::*;

    #[test]
    fn only_the_not_loaded_error_naming_left_modules_is_tolerated() {
        let left: BTreeSet<String> = ["shop_core".to_string(), "shop_sale".to_string()].into();
        let line = |names: &str| {
            format!("2026-12-07 16:00:00,000 42 ERROR db odoo.modules.loading: {MODULES_NOT_LOADED}{names}")
        };
        assert!(only_left_modules_not_loaded(&line("['shop_core']"), &left));
        assert!(only_left_modules_not_loaded(
            &line("['shop_core', 'shop_sale']"),
            &left
        ));
        assert!(!only_left_modules_not_loaded(
            &line("['shop_core', 'sale']"),
            &left
        ));
        assert!(!only_left_modules_not_loaded(&line("[]"), &left));
        let inconsistent = |names: &str| {
            format!("2026-12-07 16:00:00,000 42 ERROR db odoo.modules.loading: {MODULES_INCONSISTENT}{names}")
        };
        assert!(only_left_modules_not_loaded(
            &inconsistent("['shop_core']"),
            &left
        ));
        assert!(!only_left_modules_not_loaded(
            &inconsistent("['sale']"),
            &left
        ));
        assert!(!only_left_modules_not_loaded(
            "2026-12-07 16:00:00,000 42 ERROR db odoo.sql_db: bad query",
            &left
        ));
    }
}
