//! Pure checks of the names Slipway hands to `git`: projects, branches, revisions, file paths
//! and signatures. Everything reaching a `git` command line or environment goes through one of
//! these first, so no user string is ever read by git as an option.

use crate::{Error, Result};

fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
    Error::Invalid {
        what,
        value: value.to_owned(),
        reason,
    }
}

/// Checks a project name: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn check_project(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(invalid("project name", name, "it is empty"));
    };
    if bytes.len() > 63 {
        return Err(invalid(
            "project name",
            name,
            "it is longer than 63 characters",
        ));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(invalid(
            "project name",
            name,
            "it must start with a lowercase letter or a digit",
        ));
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err(invalid(
            "project name",
            name,
            "only lowercase letters, digits and '-' are allowed",
        ));
    }
    Ok(())
}

/// Checks a branch name with `git check-ref-format --branch`'s rules (applied to
/// `refs/heads/<name>`), and refuses a leading `-` so it can never read as an option.
pub fn check_branch(name: &str) -> Result<()> {
    let bad = |reason| Err(invalid("branch name", name, reason));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if name.starts_with('-') {
        return bad("it starts with '-'");
    }
    if name == "@" {
        return bad("'@' alone is not a branch name");
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return bad("it contains '..', '@{' or '//'");
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return bad("it starts or ends with '/', or ends with '.'");
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return bad("it contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return bad("a part starts with '.' or ends with '.lock'");
    }
    Ok(())
}

/// Checks a revision (a commit id or a branch name): never an option, never a path or range.
pub fn check_rev(rev: &str) -> Result<()> {
    let bad = |reason| Err(invalid("revision", rev, reason));
    if rev.is_empty() {
        return bad("it is empty");
    }
    if rev.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if rev.starts_with('-') {
        return bad("it starts with '-'");
    }
    if rev.contains("..") || rev.contains(':') || rev.contains("@{") {
        return bad("it contains '..', ':' or '@{'");
    }
    if rev.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it contains a space or a control character");
    }
    Ok(())
}

/// Checks a file path inside a tree: relative, `/`-separated, no empty, `.` or `..` part, no
/// `.git` part (in any case), no control character.
pub fn check_file_path(path: &str) -> Result<()> {
    let bad = |reason| Err(invalid("file path", path, reason));
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.len() > 4096 {
        return bad("it is longer than 4096 bytes");
    }
    if path.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    for part in path.split('/') {
        if part.is_empty() {
            return bad("it starts or ends with '/' or contains '//'");
        }
        if part == "." || part == ".." {
            return bad("it contains a '.' or '..' part");
        }
        if part.eq_ignore_ascii_case(".git") {
            return bad("it contains a '.git' part");
        }
    }
    Ok(())
}

/// Checks an author name and e-mail: non-empty, no control character, no `<` or `>`.
pub fn check_signature(name: &str, email: &str) -> Result<()> {
    for (what, value) in [("author name", name), ("author e-mail", email)] {
        if value.trim().is_empty() {
            return Err(invalid(what, value, "it is empty"));
        }
        if value
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>')
        {
            return Err(invalid(
                what,
                value,
                "it contains '<', '>' or a control character",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        for ok in ["a", "0", "my-shop", "a1-b2", &"a".repeat(63)] {
            assert!(check_project(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "A",
            "my_shop",
            "my.shop",
            "../x",
            "a/b",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(check_project(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branch_names() {
        for ok in [
            "main",
            "17.0-fix",
            "feature/x",
            "a.b",
            "user@host",
            "ünïcode",
        ] {
            assert!(check_branch(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-f",
            "--upload-pack=x",
            "@",
            "a..b",
            "a@{1}",
            "a//b",
            "/a",
            "a/",
            "a.",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a\nb",
            ".hidden",
            "x/.y",
            "x.lock",
            "x.lock/y",
        ] {
            assert!(check_branch(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn revisions() {
        for ok in ["main", "0123abcd", "feature/x", "HEAD"] {
            assert!(check_rev(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-n", "a..b", "a:b", "HEAD@{1}", "a b", "a\n"] {
            assert!(check_rev(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_paths() {
        for ok in ["a", "addons/x/__manifest__.py", ".gitignore", "a/.github/b"] {
            assert!(check_file_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "./a",
            "a/../b",
            "..",
            ".git/config",
            "x/.GIT/y",
            "a\0b",
        ] {
            assert!(check_file_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signatures() {
        assert!(check_signature("Ada", "ada@example.com").is_ok());
        assert!(check_signature("", "ada@example.com").is_err());
        assert!(check_signature("Ada", " ").is_err());
        assert!(check_signature("Ada <x>", "ada@example.com").is_err());
        assert!(check_signature("Ada", "ada@example.com\nX: y").is_err());
    }
}
