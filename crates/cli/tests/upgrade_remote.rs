//! Upgrades sent to another upgrade platform (`serve --upgrade-service URL --upgrade-contract
//! C`): the real client, `slipway_upgrade::delegate::Remote`, against a real `slipway serve`'s
//! `/database/v1` with the stand-in engine, as Odoo.sh sends databases to upgrade.odoo.com.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::upgrade_api::{odoo_dump, platform, platform_serving, repo_file, Platform, CONTRACT};
use common::{free_port, slipway, DataDir};
use slipway_upgrade::delegate::{Remote, RemoteError, RemoteService, Timeouts};
use slipway_upgrade::rules::{Aim, RequestState};
use slipway_upgrade::{Delegate, Error, Filed, Progress, UpgradeOrder};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The remote at `base`, filing under `contract`.
fn remote(base: &str, contract: &str) -> Delegate {
    let service = RemoteService::new(base, contract).unwrap();
    Delegate::Remote(Remote::new(service).unwrap())
}

/// The shared 16.0 dump, to 17.0.
fn order(aim: Aim, custom_modules: &[&str]) -> UpgradeOrder {
    UpgradeOrder {
        dump: odoo_dump("v16_base.zip"),
        target: "17.0".into(),
        aim,
        email: "ops@example.com".into(),
        custom_modules: custom_modules.iter().map(|m| m.to_string()).collect(),
    }
}

/// The remote's own view of the request, through its API.
fn status_at_remote(p: &Platform, filed: &Filed) -> serde_json::Value {
    let id = filed.id.to_string();
    p.call("status", &[("key", &filed.key), ("request", &id)])["request"].clone()
}

/// The files of `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn another_slipway_upgrades_the_dump_and_the_result_and_log_come_back() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let rt = runtime();
    let delegate = remote(&format!("{}/", p.base), CONTRACT);
    let filed = rt
        .block_on(delegate.submit(&order(Aim::Test, &["x_sale", "x_stock"])))
        .unwrap();
    let at_remote = status_at_remote(&p, &filed);
    assert_eq!(at_remote["filename"], "v16_base.zip", "{at_remote}");
    assert_eq!(at_remote["aim"], "test");
    assert_eq!(at_remote["email"], "ops@example.com");
    assert_eq!(at_remote["filesize"], "482.46 Kb", "the whole dump arrived");
    let kept_for_code = common::slipway_ok(
        p.data.path(),
        &[
            "pg",
            "psql",
            "slipway",
            "--",
            "-Atc",
            &format!(
                "SELECT custom_modules FROM upgrade_requests WHERE id = {}",
                filed.id
            ),
        ],
    );
    assert_eq!(
        kept_for_code.trim(),
        r#"["x_sale", "x_stock"]"#,
        "the remote leaves the custom modules for the sender's code"
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    let progress: Progress = loop {
        let progress = rt.block_on(delegate.progress(&filed)).unwrap();
        if !progress.state.is_unfinished() {
            break progress;
        }
        assert!(Instant::now() < deadline, "still {:?}", progress.state);
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(progress.state, RequestState::Done, "{progress:?}");
    assert_eq!(progress.message, None);

    let work = tempfile::tempdir().unwrap();
    let upgraded = work.path().join("upgraded.zip");
    rt.block_on(delegate.fetch_upgraded(&filed, &upgraded))
        .unwrap();
    let inspected = slipway_dump::inspect(
        &upgraded,
        &slipway_dump::InspectOptions {
            pg_restore: slipway_testkit::binaries().tool("pg_restore"),
            zip_limits: Default::default(),
        },
    )
    .unwrap();
    assert_eq!(inspected.odoo_version.as_deref(), Some("17.0"));
    assert_eq!(inspected.modules["base"], "17.0.1.3");
    let served = p
        .get(
            status_at_remote(&p, &filed)["upgraded_dump_url"]
                .as_str()
                .unwrap(),
        )
        .bytes()
        .unwrap();
    assert_eq!(std::fs::read(&upgraded).unwrap(), served.as_ref());

    let log = work.path().join("upgrade.log");
    rt.block_on(delegate.fetch_log(&filed, &log)).unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("pre-10-record-source-version"), "{log}");
    assert!(log.contains("openupgrade_framework"), "{log}");
    assert_eq!(
        files_in(work.path()),
        ["upgrade.log", "upgraded.zip"],
        "no temporary file is left"
    );
}

#[test]
fn a_wrong_contract_is_refused_with_the_remotes_reason_and_the_service_named() {
    let p = platform(&repo_file("tests/fixtures/upgrade-scripts"));
    let rt = runtime();
    let error = rt
        .block_on(remote(&p.base, "M000000-nope").submit(&order(Aim::Test, &[])))
        .unwrap_err();
    let Error::Remote(remote_error) = &error else {
        panic!("not a remote error: {error}");
    };
    assert_eq!(remote_error.reasons(), ["CONTRACT:NOT_FOUND"]);
    let message = error.to_string();
    assert!(
        message.contains(&format!("the upgrade service {} refused create", p.base)),
        "{message}"
    );
    assert!(message.contains("M000000-nope"), "{message}");

    // A target the remote does not offer: its reason, with what it offers.
    let mut wrong = order(Aim::Test, &[]);
    wrong.target = "19.0".into();
    let error = rt
        .block_on(remote(&p.base, CONTRACT).submit(&wrong))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("TARGET:INVALID") && message.contains("(expected: 17.0)"),
        "{message}"
    );
}

#[test]
fn a_pending_request_is_cancelled_and_its_log_is_empty_until_it_runs() {
    // No worker: what is sent stays pending.
    let scripts = tempfile::tempdir().unwrap();
    let p = platform_serving(scripts.path(), &["17.0"], &["--workers", "0"]);
    let rt = runtime();
    let delegate = remote(&p.base, CONTRACT);
    let filed = rt
        .block_on(delegate.submit(&order(Aim::Production, &[])))
        .unwrap();
    let progress = rt.block_on(delegate.progress(&filed)).unwrap();
    assert_eq!(progress.state, RequestState::Pending);

    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("upgrade.log");
    std::fs::write(&log, "an older log").unwrap();
    rt.block_on(delegate.fetch_log(&filed, &log)).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");

    let early = rt
        .block_on(delegate.fetch_upgraded(&filed, &work.path().join("upgraded.zip")))
        .unwrap_err();
    assert!(
        early.to_string().contains(&format!(
            "request {} at the upgrade service {} is pending: it has no upgraded database",
            filed.id, p.base
        )),
        "{early}"
    );
    assert_eq!(files_in(work.path()), ["upgrade.log"]);

    rt.block_on(delegate.cancel(&filed)).unwrap();
    let progress = rt.block_on(delegate.progress(&filed)).unwrap();
    assert_eq!(progress.state, RequestState::Cancelled);
    assert_eq!(status_at_remote(&p, &filed)["state"], "cancelled");
    // Cancelling what already ended does nothing.
    rt.block_on(delegate.cancel(&filed)).unwrap();
    // A wrong key is the remote's KEY:INVALID, not a silent success.
    let forged = Filed {
        id: filed.id,
        key: "not-the-key".into(),
    };
    let error = rt.block_on(delegate.cancel(&forged)).unwrap_err();
    assert!(error.to_string().contains("KEY:INVALID"), "{error}");
    assert!(
        !error.to_string().contains(&filed.key),
        "errors never show a key"
    );
}

#[test]
fn an_unreachable_service_is_named_with_what_to_check() {
    let base = format!("http://127.0.0.1:{}", free_port());
    let rt = runtime();
    let error = rt
        .block_on(remote(&base, CONTRACT).submit(&order(Aim::Test, &[])))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot reach the upgrade service {base} (create)")),
        "{message}"
    );
    assert!(
        message.contains("check its address and that it is running"),
        "{message}"
    );

    // A service that accepts connections and never answers: a timeout, named.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let timeouts = Timeouts {
        answer: Duration::from_secs(1),
        ..Timeouts::default()
    };
    let service = RemoteService::new(&base, CONTRACT).unwrap();
    let delegate = Delegate::Remote(Remote::with_timeouts(service, timeouts).unwrap());
    let filed = Filed {
        id: 1,
        key: "k".into(),
    };
    let error = rt.block_on(delegate.progress(&filed)).unwrap_err();
    assert!(
        matches!(&error, Error::Remote(RemoteError::Timeout { .. })),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!("the upgrade service {base} did not answer status within 1 s; check that it is up, or try again later")
    );
}

#[test]
fn serve_takes_the_upgrade_service_and_its_contract_together() {
    let data = DataDir::new();
    for (args, says) in [
        (
            &["--upgrade-service", "https://upgrade.example.com"][..],
            "--upgrade-contract is missing",
        ),
        (
            &["--upgrade-contract", CONTRACT][..],
            "--upgrade-service is missing",
        ),
        (
            &[
                "--upgrade-service",
                "ftp://upgrade.example.com",
                "--upgrade-contract",
                CONTRACT,
            ][..],
            "ftp: is not http: or https:",
        ),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = slipway(data.path(), &all);
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--upgrade-service") && stderr.contains("--upgrade-contract"),
            "{args:?}: {stderr}"
        );
        assert!(
            std::fs::read_dir(data.path()).unwrap().next().is_none(),
            "nothing was started or created: {args:?}"
        );
    }
}
