//! Replaying a dump into an existing, empty database as its unprivileged
//! owner: `pg_restore` for pg_dump archives, psql behind [`SqlGuard`] for
//! plain SQL (from a file, a gzip stream or a zip member).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::db::Target;
use crate::error::{io_err, DumpError, Result};
use crate::format::Format;
use crate::inspect::{stream_error, tail, tool_failure};
use crate::sqlguard::SqlGuard;
use crate::zipsafe::Declared;

const CHUNK: usize = 256 * 1024;

/// Where the plain SQL comes from.
#[derive(Debug, Clone)]
pub(crate) enum SqlSource {
    File(PathBuf),
    Gzip(PathBuf),
    ZipMember {
        zip: PathBuf,
        index: usize,
        size: u64,
    },
}

impl SqlSource {
    fn path(&self) -> &Path {
        match self {
            SqlSource::File(p) | SqlSource::Gzip(p) | SqlSource::ZipMember { zip: p, .. } => p,
        }
    }
}

/// Options of a replay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplayOptions {
    pub(crate) jobs: u32,
}

/// `pg_restore --no-owner --no-privileges --exit-on-error` as the owner.
pub(crate) async fn pg_restore(
    target: &Target,
    db: &str,
    file: &Path,
    format: Format,
    opts: ReplayOptions,
) -> Result<()> {
    let program = target.binaries.tool("pg_restore");
    let mut cmd = Command::new(&program);
    cmd.args(["--no-owner", "--no-privileges", "--exit-on-error"]);
    if format != Format::PgTar && opts.jobs > 1 {
        cmd.arg(format!("--jobs={}", opts.jobs));
    }
    let (url, password) = slipway_pg::split_password(&target.owner_url(db).await?);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.arg(format!("--dbname={url}")).arg(file);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io_err(&program))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(tool_failure(
            file,
            "pg_restore",
            &output.status.to_string(),
            &stderr,
        ));
    }
    Ok(())
}

/// Streams SQL through the guard into `psql -v ON_ERROR_STOP=1` as the
/// owner. Returns how many `\restrict` lines were stripped.
pub(crate) async fn psql(
    target: &Target,
    db: &str,
    source: SqlSource,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u32> {
    let program = target.binaries.tool("psql");
    let (url, password) = slipway_pg::split_password(&target.owner_url(db).await?);
    let mut child = Command::new(&program)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password"])
        .arg(format!("--dbname={url}"))
        .envs(password.map(|p| ("PGPASSWORD", p)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io_err(&program))?;
    let mut stdin = child.stdin.take().ok_or_else(|| DumpError::Tool {
        program: "psql".into(),
        status: "no stdin".into(),
        stderr: String::new(),
    })?;
    let mut stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text).await;
        }
        text
    });

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
    let reader = tokio::task::spawn_blocking(move || filter_into(&source, &tx));
    let mut written: u64 = 0;
    let mut pipe_broken = false;
    while let Some(chunk) = rx.recv().await {
        if stdin.write_all(&chunk).await.is_err() {
            pipe_broken = true;
            break;
        }
        written += chunk.len() as u64;
        progress(written);
    }
    drop(rx);
    drop(stdin);
    let filtered = reader.await.map_err(|e| DumpError::Tool {
        program: "reader".into(),
        status: e.to_string(),
        stderr: String::new(),
    })?;
    if let Err(e) = filtered {
        let _ = child.kill().await;
        return Err(e);
    }
    let status = child.wait().await.map_err(io_err(&program))?;
    let stderr = stderr_task.await.unwrap_or_default();
    if !status.success() || pipe_broken {
        return Err(DumpError::Tool {
            program: "psql".into(),
            status: status.to_string(),
            stderr: tail(&stderr),
        });
    }
    filtered
}

/// Opens the source and pumps it; runs on a blocking thread.
fn filter_into(source: &SqlSource, tx: &mpsc::Sender<Vec<u8>>) -> Result<u32> {
    let path = source.path();
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    match source {
        SqlSource::File(_) => pump(file, path, tx),
        SqlSource::Gzip(_) => pump(flate2::read::MultiGzDecoder::new(file), path, tx),
        SqlSource::ZipMember { index, size, .. } => {
            let zip_err = |source| DumpError::Zip {
                path: path.to_owned(),
                source,
            };
            let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
            let member = archive.by_index(*index).map_err(zip_err)?;
            pump(Declared::new(member, *size, "dump.sql"), path, tx)
        }
    }
}

/// Reads, filters and sends chunks.
fn pump(mut reader: impl Read, path: &Path, tx: &mpsc::Sender<Vec<u8>>) -> Result<u32> {
    let mut guard = SqlGuard::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf).map_err(|e| stream_error(path, e))?;
        if n == 0 {
            break;
        }
        let mut out = Vec::with_capacity(n);
        guard.process(&buf[..n], &mut out)?;
        if tx.blocking_send(out).is_err() {
            // psql went away; its exit status tells why
            return Ok(guard.stripped_lines());
        }
    }
    guard.finish()?;
    Ok(guard.stripped_lines())
}
