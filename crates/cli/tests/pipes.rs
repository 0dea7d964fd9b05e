//! A listing read into a pipe that closes early (`slipway addons list | head -1`) ends
//! quietly, as Unix tools do, instead of panicking on the broken pipe.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

#[test]
fn a_listing_into_a_closed_pipe_ends_without_a_panic() {
    let addons = tempfile::tempdir().unwrap();
    // Far more than a pipe buffers (64 KiB), so the listing is still writing when the
    // reader goes away.
    for i in 0..3000 {
        let module = addons
            .path()
            .join(format!("module_with_a_long_name_{i:05}"));
        std::fs::create_dir(&module).unwrap();
        std::fs::write(
            module.join("__manifest__.py"),
            "{'name': 'A module', 'version': '1.0', 'depends': []}",
        )
        .unwrap();
        std::fs::write(module.join("__init__.py"), "").unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["addons", "list", "--addons-path"])
        .arg(addons.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty(), "the listing printed nothing");
    // The reader is gone (`head` exited).
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        status.success() || status.signal() == Some(nix::sys::signal::Signal::SIGPIPE as i32),
        "ended with {status:?}: {stderr}"
    );
}
