//! The Odoo servers of running builds, owned by this Slipway process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use slipway_runner::odoo::{stop_pid, OdooServer};
use tokio::sync::Mutex;

/// How long a server gets to stop on SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Running build servers by build id.
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    servers: Arc<Mutex<HashMap<i64, OdooServer>>>,
}

impl Supervisor {
    /// Takes charge of the server of build `id` (stopping one it had for that build).
    pub async fn adopt(&self, id: i64, server: OdooServer) {
        let previous = self.servers.lock().await.insert(id, server);
        if let Some(previous) = previous {
            previous.stop(STOP_GRACE).await;
        }
    }

    /// Stops the server of build `id`: the one this process owns, else the process `pid` a
    /// previous Slipway process left (after a crash).
    pub async fn stop(&self, id: i64, pid: Option<i32>) {
        let owned = self.servers.lock().await.remove(&id);
        match (owned, pid) {
            (Some(server), _) => server.stop(STOP_GRACE).await,
            (None, Some(pid)) if pid > 0 => {
                stop_pid(pid as u32, STOP_GRACE).await;
            }
            _ => {}
        }
    }

    /// Stops every server (Slipway is shutting down).
    pub async fn stop_all(&self) {
        let servers: Vec<OdooServer> = self.servers.lock().await.drain().map(|(_, s)| s).collect();
        for server in servers {
            server.stop(STOP_GRACE).await;
        }
    }
}
