//! The Shell tab's terminal, driven the way the browser drives it: a WebSocket to
//! `/api/builds/{id}/shell`, keystrokes in, terminal bytes out.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::site::{Site, WorkTree};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Terminal = WebSocket<MaybeTlsStream<TcpStream>>;

fn open_shell(site: &Site, build: i64) -> Terminal {
    open_shell_as(site, &site.token(), build)
}

fn open_shell_as(site: &Site, token: &str, build: i64) -> Terminal {
    let url = format!("{}/api/builds/{build}/shell", site.url()).replacen("http", "ws", 1);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, response) = tungstenite::connect(request).unwrap();
    assert_eq!(response.status(), 101);
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    socket
}

/// Reads the terminal until its output contains `wanted`; what it read.
fn read_until(terminal: &mut Terminal, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while !seen.contains(wanted) {
        assert!(Instant::now() < deadline, "no {wanted:?} in: {seen}");
        match terminal.read() {
            Ok(Message::Binary(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Message::Text(text)) => seen.push_str(&text),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the shell closed: {e}; it showed: {seen}"),
        }
    }
    seen
}

#[test]
fn a_shell_reaches_the_build_s_database_and_closes_when_left_idle() {
    let site = Site::start(&["--shell-idle", "3"]);
    site.cli_ok(&["project", "create", "term", "--odoo", "17.0"]);
    let tree = WorkTree::from_fixture("shop", &site.git_url("term"));
    tree.push("main");
    let build = site.wait_build(site.build_of("term", "main", &tree.git(&["rev-parse", "HEAD"])));
    assert_eq!(build["state"], "running", "{build}");
    let database = build["name"].as_str().unwrap();

    let mut terminal = open_shell(&site, build["id"].as_i64().unwrap());
    terminal
        .send(Message::Text(
            "psql -Atc \"SELECT 'db=' || current_database()\"\n".into(),
        ))
        .unwrap();
    // the command's output (what was typed, echoed, does not hold it)
    read_until(&mut terminal, &format!("db={database}"));

    // then nobody types: the shell is closed, saying why
    let started = Instant::now();
    let close = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "an idle shell stays open"
        );
        match terminal.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the shell ended without a close frame: {e}"),
        }
    };
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed only once idle"
    );
    let frame = close.expect("a close frame with a reason");
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(
        frame.reason.as_str(),
        "closed after 3 seconds without input"
    );
}

/// Types `command` and reads until its output ends: `END-<n>`, which the shell computes, so
/// the echo of what was typed (`END-$((n-1+1))`) cannot match it.
fn run_in(terminal: &mut Terminal, command: &str, n: u32) -> String {
    terminal
        .send(Message::Text(
            format!("{command}; echo END-$(({n}-1+1))\n").into(),
        ))
        .unwrap();
    read_until(terminal, &format!("END-{n}"))
}

#[test]
fn a_testers_staging_shell_is_no_one_but_its_build() {
    let site = Site::start(&[]);
    let (tree, prod) = site.project_with_production("shop");
    let qa = site.push_branch(&tree, "shop", "qa", "QA.md");
    site.cli_ok(&["branch", "set", "shop", "qa", "--stage", "staging"]);
    let staging = site.settled_build_after("shop", "qa", qa["id"].as_i64().unwrap());
    assert_eq!(staging["stage"], "staging", "{staging}");
    let (_, other) = site.project_with_production("other");
    let database = |b: &serde_json::Value| {
        b["database"]
            .as_str()
            .or(b["name"].as_str())
            .unwrap()
            .to_string()
    };
    let tester = site.member(Some("shop"), "tess", "tester");

    let mut shell = open_shell_as(&site, &tester, staging["id"].as_i64().unwrap());
    let seen = run_in(&mut shell, "echo uid=$(id -u) home=$HOME", 1);
    assert!(!seen.contains("uid=0 "), "a shell as root: {seen}");
    assert!(seen.contains("home=/home/odoo"), "{seen}");
    // Its own database, as its own role.
    let seen = run_in(
        &mut shell,
        "psql -Atc \"SELECT 'own=' || current_database()\"",
        2,
    );
    assert!(
        seen.contains(&format!("own={}", database(&staging))),
        "{seen}"
    );
    // Production and another project's production refuse the connection.
    for (n, other_db) in [(3, database(&prod)), (4, database(&other))] {
        let seen = run_in(
            &mut shell,
            &format!("psql -d '{other_db}' -Atc \"SELECT 'reached=' || 1\" 2>&1"),
            n,
        );
        assert!(!seen.contains("reached=1"), "{other_db}: {seen}");
        assert!(seen.contains("permission denied for database"), "{seen}");
    }
    // No server-side programs, no superuser.
    let seen = run_in(
        &mut shell,
        "psql -Atc \"COPY (SELECT 1) TO PROGRAM 'id'\" 2>&1",
        5,
    );
    assert!(seen.contains("pg_execute_server_program"), "{seen}");
    let seen = run_in(
        &mut shell,
        "psql -U postgres -d postgres -Atc 'SELECT 1' 2>&1",
        6,
    );
    assert!(seen.contains("password authentication failed"), "{seen}");
    // Slipway's secrets are not there to read.
    let seen = run_in(&mut shell, "ls / /home/odoo; cat /etc/shadow 2>&1", 7);
    assert!(seen.contains("No such file"), "{seen}");
}
