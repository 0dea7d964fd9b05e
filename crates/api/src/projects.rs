//! Projects, their members, runtimes, branches and History: `/api/projects/...` and
//! `/api/runtimes`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::builds::Build;

/// What `POST .../merge` did.
pub use slipway_platform::addresses::CustomDomain;
/// A branch as stored (`PATCH /api/projects/{p}/branches/{b}` answers it), its settings and
/// what they hold.
pub use slipway_platform::branches::{Branch, BranchSettings, InstallSet, StagingBehaviour};
/// A line of a branch's History (`GET .../history`) and what happened.
pub use slipway_platform::history::{Event, HistoryEvent, PushedCommit};
/// A project as stored, its settings, its members and their roles; an Odoo runtime.
pub use slipway_platform::projects::{Member, Project, ProjectSettings, Role, Runtime};
/// A branch's stage.
pub use slipway_platform::stages::Stage;
pub use slipway_platform::MergeResult;

/// `POST /api/runtimes`: the Odoo source tree of a series (Slipway admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRuntime {
    /// The series (`17.0`).
    pub series: String,
    /// The folder holding `odoo-bin`.
    pub source: String,
}

/// `POST /api/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProject {
    /// Name: lowercase letters, digits and `-`.
    pub name: String,
    /// The Odoo series its builds run (`17.0`).
    pub odoo: String,
    /// A trial: production and staging go back to development after 15 days.
    #[serde(default)]
    pub trial: bool,
}

/// A project, where to push to it, and the caller's role in it (`GET /api/projects/{p}`;
/// creating and changing a project answer it without the role).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectView {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// Its Git path on the server (`/git/<name>.git`).
    pub git_path: String,
    /// The domain its builds are served under.
    pub domain: String,
    /// The caller's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// A project the caller is a member of, with their role (`GET /api/projects`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisibleProject {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// The caller's role.
    pub role: Role,
}

/// `PATCH /api/projects/{p}`: what is absent stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectUpdate {
    /// The end of the trial; `Some(None)` (`null`) makes it a regular project.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trial_until: Option<Option<DateTime<Utc>>>,
    /// New settings (whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ProjectSettings>,
}

/// A field that may be given as `null`: `Some(None)`, apart from absent (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// One entry of `PUT /api/projects/{p}/members` (the whole list is replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// The user's login.
    pub login: String,
    /// `admin`, `developer` or `tester`: the server reads it, so that an unknown role is
    /// refused with a sentence that lists the roles.
    pub role: String,
}

/// A branch and its last build (`GET /api/projects/{p}/branches`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchListed {
    /// The branch.
    #[serde(flatten)]
    pub branch: Branch,
    /// Its newest build, if any.
    pub last_build: Option<Build>,
    /// The build that serves it (the newest running one), if any: the branch's state is
    /// this build's; `last_build`, when newer, is an attempt beside it (production's failed
    /// update, a build under way).
    #[serde(default)]
    pub serving_build: Option<Build>,
}

/// A branch and its recent builds, newest first (`GET /api/projects/{p}/branches/{b}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchView {
    /// The branch.
    #[serde(flatten)]
    pub branch: Branch,
    /// Its last 20 builds.
    pub builds: Vec<Build>,
    /// The build that serves it (the newest running one), if any.
    #[serde(default)]
    pub serving_build: Option<Build>,
}

/// `PATCH /api/projects/{p}/branches/{b}`: new settings and/or a stage move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchUpdate {
    /// New settings (whole; a `series` left out keeps the branch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BranchSettings>,
    /// The stage to move to: the server reads it (`development`, `staging`, `production`,
    /// or `dev`, `prod`), so that an unknown one is refused with a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Confirms a promotion to production.
    #[serde(default)]
    pub confirm: bool,
}

/// `POST .../merge`: the branch the code is merged into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRequest {
    /// The target branch.
    pub into: String,
}

/// `POST .../fork`: the new development branch's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkRequest {
    /// Its name.
    pub name: String,
}

/// The answer to a fork: the new branch and its first build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forked {
    /// The new branch's name.
    pub branch: String,
    /// Its build.
    pub build: i64,
}

/// `POST .../domains`: a host name to route to the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddDomainRequest {
    /// The host name (`erp.example.com`).
    pub host: String,
}

/// `GET .../domains`: where the branch is reached, whichever of its builds serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchAddresses {
    /// Its address under Slipway's domain (production's is the project's own).
    pub address: String,
    /// Its custom domains.
    pub domains: Vec<CustomDomain>,
}

/// `GET /api/projects/{p}/production/admin-password` (project admins only): how to log into
/// production's Odoo as its administrator. Slipway set it when it created production's
/// database (staging copies have it too); someone may have changed it in Odoo since.
/// Development builds keep Odoo's `admin`/`admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPassword {
    /// The login (`admin`).
    pub login: String,
    /// The password.
    pub password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_update_tells_null_from_absent() {
        let regular: ProjectUpdate = serde_json::from_str(r#"{"trial_until": null}"#).unwrap();
        assert_eq!(regular.trial_until, Some(None));
        let unchanged: ProjectUpdate = serde_json::from_str("{}").unwrap();
        assert_eq!(unchanged.trial_until, None);
        assert_eq!(serde_json::to_string(&unchanged).unwrap(), "{}");
        assert_eq!(
            serde_json::to_string(&regular).unwrap(),
            r#"{"trial_until":null}"#
        );
    }
}
