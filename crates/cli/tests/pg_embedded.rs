//! `slipway pg start | stop | status | psql` on real PostgreSQL clusters.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{is_root, slipway, slipway_ok, status, DataDir};

fn select_one(data_dir: &std::path::Path) -> String {
    slipway_ok(
        data_dir,
        &["pg", "psql", "postgres", "--", "-tAc", "SELECT 40 + 2"],
    )
}

#[test]
fn start_is_idempotent_and_stop_stops() {
    let data = DataDir::new();
    let first = slipway_ok(data.path(), &["pg", "start"]);
    assert!(first.contains("created and started"), "{first}");
    let second = slipway_ok(data.path(), &["pg", "start"]);
    assert!(second.contains("already running"), "{second}");

    let running = status(data.path());
    assert_eq!(running["running"], true);
    assert!(running["port"].as_u64().unwrap() > 0);
    assert!(running["version"]
        .as_str()
        .unwrap()
        .starts_with(char::is_numeric));
    assert!(running["data_bytes"].as_u64().unwrap() > 1_000_000);
    assert_eq!(select_one(data.path()).trim(), "42");

    assert!(slipway_ok(data.path(), &["pg", "stop"]).contains("stopped"));
    assert_eq!(status(data.path())["running"], false);
    assert!(slipway_ok(data.path(), &["pg", "stop"]).contains("was not running"));
}

#[test]
fn start_recovers_after_the_server_was_killed() {
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    let pid = status(data.path())["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(status(data.path())["running"], false);

    let again = slipway_ok(data.path(), &["pg", "start"]);
    assert!(again.contains("started"), "{again}");
    assert_eq!(select_one(data.path()).trim(), "42");
}

#[test]
fn two_data_dirs_run_side_by_side() {
    let (a, b) = (DataDir::new(), DataDir::new());
    slipway_ok(a.path(), &["pg", "start"]);
    slipway_ok(b.path(), &["pg", "start"]);
    let (sa, sb) = (status(a.path()), status(b.path()));
    assert_ne!(sa["port"], sb["port"]);
    assert_ne!(sa["socket_dir"], sb["socket_dir"]);
    slipway_ok(
        a.path(),
        &[
            "pg",
            "psql",
            "postgres",
            "--",
            "-c",
            "CREATE DATABASE only_in_a",
        ],
    );
    let list = |d: &DataDir| {
        slipway_ok(
            d.path(),
            &[
                "pg",
                "psql",
                "postgres",
                "--",
                "-tAc",
                "SELECT datname FROM pg_database",
            ],
        )
    };
    assert!(list(&a).contains("only_in_a"));
    assert!(!list(&b).contains("only_in_a"));
}

#[test]
fn as_root_the_server_runs_as_the_postgres_user() {
    if !is_root() {
        eprintln!("skipped: this test needs root (it checks the switch to `postgres`)");
        return;
    }
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let pgdata = std::fs::metadata(data.path().join("pg")).unwrap();
    assert_eq!(pgdata.uid(), postgres.uid.as_raw());
    let pid = status(data.path())["pid"].as_u64().unwrap();
    let proc_owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(proc_owner, postgres.uid.as_raw());
}

#[test]
fn an_unprivileged_user_runs_its_own_server() {
    use std::os::unix::process::CommandExt;
    let data = DataDir::new();
    let (uid, gid, bin) = if is_root() {
        // Act as an ordinary user: `postgres`, with the binary copied where it can run it.
        let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        nix::unistd::chown(data.path(), Some(user.uid), Some(user.gid)).unwrap();
        let bin = data.path().join("slipway");
        std::fs::copy(common::slipway_bin(), &bin).unwrap();
        (user.uid.as_raw(), user.gid.as_raw(), bin)
    } else {
        let (u, g) = (nix::unistd::getuid(), nix::unistd::getgid());
        (u.as_raw(), g.as_raw(), common::slipway_bin())
    };
    let home = data.path().join("home");
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .arg("--data-dir")
            .arg(home.as_path())
            .args(args)
            .uid(uid)
            .gid(gid)
            .current_dir("/")
            .output()
            .unwrap()
    };
    let started = run(&["pg", "start"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert_eq!(std::fs::metadata(home.join("pg")).unwrap().uid(), uid);
    let answer = run(&["pg", "psql", "postgres", "--", "-tAc", "SELECT 7 * 6"]);
    assert_eq!(String::from_utf8_lossy(&answer.stdout).trim(), "42");
    assert!(run(&["pg", "stop"]).status.success());
}

#[test]
fn missing_binaries_are_named_and_nothing_is_created() {
    let data = DataDir::new();
    let target = data.path().join("new");
    let out = slipway(&target, &["--pg-bindir", "/nonexistent/bin", "pg", "start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no PostgreSQL server binaries in /nonexistent/bin"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(!target.exists());
}

#[test]
fn an_unusable_data_dir_is_refused_and_left_as_it_was() {
    let data = DataDir::new();
    let file = data.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = slipway(&file.join("data"), &["pg", "start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("choose a writable --data-dir"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn a_cluster_of_another_major_version_is_explained() {
    let data = DataDir::new();
    std::fs::create_dir_all(data.path().join("pg")).unwrap();
    std::fs::write(data.path().join("pg/PG_VERSION"), "11\n").unwrap();
    let out = slipway(data.path(), &["pg", "start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("created by PostgreSQL 11"), "{err}");
    assert!(err.contains("postgresql-11"), "{err}");
    assert_eq!(
        std::fs::read_to_string(data.path().join("pg/PG_VERSION")).unwrap(),
        "11\n"
    );
}

/// `psql` through the socket as `postgres`, giving no password: whether it got in.
fn postgres_without_password(data_dir: &std::path::Path) -> bool {
    let s = status(data_dir);
    std::process::Command::new("psql")
        .args([
            "-X", "-w", "-U", "postgres", "-d", "postgres", "-c", "select 1",
        ])
        .args(["-h", s["socket_dir"].as_str().unwrap()])
        .args(["-p", &s["port"].to_string()])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/dev/null")
        .output()
        .unwrap()
        .status
        .success()
}

/// A data directory of an older Slipway, whose `pg_hba.conf` trusted the socket: `pg start`
/// rewrites it, stopped or running (then reloaded), and the socket trusts nobody any more;
/// Slipway itself still gets in with the password of `postgres.json`.
#[test]
fn a_cluster_that_trusted_its_socket_trusts_nobody_after_start() {
    let data = DataDir::new();
    slipway_ok(data.path(), &["pg", "start"]);
    assert!(
        !postgres_without_password(data.path()),
        "a new cluster trusts nobody"
    );
    let hba = data.path().join("pg/pg_hba.conf");
    let old_rules = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";

    std::fs::write(&hba, old_rules).unwrap();
    slipway_ok(data.path(), &["pg", "stop"]);
    slipway_ok(data.path(), &["pg", "start"]);
    assert!(!std::fs::read_to_string(&hba)
        .unwrap()
        .contains("all all trust"));
    assert!(
        !postgres_without_password(data.path()),
        "stopped then started"
    );

    std::fs::write(&hba, old_rules).unwrap();
    slipway_ok(
        data.path(),
        &[
            "pg",
            "psql",
            "postgres",
            "--",
            "-c",
            "SELECT pg_reload_conf()",
        ],
    );
    assert!(
        postgres_without_password(data.path()),
        "the old rules are live"
    );
    let again = slipway_ok(data.path(), &["pg", "start"]);
    assert!(again.contains("already running"), "{again}");
    assert!(
        !postgres_without_password(data.path()),
        "rewritten and reloaded while running"
    );
    assert_eq!(select_one(data.path()).trim(), "42");
}
