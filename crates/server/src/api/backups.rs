//! Backups of a project's production (and staging) databases: list, take one by hand,
//! verify it by a restore drill, download it, restore it into production or a staging
//! branch, import a dump made elsewhere into a branch. Rights follow the stage of the branch concerned ([`Action::Backups`]): production
//! backups are for project admins, staging ones also for testers and developers' own stages.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_platform::backups::{
    BackupKind, BackupLabels, BackupRecord, DownloadFormat, DownloadOptions, GcOptions, ListFilter,
    RestoreOptions,
};
use slipway_platform::builds::Build;
use slipway_platform::projects::Action;
use slipway_platform::stages::Stage;

use super::auth::Access;
use super::projects::{branch_for, project_for};
use super::ApiJson;
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

/// The labels of a backup of `build`'s database.
fn labels_of(build: &Build, kind: BackupKind) -> BackupLabels {
    BackupLabels {
        project: Some(build.project.clone()),
        branch: Some(build.branch.clone()),
        revision: Some(build.revision.clone()),
        kind,
    }
}

/// Restoring into the build's database and its filestore.
fn restore_into(state: &AppState, build: &Build) -> RestoreOptions {
    let database = build.database.clone().unwrap_or_else(|| build.name.clone());
    let filestore = state.platform.env().target.filestore(&database);
    RestoreOptions::new(&database, filestore)
}

/// The branch's build holding its live database, if the caller may use its backups.
async fn live_build(state: &AppState, access: &Access, branch: &str) -> ApiResult<Build> {
    let branch = state
        .platform
        .branches
        .get(access.project.id, branch)
        .await?;
    access.require(Action::Backups, branch.stage())?;
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
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage())?;
    let filter = ListFilter {
        project: Some(access.project.name.clone()),
        branch: Some(branch.name),
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
    let access = project_for(&state, &user, &name).await?;
    let build = live_build(&state, &access, &branch).await?;
    if build.stage == Stage::Development.as_str() {
        return Err(ApiError::invalid(
            "development databases are not backed up; make the branch staging or production",
        ));
    }
    let labels = labels_of(&build, BackupKind::Manual);
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

/// The backup `id`, if the caller may use backups of the branch it was taken from (a
/// branch since deleted counts as production: the strictest).
async fn backup_for(
    state: &AppState,
    user: &ApiUser,
    id: &str,
) -> ApiResult<(BackupRecord, Access)> {
    let record = service(state)?.get(id).await?;
    let project = record
        .project
        .as_deref()
        .ok_or_else(|| ApiError::not_found(format!("no backup {id:?} in a project")))?;
    let access = project_for(state, user, project).await?;
    let stage = match record.branch.as_deref() {
        Some(branch) => state
            .platform
            .branches
            .get(access.project.id, branch)
            .await
            .map(|b| b.stage())
            .unwrap_or(Stage::Production),
        None => Stage::Production,
    };
    access.require(Action::Backups, stage)?;
    Ok((record, access))
}

/// `POST /api/backups/prune` (Slipway admins): what the daily job does, now: the retention
/// policy applied to every source's backups, incomplete copies made again, and garbage
/// collected. Answers the [`PruneReport`](slipway_platform::backups::PruneReport).
pub(crate) async fn prune(State(state): State<AppState>, user: ApiUser) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let report = service(&state)?
        .prune(chrono::Utc::now(), &GcOptions::default())
        .await?;
    Ok(Json(json!(report)))
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

impl DownloadQuery {
    /// The format asked for and its file extension.
    fn format(&self) -> ApiResult<(DownloadFormat, &'static str)> {
        match self.format.as_deref().unwrap_or("zip") {
            "zip" => Ok((DownloadFormat::Zip, "zip")),
            "sql-gz" => Ok((DownloadFormat::SqlGz, "sql.gz")),
            other => Err(ApiError::invalid(format!(
                "format {other:?}: use zip or sql-gz"
            ))),
        }
    }

    /// Whether the filestore goes in (zips only; default yes).
    fn filestore(&self, format: DownloadFormat) -> bool {
        self.filestore.unwrap_or(true) && format == DownloadFormat::Zip
    }

    /// `-nofilestore` and `-neutralized` as they apply, then the extension.
    fn file_suffix(&self, format: DownloadFormat, extension: &str) -> String {
        format!(
            "{}{}.{extension}",
            if self.filestore(format) {
                ""
            } else {
                "-nofilestore"
            },
            if self.neutralized.unwrap_or(false) {
                "-neutralized"
            } else {
                ""
            }
        )
    }
}

fn mime_of(format: DownloadFormat) -> &'static str {
    match format {
        DownloadFormat::Zip => "application/zip",
        DownloadFormat::SqlGz => "application/gzip",
    }
}

fn downloads_dir(state: &AppState) -> ApiResult<std::path::PathBuf> {
    let dir = slipway_platform::DataDir::new(&state.platform.env().target.data_dir).downloads();
    std::fs::create_dir_all(&dir).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "io",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    Ok(dir)
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
    let (format, extension) = q.format()?;
    let variant = format!("{id}{}", q.file_suffix(format, extension));
    let dir = downloads_dir(&state)?.join("backups");
    let output = dir.join(&variant);
    if !output.is_file() {
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::invalid(e.to_string()))?;
        let partial = dir.join(format!(".{variant}.partial"));
        let options = DownloadOptions {
            format,
            filestore: q.filestore(format),
            neutralized: q.neutralized.unwrap_or(false),
            output: partial.clone(),
        };
        service(&state)?.download(&id, &options, None).await?;
        std::fs::rename(&partial, &output).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    Ok(crate::files::serve_file(output, mime_of(format), Some(variant), request).await)
}

/// `GET /api/builds/{id}/dump`: a dump of the build's database as it is now (Odoo.sh's
/// "Download dump"), as an Odoo zip or `.sql.gz`, exact or neutralized (a neutralized copy is
/// made; the build's database is not touched). The file is written under `<data>/downloads`
/// and unlinked once its answer has opened it.
pub(crate) async fn build_dump(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<i64>,
    Query(q): Query<DownloadQuery>,
    request: Request,
) -> ApiResult<Response> {
    let build = super::build_for(&state, &user, id, Action::Backups).await?;
    let database = match (&build.database, build.state.as_str()) {
        (Some(database), "running") => database.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_running",
                format!("build #{id} has no live database ({})", build.state),
            ))
        }
    };
    let (format, extension) = q.format()?;
    let stamp = chrono::Utc::now().format("%Y-%m-%d_%H-%M-%S");
    let name = format!("{}_{stamp}{}", build.name, q.file_suffix(format, extension));
    let output = downloads_dir(&state)?.join(format!(".{id}-{}", rand::random::<u64>()));
    let options = slipway_dump::CreateOptions {
        database,
        format: match format {
            DownloadFormat::Zip => slipway_dump::OutputFormat::Zip,
            DownloadFormat::SqlGz => slipway_dump::OutputFormat::SqlGz,
        },
        filestore: q.filestore(format),
        neutralized: q.neutralized.unwrap_or(false),
        output: output.clone(),
        jobs: 2,
    };
    let created = slipway_dump::create(&state.platform.env().target, &options).await;
    if let Err(e) = created {
        let _ = std::fs::remove_file(&output);
        return Err(slipway_platform::PlatformError::from(e).into());
    }
    let response =
        crate::files::serve_file(output.clone(), mime_of(format), Some(name), request).await;
    // The answer holds the file open: unlinking frees the space once it is sent.
    let _ = std::fs::remove_file(&output);
    Ok(response)
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
    ApiJson(body): ApiJson<RestoreBody>,
) -> ApiResult<Json<Value>> {
    let (_, access) = backup_for(&state, &user, &id).await?;
    let build = live_build(&state, &access, &body.branch).await?;
    let mut options = restore_into(&state, &build);
    match Stage::parse(&build.stage) {
        Some(Stage::Production) => {
            options.safety_backup = Some(labels_of(&build, BackupKind::BeforeRestore));
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
    let outcome = with_server_stopped(
        &state,
        &build,
        service(&state)?.restore(&id, &options, None),
    )
    .await?;
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

/// Stops the build's server, runs `restore`, and starts the server again whether or not the
/// restore succeeded (a failed restore leaves the database as it was).
async fn with_server_stopped<T>(
    state: &AppState,
    build: &Build,
    restore: impl std::future::Future<Output = slipway_platform::backups::Result<T>>,
) -> ApiResult<T> {
    state
        .platform
        .pipeline
        .supervisor
        .stop(build.id, build.pid)
        .await;
    let restored = restore.await;
    let restarted = state.platform.pipeline.restart_server(build).await;
    let outcome = restored?;
    if let Err(e) = restarted {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "restart_failed",
            format!("database restored, but the server did not start again: {e}"),
        ));
    }
    Ok(outcome)
}

/// The times production can be restored to (the window of point-in-time recovery).
pub(crate) async fn pitr_window(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage())?;
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
    ApiJson(body): ApiJson<RestoreToTimeBody>,
) -> ApiResult<Json<Value>> {
    let access = project_for(&state, &user, &name).await?;
    let build = live_build(&state, &access, &branch).await?;
    if Stage::parse(&build.stage) != Some(Stage::Production) {
        return Err(ApiError::invalid(
            "point-in-time recovery is for production; restore a backup into staging instead",
        ));
    }
    let mut options = restore_into(&state, &build);
    options.safety_backup = Some(labels_of(&build, BackupKind::BeforeRestore));
    let outcome = with_server_stopped(
        &state,
        &build,
        service(&state)?.restore_to_time(&options.database, body.at, &options),
    )
    .await?;
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
    let access = project_for(&state, &user, &name).await?;
    service(&state)?; // 503 before receiving anything when there is no repository
    let build = live_build(&state, &access, &branch).await?;
    let branch = state.platform.branches.by_id(build.branch_id).await?;
    let dir = state.import_uploads.clone();
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let file = dir.join(format!("import-{:016x}", rand::random::<u64>()));
    let result = import_file(
        &state,
        &user,
        &access.project,
        &branch,
        &build,
        &file,
        &q,
        request,
    )
    .await;
    let _ = tokio::fs::remove_file(&file).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn import_file(
    state: &AppState,
    user: &ApiUser,
    project: &slipway_platform::projects::Project,
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
    let mut options = restore_into(state, build);
    if Stage::parse(&build.stage) == Some(Stage::Production) {
        options.neutralize = q.neutralize.unwrap_or(false);
        options.safety_backup = Some(labels_of(build, BackupKind::BeforeImport));
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
