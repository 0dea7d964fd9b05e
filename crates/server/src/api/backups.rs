//! Backups of a project's production (and staging) databases: list, take one by hand,
//! verify it by a restore drill, download it, restore it into production or a staging
//! branch, import a dump made elsewhere into a branch. Slipway administrators and project
//! admins only.

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

/// `<data-dir>/backups/<name>`: where downloads are written and uploads received.
fn work_dir(state: &AppState, name: &str) -> std::path::PathBuf {
    state
        .platform
        .env()
        .target
        .data_dir
        .join("backups")
        .join(name)
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
    let dir = work_dir(&state, "downloads");
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

#[derive(Deserialize)]
pub(crate) struct ImportQuery {
    /// Neutralize the imported database (default: yes, except into production).
    neutralize: Option<bool>,
}

/// Imports a dump made elsewhere (Odoo zip, pg_dump archive, `.sql`, `.sql.gz`), sent as the
/// raw request body, into a branch: the body is streamed to a file under
/// `<data-dir>/backups/uploads` (at most the server's upload limit, else 413), recognised
/// (anything that is not an Odoo dump is a 400 and the branch's database is untouched),
/// restored under a temporary name with mail servers and scheduled actions disabled, and
/// swapped in for the branch's database and filestore. Production takes a `before-import`
/// backup first and keeps the dump's identity; staging and development get a neutralized
/// copy. When the dump's Odoo series differs from the branch's, the branch switches to it
/// (a `series.switched` event). The branch's server is restarted either way.
pub(crate) async fn import(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    Query(q): Query<ImportQuery>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let project = project_for(&state, &user, &name, Role::Admin).await?;
    service(&state)?; // 503 before receiving anything when there is no repository
    let build = live_build(&state, &project, &branch).await?;
    let branch = state.platform.branches.by_id(build.branch_id).await?;
    let dir = work_dir(&state, "uploads");
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let file = dir.join(format!("import-{:016x}", rand::random::<u64>()));
    let result = import_file(&state, &user, &project, &branch, &build, &file, &q, request).await;
    let _ = tokio::fs::remove_file(&file).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn import_file(
    state: &AppState,
    user: &ApiUser,
    project: &Project,
    branch: &slipway_platform::branches::Branch,
    build: &Build,
    file: &std::path::Path,
    q: &ImportQuery,
    request: Request,
) -> ApiResult<Json<Value>> {
    use crate::files::BodyError;
    let limit = state.upgrade.max_upload_bytes;
    let (size, _) = crate::files::receive_body(request.into_body(), file, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit, .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the dump is larger than this server accepts ({limit} bytes; serve --max-upload)"),
            ),
            BodyError::Interrupted(e) => {
                ApiError::invalid(format!("the upload was interrupted: {e}"))
            }
            BodyError::Store(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the upload could not be stored: {e}"),
            ),
        })?;
    if size == 0 {
        return Err(ApiError::invalid(
            "the body was empty: send the dump as the raw request body (curl --data-binary @FILE)",
        ));
    }
    let database = build.database.clone().unwrap_or_else(|| build.name.clone());
    let mut options =
        RestoreOptions::new(&database, state.platform.env().target.filestore(&database));
    if Stage::parse(&build.stage) == Some(Stage::Production) {
        options.neutralize = q.neutralize.unwrap_or(false);
        options.safety_backup = Some(BackupLabels {
            project: Some(project.name.clone()),
            branch: Some(build.branch.clone()),
            revision: Some(build.revision.clone()),
            kind: BackupKind::BeforeImport,
        });
    } else {
        options.mode = slipway_dump::Mode::Copy;
        options.neutralize = q.neutralize.unwrap_or(true);
    }
    state
        .platform
        .pipeline
        .supervisor
        .stop(build.id, build.pid)
        .await;
    let imported = service(state)?.import(file, &options).await;
    let outcome = match imported {
        Ok(outcome) => outcome,
        Err(e) => {
            // nothing was swapped in: the branch's database is as it was; serve it again
            if let Err(r) = state.platform.pipeline.restart_server(build).await {
                tracing::warn!(build = build.id, error = %r, "server not restarted after a failed import");
            }
            return Err(e.into());
        }
    };
    let current = branch.series(&project.series).to_string();
    let switched =
        slipway_platform::branches::series_switch(&current, outcome.odoo_version.as_deref());
    let history = &state.platform.history;
    if let Some(series) = &switched {
        state
            .platform
            .branches
            .set_series(branch.id, series)
            .await?;
        history
            .record(
                branch.id,
                "series.switched",
                json!({"from": current, "to": series,
                       "message": format!("Odoo {current} -> {series}: the imported dump is of Odoo {series}")}),
            )
            .await?;
    }
    history
        .record(
            branch.id,
            "backup.imported",
            json!({"format": outcome.format, "odoo_version": outcome.odoo_version,
                   "safety_backup": outcome.restore.safety_backup, "disabled": outcome.disabled,
                   "message": format!("{} dump of Odoo {} imported by {}", outcome.format,
                       outcome.odoo_version.as_deref().unwrap_or("?"), user.0.login)}),
        )
        .await?;
    let restarted = state.platform.pipeline.restart_server(build).await;
    let mut body = json!(outcome);
    body["series_switched"] = match &switched {
        Some(to) => json!({"from": current, "to": to}),
        None => Value::Null,
    };
    body["server_error"] = match restarted {
        Ok(()) => Value::Null,
        Err(e) => json!(format!("imported, but the server did not start again: {e}")),
    };
    Ok(Json(body))
}
