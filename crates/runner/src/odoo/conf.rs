//! The `odoo.conf` of a build.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::connect::{CONNECT_KEY_OPTION, CONNECT_MODULE};
use crate::Error;

/// Outgoing mail server settings (`smtp_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login, if the server wants one.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// STARTTLS (Odoo's `smtp_ssl`).
    pub ssl: bool,
}

/// `odoo.conf` of a build: the `[options]` section with Odoo's key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooConf {
    /// `db_host`.
    pub db_host: String,
    /// `db_port`.
    pub db_port: u16,
    /// `db_user` (Odoo refuses `postgres`).
    pub db_user: String,
    /// `db_password`.
    pub db_password: String,
    /// `db_name`: the one database of the build.
    pub db_name: String,
    /// `addons_path`, in order (the first holding a module wins).
    pub addons_path: Vec<PathBuf>,
    /// `data_dir` (filestore, sessions).
    pub data_dir: PathBuf,
    /// `http_interface`.
    pub http_interface: String,
    /// `http_port`.
    pub http_port: u16,
    /// `smtp_*`; `None` writes nothing (Odoo's default, localhost:25).
    pub smtp: Option<SmtpSettings>,
    /// `list_db`: the database manager and selector.
    pub list_db: bool,
    /// `proxy_mode`: trust X-Forwarded-* headers.
    pub proxy_mode: bool,
    /// `max_cron_threads`.
    pub max_cron_threads: u32,
    /// `without_demo = all` when true.
    pub without_demo: bool,
    /// `admin_passwd`: the master password.
    pub admin_passwd: String,
    /// `log_level` (`info`, `warn`, `debug`...).
    pub log_level: String,
    /// Slipway's Connect: the build's key (`slipway_connect_key`), with
    /// `server_wide_modules = base,web,slipway_connect` (see [`super::connect`]); `None`
    /// writes neither (Odoo's default `base,web`).
    pub connect_key: Option<String>,
    /// `upgrade_path`: folders of upgrade scripts (`<dir>/<module>/<version>/`), Odoo's
    /// `--upgrade-path`; empty writes nothing.
    pub upgrade_path: Vec<PathBuf>,
    /// Modules loaded server-wide besides `base` and `web` (Odoo's `--load`), e.g.
    /// `openupgrade_framework` for a major-version upgrade.
    pub load: Vec<String>,
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

impl OdooConf {
    /// The INI text, keys sorted as Odoo's `--save` writes them.
    pub fn render(&self) -> String {
        let addons: Vec<String> = self
            .addons_path
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut keys: Vec<(&str, String)> = vec![
            ("addons_path", addons.join(",")),
            ("admin_passwd", self.admin_passwd.clone()),
            ("data_dir", self.data_dir.display().to_string()),
            ("db_host", self.db_host.clone()),
            ("db_name", self.db_name.clone()),
            ("db_password", self.db_password.clone()),
            ("db_port", self.db_port.to_string()),
            ("db_user", self.db_user.clone()),
            ("http_interface", self.http_interface.clone()),
            ("http_port", self.http_port.to_string()),
            ("list_db", py_bool(self.list_db).into()),
            ("log_level", self.log_level.clone()),
            ("max_cron_threads", self.max_cron_threads.to_string()),
            ("proxy_mode", py_bool(self.proxy_mode).into()),
            (
                "without_demo",
                if self.without_demo { "all" } else { "False" }.into(),
            ),
        ];
        let mut server_wide: Vec<&str> = vec!["base", "web"];
        if let Some(key) = &self.connect_key {
            keys.push((CONNECT_KEY_OPTION, key.clone()));
            server_wide.push(CONNECT_MODULE);
        }
        server_wide.extend(self.load.iter().map(String::as_str));
        if server_wide.len() > 2 {
            keys.push(("server_wide_modules", server_wide.join(",")));
        }
        if !self.upgrade_path.is_empty() {
            let paths: Vec<String> = self
                .upgrade_path
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            keys.push(("upgrade_path", paths.join(",")));
        }
        if let Some(smtp) = &self.smtp {
            keys.extend([
                ("smtp_server", smtp.host.clone()),
                ("smtp_port", smtp.port.to_string()),
                (
                    "smtp_user",
                    smtp.user.clone().unwrap_or_else(|| "False".into()),
                ),
                (
                    "smtp_password",
                    smtp.password.clone().unwrap_or_else(|| "False".into()),
                ),
                ("smtp_ssl", py_bool(smtp.ssl).into()),
            ]);
        }
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::from("[options]\n");
        for (k, v) in keys {
            let _ = writeln!(out, "{k} = {v}");
        }
        out
    }

    /// Values that cannot be written faithfully: a line break would add
    /// settings, and Odoo's parser strips surrounding blanks and reads
    /// `False`/`None` as unset.
    pub fn check(&self) -> Result<(), Error> {
        let mut values: Vec<(&str, String)> = vec![
            ("db_host", self.db_host.clone()),
            ("db_user", self.db_user.clone()),
            ("db_password", self.db_password.clone()),
            ("db_name", self.db_name.clone()),
            ("data_dir", self.data_dir.display().to_string()),
            ("http_interface", self.http_interface.clone()),
            ("admin_passwd", self.admin_passwd.clone()),
            ("log_level", self.log_level.clone()),
        ];
        for (key, paths) in [
            ("addons_path", &self.addons_path),
            ("upgrade_path", &self.upgrade_path),
        ] {
            for p in paths {
                values.push((key, p.display().to_string()));
                if p.display().to_string().contains(',') {
                    return Err(Error::Conf(format!(
                        "{key} folder {} holds a comma, which separates paths in odoo.conf",
                        p.display()
                    )));
                }
            }
        }
        for module in &self.load {
            if module.is_empty()
                || !module
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(Error::Conf(format!(
                    "{module:?} is not a module name to load server-wide"
                )));
            }
        }
        values.extend(self.connect_key.clone().map(|k| (CONNECT_KEY_OPTION, k)));
        if let Some(s) = &self.smtp {
            values.push(("smtp_server", s.host.clone()));
            values.extend(s.user.clone().map(|u| ("smtp_user", u)));
            values.extend(s.password.clone().map(|p| ("smtp_password", p)));
        }
        for (key, value) in values {
            if value.contains(['\n', '\r']) {
                return Err(Error::Conf(format!("{key} holds a line break")));
            }
            if value.trim() != value {
                return Err(Error::Conf(format!(
                    "{key} starts or ends with blanks, which Odoo would strip"
                )));
            }
        }
        if self.db_user == "postgres" {
            return Err(Error::Conf(
                "db_user is postgres, which Odoo refuses to run as; use a dedicated role".into(),
            ));
        }
        Ok(())
    }

    /// Checks and writes the file with mode 0600 (it holds passwords),
    /// replacing an existing one atomically.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::OpenOptionsExt;
        self.check()?;
        let tmp = path.with_extension("conf.tmp");
        let ctx = format!("writing {}", tmp.display());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io(ctx.clone()))?;
        f.write_all(self.render().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(Error::io(ctx))?;
        std::fs::rename(&tmp, path).map_err(Error::io(format!("writing {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> OdooConf {
        OdooConf {
            db_host: "127.0.0.1".into(),
            db_port: 5544,
            db_user: "odoo_b1".into(),
            db_password: "s3cret%x".into(),
            db_name: "b1".into(),
            addons_path: vec!["/co/addons".into(), "/odoo/addons".into()],
            data_dir: "/data/b1".into(),
            http_interface: "127.0.0.1".into(),
            http_port: 18069,
            smtp: None,
            list_db: false,
            proxy_mode: true,
            max_cron_threads: 0,
            without_demo: false,
            admin_passwd: "master".into(),
            log_level: "info".into(),
            connect_key: None,
            upgrade_path: Vec::new(),
            load: Vec::new(),
        }
    }

    #[test]
    fn renders_odoo_keys_in_one_options_section() {
        assert_eq!(
            sample().render(),
            "[options]\n\
             addons_path = /co/addons,/odoo/addons\n\
             admin_passwd = master\n\
             data_dir = /data/b1\n\
             db_host = 127.0.0.1\n\
             db_name = b1\n\
             db_password = s3cret%x\n\
             db_port = 5544\n\
             db_user = odoo_b1\n\
             http_interface = 127.0.0.1\n\
             http_port = 18069\n\
             list_db = False\n\
             log_level = info\n\
             max_cron_threads = 0\n\
             proxy_mode = True\n\
             without_demo = False\n"
        );
    }

    #[test]
    fn smtp_and_demo_keys() {
        let mut c = sample();
        c.without_demo = true;
        c.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: 2525,
            user: None,
            password: None,
            ssl: false,
        });
        let text = c.render();
        for line in [
            "without_demo = all\n",
            "smtp_server = 127.0.0.1\n",
            "smtp_port = 2525\n",
            "smtp_user = False\n",
            "smtp_password = False\n",
            "smtp_ssl = False\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }

    #[test]
    fn connect_loads_its_module_server_wide_with_the_build_s_key() {
        let mut c = sample();
        c.connect_key = Some("k3y".into());
        let text = c.render();
        for line in [
            "server_wide_modules = base,web,slipway_connect\n",
            "slipway_connect_key = k3y\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!sample().render().contains("server_wide_modules"));
        c.connect_key = Some("k\nadmin_passwd = x".into());
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("slipway_connect_key"));
    }

    #[test]
    fn an_upgrade_run_loads_openupgrade_server_wide_with_its_upgrade_path() {
        let mut c = sample();
        c.load = vec!["openupgrade_framework".into()];
        c.upgrade_path = vec!["/util/src".into(), "/ou/openupgrade_scripts/scripts".into()];
        let text = c.render();
        for line in [
            "server_wide_modules = base,web,openupgrade_framework\n",
            "upgrade_path = /util/src,/ou/openupgrade_scripts/scripts\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        c.upgrade_path.push("/a,b".into());
        assert!(c.check().unwrap_err().to_string().contains("upgrade_path"));
        c.upgrade_path.pop();
        c.load = vec!["x,admin".into()];
        assert!(c.check().is_err());
    }

    #[test]
    fn values_that_would_inject_settings_are_refused() {
        let mut c = sample();
        c.db_password = "x\nadmin_passwd = 1".into();
        assert!(c.check().unwrap_err().to_string().contains("db_password"));
        let mut c = sample();
        c.addons_path.push("/a,b".into());
        assert!(c.check().unwrap_err().to_string().contains("comma"));
        let mut c = sample();
        c.db_user = "postgres".into();
        assert!(c.check().is_err());
        assert!(sample().check().is_ok());
    }

    #[test]
    fn write_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odoo.conf");
        sample().write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), sample().render());
    }
}
