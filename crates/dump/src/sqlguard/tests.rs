use super::*;

/// Every test runs the input whole and cut into 1- and 7-byte chunks: a
/// meta-command split across reads must be caught all the same.
fn check(sql: &str) -> Result<String> {
    let whole = filter_all(sql.as_bytes(), usize::MAX)?;
    for chunk in [1, 7] {
        assert_eq!(
            filter_all(sql.as_bytes(), chunk)?,
            whole,
            "chunk size {chunk}"
        );
    }
    Ok(String::from_utf8(whole).unwrap())
}

fn refused(sql: &str) -> String {
    for chunk in [usize::MAX, 1, 7] {
        if filter_all(sql.as_bytes(), chunk).is_ok() {
            panic!("accepted with chunk size {chunk}: {sql:?}");
        }
    }
    filter_all(sql.as_bytes(), usize::MAX)
        .unwrap_err()
        .to_string()
}

#[test]
fn shell_escape_is_refused() {
    let err = refused("SELECT 1;\n\\! touch /tmp/pwned\n");
    assert!(err.contains("line 2") && err.contains("\\! touch"), "{err}");
}

#[test]
fn every_kind_of_meta_command_is_refused() {
    for cmd in [
        "\\o /tmp/x",
        "\\copy t from '/etc/passwd'",
        "\\i /etc/passwd",
        "\\c postgres",
        "\\connect template1",
        "\\set ON_ERROR_STOP 0",
        "\\gexec",
        "\\setenv PATH /tmp",
        "\\w /tmp/out",
        "\\cd /",
        "\\lo_import /etc/passwd",
        "\\unset ON_ERROR_STOP",
        "\\ir x.sql",
        "\\g /tmp/out",
        "\\restrict",
        "\\restrict a b",
        "\\unrestrict ;x",
    ] {
        refused(&format!("{cmd}\n"));
    }
}

#[test]
fn meta_command_after_sql_on_the_same_line_is_refused() {
    refused("SELECT 1; \\! id\n");
    refused("SELECT 1 \\g /tmp/x\n");
    refused("CREATE TABLE t (a int)\\gexec\n");
}

#[test]
fn restrict_pair_is_stripped_and_line_numbers_kept() {
    let sql = "--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\nSET a = 1;\n\\unrestrict AbC123\n-- PostgreSQL database dump complete\n";
    let out = check(sql).unwrap();
    assert!(!out.contains("restrict"));
    assert_eq!(out.lines().count(), sql.lines().count());
}

#[test]
fn backslashes_inside_literals_are_sql() {
    let sql = "SELECT 'a\\b', E'\\\\ \\' \\! x', \"we\\ird\", $$ \\! $$, $fn$ body \\! $x$ $fn$;\n\
               -- comment \\! here\n/* block /* nested \\! */ \\o */ SELECT 1;\n";
    check(sql).unwrap();
}

#[test]
fn plain_string_ends_at_the_first_quote_even_after_backslash() {
    // With standard_conforming_strings on, psql ends 'abc\' at the second
    // quote, so the \! that follows is a real command.
    refused("SELECT 'abc\\' \\! id '\n");
}

#[test]
fn escape_string_rules_only_apply_to_a_lone_e() {
    check("SELECT E'it\\'s \\! fine';\n").unwrap();
    // "1.e" is a number token in psql, so the quote starts a plain string
    refused("SELECT 1.e'x\\' \\! id ';\n");
    refused("SELECT :e'x\\' \\! id ';\n");
    refused("SELECT fooe'x\\' \\! id ';\n");
}

#[test]
fn doubled_quotes_stay_inside_the_literal() {
    check("SELECT E'a''\\'b', 'it''s', \"a\"\"b\";\n").unwrap();
    refused("SELECT 'a'''\\! id\n");
}

#[test]
fn dollar_signs_that_are_not_quotes() {
    check("SELECT $1, a$b$c FROM t;\n").unwrap();
    refused("SELECT a$b$ \\! id $b$;\n");
}

#[test]
fn copy_data_may_hold_pg_dump_escapes() {
    let sql = "COPY public.t (a, b) FROM stdin;\n\\N\tC:\\\\dir\\nline\\ttab\n\\\\! not a command\n\\.\nSELECT 1;\n";
    check(sql).unwrap();
}

#[test]
fn copy_data_cannot_smuggle_other_backslash_sequences() {
    let err = refused("COPY public.t (a) FROM stdin;\n\\! id\n\\.\n");
    assert!(err.contains("COPY data"), "{err}");
    refused("COPY public.t (a) FROM stdin;\nx\\.y\n\\.\n");
    refused("COPY public.t (a) FROM stdin;\n\\.junk\n");
}

#[test]
fn after_the_end_of_copy_meta_commands_are_refused_again() {
    refused("COPY public.t (a) FROM stdin;\n1\n\\.\n\\! id\n");
    refused("COPY public.t (a) FROM stdin;\r\n1\r\n\\.\r\n\\! id\r\n");
}

#[test]
fn copy_out_is_not_copy_in() {
    // COPY (... FROM stdin) TO stdout ends with TO STDOUT: psql keeps
    // reading SQL, so the next line must be checked as SQL.
    refused("COPY (SELECT 1 FROM stdin) TO stdout;\n\\! id\n");
}

#[test]
fn several_copies_on_one_line_read_their_blocks_in_turn() {
    check("COPY a (x) FROM stdin; COPY b (y) FROM stdin;\n1\n\\.\n2\n\\.\nSELECT 1;\n").unwrap();
    refused("COPY a (x) FROM stdin; COPY b (y) FROM stdin;\n1\n\\.\n\\! id\n\\.\n");
}

#[test]
fn an_open_literal_on_a_copy_line_is_refused() {
    refused("COPY a (x) FROM stdin; SELECT '\n1\n\\.\n';\n");
}

#[test]
fn truncated_inputs_are_refused() {
    refused("SELECT 'abc");
    refused("COPY a (x) FROM stdin;\n1\n");
    refused("SELECT $$ body");
    let err = refused("--\n-- PostgreSQL database dump\n--\n\nSET a = 1;\n");
    assert!(err.contains("dump complete"), "{err}");
}

#[test]
fn a_real_odoo_dump_passes_untouched_except_restrict() {
    use std::io::Read;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/odoo-dumps/v17_mail_demo.zip"
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut sql = Vec::new();
    archive
        .by_name("dump.sql")
        .unwrap()
        .read_to_end(&mut sql)
        .unwrap();
    let mut guard = SqlGuard::new();
    let mut out = Vec::new();
    for piece in sql.chunks(64 * 1024) {
        guard.process(piece, &mut out).unwrap();
    }
    guard.finish().unwrap();
    assert_eq!(guard.stripped_lines(), 2);
    assert_eq!(
        out.len(),
        sql.len()
            - sql
                .split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"\\restrict") || l.starts_with(b"\\unrestrict"))
                .map(<[u8]>::len)
                .sum::<usize>()
    );
}
