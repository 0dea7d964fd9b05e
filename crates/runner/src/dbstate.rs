//! Reads a database's module registry (`ir_module_module` and dependencies).

use slipway_odoo::{DbModule, DbState, ModuleState};
use sqlx::{Connection, PgConnection, Row};

use crate::Error;

/// A connection URL with its password hidden, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Reads every module with its state, `latest_version` and dependency names.
pub async fn read_db_state(url: &str) -> Result<DbState, Error> {
    let db_err = |e: sqlx::Error| Error::Database {
        database: redact(url),
        message: e.to_string(),
    };
    let mut conn = PgConnection::connect(url).await.map_err(db_err)?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('ir_module_module') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    if !exists {
        return Err(Error::NotOdoo(redact(url)));
    }
    let rows = sqlx::query(
        "SELECT m.name, m.state, m.latest_version,
                COALESCE(array_agg(d.name ORDER BY d.name) FILTER (WHERE d.name IS NOT NULL), '{}') AS depends
           FROM ir_module_module m
           LEFT JOIN ir_module_module_dependency d ON d.module_id = m.id
          GROUP BY m.id, m.name, m.state, m.latest_version
          ORDER BY m.name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(db_err)?;
    let modules = rows
        .iter()
        .map(|r| {
            let name: String = r.try_get("name").map_err(db_err)?;
            let state = r.try_get::<Option<String>, _>("state").map_err(db_err)?;
            Ok(DbModule {
                state: module_state(state.as_deref()).map_err(|e| Error::Database {
                    database: redact(url),
                    message: format!("module {name}: {e}"),
                })?,
                name,
                latest_version: r
                    .try_get::<Option<String>, _>("latest_version")
                    .map_err(db_err)?
                    .filter(|v| !v.is_empty()),
                depends: r.try_get("depends").map_err(db_err)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let _ = conn.close().await;
    Ok(DbState { modules })
}

/// A row's `state`. Odoo never writes NULL (the field defaults to `uninstallable`), so NULL
/// reads as that default, which counts, as the empty string it used to read as did, as neither
/// installed nor pending; a name Odoo does not write is an error naming it, never a guess.
fn module_state(stored: Option<&str>) -> Result<ModuleState, slipway_odoo::Error> {
    stored.map_or(Ok(ModuleState::Uninstallable), str::parse)
}

#[cfg(test)]
mod tests {
    use super::{module_state, redact};
    use slipway_odoo::ModuleState;

    #[test]
    fn module_states_are_odoo_s_names() {
        assert_eq!(
            module_state(Some("to upgrade")).unwrap(),
            ModuleState::ToUpgrade
        );
        assert_eq!(module_state(None).unwrap(), ModuleState::Uninstallable);
        let err = module_state(Some("half-installed")).unwrap_err();
        assert!(err.to_string().contains("\"half-installed\""), "{err}");
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://odoo:secret@host:5432/db"),
            "postgres://odoo:***@host:5432/db"
        );
        assert_eq!(redact("postgres://odoo@host/db"), "postgres://odoo@host/db");
        assert_eq!(redact("mydb"), "mydb");
    }
}
