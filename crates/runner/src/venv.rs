//! Virtualenvs of builds, shared between builds whose requirement files are
//! equal.
//!
//! Layout under the root: `<key>-py<X.Y>/` (the virtualenv, complete once it
//! holds `.slipway-ready`) and `<key>-py<X.Y>.lock` (held while it is made).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::fcntl::{Flock, FlockArg};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use slipway_sandbox::{chown_tree, Jail, Sandbox};

use crate::Error;

/// Slipway's own uid and gid, when it runs as root (the owner a sandbox's files go back to).
fn slipway_owner() -> Option<(u32, u32)> {
    slipway_sandbox::running_as_root().then_some((0, 0))
}

const READY: &str = ".slipway-ready";

/// A virtualenv ready for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// Its directory.
    pub dir: PathBuf,
    /// `dir/bin/python`.
    pub python: PathBuf,
    /// [`Venvs::key`] of its requirement files.
    pub key: String,
    /// Whether an existing one was reused.
    pub reused: bool,
}

/// Where a Python interpreter really lives: a sandbox sees it only when its installation is
/// bound at its own path (`python3` may be a shim; a virtualenv names its base by absolute
/// paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInstall {
    /// `sys.executable`.
    pub executable: PathBuf,
    /// `sys.prefix` (a virtualenv's folder, or the installation).
    pub prefix: PathBuf,
    /// `sys.base_prefix`: the installation.
    pub base_prefix: PathBuf,
}

impl PythonInstall {
    /// Asks `python` where it lives, once per process: an interpreter's place does not change
    /// while Slipway runs, and the question is a process start on every build and session.
    pub async fn of(python: impl AsRef<std::ffi::OsStr>) -> Result<PythonInstall, Error> {
        let python = python.as_ref();
        if let Some(known) = asked(&INSTALLS, python) {
            return Ok(known);
        }
        let install = Self::ask(python).await?;
        remember(&INSTALLS, python, install.clone());
        Ok(install)
    }

    async fn ask(python: &std::ffi::OsStr) -> Result<PythonInstall, Error> {
        let out = Command::new(python)
            .args([
                "-c",
                "import sys; print(sys.executable); print(sys.prefix); print(sys.base_prefix)",
            ])
            .output()
            .await
            .map_err(|source| Error::Spawn {
                program: python.to_string_lossy().into_owned(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines().map(PathBuf::from);
        match (lines.next(), lines.next(), lines.next()) {
            (Some(executable), Some(prefix), Some(base_prefix)) if out.status.success() => {
                Ok(PythonInstall {
                    executable,
                    prefix,
                    base_prefix,
                })
            }
            _ => Err(Error::Venv(format!(
                "{} cannot tell where it is installed: {}",
                python.to_string_lossy(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }

    /// Binds the installation (and the virtualenv, if it is one) read-only at their paths.
    pub fn bind_into(&self, sandbox: &mut Sandbox) {
        sandbox.bind_ro(&self.base_prefix, &self.base_prefix);
        if self.prefix != self.base_prefix {
            sandbox.bind_ro(&self.prefix, &self.prefix);
        }
    }
}

/// What interpreters answered, by their path: asked once per process.
type Answers<T> = std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, T>>>;
static INSTALLS: Answers<PythonInstall> = std::sync::OnceLock::new();
static VERSIONS: Answers<String> = std::sync::OnceLock::new();

fn asked<T: Clone>(answers: &Answers<T>, python: &std::ffi::OsStr) -> Option<T> {
    let map = answers.get_or_init(Default::default);
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.get(std::path::Path::new(python)).cloned()
}

fn remember<T>(answers: &Answers<T>, python: &std::ffi::OsStr, answer: T) {
    let map = answers.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.insert(PathBuf::from(python), answer);
}

/// The virtualenvs under one root, made with one Python.
#[derive(Debug, Clone)]
pub struct Venvs {
    root: PathBuf,
    python: String,
    pip_jail: Option<Jail>,
}

/// Environment variables pip gets from Slipway's own inside its sandbox: how to reach the
/// package index (proxies, certificates, pip's own settings), nothing else.
const PIP_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CERT",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
];

impl Venvs {
    /// Virtualenvs under `root`, created with `python` (e.g. `python3`).
    pub fn new(root: PathBuf, python: String) -> Self {
        Self {
            root,
            python,
            pip_jail: None,
        }
    }

    /// Runs pip (whose builds of packages run code that is not ours) in `jail`: it sees the
    /// Python installation, the virtualenv being made (read-write), the requirement files'
    /// folders and a pip cache (`<root>/.pip-cache`, read-write), the network, and nothing of
    /// builds. The virtualenv is given to the jail's uid while pip runs, and back to Slipway
    /// after: no sandbox can change it once made.
    pub fn sandboxed(mut self, jail: Jail) -> Self {
        self.pip_jail = Some(jail);
        self
    }

    /// The key of a set of requirement files: a hash of their contents,
    /// sorted, so order and paths do not matter (files they include with
    /// `-r` are not followed).
    pub fn key(requirements: &[PathBuf]) -> Result<String, Error> {
        let mut hashes = Vec::new();
        for path in requirements {
            let bytes = std::fs::read(path).map_err(Error::io(format!(
                "reading requirements {}",
                path.display()
            )))?;
            hashes.push(*blake3::hash(&bytes).as_bytes());
        }
        hashes.sort();
        let mut h = blake3::Hasher::new();
        h.update(b"slipway-venv-v1");
        for x in &hashes {
            h.update(x);
        }
        Ok(h.finalize().to_hex()[..24].to_string())
    }

    /// `X.Y` of the interpreter.
    async fn python_version(&self) -> Result<String, Error> {
        let python = std::ffi::OsStr::new(&self.python);
        if let Some(known) = asked(&VERSIONS, python) {
            return Ok(known);
        }
        let version = self.ask_python_version().await?;
        remember(&VERSIONS, python, version.clone());
        Ok(version)
    }

    async fn ask_python_version(&self) -> Result<String, Error> {
        let out = Command::new(&self.python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .await
            .map_err(|source| Error::Spawn {
                program: self.python.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Venv(format!(
                "{} --version failed: {}",
                self.python,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The virtualenv for these requirement files: reused when one with the
    /// same key exists, else created with `python -m venv
    /// --system-site-packages` and `pip install -r` of each file, output
    /// appended to `log` (pip.log). Concurrent calls for one key wait for
    /// each other (file lock). A failure removes the half-made virtualenv.
    pub async fn ensure(&self, requirements: &[PathBuf], log: &Path) -> Result<Venv, Error> {
        self.ensure_in("", requirements, log).await
    }

    /// [`Venvs::ensure`], shared only by the builds of `scope` (e.g. `p3-production`): a
    /// requirement line that names a local path (`./pkg`) installs the code of whoever builds
    /// first, so a venv made by one project, or by a development branch, must never be the
    /// one another project, or production, runs. `scope` is made of `[a-z0-9-]`.
    pub async fn ensure_in(
        &self,
        scope: &str,
        requirements: &[PathBuf],
        log: &Path,
    ) -> Result<Venv, Error> {
        if !scope
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::Venv(format!(
                "virtualenv scope {scope:?}: only a-z, 0-9 and '-'"
            )));
        }
        let (key, name) = self.name_in(scope, requirements).await?;
        let dir = self.root.join(&name);
        std::fs::create_dir_all(&self.root)
            .map_err(Error::io(format!("creating {}", self.root.display())))?;
        let lock_path = self.root.join(format!("{name}.lock"));
        let _lock = lock(lock_path).await?;
        let mut log_file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .await
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let python = dir.join("bin").join("python");
        if dir.join(READY).is_file() && python.exists() {
            let line = format!(
                "reusing virtualenv {} (requirements key {key})\n",
                dir.display()
            );
            let _ = log_file.write_all(line.as_bytes()).await;
            return Ok(Venv {
                dir,
                python,
                key,
                reused: true,
            });
        }
        let made = self.create(&dir, requirements, &mut log_file).await;
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = log_file
                .write_all(format!("virtualenv {} removed: {e}\n", dir.display()).as_bytes())
                .await;
            return Err(e);
        }
        Ok(Venv {
            dir,
            python,
            key,
            reused: false,
        })
    }

    /// The key and folder name of the virtualenv of `requirements` in `scope`.
    async fn name_in(
        &self,
        scope: &str,
        requirements: &[PathBuf],
    ) -> Result<(String, String), Error> {
        let key = match Self::key(requirements)? {
            key if scope.is_empty() => key,
            key => format!("{scope}-{key}"),
        };
        let name = format!("{key}-py{}", self.python_version().await?);
        Ok((key, name))
    }

    /// The virtualenv [`Venvs::ensure_in`] made for these requirement files, if it is there
    /// and complete; never makes one.
    pub async fn find_in(
        &self,
        scope: &str,
        requirements: &[PathBuf],
    ) -> Result<Option<Venv>, Error> {
        let (key, name) = self.name_in(scope, requirements).await?;
        let dir = self.root.join(&name);
        let python = dir.join("bin").join("python");
        let complete = dir.join(READY).is_file() && python.exists();
        Ok(complete.then_some(Venv {
            dir,
            python,
            key,
            reused: true,
        }))
    }

    async fn create(
        &self,
        dir: &Path,
        requirements: &[PathBuf],
        log: &mut tokio::fs::File,
    ) -> Result<(), Error> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(Error::io(format!("removing half-made {}", dir.display())))?;
        }
        let mut venv = Command::new(&self.python);
        venv.args(["-m", "venv", "--system-site-packages"]).arg(dir);
        let status = run_logged(venv, &self.python, log).await?;
        if !status {
            return Err(Error::Venv(format!(
                "{} -m venv {} failed; see pip.log",
                self.python,
                dir.display()
            )));
        }
        let python = dir.join("bin").join("python");
        let pip_jail = match &self.pip_jail {
            Some(jail) => Some(self.pip_jail(jail, dir, requirements).await?),
            None => None,
        };
        for req in requirements {
            if !has_requirements(req)? {
                let line = format!("{}: no requirements, nothing to install\n", req.display());
                let _ = log.write_all(line.as_bytes()).await;
                continue;
            }
            let args: Vec<std::ffi::OsString> = [
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ]
            .iter()
            .map(Into::into)
            .chain([req.as_os_str().to_os_string()])
            .collect();
            let pip = match &pip_jail {
                Some(jail) => {
                    // Each pip run gets the virtualenv back: the previous one's ended with
                    // it given back to Slipway.
                    chown_tree(dir, jail.sandbox.identity.owner())
                        .map_err(|e| Error::Sandbox(e.to_string()))?;
                    jail.command(&python, &args)
                        .map_err(|e| Error::Sandbox(e.to_string()))?
                }
                None => {
                    let mut pip = Command::new(&python);
                    pip.args(&args)
                        .current_dir(req.parent().unwrap_or(Path::new("/")));
                    pip
                }
            };
            let installed = run_logged(pip, "pip", log).await;
            if pip_jail.is_some() {
                // Back to Slipway, whatever pip did: builds only ever read it.
                chown_tree(dir, slipway_owner()).map_err(|e| Error::Sandbox(e.to_string()))?;
            }
            if !installed? {
                return Err(Error::Venv(format!(
                    "pip could not install the requirements of {}; see pip.log for pip's reason",
                    req.display()
                )));
            }
        }
        let marker = dir.join(READY);
        let listing: Vec<String> = requirements
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        std::fs::write(&marker, listing.join("\n"))
            .map_err(Error::io(format!("writing {}", marker.display())))
    }

    /// The pip sandbox of virtualenv `dir`, which is given to the sandbox's uid.
    async fn pip_jail(
        &self,
        jail: &Jail,
        dir: &Path,
        requirements: &[PathBuf],
    ) -> Result<Jail, Error> {
        let mut jail = jail.clone();
        let install = PythonInstall::of(&self.python).await?;
        install.bind_into(&mut jail.sandbox);
        let owner = jail.sandbox.identity.owner();
        let sandbox_error = |e: slipway_sandbox::Error| Error::Sandbox(e.to_string());
        chown_tree(dir, owner).map_err(sandbox_error)?;
        jail.sandbox.bind_rw(dir, dir);
        let cache = self.root.join(".pip-cache");
        std::fs::create_dir_all(&cache)
            .map_err(Error::io(format!("creating {}", cache.display())))?;
        chown_tree(&cache, owner).map_err(sandbox_error)?;
        jail.sandbox
            .bind_rw(&cache, format!("{}/.cache/pip", slipway_sandbox::HOME));
        for folder in requirements.iter().filter_map(|r| r.parent()) {
            jail.sandbox.bind_ro(folder, folder);
        }
        // Never pip's "user installation" when the virtualenv is not writable: it would land
        // in the sandbox's throwaway home, and pip would still say it succeeded.
        jail.sandbox.setenv("PYTHONNOUSERSITE", "1");
        jail.sandbox.setenv("PIP_USER", "0");
        for key in PIP_ENV {
            if let Ok(value) = std::env::var(key) {
                jail.sandbox.setenv(*key, value);
            }
        }
        // A local folder of packages (an offline mirror) is seen where pip is told it is.
        if let Ok(links) = std::env::var("PIP_FIND_LINKS") {
            for folder in links.split_whitespace().map(Path::new) {
                if folder.is_absolute() && folder.is_dir() {
                    jail.sandbox.bind_ro(folder, folder);
                }
            }
        }
        Ok(jail)
    }

    /// Removes the virtualenvs whose key is not in `keep` (and is not being
    /// made right now). Returns how many were removed.
    pub fn remove_unused(&self, keep: &[String]) -> Result<usize, Error> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(format!("listing {}", self.root.display()))(e)),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some((key, _)) = name.split_once("-py") else {
                continue;
            };
            if keep.iter().any(|k| k == key) {
                continue;
            }
            let lock_path = self.root.join(format!("{name}.lock"));
            let Ok(file) = File::create(&lock_path) else {
                continue;
            };
            let Ok(_held) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
                continue; // being made or checked right now
            };
            std::fs::remove_dir_all(&path)
                .map_err(Error::io(format!("removing {}", path.display())))?;
            let _ = std::fs::remove_file(&lock_path);
            removed += 1;
        }
        Ok(removed)
    }
}

/// Whether a requirements file names anything (not only blanks and comments).
fn has_requirements(path: &Path) -> Result<bool, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(format!(
        "reading requirements {}",
        path.display()
    )))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| !l.is_empty()))
}

/// An exclusive lock on `path`, waited for without blocking the runtime.
async fn lock(path: PathBuf) -> Result<Flock<File>, Error> {
    tokio::task::spawn_blocking(move || {
        let file =
            File::create(&path).map_err(Error::io(format!("creating {}", path.display())))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            context: format!("locking {}", path.display()),
            source: e.into(),
        })
    })
    .await
    .map_err(|e| Error::Venv(format!("lock task failed: {e}")))?
}

/// Runs a command with stdout and stderr appended to `log`; true on exit 0.
async fn run_logged(
    mut cmd: Command,
    program: &str,
    log: &mut tokio::fs::File,
) -> Result<bool, Error> {
    let _ = log
        .write_all(format!("$ {:?}\n", cmd.as_std()).as_bytes())
        .await;
    let _ = log.flush().await;
    let out = log
        .try_clone()
        .await
        .map_err(Error::io("opening pip.log"))?
        .into_std()
        .await;
    let err = out.try_clone().map_err(Error::io("opening pip.log"))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|source| Error::Spawn {
            program: program.to_string(),
            source,
        })?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_contents_not_order_or_paths() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a.txt"),
            dir.path().join("b.txt"),
            dir.path().join("c.txt"),
        );
        std::fs::write(&a, "requests==2.0\n").unwrap();
        std::fs::write(&b, "lxml\n").unwrap();
        std::fs::write(&c, "requests==2.0\n").unwrap();
        let ab = Venvs::key(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ab, Venvs::key(&[b.clone(), a.clone()]).unwrap());
        assert_eq!(ab, Venvs::key(&[c.clone(), b.clone()]).unwrap());
        assert_ne!(ab, Venvs::key(std::slice::from_ref(&a)).unwrap());
        std::fs::write(&b, "lxml==5\n").unwrap();
        assert_ne!(ab, Venvs::key(&[a, b]).unwrap());
        let missing = Venvs::key(&[dir.path().join("nope.txt")]).unwrap_err();
        assert!(missing.to_string().contains("nope.txt"), "{missing}");
    }

    #[test]
    fn comment_only_files_need_no_pip() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.txt");
        std::fs::write(&f, "# nothing\n\n   # still nothing\n").unwrap();
        assert!(!has_requirements(&f).unwrap());
        std::fs::write(&f, "# x\nlxml # parser\n").unwrap();
        assert!(has_requirements(&f).unwrap());
    }
}
