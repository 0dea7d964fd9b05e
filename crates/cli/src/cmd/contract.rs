//! `slipway contract add | list | remove`: who may file upgrade requests.

use anyhow::Result;
use clap::{Args, Subcommand};
use slipway_upgrade::UpgradeStore;

use crate::config::GlobalOptions;
use crate::output::print_json;

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Allow a contract code to file upgrade requests.
    Add(AddArgs),
    /// List contracts and how many requests each filed.
    List(ListArgs),
    /// Remove a contract that filed no request.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The code clients send as `contract`, e.g. `M123456-abcdef`.
    code: String,
    /// A note for people (customer, project).
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The contract code.
    code: String,
}

pub async fn run(cmd: ContractCommand, global: &GlobalOptions) -> Result<()> {
    let (metadata, postgres) = global.metadata().await?;
    let store = UpgradeStore::new(metadata.pool().clone());
    let result = match cmd {
        ContractCommand::Add(args) => store
            .add_contract(&args.code, &args.note)
            .await
            .map(|()| println!("contract {} added", args.code))
            .map_err(Into::into),
        ContractCommand::List(args) => list(&store, args.json).await,
        ContractCommand::Remove(args) => match store.remove_contract(&args.code).await {
            Ok(true) => {
                println!("contract {} removed", args.code);
                Ok(())
            }
            Ok(false) => Err(anyhow::anyhow!(
                "contract {} is unknown or has upgrade requests (which keep it)",
                args.code
            )),
            Err(e) => Err(e.into()),
        },
    };
    postgres.stop_if_started().await;
    result
}

async fn list(store: &UpgradeStore, json: bool) -> Result<()> {
    let rows = store.list_contracts().await?;
    if json {
        return print_json(&rows);
    }
    let width = rows.iter().map(|r| r.code.len()).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:>8}  NOTE", "CODE", "REQUESTS");
    for row in rows {
        println!("{:<width$}  {:>8}  {}", row.code, row.requests, row.note);
    }
    Ok(())
}
