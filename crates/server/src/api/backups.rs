//! Backups of a project's production (and staging) databases: list, take one by hand,
//! verify it by a restore drill, download it, restore it into production or a staging
//! branch. Slipway administrators and project admins only.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_platform::backups::{
    BackupKind, BackupLabels, BackupRecord, DownloadFormat, DownloadOptions, ListFilter,
    RestoreOptions,
};
use slipway_platform::builds::Build;
use slipway_platform::projects::{Project, Role};
use slipway_platform::stages::Stage;

use super::projects::project_for;
use super::{ApiError, ApiResult, ApiUser};
use crate::AppState;

fn service(state: &AppState) -> ApiResult<&slipway_platform::backups::Backups> {
    state.platform.env().backups.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_backups",
            "this server has no backup repository configured",
        )
    })
}

/// The branch's build holding its live database.
async fn live_build(state: &AppState, project: &Project, branch: &str) -> ApiResult<Build> {
    let branch = state.platform.branches.get(project.id, branch).await?;
    state
        .platform
        .builds
        .live_of_branch(branch.id, branch.stage().as_str(), None)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_database",
                format!("branch {} has no running database", branch.name),
            )
        })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = project_for(&state, &user, &name, Role::Admin).await?;
    let filter = ListFilter {
        project: Some(project.name.clone()),
        branch: Some(branch),
        database: None,
    };
    let mut records = service(&state)?.list(&filter).await?;
    records.reverse();
    Ok(Json(json!(records)))
}

/// A manual backup of the branch's database (production, or a staging branch).
pub(crate) async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let project = project_for(&state, &user, &name, Role::Admin).await?;
    let build = live_build(&state, &project, &branch).await?;
    if build.stage == Stage::Development.as_str() {
        return Err(ApiError::invalid(
            "development databases are not backed up; make the branch staging or production",
        ));
    }
    let labels = BackupLabels {
        project: Some(project.name.clone()),
        branch: Some(build.branch.clone()),
        revision: Some(build.revision.clone()),
        kind: BackupKind::Manual,
    };
    let source = state.platform.env().backup_source(&build);
    let record = service(&state)?.create(&source, labels, None).await?;
    state
        .platform
        .history
        .record(
            build.branch_id,
            "backup",
            json!({"backup": record.id, "message": format!("manual backup {} by {}", record.id, user.0.login)}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(record))))
}

/// The backup `id`, if the caller administers its project.
async fn backup_for(
    state: &AppState,
    user: &ApiUser,
    id: &str,
) -> ApiResult<(BackupRecord, Project)> {
    let record = service(state)?.get(id).await?;
    let project = record
        .project
        .as_deref()
        .ok_or_else(|| ApiError::not_found(format!("no backup {id:?} in a project")))?;
    let project = project_for(state, user, project, Role::Admin).await?;
    Ok((record, project))
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    backup_for(&state, &user, &id).await?;
    let verification = service(&state)?.verify(&id, None).await?;
    Ok(Json(json!(verification)))
}

#[derive(Deserialize)]
pub(crate) struct DownloadQuery {
    /// `zip` (default) or `sql-gz`.
    format: Option<String>,
    /// Include the filestore in a zip (default yes).
    filestore: Option<bool>,
    /// Neutralize the copy (default no: "exact").
    neutralized: Option<bool>,
}

/// The backup as an Odoo zip (with or without filestore) or `.sql.gz`, exact or
/// neutralized; written once per variant, then served with `Range`.
pub(crate) async fn download(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
    request: Request,
) -> ApiResult<Response> {
    backup_for(&state, &user, &id).await?;
    let (format, extension) = match q.format.as_deref().unwrap_or("zip") {
        "zip" => (DownloadFormat::Zip, "zip"),
        "sql-gz" => (DownloadFormat::SqlGz, "sql.gz"),
        other => {
            return Err(ApiError::invalid(format!(
                "format {other:?}: use zip or sql-gz"
            )))
        }
    };
    let filestore = q.filestore.unwrap_or(true) && format == DownloadFormat::Zip;
    let neutralized = q.neutralized.unwrap_or(false);
    let variant = format!(
        "{id}{}{}.{extension}",
        if filestore { "" } else { "-nofilestore" },
        if neutralized { "-neutralized" } else { "" }
    );
    let dir = state
        .platform
        .env()
        .target
        .data_dir
        .join("backups")
        .join("downloads");
    let output = dir.join(&variant);
    if !output.is_file() {
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::invalid(e.to_string()))?;
        let partial = dir.join(format!(".{variant}.partial"));
        let options = DownloadOptions {
            format,
            filestore,
            neutralized,
            output: partial.clone(),
        };
        service(&state)?.download(&id, &options, None).await?;
        std::fs::rename(&partial, &output).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let mime = if format == DownloadFormat::Zip {
        "application/zip"
    } else {
        "application/gzip"
    };
    Ok(crate::files::serve_file(output, mime, Some(variant), request).await)
}

#[derive(Deserialize)]
pub(crate) struct RestoreBody {
    /// The branch whose database is replaced (production, or a staging branch).
    branch: String,
}

/// Restores a backup into production (after a `before-restore` backup; the database keeps its
/// identity) or into a staging branch (a neutralized copy), swapping it in by renames and
/// restarting the branch's server.
pub(crate) async fn restore(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
    Json(body): Json<RestoreBody>,
) -> ApiResult<Json<Value>> {
    let (_, project) = backup_for(&state, &user, &id).await?;
    let build = live_build(&state, &project, &body.branch).await?;
    let database = build.database.clone().unwrap_or_else(|| build.name.clone());
    let mut options =
        RestoreOptions::new(&database, state.platform.env().target.filestore(&database));
    match Stage::parse(&build.stage) {
        Some(Stage::Production) => {
            options.safety_backup = Some(BackupLabels {
                project: Some(project.name.clone()),
                branch: Some(build.branch.clone()),
                revision: Some(build.revision.clone()),
                kind: BackupKind::BeforeRestore,
            });
        }
        Some(Stage::Staging) => {
            options.mode = slipway_dump::Mode::Copy;
            options.neutralize = true;
        }
        _ => {
            return Err(ApiError::invalid(
                "backups are restored into production or a staging branch",
            ))
        }
    }
    state
        .platform
        .pipeline
        .supervisor
        .stop(build.id, build.pid)
        .await;
    let restored = service(&state)?.restore(&id, &options, None).await;
    let restarted = state.platform.pipeline.restart_server(&build).await;
    let outcome = restored?;
    if let Err(e) = restarted {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "restart_failed",
            format!("backup restored, but the server did not start again: {e}"),
        ));
    }
    state
        .platform
        .history
        .record(
            build.branch_id,
            "backup.restored",
            json!({"backup": id, "safety_backup": outcome.safety_backup,
                   "message": format!("backup {id} restored by {}", user.0.login)}),
        )
        .await?;
    Ok(Json(json!(outcome)))
}

/// The times production can be restored to (the window of point-in-time recovery).
pub(crate) async fn pitr_window(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, _branch)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    project_for(&state, &user, &name, Role::Admin).await?;
    let window = service(&state)?.pitr_window().await?;
    Ok(Json(json!(window)))
}

#[derive(Deserialize)]
pub(crate) struct RestoreToTimeBody {
    /// The time to take production back to (RFC 3339).
    at: chrono::DateTime<chrono::Utc>,
}

/// Point-in-time recovery of production: its database as it was at `at` (after a
/// `before-restore` backup; the filestore kept), swapped in by renames, the server restarted.
pub(crate) async fn restore_to_time(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    Json(body): Json<RestoreToTimeBody>,
) -> ApiResult<Json<Value>> {
    let project = project_for(&state, &user, &name, Role::Admin).await?;
    let build = live_build(&state, &project, &branch).await?;
    if Stage::parse(&build.stage) != Some(Stage::Production) {
        return Err(ApiError::invalid(
            "point-in-time recovery is for production; restore a backup into staging instead",
        ));
    }
    let database = build.database.clone().unwrap_or_else(|| build.name.clone());
    let mut options =
        RestoreOptions::new(&database, state.platform.env().target.filestore(&database));
    options.safety_backup = Some(BackupLabels {
        project: Some(project.name.clone()),
        branch: Some(build.branch.clone()),
        revision: Some(build.revision.clone()),
        kind: BackupKind::BeforeRestore,
    });
    state
        .platform
        .pipeline
        .supervisor
        .stop(build.id, build.pid)
        .await;
    let restored = service(&state)?
        .restore_to_time(&database, body.at, &options)
        .await;
    let restarted = state.platform.pipeline.restart_server(&build).await;
    let outcome = restored?;
    if let Err(e) = restarted {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "restart_failed",
            format!("database restored, but the server did not start again: {e}"),
        ));
    }
    let at = body.at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    state
        .platform
        .history
        .record(
            build.branch_id,
            "backup.restored",
            json!({"at": at, "safety_backup": outcome.safety_backup,
                   "message": format!("production restored as it was at {at} by {}", user.0.login)}),
        )
        .await?;
    Ok(Json(json!(outcome)))
}
