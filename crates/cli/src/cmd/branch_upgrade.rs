//! `slipway branch upgrade P B --target 17.0 | --status [--json] | --cancel`: a branch's
//! Upgrade tab from the command line. `--target` waits for the upgrade with a spinner showing
//! its current step, and ends when the branch is in upgrade mode (or the upgrade ended).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use reqwest::Method;
use slipway_api::upgrade::{BranchUpgradeState, StartUpgrade, UpgradeOverview};

use super::progress::spinner;
use crate::client::Client;
use crate::output::{print_fields, print_json};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Project name.
    project: String,
    /// Branch name (staging: a test upgrade of production's database).
    branch: String,
    /// Start an upgrade to this series (`17.0`) and wait for it.
    #[arg(long, conflicts_with_all = ["status", "cancel"])]
    target: Option<String>,
    /// Show the branch's upgrade state (the default).
    #[arg(long)]
    status: bool,
    /// Cancel the upgrade under way, or close upgrade mode.
    #[arg(long, conflicts_with = "status")]
    cancel: bool,
    /// With --target: return once started instead of waiting.
    #[arg(long, requires = "target")]
    no_wait: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl UpgradeArgs {
    pub fn project(&self) -> &str {
        &self.project
    }
    pub fn branch(&self) -> &str {
        &self.branch
    }
}

pub async fn run(api: &Client, path: String, args: UpgradeArgs) -> Result<()> {
    let path = format!("{path}/upgrade");
    let overview: UpgradeOverview = if let Some(target) = &args.target {
        let body = StartUpgrade {
            target: target.clone(),
        };
        let started: UpgradeOverview = api.post_as(&path, &body).await?;
        if args.no_wait {
            started
        } else {
            wait(api, &path, args.json).await?
        }
    } else if args.cancel {
        api.call_as(Method::DELETE, &path, None::<&()>).await?
    } else {
        api.get_as(&path).await?
    };
    if args.json {
        print_json(&serde_json::to_value(&overview)?)?;
    } else {
        print_overview(&overview);
    }
    if let Some(upgrade) = &overview.upgrade {
        if args.target.is_some() && upgrade.state == BranchUpgradeState::Failed {
            bail!(
                "the upgrade failed: {}",
                upgrade.error.as_deref().unwrap_or("see upgrade.log")
            );
        }
    }
    Ok(())
}

/// Polls the upgrade until it leaves its working states, showing its step.
async fn wait(api: &Client, path: &str, quiet: bool) -> Result<UpgradeOverview> {
    let bar = spinner("upgrading", quiet);
    loop {
        let overview: UpgradeOverview = api.get_as(path).await?;
        let Some(upgrade) = &overview.upgrade else {
            bail!("the branch has no upgrade");
        };
        if !upgrade.state.is_working() {
            bar.finish_and_clear();
            return Ok(overview);
        }
        bar.set_message(format!(
            "{}: {}",
            upgrade.state,
            upgrade.step.as_deref().unwrap_or("")
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn print_overview(o: &UpgradeOverview) {
    let mut fields = vec![
        ("branch", format!("{} ({})", o.branch, o.stage)),
        ("series", o.series.clone()),
        ("production", o.production_series.clone()),
        ("targets", o.targets.join(", ")),
    ];
    if let Some(why) = &o.unavailable {
        fields.push(("unavailable", why.clone()));
    }
    if let Some(u) = &o.upgrade {
        fields.push((
            "upgrade",
            format!(
                "#{} {} {} -> {}",
                u.id,
                u.kind.as_str(),
                u.source_series,
                u.target
            ),
        ));
        fields.push(("state", u.state.to_string()));
        if let Some(step) = &u.step {
            fields.push(("step", step.clone()));
        }
        if let Some(until) = &u.mode_until {
            fields.push(("upgrade mode until", until.to_rfc3339()));
        }
        if !u.custom_modules.is_empty() {
            fields.push(("custom modules", u.custom_modules.join(", ")));
        }
        if let Some(error) = &u.error {
            fields.push(("error", error.clone()));
        }
    }
    print_fields(&fields);
}
