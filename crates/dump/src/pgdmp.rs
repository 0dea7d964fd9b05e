//! The header of pg_dump's archive formats (`PGDMP`), as written by
//! `WriteHead()` in PostgreSQL's `pg_backup_archiver.c`. The custom format
//! starts with it; the directory and tar formats store it in `toc.dat`.

/// What the archive header tells without reading the rest of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchiveHeader {
    /// Archive format version (`1.14.0` for pg_dump 13-15).
    pub(crate) version: (u8, u8, u8),
    /// 1 custom, 3 tar, 5 directory.
    pub(crate) format: u8,
    /// How table data is compressed, in the upgrade API vocabulary
    /// (`None` when stored uncompressed).
    pub(crate) compression: Option<&'static str>,
    /// Name of the dumped database.
    pub(crate) db_name: Option<String>,
    /// `version()` of the server that was dumped ("15.18 (Debian ...)").
    pub(crate) server_version: Option<String>,
    /// Version of pg_dump that wrote the archive.
    pub(crate) pg_dump_version: Option<String>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Not a `PGDMP` header at all.
    NotArchive,
    /// The bytes end before the header does.
    Truncated(&'static str),
    /// A field holds a value no pg_dump writes.
    Invalid(String),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    int_size: usize,
}

impl Cursor<'_> {
    fn byte(&mut self, what: &'static str) -> Result<u8, HeaderError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(HeaderError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// `ReadInt`: a sign byte, then `int_size` little-endian bytes.
    fn int(&mut self, what: &'static str) -> Result<i64, HeaderError> {
        let negative = self.byte(what)? != 0;
        let mut value: i64 = 0;
        for shift in 0..self.int_size {
            value |= i64::from(self.byte(what)?) << (8 * shift);
        }
        Ok(if negative { -value } else { value })
    }

    /// `ReadStr`: an int length (-1 for NULL), then the bytes.
    fn string(&mut self, what: &'static str) -> Result<Option<String>, HeaderError> {
        let len = self.int(what)?;
        if len < 0 {
            return Ok(None);
        }
        let len =
            usize::try_from(len).map_err(|_| HeaderError::Invalid(format!("{what} length")))?;
        if len > 4096 {
            return Err(HeaderError::Invalid(format!("{what} is {len} bytes long")));
        }
        let end = self.pos + len;
        let raw = self
            .bytes
            .get(self.pos..end)
            .ok_or(HeaderError::Truncated(what))?;
        self.pos = end;
        Ok(Some(String::from_utf8_lossy(raw).into_owned()))
    }
}

/// Enough bytes to hold any header pg_dump writes.
pub(crate) const HEADER_PREFIX_LEN: usize = 8192;

/// Parses an archive header from the first bytes of the file (or of
/// `toc.dat`). `bytes` may hold more than the header.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<ArchiveHeader, HeaderError> {
    if !bytes.starts_with(b"PGDMP") {
        return Err(HeaderError::NotArchive);
    }
    let mut c = Cursor {
        bytes,
        pos: 5,
        int_size: 4,
    };
    let major = c.byte("archive version")?;
    let minor = c.byte("archive version")?;
    let rev = if major > 1 || (major == 1 && minor > 2) {
        c.byte("archive version")?
    } else {
        0
    };
    if major != 1 || minor < 10 {
        return Err(HeaderError::Invalid(format!(
            "unsupported archive version {major}.{minor}.{rev}"
        )));
    }
    c.int_size = usize::from(c.byte("integer size")?);
    if !(1..=8).contains(&c.int_size) {
        return Err(HeaderError::Invalid(format!("integer size {}", c.int_size)));
    }
    let _offset_size = c.byte("offset size")?;
    let format = c.byte("format")?;
    let compression = if minor >= 15 {
        // K_VERS_1_15: one byte naming the algorithm.
        match c.byte("compression")? {
            0 => None,
            1 => Some("gzip"),
            2 => Some("lz4"),
            3 => Some("zstd"),
            other => {
                return Err(HeaderError::Invalid(format!(
                    "compression algorithm {other}"
                )))
            }
        }
    } else {
        // Before 1.15: a zlib level, -1 meaning zlib's default.
        match c.int("compression")? {
            0 => None,
            _ => Some("gzip"),
        }
    };
    for _ in 0..7 {
        c.int("creation date")?;
    }
    let db_name = c.string("database name")?;
    let server_version = c.string("server version")?;
    let pg_dump_version = c.string("pg_dump version")?;
    Ok(ArchiveHeader {
        version: (major, minor, rev),
        format,
        compression,
        db_name,
        server_version,
        pg_dump_version,
    })
}

/// "15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
pub(crate) fn short_version(full: &str) -> String {
    full.split_whitespace().next().unwrap_or(full).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/odoo-dumps/v17_base.dump"
    );

    fn fixture_prefix() -> Vec<u8> {
        let mut bytes = std::fs::read(FIXTURE).unwrap();
        bytes.truncate(HEADER_PREFIX_LEN);
        bytes
    }

    #[test]
    fn reads_the_header_of_a_real_custom_dump() {
        let header = parse_header(&fixture_prefix()).unwrap();
        assert_eq!(header.version, (1, 14, 0));
        assert_eq!(header.format, 1);
        assert_eq!(header.compression, Some("gzip"));
        assert_eq!(header.db_name.as_deref(), Some("v17_base"));
        assert_eq!(
            short_version(header.server_version.as_deref().unwrap()),
            "15.18"
        );
        assert_eq!(
            short_version(header.pg_dump_version.as_deref().unwrap()),
            "15.18"
        );
    }

    #[test]
    fn every_shorter_prefix_is_reported_as_truncated() {
        let full = fixture_prefix();
        // magic 5 + version 3 + sizes 2 + format 1 + level 5 + date 35
        // + three strings (5 + len each: "v17_base", two 30-byte versions)
        let header_len = 5 + 3 + 2 + 1 + 5 + 35 + (5 + 8) + 2 * (5 + 30);
        assert!(parse_header(&full[..header_len]).is_ok());
        for len in 5..header_len {
            match parse_header(&full[..len]) {
                Err(HeaderError::Truncated(_)) => {}
                other => panic!("prefix of {len} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn other_bytes_are_not_an_archive() {
        assert_eq!(parse_header(b"PK\x03\x04"), Err(HeaderError::NotArchive));
    }

    #[test]
    fn version_1_15_reads_the_compression_algorithm_byte() {
        // PGDMP 1.15.0, int 4, off 8, custom, zstd, date, 3 strings
        let mut h = b"PGDMP\x01\x0f\x00\x04\x08\x01\x03".to_vec();
        h.extend(std::iter::repeat_n(0u8, 7 * 5));
        for s in ["db", "17.6", "17.6"] {
            h.push(0);
            h.extend((s.len() as u32).to_le_bytes());
            h.extend(s.as_bytes());
        }
        let header = parse_header(&h).unwrap();
        assert_eq!(header.compression, Some("zstd"));
        assert_eq!(header.pg_dump_version.as_deref(), Some("17.6"));
    }
}
