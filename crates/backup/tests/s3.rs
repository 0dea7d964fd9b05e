//! An S3 location against a real S3-compatible server: moto's `moto_server` (`pip install
//! "moto[server]"`, which `dev/setup` installs), found through `SLIPWAY_TEST_MOTO_SERVER` or on
//! the PATH. Without it the tests fail, saying what to install: a skipped test would pass in CI
//! without running.
#![cfg(feature = "s3")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_backup::store::GcOptions;
use slipway_backup::{open_location, BackupKind, BackupLabels, Location, Part, Repository};

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SLIPWAY_TEST_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("moto_server"))
            .find(|p| p.is_file())
    })
}

fn start() -> Moto {
    let bin = moto_server().expect(
        "no moto_server on the PATH: run dev/setup (it installs moto[server]), or set SLIPWAY_TEST_MOTO_SERVER",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, port };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// Creates a bucket with a plain HTTP PUT (moto does not check signatures).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn s3(port: u16, bucket: &str, prefix: &str) -> Arc<dyn Location> {
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    open_location(&format!(
        "s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{port}&region=us-east-1"
    ))
    .unwrap()
}

#[test]
fn an_s3_bucket_holds_a_replica_that_is_checked_healed_and_collected() {
    let moto = start();
    create_bucket(moto.port, "backups");
    let bucket = s3(moto.port, "backups", "slipway/replica");
    assert_eq!(bucket.get("chunks/00/none").unwrap(), None);
    bucket.put("probe/x", b"hello").unwrap();
    assert_eq!(bucket.get("probe/x").unwrap().unwrap(), b"hello");
    assert_eq!(bucket.list("probe/").unwrap()[0].key, "probe/x");
    bucket.delete("probe/x").unwrap();
    assert!(!bucket.exists("probe/x").unwrap());

    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open(dir.path().join("primary"), vec![bucket.clone()]).unwrap();
    let data: Vec<u8> = (0..3_000_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let mut w = repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Manual))
        .unwrap();
    w.put_database("prod", "pg-custom", data.as_slice(), &mut |_| {})
        .unwrap();
    w.put_file(Part::Filestore, "ab/abcdef", 0o644, &b"attachment"[..])
        .unwrap();
    let outcome = w.finish().unwrap();
    assert!(outcome.complete(), "{:?}", outcome.locations);
    let id = outcome.manifest.id.clone();

    // a chunk lost in the bucket is found and healed from the primary
    let chunks = bucket.list("chunks/").unwrap();
    assert!(!chunks.is_empty());
    bucket.delete(&chunks[0].key).unwrap();
    let report = repo.check(&id, true).unwrap();
    assert_eq!(report.locations[1].missing, 1);
    assert!(report.complete(), "{report:?}");
    assert!(repo.check(&id, false).unwrap().complete());

    // the primary loses everything: the backup reads back from the bucket alone
    std::fs::remove_dir_all(dir.path().join("primary/chunks")).unwrap();
    std::fs::create_dir(dir.path().join("primary/chunks")).unwrap();
    let mut out = Vec::new();
    repo.read_stream(
        &id,
        &outcome.manifest.database.as_ref().unwrap().stream,
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out, data);

    // deleted, then collected in the bucket too
    repo.delete(&id).unwrap();
    let gc = repo.gc(&GcOptions::default()).unwrap();
    assert_eq!(gc.replicas[0].error, None);
    assert_eq!(gc.replicas[0].deleted as usize, chunks.len());
    assert!(bucket.list("chunks/").unwrap().is_empty());
}

#[test]
fn an_unreachable_s3_endpoint_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // nothing listens there once the listener is dropped
    let bucket = s3(port, "backups", "x");
    let err = bucket.put("chunks/ab/x", b"x").unwrap_err().to_string();
    assert!(
        err.contains("s3://backups/x") && err.contains("cannot write"),
        "{err}"
    );
}
