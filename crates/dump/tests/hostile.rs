//! One hostile file per safety rule: each must fail with a clear error and
//! leave nothing behind (no database, no filestore, no side effect).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{fixture, World};
use slipway_dump::{restore, RestoreOptions};
use zip::write::SimpleFileOptions;

const HEADER: &str = "--\n-- PostgreSQL database dump\n--\n\n";
const FOOTER: &str = "\n--\n-- PostgreSQL database dump complete\n--\n\n";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn marker(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("slipway-pwned-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Restores and expects a failure that left no database and no filestore.
async fn refused(w: &mut World, file: &Path) -> String {
    let db = w.name("hostile");
    let err = restore(&w.target, file, &RestoreOptions::new(&db))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !w.exists(&db).await,
        "half-made database {db} was dropped ({err})"
    );
    assert!(!w.filestore(&db).exists(), "no filestore left ({err})");
    let leftovers: Vec<_> = std::fs::read_dir(w.data.path().join("filestore"))
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(
        leftovers.iter().all(|&n| n == 0),
        "nothing left under filestore/ ({err})"
    );
    err
}

fn zip_of(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (member, data) in members {
        w.start_file(*member, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    path
}

fn sql(body: &str) -> String {
    format!("{HEADER}{body}{FOOTER}")
}

#[tokio::test]
async fn copy_to_program_fails_because_the_replay_is_not_superuser() {
    let mut w = World::new();
    let pwned = marker("copy");
    let file = write(
        w.data.path(),
        "evil.sql",
        sql(&format!(
            "COPY (SELECT 1) TO PROGRAM 'touch {}';\n",
            pwned.display()
        ))
        .as_bytes(),
    );
    let err = refused(&mut w, &file).await;
    assert!(
        err.contains("pg_execute_server_program") || err.contains("superuser"),
        "{err}"
    );
    assert!(!pwned.exists());
}

#[tokio::test]
async fn alter_system_and_untrusted_languages_fail() {
    let mut w = World::new();
    let file = write(
        w.data.path(),
        "evil.sql",
        sql("ALTER SYSTEM SET archive_command = 'touch /tmp/x';\n").as_bytes(),
    );
    let err = refused(&mut w, &file).await;
    assert!(
        err.contains("permission denied") || err.contains("superuser"),
        "{err}"
    );
    let file = write(
        w.data.path(),
        "evil2.sql",
        sql("CREATE EXTENSION IF NOT EXISTS plpython3u;\n").as_bytes(),
    );
    refused(&mut w, &file).await;
}

#[tokio::test]
async fn shell_escape_is_refused_before_psql_sees_it() {
    let mut w = World::new();
    let pwned = marker("shell");
    let body = format!("CREATE TABLE t (a int);\n\\! touch {}\n", pwned.display());
    let file = write(w.data.path(), "evil.sql", sql(&body).as_bytes());
    let err = refused(&mut w, &file).await;
    assert!(err.contains("meta-command \\! touch"), "{err}");
    assert!(!pwned.exists());
}

#[tokio::test]
async fn meta_command_in_a_zip_dump_is_refused() {
    let mut w = World::new();
    let body = sql("\\set ON_ERROR_STOP 0\nSELECT 1;\n");
    let file = zip_of(
        w.data.path(),
        "evil.zip",
        &[
            ("dump.sql", body.as_bytes()),
            ("manifest.json", b"{}"),
            ("filestore/ab/abc", b"x"),
        ],
    );
    let err = refused(&mut w, &file).await;
    assert!(err.contains("\\set ON_ERROR_STOP"), "{err}");
}

#[tokio::test]
async fn zip_slip_is_refused_with_nothing_written() {
    let mut w = World::new();
    let file = zip_of(
        w.data.path(),
        "slip.zip",
        &[
            ("dump.sql", sql("SELECT 1;\n").as_bytes()),
            ("filestore/../../../escaped", b"x"),
        ],
    );
    let err = refused(&mut w, &file).await;
    assert!(err.contains("leaves the target directory"), "{err}");
    assert!(
        !w.data.path().join("escaped").exists()
            && !w.data.path().parent().unwrap().join("escaped").exists()
    );
    let abs = zip_of(
        w.data.path(),
        "abs.zip",
        &[
            ("dump.sql", sql("SELECT 1;\n").as_bytes()),
            ("/tmp/abs-member", b"x"),
        ],
    );
    assert!(refused(&mut w, &abs).await.contains("absolute path"));
}

#[tokio::test]
async fn symlink_member_is_refused() {
    let mut w = World::new();
    let path = w.data.path().join("link.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    z.start_file("dump.sql", SimpleFileOptions::default())
        .unwrap();
    z.write_all(sql("SELECT 1;\n").as_bytes()).unwrap();
    z.add_symlink(
        "filestore/ab/passwd",
        "/etc/passwd",
        SimpleFileOptions::default(),
    )
    .unwrap();
    z.finish().unwrap();
    assert!(refused(&mut w, &path).await.contains("symbolic link"));
}

#[tokio::test]
async fn duplicate_member_names_are_refused() {
    let mut w = World::new();
    let path = zip_of(
        w.data.path(),
        "dup.zip",
        &[
            ("dump.sql", sql("SELECT 1;\n").as_bytes()),
            ("filestore/a/x1", b"one"),
            ("filestore/a/x2", b"two"),
        ],
    );
    // the zip writer refuses duplicates, so rename the second member in place
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(
        &path,
        replace_bytes(&bytes, b"filestore/a/x2", b"filestore/a/x1"),
    )
    .unwrap();
    let err = refused(&mut w, &path).await;
    assert!(err.contains("duplicate"), "{err}");
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = hay.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    out
}

#[tokio::test]
async fn decompression_bomb_is_refused() {
    let mut w = World::new();
    let mut body = sql("SELECT 1;\n").into_bytes();
    body.extend(std::iter::repeat_n(b'\n', 64 << 20));
    let path = w.data.path().join("bomb.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    z.start_file(
        "dump.sql",
        SimpleFileOptions::default().compression_level(Some(9)),
    )
    .unwrap();
    z.write_all(&body).unwrap();
    z.finish().unwrap();
    assert!(refused(&mut w, &path).await.contains("decompression bomb"));
}

#[tokio::test]
async fn truncated_files_get_clear_errors() {
    let mut w = World::new();
    let bytes = std::fs::read(fixture("v17_base.dump")).unwrap();
    let cut = write(w.data.path(), "cut.dump", &bytes[..bytes.len() * 2 / 3]);
    let err = refused(&mut w, &cut).await;
    assert!(
        err.contains("truncated") || err.contains("pg_restore"),
        "{err}"
    );

    let zip = std::fs::read(fixture("v16_base.zip")).unwrap();
    let cut_zip = write(w.data.path(), "cut.zip", &zip[..zip.len() - 100]);
    assert!(refused(&mut w, &cut_zip).await.contains("truncated"));

    let plain = sql("CREATE TABLE t (a int);\nCOPY public.t (a) FROM stdin;\n1\n2\n");
    let cut_sql = write(
        w.data.path(),
        "cut.sql",
        &plain.as_bytes()[..plain.find("2\n").unwrap()],
    );
    assert!(refused(&mut w, &cut_sql).await.contains("truncated"));
}

#[tokio::test]
async fn zero_byte_file_is_refused() {
    let mut w = World::new();
    let empty = write(w.data.path(), "empty.zip", b"");
    assert!(refused(&mut w, &empty).await.contains("empty file"));
}

#[tokio::test]
async fn an_sql_error_midway_drops_the_half_made_database_and_filestore() {
    let mut w = World::new();
    let body =
        sql("CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\nSELECT * FROM no_such_table;\n");
    let file = zip_of(
        w.data.path(),
        "fails.zip",
        &[
            ("dump.sql", body.as_bytes()),
            ("manifest.json", b"{}"),
            ("filestore/ab/abc", b"x"),
        ],
    );
    let err = refused(&mut w, &file).await;
    assert!(err.contains("no_such_table"), "{err}");
}
