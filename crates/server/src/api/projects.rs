//! Users, runtimes, projects and branches.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::builds::Build;
use slipway_api::people::{CreatedUser, NewUserRequest, User};
use slipway_api::projects::{
    AdminPassword, BranchListed, BranchUpdate, BranchView, Event, ForkRequest, Forked,
    MergeRequest, MergeResult, NewProject, NewRuntime, Project, ProjectUpdate, ProjectView,
    Runtime, VisibleProject,
};
use slipway_odoo::Series;
use slipway_platform::branches::Branch;
use slipway_platform::people::NewUser;
use slipway_platform::projects::Action;
use slipway_platform::stages::{check_move, Stage};

use super::auth::Access;
use super::{Answer, ApiJson};
use super::{ApiError, ApiResult, ApiUser};
use crate::AppState;

pub(crate) async fn me(user: ApiUser) -> Answer<User> {
    Answer(user.0)
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<Vec<User>>> {
    user.require_admin()?;
    Ok(Answer(state.platform.people.list().await?))
}

/// Creates a user; the answer holds their first token (shown this once).
pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Answer<CreatedUser>)> {
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
        Answer(CreatedUser {
            user: created,
            token,
        }),
    ))
}

pub(crate) async fn list_runtimes(
    State(state): State<AppState>,
    _user: ApiUser,
) -> ApiResult<Answer<Vec<Runtime>>> {
    Ok(Answer(state.platform.projects.runtimes().await?))
}

/// Registers the Odoo source tree of a series, after checking it is one (its `odoo-bin`,
/// and a release that says the same series).
pub(crate) async fn add_runtime(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewRuntime>,
) -> ApiResult<(StatusCode, Answer<Runtime>)> {
    user.require_admin()?;
    let series = parse_series(&body.series)?;
    let runtime = state
        .platform
        .add_runtime(&series, std::path::Path::new(&body.source))
        .await?;
    Ok((StatusCode::CREATED, Answer(runtime)))
}

pub(crate) fn parse_series(text: &str) -> ApiResult<Series> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("{text:?} is not an Odoo series such as 17.0")))
}

pub(crate) async fn list_projects(
    State(state): State<AppState>,
    user: ApiUser,
) -> ApiResult<Answer<Vec<VisibleProject>>> {
    let mut visible = Vec::new();
    for project in state.platform.projects.list().await? {
        if let Ok(access) = user.access(&state, project).await {
            visible.push(VisibleProject {
                project: access.project,
                role: access.role,
            });
        }
    }
    Ok(Answer(visible))
}

pub(crate) async fn create_project(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(body): ApiJson<NewProject>,
) -> ApiResult<(StatusCode, Answer<ProjectView>)> {
    let series = parse_series(&body.odoo)?;
    let project = state
        .platform
        .create_project(&body.name, &series, &user.0, body.trial)
        .await?;
    Ok((StatusCode::CREATED, Answer(project_view(&state, project))))
}

fn project_view(state: &AppState, project: Project) -> ProjectView {
    ProjectView {
        git_path: format!("/git/{}.git", project.name),
        domain: state.domain.clone(),
        role: None,
        project,
    }
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
) -> ApiResult<Answer<ProjectView>> {
    let access = project_for(&state, &user, &name).await?;
    Ok(Answer(ProjectView {
        role: Some(access.role),
        ..project_view(&state, access.project)
    }))
}

pub(crate) async fn list_branches(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Answer<Vec<BranchListed>>> {
    let project = project_for(&state, &user, &name).await?.project;
    let mut last: std::collections::HashMap<i64, _> = (state.platform.builds)
        .last_of_each_branch(project.id)
        .await?
        .into_iter()
        .map(|build| (build.branch_id, build))
        .collect();
    let mut serving: std::collections::HashMap<i64, _> = (state.platform.builds)
        .serving_of_each_branch(project.id)
        .await?
        .into_iter()
        .map(|build| (build.branch_id, build))
        .collect();
    let branches = state.platform.branches.list(project.id).await?;
    let listed = branches
        .into_iter()
        .map(|branch| BranchListed {
            last_build: last.remove(&branch.id),
            serving_build: serving.remove(&branch.id),
            branch,
        })
        .collect();
    Ok(Answer(listed))
}

pub(crate) async fn get_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<BranchView>> {
    let (_, branch) = branch_for(&state, &user, &name, &branch).await?;
    let builds = state.platform.builds.of_branch(branch.id, 20).await?;
    let serving_build = state.platform.builds.serving_of_branch(branch.id).await?;
    Ok(Answer(BranchView {
        branch,
        builds,
        serving_build,
    }))
}

/// Changes a branch's settings and/or stage (stage moves follow Odoo.sh's rules and are
/// recorded in History).
pub(crate) async fn update_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<BranchUpdate>,
) -> ApiResult<Answer<Branch>> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    let project = &access.project;
    if body.settings.is_some() {
        access.require(Action::Settings, branch.stage)?;
    }
    // Every check comes before any change: a refused move leaves the settings as they were.
    let mut stage_move = None;
    if let Some(stage) = &body.stage {
        let to = Stage::parse(stage).ok_or_else(|| {
            ApiError::invalid(format!(
                "{stage:?} is not a stage (development, staging, production)"
            ))
        })?;
        access.require(Action::MoveStage, branch.stage)?;
        access.require(Action::MoveStage, to)?;
        let production = state.platform.branches.production(project.id).await?;
        check_move(branch.stage, to, production.is_some(), body.confirm).map_err(|e| {
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
    Ok(Answer(branch))
}

/// Changes a project's settings (running development builds, development database
/// lifetime) and trial end.
pub(crate) async fn update_project(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ProjectUpdate>,
) -> ApiResult<Answer<ProjectView>> {
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
    Ok(Answer(project_view(&state, project)))
}

/// Merges the branch's code into another branch (`{"into": "staging-1"}`) with a real git
/// merge, and builds it; a conflict is a 409 listing the paths, and nothing is written.
pub(crate) async fn merge_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> ApiResult<Answer<MergeResult>> {
    let (access, source) = branch_for(&state, &user, &name, &branch).await?;
    let project = access.project.clone();
    let target = state.platform.branches.get(project.id, &body.into).await?;
    access.require(Action::Merge, target.stage)?;
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
        other => Ok(Answer(other)),
    }
}

pub(crate) async fn branch_history(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<Answer<Vec<Event>>> {
    let (_, branch) = branch_for(&state, &user, &name, &branch).await?;
    Ok(Answer(state.platform.history.list(branch.id, 200).await?))
}

pub(crate) async fn rebuild_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Answer<Build>)> {
    let (access, branch) = branch_for(&state, &user, &name, &branch).await?;
    access.require(Action::Rebuild, branch.stage)?;
    let id = state.platform.rebuild(&branch, &user.0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Answer(state.platform.builds.get(id).await?),
    ))
}

/// Forks the branch into a new development branch (`{"name": "feature-x"}`) at its head,
/// and builds it: `{"branch", "build"}`; 409 if the name is taken.
pub(crate) async fn fork_branch(
    State(state): State<AppState>,
    user: ApiUser,
    Path((name, branch)): Path<(String, String)>,
    ApiJson(body): ApiJson<ForkRequest>,
) -> ApiResult<(StatusCode, Answer<Forked>)> {
    let access = project_for(&state, &user, &name).await?;
    access.require(Action::Push, Stage::Development)?;
    let source = state
        .platform
        .branches
        .get(access.project.id, &branch)
        .await?;
    let name = body.name.trim();
    let build = state
        .platform
        .fork(&access.project, &source, name, &user.0)
        .await?;
    Ok((
        StatusCode::CREATED,
        Answer(Forked {
            branch: name.to_string(),
            build,
        }),
    ))
}

/// `GET /api/projects/{p}/production/admin-password`: the login and password of production's
/// administrator (project admins only, recorded in production's History; see
/// [`slipway_api::projects::AdminPassword`]).
pub(crate) async fn production_admin_password(
    State(state): State<AppState>,
    user: ApiUser,
    Path(name): Path<String>,
) -> ApiResult<Answer<AdminPassword>> {
    let access = project_for(&state, &user, &name).await?;
    access.require(Action::ManageProject, Stage::Production)?;
    let password = state
        .platform
        .production_admin_password(&access.project, &user.0)
        .await?;
    Ok(Answer(AdminPassword {
        login: "admin".into(),
        password,
    }))
}
