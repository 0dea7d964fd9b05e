//! Shared helpers of the server's tests.
#![allow(dead_code)]

use slipway_platform::builds::pipeline::BuildEnv;
use slipway_platform::{Metadata, Platform};
use slipway_server::{AppState, ServerConfig};

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
