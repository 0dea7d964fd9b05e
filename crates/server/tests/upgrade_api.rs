//! `/database/v1` over real HTTP, on a real metadata database.

mod common;

use common::{UpgradeWorld, CONTRACT};

use std::path::{Path, PathBuf};

use serde_json::Value;
use slipway_server::ServerConfig;

struct Api {
    base: String,
    client: reqwest::Client,
    world: UpgradeWorld,
}

async fn api() -> Api {
    let (world, state) = UpgradeWorld::new(|config| ServerConfig {
        max_upload_bytes: 64 * 1024,
        ..config
    })
    .await;
    common::ready_engine(&state, &world.engine).await;
    Api {
        base: common::serve(state).await,
        client: reqwest::Client::new(),
        world,
    }
}

impl Api {
    fn data_dir(&self) -> &Path {
        self.world.data_dir.path()
    }

    async fn call(&self, method: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/database/v1/{method}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn create(&self) -> (i64, String) {
        let (code, body) = self
            .call(
                "create",
                &[
                    ("contract", CONTRACT),
                    ("email", "john.doe@example.com"),
                    ("target", "17.0"),
                    ("aim", "test"),
                    ("filename", "db_name.dump"),
                ],
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let request = &body["request"];
        (
            request["id"].as_i64().unwrap(),
            request["key"].as_str().unwrap().to_string(),
        )
    }

    async fn upload(&self, id: i64, key: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/database/v1/upload", self.base))
            .query(&[("key", key), ("request", &id.to_string())])
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn status(&self, id: i64, key: &str) -> Value {
        let (code, body) = self
            .call("status", &[("key", key), ("request", &id.to_string())])
            .await;
        assert_eq!(code, 200, "{body}");
        body["request"].clone()
    }

    fn original(&self, id: i64) -> PathBuf {
        self.data_dir()
            .join(format!("upgrade/{id}/original/db_name.dump"))
    }
}

fn reasons(body: &Value) -> Vec<String> {
    body["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_reports_every_failure_at_once() {
    let api = api().await;
    let (code, body) = api
        .call(
            "create",
            &[
                ("contract", "M123456-abcxyz"),
                ("email", "john.doe@example.com"),
                ("target", "5.0"),
                ("aim", "test"),
                ("filename", "db_name.dump"),
            ],
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(reasons(&body), ["TARGET:INVALID", "CONTRACT:NOT_FOUND"]);
    assert_eq!(body["failures"][0]["expected"], serde_json::json!(["17.0"]));
    assert_eq!(body["failures"][0]["value"], "5.0");
    assert_eq!(body["failures"][1]["code"], "M123456-abcxyz");
}

#[tokio::test]
async fn a_new_request_shows_every_documented_field() {
    let api = api().await;
    let (id, key) = api.create().await;
    let request = api.status(id, &key).await;
    let fields: Vec<&str> = request
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in [
        "id",
        "key",
        "email",
        "target",
        "aim",
        "filename",
        "timezone",
        "state",
        "issue_stage",
        "issue",
        "status_url",
        "notes_url",
        "original_sql_url",
        "original_dump_url",
        "upgraded_sql_url",
        "upgraded_dump_url",
        "modules_url",
        "filesize",
        "database_uuid",
        "created_at",
        "estimated_time",
        "processed_at",
        "elapsed",
        "filestore",
        "customer_message",
        "database_version",
        "postgresql",
        "compressions",
    ] {
        assert!(fields.contains(&field), "missing {field} in {request}");
    }
    assert_eq!(request["state"], "draft");
    assert_eq!(request["elapsed"], "00:00");
    assert_eq!(request["key"].as_str().unwrap().len(), 24);
    let created = request["created_at"].as_str().unwrap();
    assert_eq!(created.len(), "2015-09-09 07:13:49".len(), "{created}");
    assert_eq!(
        request["status_url"],
        format!("{}/database/local/{id}/{key}/status", api.base)
    );
    let page = reqwest::get(request["status_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Upgrade request"));
}

#[tokio::test]
async fn a_wrong_key_and_an_unknown_request_look_the_same() {
    let api = api().await;
    let (id, _key) = api.create().await;
    let wrong = api
        .call(
            "status",
            &[
                ("key", "AAAAAAAAAAAAAAAAAAAAAA=="),
                ("request", &id.to_string()),
            ],
        )
        .await;
    let unknown = api
        .call(
            "status",
            &[("key", "AAAAAAAAAAAAAAAAAAAAAA=="), ("request", "999999")],
        )
        .await;
    assert_eq!(wrong, unknown);
    assert_eq!(reasons(&wrong.1), ["KEY:INVALID"]);
    let page = reqwest::get(format!("{}/database/local/{id}/AAAA/status", api.base))
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn upload_stores_the_body_and_a_new_upload_replaces_it() {
    let api = api().await;
    let (id, key) = api.create().await;
    let (code, body) = api.upload(id, &key, vec![b'a'; 2000]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["request"]["filesize"], "1.95 Kb");
    let (code, _) = api.upload(id, &key, b"second dump".to_vec()).await;
    assert_eq!(code, 200);
    assert_eq!(std::fs::read(api.original(id)).unwrap(), b"second dump");
    assert_eq!(api.status(id, &key).await["filesize"], "11.00 bytes");
    let incoming = api.data_dir().join(format!("upgrade/{id}/incoming"));
    assert_eq!(
        std::fs::read_dir(incoming).unwrap().count(),
        0,
        "no leftovers"
    );

    let dl = api
        .client
        .get(format!(
            "{}/database/local/{id}/{key}/original/archive",
            api.base
        ))
        .header("Range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status(), 206);
    assert_eq!(dl.bytes().await.unwrap().as_ref(), b"dump");
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing() {
    let api = api().await;
    let (id, key) = api.create().await;
    let (code, body) = api.upload(id, &key, vec![0; 100 * 1024]).await;
    assert_eq!(code, 400);
    assert_eq!(reasons(&body), ["UPLOAD:TOO_LARGE"]);
    assert!(!api.original(id).exists());
    assert_eq!(api.status(id, &key).await["filesize"], Value::Null);
}

#[tokio::test]
async fn process_needs_a_dump_and_then_locks_the_request() {
    let api = api().await;
    let (id, key) = api.create().await;
    let creds = [("key", key.as_str()), ("request", &*id.to_string())];
    let (code, body) = api.call("process", &creds).await;
    assert_eq!(code, 400);
    assert_eq!(reasons(&body), ["UPLOAD:MISSING"]);

    api.upload(id, &key, b"PGDMP...".to_vec()).await;
    let (code, body) = api.call("process", &creds).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["request"]["state"], "pending");

    let (code, body) = api.upload(id, &key, b"too late".to_vec()).await;
    assert_eq!(code, 400);
    assert_eq!(reasons(&body), ["STATE:INVALID"]);
    assert_eq!(body["failures"][0]["value"], "pending");
    assert_eq!(std::fs::read(api.original(id)).unwrap(), b"PGDMP...");
    let (_, again) = api.call("process", &creds).await;
    assert_eq!(reasons(&again), ["STATE:INVALID"]);
}

#[tokio::test]
async fn a_pending_request_can_be_cancelled_but_not_reopened() {
    let api = api().await;
    let (id, key) = api.create().await;
    let creds = [("key", key.as_str()), ("request", &*id.to_string())];
    api.upload(id, &key, b"x".to_vec()).await;
    api.call("process", &creds).await;
    let (code, body) = api.call("cancel", &creds).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["request"]["state"], "cancelled");
    let (_, body) = api.call("process", &creds).await;
    assert_eq!(reasons(&body), ["STATE:INVALID"]);
}

// curl runs as a blocking child process: a second worker thread keeps the server answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_curl_commands_work() {
    let api = api().await;
    let dump = api.data_dir().join("openchs.70.cdump");
    std::fs::write(&dump, b"dump bytes").unwrap();
    let curl = slipway_testkit::curl_json;
    let created = curl(&[&format!(
        "{}/database/v1/create?contract={CONTRACT}&aim=test&target=17.0&email=john.doe@example.com&filename=openchs.70.cdump",
        api.base
    )]);
    assert_eq!(created["failures"], serde_json::json!([]));
    let id = created["request"]["id"].as_i64().unwrap();
    let key = created["request"]["key"].as_str().unwrap();
    let params = format!("key={key}&request={id}");
    let uploaded = curl(&[
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", dump.display()),
        &format!("{}/database/v1/upload?{params}", api.base),
    ]);
    assert_eq!(uploaded["failures"], serde_json::json!([]));
    let status = curl(&[&format!("{}/database/v1/status?{params}", api.base)]);
    assert_eq!(status["request"]["filesize"], "10.00 bytes");
}

#[tokio::test]
async fn custom_modules_must_come_as_a_zip() {
    let api = api().await;
    let (id, key) = api.create().await;
    let resp = api
        .client
        .post(format!("{}/database/v1/upload_modules", api.base))
        .query(&[("key", key.as_str()), ("request", &id.to_string())])
        .body(b"def migrate(cr, version): pass".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(reasons(&body), ["MODULES:INVALID"]);
    let modules = api.data_dir().join(format!("upgrade/{id}/modules.zip"));
    assert!(!modules.exists());
}
