//! `slipway dump inspect` on the real Odoo databases in shared/fixtures.

use std::path::{Path, PathBuf};

use slipway_dump::{inspect, Format, InspectOptions, ZipLimits};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/odoo-dumps")
        .join(name)
}

fn options() -> InspectOptions {
    InspectOptions {
        pg_restore: "pg_restore".into(),
        zip_limits: ZipLimits::default(),
    }
}

#[test]
fn odoo_16_zip_backup() {
    let i = inspect(&fixture("v16_base.zip"), &options()).unwrap();
    assert_eq!(i.format, Format::OdooZip);
    assert_eq!(i.compressions, ["zip", "sql"]);
    assert_eq!(i.odoo_version.as_deref(), Some("16.0"));
    assert_eq!(i.base_version.as_deref(), Some("16.0.1.3"));
    assert_eq!(i.modules.len(), 8);
    assert_eq!(i.modules["web"], "16.0.1.0");
    assert_eq!(i.postgresql.as_deref(), Some("15.18"));
    assert_eq!(i.filestore.unwrap().files, 22);
    assert!(i.database_uuid.as_deref().is_some_and(|u| u.len() == 36));
    assert_eq!(i.manifest.as_ref().unwrap()["pg_version"], "15.0");
    assert_eq!(
        i.size,
        std::fs::metadata(fixture("v16_base.zip")).unwrap().len()
    );
}

#[test]
fn odoo_17_custom_dump_read_through_pg_restore() {
    let i = inspect(&fixture("v17_base.dump"), &options()).unwrap();
    assert_eq!(i.format, Format::PgCustom);
    assert_eq!(i.compressions, ["pgdmp_custom", "gzip"]);
    assert_eq!(i.odoo_version.as_deref(), Some("17.0"));
    assert_eq!(i.base_version.as_deref(), Some("17.0.1.3"));
    assert_eq!(i.modules.len(), 11);
    assert_eq!(i.db_name.as_deref(), Some("v17_base"));
    assert_eq!(i.pg_dump_version.as_deref(), Some("15.18"));
    assert!(i.database_uuid.is_some());
    assert_eq!(i.filestore, None);
    assert_eq!(i.manifest, None);
}

#[test]
fn odoo_17_zip_with_demo_data() {
    let i = inspect(&fixture("v17_mail_demo.zip"), &options()).unwrap();
    assert_eq!(i.format, Format::OdooZip);
    assert_eq!(i.modules.len(), 24);
    assert_eq!(i.db_name.as_deref(), Some("v17_mail_demo"));
    assert_eq!(i.filestore.unwrap().files, 124);
    assert!(i.modules.contains_key("mail"));
}

#[test]
fn json_has_the_issue_shape() {
    let i = inspect(&fixture("v17_base.dump"), &options()).unwrap();
    let json = serde_json::to_value(&i).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "format",
        "compressions",
        "size",
        "postgresql",
        "pg_dump_version",
        "db_name",
        "odoo_version",
        "base_version",
        "modules",
        "database_uuid",
        "filestore",
        "manifest",
    ];
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected);
    assert_eq!(json["format"], "pg-custom");
}

/// The plain SQL inside the v17 zip, written out as `.sql` and `.sql.gz`.
fn v17_sql(dir: &Path, gz: bool) -> PathBuf {
    use std::io::{Read, Write};
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(fixture("v17_mail_demo.zip")).unwrap()).unwrap();
    let mut sql = Vec::new();
    archive
        .by_name("dump.sql")
        .unwrap()
        .read_to_end(&mut sql)
        .unwrap();
    let path = dir.join(if gz { "db.sql.gz" } else { "db.sql" });
    let file = std::fs::File::create(&path).unwrap();
    if gz {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        enc.write_all(&sql).unwrap();
        enc.finish().unwrap();
    } else {
        (&file).write_all(&sql).unwrap();
    }
    path
}

#[test]
fn plain_sql_and_sql_gz_are_read_by_streaming() {
    let dir = tempfile::tempdir().unwrap();
    for (gz, format, compressions) in [
        (false, Format::Sql, vec!["sql"]),
        (true, Format::SqlGz, vec!["gzip", "sql"]),
    ] {
        let i = inspect(&v17_sql(dir.path(), gz), &options()).unwrap();
        assert_eq!(i.format, format);
        assert_eq!(i.compressions, compressions);
        assert_eq!(
            i.modules.len(),
            24,
            "installed modules read from ir_module_module"
        );
        assert_eq!(i.odoo_version.as_deref(), Some("17.0"));
        assert!(i.database_uuid.is_some());
        assert_eq!(i.postgresql.as_deref(), Some("15.18"));
        assert_eq!(i.filestore, None);
    }
}

#[test]
fn truncated_sql_gz_is_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = v17_sql(dir.path(), true);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let err = inspect(&path, &options()).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn truncated_custom_dump_is_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.dump");
    let bytes = std::fs::read(fixture("v17_base.dump")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = inspect(&path, &options()).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}
