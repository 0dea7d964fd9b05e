//! Downloading a backup as a file users know: Odoo's zip (with or without the filestore) or a
//! `.sql.gz`, exact or neutralized. The backup is restored into a scratch database, neutralized
//! there when asked, and written by slipway_dump's writers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use slipway_backup::Part;
use slipway_dump::{CreateOptions, CreateReport, Mode, OutputFormat};

use super::{blocking, db_suffix, Backups, Phase, ProgressFn};
use crate::error::Result;

/// The file format of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownloadFormat {
    /// Odoo's zip backup (`dump.sql`, `manifest.json`, optionally `filestore/`).
    Zip,
    /// Plain SQL, gzip-compressed (Odoo.sh's "exact, without filestore").
    SqlGz,
}

/// What to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// The format.
    pub format: DownloadFormat,
    /// Include the filestore (zip only).
    pub filestore: bool,
    /// Neutralize the copy first (no mails, crons, payments…).
    pub neutralized: bool,
    /// Where to write the file.
    pub output: PathBuf,
}

impl Backups {
    /// Writes backup `id` to `options.output`.
    pub async fn download(
        &self,
        id: &str,
        options: &DownloadOptions,
        progress: Option<ProgressFn>,
    ) -> Result<CreateReport> {
        let (manifest, report) = self.open_backup(id, progress).await?;
        let scratch = format!("slipway_download_{}", db_suffix(id));
        self.drop_scratch(&scratch).await;
        let result = async {
            self.restore_database_as(&manifest, &scratch, Mode::Move, &report)
                .await?;
            let with_files = options.filestore && options.format == DownloadFormat::Zip;
            if with_files {
                report(Phase::Filestore, 0);
                let (repo, m, d) = (
                    self.repo.clone(),
                    manifest.clone(),
                    self.target.filestore(&scratch),
                );
                blocking(move || Ok(repo.restore_files(&m, Part::Filestore, &d, &mut |_| {})?))
                    .await?;
            }
            if options.neutralized {
                slipway_dump::neutralize_database(&self.target, &scratch, false).await?;
            }
            let create = CreateOptions {
                database: scratch.clone(),
                format: match options.format {
                    DownloadFormat::Zip => OutputFormat::Zip,
                    DownloadFormat::SqlGz => OutputFormat::SqlGz,
                },
                filestore: with_files,
                neutralized: false,
                output: options.output.clone(),
                jobs: 2,
            };
            let mut report = slipway_dump::create(&self.target, &create).await?;
            report.neutralized = options.neutralized;
            Ok(report)
        }
        .await;
        self.drop_scratch(&scratch).await;
        result
    }
}
