//! Reading Odoo's logs: `2026-11-21 08:00:00,123 4242 ERROR db odoo.x: message`.

/// Warnings every Odoo run prints on these machines, not the code's fault:
/// they are counted apart ([`LogVerdict::ignored_warnings`]).
pub const HARMLESS_WARNINGS: &[&str] = &[
    "Running as user 'root' is a security risk",
    "pkg_resources is deprecated",
];

/// What an Odoo log says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogVerdict {
    /// `ERROR` and `CRITICAL` records.
    pub errors: usize,
    /// Those of them that report failing tests (a test's own logger, `odoo.addons.<m>.tests…`,
    /// or the runner's summaries), as opposed to an install that broke.
    pub test_errors: usize,
    /// `WARNING` records, harmless ones excepted.
    pub warnings: usize,
    /// The first error record's header line.
    pub first_error: Option<String>,
    /// The first counted warning's header line.
    pub first_warning: Option<String>,
    /// Warnings from [`HARMLESS_WARNINGS`].
    pub ignored_warnings: usize,
}

/// Feeds an Odoo log line by line (for logs read as they are written).
#[derive(Debug, Clone, Default)]
pub struct LogClassifier {
    verdict: LogVerdict,
}

impl LogClassifier {
    /// A classifier that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line; continuation lines (tracebacks) count for nothing.
    pub fn feed(&mut self, line: &str) {
        let Some((level, message)) = parse_header(line) else {
            return;
        };
        let v = &mut self.verdict;
        match level {
            "ERROR" | "CRITICAL" => {
                v.errors += 1;
                if reports_a_test(message) {
                    v.test_errors += 1;
                }
                v.first_error.get_or_insert_with(|| line.to_string());
            }
            "WARNING" if HARMLESS_WARNINGS.iter().any(|h| message.contains(h)) => {
                v.ignored_warnings += 1;
            }
            "WARNING" => {
                v.warnings += 1;
                v.first_warning.get_or_insert_with(|| line.to_string());
            }
            _ => {}
        }
    }

    /// What the lines fed so far say.
    pub fn verdict(&self) -> &LogVerdict {
        &self.verdict
    }
}

/// Whether a record (`logger: message`) reports failing tests: logged by a test module
/// (`odoo.addons.sale.tests.test_x`), by the test runner (`odoo.tests…`), or Odoo's summaries
/// of a module's tests (`odoo.modules.loading: Module web: 0 failures, 1 errors of 42 tests`,
/// `At least one test failed when loading the modules.`).
fn reports_a_test(record: &str) -> bool {
    let Some((logger, message)) = record.split_once(": ") else {
        return false;
    };
    let test_module = logger.starts_with("odoo.addons.") && logger.split('.').any(|p| p == "tests");
    let summary = logger == "odoo.modules.loading"
        && (message.contains(" tests") || message.contains("test failed"));
    test_module || logger == "odoo.tests" || logger.starts_with("odoo.tests.") || summary
}

/// Level and `logger: message` of a record's first line, if `line` is one:
/// date, time with milliseconds, pid, level, database, logger.
pub fn record_of(line: &str) -> Option<(&str, &str)> {
    parse_header(line)
}

fn parse_header(line: &str) -> Option<(&str, &str)> {
    let mut it = line.splitn(6, ' ');
    let (date, time, pid, level, _db, rest) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = date.len() == 10 && date.split('-').all(digits);
    let time_ok = time.len() == 12 && time.split([':', ',']).all(digits);
    let level_ok = matches!(level, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL");
    (date_ok && time_ok && digits(pid) && level_ok && rest.contains(": ")).then_some((level, rest))
}

/// Counts of ERROR/CRITICAL and WARNING records of an Odoo log, and the
/// first of each.
pub fn classify_log(text: &str) -> LogVerdict {
    let mut c = LogClassifier::new();
    text.lines().for_each(|l| c.feed(l));
    c.verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "\
2026-11-21 08:00:00,123 4242 INFO ? odoo: Odoo version 17.0
2026-11-21 08:00:01,001 4242 INFO b1 odoo.modules.loading: Modules loaded.
";

    #[test]
    fn failing_tests_are_told_apart_from_a_broken_install() {
        // as Odoo 17 logs failing tests (web's report tests without wkhtmltopdf)
        let tests_only = "\
2026-12-06 15:00:45,090 6207 ERROR db odoo.addons.web.tests.test_reports: ERROR: TestReports.test_report_session_cookie
Traceback (most recent call last):
2026-12-06 15:00:48,975 6207 ERROR db odoo.modules.loading: Module web: 0 failures, 1 errors of 42 tests
2026-12-06 15:00:55,147 6207 ERROR db odoo.modules.loading: At least one test failed when loading the modules.
2026-12-06 15:00:56,000 6207 ERROR db odoo.tests.result: 0 failed, 1 error(s) of 84 tests when loading database 'db'
";
        let v = classify_log(tests_only);
        assert_eq!((v.errors, v.test_errors), (4, 4));

        let broken = "\
2026-12-06 15:00:45,090 6207 ERROR db odoo.addons.web.tests.test_reports: ERROR: TestReports.test_x
2026-12-06 15:00:46,000 6207 CRITICAL db odoo.service.server: Failed to initialize database `db`.
2026-12-06 15:00:47,000 6207 ERROR db odoo.modules.loading: Some modules are not loaded, some dependencies or manifest may be missing: ['shop']
";
        let v = classify_log(broken);
        assert_eq!((v.errors, v.test_errors), (3, 1));
    }

    #[test]
    fn a_clean_log_is_clean() {
        assert_eq!(classify_log(CLEAN), LogVerdict::default());
        assert_eq!(classify_log(""), LogVerdict::default());
    }

    #[test]
    fn errors_and_criticals_count_once_per_record() {
        let log = format!(
            "{CLEAN}2026-11-21 08:00:02,500 4242 ERROR b1 odoo.addons.x.tests.test_a: FAIL: TestA.test_b\n\
             Traceback (most recent call last):\n  File \"x.py\", line 3\nAssertionError: 1 != 2\n\
             2026-11-21 08:00:03,000 4242 CRITICAL b1 odoo.service.server: Failed to initialize database `b1`.\n"
        );
        let v = classify_log(&log);
        assert_eq!(v.errors, 2);
        assert_eq!(v.warnings, 0);
        assert_eq!(
            v.first_error.as_deref(),
            Some("2026-11-21 08:00:02,500 4242 ERROR b1 odoo.addons.x.tests.test_a: FAIL: TestA.test_b")
        );
    }

    #[test]
    fn warnings_without_errors() {
        let log = format!(
            "{CLEAN}2026-11-21 08:00:02,500 4242 WARNING b1 odoo.modules.loading: module x: Unmet dependencies: y\n"
        );
        let v = classify_log(&log);
        assert_eq!((v.errors, v.warnings), (0, 1));
        assert!(v.first_warning.unwrap().contains("Unmet dependencies"));
    }

    #[test]
    fn harmless_warnings_are_counted_apart() {
        let log = "2026-11-21 08:00:00,001 1 WARNING ? odoo: Running as user 'root' is a security risk.\n\
                   2026-11-21 08:00:00,002 1 WARNING ? py.warnings: /x.py:1: DeprecationWarning: pkg_resources is deprecated as an API\n";
        let v = classify_log(log);
        assert_eq!((v.warnings, v.ignored_warnings), (0, 2));
    }

    #[test]
    fn lines_that_merely_mention_error_are_not_records() {
        let log = "ERROR: something printed by pip\n\
                   Traceback ... ERROR b1 x: y\n\
                   2026-11-21 08:00:00 1 ERROR b1 x: no milliseconds\n\
                   2026-11-21 08:00:00,001 1 NOTICE b1 x: unknown level\n\
                   2026-11-21 08:00:00,001 pid ERROR b1 x: pid not a number\n";
        assert_eq!(classify_log(log), LogVerdict::default());
    }

    #[test]
    fn a_classifier_fed_line_by_line_agrees() {
        let log = format!("{CLEAN}2026-11-21 08:00:02,500 4242 ERROR b1 odoo.sql_db: bad query\n");
        let mut c = LogClassifier::new();
        log.lines().for_each(|l| c.feed(l));
        assert_eq!(c.verdict(), &classify_log(&log));
    }
}
