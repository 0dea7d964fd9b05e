//! Module manifests (`__manifest__.py`), read like `ast.literal_eval` with Odoo's defaults.

use std::path::Path;

use serde::Serialize;

use crate::literal::{literal_eval, PyValue};
use crate::Error;

/// `auto_install`: `false`, `true` (when all `depends` are installed) or an explicit trigger list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AutoInstall {
    /// `True` / `False`.
    Bool(bool),
    /// A subset of `depends` that triggers the install.
    List(Vec<String>),
}

/// The manifest keys Slipway uses, with Odoo's defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Human name (`name`), empty when missing.
    pub name: String,
    /// Raw `version` (default `1.0`), before `adapt_version`.
    pub version: String,
    /// `depends` (default empty).
    pub depends: Vec<String>,
    /// `auto_install` (default `false`).
    pub auto_install: AutoInstall,
    /// `installable` (default `true`).
    pub installable: bool,
    /// `license` (default `LGPL-3`).
    pub license: String,
    /// `data` files.
    pub data: Vec<String>,
    /// `demo` files.
    pub demo: Vec<String>,
}

/// A manifest problem: a message and the 1-based line it points at (if any).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManifestError {
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

/// Reads a manifest file. Errors carry the line in the message (`file:line: ...`).
pub fn read_manifest(path: &Path) -> Result<Manifest, Error> {
    let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_manifest(&src).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.message),
    })
}

/// Parses manifest source text.
pub(crate) fn parse_manifest(src: &str) -> Result<Manifest, ManifestError> {
    let value = literal_eval(src).map_err(|e| ManifestError {
        line: Some(e.line),
        message: e.message,
    })?;
    let PyValue::Dict(_) = value else {
        return Err(ManifestError {
            line: None,
            message: "the manifest is not a dict".into(),
        });
    };
    let err = |message: String| ManifestError {
        line: None,
        message,
    };
    let string = |key: &str, default: &str| match value.get(key) {
        None => Ok(default.to_string()),
        Some(PyValue::Str(s)) => Ok(s.clone()),
        Some(other) => Err(err(format!(
            "'{key}' must be a string, got {}",
            kind(other)
        ))),
    };
    let depends = string_list(&value, "depends").map_err(err)?;
    let auto_install = match value.get("auto_install") {
        None => AutoInstall::Bool(false),
        Some(v) => match v.items() {
            Some(_) => {
                let list = string_list(&value, "auto_install").map_err(err)?;
                if let Some(bad) = list.iter().find(|m| !depends.contains(m)) {
                    return Err(err(format!(
                        "auto_install triggers must be dependencies, found {bad:?}"
                    )));
                }
                AutoInstall::List(list)
            }
            None => AutoInstall::Bool(v.truthy()),
        },
    };
    let license = match value.get("license") {
        Some(PyValue::Str(s)) if !s.is_empty() => s.clone(),
        _ => "LGPL-3".to_string(),
    };
    Ok(Manifest {
        name: string("name", "")?,
        version: string("version", "1.0")?,
        depends,
        auto_install,
        installable: value.get("installable").is_none_or(PyValue::truthy),
        license,
        data: string_list(&value, "data").map_err(err)?,
        demo: string_list(&value, "demo").map_err(err)?,
    })
}

fn string_list(value: &PyValue, key: &str) -> Result<Vec<String>, String> {
    let Some(v) = value.get(key) else {
        return Ok(Vec::new());
    };
    let items = v
        .items()
        .ok_or_else(|| format!("'{key}' must be a list, got {}", kind(v)))?;
    items
        .iter()
        .map(|i| match i {
            PyValue::Str(s) => Ok(s.clone()),
            other => Err(format!("'{key}' must hold strings, got {}", kind(other))),
        })
        .collect()
}

fn kind(v: &PyValue) -> &'static str {
    match v {
        PyValue::None => "None",
        PyValue::Bool(_) => "a bool",
        PyValue::Int(_) => "an int",
        PyValue::Float(_) => "a float",
        PyValue::Str(_) => "a string",
        PyValue::Bytes(_) => "bytes",
        PyValue::List(_) => "a list",
        PyValue::Tuple(_) => "a tuple",
        PyValue::Set(_) => "a set",
        PyValue::Dict(_) => "a dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_manifest() {
        let m = parse_manifest("{'name': 'X'}").unwrap();
        assert_eq!(m.version, "1.0");
        assert!(m.depends.is_empty());
        assert_eq!(m.auto_install, AutoInstall::Bool(false));
        assert!(m.installable);
        assert_eq!(m.license, "LGPL-3");
    }

    #[test]
    fn auto_install_list_must_be_a_subset_of_depends() {
        let m = parse_manifest("{'depends': ['a', 'b'], 'auto_install': ['a']}").unwrap();
        assert_eq!(m.auto_install, AutoInstall::List(vec!["a".into()]));
        let e = parse_manifest("{'depends': ['a'], 'auto_install': ['c']}").unwrap_err();
        assert!(e.message.contains("\"c\""), "{}", e.message);
    }

    #[test]
    fn wrong_types_are_reported() {
        assert!(parse_manifest("{'version': 1.0}")
            .unwrap_err()
            .message
            .contains("float"));
        assert!(parse_manifest("{'depends': 'base'}").is_err());
        assert!(parse_manifest("['not', 'a', 'dict']").is_err());
        let e = parse_manifest("{\n'name': 'x',\n'depends': [base],\n}").unwrap_err();
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn tuples_count_as_lists_and_installable_is_truthiness() {
        let m = parse_manifest("{'depends': ('base',), 'installable': 0}").unwrap();
        assert_eq!(m.depends, ["base"]);
        assert!(!m.installable);
    }
}
