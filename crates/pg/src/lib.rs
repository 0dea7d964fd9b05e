//! PostgreSQL for Slipway.
//!
//! - [`Binaries`]: the server programs installed on this machine.
//! - [`EmbeddedCluster`]: the cluster Slipway starts under its data directory when no external
//!   server is configured (initdb on first use, run as an unprivileged user, socket + 127.0.0.1).
//! - [`stream_stdout`]: runs a client tool (pg_dump, pg_basebackup) with its output streamed.
//! - [`Server`]: how to reach a server, embedded or external, as URLs for sqlx and libpq tools.
//!
//! This crate knows nothing of Odoo or of Slipway's domain.
//!
//! ## Design notes
//!
//! PostgreSQL, knowing nothing of Odoo. `Binaries` finds the server programs (`pg_config --bindir`,
//! then the highest `/usr/lib/postgresql/*/bin`, or `--pg-bindir`). `EmbeddedCluster` runs
//! `initdb`/`pg_ctl` under `<data-dir>/pg`, as the `postgres` system user when Slipway is root
//! (`ServerUser`); it listens on a Unix socket in `<data-dir>/run` (or a hashed `/tmp/slipway-*`
//! when that path is too long for a socket) and on 127.0.0.1 on a free port, both recorded in
//! `<data-dir>/postgres.json` with the superuser's password (file mode 0600). Slipway owns
//! `pg/slipway.conf` (port, socket, tuning), included from `postgresql.conf` and rewritten at each
//! start. `Server` turns "embedded or external" into URLs that both sqlx and libpq tools accept.
//!
//! With `ClusterOptions::wal_archive` (every CLI command sets it, so settings never flip between
//! commands) `slipway.conf` also turns on WAL archiving: `archive_command` copies each finished
//! file into `<data-dir>/wal-spool` under a dot name, fsyncs it, renames it and fsyncs the folder,
//! so it exits 0 only once the file is durable and PostgreSQL otherwise keeps it in pg_wal and
//! retries; `archive_timeout = 60` closes a segment at most a minute after a write.
//! `ScratchCluster` is a throw-away cluster for point-in-time recovery: the caller unpacks a base
//! backup into it and stages WAL files; `recover_to` rewrites its settings (own socket, no TCP, no
//! archiving, `hot_standby = off`, `restore_command` reading the staged files,
//! `recovery_target_time`, `promote`), starts it and waits for `ready` in postmaster.pid, or
//! reports the server's FATAL lines (e.g. "recovery ended before configured recovery target").
//!
//! Invariants: `start` is idempotent; a postmaster is "running" only if the process in
//! `postmaster.pid` has PGDATA as its working directory, so a stale pid file (kill -9, reused pid,
//! zombie) is recovered, never trusted; a failed `initdb` removes what it created; no one is
//! trusted: `pg_hba.conf` ([`access_rules`], rewritten at each start and reloaded when an older
//! data directory still trusted its socket) asks a SCRAM password of everyone on the socket and
//! 127.0.0.1, except the `postgres` system user reaching the `postgres` role by `peer` when the
//! server runs as that user. Slipway itself connects over 127.0.0.1 with the superuser's
//! password from `postgres.json` (set by `initdb --pwfile`). The socket directory stays 0700.

mod binaries;
mod cluster;
mod conn;
mod error;
mod recovery;
mod state;
mod tool;
mod user;

pub use binaries::{parse_server_version, Binaries, ServerVersion};
pub use cluster::{
    access_rules, archive_settings, dir_size, ClusterOptions, ClusterStatus, EmbeddedCluster,
    StartOutcome,
};
pub use conn::{split_password, EmbeddedConn, Server};
pub use error::{PgError, Result};
pub use recovery::ScratchCluster;
pub use state::{ClusterState, Layout};
pub use tool::{stream_stdout, StreamedRun};
pub use user::ServerUser;
