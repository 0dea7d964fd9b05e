//! `slipway_connect`, Slipway's own Odoo module (its files are in `crates/runner/odoo/`,
//! embedded in the binary): loaded server-wide by every build (odoo.conf's
//! `server_wide_modules`, never installed), it serves `POST /slipway/connect/session`, which
//! opens a session for the database's administrator when given a token signed with the
//! build's `slipway_connect_key` (format: `signed_token.py`). So "Connect" needs no password,
//! and production keeps none that anyone knows.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// The module's name (its folder, and its entry in `server_wide_modules`).
pub const CONNECT_MODULE: &str = "slipway_connect";

/// The odoo.conf option holding the build's key (read by the module with
/// `odoo.tools.config.get`).
pub const CONNECT_KEY_OPTION: &str = "slipway_connect_key";

/// The module's files: path in the module, content.
const FILES: [(&str, &str); 4] = [
    (
        "__manifest__.py",
        include_str!("../../odoo/slipway_connect/__manifest__.py"),
    ),
    (
        "__init__.py",
        include_str!("../../odoo/slipway_connect/__init__.py"),
    ),
    (
        "controllers.py",
        include_str!("../../odoo/slipway_connect/controllers.py"),
    ),
    (
        "signed_token.py",
        include_str!("../../odoo/slipway_connect/signed_token.py"),
    ),
];

/// Writes the module into `addons_dir/slipway_connect/` (files readable by all, folders
/// searchable, as a sandbox's uid reads them) and returns the addons folder to put on the
/// addons path. A file already as it should be is left alone; another is replaced atomically,
/// so concurrent builds never read half a file.
pub fn write_connect_module(addons_dir: &Path) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    let module = addons_dir.join(CONNECT_MODULE);
    std::fs::create_dir_all(&module)
        .map_err(Error::io(format!("creating {}", module.display())))?;
    for dir in [addons_dir, module.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io(format!("opening {} to builds", dir.display())))?;
    }
    for (name, content) in FILES {
        let path = module.join(name);
        if std::fs::read(&path).is_ok_and(|now| now == content.as_bytes()) {
            continue;
        }
        let tmp = module.join(format!(".{name}.{}.tmp", std::process::id()));
        let ctx = format!("writing {}", path.display());
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(content.as_bytes())?;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            f.sync_all()
        });
        written
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(Error::io(ctx))?;
    }
    Ok(addons_dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_is_written_once_and_mended_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let addons = dir.path().join("addons");
        assert_eq!(write_connect_module(&addons).unwrap(), addons);
        let manifest = addons.join("slipway_connect/__manifest__.py");
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.contains("'Slipway Connect'"), "{text}");
        for (name, _) in FILES {
            assert!(addons.join(CONNECT_MODULE).join(name).is_file(), "{name}");
        }
        std::fs::write(&manifest, "{}").unwrap();
        write_connect_module(&addons).unwrap();
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
        let leftovers: Vec<_> = std::fs::read_dir(addons.join(CONNECT_MODULE))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
