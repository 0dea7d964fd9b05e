//! Reads every manifest of real Odoo and OCA trees and compares with Python's
//! own `ast.literal_eval`. Runs only when the trees are given:
//! `SLIPWAY_TEST_ODOO_SRC=<odoo 17 source>` and/or
//! `SLIPWAY_TEST_ADDONS_TREES=<dir>[:<dir>...]` (e.g. OCA repositories).

use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_odoo::{literal_eval, scan_addons, PyValue, Series};

fn manifests_under(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() && !name.starts_with('.') && name != "node_modules" {
            manifests_under(&p, out);
        } else if name == "__manifest__.py" || name == "__openerp__.py" {
            out.push(p);
        }
    }
}

fn to_json(v: &PyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        PyValue::None => J::Null,
        PyValue::Bool(b) => J::Bool(*b),
        PyValue::Int(i) => J::from(*i as i64),
        PyValue::Float(f) => J::from(*f),
        PyValue::Str(s) => J::String(s.clone()),
        PyValue::Bytes(b) => J::String(String::from_utf8_lossy(b).into()),
        PyValue::List(x) | PyValue::Tuple(x) | PyValue::Set(x) => {
            J::Array(x.iter().map(to_json).collect())
        }
        PyValue::Dict(items) => {
            let mut m = serde_json::Map::new();
            for (k, v) in items {
                let key = match k {
                    PyValue::Str(s) => s.clone(),
                    other => to_json(other).to_string(),
                };
                m.insert(key, to_json(v));
            }
            J::Object(m)
        }
    }
}

/// Python's view of the same files, as JSON (sets sorted like ours are not: sets become lists).
fn python_view(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let script = r#"
import ast, json, sys
def conv(v):
    if isinstance(v, (list, tuple)): return [conv(x) for x in v]
    if isinstance(v, (set, frozenset)): return None
    if isinstance(v, dict): return {(k if isinstance(k, str) else json.dumps(conv(k))): conv(x) for k, x in v.items()}
    if isinstance(v, bytes): return v.decode('utf-8', 'replace')
    return v
for line in open(sys.argv[1], encoding='utf-8'):
    with open(line.rstrip('\n'), encoding='utf-8') as f:
        print(json.dumps(conv(ast.literal_eval(f.read()))))
"#;
    let list = tempfile::NamedTempFile::new().unwrap();
    let input: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    std::fs::write(list.path(), input).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(list.path())
        .output()
        .expect("python3 on PATH");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn strip_sets(v: serde_json::Value, py: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match (v, py) {
        (_, J::Null) => J::Null,
        (J::Array(a), J::Array(b)) => J::Array(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| strip_sets(x, y))
                .collect(),
        ),
        (J::Object(a), J::Object(b)) => J::Object(
            a.into_iter()
                .map(|(k, x)| {
                    let y = b.get(&k).cloned().unwrap_or(J::Null);
                    (k, strip_sets(x, &y))
                })
                .collect(),
        ),
        (x, _) => x,
    }
}

fn trees() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(src) = std::env::var("SLIPWAY_TEST_ODOO_SRC") {
        roots.push(PathBuf::from(src));
    }
    if let Ok(list) = std::env::var("SLIPWAY_TEST_ADDONS_TREES") {
        roots.extend(list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    roots
}

#[test]
fn every_real_manifest_reads_like_python_literal_eval() {
    let roots = trees();
    if roots.is_empty() {
        eprintln!("skipped: set SLIPWAY_TEST_ODOO_SRC and/or SLIPWAY_TEST_ADDONS_TREES to run");
        return;
    }
    let mut files = Vec::new();
    for r in &roots {
        manifests_under(r, &mut files);
    }
    files.sort();
    assert!(!files.is_empty(), "no manifests under {roots:?}");
    let python = python_view(&files);
    for (file, py) in files.iter().zip(&python) {
        let src = std::fs::read_to_string(file).unwrap();
        let ours = literal_eval(&src)
            .unwrap_or_else(|e| panic!("{}:{}: {}", file.display(), e.line, e.message));
        assert_eq!(&strip_sets(to_json(&ours), py), py, "{}", file.display());
    }
    eprintln!(
        "{} manifests read exactly like ast.literal_eval",
        files.len()
    );
}

#[test]
fn odoo_17_addons_list_has_no_problems() {
    let Ok(src) = std::env::var("SLIPWAY_TEST_ODOO_SRC") else {
        eprintln!("skipped: set SLIPWAY_TEST_ODOO_SRC to an Odoo 17.0 source tree to run");
        return;
    };
    let src = PathBuf::from(src);
    let series: Series = "17.0".parse().unwrap();
    let scan = scan_addons(&[src.join("addons"), src.join("odoo/addons")], &series);
    assert!(scan.problems.is_empty(), "{:#?}", scan.problems);
    assert!(scan.addons.len() >= 570, "{} addons", scan.addons.len());
    assert_eq!(
        scan.addons["base"].full_version.as_deref(),
        Some("17.0.1.3")
    );
}
