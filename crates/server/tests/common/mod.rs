//! Shared helpers of the server's tests.
#![allow(dead_code)]

use slipway_platform::builds::pipeline::BuildEnv;
use slipway_platform::{Metadata, Platform};
use slipway_server::{AppState, ServerConfig};

/// The state of a server on `metadata`, whose builds live in the config's data directory on
/// the shared test cluster.
pub fn common_state(metadata: Metadata, config: &ServerConfig) -> AppState {
    let target = slipway_dump::Target {
        server: slipway_testkit::shared_server().clone(),
        binaries: slipway_testkit::binaries(),
        data_dir: config.data_dir.clone(),
        owner: "odoo".into(),
        owner_password: None,
    };
    let platform = Platform::new(
        metadata.pool().clone(),
        BuildEnv::under(&config.data_dir, target),
    );
    AppState::new(metadata, config, platform)
}
