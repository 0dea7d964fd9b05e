//! `slipway serve` end to end: the real binary, a real PostgreSQL, HTTP over TCP, signals.

mod common;

use std::net::TcpListener;

use common::{
    free_port, slipway, slipway_ok, spawn_serve, status, terminate, wait_healthy, DataDir,
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
fn serve_uses_an_external_postgres_given_by_url() {
    let external = DataDir::new();
    slipway_ok(external.path(), &["pg", "start"]);
    let s = status(external.path());
    let url = format!(
        "postgresql://postgres@localhost/postgres?host={}&port={}",
        s["socket_dir"].as_str().unwrap(),
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
