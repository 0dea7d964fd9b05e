//! `request_sftp_access` and its SFTP server, driven by curl and the real OpenSSH `sftp`, on a
//! real metadata database.

mod common;

use common::common_state;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use slipway_platform::Metadata;
use slipway_server::{serve, ServerConfig};
use slipway_testkit::TestDb;
use slipway_upgrade::rules::{human_size, RequestState};
use slipway_upgrade::UpgradeStore;
use tokio::process::Command;

const CONTRACT: &str = "M123456-abcdef";
const FILENAME: &str = "db_name.dump";

struct World {
    base: String,
    store: UpgradeStore,
    data_dir: tempfile::TempDir,
    /// Client-side files: keys, dumps, batch files.
    home: tempfile::TempDir,
    _db: TestDb,
    _engine: slipway_testkit::EngineFixture,
}

/// A request with its SFTP access granted.
struct Access {
    id: i64,
    key: String,
    port: u16,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let metadata = Metadata::open_url(db.url()).await.unwrap();
    let store = UpgradeStore::new(metadata.pool().clone());
    store.add_contract(CONTRACT, "test").await.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        max_upload_bytes: 16 << 20,
        ..common::test_config(data_dir.path())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = common_state(metadata, &config);
    let engine = slipway_testkit::EngineFixture::new();
    common::ready_engine(&state, &engine).await;
    tokio::spawn(serve(listener, state, std::future::pending()));
    World {
        _engine: engine,
        base,
        store,
        data_dir,
        home: tempfile::tempdir().unwrap(),
        _db: db,
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Bytes that are not all alike, so a misplaced block would change the digest.
fn dump_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

impl World {
    async fn curl(&self, args: &[&str]) -> Value {
        let out = Command::new("curl")
            .arg("-sS")
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn create(&self) -> (i64, String) {
        let created = self
            .curl(&[&format!(
                "{}/database/v1/create?contract={CONTRACT}&aim=test&target=17.0&email=john.doe@example.com&filename={FILENAME}",
                self.base
            )])
            .await;
        let request = &created["request"];
        (
            request["id"].as_i64().unwrap(),
            request["key"].as_str().unwrap().to_string(),
        )
    }

    /// A new ed25519 key pair in the client's folder; returns the private key's path.
    async fn keygen(&self, name: &str) -> PathBuf {
        let path = self.home.path().join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// `request_sftp_access` as the documentation's curl does it, with `keys_file`.
    async fn request_access(&self, id: i64, key: &str, keys_file: &Path) -> Value {
        self.curl(&[
            &format!(
                "{}/database/v1/request_sftp_access?key={key}&request={id}",
                self.base
            ),
            "-F",
            &format!("ssh_keys=@{}", keys_file.display()),
        ])
        .await
    }

    /// A new request whose SFTP access is granted to the key at `identity`.
    async fn granted(&self, identity: &Path) -> Access {
        let (id, key) = self.create().await;
        let answer = self
            .request_access(id, &key, &identity.with_extension("pub"))
            .await;
        assert_eq!(answer["failures"], serde_json::json!([]), "{answer}");
        let port = answer["request"]["sftp_port"].as_u64().unwrap() as u16;
        Access { id, key, port }
    }

    /// Runs `sftp -b` with `commands` as `user` with the key at `identity`.
    async fn sftp(&self, port: u16, user: &str, identity: &Path, commands: &str) -> Output {
        let batch = self.home.path().join("batch");
        std::fs::write(&batch, commands).unwrap();
        Command::new("sftp")
            .arg("-b")
            .arg(&batch)
            .args(["-F", "/dev/null", "-P", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i"])
            .arg(identity)
            .arg(format!("{user}@127.0.0.1"))
            .current_dir(self.home.path())
            .output()
            .await
            .unwrap()
    }

    /// Like [`World::sftp`] as the request's own user, asserting success.
    async fn sftp_ok(&self, access: &Access, identity: &Path, commands: &str) -> String {
        let out = self
            .sftp(
                access.port,
                &format!("user_{}", access.id),
                identity,
                commands,
            )
            .await;
        assert!(
            out.status.success(),
            "sftp {commands:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`World::sftp`] as the request's own user, asserting refusal; returns stderr.
    async fn sftp_refused(&self, access: &Access, identity: &Path, commands: &str) -> String {
        let out = self
            .sftp(
                access.port,
                &format!("user_{}", access.id),
                identity,
                commands,
            )
            .await;
        assert!(!out.status.success(), "sftp {commands:?} was allowed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn client_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn original(&self, id: i64) -> PathBuf {
        self.data_dir
            .path()
            .join(format!("upgrade/{id}/original/{FILENAME}"))
    }

    async fn status(&self, access: &Access) -> Value {
        let status = self
            .curl(&[&format!(
                "{}/database/v1/status?key={}&request={}",
                self.base, access.key, access.id
            )])
            .await;
        status["request"].clone()
    }

    /// Every file under the data directory, relative to it, without the host key.
    fn stored_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let mut dirs = vec![self.data_dir.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let relative = path.strip_prefix(self.data_dir.path()).unwrap();
                    files.push(relative.display().to_string());
                }
            }
        }
        // the server's own keys, written at start, and the upgrade engine the test set up:
        // not written through SFTP
        files.retain(|f| f != "sftp/host_ed25519_key" && f != slipway_dump::RoleKey::FILE);
        files.retain(|f| !f.starts_with("venvs/") && !f.starts_with("upgrade-engines/"));
        files.sort();
        files
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_sftp_access_answers_every_documented_field() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let (id, key) = world.create().await;
    let answer = world
        .request_access(id, &key, &identity.with_extension("pub"))
        .await;
    assert_eq!(answer["failures"], serde_json::json!([]), "{answer}");
    let request = &answer["request"];
    let port = request["sftp_port"].as_u64().unwrap();
    assert!(port > 0);
    assert_eq!(request["hostname"], "127.0.0.1");
    assert_eq!(request["sftp_user"], format!("user_{id}"));
    assert_eq!(request["shared_file"], FILENAME);
    assert_eq!(request["request_id"], id);
    assert_eq!(
        request["sample_command"],
        format!("sftp -P {port} user_{id}@127.0.0.1")
    );

    // The server is started once: a second request gets the same port and host key.
    let host_key = world.data_dir.path().join("sftp/host_ed25519_key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&host_key).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let again = world.granted(&identity).await;
    assert_eq!(u64::from(again.port), port);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_keys_file_is_refused_with_its_line() {
    let world = world().await;
    let (id, key) = world.create().await;
    let keys = world.client_file(
        "authorized_keys",
        b"# my keys\n\nssh-ed25519 not-base64 me\n",
    );
    let answer = world.request_access(id, &key, &keys).await;
    assert_eq!(
        answer["failures"][0]["reason"], "SSH_KEYS:INVALID",
        "{answer}"
    );
    let message = answer["failures"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("Line 3 "), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_upload_is_recorded_on_the_request() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    let dump = dump_bytes(300_000);
    world.client_file("local.dump", &dump);

    let listing = world
        .sftp_ok(
            &access,
            &identity,
            &format!("put local.dump {FILENAME}\nls -l\n"),
        )
        .await;
    let entries: Vec<&str> = listing
        .lines()
        .filter(|line| !line.starts_with("sftp>"))
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "only the shared file is listed: {listing}"
    );
    assert!(entries[0].contains(" 300000 "), "{listing}");
    assert!(entries[0].ends_with(FILENAME), "{listing}");

    assert_eq!(std::fs::read(world.original(access.id)).unwrap(), dump);
    let request = world.status(&access).await;
    assert_eq!(request["filesize"], human_size(300_000));
    let record = world.store.get(access.id).await.unwrap().unwrap();
    assert_eq!(record.upload_size, Some(300_000));
    assert_eq!(
        record.upload_sha256.as_deref(),
        Some(sha256(&dump).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_with_put_a() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    let dump = dump_bytes(1_000_003);
    world.client_file("full.dump", &dump);
    world.client_file("half.dump", &dump[..400_000]);

    world
        .sftp_ok(&access, &identity, &format!("put half.dump {FILENAME}\n"))
        .await;
    let listing = world
        .sftp_ok(&access, &identity, &format!("ls -l {FILENAME}\n"))
        .await;
    assert!(listing.contains(" 400000 "), "{listing}");

    world
        .sftp_ok(
            &access,
            &identity,
            &format!("put -a full.dump {FILENAME}\n"),
        )
        .await;

    let stored = std::fs::read(world.original(access.id)).unwrap();
    assert_eq!(sha256(&stored), sha256(&dump));
    let record = world.store.get(access.id).await.unwrap().unwrap();
    assert_eq!(record.upload_size, Some(1_000_003));
    assert_eq!(
        record.upload_sha256.as_deref(),
        Some(sha256(&dump).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_requests_own_keys_log_in_and_only_with_keys() {
    let world = world().await;
    let mine = world.keygen("mine").await;
    let stranger = world.keygen("stranger").await;
    let access = world.granted(&mine).await;
    let other = world.granted(&stranger).await;

    let refused = world.sftp_refused(&access, &stranger, "ls\n").await;
    assert!(
        refused.contains("Permission denied (publickey)"),
        "{refused}"
    );
    // A valid key of another request does not open this one.
    let out = world
        .sftp(
            access.port,
            &format!("user_{}", access.id),
            &stranger,
            "ls\n",
        )
        .await;
    assert!(!out.status.success());
    let out = world
        .sftp(other.port, &format!("user_{}", other.id), &mine, "ls\n")
        .await;
    assert!(!out.status.success());
    for user in ["root", "user_x", &format!("user_{}", access.id + 100)] {
        let out = world.sftp(access.port, user, &mine, "ls\n").await;
        assert!(!out.status.success(), "{user} logged in");
    }

    // Passwords are not even offered.
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-p",
            &access.port.to_string(),
            "-o",
            "BatchMode=yes",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .arg(format!("user_{}@127.0.0.1", access.id))
        .arg("true")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");

    // The right key works.
    world.sftp_ok(&access, &mine, "ls\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_other_path_can_be_reached() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    world.client_file("x", b"evil");
    world
        .sftp_ok(&access, &identity, &format!("put x {FILENAME}\n"))
        .await;

    let denied = "Permission denied";
    for (commands, error) in [
        ("put x ../../etc/evil\n".to_string(), denied),
        ("put x /../evil\n".to_string(), denied),
        ("put x other.dump\n".to_string(), denied),
        ("put x /tmp/evil\n".to_string(), denied),
        ("mkdir d\n".to_string(), denied),
        (format!("rename {FILENAME} other.dump\n"), denied),
        (format!("rm {FILENAME}\n"), denied),
        (format!("ln -s {FILENAME} link\n"), denied),
        (format!("get {FILENAME} back\n"), denied),
        ("cd ..\nput x evil\n".to_string(), "no such place"),
        ("ls /etc\n".to_string(), "not found"),
    ] {
        let stderr = world.sftp_refused(&access, &identity, &commands).await;
        assert!(stderr.contains(error), "{commands:?}: {stderr}");
    }
    assert_eq!(
        world.stored_files(),
        [format!("upgrade/{}/original/{FILENAME}", access.id)]
    );
    assert_eq!(std::fs::read(world.original(access.id)).unwrap(), b"evil");
    assert!(!world.home.path().join("back").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_done_request_serves_its_result_read_only() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    world.client_file("local.dump", b"original");
    world
        .sftp_ok(&access, &identity, &format!("put local.dump {FILENAME}\n"))
        .await;

    let moved = world
        .store
        .transition(access.id, &[RequestState::Draft], RequestState::Done)
        .await
        .unwrap();
    assert!(moved);
    let upgraded = world.data_dir.path().join(format!(
        "upgrade/{}/upgraded/upgraded_{FILENAME}",
        access.id
    ));
    std::fs::create_dir_all(upgraded.parent().unwrap()).unwrap();
    let result = dump_bytes(500_000);
    std::fs::write(&upgraded, &result).unwrap();

    let listing = world.sftp_ok(&access, &identity, "ls -l\n").await;
    assert!(
        listing.contains(&format!("upgraded_{FILENAME}")),
        "{listing}"
    );
    assert!(!listing.contains(&format!(" {FILENAME}")), "{listing}");
    world
        .sftp_ok(
            &access,
            &identity,
            &format!("get upgraded_{FILENAME} result.dump\n"),
        )
        .await;
    assert_eq!(
        sha256(&std::fs::read(world.home.path().join("result.dump")).unwrap()),
        sha256(&result)
    );

    world.client_file("again.dump", b"new bytes");
    world
        .sftp_refused(&access, &identity, &format!("put again.dump {FILENAME}\n"))
        .await;
    world
        .sftp_refused(
            &access,
            &identity,
            &format!("put again.dump upgraded_{FILENAME}\n"),
        )
        .await;
    assert_eq!(
        std::fs::read(world.original(access.id)).unwrap(),
        b"original"
    );
    assert_eq!(std::fs::read(&upgraded).unwrap(), result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_a_sends_only_what_the_server_lacks() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    world.client_file("head.dump", b"HEAD");
    world.client_file("full.dump", b"0123456789");
    world
        .sftp_ok(&access, &identity, &format!("put head.dump {FILENAME}\n"))
        .await;
    world
        .sftp_ok(
            &access,
            &identity,
            &format!("put -a full.dump {FILENAME}\n"),
        )
        .await;
    // The first four bytes were not sent again: the resume started at the server's size.
    assert_eq!(
        std::fs::read(world.original(access.id)).unwrap(),
        b"HEAD456789"
    );
    let record = world.store.get(access.id).await.unwrap().unwrap();
    assert_eq!(record.upload_size, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_midway_is_recorded_and_resumed() {
    let world = world().await;
    let identity = world.keygen("id_ed25519").await;
    let access = world.granted(&identity).await;
    let dump = dump_bytes(2_000_000);
    world.client_file("full.dump", &dump);
    let batch = world.home.path().join("slow");
    std::fs::write(&batch, format!("put full.dump {FILENAME}\n")).unwrap();
    // 800 Kbit/s: the 2 MB upload takes about 20 s, and is killed after 2.
    let mut slow = Command::new("sftp")
        .arg("-b")
        .arg(&batch)
        .args([
            "-l",
            "800",
            "-F",
            "/dev/null",
            "-P",
            &access.port.to_string(),
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i"])
        .arg(&identity)
        .arg(format!("user_{}@127.0.0.1", access.id))
        .current_dir(world.home.path())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    slow.kill().await.unwrap();

    // The server records what it got once the connection is gone.
    let mut recorded = None;
    for _ in 0..50 {
        recorded = world
            .store
            .get(access.id)
            .await
            .unwrap()
            .unwrap()
            .upload_size;
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let partial = std::fs::read(world.original(access.id)).unwrap();
    assert!(
        !partial.is_empty() && partial.len() < dump.len(),
        "{}",
        partial.len()
    );
    assert_eq!(recorded, Some(partial.len() as i64));
    assert_eq!(partial, dump[..partial.len()]);

    world
        .sftp_ok(
            &access,
            &identity,
            &format!("put -a full.dump {FILENAME}\n"),
        )
        .await;
    let stored = std::fs::read(world.original(access.id)).unwrap();
    assert_eq!(sha256(&stored), sha256(&dump));
    let record = world.store.get(access.id).await.unwrap().unwrap();
    assert_eq!(record.upload_size, Some(2_000_000));
}
