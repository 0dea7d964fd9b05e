//! Copies the web UI's terminal (xterm.js, installed from npm by `dev/setup` into
//! `ui-vendor/node_modules`) into `OUT_DIR`, where `ui/mod.rs` embeds it. Without it the
//! binary still builds, and its Shell tab says how to get the terminal.

use std::error::Error;
use std::path::PathBuf;

const MISSING_JS: &str = "export class Terminal { constructor() { throw new Error('the terminal (xterm.js) is not in this build of Slipway: run dev/setup, then build again'); } }\n";

fn main() -> Result<(), Box<dyn Error>> {
    let vendor = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?)
        .join("ui-vendor/node_modules/@xterm/xterm");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=ui-vendor/package-lock.json");
    for (from, to, missing) in [
        ("lib/xterm.mjs", "xterm.mjs", MISSING_JS),
        ("css/xterm.css", "xterm.css", ""),
    ] {
        let source = vendor.join(from);
        println!("cargo:rerun-if-changed={}", source.display());
        let bytes = std::fs::read(&source).unwrap_or_else(|_| missing.as_bytes().to_vec());
        std::fs::write(out.join(to), bytes)?;
    }
    Ok(())
}
