//! Stable addresses: what a host name reaching Slipway names, and custom domains.
//!
//! Under Slipway's domain, a label is a build (`acme-main-9`), a project's production
//! (`acme`) or a branch (`acme-main`), looked up in that order (the rule is in
//! [`crate::builds::naming`]); a branch's or production's address follows whichever build of
//! it serves ([`BuildStore::serving_of_branch`](crate::builds::BuildStore::serving_of_branch)).
//! Any other host name is a custom domain if an admin gave it to a branch
//! ([`Platform::add_domain`]): validated by [`check_custom_domain`] (pure), one branch per
//! host name across projects, removable, each change in the branch's History.

use serde::{Deserialize, Serialize};

use crate::branches::Branch;
use crate::builds::naming::{branch_label, branch_label_projects, build_id_of};
use crate::builds::Build;
use crate::history::HistoryEvent;
use crate::{Platform, PlatformError, Result};

/// What a host name reaching Slipway names.
#[derive(Debug, Clone)]
pub enum Addressed {
    /// A build, by its own name: that build and no other.
    Build(Build),
    /// A branch (production included), by its address or a custom domain, and the build
    /// that serves it now, if any.
    Branch {
        /// The branch.
        branch: Branch,
        /// Its newest running build.
        serving: Option<Build>,
    },
}

/// A custom domain of a branch.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct CustomDomain {
    /// The host name, lowercase.
    pub host: String,
    /// Who added it.
    pub added_by: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `host` as a custom domain is kept (lowercase, without a final `.`), or why it cannot be
/// one. `slipway_domain` is Slipway's own domain: a name under it would compete with
/// builds' and branches' names, so only one whose first label cannot be a build's (no
/// `-<digits>` end) is taken there, and the caller checks it names nothing yet.
pub fn check_custom_domain(host: &str, slipway_domain: &str) -> Result<String> {
    let invalid = |why: &str| {
        PlatformError::Invalid(format!(
            "{host:?} is not a usable host name: {why}; give a name such as erp.example.com"
        ))
    };
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.len() > 253 {
        return Err(invalid("a host name has 1 to 253 characters"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid("it needs at least one dot"));
    }
    for label in &labels {
        let fine = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !fine {
            return Err(invalid(
                "each part between dots is 1 to 63 letters, digits or inner `-`",
            ));
        }
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid("an IP address is not a host name"));
    }
    let domain = slipway_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host == domain {
        return Err(invalid("it is Slipway's own domain"));
    }
    if let Some(label) = host.strip_suffix(&format!(".{domain}")) {
        if !label.contains('.') && build_id_of(label).is_some() {
            return Err(invalid(
                "under Slipway's domain, a name ending in -<number> is a build's",
            ));
        }
    }
    Ok(host)
}

impl Platform {
    /// What `label` (one label under Slipway's domain) names: a build, a project's
    /// production, a branch; `None` when nothing.
    pub async fn addressed_by_label(&self, label: &str) -> Result<Option<Addressed>> {
        let label = label.to_ascii_lowercase();
        if build_id_of(&label).is_some() {
            if let Some(build) = self.builds.by_name(&label).await? {
                return Ok(Some(Addressed::Build(build)));
            }
        }
        if let Ok(project) = self.projects.get(&label).await {
            if let Some(branch) = self.branches.production(project.id).await? {
                return Ok(Some(self.serving(branch).await?));
            }
        }
        for project in branch_label_projects(&label) {
            let Ok(project) = self.projects.get(project).await else {
                continue;
            };
            // A clean name is its own label; a cleaned-up one carries a tag, so at most one
            // branch has each label but for a hash collision, where the clean name wins.
            let mut found: Option<Branch> = None;
            for branch in self.branches.list(project.id).await? {
                if branch_label(&project.name, &branch.name) == label {
                    let clean = label.ends_with(&format!("-{}", branch.name));
                    if found.is_none() || clean {
                        found = Some(branch);
                    }
                }
            }
            if let Some(branch) = found {
                return Ok(Some(self.serving(branch).await?));
            }
        }
        Ok(None)
    }

    /// What a custom domain `host` names (lowercase, no port), if an admin added it.
    pub async fn addressed_by_domain(&self, host: &str) -> Result<Option<Addressed>> {
        let branch_id: Option<(i64,)> =
            sqlx::query_as("SELECT branch_id FROM branch_domains WHERE host = $1")
                .bind(host.trim_end_matches('.').to_ascii_lowercase())
                .fetch_optional(self.pool())
                .await?;
        let Some((branch_id,)) = branch_id else {
            return Ok(None);
        };
        let branch = self.branches.by_id(branch_id).await?;
        Ok(Some(self.serving(branch).await?))
    }

    async fn serving(&self, branch: Branch) -> Result<Addressed> {
        let serving = self.builds.serving_of_branch(branch.id).await?;
        Ok(Addressed::Branch { branch, serving })
    }

    /// The branch's custom domains, in the order they were added.
    pub async fn domains(&self, branch: &Branch) -> Result<Vec<CustomDomain>> {
        let rows = sqlx::query_as(
            "SELECT host, added_by, created_at FROM branch_domains WHERE branch_id = $1 \
             ORDER BY created_at, host",
        )
        .bind(branch.id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Gives `branch` the custom domain `host` ([`check_custom_domain`]), recorded in its
    /// History. A name another branch has, or one under Slipway's domain that already
    /// names a build, a project or a branch, is a conflict.
    pub async fn add_domain(&self, branch: &Branch, host: &str, by: &str) -> Result<CustomDomain> {
        let public = &self.env().public;
        let host = check_custom_domain(host, &public.domain)?;
        if let Some(label) = host.strip_suffix(&format!(".{}", public.domain)) {
            if !label.contains('.') && self.addressed_by_label(label).await?.is_some() {
                return Err(PlatformError::Conflict(format!(
                    "{host} is already Slipway's address of a build or branch; choose another name"
                )));
            }
        }
        let added: Option<CustomDomain> = sqlx::query_as(
            "INSERT INTO branch_domains (host, branch_id, added_by) VALUES ($1, $2, $3) \
             ON CONFLICT (host) DO NOTHING RETURNING host, added_by, created_at",
        )
        .bind(&host)
        .bind(branch.id)
        .bind(by)
        .fetch_optional(self.pool())
        .await?;
        let Some(added) = added else {
            return Err(PlatformError::Conflict(format!(
                "{host} is already a custom domain of a branch; remove it there first"
            )));
        };
        self.history
            .record(
                branch.id,
                HistoryEvent::DomainAdded {
                    message: format!("custom domain {host} added by {by}"),
                    host: host.clone(),
                },
            )
            .await?;
        Ok(added)
    }

    /// Takes the custom domain `host` from `branch`, recorded in its History; NotFound if
    /// the branch has no such domain.
    pub async fn remove_domain(&self, branch: &Branch, host: &str, by: &str) -> Result<()> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let removed = sqlx::query("DELETE FROM branch_domains WHERE host = $1 AND branch_id = $2")
            .bind(&host)
            .bind(branch.id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(PlatformError::NotFound(format!(
                "branch {} has no custom domain {host}",
                branch.name
            )));
        }
        self.history
            .record(
                branch.id,
                HistoryEvent::DomainRemoved {
                    message: format!("custom domain {host} removed by {by}"),
                    host,
                },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_domains_are_host_names() {
        let ok = |h| check_custom_domain(h, "slipway.example").unwrap();
        assert_eq!(ok("ERP.Example.com."), "erp.example.com");
        assert_eq!(ok("shop.slipway.example"), "shop.slipway.example");
        for bad in [
            "",
            "localhost",
            "erp..example.com",
            "-erp.example.com",
            "erp-.example.com",
            "erp_x.example.com",
            "erp.example.com/path",
            "erp.example.com:8080",
            "10.0.0.1",
            "slipway.example",
            "acme-main-9.slipway.example",
        ] {
            let e = check_custom_domain(bad, "slipway.example").unwrap_err();
            assert!(
                e.to_string().contains("not a usable host name"),
                "{bad}: {e}"
            );
        }
    }
}
