//! Checks an upgrade script's `migrate` function without executing it.

use crate::pylex::{tokenize, Tok, Token};

/// What the source says about `migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateCheck {
    /// `def migrate(cr, version)`: fine for Odoo 16, 17 and 18.
    Ok,
    /// No `migrate` at all: 16.0/17.0 log an error and skip the script, 18.0 fails.
    Missing,
    /// Bound another way (import, assignment, inside a block): not checkable statically.
    Indirect(String),
    /// `async def migrate`: calling it only creates a coroutine; nothing runs.
    Async,
    /// Cannot be called as `migrate(cr, version)`: the update fails with a `TypeError`.
    WrongSignature(String),
    /// Callable with two arguments, but Odoo 18 requires exactly `(cr, version)`
    /// (or `_cr`, `_version`) as positional parameters.
    Not18(String),
    /// The file cannot even be tokenized.
    Unreadable {
        /// 1-based line.
        line: usize,
        /// Why.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Params {
    names: Vec<String>,
    positional: usize,
    required_positional: usize,
    required_kwonly: usize,
    varargs: bool,
    varkw: bool,
    positional_kinds_only: bool,
}

/// Looks for the module-level `migrate` and checks its signature.
pub fn check_migrate(src: &str) -> MigrateCheck {
    let toks = match tokenize(src) {
        Ok(t) => t,
        Err(e) => {
            return MigrateCheck::Unreadable {
                line: e.line,
                message: e.message,
            }
        }
    };
    let mut found: Option<MigrateCheck> = None;
    let mut nested = false;
    // The keyword of the last module-level statement: a `def` inside a class
    // or function body does not bind the module's `migrate`.
    let mut top_keyword = String::new();
    for (i, t) in toks.iter().enumerate() {
        let line_start = i == 0 || matches!(toks[i - 1].tok, Tok::Newline);
        if !line_start || t.depth != 0 {
            continue;
        }
        let rest = &toks[i..];
        let is_def = name_at(rest, 0, "def") && name_at(rest, 1, "migrate");
        let is_async =
            name_at(rest, 0, "async") && name_at(rest, 1, "def") && name_at(rest, 2, "migrate");
        if t.col > 0 {
            let in_body = matches!(top_keyword.as_str(), "class" | "def" | "async");
            nested |= (is_def || is_async) && !in_body;
            continue;
        }
        top_keyword = match &t.tok {
            Tok::Name(n) => n.clone(),
            _ => String::new(),
        };
        if is_async {
            found = Some(MigrateCheck::Async);
        } else if is_def {
            found = Some(judge(&parse_params(&rest[2..])));
        } else if let Some(how) = other_binding(rest) {
            found = Some(MigrateCheck::Indirect(how.into()));
        }
    }
    match found {
        Some(f) => f,
        None if nested => MigrateCheck::Indirect("defined inside a block".into()),
        None => MigrateCheck::Missing,
    }
}

fn name_at(toks: &[Token], i: usize, name: &str) -> bool {
    matches!(toks.get(i).map(|t| &t.tok), Some(Tok::Name(n)) if n == name)
}

/// `migrate = ...`, `from x import migrate`, `import migrate`, `class migrate`.
fn other_binding(line: &[Token]) -> Option<&'static str> {
    let logical: Vec<&Tok> = line
        .iter()
        .map(|t| &t.tok)
        .take_while(|t| !matches!(t, Tok::Newline))
        .collect();
    let is_migrate = |t: &Tok| matches!(t, Tok::Name(n) if n == "migrate");
    match logical.first() {
        Some(Tok::Name(n)) if n == "from" || n == "import" => {
            logical.iter().any(|t| is_migrate(t)).then_some("imported")
        }
        Some(Tok::Name(n)) if n == "class" => {
            logical.get(1).filter(|t| is_migrate(t)).map(|_| "a class")
        }
        Some(t) if is_migrate(t) => {
            matches!(logical.get(1), Some(Tok::Op("=" | ":"))).then_some("assigned")
        }
        _ => None,
    }
}

/// Parses `( ... )` right after `def migrate`.
fn parse_params(toks: &[Token]) -> Params {
    let mut p = Params {
        positional_kinds_only: true,
        ..Params::default()
    };
    let Some(open) = toks.first().filter(|t| t.tok == Tok::Op("(")) else {
        return p;
    };
    let inner = open.depth + 1;
    let mut groups: Vec<Vec<&Tok>> = vec![Vec::new()];
    for t in &toks[1..] {
        if t.tok == Tok::Op(")") && t.depth == open.depth {
            break;
        }
        if t.tok == Tok::Op(",") && t.depth == inner {
            groups.push(Vec::new());
        } else if let Some(g) = groups.last_mut() {
            g.push(&t.tok);
        }
    }
    let mut kw_only = false;
    for g in groups.iter().filter(|g| !g.is_empty()) {
        let has_default = g.iter().any(|t| **t == Tok::Op("="));
        match (g[0], g.get(1)) {
            (Tok::Op("/"), _) => {}
            (Tok::Op("*"), None) => kw_only = true,
            (Tok::Op("*"), Some(_)) => {
                p.varargs = true;
                kw_only = true;
                p.positional_kinds_only = false;
            }
            (Tok::Op("**"), _) => {
                p.varkw = true;
                p.positional_kinds_only = false;
            }
            (Tok::Name(n), _) => {
                p.names.push(n.clone());
                if kw_only {
                    p.positional_kinds_only = false;
                    p.required_kwonly += usize::from(!has_default);
                } else {
                    p.positional += 1;
                    p.required_positional += usize::from(!has_default);
                }
            }
            _ => {}
        }
    }
    p
}

fn judge(p: &Params) -> MigrateCheck {
    let sig = format!("migrate({})", p.names.join(", "));
    let callable =
        p.required_positional <= 2 && (p.positional >= 2 || p.varargs) && p.required_kwonly == 0;
    if !callable {
        return MigrateCheck::WrongSignature(sig);
    }
    let names_ok = p.names.len() == 2
        && matches!(p.names[0].as_str(), "cr" | "_cr")
        && matches!(p.names[1].as_str(), "version" | "_version");
    if names_ok && p.positional_kinds_only && !p.varargs && !p.varkw {
        MigrateCheck::Ok
    } else {
        MigrateCheck::Not18(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MigrateCheck::*;

    #[test]
    fn plain_signatures_pass() {
        assert_eq!(check_migrate("def migrate(cr, version):\n    pass\n"), Ok);
        assert_eq!(
            check_migrate("import x\n\ndef migrate(_cr, _version):\n    pass\n"),
            Ok
        );
        assert_eq!(
            check_migrate("def migrate(\n    cr,\n    version,\n):\n    pass\n"),
            Ok
        );
        assert_eq!(
            check_migrate("def migrate(cr: 'Cursor', version: str = None) -> None:\n  pass\n"),
            Ok
        );
        assert_eq!(
            check_migrate("@decorator\ndef migrate(cr, version, /): pass\n"),
            Ok
        );
    }

    #[test]
    fn missing_or_only_in_strings_and_comments() {
        assert_eq!(
            check_migrate("def migration(cr, version):\n    pass\n"),
            Missing
        );
        assert_eq!(
            check_migrate("# def migrate(cr, version):\nx = 1\n"),
            Missing
        );
        assert_eq!(
            check_migrate("'''\ndef migrate(cr, version):\n'''\n"),
            Missing
        );
        assert_eq!(check_migrate(""), Missing);
    }

    #[test]
    fn wrong_signatures_fail_in_17() {
        assert!(matches!(
            check_migrate("def migrate(cr):\n  pass\n"),
            WrongSignature(_)
        ));
        assert!(matches!(
            check_migrate("def migrate(cr, version, env):\n  pass\n"),
            WrongSignature(_)
        ));
        assert!(matches!(
            check_migrate("def migrate(*, cr, version):\n  pass\n"),
            WrongSignature(_)
        ));
        assert!(matches!(
            check_migrate("def migrate():\n  pass\n"),
            WrongSignature(_)
        ));
    }

    #[test]
    fn odoo_18_rule_is_stricter() {
        assert_eq!(
            check_migrate("def migrate(env, version):\n  pass\n"),
            Not18("migrate(env, version)".into())
        );
        assert!(matches!(
            check_migrate("def migrate(cr, version, x=1):\n  pass\n"),
            Not18(_)
        ));
        assert!(matches!(
            check_migrate("def migrate(*args):\n  pass\n"),
            Not18(_)
        ));
        assert!(matches!(
            check_migrate("def migrate(cr, version, **kw):\n  pass\n"),
            Not18(_)
        ));
        assert!(matches!(
            check_migrate("def migrate(cr, *, version=None):\n  pass\n"),
            WrongSignature(_)
        ));
    }

    #[test]
    fn other_bindings_are_not_guessed() {
        assert!(matches!(
            check_migrate("from .common import migrate\n"),
            Indirect(_)
        ));
        assert!(matches!(check_migrate("migrate = make()\n"), Indirect(_)));
        assert!(matches!(
            check_migrate("if X:\n    def migrate(cr, version):\n        pass\n"),
            Indirect(_)
        ));
        assert_eq!(
            check_migrate("async def migrate(cr, version):\n  pass\n"),
            Async
        );
        // A method of a class is not the module's `migrate`.
        assert_eq!(
            check_migrate("class A:\n    def migrate(self, cr, version):\n        pass\n"),
            Missing
        );
    }

    #[test]
    fn last_binding_wins() {
        let src = "def migrate(cr):\n  pass\n\ndef migrate(cr, version):\n  pass\n";
        assert_eq!(check_migrate(src), Ok);
    }
}
