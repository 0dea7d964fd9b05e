//! One role per database, on the real test cluster: a dump replayed into one database cannot
//! drop, alter, comment or even reach another; a copy's objects belong to the copy's role; a
//! dropped database's role goes with it; nobody reaches the server as `postgres` without its
//! password.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, owner_of, World};
use slipway_dump::{clone_database, restore, IdleSessions, Mode, RestoreOptions, ROLE_PREFIX};
use sqlx::{Connection, PgConnection};

const HEADER: &str = "--\n-- PostgreSQL database dump\n--\n\n";
const FOOTER: &str = "\n--\n-- PostgreSQL database dump complete\n--\n\n";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}{body}{FOOTER}")).unwrap();
    path
}

/// A database standing for a production: a table with a row and a comment, made through
/// `Target` as Slipway makes them.
async fn production(w: &mut World, prefix: &str) -> String {
    let db = w.name(prefix);
    w.target.create_empty_database(&db).await.unwrap();
    for sql in [
        "CREATE TABLE orders (id int PRIMARY KEY)",
        "INSERT INTO orders VALUES (42)",
    ] {
        w.target.execute_as_owner(&db, sql).await.unwrap();
    }
    let admin = w.admin("postgres").await;
    sqlx::query(&format!(
        "COMMENT ON DATABASE {} IS 'the shop'",
        slipway_dump::quote_ident(&db)
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    db
}

/// What a user of `db` would notice: it exists, has its row, its owner, its comment, and
/// who may connect.
async fn state_of(w: &World, db: &str) -> (i64, String, (Option<String>, Option<String>)) {
    let rows = w
        .scalar_i64(db, "SELECT count(*) FROM orders WHERE id = 42")
        .await;
    let admin = w.admin("postgres").await;
    let comment: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT shobj_description(oid, 'pg_database'), datacl::text FROM pg_database \
         WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(&admin)
    .await
    .unwrap();
    admin.close().await;
    (rows, owner_of(w, db).await, comment)
}

#[tokio::test]
async fn dumps_aimed_at_another_database_are_refused_and_it_stays_intact() {
    let mut w = World::new();
    let shop = production(&mut w, "roles_prod").await;
    let before = state_of(&w, &shop).await;
    assert_eq!(before.0, 1);
    let quoted = slipway_dump::quote_ident(&shop);
    let attacks = [
        ("drop.sql", format!("DROP DATABASE {quoted};\n")),
        (
            "drop-force.sql",
            format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE);\n"),
        ),
        (
            "alter.sql",
            format!("ALTER DATABASE {quoted} RENAME TO gone;\n"),
        ),
        (
            "alter-conn.sql",
            format!("ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false;\n"),
        ),
        (
            "alter-owner.sql",
            format!("ALTER DATABASE {quoted} OWNER TO CURRENT_USER;\n"),
        ),
        (
            "comment.sql",
            format!("COMMENT ON DATABASE {quoted} IS 'pwned';\n"),
        ),
        (
            "grant.sql",
            format!("GRANT CONNECT ON DATABASE {quoted} TO PUBLIC;\n"),
        ),
        (
            "metadata.sql",
            "COMMENT ON DATABASE postgres IS 'pwned';\n".to_string(),
        ),
        (
            "role.sql",
            format!(
                "ALTER ROLE {} SUPERUSER;\n",
                slipway_dump::quote_ident(&before.1)
            ),
        ),
    ];
    for (name, body) in attacks {
        let file = write(w.data.path(), name, &body);
        let db = w.name("roles_evil");
        match restore(&w.target, &file, &RestoreOptions::new(&db)).await {
            Err(e) => {
                let err = e.to_string();
                assert!(
                    err.contains("must be owner")
                        || err.contains("permission denied")
                        || err.contains("must be superuser"),
                    "{name}: {err}"
                );
                assert!(
                    !w.exists(&db).await,
                    "{name}: the half-made database is gone"
                );
            }
            // harmless: PostgreSQL only warns that a non-owner's GRANT granted nothing
            Ok(_) => assert_eq!(name, "grant.sql", "{name} was accepted"),
        }
        assert_eq!(
            state_of(&w, &shop).await,
            before,
            "{name}: {shop} unchanged"
        );
    }
    let admin = w.admin("postgres").await;
    let postgres_comment: Option<String> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'postgres'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_ne!(postgres_comment.as_deref(), Some("pwned"));
}

#[tokio::test]
async fn a_database_s_role_reaches_its_own_database_only() {
    let mut w = World::new();
    let shop = production(&mut w, "roles_shop").await;
    let dev = production(&mut w, "roles_dev").await;
    let dev_login = w.target.credentials(&dev).await.unwrap();
    assert!(dev_login.user.starts_with(ROLE_PREFIX));
    assert_eq!(dev_login.host, "127.0.0.1");
    let admin = w.admin("postgres").await;
    let rights: (bool, bool, bool, bool, bool, bool, i64) = sqlx::query_as(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, \
         (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) \
         FROM pg_roles r WHERE rolname = $1",
    )
    .bind(&dev_login.user)
    .fetch_one(&admin)
    .await
    .unwrap();
    admin.close().await;
    assert_eq!(
        rights,
        (true, false, false, false, false, false, 0),
        "LOGIN and nothing else, member of no role"
    );
    let url_to = |db: &str| {
        format!(
            "postgresql://{}:{}@{}:{}/{}",
            dev_login.user, dev_login.password, dev_login.host, dev_login.port, db
        )
    };
    let mut own = PgConnection::connect(&url_to(&dev)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut own)
        .await
        .unwrap();
    assert_eq!(n, 1);
    own.close().await.unwrap();
    for other in [shop.as_str()] {
        let err = PgConnection::connect(&url_to(other)).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied for database"),
            "{other}: {err}"
        );
    }
    let wrong = format!(
        "postgresql://{}:nope@{}:{}/{}",
        dev_login.user, dev_login.host, dev_login.port, dev
    );
    let err = PgConnection::connect(&wrong).await.unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_copy_owns_its_objects_and_the_source_keeps_its_own() {
    let mut w = World::new();
    let db = w.name("roles_src");
    let mut opts = RestoreOptions::new(&db);
    opts.mode = Mode::Move;
    restore(&w.target, &fixture("v17_base.dump"), &opts)
        .await
        .unwrap();
    let source_role = owner_of(&w, &db).await;
    for (prefix, idle) in [
        ("roles_tpl", IdleSessions::Keep),
        ("roles_busy", IdleSessions::Keep),
    ] {
        let copy = w.name(prefix);
        // a session on the source sends the second copy down the dump and restore path
        let busy = if prefix == "roles_busy" {
            Some(w.admin(&db).await)
        } else {
            None
        };
        if let Some(pool) = &busy {
            sqlx::query("SELECT 1").execute(pool).await.unwrap();
        }
        clone_database(&w.target, &db, &copy, 2, idle)
            .await
            .unwrap();
        if let Some(pool) = busy {
            pool.close().await;
        }
        let copy_role = owner_of(&w, &copy).await;
        assert_ne!(copy_role, source_role, "{prefix}: a role of its own");
        assert!(copy_role.starts_with(ROLE_PREFIX));
        assert_eq!(
            owner_of(&w, &db).await,
            source_role,
            "{prefix}: source kept"
        );
        let foreign = w
            .scalar_i64(
                &copy,
                &format!(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> '{copy_role}'"
                ),
            )
            .await;
        assert_eq!(
            foreign, 0,
            "{prefix}: every relation of the copy is its role's"
        );
        let in_source = w
            .scalar_i64(
                &db,
                &format!(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> '{source_role}'"
                ),
            )
            .await;
        assert_eq!(
            in_source, 0,
            "{prefix}: the source's objects are still its role's"
        );
        // the copy's role works its copy (what the build on it does)
        w.target
            .execute_as_owner(&copy, "UPDATE res_partner SET name = name WHERE id = 1")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_dropped_database_takes_its_role_along() {
    let mut w = World::new();
    let db = production(&mut w, "roles_drop").await;
    let role = owner_of(&w, &db).await;
    w.target.drop_database(&db).await.unwrap();
    let admin = w.admin("postgres").await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "role {role} dropped with its database");
}

#[tokio::test]
async fn nobody_is_postgres_without_its_password() {
    let slipway_pg::Server::Embedded(conn) = slipway_testkit::shared_server() else {
        panic!("the test cluster is embedded")
    };
    let psql = slipway_testkit::binaries().tool("psql");
    let attempts = [
        vec!["-h".to_string(), conn.socket_dir.display().to_string()],
        vec!["-h".to_string(), "127.0.0.1".to_string()],
    ];
    for how in attempts {
        let out = std::process::Command::new(&psql)
            .args(["-X", "-w", "-U", "postgres", "-d", "postgres", "-p"])
            .arg(conn.port.to_string())
            .args(&how)
            .args(["-c", "select 1"])
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", "/dev/null")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{how:?} let postgres in");
        assert!(
            stderr.contains("no password supplied")
                || stderr.contains("Peer authentication failed"),
            "{how:?}: {stderr}"
        );
    }
    let hba =
        std::fs::read_to_string(slipway_testkit::cluster_dir().join("pg/pg_hba.conf")).unwrap();
    let methods: Vec<&str> = hba
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            l.split_whitespace()
                .nth(if l.starts_with("local") { 3 } else { 4 })
        })
        .collect();
    assert!(!methods.is_empty());
    assert!(
        methods
            .iter()
            .all(|m| *m == "scram-sha-256" || *m == "peer"),
        "{hba}"
    );
}

#[tokio::test]
async fn databases_of_the_old_shared_role_get_a_role_each_at_start() {
    let mut w = World::new();
    let legacy = format!("legacy_{}", std::process::id());
    let (a, b) = (w.name("roles_legacy_a"), w.name("roles_legacy_b"));
    let admin = w.admin("postgres").await;
    sqlx::query(&format!("CREATE ROLE {legacy} LOGIN"))
        .execute(&admin)
        .await
        .unwrap();
    for db in [&a, &b] {
        sqlx::query(&format!("CREATE DATABASE \"{db}\" OWNER {legacy}"))
            .execute(&admin)
            .await
            .unwrap();
        let pool = w.admin(db).await;
        sqlx::raw_sql(&format!(
            "CREATE TABLE t (id int); ALTER TABLE t OWNER TO {legacy}"
        ))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let adopted = w
        .target
        .prepare_server("no_such_metadata_db", &legacy)
        .await
        .unwrap();
    assert!(adopted.contains(&a) && adopted.contains(&b), "{adopted:?}");
    let (role_a, role_b) = (owner_of(&w, &a).await, owner_of(&w, &b).await);
    assert!(role_a.starts_with(ROLE_PREFIX) && role_b.starts_with(ROLE_PREFIX));
    assert_ne!(role_a, role_b);
    for (db, role) in [(&a, &role_a), (&b, &role_b)] {
        let owned = w
            .scalar_i64(
                db,
                &format!("SELECT count(*) FROM pg_tables WHERE tablename = 't' AND tableowner = '{role}'"),
            )
            .await;
        assert_eq!(owned, 1, "{db}'s table is its role's");
        w.target
            .execute_as_owner(db, "INSERT INTO t VALUES (1)")
            .await
            .unwrap();
    }
    for db in [&a, &b] {
        w.target.drop_database(db).await.unwrap();
    }
    sqlx::query(&format!("DROP ROLE {legacy}"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_size_of_databases_is_read_in_one_query_and_missing_names_count_nothing() {
    let mut w = World::new();
    let small = w.name("szsmall");
    w.target.create_empty_database(&small).await.unwrap();
    let alone = w
        .target
        .databases_size(std::slice::from_ref(&small))
        .await
        .unwrap();
    // An empty PostgreSQL database is several MiB of catalogs.
    assert!(alone > 1 << 20, "{alone}");
    let missing = w.name("szmissing");
    assert_eq!(
        w.target
            .databases_size(&[small.clone(), missing])
            .await
            .unwrap(),
        alone
    );
    let bigger = w.name("szbig");
    w.target.create_empty_database(&bigger).await.unwrap();
    let both = w.target.databases_size(&[small, bigger]).await.unwrap();
    assert!(both > alone, "{both} <= {alone}");
    assert_eq!(w.target.databases_size(&[]).await.unwrap(), 0);
}
