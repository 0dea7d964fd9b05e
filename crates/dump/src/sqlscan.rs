//! Reading what an Odoo database says about itself out of a plain SQL
//! stream (pg_dump's plain format, or `pg_restore -f -` output), line by
//! line and in constant memory: the PostgreSQL versions in the header
//! comments, the installed modules (`ir_module_module`) and the database
//! uuid (`ir_config_parameter`).

use std::collections::BTreeMap;
use std::io::{self, BufRead};

/// Lines longer than this are skipped, never buffered: a COPY row of a
/// binary attachment can be hundreds of megabytes.
const LINE_CAP: usize = 1 << 20;
/// Header comments sit in the first lines of a dump.
const HEADER_LINES: u64 = 64;

/// What a SQL stream told about its database.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SqlFacts {
    /// `-- Dumped from database version X`.
    pub(crate) postgresql: Option<String>,
    /// `-- Dumped by pg_dump version X`.
    pub(crate) pg_dump_version: Option<String>,
    /// Installed modules: name -> latest_version.
    pub(crate) modules: BTreeMap<String, String>,
    /// Whether an `ir_module_module` data block was seen at all.
    pub(crate) saw_modules: bool,
    /// `ir_config_parameter` `database.uuid`.
    pub(crate) database_uuid: Option<String>,
    /// Whether an `ir_config_parameter` data block was seen at all.
    pub(crate) saw_config: bool,
}

/// Reads one line (without its `\n`) into `buf`, keeping at most `cap`
/// bytes. Returns `None` at end of input, `Some(false)` when the line was
/// longer than `cap` (its head is in `buf`, the rest was discarded).
pub(crate) fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut complete = true;
    let mut read_any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(read_any.then_some(complete));
        }
        read_any = true;
        let (line_part, found, used) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true, i + 1),
            None => (chunk, false, chunk.len()),
        };
        let room = cap.saturating_sub(buf.len());
        if line_part.len() > room {
            complete = false;
        }
        buf.extend_from_slice(&line_part[..line_part.len().min(room)]);
        r.consume(used);
        if found {
            return Ok(Some(complete));
        }
    }
}

/// The table a `COPY ... FROM stdin;` line loads, with its column names.
pub(crate) fn parse_copy_header(line: &str) -> Option<(&str, Vec<String>)> {
    let rest = line.strip_prefix("COPY ")?.strip_suffix(" FROM stdin;")?;
    let (table, cols) = rest.split_once(" (")?;
    let cols = cols.strip_suffix(')')?;
    let cols = cols
        .split(", ")
        .map(|c| c.trim_matches('"').to_string())
        .collect();
    Some((table, cols))
}

fn is_table(qualified: &str, name: &str) -> bool {
    qualified == name || qualified.strip_prefix("public.") == Some(name)
}

/// Decodes one field of COPY's text format; `None` is SQL NULL.
pub(crate) fn decode_copy_field(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

enum Block {
    None,
    Modules {
        name: usize,
        state: usize,
        version: usize,
    },
    Config {
        key: usize,
        value: usize,
    },
    Other,
}

fn block_for(line: &str) -> Block {
    let Some((table, cols)) = parse_copy_header(line) else {
        return Block::None;
    };
    let pos = |c: &str| cols.iter().position(|x| x == c);
    if is_table(table, "ir_module_module") {
        if let (Some(name), Some(state), Some(version)) =
            (pos("name"), pos("state"), pos("latest_version"))
        {
            return Block::Modules {
                name,
                state,
                version,
            };
        }
    } else if is_table(table, "ir_config_parameter") {
        if let (Some(key), Some(value)) = (pos("key"), pos("value")) {
            return Block::Config { key, value };
        }
    }
    Block::Other
}

fn field(row: &[&str], i: usize) -> Option<String> {
    row.get(i).and_then(|f| decode_copy_field(f))
}

/// Scans a SQL stream. Stops reading as soon as everything wanted was
/// found, so a manifest-carrying zip only reads up to `ir_config_parameter`.
pub(crate) fn scan_sql(mut r: impl BufRead, want_modules: bool) -> io::Result<SqlFacts> {
    let mut facts = SqlFacts::default();
    let mut buf = Vec::new();
    let mut line_no: u64 = 0;
    let mut block = Block::None;
    while let Some(complete) = read_line_capped(&mut r, &mut buf, LINE_CAP)? {
        line_no += 1;
        let line = String::from_utf8_lossy(&buf);
        if matches!(block, Block::None | Block::Other) {
            if line_no <= HEADER_LINES {
                read_header_comment(&line, &mut facts);
            }
            if complete && line.starts_with("COPY ") {
                block = block_for(&line);
            }
            continue;
        }
        if line == "\\." {
            match block {
                Block::Modules { .. } => facts.saw_modules = true,
                Block::Config { .. } => facts.saw_config = true,
                _ => {}
            }
            block = Block::None;
            if facts.saw_config && (facts.saw_modules || !want_modules) {
                break;
            }
            continue;
        }
        if !complete {
            continue;
        }
        let row: Vec<&str> = line.split('\t').collect();
        match block {
            Block::Modules {
                name,
                state,
                version,
            } if field(&row, state).as_deref() == Some("installed") => {
                if let (Some(n), Some(v)) = (field(&row, name), field(&row, version)) {
                    facts.modules.insert(n, v);
                }
            }
            Block::Config { key, value }
                if field(&row, key).as_deref() == Some("database.uuid") =>
            {
                facts.database_uuid = field(&row, value);
            }
            _ => {}
        }
    }
    Ok(facts)
}

fn read_header_comment(line: &str, facts: &mut SqlFacts) {
    if let Some(v) = line.strip_prefix("-- Dumped from database version ") {
        facts.postgresql = Some(crate::pgdmp::short_version(v));
    } else if let Some(v) = line.strip_prefix("-- Dumped by pg_dump version ") {
        facts.pg_dump_version = Some(crate::pgdmp::short_version(v));
    }
}

/// "17.0.1.3" -> "17.0"; "saas~17.2.1.0" -> "saas~17.2".
pub(crate) fn series_of(version: &str) -> Option<String> {
    let mut parts = version.splitn(3, '.');
    let (major, minor) = (parts.next()?, parts.next()?);
    (!major.is_empty() && !minor.is_empty()).then(|| format!("{major}.{minor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n\
-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)\n\
-- Dumped by pg_dump version 16.10\n\n\
COPY public.ir_config_parameter (id, key, value, create_uid) FROM stdin;\n\
1\tdatabase.secret\ts3cr3t\t1\n\
2\tdatabase.uuid\t1f0e-uuid\t1\n\
\\.\n\n\
COPY public.res_partner (id, name) FROM stdin;\n\
1\tCOPY public.ir_module_module (name, state, latest_version) FROM stdin;\n\
\\.\n\
COPY public.ir_module_module (id, name, state, latest_version, shortdesc) FROM stdin;\n\
1\tbase\tinstalled\t17.0.1.3\t{\"en_US\": \"Base\\\\tab\"}\n\
2\tmail\tuninstalled\t\\N\t\\N\n\
3\tweb\tto upgrade\t17.0.1.0\t\\N\n\
4\tbus\tinstalled\t17.0.1.0\t\\N\n\
\\.\n";

    #[test]
    fn finds_versions_installed_modules_and_uuid() {
        let facts = scan_sql(DUMP.as_bytes(), true).unwrap();
        assert_eq!(facts.postgresql.as_deref(), Some("15.18"));
        assert_eq!(facts.pg_dump_version.as_deref(), Some("16.10"));
        assert_eq!(facts.database_uuid.as_deref(), Some("1f0e-uuid"));
        let names: Vec<_> = facts.modules.keys().map(String::as_str).collect();
        assert_eq!(names, ["base", "bus"]);
        assert_eq!(facts.modules["base"], "17.0.1.3");
    }

    #[test]
    fn a_copy_header_inside_another_tables_data_is_data() {
        let facts = scan_sql(DUMP.as_bytes(), true).unwrap();
        assert!(!facts.modules.contains_key(
            "COPY public.ir_module_module (name, state, latest_version) FROM stdin;"
        ));
        assert!(facts.saw_modules && facts.saw_config);
    }

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let mut input = b"COPY public.x (a) FROM stdin;\n".to_vec();
        input.extend(std::iter::repeat_n(b'a', 3 * LINE_CAP));
        input.extend(b"\n\\.\n");
        let mut r = io::BufReader::new(&input[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, LINE_CAP).unwrap(),
            Some(true)
        );
        assert_eq!(
            read_line_capped(&mut r, &mut buf, LINE_CAP).unwrap(),
            Some(false)
        );
        assert!(buf.capacity() < 2 * LINE_CAP);
        assert_eq!(
            read_line_capped(&mut r, &mut buf, LINE_CAP).unwrap(),
            Some(true)
        );
        assert_eq!(buf, b"\\.");
        assert_eq!(read_line_capped(&mut r, &mut buf, LINE_CAP).unwrap(), None);
    }

    #[test]
    fn copy_fields_are_unescaped() {
        assert_eq!(
            decode_copy_field("a\\tb\\\\c\\nd").as_deref(),
            Some("a\tb\\c\nd")
        );
        assert_eq!(decode_copy_field("\\N"), None);
    }

    #[test]
    fn series_is_the_first_two_parts() {
        assert_eq!(series_of("17.0.1.3").as_deref(), Some("17.0"));
        assert_eq!(series_of("saas~17.2.1.0").as_deref(), Some("saas~17.2"));
        assert_eq!(series_of("17"), None);
    }
}
