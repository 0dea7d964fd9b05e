//! How to reach a PostgreSQL server: the embedded one through its socket, or an external one
//! through the URL the user gave.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::error::{PgError, Result};

/// A PostgreSQL server and the superuser-ish role Slipway administers it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// The embedded cluster, reached over 127.0.0.1 or its Unix socket, with the superuser's
    /// password either way (nothing is trusted).
    Embedded(EmbeddedConn),
    /// An external server given by a `postgres://` URL (its database part is replaced per use).
    External(ExternalConn),
}

/// Connection parameters of the embedded cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConn {
    /// Directory holding the Unix socket.
    pub socket_dir: PathBuf,
    /// TCP port on 127.0.0.1 (also the number in the socket's name).
    pub port: u16,
    /// The bootstrap superuser.
    pub user: String,
    /// The superuser's password (SCRAM, over TCP and the socket alike).
    pub password: Option<String>,
    /// Connect over 127.0.0.1 (the live cluster: as root, Slipway is not the `postgres`
    /// system user its socket's `peer` rule expects) rather than through the socket (a
    /// scratch cluster, which opens no TCP port).
    pub over_tcp: bool,
}

/// An external server: the URL as the user gave it, split at the database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalConn {
    /// Everything before the database name, e.g. `postgres://u:p@db.example:5432`.
    prefix: String,
    /// The query string, if any, e.g. `?sslmode=require`.
    query: String,
}

impl Server {
    /// An external server from a `postgres://` or `postgresql://` URL.
    pub fn external(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| PgError::NotAUrl(url.to_string()))?;
        let (before_query, query) = match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let authority = before_query.split('/').next().unwrap_or_default();
        Ok(Self::External(ExternalConn {
            prefix: format!("postgresql://{authority}"),
            query: query.to_string(),
        }))
    }

    /// The admin role's name (`None` when an external URL names no user: libpq's default).
    pub fn admin_user(&self) -> Option<String> {
        match self {
            Server::Embedded(c) => Some(c.user.clone()),
            Server::External(c) => {
                let authority = c.prefix.trim_start_matches("postgresql://");
                let (userinfo, _) = authority.rsplit_once('@')?;
                let user = userinfo.split(':').next().unwrap_or_default();
                Some(decode(user))
            }
        }
    }

    /// A URL to database `db` as the admin role, for sqlx and for libpq tools (`psql`,
    /// `pg_dump`...). It holds the password: pass it to tools in their environment or on
    /// their command line only where no other user can read it.
    pub fn url(&self, db: &str) -> String {
        match self {
            Server::Embedded(c) => {
                let user = match &c.password {
                    Some(password) => format!("{}:{}", encode(&c.user), encode(password)),
                    None => encode(&c.user),
                };
                if c.over_tcp {
                    format!("postgresql://{user}@127.0.0.1:{}/{}", c.port, encode(db))
                } else {
                    format!(
                        "postgresql://{user}@localhost/{}?host={}&port={}",
                        encode(db),
                        encode(&c.socket_dir.to_string_lossy()),
                        c.port
                    )
                }
            }
            Server::External(c) => format!("{}/{}{}", c.prefix, encode(db), c.query),
        }
    }
}

/// Splits the password out of a `postgresql://` URL: the URL without it, for a client tool's
/// command line, and the password, for its `PGPASSWORD`. Command lines are readable by every
/// user of the machine (`/proc/<pid>/cmdline`), environments only by the process's own.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let Some(rest) = url.strip_prefix("postgresql://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    let Some((user, password)) = rest[..at].split_once(':') else {
        return (url.to_string(), None);
    };
    (
        format!("postgresql://{user}{}", &rest[at..]),
        Some(decode(password)),
    )
}

/// Undoes percent-encoding (invalid escapes are kept as they are).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes what a URL component cannot hold as is.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_url_authenticates_over_tcp_or_the_socket() {
        let conn = EmbeddedConn {
            socket_dir: "/srv/slipway/run".into(),
            port: 5544,
            user: "postgres".into(),
            password: Some("p@ss".into()),
            over_tcp: true,
        };
        assert_eq!(
            Server::Embedded(conn.clone()).url("my db"),
            "postgresql://postgres:p%40ss@127.0.0.1:5544/my%20db"
        );
        let socket = EmbeddedConn {
            over_tcp: false,
            ..conn
        };
        assert_eq!(
            Server::Embedded(socket).url("my db"),
            "postgresql://postgres:p%40ss@localhost/my%20db?host=/srv/slipway/run&port=5544"
        );
    }

    #[test]
    fn external_url_swaps_the_database_and_keeps_the_query() {
        let s =
            Server::external("postgres://u:p@db.example:5432/postgres?sslmode=require").unwrap();
        assert_eq!(
            s.url("slipway"),
            "postgresql://u:p@db.example:5432/slipway?sslmode=require"
        );
        let bare = Server::external("postgresql://db.example").unwrap();
        assert_eq!(bare.url("x"), "postgresql://db.example/x");
    }

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgresql://u:p%40ss@127.0.0.1:5/db?x=1"),
            (
                "postgresql://u@127.0.0.1:5/db?x=1".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgresql://u@h/db"),
            ("postgresql://u@h/db".to_string(), None)
        );
        assert_eq!(
            split_password("postgresql://h/db?host=/a:b@c"),
            ("postgresql://h/db?host=/a:b@c".to_string(), None)
        );
    }

    #[test]
    fn the_admin_user_is_read_from_either_kind() {
        let s = Server::external("postgres://sl%40p:pw@db.example:5432/postgres").unwrap();
        assert_eq!(s.admin_user().as_deref(), Some("sl@p"));
        let bare = Server::external("postgresql://db.example").unwrap();
        assert_eq!(bare.admin_user(), None);
    }

    #[test]
    fn external_url_must_be_postgres() {
        assert!(Server::external("mysql://x").is_err());
    }
}
