//! The sandbox of builds' code, tried as an attacker would: a developer pushes a module whose
//! import (at install, in the stand-in as in Odoo) goes after Slipway's secrets, another
//! build, the PostgreSQL socket and Slipway itself, and prints what it got into its own
//! install.log.

mod common;

use common::site::Site;
use serde_json::{json, Value};

/// What the hostile module tries, by name; each prints `PROBE <name>: GOT ...` or
/// `PROBE <name>: DENIED ...`.
const PROBES: &[&str] = &[
    "postgres.json",
    "cli-token",
    "smtp secret",
    "other build's odoo.conf",
    "other build's filestore",
    "backup repository",
    "git repositories",
    "/etc/shadow",
    "socket as postgres",
    "signal slipway",
];

/// The module's `__init__.py`: the attempts, with the paths an attacker would guess.
fn hostile_module(
    data: &str,
    other_build: &str,
    other_db: &str,
    socket: &str,
    port: u64,
    pid: u32,
) -> String {
    format!(
        r#"import os, configparser
DATA, OTHER, OTHER_DB, SOCKET, PORT, SLIPWAY_PID = {data:?}, {other_build:?}, {other_db:?}, {socket:?}, {port}, {pid}

def attempt(name, fn):
    try:
        print('PROBE %s: GOT %r' % (name, fn()), flush=True)
    except BaseException as e:
        print('PROBE %s: DENIED %s: %s' % (name, type(e).__name__, e), flush=True)

def read(path):
    return lambda: open(path, 'rb').read()[:60]

def listdir(path):
    return lambda: os.listdir(path)

def connect(**kw):
    import psycopg2
    return lambda: psycopg2.connect(connect_timeout=5, **kw).server_version

attempt('postgres.json', read(DATA + '/postgres.json'))
attempt('cli-token', read(DATA + '/cli-token'))
attempt('smtp secret', read(DATA + '/smtp/secret'))
attempt("other build's odoo.conf", read(DATA + '/builds/' + OTHER + '/odoo.conf'))
attempt("other build's filestore", listdir(DATA + '/filestore/' + OTHER_DB))
attempt('backup repository', listdir(DATA + '/backups'))
attempt('git repositories', listdir(DATA + '/git'))
attempt('/etc/shadow', read('/etc/shadow'))
attempt('socket as postgres', connect(host=SOCKET, port=PORT, user='postgres', dbname='postgres'))
attempt('signal slipway', lambda: os.kill(SLIPWAY_PID, 0))
own = configparser.RawConfigParser()
own.read(os.environ.get('ODOO_RC', ''))
o = own['options'] if own.has_section('options') else {{}}
attempt('tcp to production with own credentials', connect(
    host=o.get('db_host'), port=o.get('db_port'), user=o.get('db_user'),
    password=o.get('db_password'), dbname=OTHER_DB))
print('PROBE identity: uid=%d nnp=%s' % (os.getuid(), [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')]), flush=True)
"#
    )
}

fn probe_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter_map(|l| l.split_once("PROBE ").map(|(_, p)| p))
        .collect()
}

#[test]
fn a_developers_module_gets_none_of_slipways_secrets_and_its_build_still_serves() {
    let site = Site::start(&[]);
    let (tree, production) = site.project_with_production("shop");
    let data = site.data.path().to_path_buf();
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("postgres.json")).unwrap())
            .unwrap();
    let socket = state["socket_dir"]
        .as_str()
        .or(state["socket"].as_str())
        .unwrap_or_else(|| panic!("no socket folder in postgres.json: {state}"));
    let port = state["port"].as_u64().unwrap();
    let pid = site.child.as_ref().unwrap().id();
    let other_build = production["name"].as_str().unwrap();
    let other_db = production["database"].as_str().unwrap();
    assert!(
        data.join("filestore").join(other_db).is_dir(),
        "production has a filestore to steal"
    );

    tree.git(&["checkout", "-q", "-b", "evil"]);
    tree.write(
        "evil_probe/__manifest__.py",
        "{'name': 'evil_probe', 'version': '1.0', 'depends': ['base'], 'installable': True, 'license': 'LGPL-3'}\n",
    );
    tree.write(
        "evil_probe/__init__.py",
        &hostile_module(
            &data.display().to_string(),
            other_build,
            other_db,
            socket,
            port,
            pid,
        ),
    );
    let sha = tree.commit("a helpful module");
    tree.push("evil");
    let build = site.wait_build(site.build_of("shop", "evil", &sha));
    assert_eq!(build["state"], "running", "{build}");

    let id = build["id"].as_i64().unwrap().to_string();
    let log = site.cli_ok(&["build", "logs", &id, "install.log"]);
    let lines = probe_lines(&log);
    eprintln!("what the module got: {lines:#?}");
    for probe in PROBES {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{probe}: ")))
            .unwrap_or_else(|| panic!("the module did not try {probe}:\n{log}"));
        assert!(
            line.contains(": DENIED "),
            "{probe} was not refused: {line}\n{log}"
        );
    }
    let identity = lines
        .iter()
        .find(|l| l.starts_with("identity: "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(identity.contains("nnp=['1']"), "{identity}");
    if common::is_root() {
        assert!(!identity.contains("uid=0 "), "{identity}");
    }
    // The same owner role owns every database until the PostgreSQL roles land: this attempt
    // is made and reported, not asserted.
    let tcp = lines
        .iter()
        .find(|l| l.starts_with("tcp to production with own credentials: "));
    eprintln!("tcp with own credentials to production: {tcp:?}");

    // Slipway is untouched and the build serves.
    let name = build["name"].as_str().unwrap();
    let health = site
        .build_request(reqwest::Method::GET, name, "/web/health")
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    let prod = site.get(&format!("/api/builds/{}", production["id"]));
    assert_eq!(prod["state"], "running", "{prod}");
}

/// Signs in with the site's token and returns the session the UI reads at start.
fn session(site: &Site) -> Value {
    let (status, session) = site.post("/api/session", json!({"token": site.token()}));
    assert_eq!(status, 201, "{session}");
    session
}

#[test]
fn the_ui_warns_when_builds_are_not_sandboxed_and_only_then() {
    let unsafe_site = Site::start(&["--no-sandbox"]);
    let warning = session(&unsafe_site)["sandbox_warning"].clone();
    assert!(
        warning.as_str().is_some_and(|w| w.contains("--no-sandbox")),
        "{warning}"
    );
    drop(unsafe_site);
    let site = Site::start(&[]);
    let answer = session(&site);
    assert!(answer.get("sandbox_warning").is_none(), "{answer}");
}
