//! What an SFTP user may see and do, as pure rules: one file at the root, writable in `draft`,
//! its upgraded counterpart readable once the request is `done` or `delivered`.

use slipway_upgrade::rules::RequestState;
use slipway_upgrade::upgraded_name;

/// What a path names, for a request in a given state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/`, the only directory.
    Root,
    /// The one shared file this state exposes.
    Shared(Shared),
    /// Anything else: refused.
    Refused,
}

/// The file a request exposes and what may be done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shared {
    /// Its name at the root.
    pub name: String,
    /// Writable (the upload, in `draft`) or readable (the result).
    pub access: Access,
}

/// Direction of the shared file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `draft`: the dump is written (`put`, `put -a`), never read back.
    Write,
    /// `done`/`delivered`: the upgraded dump is read (`get`), never written.
    Read,
}

/// The file request `filename` exposes in `state`, if any.
pub(crate) fn shared_file(state: RequestState, filename: &str) -> Option<Shared> {
    match state {
        RequestState::Draft => Some(Shared {
            name: filename.to_string(),
            access: Access::Write,
        }),
        state if state.has_result() => Some(Shared {
            name: upgraded_name(filename),
            access: Access::Read,
        }),
        _ => None,
    }
}

/// The path without `.` and empty parts, relative to `/`; `None` when it holds `..` (no path
/// may climb, not even back into `/`).
pub(crate) fn components(path: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(parts)
}

/// The absolute form of `path`, as `realpath` answers it; `None` for a path with `..`.
pub(crate) fn absolute(path: &str) -> Option<String> {
    components(path).map(|parts| format!("/{}", parts.join("/")))
}

/// What `path` names for a request `filename` in `state`.
pub(crate) fn resolve(path: &str, state: RequestState, filename: &str) -> Target {
    let Some(parts) = components(path) else {
        return Target::Refused;
    };
    match parts.as_slice() {
        [] => Target::Root,
        [name] => match shared_file(state, filename) {
            Some(shared) if shared.name == *name => Target::Shared(shared),
            _ => Target::Refused,
        },
        _ => Target::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;

    fn write(name: &str) -> Target {
        Target::Shared(Shared {
            name: name.to_string(),
            access: Access::Write,
        })
    }

    #[test]
    fn draft_exposes_the_dump_for_writing_wherever_the_client_starts() {
        for path in ["db.dump", "/db.dump", "./db.dump", "//./db.dump"] {
            assert_eq!(resolve(path, Draft, "db.dump"), write("db.dump"), "{path}");
        }
        for path in ["", ".", "/", "/./"] {
            assert_eq!(resolve(path, Draft, "db.dump"), Target::Root, "{path}");
        }
    }

    #[test]
    fn nothing_else_is_reachable() {
        for path in [
            "../../etc/evil",
            "/../db.dump",
            "x/../db.dump",
            "other.dump",
            "/tmp/db.dump",
            "db.dump/x",
            "upgraded_db.dump",
            "..",
        ] {
            assert_eq!(resolve(path, Draft, "db.dump"), Target::Refused, "{path}");
        }
    }

    #[test]
    fn results_are_read_only_and_only_when_ready() {
        let read = Target::Shared(Shared {
            name: "upgraded_db.dump".into(),
            access: Access::Read,
        });
        for state in [Done, Delivered] {
            assert_eq!(resolve("/upgraded_db.dump", state, "db.dump"), read);
            assert_eq!(resolve("/db.dump", state, "db.dump"), Target::Refused);
        }
        for state in [Pending, Progress, Failed, Cancelled] {
            assert_eq!(shared_file(state, "db.dump"), None, "{state:?}");
            assert_eq!(resolve("/db.dump", state, "db.dump"), Target::Refused);
            assert_eq!(resolve("/", state, "db.dump"), Target::Root);
        }
    }

    #[test]
    fn realpath_is_absolute_and_never_climbs() {
        assert_eq!(absolute(".").as_deref(), Some("/"));
        assert_eq!(absolute("a/./b/").as_deref(), Some("/a/b"));
        assert_eq!(absolute("/../etc"), None);
    }
}
