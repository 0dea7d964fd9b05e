//! Monitor: CPU time and memory of a build's Odoo server, read from `/proc/<pid>`, and the
//! HTTP requests Slipway's proxy sent it (`GET /api/builds/{id}/monitor`); the UI samples it
//! and draws the charts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use slipway_api::builds::{BuildState, Sample};
use slipway_platform::projects::Action;

use super::{build_for, ApiError, ApiResult, ApiUser};
use crate::AppState;

/// `/proc` counts CPU time in USER_HZ, 100 per second on every Linux architecture.
const USER_HZ: f64 = 100.0;

/// CPU seconds from the text of `/proc/<pid>/stat` (fields 14 and 15, counted after the
/// command name, which may hold spaces and parentheses).
pub(crate) fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident bytes from the text of `/proc/<pid>/status` (`VmRSS: N kB`).
pub(crate) fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `GET /api/builds/{id}/monitor`: a [`Sample`] of the build's server; 409 when it is not
/// running.
pub(crate) async fn monitor(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Sample>> {
    let build = build_for(&state, &user, id, Action::Monitor).await?;
    let not_running = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("build #{id} has no server running ({})", build.state),
        )
    };
    let pid = build
        .pid
        .filter(|_| build.state == BuildState::Running)
        .ok_or_else(not_running)?;
    let stat = tokio::fs::read_to_string(format!("/proc/{pid}/stat"))
        .await
        .map_err(|_| not_running())?;
    let status = tokio::fs::read_to_string(format!("/proc/{pid}/status"))
        .await
        .map_err(|_| not_running())?;
    Ok(Json(Sample {
        pid,
        cpu_seconds: cpu_seconds(&stat).ok_or_else(not_running)?,
        rss_bytes: rss_bytes(&status).ok_or_else(not_running)?,
        http_requests: state.proxy.requests_to(&build.name),
        at_ms: chrono::Utc::now().timestamp_millis(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "4242 (python3 (odoo) x) S 1 4242 4242 0 -1 4194560 2741 0 0 0 250 50 0 0 20 0 3 0 123 456 789";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[test]
    fn resident_memory_is_vm_rss() {
        let status = "Name:\tpython3\nVmPeak:\t  900 kB\nVmRSS:\t   51200 kB\nThreads:\t3\n";
        assert_eq!(rss_bytes(status), Some(51200 * 1024));
        assert_eq!(rss_bytes("Name: x\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let pid = std::process::id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(cpu_seconds(&stat).is_some());
        assert!(rss_bytes(&status).unwrap() > 0);
    }
}
