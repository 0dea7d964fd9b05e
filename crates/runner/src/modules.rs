//! The Odoo modules of a branch checkout, and the cache key of a template
//! database holding them installed.

use std::path::{Path, PathBuf};

use slipway_odoo::Series;

use crate::Error;

/// Whether `dir` is a module (holds `__manifest__.py` or `__openerp__.py`).
fn is_module(dir: &Path) -> bool {
    dir.join("__manifest__.py").is_file() || dir.join("__openerp__.py").is_file()
}

fn sub_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether `dir` directly holds at least one module.
fn holds_modules(dir: &Path) -> bool {
    sub_dirs(dir).iter().any(|d| is_module(d))
}

/// The module folders of a checkout (its addons paths): the root if it
/// directly holds modules, plus each sub-folder down to depth 2 that does;
/// hidden folders and modules themselves are not searched. Sorted, root
/// first.
pub fn module_dirs(checkout: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if holds_modules(checkout) {
        out.push(checkout.to_path_buf());
    }
    let mut found = Vec::new();
    for d1 in sub_dirs(checkout).into_iter().filter(|d| !is_module(d)) {
        if holds_modules(&d1) {
            found.push(d1.clone());
        }
        for d2 in sub_dirs(&d1).into_iter().filter(|d| !is_module(d)) {
            if holds_modules(&d2) {
                found.push(d2);
            }
        }
    }
    found.sort();
    out.extend(found);
    out
}

/// Cache key of a template database: blake3 of the series, the Odoo
/// revision, the demo flag and, per module sorted by name, its name and
/// every file's relative path and contents (`__pycache__`, `*.pyc` and
/// hidden files excepted). Hex.
pub fn template_key(
    series: &Series,
    odoo_revision: &str,
    modules: &[(String, PathBuf)],
    demo: bool,
) -> Result<String, Error> {
    let mut h = blake3::Hasher::new();
    let field = |h: &mut blake3::Hasher, bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(&mut h, b"slipway-template-v1");
    field(&mut h, series.to_string().as_bytes());
    field(&mut h, odoo_revision.as_bytes());
    field(&mut h, &[demo as u8]);
    let mut sorted: Vec<&(String, PathBuf)> = modules.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path) in sorted {
        field(&mut h, name.as_bytes());
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        field(&mut h, &(files.len() as u64).to_le_bytes());
        for rel in files {
            let full = path.join(&rel);
            let bytes =
                std::fs::read(&full).map_err(Error::io(format!("reading {}", full.display())))?;
            field(&mut h, rel.as_bytes());
            field(&mut h, &bytes);
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(Error::io(format!("reading {}", path.display())))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("__manifest__.py"), "{'name': 'x'}").unwrap();
    }

    #[test]
    fn module_folders_of_a_nested_checkout() {
        let co = tempfile::tempdir().unwrap();
        let root = co.path();
        module(&root.join("top_mod"));
        module(&root.join("vendor/oca-web/web_x"));
        module(&root.join("addons/mod_a"));
        std::fs::create_dir_all(root.join("addons/mod_b")).unwrap();
        std::fs::write(root.join("addons/mod_b/__openerp__.py"), "{}").unwrap();
        module(&root.join(".hidden/mod_h"));
        module(&root.join("a/b/c/too_deep"));
        module(&root.join("top_mod/sub/inner")); // inside a module: not searched
        std::fs::create_dir_all(root.join("docs")).unwrap();
        assert_eq!(
            module_dirs(root),
            vec![
                root.to_path_buf(),
                root.join("addons"),
                root.join("vendor/oca-web")
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(module_dirs(empty.path()).is_empty());
    }

    #[test]
    fn template_keys_follow_contents_and_settings() {
        let co = tempfile::tempdir().unwrap();
        let a = co.path().join("a");
        module(&a);
        std::fs::create_dir_all(a.join("views")).unwrap();
        std::fs::write(a.join("views/v.xml"), "<odoo/>").unwrap();
        let s17: Series = "17.0".parse().unwrap();
        let mods = vec![("a".to_string(), a.clone())];
        let k = template_key(&s17, "git:1", &mods, true).unwrap();
        assert_eq!(k, template_key(&s17, "git:1", &mods, true).unwrap());
        assert_ne!(k, template_key(&s17, "git:1", &mods, false).unwrap());
        assert_ne!(k, template_key(&s17, "git:2", &mods, true).unwrap());
        let s16: Series = "16.0".parse().unwrap();
        assert_ne!(k, template_key(&s16, "git:1", &mods, true).unwrap());
        // compiled files do not count; edits and renames do
        std::fs::create_dir_all(a.join("__pycache__")).unwrap();
        std::fs::write(a.join("__pycache__/x.pyc"), "junk").unwrap();
        assert_eq!(k, template_key(&s17, "git:1", &mods, true).unwrap());
        std::fs::write(a.join("views/v.xml"), "<odoo></odoo>").unwrap();
        let edited = template_key(&s17, "git:1", &mods, true).unwrap();
        assert_ne!(k, edited);
        std::fs::rename(a.join("views/v.xml"), a.join("views/w.xml")).unwrap();
        assert_ne!(edited, template_key(&s17, "git:1", &mods, true).unwrap());
        // the module list is part of the key
        let b = co.path().join("b");
        module(&b);
        let two = vec![("b".to_string(), b), ("a".to_string(), a)];
        assert_ne!(edited, template_key(&s17, "git:1", &two, true).unwrap());
    }
}
