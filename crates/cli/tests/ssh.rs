//! SSH into builds with the real OpenSSH client (`ssh`, `scp`, `sftp`), and the keys that
//! open them, registered through the CLI and the API.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::free_port;
use common::site::Site;
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// A fresh ed25519 key pair in `dir`; returns the private key's path (`.pub` beside it).
fn key_pair(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            &format!("{name}@test"),
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn public(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub")).unwrap()
}

/// The fingerprint `ssh-keygen -l` prints for a key.
fn openssh_fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_string()
}

/// `POST /api/me/keys` as the owner of `token`.
fn add_key(site: &Site, token: &str, name: &str, public_key: &str) -> (u16, Value) {
    let response = Client::new()
        .post(format!("{}/api/me/keys", site.url()))
        .bearer_auth(token)
        .json(&json!({"name": name, "public_key": public_key}))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn keys_are_added_listed_and_removed_and_bad_ones_refused() {
    let site = Site::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let laptop = key_pair(dir.path(), "laptop");
    let desktop = key_pair(dir.path(), "desktop");

    let added = site.cli_ok(&[
        "user",
        "key",
        "add",
        "--name",
        "my laptop",
        laptop.with_extension("pub").to_str().unwrap(),
    ]);
    let fingerprint = openssh_fingerprint(&laptop);
    assert!(added.contains(&fingerprint), "{added}");
    let listed: Value =
        serde_json::from_str(&site.cli_ok(&["user", "key", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["name"], "my laptop");
    assert_eq!(listed[0]["fingerprint"], fingerprint.as_str());
    assert_eq!(listed[0]["algorithm"], "ssh-ed25519");
    assert_eq!(listed[0]["last_used_at"], Value::Null);
    let table = site.cli_ok(&["user", "key", "list"]);
    assert!(
        table.contains("my laptop") && table.contains("never used"),
        "{table}"
    );

    // the same key again, by anyone: 409
    let again = site.cli(&[
        "user",
        "key",
        "add",
        laptop.with_extension("pub").to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("registered already") && err.contains("HTTP 409"),
        "{err}"
    );
    let bob = site.member(None, "bob", "");
    let (status, answer) = add_key(&site, &bob, "", &public(&laptop));
    assert_eq!(status, 409, "{answer}");

    // not one public key: 400, saying what it is
    let private = site.cli(&["user", "key", "add", laptop.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&private.stderr);
    assert!(
        err.contains("PRIVATE key") && err.contains("HTTP 400"),
        "{err}"
    );
    let mut stdin_add = Command::new(common::slipway_bin())
        .arg("--data-dir")
        .arg(site.data.path())
        .args(["--server", &site.url(), "user", "key", "add", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    stdin_add
        .stdin
        .take()
        .unwrap()
        .write_all(b"ssh-ed25519 this-is-not-base64 me@x\n")
        .unwrap();
    let garbage = stdin_add.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&garbage.stderr);
    assert!(err.contains("not an OpenSSH public key"), "{err}");
    let (status, answer) = add_key(
        &site,
        &site.token(),
        "",
        &format!("{}{}", public(&desktop), public(&laptop)),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("2 lines"), "{answer}");

    // through the API: named after the key's comment, listed, removed; only by its owner
    let (status, desk) = add_key(&site, &site.token(), "", &public(&desktop));
    assert_eq!(status, 201, "{desk}");
    assert_eq!(desk["name"], "desktop@test");
    assert_eq!(site.get("/api/me/keys").as_array().unwrap().len(), 2);
    let delete = |token: &str, id: &Value| {
        Client::new()
            .delete(format!("{}/api/me/keys/{id}", site.url()))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete(&bob, &desk["id"]), 404, "not bob's key");
    assert_eq!(delete(&site.token(), &desk["id"]), 204);
    let id = listed[0]["id"].to_string();
    let removed = site.cli_ok(&["user", "key", "remove", &id]);
    assert!(removed.contains(&format!("key #{id} removed")), "{removed}");
    assert_eq!(site.get("/api/me/keys"), json!([]));
}

#[test]
fn serve_refuses_a_taken_ssh_port_and_starts_nothing() {
    let data = common::DataDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let out = common::slipway(
        data.path(),
        &["serve", "--listen", &listen, "--ssh-listen", &address],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen for SSH on {address}"))
            && err.contains("--ssh-listen off"),
        "{err}"
    );
    assert!(!data.path().join("pg").exists(), "nothing started");
}

/// An OpenSSH client logging in to `build` on `port` with `key`.
fn ssh_command(program: &str, port: u16, key: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "LogLevel=ERROR", "-i"])
        .arg(key)
        .arg(if program == "ssh" { "-p" } else { "-P" })
        .arg(port.to_string());
    command
}

fn ssh(port: u16, key: &Path, build: &str, command: &str) -> Output {
    ssh_command("ssh", port, key)
        .arg(format!("{build}@127.0.0.1"))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_refused(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(255),
        "{what}: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{what}: {}",
        text(&out.stderr)
    );
}

#[test]
fn ssh_opens_the_build_s_shell_for_who_may_and_no_one_else() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let site = Site::start(&["--shell-idle", "4", "--ssh-listen", &listen]);
    let (tree, prod) = site.project_with_production("sshp");
    let dev = site.push_branch(&tree, "sshp", "feature", "NOTES.md");
    let dev_name = dev["name"].as_str().unwrap();
    let prod_name = prod["name"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin_key = key_pair(dir.path(), "admin");
    let dave_key = key_pair(dir.path(), "dave");
    let stranger_key = key_pair(dir.path(), "stranger");
    site.cli_ok(&[
        "user",
        "key",
        "add",
        admin_key.with_extension("pub").to_str().unwrap(),
    ]);
    let dave = site.member(Some("sshp"), "dave", "developer");
    assert_eq!(add_key(&site, &dave, "", &public(&dave_key)).0, 201);

    // the build's answer says how to log in
    let shown = site.get(&format!("/api/builds/{}", dev["id"]));
    assert_eq!(
        shown["ssh"],
        format!("ssh -p {port} {dev_name}@127.0.0.1").as_str()
    );

    // a command: psql reaches the build's own database; the exit status comes back
    let out = ssh(
        port,
        &admin_key,
        dev_name,
        "psql -Atc 'select current_database()'",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), dev_name);
    let out = ssh(port, &admin_key, dev_name, "psql -c 'select 1'");
    assert!(
        out.status.success() && text(&out.stdout).contains("(1 row)"),
        "{}",
        text(&out.stderr)
    );
    let out = ssh(port, &admin_key, dev_name, "echo oops >&2; exit 3");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stderr).trim(), "oops");

    // input and output both ways at once, more than pipes hold: nothing stalls
    let mut cat = ssh_command("ssh", port, &admin_key)
        .arg(format!("{dev_name}@127.0.0.1"))
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sent: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut input = cat.stdin.take().unwrap();
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || input.write_all(&sent))
    };
    let mut echoed = Vec::new();
    let mut output = cat.stdout.take().unwrap();
    let reader = std::thread::spawn(move || output.read_to_end(&mut echoed).map(|_| echoed));
    writer.join().unwrap().unwrap();
    let out = wait_with_deadline(cat, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        reader.join().unwrap().unwrap() == sent,
        "cat echoes all it was sent"
    );

    // a terminal: commands typed, then exit
    let mut terminal = ssh_command("ssh", port, &admin_key)
        .arg("-tt")
        .arg(format!("{dev_name}@127.0.0.1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    terminal
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"psql -Atc \"select 'db=' || current_database()\"\ntty\nexit\n")
        .unwrap();
    let out = wait_with_deadline(terminal, Duration::from_secs(30));
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown} {}", text(&out.stderr));
    assert!(shown.contains(&format!("db={dev_name}")), "{shown}");
    assert!(shown.contains("/dev/pts/"), "a real terminal: {shown}");

    // scp into the build's home (its `home/` folder, kept across sessions) and back, with sftp (scp's default) and the legacy protocol
    let sent = dir.path().join("sent.txt");
    std::fs::write(&sent, "carried over SSH\n").unwrap();
    let target = format!("{dev_name}@127.0.0.1:");
    for (legacy, name) in [(false, "copied.txt"), (true, "legacy.txt")] {
        let mut scp = ssh_command("scp", port, &admin_key);
        if legacy {
            scp.arg("-O");
        }
        let out = scp
            .arg(&sent)
            .arg(format!("{target}{name}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scp (legacy: {legacy}): {}",
            text(&out.stderr)
        );
        let in_build = site
            .data
            .path()
            .join("builds")
            .join(dev_name)
            .join("home")
            .join(name);
        assert_eq!(
            std::fs::read_to_string(&in_build).unwrap(),
            "carried over SSH\n"
        );
        let back = dir.path().join(format!("back-{name}"));
        let mut scp = ssh_command("scp", port, &admin_key);
        if legacy {
            scp.arg("-O");
        }
        let out = scp
            .arg(format!("{target}{name}"))
            .arg(&back)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scp back (legacy: {legacy}): {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&back).unwrap(),
            "carried over SSH\n"
        );
    }
    let batch = dir.path().join("batch");
    std::fs::write(&batch, "ls\n").unwrap();
    let out = ssh_command("sftp", port, &admin_key)
        .arg("-b")
        .arg(&batch)
        .arg(format!("{dev_name}@127.0.0.1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "sftp: {}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("src") && listing.contains("logs") && listing.contains("copied.txt"),
        "{listing}"
    );

    // refused alike: an unknown key, an unknown build, a developer to production
    assert_refused(&ssh(port, &stranger_key, dev_name, "true"), "unknown key");
    assert_refused(
        &ssh(port, &admin_key, "sshp-nowhere-999", "true"),
        "unknown build",
    );
    assert_refused(
        &ssh(port, &dave_key, prod_name, "true"),
        "developer to production",
    );
    let out = ssh(port, &dave_key, dev_name, "id -un >/dev/null && echo in");
    assert_eq!(
        text(&out.stdout).trim(),
        "in",
        "a developer to development: {}",
        text(&out.stderr)
    );

    // left idle: closed, saying why
    let started = Instant::now();
    let mut idle = ssh_command("ssh", port, &admin_key)
        .arg("-tt")
        .arg(format!("{dev_name}@127.0.0.1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let keep_open = idle.stdin.take();
    let out = wait_with_deadline(idle, Duration::from_secs(30));
    drop(keep_open);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "closed only once idle"
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains("closed after 4 seconds without input"),
        "{said}"
    );

    // History: each session's start and end, with the login and the build
    // (the end of the last session is recorded as the client is told: wait for it)
    let deadline = Instant::now() + Duration::from_secs(10);
    let history = loop {
        let history = site.get("/api/projects/sshp/branches/feature/history");
        let count = |kind: &str| {
            history
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == kind)
                .count()
        };
        if count("ssh.opened") == count("ssh.closed") || Instant::now() > deadline {
            break history;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let events = history.as_array().unwrap();
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["kind"] == kind && e["detail"]["build"] == dev["id"])
            .collect::<Vec<_>>()
    };
    let (opened, closed) = (of("ssh.opened"), of("ssh.closed"));
    assert!(opened.len() >= 10, "{history}");
    assert_eq!(opened.len(), closed.len(), "{history}");
    assert!(
        opened.iter().any(|e| e["detail"]["login"] == "dave"),
        "{history}"
    );
    assert!(
        closed.iter().any(|e| e["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("without input")),
        "{history}"
    );
    let keys = site.get("/api/me/keys");
    assert!(keys[0]["last_used_at"].is_string(), "{keys}");

    // a stopped build opens no session, whoever asks
    let (status, stopped) = site.post(&format!("/api/builds/{}/stop", dev["id"]), json!({}));
    assert_eq!(status, 200, "{stopped}");
    assert_refused(&ssh(port, &admin_key, dev_name, "true"), "stopped build");
}

/// Waits for a child, killing it (and failing) after `limit`.
fn wait_with_deadline(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let mut shown = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let _ = stdout.read_to_string(&mut shown);
            }
            panic!("still running after {limit:?}: {shown}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}
