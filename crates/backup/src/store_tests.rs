use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{RngCore, SeedableRng};

use super::*;

/// Small chunks so that a few MB make a few hundred of them.
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

fn store(dir: &tempfile::TempDir) -> Store {
    Store::with_params(dir.path().join("repo"), SMALL).unwrap()
}

fn put(store: &Store, data: &[u8]) -> Manifest {
    store.begin_write().unwrap().put_stream(data).unwrap()
}

fn get(store: &Store, manifest: &Manifest) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    store.get_stream(manifest, &mut out).map(|()| out)
}

fn set_mtime(path: &Path, ago: Duration) {
    let at = SystemTime::now() - ago;
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

/// Pretends every chunk was written `ago`.
fn age_chunks(store: &Store, ago: Duration) {
    for chunk in store.walk_chunks().unwrap() {
        set_mtime(&chunk.path, ago);
    }
}

fn ids(manifest: &Manifest) -> std::collections::BTreeSet<ChunkId> {
    manifest.chunks.iter().map(|c| c.id).collect()
}

#[test]
fn random_data_round_trips_with_default_chunk_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = random(9 << 20, 1);
    let manifest = put(&store, &data);

    assert!(
        manifest.chunks.len() > 3,
        "{} chunks",
        manifest.chunks.len()
    );
    assert_eq!(manifest.size, data.len() as u64);
    assert_eq!(manifest.blake3, ChunkId::of(&data));
    assert_eq!(get(&store, &manifest).unwrap(), data);
    let first = manifest.chunks[0].id.to_hex();
    assert!(
        dir.path()
            .join("chunks")
            .join(&first[..2])
            .join(&first)
            .is_file(),
        "sharded"
    );
    let json = serde_json::to_string(&manifest).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
}

#[test]
fn an_empty_stream_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let manifest = put(&store, b"");
    assert!(manifest.chunks.is_empty());
    assert_eq!(get(&store, &manifest).unwrap(), b"");
}

#[test]
fn compressible_data_is_stored_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let text: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("INSERT INTO res_partner VALUES ({i}, 'name');\n").into_bytes())
        .collect();
    let manifest = put(&store, &text);
    assert!(store.stats().unwrap().bytes * 5 < text.len() as u64);
    assert_eq!(get(&store, &manifest).unwrap(), text);
}

#[test]
fn two_files_sharing_most_content_store_the_shared_chunks_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let shared = random(6 << 20, 2);
    let mut a = shared.clone();
    a.extend(random(1 << 20, 3));
    let mut b = random(1 << 20, 4);
    b.extend(&shared);

    let ma = put(&store, &a);
    let after_a = store.stats().unwrap().bytes;
    let mb = put(&store, &b);
    let after_b = store.stats().unwrap().bytes;

    // Random bytes do not compress: the repository holds 8 MB of distinct data, plus the
    // few chunks around the two seams.
    let seams = 4 * u64::from(SMALL.max);
    assert!(
        after_b - after_a < (1 << 20) + seams,
        "b added {} bytes",
        after_b - after_a
    );
    assert!(
        after_b < (8 << 20) + seams,
        "repository holds {after_b} bytes"
    );
    assert!(ids(&ma).intersection(&ids(&mb)).count() > 300);
    assert_eq!(get(&store, &mb).unwrap(), b);
}

#[test]
fn a_one_byte_change_in_a_large_file_adds_only_a_few_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut data = random(16 << 20, 5);
    let before = put(&store, &data);
    let chunks_before = store.stats().unwrap().chunks;
    data[10 << 20] ^= 0xff;
    let after = put(&store, &data);

    let added = store.stats().unwrap().chunks - chunks_before;
    assert!((1..=3).contains(&added), "{added} chunks added for 1 byte");
    assert_eq!(ids(&after).difference(&ids(&before)).count() as u64, added);
    assert_eq!(get(&store, &after).unwrap(), data);
}

#[test]
fn a_corrupted_chunk_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let manifest = put(&store, &random(1 << 20, 6));
    let victim = manifest.chunks[3].id;
    let path = store.chunk_path(victim);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&path, bytes).unwrap();

    let err = get(&store, &manifest).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptChunk { id, .. } if *id == victim.to_hex()),
        "{err}"
    );
    assert!(err.to_string().contains(&victim.to_hex()));
    assert!(matches!(
        store.verify_chunk(victim),
        Err(Error::CorruptChunk { .. })
    ));
    assert_eq!(
        store.verify_chunk(manifest.chunks[0].id).unwrap(),
        manifest.chunks[0].size
    );

    fs::write(&path, zstd::bulk::compress(b"other bytes", 3).unwrap()).unwrap();
    let err = get(&store, &manifest).unwrap_err();
    assert!(err.to_string().contains("hash to"), "{err}");

    fs::remove_file(&path).unwrap();
    assert!(
        matches!(get(&store, &manifest), Err(Error::MissingChunk { id, .. }) if id == victim.to_hex())
    );
    assert!(!store.has(victim).unwrap());
    assert!(store.has(manifest.chunks[0].id).unwrap());
}

#[test]
fn a_manifest_that_lies_about_the_whole_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut manifest = put(&store, &random(100_000, 7));
    manifest.blake3 = ChunkId::of(b"something else");
    assert!(matches!(
        get(&store, &manifest),
        Err(Error::ContentHash { .. })
    ));
}

#[test]
fn gc_keeps_live_and_fresh_chunks_and_removes_dead_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let live = put(&store, &random(1 << 20, 8));
    let dead = put(&store, &random(1 << 20, 9));
    age_chunks(&store, Duration::from_secs(3600));

    let gc = store.begin_gc(&GcOptions::default()).unwrap();
    let fresh = put(&store, &random(1 << 20, 10)); // written after the collection began
    let report = gc.sweep([&live]).unwrap();

    assert_eq!(report.kept_live, live.chunks.len() as u64);
    assert_eq!(report.kept_fresh, fresh.chunks.len() as u64);
    assert_eq!(
        report
            .deleted
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        ids(&dead)
    );
    assert!(report.freed_bytes >= 1 << 20);
    assert!(get(&store, &live).is_ok());
    assert!(get(&store, &fresh).is_ok());
    assert!(matches!(
        get(&store, &dead),
        Err(Error::MissingChunk { .. })
    ));
    assert_eq!(
        store.list_chunks().unwrap().len(),
        live.chunks.len() + fresh.chunks.len()
    );
}

#[test]
fn gc_keeps_a_dead_chunk_that_a_new_backup_reuses_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let data = random(1 << 20, 11);
    put(&store, &data); // its backup was deleted: nothing references it
    age_chunks(&store, Duration::from_secs(3600));

    let gc = store.begin_gc(&GcOptions::default()).unwrap();
    let again = put(&store, &data); // dedup: nothing written, but every chunk touched
    let report = gc.sweep([]).unwrap();

    assert!(report.deleted.is_empty());
    assert_eq!(get(&store, &again).unwrap(), data);
}

/// Makes an open session look as if it started `ago`, as a long backup would.
fn backdate_session(session: &WriteSession<'_>, ago: Duration) {
    let start = (SystemTime::now() - ago)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    fs::write(session.marker(), start.to_string()).unwrap();
}

#[test]
fn gc_never_deletes_chunks_of_a_backup_still_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut session = store.begin_write().unwrap();
    backdate_session(&session, Duration::from_secs(1800));
    let dump = session.put_stream(&random(1 << 20, 12)[..]).unwrap();
    age_chunks(&store, Duration::from_secs(1200)); // written 20 minutes ago, not recorded yet

    let report = store
        .begin_gc(&GcOptions::default())
        .unwrap()
        .sweep([])
        .unwrap();
    assert!(report.deleted.is_empty());
    let filestore = session.put_stream(&random(1 << 20, 13)[..]).unwrap();
    drop(session); // the backup is done, but nobody recorded it: its chunks are garbage

    assert!(get(&store, &dump).is_ok() && get(&store, &filestore).is_ok());
    age_chunks(&store, Duration::from_secs(60));
    let report = store
        .begin_gc(&GcOptions::default())
        .unwrap()
        .sweep([])
        .unwrap();
    assert_eq!(
        report.deleted.len(),
        dump.chunks.len() + filestore.chunks.len()
    );
}

#[test]
fn a_stale_session_is_collected_and_its_next_write_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut session = store.begin_write().unwrap();
    backdate_session(&session, Duration::from_secs(3 * 3600));
    session.put_stream(&random(100_000, 14)[..]).unwrap();
    age_chunks(&store, Duration::from_secs(2 * 3600));
    set_mtime(session.marker(), Duration::from_secs(2 * 3600)); // no heartbeat for 2 hours

    let report = store
        .begin_gc(&GcOptions::default())
        .unwrap()
        .sweep([])
        .unwrap();
    assert_eq!(report.stale_sessions, 1);
    assert!(!report.deleted.is_empty());
    let err = session.put_stream(&random(100_000, 15)[..]).unwrap_err();
    assert!(matches!(err, Error::SessionExpired { .. }), "{err}");
}

/// A reader that fails after `left` bytes, like a pg_dump killed half-way.
struct Failing {
    data: Vec<u8>,
    at: usize,
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("pg_dump was killed"));
        }
        let n = buf.len().min(self.left).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn an_interrupted_write_leaves_only_whole_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let reader = Failing {
        data: random(4 << 20, 16),
        at: 0,
        left: 3 << 20,
    };
    let err = store.begin_write().unwrap().put_stream(reader).unwrap_err();
    assert!(
        matches!(&err, Error::Input(e) if e.to_string().contains("killed")),
        "{err}"
    );

    let chunks = store.list_chunks().unwrap();
    assert!(!chunks.is_empty());
    for id in chunks {
        store.verify_chunk(id).unwrap();
    }
    assert_eq!(
        fs::read_dir(store.tmp_dir()).unwrap().count(),
        0,
        "no temp file left"
    );
    assert_eq!(
        fs::read_dir(store.sessions_dir()).unwrap().count(),
        0,
        "no marker left"
    );
}

#[test]
fn a_write_killed_mid_chunk_leaves_a_temp_file_that_gc_removes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let partial = store.tmp_dir().join(".tmpKILLED");
    fs::write(&partial, random(5000, 17)).unwrap();
    set_mtime(&partial, Duration::from_secs(3600));
    fs::write(store.sessions_dir().join("crashed.session"), "1").unwrap();
    set_mtime(
        &store.sessions_dir().join("crashed.session"),
        Duration::from_secs(3 * 3600),
    );

    assert!(
        store.list_chunks().unwrap().is_empty(),
        "never visible as a chunk"
    );
    let report = store
        .begin_gc(&GcOptions::default())
        .unwrap()
        .sweep([])
        .unwrap();
    assert_eq!((report.tmp_files, report.stale_sessions), (1, 1));
    assert!(!partial.exists());
}

#[test]
fn bad_chunk_sizes_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let params = ChunkParams {
        min: 1 << 20,
        avg: 1 << 10,
        max: 1 << 30,
    };
    let err = Store::with_params(dir.path(), params).unwrap_err();
    assert!(matches!(err, Error::ChunkParams(_)), "{err}");
}
