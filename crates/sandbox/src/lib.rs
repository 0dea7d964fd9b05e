//! The sandbox of foreign code: every process Slipway starts for code it did not write (pip,
//! `odoo-bin`, the upgrade-script host, Shell and SSH sessions) runs inside one, made by
//! bubblewrap (`bwrap`).
//!
//! A [`Sandbox`] is a pure description (what of the host is bound read-only or read-write,
//! private tmpfs, generated files, environment, identity, limits, working folder);
//! [`Sandbox::arguments`] turns it into `bwrap`'s command line without running anything, and
//! [`Jail::command`] into a ready `tokio::process::Command` (the small I/O part: the generated
//! files handed over as inherited descriptors, rlimits applied in `pre_exec`). [`find_bwrap`]
//! and [`probe`] tell at start whether a sandbox can really be made, and what is missing.
//!
//! ## What a sandboxed process sees and may do
//! Its own PID, IPC, UTS and cgroup namespaces (it cannot see or signal Slipway or any other
//! process), the host's network (Odoo listens on 127.0.0.1 and reaches PostgreSQL over TCP),
//! `--die-with-parent` (Slipway's death ends it), `--new-session` (no `TIOCSTI` into a
//! terminal), a private `/tmp`, a fresh `/proc` and minimal `/dev`, no capabilities and
//! `no_new_privs`. Of the host only `/usr` (and the `/bin`, `/lib`... symlinks or folders as
//! the host has them), a whitelist of `/etc` ([`ETC_WHITELIST`]: never `shadow`, `sudoers`,
//! SSH keys or `postgresql`), a generated `/etc/passwd` and `/etc/group` naming the sandbox
//! user `odoo` (home `/home/odoo`, a private tmpfs), and what the caller binds.
//!
//! ## Identity: one unprivileged uid per project
//! When Slipway runs as root, `bwrap` runs as root only to make the mounts (it must read
//! sources such as a Python installation under a 0700 `/root`, which `--ro-bind-fd` does not
//! reach in an unprivileged `bwrap` 0.8), without a user namespace, and the program is started
//! through `setpriv --reuid U --regid U --clear-groups --inh-caps=-all --bounding-set=-all
//! --no-new-privs`: the foreign process really is uid `U` on the host, with no capability and
//! no way to gain one. `U` is `--sandbox-uid-base` + the project's id: per project, not per
//! build, because `RLIMIT_NPROC` counts processes per uid (a project's builds share one budget
//! instead of each build getting a fresh one), because files a project's builds share (its
//! production filestore, copied into staging) keep one owner, and because Odoo.sh's own
//! boundary is the project: builds of one project already share its code and its developers.
//! What separates two builds of one project is the mount namespace: neither sees the other's
//! folders.
//!
//! When Slipway is not root, `bwrap` makes an unprivileged user namespace and the process keeps
//! Slipway's own uid (mapped to itself): mounts and namespaces still isolate it, but files
//! Slipway owns and binds read-write are its to write, and `RLIMIT_NPROC` counts Slipway's own
//! processes too.
//!
//! ## Limits
//! cgroup v1 machines (and undelegated v2) get rlimits, set in `pre_exec` and inherited:
//! `RLIMIT_NPROC` (per uid, so per project), `RLIMIT_AS` (address space; generous, Odoo's
//! workers map a lot), `RLIMIT_CPU` for one-shot tasks only, `RLIMIT_CORE` 0 (a core dump would
//! hold the database password).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::{Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Entries of the host's `/etc` a sandbox sees (when the host has them): what programs need to
/// resolve names, verify TLS, find libraries, fonts and time zones. Nothing holding a secret.
pub const ETC_WHITELIST: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "fonts",
    "gai.conf",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "pip.conf",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
];

/// Top-level names that are symlinks into `/usr` on merged-/usr hosts, or folders elsewhere.
const ROOT_LINKS: &[&str] = &["bin", "lib", "lib32", "lib64", "libx32", "sbin"];

/// The sandbox user's name and home.
pub const USER: &str = "odoo";
/// The sandbox user's home, a private tmpfs.
pub const HOME: &str = "/home/odoo";

/// Errors of the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `bwrap` is not installed.
    #[error("the sandbox cannot be made: bwrap not found in {searched} (install bubblewrap (apt-get install bubblewrap) or pass --no-sandbox)")]
    BwrapMissing {
        /// The folders searched.
        searched: String,
    },
    /// `bwrap` is there but a sandbox could not be made with it.
    #[error("the sandbox cannot be made: `{command}` failed: {message} (pass --no-sandbox to run builds unconfined, which is unsafe)")]
    Unusable {
        /// The command tried.
        command: String,
        /// What bwrap said.
        message: String,
    },
    /// A file given to the sandbox could not be prepared.
    #[error("preparing the sandbox: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Who the sandboxed process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Slipway is root: the process runs as this unprivileged uid and gid on the host.
    Unprivileged {
        /// Host uid.
        uid: u32,
        /// Host gid.
        gid: u32,
    },
    /// Slipway is not root: the process keeps Slipway's uid, inside a user namespace.
    Own,
}

impl Identity {
    /// The identity of a project's sandboxes: `base + project` when Slipway is root, else
    /// Slipway's own.
    pub fn for_project(base: u32, project: i64) -> Identity {
        let uid = base.saturating_add(u32::try_from(project).unwrap_or(0));
        Identity::for_uid(uid)
    }

    /// `uid` (as uid and gid) when Slipway is root, else Slipway's own.
    pub fn for_uid(uid: u32) -> Identity {
        if running_as_root() {
            Identity::Unprivileged { uid, gid: uid }
        } else {
            Identity::Own
        }
    }

    /// The uid files the sandbox writes must belong to; `None`: Slipway's own, nothing to do.
    pub fn owner(&self) -> Option<(u32, u32)> {
        match *self {
            Identity::Unprivileged { uid, gid } => Some((uid, gid)),
            Identity::Own => None,
        }
    }
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Resource limits (rlimits) of a sandbox; `None` leaves Slipway's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NPROC`: processes (and threads) of the sandbox's uid.
    pub processes: Option<u64>,
    /// `RLIMIT_AS`: bytes of address space per process.
    pub address_space: Option<u64>,
    /// `RLIMIT_CPU`: CPU seconds per process (one-shot tasks only; never a server).
    pub cpu_seconds: Option<u64>,
}

impl Default for Limits {
    /// 512 processes, 4 GiB of address space, no CPU limit.
    fn default() -> Self {
        Limits {
            processes: Some(512),
            address_space: Some(4 << 30),
            cpu_seconds: None,
        }
    }
}

/// One thing placed in the sandbox's file tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host file or folder, at `dest`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path inside.
        dest: PathBuf,
        /// Read-write (else read-only).
        writable: bool,
    },
    /// A private, empty, world-writable (sticky) tmpfs.
    Tmpfs {
        /// Path inside.
        dest: PathBuf,
    },
    /// A symlink.
    Symlink {
        /// What it points to.
        target: PathBuf,
        /// Path inside.
        dest: PathBuf,
    },
    /// A generated read-only file (mode 0444).
    File {
        /// Path inside.
        dest: PathBuf,
        /// Its contents.
        contents: Vec<u8>,
    },
}

impl Mount {
    fn dest(&self) -> &Path {
        match self {
            Mount::Bind { dest, .. }
            | Mount::Tmpfs { dest }
            | Mount::Symlink { dest, .. }
            | Mount::File { dest, .. } => dest,
        }
    }
}

/// What of the host's root a sandbox mirrors: read once by [`HostLayout::read`], given by hand
/// in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLayout {
    /// Top-level symlinks (`/bin -> usr/bin`): name and target.
    pub root_symlinks: Vec<(String, PathBuf)>,
    /// Top-level folders among [`ROOT_LINKS`] that are not symlinks (bound read-only).
    pub root_dirs: Vec<String>,
    /// Entries of [`ETC_WHITELIST`] the host has.
    pub etc: Vec<String>,
}

impl HostLayout {
    /// The host's layout, as this machine has it.
    pub fn read() -> HostLayout {
        let mut host = HostLayout::default();
        for name in ROOT_LINKS {
            let path = Path::new("/").join(name);
            match std::fs::read_link(&path) {
                Ok(target) => host.root_symlinks.push((name.to_string(), target)),
                Err(_) if path.is_dir() => host.root_dirs.push(name.to_string()),
                Err(_) => {}
            }
        }
        host.etc = ETC_WHITELIST
            .iter()
            .filter(|name| Path::new("/etc").join(name).exists())
            .map(|name| name.to_string())
            .collect();
        host
    }
}

/// A pure description of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// What is placed in the file tree, besides `/proc`, `/dev` and `/tmp`.
    pub mounts: Vec<Mount>,
    /// The whole environment (nothing of Slipway's is inherited).
    pub env: Vec<(String, String)>,
    /// Working folder inside.
    pub cwd: PathBuf,
    /// Who runs.
    pub identity: Identity,
    /// Resource limits.
    pub limits: Limits,
}

impl Sandbox {
    /// The base sandbox: `/usr` and its symlinks, the `/etc` whitelist, a generated
    /// `/etc/passwd` and `/etc/group` naming `odoo`, a tmpfs home `/home/odoo` (the working
    /// folder), and `HOME`, `USER`, `PATH`, `LANG`.
    pub fn new(identity: Identity, limits: Limits, host: &HostLayout) -> Sandbox {
        let mut mounts = vec![Mount::Bind {
            source: "/usr".into(),
            dest: "/usr".into(),
            writable: false,
        }];
        for (name, target) in &host.root_symlinks {
            mounts.push(Mount::Symlink {
                target: target.clone(),
                dest: Path::new("/").join(name),
            });
        }
        for name in &host.root_dirs {
            let path = Path::new("/").join(name);
            mounts.push(Mount::Bind {
                source: path.clone(),
                dest: path,
                writable: false,
            });
        }
        for name in &host.etc {
            let path = Path::new("/etc").join(name);
            mounts.push(Mount::Bind {
                source: path.clone(),
                dest: path,
                writable: false,
            });
        }
        let (uid, gid) = match identity {
            Identity::Unprivileged { uid, gid } => (uid, gid),
            // SAFETY: getuid/getgid have no preconditions and cannot fail.
            Identity::Own => unsafe { (libc::getuid(), libc::getgid()) },
        };
        mounts.push(Mount::File {
            dest: "/etc/passwd".into(),
            contents: format!("{USER}:x:{uid}:{gid}:Odoo:{HOME}:/bin/bash\n").into_bytes(),
        });
        mounts.push(Mount::File {
            dest: "/etc/group".into(),
            contents: format!("{USER}:x:{gid}:\n").into_bytes(),
        });
        mounts.push(Mount::Tmpfs { dest: HOME.into() });
        let env = [
            ("HOME", HOME),
            ("USER", USER),
            ("LOGNAME", USER),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Sandbox {
            mounts,
            env,
            cwd: HOME.into(),
            identity,
            limits,
        }
    }

    /// Makes the home folder host folder `source` (read-write) instead of an empty tmpfs, so
    /// what a person leaves there outlives the session; what is bound under the home (the
    /// checkout, the data, the logs) still comes on top of it.
    pub fn home_from(&mut self, source: impl Into<PathBuf>) -> &mut Self {
        let home = Mount::Bind {
            source: source.into(),
            dest: HOME.into(),
            writable: true,
        };
        match self.mounts.iter().position(|m| m.dest() == Path::new(HOME)) {
            Some(at) => self.mounts[at] = home,
            None => self.mounts.push(home),
        }
        self
    }

    /// Binds host `source` read-only at `dest`.
    pub fn bind_ro(&mut self, source: impl Into<PathBuf>, dest: impl Into<PathBuf>) -> &mut Self {
        self.bind(source.into(), dest.into(), false)
    }

    /// Binds host `source` read-write at `dest`.
    pub fn bind_rw(&mut self, source: impl Into<PathBuf>, dest: impl Into<PathBuf>) -> &mut Self {
        self.bind(source.into(), dest.into(), true)
    }

    fn bind(&mut self, source: PathBuf, dest: PathBuf, writable: bool) -> &mut Self {
        self.mounts.retain(|m| m.dest() != dest);
        self.mounts.push(Mount::Bind {
            source,
            dest,
            writable,
        });
        self
    }

    /// Sets an environment variable (replacing an earlier value).
    pub fn setenv(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Where host path `host` is seen inside: under the deepest bind holding it.
    pub fn inside(&self, host: &Path) -> Option<PathBuf> {
        self.mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Bind { source, dest, .. } => host.strip_prefix(source).ok().map(|rest| {
                    // join("") would add a trailing slash, which names a folder
                    let path = match rest.as_os_str().is_empty() {
                        true => dest.clone(),
                        false => dest.join(rest),
                    };
                    (source.components().count(), path)
                }),
                _ => None,
            })
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, path)| path)
    }

    /// `bwrap`'s arguments running `program args` in this sandbox. `file_fds` are the
    /// descriptors holding the [`Mount::File`]s' contents, in their order.
    pub fn arguments(
        &self,
        program: &OsStr,
        args: &[OsString],
        file_fds: &[RawFd],
    ) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut push = |items: &[&OsStr]| out.extend(items.iter().map(|s| s.to_os_string()));
        let s = |x: &'static str| OsStr::new(x);
        push(&[s("--unshare-ipc"), s("--unshare-pid"), s("--unshare-uts")]);
        push(&[s("--unshare-cgroup-try"), s("--hostname"), s("odoo")]);
        if self.identity == Identity::Own {
            // setpriv needs the capabilities it drops; bwrap as root keeps them until then.
            push(&[s("--unshare-user"), s("--cap-drop"), s("ALL")]);
        }
        push(&[s("--die-with-parent"), s("--new-session"), s("--clearenv")]);
        push(&[s("--proc"), s("/proc"), s("--dev"), s("/dev")]);
        push(&[s("--perms"), s("1777"), s("--tmpfs"), s("/tmp")]);
        let mut made: BTreeSet<PathBuf> = ["/", "/proc", "/dev", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut ordered: Vec<(usize, &Mount)> = self.mounts.iter().enumerate().collect();
        // Parents before children: a bind inside a tmpfs must come after it.
        ordered.sort_by_key(|(i, m)| (m.dest().components().count(), *i));
        let mut files = file_fds.iter();
        for (_, mount) in ordered {
            for ancestor in ancestors(mount.dest()) {
                if made.insert(ancestor.clone()) {
                    push(&[s("--perms"), s("0755"), s("--dir"), ancestor.as_os_str()]);
                }
            }
            made.insert(mount.dest().to_path_buf());
            match mount {
                Mount::Bind {
                    source,
                    dest,
                    writable,
                } => {
                    let flag = if *writable { "--bind" } else { "--ro-bind" };
                    push(&[s(flag), source.as_os_str(), dest.as_os_str()]);
                }
                Mount::Tmpfs { dest } => {
                    push(&[s("--perms"), s("1777"), s("--tmpfs"), dest.as_os_str()]);
                }
                Mount::Symlink { target, dest } => {
                    push(&[s("--symlink"), target.as_os_str(), dest.as_os_str()]);
                }
                Mount::File { dest, .. } => {
                    let fd = OsString::from(files.next().copied().unwrap_or(-1).to_string());
                    push(&[s("--perms"), s("0444"), s("--ro-bind-data")]);
                    push(&[&fd, dest.as_os_str()]);
                }
            }
        }
        for (key, value) in &self.env {
            push(&[s("--setenv"), OsStr::new(key), OsStr::new(value)]);
        }
        push(&[s("--chdir"), self.cwd.as_os_str()]);
        if let Identity::Unprivileged { uid, gid } = self.identity {
            let (uid, gid) = (
                OsString::from(uid.to_string()),
                OsString::from(gid.to_string()),
            );
            push(&[
                s("--"),
                s("/usr/bin/setpriv"),
                s("--reuid"),
                &uid,
                s("--regid"),
                &gid,
            ]);
            push(&[
                s("--clear-groups"),
                s("--inh-caps=-all"),
                s("--bounding-set=-all"),
            ]);
            push(&[s("--no-new-privs")]);
        }
        push(&[s("--"), program]);
        out.extend(args.iter().cloned());
        out
    }
}

/// The folders above `path` (not `/`, not `path`), outermost first.
fn ancestors(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut current = PathBuf::new();
    let components: Vec<Component> = path.components().collect();
    for c in components.iter().take(components.len().saturating_sub(1)) {
        current.push(c);
        if current != Path::new("/") {
            out.push(current.clone());
        }
    }
    out
}

/// A sandbox ready to start programs: the description and the `bwrap` to make it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jail {
    /// The `bwrap` program.
    pub bwrap: PathBuf,
    /// What the sandbox is.
    pub sandbox: Sandbox,
}

impl Jail {
    /// A command running `program args` inside the sandbox: stdio is the caller's to set;
    /// environment, working folder and identity are the sandbox's (setting them on the
    /// command would reach `bwrap`, not the program).
    pub fn command(
        &self,
        program: impl AsRef<OsStr>,
        args: &[OsString],
    ) -> Result<tokio::process::Command, Error> {
        let files: Vec<OwnedFd> = self
            .sandbox
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::File { contents, .. } => Some(contents_fd(contents)),
                _ => None,
            })
            .collect::<Result<_, _>>()?;
        let raw: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        let argv = self.sandbox.arguments(program.as_ref(), args, &raw);
        let mut cmd = tokio::process::Command::new(&self.bwrap);
        cmd.args(argv).current_dir("/");
        let limits = self.sandbox.limits;
        // SAFETY: the closure only calls async-signal-safe functions (fcntl, setrlimit) on
        // values it owns, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &files {
                    inherit(fd.as_raw_fd())?;
                }
                apply_limits(&limits)
            });
        }
        Ok(cmd)
    }
}

/// An anonymous file holding `contents`, read from its start by `bwrap`.
fn contents_fd(contents: &[u8]) -> Result<OwnedFd, Error> {
    let io = |source| Error::Io {
        context: "writing a generated file".into(),
        source,
    };
    let mut file = tempfile::tempfile().map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.rewind().map_err(io)?;
    Ok(file.into())
}

/// Clears close-on-exec so `bwrap` receives the descriptor.
fn inherit(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the rlimits (soft and hard: the sandbox cannot raise them back) and no core dumps.
fn apply_limits(limits: &Limits) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        // SAFETY: setrlimit with a valid pointer to a local.
        if unsafe { libc::setrlimit(resource, &limit) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_CORE, 0)?;
    if let Some(n) = limits.processes {
        set(libc::RLIMIT_NPROC, n)?;
    }
    if let Some(n) = limits.address_space {
        set(libc::RLIMIT_AS, n)?;
    }
    if let Some(n) = limits.cpu_seconds {
        set(libc::RLIMIT_CPU, n)?;
    }
    Ok(())
}

/// `bwrap` on `PATH` (or `/usr/bin/bwrap`).
pub fn find_bwrap() -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut folders: Vec<PathBuf> = std::env::split_paths(&path).collect();
    folders.push("/usr/bin".into());
    folders
        .iter()
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::BwrapMissing {
            searched: std::env::join_paths(&folders)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
}

/// Makes one sandbox as `identity` and runs `true` in it: `Ok` when foreign code can be
/// confined on this machine, else what is missing.
pub async fn probe(identity: Identity) -> Result<PathBuf, Error> {
    let bwrap = find_bwrap()?;
    let jail = Jail {
        bwrap: bwrap.clone(),
        sandbox: Sandbox::new(identity, Limits::default(), &HostLayout::read()),
    };
    let mut cmd = jail.command("true", &[])?;
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Unusable {
            command: format!("{} ... true", bwrap.display()),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Unusable {
            command: format!("{} ... true", bwrap.display()),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(bwrap)
}

/// Gives `path` and everything under it (not following symlinks) to `owner`; nothing when
/// `None` (Slipway's own uid runs the sandbox).
pub fn chown_tree(path: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let io = |source| Error::Io {
        context: format!("giving {} to uid {uid}", path.display()),
        source,
    };
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io)?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            chown_tree(&entry.map_err(io)?.path(), owner)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
