//! Projects, their Odoo runtimes and their members.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_odoo::Series;
use sqlx::types::Json;
use sqlx::PgPool;

use crate::error::{PlatformError, Result};
use crate::stages::Stage;

/// A project: a Git repository of Odoo modules, its Odoo series and its settings.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Project {
    /// Id.
    pub id: i64,
    /// Name: also its Git path (`/git/<name>.git`) and the first part of build names.
    pub name: String,
    /// Odoo series its builds run (`17.0`).
    pub series: String,
    /// Trial projects: production and staging go back to development after this moment.
    pub trial_until: Option<DateTime<Utc>>,
    /// Settings.
    pub settings: Json<ProjectSettings>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Per-project settings, with Odoo.sh's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectSettings {
    /// At most this many development builds run at once; the oldest (not kept) is stopped.
    pub max_running_dev_builds: u32,
    /// Development databases are dropped after this many days.
    pub dev_database_days: u32,
    /// Developers may push to the staging branches and move or merge branches into staging
    /// (off by default: staging runs on a copy of production's data, so what reaches it is an
    /// admin's decision).
    pub developers_may_stage: bool,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            max_running_dev_builds: 4,
            dev_database_days: 3,
            developers_may_stage: false,
        }
    }
}

/// A registered Odoo source tree.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Runtime {
    /// Series.
    pub series: String,
    /// Directory holding `odoo-bin`.
    pub source_dir: String,
    /// Registration time.
    pub registered_at: DateTime<Utc>,
}

/// Whether `name` can name a project: lowercase letters, digits and `-`, at most 40, so
/// that `<project>-<branch>-<build>` still fits a DNS label most of the time.
pub fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

const PROJECT_COLUMNS: &str = "id, name, series, trial_until, settings, created_at";

/// Project roles, with Odoo.sh's meaning: admins manage the project and production,
/// developers push and manage development and staging, testers use the builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Uses builds (connect, logs, mails).
    Tester,
    /// Pushes code, manages development and staging branches.
    Developer,
    /// Everything in the project, production included.
    Admin,
}

impl Role {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tester => "tester",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "tester" => Some(Role::Tester),
            "developer" => Some(Role::Developer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

crate::text_column::text_column!(Role, "project role");

/// What a member wants to do, for [`allowed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See the project, its branches, builds and history.
    View,
    /// Push code (Git), fork a branch.
    Push,
    /// Rebuild, stop or keep a build.
    Rebuild,
    /// Read a build's logs.
    Logs,
    /// Log into a build's Odoo as its administrator.
    Connect,
    /// A shell in the build's environment (its database reachable with `psql`).
    Shell,
    /// Read the mails a build caught.
    Mails,
    /// CPU and memory of a build's server.
    Monitor,
    /// Browse a build's checkout in the editor.
    Browse,
    /// Commit a file from the editor.
    Edit,
    /// Backups: list, download, create, restore.
    Backups,
    /// Change a branch's settings.
    Settings,
    /// Move a branch to this stage or out of it.
    MoveStage,
    /// Merge a branch into one of this stage.
    Merge,
    /// Add, change or remove collaborators; project settings.
    ManageProject,
    /// Upgrade the branch's database to a newer Odoo (the Upgrade tab): admins only outside
    /// development, as on Odoo.sh.
    Upgrade,
}

/// Odoo.sh's rights: whether `role` may do `action` on a branch (or build) of `stage`.
///
/// - admin: everything, except committing from the editor on production (production
///   changes come through Git, with its safety backup and rollback);
/// - developer: every tool of development builds; on staging and production only seeing
///   them (history, builds) and branch settings out of production; pushes, stage moves and
///   merges only into development (staging and production are protected: see
///   [`allowed_in`] for the project setting that opens staging); no database, logs, shell or
///   mails outside development;
/// - tester: staging and development databases and their tools (connect, logs, mails,
///   shell, monitor, browsing code); no pushes, rebuilds, settings, nor anything of
///   production but seeing it.
pub fn allowed(role: Role, action: Action, stage: Stage) -> bool {
    use Action::*;
    use Stage::*;
    if action == View {
        return true;
    }
    match role {
        Role::Admin => !(action == Edit && stage == Production),
        Role::Developer => match (action, stage) {
            (Settings, Staging) => true,
            (ManageProject, _) => false,
            (_, Development) => true,
            _ => false,
        },
        Role::Tester => matches!(
            (action, stage),
            (
                Logs | Connect | Shell | Mails | Monitor | Browse | Backups,
                Development | Staging
            )
        ),
    }
}

/// [`allowed`] in a project whose settings may open staging to its developers: with
/// `developers_may_stage`, a developer pushes to staging branches and moves or merges
/// branches into staging (never production).
pub fn allowed_in(settings: &ProjectSettings, role: Role, action: Action, stage: Stage) -> bool {
    let opened = settings.developers_may_stage
        && role == Role::Developer
        && stage == Stage::Staging
        && matches!(action, Action::Push | Action::MoveStage | Action::Merge);
    opened || allowed(role, action, stage)
}

/// The branches `role` may not push to in a project with `settings` (Git refuses their
/// updates at `git-receive-pack`), and the sentence the pusher's `git` prints.
pub fn push_protection(
    settings: &ProjectSettings,
    role: Role,
    branches: &[crate::branches::Branch],
) -> slipway_git::http::ProtectedBranches {
    let names = branches
        .iter()
        .filter(|b| !allowed_in(settings, role, Action::Push, b.stage))
        .map(|b| b.name.clone())
        .collect();
    let closed = if settings.developers_may_stage {
        "production branch"
    } else {
        "production and staging branches"
    };
    slipway_git::http::ProtectedBranches {
        names,
        reason: format!(
            "as {}, you cannot push to the {closed}; push to a development branch and ask a \
             project admin to merge it",
            role.as_str()
        ),
    }
}

/// A member of a project.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Member {
    /// User id.
    pub user_id: i64,
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Their role.
    pub role: Role,
}

/// Projects and runtimes in the metadata database.
#[derive(Debug, Clone)]
pub struct Projects {
    pool: PgPool,
}

impl Projects {
    /// The store behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Registers (or re-points) the Odoo source of a series.
    pub async fn register_runtime(&self, series: &Series, source_dir: &str) -> Result<Runtime> {
        let runtime = sqlx::query_as(
            "INSERT INTO odoo_runtimes (series, source_dir) VALUES ($1, $2) \
             ON CONFLICT (series) DO UPDATE SET source_dir = EXCLUDED.source_dir, registered_at = now() \
             RETURNING series, source_dir, registered_at",
        )
        .bind(series.to_string())
        .bind(source_dir)
        .fetch_one(&self.pool)
        .await?;
        Ok(runtime)
    }

    /// Every registered runtime.
    pub async fn runtimes(&self) -> Result<Vec<Runtime>> {
        let rows = sqlx::query_as(
            "SELECT series, source_dir, registered_at FROM odoo_runtimes ORDER BY series",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The runtime of `series`, if registered.
    pub async fn runtime(&self, series: &str) -> Result<Option<Runtime>> {
        let row = sqlx::query_as(
            "SELECT series, source_dir, registered_at FROM odoo_runtimes WHERE series = $1",
        )
        .bind(series)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Creates a project; its creator becomes its admin. A trial project's production and
    /// staging branches go back to development after 15 days.
    pub async fn create(
        &self,
        name: &str,
        series: &Series,
        creator: i64,
        trial: bool,
    ) -> Result<Project> {
        if !valid_project_name(name) {
            return Err(PlatformError::Invalid(format!(
                "project name {name:?} is not allowed: use lowercase letters, digits and '-' (at most 40, starting with a letter or digit)"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let project: Option<Project> = sqlx::query_as(&format!(
            "INSERT INTO projects (name, series, settings, trial_until) \
             VALUES ($1, $2, $3, CASE WHEN $4 THEN now() + interval '15 days' END) \
             ON CONFLICT (name) DO NOTHING RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(name)
        .bind(series.to_string())
        .bind(Json(ProjectSettings::default()))
        .bind(trial)
        .fetch_optional(&mut *tx)
        .await?;
        let project = project
            .ok_or_else(|| PlatformError::Conflict(format!("project {name:?} exists already")))?;
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'admin')",
        )
        .bind(project.id)
        .bind(creator)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Every project.
    pub async fn list(&self) -> Result<Vec<Project>> {
        let rows = sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// A project by name, or NotFound.
    pub async fn get(&self, name: &str) -> Result<Project> {
        sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("no project named {name:?}")))
    }

    /// A project by id.
    pub async fn by_id(&self, id: i64) -> Result<Project> {
        sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("no project #{id}")))
    }

    /// Sets (or clears) the end of a project's trial.
    pub async fn set_trial_until(&self, id: i64, until: Option<DateTime<Utc>>) -> Result<()> {
        sqlx::query("UPDATE projects SET trial_until = $2 WHERE id = $1")
            .bind(id)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces a project's settings.
    pub async fn set_settings(&self, id: i64, settings: &ProjectSettings) -> Result<()> {
        sqlx::query("UPDATE projects SET settings = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(settings))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The project's members, by login.
    pub async fn members(&self, project_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query_as(
            "SELECT u.id AS user_id, u.login, u.name, m.role FROM project_members m \
             JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.login",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Replaces the project's members by `members` (user id, role) in one transaction;
    /// refused when no admin would be left.
    pub async fn set_members(&self, project_id: i64, members: &[(i64, Role)]) -> Result<()> {
        if !members.iter().any(|(_, r)| *r == Role::Admin) {
            return Err(PlatformError::Invalid(
                "a project needs at least one admin; keep one in the list".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM project_members WHERE project_id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        for (user, role) in members {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
            )
            .bind(project_id)
            .bind(user)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The role of `user_id` in the project, if any.
    pub async fn role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>> {
        let row: Option<(Role,)> = sqlx::query_as(
            "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(role,)| role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_fit_git_paths_and_host_names() {
        assert!(valid_project_name("shop"));
        assert!(valid_project_name("acme-erp-2"));
        assert!(!valid_project_name("Shop"));
        assert!(!valid_project_name("../etc"));
        assert!(!valid_project_name("a.b"));
        assert!(!valid_project_name(""));
        assert!(!valid_project_name(&"a".repeat(41)));
    }

    #[test]
    fn role_names_round_trip() {
        for r in [Role::Admin, Role::Developer, Role::Tester] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("owner"), None);
    }

    const STAGES: [Stage; 3] = [Stage::Development, Stage::Staging, Stage::Production];
    const ACTIONS: [Action; 16] = [
        Action::View,
        Action::Push,
        Action::Rebuild,
        Action::Logs,
        Action::Connect,
        Action::Shell,
        Action::Mails,
        Action::Monitor,
        Action::Browse,
        Action::Edit,
        Action::Backups,
        Action::Settings,
        Action::MoveStage,
        Action::Merge,
        Action::ManageProject,
        Action::Upgrade,
    ];

    #[test]
    fn everyone_sees_every_stage() {
        for role in [Role::Admin, Role::Developer, Role::Tester] {
            for stage in STAGES {
                assert!(allowed(role, Action::View, stage));
            }
        }
    }

    #[test]
    fn admins_do_everything_but_edit_production_in_the_browser() {
        for action in ACTIONS {
            for stage in STAGES {
                let expected = !(action == Action::Edit && stage == Stage::Production);
                assert_eq!(
                    allowed(Role::Admin, action, stage),
                    expected,
                    "{action:?} {stage}"
                );
            }
        }
    }

    #[test]
    fn developers_have_every_tool_of_development_builds() {
        for action in ACTIONS {
            let expected = action != Action::ManageProject;
            assert_eq!(
                allowed(Role::Developer, action, Stage::Development),
                expected,
                "{action:?}"
            );
        }
    }

    #[test]
    fn developers_reach_no_staging_or_production_database() {
        for stage in [Stage::Staging, Stage::Production] {
            for action in [
                Action::Logs,
                Action::Connect,
                Action::Shell,
                Action::Mails,
                Action::Monitor,
                Action::Backups,
                Action::Rebuild,
                Action::Edit,
            ] {
                assert!(
                    !allowed(Role::Developer, action, stage),
                    "{action:?} {stage}"
                );
            }
        }
        assert!(allowed(Role::Developer, Action::Settings, Stage::Staging));
        assert!(!allowed(
            Role::Developer,
            Action::Settings,
            Stage::Production
        ));
    }

    #[test]
    fn staging_and_production_are_protected_from_developers_unless_staging_is_opened() {
        let protected = ProjectSettings::default();
        let opened = ProjectSettings {
            developers_may_stage: true,
            ..ProjectSettings::default()
        };
        for action in [Action::Push, Action::MoveStage, Action::Merge] {
            assert!(allowed_in(
                &protected,
                Role::Developer,
                action,
                Stage::Development
            ));
            assert!(!allowed_in(
                &protected,
                Role::Developer,
                action,
                Stage::Staging
            ));
            assert!(allowed_in(&opened, Role::Developer, action, Stage::Staging));
            for settings in [&protected, &opened] {
                assert!(!allowed_in(
                    settings,
                    Role::Developer,
                    action,
                    Stage::Production
                ));
                assert!(allowed_in(settings, Role::Admin, action, Stage::Production));
                assert!(!allowed_in(settings, Role::Tester, action, Stage::Staging));
            }
        }
        // Opening staging to pushes opens none of its data.
        assert!(!allowed_in(
            &opened,
            Role::Developer,
            Action::Shell,
            Stage::Staging
        ));
    }

    #[test]
    fn testers_use_staging_and_development_databases_only() {
        for stage in [Stage::Development, Stage::Staging] {
            for action in [
                Action::Logs,
                Action::Connect,
                Action::Shell,
                Action::Mails,
                Action::Monitor,
                Action::Browse,
            ] {
                assert!(allowed(Role::Tester, action, stage), "{action:?} {stage}");
            }
        }
        for action in ACTIONS.into_iter().filter(|a| *a != Action::View) {
            assert!(
                !allowed(Role::Tester, action, Stage::Production),
                "{action:?}"
            );
        }
        for action in [
            Action::Push,
            Action::Rebuild,
            Action::Edit,
            Action::Settings,
            Action::MoveStage,
            Action::Merge,
            Action::ManageProject,
        ] {
            assert!(
                !allowed(Role::Tester, action, Stage::Development),
                "{action:?}"
            );
        }
    }
}
