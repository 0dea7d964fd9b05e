//! `slipway serve` end to end: the real binary, a real PostgreSQL, HTTP over TCP, signals.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::{
    free_port, slipway, slipway_ok, spawn_serve, spawn_serve_with, status, terminate, wait_healthy,
    DataDir,
};

#[test]
fn serve_on_a_cold_data_dir_gets_healthy_and_stops_its_postgres_on_sigterm() {
    let data = DataDir::new();
    let port = free_port();
    let mut child = spawn_serve(data.path(), port, &[]);
    let health = wait_healthy(port, &mut child);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["postgres"], status(data.path())["version"]);
    let tables = slipway_ok(
        data.path(),
        &["pg", "psql", "--", "-tAc", "SELECT count(*) FROM jobs"],
    );
    assert_eq!(tables.trim(), "0", "metadata schema applied");

    assert!(terminate(&mut child).success());
    assert_eq!(status(data.path())["running"], false);
}

#[test]
fn serve_leaves_running_a_postgres_it_did_not_start() {
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    let port = free_port();
    let mut child = spawn_serve(data.path(), port, &[]);
    wait_healthy(port, &mut child);
    assert!(terminate(&mut child).success());
    assert_eq!(status(data.path())["running"], true);
}

#[test]
fn serve_refuses_a_taken_port_and_creates_nothing() {
    let data = DataDir::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let fresh = data.path().join("fresh");
    let out = slipway(&fresh, &["serve", "--listen", &format!("127.0.0.1:{port}")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!fresh.exists(), "no data dir created");
}

#[test]
fn serve_with_an_unreachable_pg_url_says_so() {
    let data = DataDir::new();
    let dead = free_port();
    let out = slipway(
        data.path(),
        &[
            "--pg-url",
            &format!("postgres://nobody:secret@127.0.0.1:{dead}/postgres"),
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach PostgreSQL"), "{err}");
    assert!(!err.contains("secret"), "password leaked: {err}");
    assert!(
        !data.path().join("pg").exists(),
        "embedded cluster untouched"
    );
}

#[test]
fn serve_refuses_an_unknown_backup_time_zone_before_starting_anything() {
    let data = DataDir::new();
    let out = slipway(
        data.path(),
        &["serve", "--daily-backup-tz", "Mars/Olympus_Mons"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown time zone \"Mars/Olympus_Mons\"") && err.contains("Europe/Brussels"),
        "{err}"
    );
    assert!(!data.path().join("pg").exists(), "nothing started");
}

#[test]
fn serve_uses_an_external_postgres_given_by_url() {
    let external = DataDir::new();
    slipway_ok(external.path(), &["pg", "start"]);
    let s = status(external.path());
    // nobody is trusted, not even on the socket: the admin gives its password
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(external.path().join("postgres.json")).unwrap(),
    )
    .unwrap();
    let password = state["password"].as_str().unwrap();
    let without_password = format!(
        "postgresql://postgres@localhost/postgres?host={}&port={}",
        s["socket_dir"].as_str().unwrap(),
        s["port"]
    );
    let refused = slipway(
        DataDir::new().path(),
        &[
            "--pg-url",
            &without_password,
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
    );
    assert!(!refused.status.success(), "the socket trusts nobody");
    // an admin role that cannot create roles is refused at start, clearly
    slipway_ok(
        external.path(),
        &[
            "pg",
            "psql",
            "postgres",
            "--",
            "-c",
            "CREATE ROLE weak LOGIN CREATEDB PASSWORD 'weakpw'",
        ],
    );
    let weak = slipway(
        DataDir::new().path(),
        &[
            "--pg-url",
            &format!("postgresql://weak:weakpw@127.0.0.1:{}/postgres", s["port"]),
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
    );
    assert!(!weak.status.success());
    let err = String::from_utf8_lossy(&weak.stderr);
    assert!(err.contains("\"weak\" lacks CREATEROLE"), "{err}");
    let url = format!(
        "postgresql://postgres:{password}@127.0.0.1:{}/postgres",
        s["port"]
    );
    let data = DataDir::new();
    let port = free_port();
    let mut child = spawn_serve(data.path(), port, &["--pg-url", &url]);
    assert_eq!(wait_healthy(port, &mut child)["status"], "ok");
    assert!(terminate(&mut child).success());
    assert!(!data.path().join("pg").exists(), "no embedded cluster made");
    let dbs = slipway_ok(
        external.path(),
        &[
            "pg",
            "psql",
            "postgres",
            "--",
            "-tAc",
            "SELECT datname FROM pg_database",
        ],
    );
    assert!(dbs.lines().any(|l| l == "slipway"), "{dbs}");
}

#[test]
fn serve_catches_a_builds_mail_on_its_smtp_port_until_sigterm() {
    let data = DataDir::new();
    let port = free_port();
    let smtp = format!("127.0.0.1:{}", free_port());
    let mut child = spawn_serve_with(data.path(), port, &[], &["--smtp-listen", &smtp]);
    wait_healthy(port, &mut child);
    let secret = std::fs::read(data.path().join("smtp/secret")).unwrap();
    let login = slipway_mail::BuildCredentials::new(secret.try_into().unwrap()).credentials_for(9);
    let (host, smtp_port) = smtp.split_once(':').unwrap();
    let script = format!(
        "import smtplib\n\
         with smtplib.SMTP({host:?}, {smtp_port}) as s:\n    \
             s.login({:?}, {:?})\n    \
             s.sendmail('odoo@example.com', ['a@example.com'], b'Subject: caught\\r\\n\\r\\nhi\\r\\n')\n",
        login.user, login.password
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eml = std::fs::read(data.path().join("mails/9/1.eml")).unwrap();
    assert_eq!(eml, b"Subject: caught\r\n\r\nhi\r\n");

    assert!(terminate(&mut child).success());
    assert!(
        TcpStream::connect(&smtp).is_err(),
        "SMTP stopped with serve"
    );
}

#[test]
fn serve_refuses_a_taken_smtp_port() {
    let data = DataDir::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp = taken.local_addr().unwrap().to_string();
    let out = slipway(
        data.path(),
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--smtp-listen",
            &smtp,
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen for SMTP on {smtp}")),
        "{err}"
    );
    assert!(!data.path().join("pg").exists(), "nothing started");
}
