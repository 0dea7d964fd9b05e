//! Users, runtimes, projects and branches.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_odoo::Series;
use slipway_platform::branches::{Branch, BranchSettings};
use slipway_platform::people::NewUser;
use slipway_platform::projects::{Action, Project, ProjectSettings};
use slipway_platform::stages::{check_move, Stage};
use slipway_platform::MergeResult;

use super::auth::Access;
use super::ApiJson;
use super::{ApiError, ApiResult, ApiUser};
use crate::AppState;

pub(crate) async fn me(user: ApiUser) -> Json<Value> {
    Json(json!(user.0))
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    Ok(Json(json!(state.platform.people.list().await?)))
}

#[derive(Deserialize)]
pub(crate) struct CreateUser {
    login: String,
    #[serde(default)]
    name: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
}

/// Creates a user; the answer holds their first token (shown this once).
pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require_admin()?;
    let (created, token) = state
        .platform
        .people
        .create(&NewUser {
            login: body.login,
            name: body.name,
            email: body.email,
            is_admin: body.admin,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": created, "token": token})),
    ))
}

pub(crate) async fn list_runtimes(
    State(state): State<AppState>,
    _user: ApiUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.platform.projects.runtimes().await?)))
}

#[derive(Deserialize)]
pub(crate) struct AddRuntime {
    series: String,
    source: String,
}

/// Registers the Odoo source tree of a series, after checking it is one (its `odoo-bin`,
/// and a release that says the same series).
pub(crate) async fn add_runtime(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<AddRuntime>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require_admin()?;
    let series = parse_series(&body.series)?;
    let root = std::path::PathBuf::from(&body.source);
    let source = slipway_runner::odoo::OdooSource::inspect(&root)
        .map_err(|e| ApiError::invalid(format!("{}: {e}", body.source)))?;
    if source.series != series {
        return Err(ApiError::invalid(format!(
            "{} holds Odoo {}, not {series}",
            body.source, source.series
        )));
    }
    let dir = std::fs::canonicalize(&root).unwrap_or(root);
    let runtime = state
        .platform
        .projects
        .register_runtime(&series, &dir.display().to_string())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(runtime))))
}

fn parse_series(text: &str) -> ApiResult<Series> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("{text:?} is not an Odoo series such as 17.0")))
}

pub(crate) async fn list_projects(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Json<Value>> {
    let mut visible = Vec::new();
    for project in state.platform.projects.list().await? {
        if let Ok(access) = user.access(&state, project).await {
            let mut view = json!(access.project);
            view["role"] = json!(access.role);
            visible.push(view);
        }
    }
    Ok(Json(json!(visible)))
}

#[derive(Deserialize)]
pub(crate) struct CreateProject {
    name: String,
    odoo: String,
    #[serde(default)]
    trial: bool,
}

pub(crate) async fn create_project(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let series = parse_series(&body.odoo)?;
    let project = state
        .platform
        .create_project(&body.name, &series, &user.0, body.trial)
        .await?;
    Ok((StatusCode::CREATED, Json(project_view(&state, &project))))
}

fn project_view(state: &AppState, project: &Project) -> Value {
    let mut view = json!(project);
    view["git_path"] = json!(format!("/git/{}.git", project.name));
    view["domain"] = json!(state.domain);
    view
}

/// The project named in the path, if the caller is a member, with their role.
pub(crate) async fn project_for(state: &AppState, user: &ApiUser, name: &str) -> ApiResult<Access> {
    let project = state.platform.projects.get(name).await?;
    user.access(state, project).await
}

/// The project and its live branch named in the path, if the caller is a member; what they
/// may do there is for the handler to `require` on the branch's stage.
pub(crate) async fn branch_for(
    state: &AppState,
    user: &ApiUser,
    project: &str,
    branch: &str,
) -> ApiResult<(Access, Branch)> {
    let access = project_for(state, user, project).await?;
    let branch = state
        .platform
        .branches
        .get(access.project.id, branch)
        .await?;
    Ok((access, branch))
}

pub(crate) async fn get_project(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let access = project_for(&state, &user, &name).await?;
    let mut view = project_view(&state, &access.project);
    view["role"] = json!(access.role);
    Ok(Json(view))
}

pub(crate) async fn list_branches(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let project = project_for(&state, &user, &name).await?.project;
    let mut last: std::collections::HashMap<i64, _> = (state.platform.builds)
        .last_of_each_branch(project.id)
        .await?
        .into_iter()
        .map(|build| (build.branch_id, build))
        .collect();
    let branches = state.platform.branches.list(project.id).await?;
    let out: Vec<Value> = branches
        .into_iter()
        .map(|branch| {
            let mut view = json!(branch);
            view["last_build"] = json!(last.remove(&branch.id));
            view
        })
        .collect();
    Ok(Json(json!(out)))
}

pub(crate) async fn get_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, branch) = branch_for(&state, &user, &name, &branch).await?;
    let builds = state.platform.builds.of_branch(branch.id, 20).await?;
    let mut view = json!(branch);
    view["builds"] = json!(builds);
    Ok(Json(view))
}

#[derive(Deserialize)]
pub(crate) struct UpdateBranch {
    settings: Option<BranchSettings>,
    stage: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// Changes a branch's settings and/or stage (stage moves follow Odoo.sh's rules and are
/// recorded in History).
pub(crate) async fn update_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateBranch>,
) -> ApiResult<Json<Value>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    let project = &access.project;
    if body.settings.is_some() {
        access.require(Action::Settings, branch.stage())?;
    }
    // Every check comes before any change: a refused move leaves the settings as they were.
    let mut stage_move = None;
    if let Some(stage) = &body.stage {
        let to = Stage::parse(stage).ok_or_else(|| {
            ApiError::invalid(format!(
                "{stage:?} is not a stage (development, staging, production)"
            ))
        })?;
        access.require(Action::MoveStage, branch.stage())?;
        access.require(Action::MoveStage, to)?;
        let production = state.platform.branches.production(project.id).await?;
        check_move(branch.stage(), to, production.is_some(), body.confirm).map_err(|e| {
            ApiError::new(StatusCode::CONFLICT, "stage_move_refused", e.to_string())
        })?;
        stage_move = Some(to);
    }
    if let Some(settings) = &body.settings {
        let mut settings = settings.clone();
        match &settings.series {
            // an import's series switch stays unless the update names a series
            None => settings.series = branch.settings.series.clone(),
            Some(series) => settings.series = Some(parse_series(series)?.to_string()),
        }
        state
            .platform
            .branches
            .set_settings(branch.id, &settings)
            .await?;
    }
    if let Some(to) = stage_move {
        state
            .platform
            .move_stage(&branch, to, &user.0.login)
            .await?;
    }
    let branch = state
        .platform
        .branches
        .get(project.id, &branch.name)
        .await?;
    Ok(Json(json!(branch)))
}

#[derive(Deserialize)]
pub(crate) struct UpdateProject {
    /// Absent: unchanged; `null`: not a trial.
    #[serde(default, deserialize_with = "present")]
    trial_until: Option<Option<chrono::DateTime<chrono::Utc>>>,
    settings: Option<ProjectSettings>,
}

/// A field that may be given as `null`: `Some(None)`, apart from absent (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// Changes a project's settings (running development builds, development database
/// lifetime) and trial end.
pub(crate) async fn update_project(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> ApiResult<Json<Value>> {
    let access = project_for(&state, &user, &name).await?;
    access.require(Action::ManageProject, Stage::Production)?;
    let project = access.project;
    if let Some(trial_until) = body.trial_until {
        state
            .platform
            .projects
            .set_trial_until(project.id, trial_until)
            .await?;
    }
    if let Some(settings) = &body.settings {
        state
            .platform
            .projects
            .set_settings(project.id, settings)
            .await?;
    }
    let project = state.platform.projects.get(&name).await?;
    Ok(Json(project_view(&state, &project)))
}

#[derive(Deserialize)]
pub(crate) struct MergeBody {
    into: String,
}

/// Merges the branch's code into another branch (`{"into": "staging-1"}`) with a real git
/// merge, and builds it; a conflict is a 409 listing the paths, and nothing is written.
pub(crate) async fn merge_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<MergeBody>,
) -> ApiResult<Json<Value>> {
    let (access, source) = branch_for(&state, &user, &name, &branch).await?;
    let project = access.project.clone();
    let target = state.platform.branches.get(project.id, &body.into).await?;
    access.require(Action::Merge, target.stage())?;
    match state
        .platform
        .merge(&project, &source, &target, &user.0)
        .await?
    {
        MergeResult::Conflict { paths } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "merge_conflict",
            format!(
                "{} and {} conflict on {}; merge them locally and push",
                source.name,
                target.name,
                paths.join(", ")
            ),
        )),
        other => Ok(Json(json!(other))),
    }
}

pub(crate) async fn branch_history(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, branch) = branch_for(&state, &user, &name, &branch).await?;
    Ok(Json(json!(
        state.platform.history.list(branch.id, 200).await?
    )))
}

pub(crate) async fn rebuild_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Rebuild, branch.stage())?;
    let id = state.platform.rebuild(&branch, &user.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!(state.platform.builds.get(id).await?)),
    ))
}

#[derive(Deserialize)]
pub(crate) struct ForkBody {
    name: String,
}

/// Forks the branch into a new development branch (`{"name": "feature-x"}`) at its head,
/// and builds it: `{"branch", "build"}`; 409 if the name is taken.
pub(crate) async fn fork_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<ForkBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let access = project_for(&state, &user, &name).await?;
    access.require(Action::Push, Stage::Development)?;
    let source = state
        .platform
        .branches
        .get(access.project.id, &branch)
        .await?;
    let build = state
        .platform
        .fork(&access.project, &source, body.name.trim(), &user.0)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"branch": body.name.trim(), "build": build})),
    ))
}
