//! Copies the web UI's terminal (xterm.js, installed from npm by `dev/setup` into
//! `ui-vendor/node_modules`) into `OUT_DIR`, where `ui/mod.rs` embeds it.
//!
//! Without it a release build fails: a binary people run must have a working Shell tab. A
//! debug build still succeeds, with a warning and a stand-in terminal that says how to get the
//! real one, so the crates and tests that never open a terminal build without npm.

use std::error::Error;
use std::path::{Path, PathBuf};

const MISSING_JS: &str = "export class Terminal { constructor() { throw new Error('the terminal (xterm.js) is not in this build of Slipway: run dev/setup, then build again'); } }\n";

const HOW_TO_INSTALL: &str =
    "run dev/setup (or `npm ci` in crates/server/ui-vendor), then build again";

fn main() {
    if let Err(e) = copy_xterm() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn copy_xterm() -> Result<(), Box<dyn Error>> {
    let vendor = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?)
        .join("ui-vendor/node_modules/@xterm/xterm");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=ui-vendor/package-lock.json");
    println!("cargo:rerun-if-changed={}", vendor.display());
    let installed = vendor.join("package.json").is_file();
    if !installed {
        stand_in_allowed(&vendor)?;
    }
    for (from, to, missing) in [
        ("lib/xterm.mjs", "xterm.mjs", MISSING_JS),
        ("css/xterm.css", "xterm.css", ""),
    ] {
        let source = vendor.join(from);
        println!("cargo:rerun-if-changed={}", source.display());
        let bytes = if installed {
            std::fs::read(&source).map_err(|e| format!("reading {}: {e}", source.display()))?
        } else {
            missing.as_bytes().to_vec()
        };
        std::fs::write(out.join(to), bytes)?;
    }
    Ok(())
}

/// Whether a build may go on without xterm.js at `vendor`: a release build may not; a debug
/// build may, with a warning.
fn stand_in_allowed(vendor: &Path) -> Result<(), String> {
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        return Err(format!(
            "the web UI's terminal (xterm.js) is not installed in {}; a release build embeds \
             it: {HOW_TO_INSTALL}",
            vendor.display()
        ));
    }
    println!(
        "cargo:warning=xterm.js is not installed in {}: this debug build's Shell tab has no \
         terminal; {HOW_TO_INSTALL}",
        vendor.display()
    );
    Ok(())
}
