//! Backups of a project's production (and staging) databases: list, take one by hand,
//! verify it by a restore drill, download it, restore it into production or a staging
//! branch, import a dump made elsewhere into a branch. Rights follow the stage of the branch
//! concerned ([`Action::Backups`]): production backups are for project admins, staging ones
//! also for testers and developers' own stages. The workflows are the platform's
//! ([`slipway_platform::branch_backups`]); the shapes are [`slipway_api::backups`].

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use slipway_api::backups::{
    BackupRecord, DownloadQuery, ImportAnswer, ImportQuery, PitrOutcome, PitrWindow, PruneReport,
    RestoreAnswer, RestoreBody, RestoreToTimeBody, SeriesSwitch, Verification,
};
use slipway_platform::backups::{DownloadFormat, DownloadOptions, GcOptions};
use slipway_platform::branch_backups::AfterRestart;
use slipway_platform::projects::Action;

use super::auth::Access;
use super::projects::{branch_for, project_for};
use super::ApiJson;
use super::{Answer, ApiError, ApiResult, ApiUser};
use crate::AppState;

fn service(state: &AppState) -> ApiResult<&slipway_platform::backups::Backups> {
    state.platform.backups().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_backups",
            "this server has no backup repository configured",
        )
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<Vec<BackupRecord>>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage)?;
    service(&state)?;
    Ok(Answer(state.platform.branch_backups(&branch).await?))
}

/// A manual backup of the branch's database (production, or a staging branch).
pub(crate) async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Answer<BackupRecord>)> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage)?;
    service(&state)?;
    let record = state
        .platform
        .back_up_branch(&branch, &user.0.login)
        .await?;
    Ok((StatusCode::CREATED, Answer(record)))
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
    let stage = state
        .platform
        .backup_stage(access.project.id, &record)
        .await;
    access.require(Action::Backups, stage)?;
    Ok((record, access))
}

/// `POST /api/backups/prune` (Slipway admins): what the daily job does, now: the retention
/// policy applied to every source's backups, incomplete copies made again, and garbage
/// collected. Answers the [`PruneReport`].
pub(crate) async fn prune(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<PruneReport>> {
    user.require_admin()?;
    let report = service(&state)?
        .prune(chrono::Utc::now(), &GcOptions::default())
        .await?;
    Ok(Answer(report))
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> ApiResult<Answer<Verification>> {
    backup_for(&state, &user, &id).await?;
    let verification = service(&state)?.verify(&id, None).await?;
    Ok(Answer(verification))
}

/// The download asked for by `q`, written to `output`.
fn download_options(q: &DownloadQuery, output: std::path::PathBuf) -> ApiResult<DownloadOptions> {
    let (format, _) = q.format().map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(DownloadOptions {
        format,
        filestore: q.filestore(format),
        neutralized: q.neutralized(),
        output,
    })
}

/// The file name of the download asked for by `q`, after `stem`.
fn download_name(q: &DownloadQuery, stem: &str) -> ApiResult<String> {
    let (format, extension) = q.format().map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(format!("{stem}{}", q.file_suffix(format, extension)))
}

fn mime_of(format: DownloadFormat) -> &'static str {
    match format {
        DownloadFormat::Zip => "application/zip",
        DownloadFormat::SqlGz => "application/gzip",
    }
}

fn downloads_dir(state: &AppState) -> ApiResult<std::path::PathBuf> {
    let dir = slipway_platform::DataDir::new(&state.platform.env().target.data_dir).downloads();
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
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
    let variant = download_name(&q, &id)?;
    let dir = downloads_dir(&state)?.join("backups");
    let output = dir.join(&variant);
    let options = download_options(&q, output.clone())?;
    if !output.is_file() {
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::invalid(e.to_string()))?;
        let partial = dir.join(format!(".{variant}.partial"));
        let writing = DownloadOptions {
            output: partial.clone(),
            ..options.clone()
        };
        service(&state)?.download(&id, &writing, None).await?;
        std::fs::rename(&partial, &output).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let mime = mime_of(options.format);
    Ok(crate::files::serve_file(output, mime, Some(variant), request).await)
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
    let stamp = chrono::Utc::now().format("%Y-%m-%d_%H-%M-%S");
    let name = download_name(&q, &format!("{}_{stamp}", build.name))?;
    let output = downloads_dir(&state)?.join(format!(".{id}-{}", rand::random::<u64>()));
    let options = download_options(&q, output.clone())?;
    state.platform.dump_live_build(&build, &options).await?;
    let mime = mime_of(options.format);
    let response = crate::files::serve_file(output.clone(), mime, Some(name), request).await;
    // The answer holds the file open: unlinking frees the space once it is sent.
    let _ = std::fs::remove_file(&output);
    Ok(response)
}

/// The outcome of a restore whose branch's server must be running again: a server that did
/// not start is a `restart_failed` error (the database was restored).
fn restarted<T>(done: AfterRestart<T>) -> ApiResult<Answer<T>> {
    match done.server_error {
        None => Ok(Answer(done.outcome)),
        Some(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "restart_failed",
            format!("database restored, but the server did not start again: {e}"),
        )),
    }
}

/// Restores a backup into production (after a `before-restore` backup; the database keeps its
/// identity) or into a staging branch (a neutralized copy), swapping it in by renames and
/// restarting the branch's server; a backup of another Odoo series switches the branch to it
/// (`series_switched`).
pub(crate) async fn restore(
    State(state): State<AppState>,
    user: ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> ApiResult<Answer<RestoreAnswer>> {
    let (_, access) = backup_for(&state, &user, &id).await?;
    let branch = state
        .platform
        .branches
        .get(access.project.id, &body.branch)
        .await?;
    access.require(Action::Backups, branch.stage)?;
    let done = state
        .platform
        .restore_backup_into(&id, &branch, &user.0.login)
        .await?;
    restarted(done).map(|Answer(done)| {
        Answer(RestoreAnswer {
            restored: done.restored,
            series_switched: done.series_switched.map(series_switch),
        })
    })
}

fn series_switch(s: slipway_platform::branch_backups::SeriesSwitch) -> SeriesSwitch {
    SeriesSwitch {
        from: s.from,
        to: s.to,
    }
}

/// The times production can be restored to (the window of point-in-time recovery).
pub(crate) async fn pitr_window(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<PitrWindow>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage)?;
    let window = service(&state)?.pitr_window().await?;
    Ok(Answer(window))
}

/// Point-in-time recovery of production: its database as it was at `at` (after a
/// `before-restore` backup; the filestore kept), swapped in by renames, the server restarted.
pub(crate) async fn restore_to_time(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<RestoreToTimeBody>,
) -> ApiResult<Answer<PitrOutcome>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Backups, branch.stage)?;
    service(&state)?;
    let done = state
        .platform
        .restore_branch_to_time(&branch, body.at, &user.0.login)
        .await?;
    restarted(done)
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
) -> ApiResult<Answer<ImportAnswer>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    service(&state)?; // 503 before receiving anything when there is no repository
    access.require(Action::Backups, branch.stage)?;
    state.platform.live_build_of(&branch).await?; // 409 before receiving anything
    let dir = state.import_uploads.clone();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let file = dir.join(format!("import-{:016x}", rand::random::<u64>()));
    let imported = async {
        receive_dump(&state, &file, request).await?;
        let done = state
            .platform
            .import_into_branch(&file, &branch, q.neutralize, &user.0.login)
            .await?;
        let series_switched = done.outcome.series_switched.map(series_switch);
        Ok(Answer(ImportAnswer {
            imported: done.outcome.imported,
            series_switched,
            server_error: done
                .server_error
                .map(|e| format!("imported, but the server did not start again: {e}")),
        }))
    }
    .await;
    let _ = tokio::fs::remove_file(&file).await;
    imported
}

/// Streams the request's body (the dump) to `file`, within the server's upload limit.
async fn receive_dump(state: &AppState, file: &std::path::Path, request: Request) -> ApiResult<()> {
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
            BodyError::Store(e) => ApiError::internal(format!("storing an imported dump: {e}")),
        })?;
    if size == 0 {
        return Err(ApiError::invalid(
            "the body was empty: send the dump as the raw request body (curl --data-binary @FILE)",
        ));
    }
    Ok(())
}
