//! Upgrade engines through `/api/upgrade/engines`, and the targets `/database/v1/create` offers
//! following the ready ones, over real HTTP on a real metadata database. OpenUpgrade comes from
//! a folder and `openupgradelib` from a local wheel (`EngineFixture`): no PyPI.

mod common;

use common::{UpgradeWorld, CONTRACT};
use serde_json::{json, Value};
use slipway_platform::people::NewUser;
use slipway_testkit::odoo_standin_dir;

struct Server {
    base: String,
    admin: String,
    member: String,
    http: reqwest::Client,
    world: UpgradeWorld,
}

async fn server() -> Server {
    let (world, state) = UpgradeWorld::new(|config| config).await;
    let mut tokens = Vec::new();
    for (login, is_admin) in [("admin", true), ("dev", false)] {
        let user = NewUser {
            login: login.into(),
            name: String::new(),
            email: None,
            is_admin,
        };
        tokens.push(state.platform.people.create(&user).await.unwrap().1);
    }
    Server {
        base: common::serve(state).await,
        member: tokens.pop().unwrap(),
        admin: tokens.pop().unwrap(),
        http: reqwest::Client::new(),
        world,
    }
}

impl Server {
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(&self.admin, method, path, body).await
    }

    async fn api_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn add_standin_runtime(&self) {
        let source = odoo_standin_dir().canonicalize().unwrap();
        let body = json!({"series": "17.0", "source": source.display().to_string()});
        let (status, answer) = self
            .api(reqwest::Method::POST, "/api/runtimes", Some(body))
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    async fn add_engine(&self, series: &str) -> (u16, Value) {
        let dir = self.world.engine.openupgrade_dir().display().to_string();
        let body = json!({"series": series, "openupgrade_dir": dir});
        self.api(reqwest::Method::POST, "/api/upgrade/engines", Some(body))
            .await
    }

    async fn engines(&self) -> Value {
        let (status, list) = self
            .api(reqwest::Method::GET, "/api/upgrade/engines", None)
            .await;
        assert_eq!(status, 200, "{list}");
        list
    }

    /// `/database/v1/create` for `target`.
    async fn create(&self, target: &str) -> Value {
        let form = [
            ("contract", CONTRACT),
            ("email", "john.doe@example.com"),
            ("target", target),
            ("aim", "test"),
            ("filename", "db.dump"),
        ];
        self.http
            .post(format!("{}/database/v1/create", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn with_no_engine_create_offers_nothing_and_says_how_to_add_one() {
    let s = server().await;
    let answer = s.create("17.0").await;
    let failure = &answer["failures"][0];
    assert_eq!(failure["reason"], "TARGET:INVALID", "{answer}");
    assert_eq!(failure["expected"], json!([]), "{answer}");
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains("slipway upgrade engine add 17.0"),
        "{message}"
    );
}

#[tokio::test]
async fn an_engine_from_a_folder_is_ready_and_its_series_becomes_a_target_until_removed() {
    let s = server().await;
    s.add_standin_runtime().await;
    let (status, engine) = s.add_engine("17.0").await;
    assert_eq!(status, 201, "{engine}");
    assert_eq!(engine["ready"], true, "{engine}");
    assert_eq!(engine["openupgrade"]["kind"], "folder", "{engine}");
    let python = engine["python"].as_str().unwrap();
    let imported = std::process::Command::new(python)
        .args(["-c", "import openupgradelib"])
        .status()
        .unwrap();
    assert!(imported.success(), "openupgradelib is not in {python}");

    let listed = s.engines().await;
    assert_eq!(listed[0]["series"], "17.0", "{listed}");
    assert_eq!(listed[0]["ready"], true, "{listed}");
    assert_eq!(listed[0]["not_ready"], json!([]), "{listed}");

    let created = s.create("17.0").await;
    assert_eq!(created["failures"], json!([]), "{created}");
    assert_eq!(created["request"]["target"], "17.0", "{created}");
    let refused = s.create("16.0").await;
    assert_eq!(
        refused["failures"][0]["expected"],
        json!(["17.0"]),
        "{refused}"
    );

    let (status, _) = s
        .api(reqwest::Method::DELETE, "/api/upgrade/engines/17.0", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.engines().await, json!([]));
    let refused = s.create("17.0").await;
    assert_eq!(refused["failures"][0]["expected"], json!([]), "{refused}");
    let (status, answer) = s
        .api(reqwest::Method::DELETE, "/api/upgrade/engines/17.0", None)
        .await;
    assert_eq!(status, 404, "{answer}");
}

#[tokio::test]
async fn an_engine_without_its_runtime_is_listed_not_ready_with_the_reason() {
    let s = server().await;
    let (status, engine) = s.add_engine("16.0").await;
    assert_eq!(status, 201, "{engine}");
    assert_eq!(engine["ready"], false, "{engine}");
    let listed = s.engines().await;
    assert_eq!(listed[0]["ready"], false, "{listed}");
    let reasons = listed[0]["not_ready"].to_string();
    assert!(
        reasons.contains("no Odoo 16.0 runtime") && reasons.contains("slipway odoo add 16.0"),
        "{reasons}"
    );
    let refused = s.create("16.0").await;
    assert_eq!(refused["failures"][0]["expected"], json!([]), "{refused}");
}

#[tokio::test]
async fn bad_engine_input_is_refused_and_makes_nothing() {
    let s = server().await;
    let empty = tempfile::tempdir().unwrap();
    let body = json!({"series": "17.0", "openupgrade_dir": empty.path().display().to_string()});
    let (status, answer) = s
        .api(reqwest::Method::POST, "/api/upgrade/engines", Some(body))
        .await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openupgrade_framework/__manifest__.py"),
        "{message}"
    );
    let dir = s.world.engine.openupgrade_dir().display().to_string();
    for (body, says) in [
        (
            json!({"series": "17.0", "openupgrade": "17.0.1", "openupgrade_dir": "/x"}),
            "not both",
        ),
        (
            json!({"series": "17.0", "openupgrade": "16.0.1.0.0"}),
            "not a version of OpenUpgrade's scripts for 17.0",
        ),
        (
            json!({"series": "17.0", "openupgrade_dir": dir, "upgrade_util": empty.path()}),
            "has no src/ folder",
        ),
        (
            json!({"series": "latest", "openupgrade_dir": dir}),
            "not an Odoo series",
        ),
    ] {
        let (status, answer) = s
            .api(reqwest::Method::POST, "/api/upgrade/engines", Some(body))
            .await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(s.engines().await, json!([]));
    assert!(
        !s.world.data_dir.path().join("upgrade-engines").exists(),
        "refused input made nothing"
    );
}

#[tokio::test]
async fn only_administrators_see_and_manage_engines() {
    let s = server().await;
    let (status, _) = s
        .api_as(
            &s.member,
            reqwest::Method::GET,
            "/api/upgrade/engines",
            None,
        )
        .await;
    assert_eq!(status, 403);
    let dir = s.world.engine.openupgrade_dir().display().to_string();
    let body = json!({"series": "17.0", "openupgrade_dir": dir});
    let (status, _) = s
        .api_as(
            &s.member,
            reqwest::Method::POST,
            "/api/upgrade/engines",
            Some(body),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(s.engines().await, json!([]));
}
