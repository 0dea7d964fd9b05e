//! Slipway's configuration: one typed struct, read from flags and the environment (flags win).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use slipway_pg::{Binaries, ClusterOptions, EmbeddedCluster, Server, StartOutcome};
use slipway_platform::DataDir;

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// Where Slipway keeps everything: the embedded PostgreSQL, filestores, builds, backups.
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_DATA_DIR",
        default_value = "./slipway-data"
    )]
    pub data_dir: PathBuf,

    /// An external PostgreSQL (`postgres://user:pass@host:port/db`) to use instead of the
    /// embedded one; its role must be allowed to create databases.
    #[arg(long, global = true, env = "SLIPWAY_PG_URL")]
    pub pg_url: Option<String>,

    /// The PostgreSQL server binaries to run the embedded cluster with (default: found with
    /// `pg_config --bindir`, else the highest /usr/lib/postgresql/*/bin).
    #[arg(long, global = true, env = "SLIPWAY_PG_BINDIR")]
    pub pg_bindir: Option<PathBuf>,
}

/// The PostgreSQL a command works with, and whether this command started it.
pub struct Postgres {
    /// How to reach it.
    pub server: Server,
    /// The embedded cluster this command started (and so should stop when it is done), if any.
    pub started: Option<EmbeddedCluster>,
}

impl GlobalOptions {
    /// The embedded cluster of the data directory; refused when `--pg-url` says to use an
    /// external server instead.
    pub fn embedded_cluster(&self) -> Result<EmbeddedCluster> {
        if self.pg_url.is_some() {
            anyhow::bail!(
                "--pg-url points at an external PostgreSQL; the embedded one is not used (drop --pg-url to manage it)"
            );
        }
        let options = ClusterOptions {
            unsafe_fast: false,
            bin_dir: self.pg_bindir.clone(),
            // point-in-time recovery of production: every command that starts the embedded
            // cluster starts it archiving, so settings never flip between commands
            wal_archive: true,
        };
        EmbeddedCluster::new(&self.data_dir, options)
            .with_context(|| format!("data directory {}", self.data_dir.display()))
    }

    /// Where everything lives under the data directory (as given, not made absolute).
    pub fn layout(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }

    /// The data directory as an absolute path (created if missing).
    pub fn absolute_data_dir(&self) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}; choose a writable --data-dir",
                self.data_dir.display()
            )
        })?;
        std::fs::canonicalize(&self.data_dir)
            .with_context(|| format!("data directory {}", self.data_dir.display()))
    }

    /// The PostgreSQL programs: from `--pg-bindir`, else discovered.
    pub fn binaries(&self) -> Result<Binaries> {
        match &self.pg_bindir {
            Some(dir) => Binaries::at(dir)
                .with_context(|| format!("PostgreSQL binaries in {}", dir.display())),
            None => Binaries::discover().context("finding the PostgreSQL binaries"),
        }
    }

    /// Opens the metadata database (starting the embedded PostgreSQL if needed).
    pub async fn metadata(&self) -> Result<(slipway_platform::Metadata, Postgres)> {
        let postgres = self.postgres().await?;
        let metadata = slipway_platform::Metadata::open(&postgres.server)
            .await
            .context("opening the metadata database")?;
        Ok((metadata, postgres))
    }

    /// The PostgreSQL to use: the external one when `--pg-url` is given, else the embedded one,
    /// started if it is not running.
    pub async fn postgres(&self) -> Result<Postgres> {
        if let Some(url) = &self.pg_url {
            let server = Server::external(url).context("--pg-url")?;
            return Ok(Postgres {
                server,
                started: None,
            });
        }
        let cluster = self.embedded_cluster()?;
        let outcome = cluster.start().await.with_context(|| {
            format!(
                "starting the embedded PostgreSQL in {}",
                cluster.layout().pgdata.display()
            )
        })?;
        let server = cluster.server()?;
        let started = (outcome != StartOutcome::AlreadyRunning).then_some(cluster);
        Ok(Postgres { server, started })
    }
}

impl Postgres {
    /// Runs `work` while `bar` shows it, then clears the bar and stops the embedded cluster if
    /// this command started it, whatever `work` returned: how every command that works on a
    /// database ends, so that a failure leaves PostgreSQL as it was too.
    pub async fn finish_after<T>(
        &self,
        bar: &indicatif::ProgressBar,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let result = work.await;
        bar.finish_and_clear();
        self.stop_if_started().await;
        result
    }

    /// Stops the embedded cluster if this command started it, leaving things as they were.
    pub async fn stop_if_started(&self) {
        if let Some(cluster) = &self.started {
            if let Err(e) = cluster.stop().await {
                tracing::warn!(error = %e, "could not stop the embedded PostgreSQL");
            }
        }
    }
}
