use std::time::Duration;

use rand::{RngCore, SeedableRng};

use super::*;
use crate::manifest::BackupKind;

const SMALL: ChunkParams = ChunkParams {
    min: 4 << 10,
    avg: 16 << 10,
    max: 64 << 10,
};

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

struct World {
    dir: tempfile::TempDir,
    repo: Repository,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let replicas: Vec<Arc<dyn Location>> = vec![
        Arc::new(LocalLocation::new(dir.path().join("replica-1"))),
        Arc::new(LocalLocation::new(dir.path().join("replica-2"))),
    ];
    let repo = Repository::with_params(dir.path().join("primary"), SMALL, replicas).unwrap();
    World { dir, repo }
}

/// A "database dump" and a filestore of `files` random files.
fn backup(repo: &Repository, db: &[u8], files: &[(String, Vec<u8>)]) -> BackupOutcome {
    let mut w = repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Manual))
        .unwrap();
    w.put_database("prod", "pg-custom", db, &mut |_| {})
        .unwrap();
    for (path, data) in files {
        w.put_file(Part::Filestore, path, 0o644, data.as_slice())
            .unwrap();
    }
    w.finish().unwrap()
}

fn filestore(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let data = random(3000 + i * 100, seed + i as u64);
            let sha = hex::encode(sha1::Sha1::digest(&data));
            (format!("{}/{sha}", &sha[..2]), data)
        })
        .collect()
}

fn read_db(repo: &Repository, m: &BackupManifest) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    repo.read_stream(
        &m.id,
        &m.database.as_ref().unwrap().stream,
        &mut out,
        &mut |_| {},
    )
    .map(|()| out)
}

fn chunk_file(root: &Path, id: ChunkId) -> PathBuf {
    root.join(chunk_key(id))
}

#[test]
fn a_backup_is_complete_in_three_locations_and_restores_byte_for_byte() {
    let w = world();
    let db = random(1 << 20, 1);
    let files = filestore(20, 100);
    let outcome = backup(&w.repo, &db, &files);

    assert!(outcome.complete(), "{:?}", outcome.locations);
    assert_eq!(outcome.locations.len(), 3);
    let m = &outcome.manifest;
    for loc in ["primary", "replica-1", "replica-2"] {
        let root = w.dir.path().join(loc);
        assert!(root.join(BackupManifest::key(&m.id)).is_file(), "{loc}");
        for id in m.chunks().keys() {
            assert!(chunk_file(&root, *id).is_file(), "{loc} lacks {id}");
        }
    }
    assert_eq!(read_db(&w.repo, m).unwrap(), db);
    let dest = w.dir.path().join("restored");
    assert_eq!(
        w.repo
            .restore_files(m, Part::Filestore, &dest, &mut |_| {})
            .unwrap(),
        20
    );
    for (path, data) in &files {
        assert_eq!(&fs::read(dest.join(path)).unwrap(), data);
    }
    let listed = w.repo.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0], m);
    assert!(w.repo.check(&m.id, false).unwrap().complete());
}

#[test]
fn a_second_backup_after_a_small_change_stores_only_new_chunks() {
    let w = world();
    let mut db = random(4 << 20, 2);
    let mut files = filestore(50, 200);
    backup(&w.repo, &db, &files);
    let after_first = w.repo.store().stats().unwrap().bytes;

    db[2 << 20] ^= 1;
    files.truncate(49);
    files.extend(filestore(1, 999));
    let second = backup(&w.repo, &db, &files);
    let added = w.repo.store().stats().unwrap().bytes - after_first;

    assert!(added < 200 << 10, "second backup added {added} bytes");
    assert_eq!(second.manifest.sizes.added, added);
    assert_eq!(read_db(&w.repo, &second.manifest).unwrap(), db);
}

#[test]
fn a_corrupted_chunk_in_one_location_is_detected_and_healed_from_another() {
    let w = world();
    let outcome = backup(&w.repo, &random(1 << 20, 3), &filestore(5, 300));
    let m = &outcome.manifest;
    let victim = *m.chunks().keys().next().unwrap();
    let replica = w.dir.path().join("replica-1");
    fs::write(chunk_file(&replica, victim), b"garbage").unwrap();
    let primary = w.dir.path().join("primary");
    let gone = *m.chunks().keys().nth(1).unwrap();
    fs::remove_file(chunk_file(&primary, gone)).unwrap();

    // reading falls back to a sound copy
    assert!(read_db(&w.repo, m).is_ok());

    let found = w.repo.check(&m.id, false).unwrap();
    assert!(!found.complete());
    assert_eq!(found.locations[0].missing, 1);
    assert_eq!(found.locations[1].corrupt, 1);
    assert_eq!(found.locations[2].missing + found.locations[2].corrupt, 0);

    let healed = w.repo.check(&m.id, true).unwrap();
    assert!(healed.complete(), "{healed:?}");
    assert_eq!(healed.locations[1].healed, 1);
    assert!(w.repo.check(&m.id, false).unwrap().complete());
    let fixed = fs::read(chunk_file(&replica, victim)).unwrap();
    assert!(decode_chunk(victim, &fixed, 1 << 20).is_ok());
}

#[test]
fn a_chunk_damaged_everywhere_is_reported_lost() {
    let w = world();
    let m = backup(&w.repo, &random(100_000, 4), &[]).manifest;
    let victim = *m.chunks().keys().next().unwrap();
    for loc in ["primary", "replica-1", "replica-2"] {
        fs::write(chunk_file(&w.dir.path().join(loc), victim), b"x").unwrap();
    }
    let report = w.repo.check(&m.id, true).unwrap();
    assert_eq!(report.lost, [victim.to_hex()]);
    let err = read_db(&w.repo, &m).unwrap_err().to_string();
    assert!(err.contains("no sound copy"), "{err}");
}

#[test]
fn an_unreachable_replica_leaves_the_backup_incomplete_with_a_clear_error_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("replica-file");
    fs::write(&blocked, b"a file where the folder should be").unwrap();
    let replicas: Vec<Arc<dyn Location>> = vec![
        Arc::new(LocalLocation::new(dir.path().join("replica-1"))),
        Arc::new(LocalLocation::new(&blocked)),
    ];
    let repo = Repository::with_params(dir.path().join("primary"), SMALL, replicas).unwrap();
    let outcome = backup(&repo, &random(200_000, 5), &filestore(3, 500));

    assert!(!outcome.complete());
    assert!(outcome.locations[0].complete && outcome.locations[1].complete);
    let error = outcome.locations[2].error.clone().unwrap();
    assert!(error.contains("replica-file"), "{error}");
    assert!(error.contains("cannot "), "{error}");
    assert!(!blocked
        .join(BackupManifest::key(&outcome.manifest.id))
        .exists());

    // the location comes back: verify completes it
    fs::remove_file(&blocked).unwrap();
    let healed = repo.check(&outcome.manifest.id, true).unwrap();
    assert!(healed.complete(), "{healed:?}");
    assert!(blocked
        .join(BackupManifest::key(&outcome.manifest.id))
        .is_file());
}

#[test]
fn an_unwritable_primary_fails_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("primary");
    fs::write(&file, b"x").unwrap();
    let err = Repository::with_params(&file, SMALL, vec![])
        .unwrap_err()
        .to_string();
    assert!(err.contains("primary"), "{err}");
}

#[test]
fn an_abandoned_backup_leaves_no_manifest_and_gc_collects_its_chunks_everywhere() {
    let w = world();
    let kept = backup(&w.repo, &random(300_000, 6), &[]).manifest;
    {
        let mut writer = w
            .repo
            .begin_backup(BackupLabels::of_kind(BackupKind::Daily))
            .unwrap();
        writer
            .put_database(
                "prod",
                "pg-custom",
                random(500_000, 7).as_slice(),
                &mut |_| {},
            )
            .unwrap();
        // dropped: the process died here
    }
    assert_eq!(w.repo.list().unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(20));
    let options = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::ZERO,
    };
    let report = w.repo.gc(&options).unwrap();
    assert!(report.primary_deleted > 5, "{report:?}");
    assert_eq!(
        w.repo.store().stats().unwrap().chunks as usize,
        kept.chunks().len()
    );
    assert!(w.repo.check(&kept.id, false).unwrap().complete());
}

#[test]
fn gc_during_a_backup_never_deletes_its_chunks() {
    let w = world();
    let old = backup(&w.repo, &random(300_000, 8), &filestore(5, 800)).manifest;
    // file times come from a coarse clock: the margin covers it, as in production
    std::thread::sleep(Duration::from_millis(1200));
    let db = random(600_000, 9);
    let mut writer = w
        .repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Daily))
        .unwrap();
    writer
        .put_database("prod", "pg-custom", db.as_slice(), &mut |_| {})
        .unwrap();
    // reuse the old backup's files, then drop the old backup and collect mid-way
    for (path, data) in filestore(5, 800) {
        writer
            .put_file(Part::Filestore, &path, 0o644, data.as_slice())
            .unwrap();
    }
    w.repo.delete(&old.id).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let options = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::from_secs(1),
    };
    let report = w.repo.gc(&options).unwrap();
    assert!(
        report.primary_deleted > 0,
        "the old database chunks go: {report:?}"
    );
    let outcome = writer.finish().unwrap();
    assert!(outcome.complete(), "{:?}", outcome.locations);
    let report = w.repo.check(&outcome.manifest.id, false).unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(read_db(&w.repo, &outcome.manifest).unwrap(), db);
}

#[test]
fn deleted_backups_free_their_chunks_in_every_location() {
    let w = world();
    let a = backup(&w.repo, &random(300_000, 10), &[]).manifest;
    let b = backup(&w.repo, &random(300_000, 11), &[]).manifest;
    w.repo.delete(&a.id).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let options = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::ZERO,
    };
    let report = w.repo.gc(&options).unwrap();
    assert_eq!(report.primary_deleted as usize, a.chunks().len());
    for replica in &report.replicas {
        assert_eq!(replica.deleted as usize, a.chunks().len(), "{replica:?}");
    }
    assert!(w.repo.check(&b.id, false).unwrap().complete());
    assert!(matches!(w.repo.load(&a.id), Err(Error::NoSuchBackup(_))));
}

#[test]
fn unsafe_paths_are_refused_both_ways() {
    let w = world();
    let mut writer = w
        .repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Manual))
        .unwrap();
    for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
        assert!(writer.put_file(Part::Logs, bad, 0o644, &b"x"[..]).is_err());
    }
}

#[test]
fn trees_are_stored_with_paths_and_modes() {
    let w = world();
    let src = w.dir.path().join("logs");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("odoo.log"), b"started\n").unwrap();
    fs::write(src.join("sub/update.log"), b"updated\n").unwrap();
    let mut writer = w
        .repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Manual))
        .unwrap();
    writer.put_tree(Part::Logs, &src, &mut |_| {}).unwrap();
    writer
        .put_tree(Part::Sessions, &w.dir.path().join("none"), &mut |_| {})
        .unwrap();
    let m = writer.finish().unwrap().manifest;
    let paths: Vec<&str> = m.logs.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["odoo.log", "sub/update.log"]);
    assert_eq!(m.sizes.logs, 16);
    let dest = w.dir.path().join("out");
    w.repo
        .restore_files(&m, Part::Logs, &dest, &mut |_| {})
        .unwrap();
    assert_eq!(fs::read(dest.join("sub/update.log")).unwrap(), b"updated\n");
}

fn base_backup(repo: &Repository, tar: &[u8]) -> BaseBackupManifest {
    let at = Utc::now();
    let mut w = repo
        .begin_base_backup(crate::new_backup_id(at), at)
        .unwrap();
    w.put_tar(tar, &mut |_| {}).unwrap();
    w.manifest_mut().stop_lsn = 0x2000100;
    let (m, statuses) = w.finish().unwrap();
    assert!(statuses.iter().all(|s| s.complete), "{statuses:?}");
    m
}

#[test]
fn base_backups_are_replicated_kept_by_gc_and_collected_once_deleted() {
    let w = world();
    let tar = random(400_000, 40);
    let base = base_backup(&w.repo, &tar);
    assert_eq!(w.repo.base_backups().unwrap(), std::slice::from_ref(&base));
    for replica in ["replica-1", "replica-2"] {
        let key = w
            .dir
            .path()
            .join(replica)
            .join(BaseBackupManifest::key(&base.id));
        assert!(key.exists(), "{replica} holds the manifest");
    }
    std::thread::sleep(Duration::from_millis(20));
    let options = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::ZERO,
    };
    let report = w.repo.gc(&options).unwrap();
    assert_eq!(report.primary_deleted, 0, "a base backup's chunks are live");
    let mut out = Vec::new();
    w.repo
        .read_stream(&base.id, &base.tar, &mut out, &mut |_| {})
        .unwrap();
    assert_eq!(out, tar);
    w.repo.delete_base_backup(&base.id).unwrap();
    assert!(w.repo.base_backups().unwrap().is_empty());
    let report = w.repo.gc(&options).unwrap();
    assert!(report.primary_deleted > 5, "{report:?}");
    assert!(report.replicas.iter().all(|r| r.deleted > 5), "{report:?}");
}

#[test]
fn wal_files_are_stored_everywhere_read_back_from_a_sound_copy_and_deleted() {
    let w = world();
    let segment = random(100_000, 41);
    let at = "2026-11-21T10:00:00Z".parse().unwrap();
    let (entry, failed) = w
        .repo
        .put_wal("000000010000000000000002", &segment, at)
        .unwrap();
    assert!(failed.is_empty());
    assert_eq!(entry.archived_at, at);
    let later = "2026-11-21T10:00:01.2Z".parse().unwrap();
    let (rounded, _) = w
        .repo
        .put_wal("000000010000000000000003", &segment, later)
        .unwrap();
    assert_eq!(
        rounded.archived_at,
        "2026-11-21T10:00:02Z".parse::<DateTime<Utc>>().unwrap(),
        "rounded up: nothing later than that is in it"
    );
    w.repo.delete_wal(&rounded).unwrap();
    assert!(w.repo.put_wal("../escape", b"x", at).is_err());
    assert!(w
        .repo
        .put_wal("000000010000000000000002.tmp", b"x", at)
        .is_err());
    assert_eq!(w.repo.list_wal().unwrap(), std::slice::from_ref(&entry));
    // damaged in the primary: read from a replica
    std::fs::write(w.dir.path().join("primary").join(&entry.key), b"garbage").unwrap();
    assert_eq!(w.repo.get_wal(&entry).unwrap(), segment);
    // missing from a replica: caught up
    std::fs::remove_file(w.dir.path().join("replica-2").join(&entry.key)).unwrap();
    let synced = w.repo.sync_wal_replicas();
    assert!(matches!(synced[1].1, Ok(1)), "{synced:?}");
    w.repo.delete_wal(&entry).unwrap();
    assert!(w.repo.list_wal().unwrap().is_empty());
    let err = w.repo.get_wal(&entry).unwrap_err().to_string();
    assert!(err.contains("000000010000000000000002"), "{err}");
}

#[test]
fn gc_refuses_to_run_on_a_damaged_primary_manifest_and_keeps_every_chunk() {
    let w = world();
    let kept = backup(&w.repo, &random(200_000, 21), &filestore(3, 2100)).manifest;
    let chunks_before = w.repo.store().stats().unwrap().chunks;
    let key = w
        .dir
        .path()
        .join("primary")
        .join(BackupManifest::key(&kept.id));
    std::fs::write(&key, b"{ not a manifest").unwrap();
    let options = GcOptions {
        stale_session: Duration::from_secs(3600),
        clock_margin: Duration::ZERO,
    };
    let err = w.repo.gc(&options).unwrap_err().to_string();
    assert!(err.contains("run verify to heal it first"), "{err}");
    assert_eq!(w.repo.store().stats().unwrap().chunks, chunks_before);

    // a damaged copy in a replica only: the primary's view is whole, gc runs and keeps it
    std::fs::write(&key, serde_json::to_vec(&kept).unwrap()).unwrap();
    let replica_key = w
        .dir
        .path()
        .join("replica-1")
        .join(BackupManifest::key(&kept.id));
    std::fs::write(&replica_key, b"garbage").unwrap();
    w.repo.gc(&options).unwrap();
    assert_eq!(w.repo.store().stats().unwrap().chunks, chunks_before);
    assert_eq!(read_db(&w.repo, &kept).unwrap(), random(200_000, 21));
}

/// A tmpfs of a given size mounted for a test, unmounted when dropped: a location that
/// really fills up (writes fail with ENOSPC). `None` when mounting is not allowed (not root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        fs::create_dir_all(at).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            // root in a container without the right to mount
            eprintln!("skipped: could not mount a tmpfs on {}", at.display());
            return None;
        }
        Some(SmallDisk(at.to_path_buf()))
    }

    /// Makes room: the same mount, larger.
    fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_replica_leaves_the_backup_incomplete_and_verify_completes_it_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("replica-2"), "64k") else {
        return;
    };
    let replicas: Vec<Arc<dyn Location>> = vec![
        Arc::new(LocalLocation::new(dir.path().join("replica-1"))),
        Arc::new(LocalLocation::new(dir.path().join("replica-2"))),
    ];
    let repo = Repository::with_params(dir.path().join("primary"), SMALL, replicas).unwrap();
    let outcome = backup(&repo, &random(600_000, 41), &filestore(3, 4100));

    assert!(!outcome.complete(), "{:?}", outcome.locations);
    assert!(outcome.locations[0].complete && outcome.locations[1].complete);
    let error = outcome.locations[2].error.clone().unwrap();
    assert!(error.contains("replica-2"), "{error}");
    assert!(error.contains("No space left"), "{error}");
    assert!(error.contains("not full"), "says what to check: {error}");
    let key = BackupManifest::key(&outcome.manifest.id);
    assert!(!dir.path().join("replica-2").join(&key).exists());
    // the primary's copy is whole and restores
    assert_eq!(
        read_db(&repo, &outcome.manifest).unwrap(),
        random(600_000, 41)
    );

    disk.grow("16m");
    let healed = repo.check(&outcome.manifest.id, true).unwrap();
    assert!(healed.complete(), "{healed:?}");
    assert!(dir.path().join("replica-2").join(&key).is_file());
}

#[test]
fn a_full_primary_fails_the_backup_cleanly_and_the_next_one_succeeds_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("primary"), "128k") else {
        return;
    };
    let repo = Repository::with_params(dir.path().join("primary"), SMALL, vec![]).unwrap();
    let mut writer = repo
        .begin_backup(BackupLabels::of_kind(BackupKind::Manual))
        .unwrap();
    let err = writer
        .put_database(
            "prod",
            "pg-custom",
            random(600_000, 42).as_slice(),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    drop(writer);
    assert!(err.contains("No space left"), "{err}");
    assert!(err.contains("primary"), "names where: {err}");
    assert!(repo.list().unwrap().is_empty(), "no half backup listed");
    assert_eq!(
        fs::read_dir(repo.store().tmp_dir()).unwrap().count(),
        0,
        "no partial chunk left to fill the disk"
    );

    disk.grow("16m");
    let outcome = backup(&repo, &random(600_000, 42), &filestore(2, 4200));
    assert!(outcome.complete());
    assert_eq!(
        read_db(&repo, &outcome.manifest).unwrap(),
        random(600_000, 42)
    );
}
