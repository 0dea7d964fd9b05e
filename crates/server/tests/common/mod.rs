//! Shared helpers of the server's tests.
#![allow(dead_code)]

use slipway_platform::builds::pipeline::BuildEnv;
use slipway_platform::{Metadata, Platform};
use slipway_server::{AppState, ServerConfig};
use slipway_testkit::{EngineFixture, TestDb};
use slipway_upgrade::UpgradeStore;

/// The contract the upgrade tests' metadata database knows ([`UpgradeWorld::new`]).
pub const CONTRACT: &str = "M123456-abcdef";

/// A server's settings for tests: data in `data_dir`, every listener on a free port, no
/// upgrade scripts, a 1 MiB upload limit. Tests change what they need with `..`.
pub fn test_config(data_dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        data_dir: data_dir.to_path_buf(),
        upgrade_scripts: None,
        region: "local".into(),
        max_upload_bytes: 1 << 20,
        sftp_listen: "127.0.0.1:0".parse().unwrap(),
        domain: "localhost".into(),
        log_follow_for: std::time::Duration::from_secs(300),
        shell_idle: std::time::Duration::from_secs(900),
        smtp_listen: "127.0.0.1:0".parse().unwrap(),
        sign_in: Default::default(),
        smtp_idle: slipway_mail::smtp::IDLE_TIMEOUT,
        header_read_timeout: slipway_server::HEADER_READ_TIMEOUT,
        body_idle_timeout: slipway_server::BODY_IDLE_TIMEOUT,
    }
}

/// Makes 17.0 a target of `/database/v1`: the Odoo stand-in as its runtime and a ready engine
/// from `fixture`'s OpenUpgrade folder (pip takes `openupgradelib` from its wheel, no PyPI).
pub async fn ready_engine(state: &AppState, fixture: &slipway_testkit::EngineFixture) {
    use slipway_platform::upgrade_engines::{NewEngine, OpenUpgradeChoice};
    fixture.set_pip_env();
    let series: slipway_odoo::Series = "17.0".parse().unwrap();
    state
        .platform
        .add_runtime(&series, &slipway_testkit::odoo_standin_dir())
        .await
        .unwrap();
    let engine = NewEngine {
        series,
        openupgrade: OpenUpgradeChoice::Folder(fixture.openupgrade_dir()),
        upgrade_util: None,
    };
    let status = state.platform.add_upgrade_engine(&engine).await.unwrap();
    assert!(status.ready, "{:?}", status.not_ready);
}

/// What the upgrade tests (`/database/v1`, `/api/upgrade/engines`) start from: a fresh
/// metadata database that knows [`CONTRACT`], a data directory, and the engine fixture (pip
/// already told to take `openupgradelib` from its wheel). Kept for the whole test.
pub struct UpgradeWorld {
    pub data_dir: tempfile::TempDir,
    pub engine: EngineFixture,
    _db: TestDb,
}

impl UpgradeWorld {
    /// The world and a server's state over it, which tests prepare (engines, users) and then
    /// [`serve`]. `configure` changes the [`test_config`] it is given (`|config| config`
    /// keeps it).
    pub async fn new(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> (Self, AppState) {
        let engine = EngineFixture::new();
        engine.set_pip_env();
        let db = TestDb::new().await;
        let metadata = Metadata::open_url(db.url()).await.unwrap();
        UpgradeStore::new(metadata.pool().clone())
            .add_contract(CONTRACT, "test")
            .await
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let state = common_state(metadata, &configure(test_config(data_dir.path())));
        let world = Self {
            data_dir,
            engine,
            _db: db,
        };
        (world, state)
    }
}

/// Serves `state` on a free port of 127.0.0.1 until the test ends; returns its base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(slipway_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

/// The state of a server on `metadata`, whose builds live in the config's data directory on
/// the shared test cluster.
pub fn common_state(metadata: Metadata, config: &ServerConfig) -> AppState {
    let target = slipway_dump::Target::new(
        slipway_testkit::shared_server().clone(),
        slipway_testkit::binaries(),
        &config.data_dir,
    )
    .unwrap();
    let platform = Platform::new(
        metadata.pool().clone(),
        BuildEnv::under(&config.data_dir, target),
    );
    AppState::new(metadata, config, platform)
}
