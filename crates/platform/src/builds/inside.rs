//! Programs started inside a build's sandbox on behalf of a person (the Shell, SSH sessions),
//! exactly as the build's own processes run: same sandbox, same uid, same layout.

use std::ffi::OsString;

use super::pipeline::{give_to_sandbox, Pipeline, SandboxPolicy};
use super::store::Build;

/// What to run in a build's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProgram {
    /// The program, as the sandbox sees it (`/bin/bash`, `psql`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the sandbox's environment (`TERM`, `PG*`...).
    pub env: Vec<(String, String)>,
    /// Run through `script -qfec ... /dev/null`, which gives the program a terminal (a PTY)
    /// while the caller talks to `script` over pipes.
    pub pty: bool,
}

impl Pipeline {
    /// A ready command running `what` inside build `build`'s sandbox: its checkout at
    /// `~/src/user`, its odoo.conf at `/etc/odoo/odoo.conf` (`ODOO_RC`), its data folders,
    /// as its project's uid. Stdio is the caller's to set. With `serve --no-sandbox` the
    /// program runs unconfined in the build's folder; where the sandbox cannot be made, this
    /// fails saying what is missing.
    pub async fn command_in_build(
        &self,
        build: &Build,
        what: &SessionProgram,
    ) -> crate::Result<tokio::process::Command> {
        if let SandboxPolicy::Unavailable(reason) = &self.env.sandbox {
            return Err(crate::PlatformError::Failed(format!(
                "the build's sandbox cannot be made: {reason}"
            )));
        }
        let prepared = self.prepared_again(build).await?;
        give_to_sandbox(&prepared, &prepared.conf_path())?;
        let mut env = self.session_env(build, &prepared).await?;
        env.extend(what.env.iter().cloned());
        let (program, args) = if what.pty {
            let line = std::iter::once(&what.program)
                .chain(&what.args)
                .map(|word| shell_quote(word))
                .collect::<Vec<_>>()
                .join(" ");
            let args = ["-qfec".to_string(), line, "/dev/null".to_string()];
            ("script".to_string(), args.to_vec())
        } else {
            (what.program.clone(), what.args.clone())
        };
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        match &prepared.jail {
            Some(jail) => {
                let mut jail = jail.clone();
                // A person's files live in the build's `home/`, as on Odoo.sh (scp, sftp).
                let home = prepared.dir.join("home");
                std::fs::create_dir_all(&home).map_err(|e| {
                    crate::PlatformError::Failed(format!("making {}: {e}", home.display()))
                })?;
                slipway_sandbox::chown_tree(&home, jail.sandbox.identity.owner())
                    .map_err(|e| crate::PlatformError::Failed(e.to_string()))?;
                jail.sandbox.home_from(&home);
                for (key, value) in &env {
                    jail.sandbox.setenv(key, value);
                }
                jail.command(&program, &args)
                    .map_err(|e| crate::PlatformError::Failed(e.to_string()))
            }
            None => {
                let mut command = tokio::process::Command::new(&program);
                command
                    .args(&args)
                    .env_clear()
                    .env("HOME", &prepared.dir)
                    .env("ODOO_RC", prepared.conf_path())
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .current_dir(&prepared.dir);
                Ok(command)
            }
        }
    }

    /// What a person's session in a build finds, as on Odoo.sh: `psql` connected to the
    /// build's database as its role (`PG*`), and `python`/`odoo-bin` the build's own (its
    /// virtualenv and Odoo source first on `PATH`).
    async fn session_env(
        &self,
        build: &Build,
        prepared: &super::pipeline::Prepared,
    ) -> crate::Result<Vec<(String, String)>> {
        let database = build.database.clone().unwrap_or_else(|| build.name.clone());
        let login = self.env.target.credentials(&database).await?;
        let odoo = match &prepared.jail {
            Some(_) => super::pipeline::SRC_ODOO_INSIDE.to_string(),
            None => prepared.source.root.display().to_string(),
        };
        let system = match &prepared.jail {
            Some(_) => "/usr/local/bin:/usr/bin:/bin".to_string(),
            None => std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        };
        let path = format!(
            "{}:{odoo}:{system}",
            prepared.venv.dir.join("bin").display()
        );
        Ok(vec![
            ("PATH".into(), path),
            ("LANG".into(), "C.UTF-8".into()),
            ("PGHOST".into(), login.host),
            ("PGPORT".into(), login.port.to_string()),
            ("PGUSER".into(), login.user),
            ("PGPASSWORD".into(), login.password),
            ("PGDATABASE".into(), login.database),
        ])
    }
}

/// One word for `sh -c`: single-quoted, with its single quotes closed and escaped.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_survive_the_shell() {
        assert_eq!(shell_quote("psql"), "'psql'");
        assert_eq!(shell_quote("it's; rm -rf /"), r"'it'\''s; rm -rf /'");
    }
}
