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
    /// What went wrong first, with its exception: the first error that is not a failing test
    /// (an import or registry error is the cause, whatever tests failed before it), else the
    /// first failing test.
    pub cause: Option<Cause>,
    /// Odoo's own count of the run's tests (`odoo.tests.result`), when it ran tests.
    pub tests: Option<TestCounts>,
}

/// An error record of the log and what its traceback says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Its `logger: message` (first line).
    pub record: String,
    /// The exception its traceback ends on (`ModuleNotFoundError: No module named 'x'`).
    pub exception: Option<String>,
    /// The Odoo module at fault: named by the record, else the deepest frame of the
    /// traceback in a module's folder.
    pub module: Option<String>,
    /// Whether it reports a failing test.
    pub test: bool,
}

impl std::fmt::Display for Cause {
    /// `Exception: it broke (module shop; odoo.modules.registry: Failed to load registry)`:
    /// the exception first, as it is what a reader needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let module = self
            .module
            .as_deref()
            .map(|m| format!("module {m}; "))
            .unwrap_or_default();
        match &self.exception {
            Some(e) => write!(f, "{e} ({module}{})", self.record),
            None if module.is_empty() => f.write_str(&self.record),
            None => write!(f, "{} ({})", self.record, module.trim_end_matches("; ")),
        }
    }
}

/// Odoo's count of a run's tests: `4 failed, 1 error(s) of 12 tests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TestCounts {
    /// Tests that failed an assertion.
    pub failed: u32,
    /// Tests that raised (and test modules that could not be imported).
    pub errors: u32,
    /// Tests run.
    pub run: u32,
}

impl TestCounts {
    /// From Odoo's summary `N failed, M error(s) of T tests[ when loading database 'x']`
    /// (`odoo/tests/result.py`, the same in 16.0 and 17.0).
    pub fn parse(message: &str) -> Option<TestCounts> {
        let (failed, rest) = message.split_once(" failed, ")?;
        let (errors, rest) = rest.split_once(" error(s) of ")?;
        let (run, _) = rest.split_once(" tests")?;
        Some(TestCounts {
            failed: failed.trim().parse().ok()?,
            errors: errors.trim().parse().ok()?,
            run: run.trim().parse().ok()?,
        })
    }

    /// Whether every test that ran passed.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

impl std::fmt::Display for TestCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed, {} error(s) of {} tests",
            self.failed, self.errors, self.run
        )
    }
}

/// Feeds an Odoo log line by line (for logs read as they are written).
#[derive(Debug, Clone, Default)]
pub struct LogClassifier {
    verdict: LogVerdict,
    /// The record being read is [`LogVerdict::cause`]: its traceback lines are read too.
    reading_cause: bool,
    /// Within a traceback's frames: the next unindented line is the exception.
    in_frames: bool,
    /// The cause's record named its module: its frames do not change it.
    module_named: bool,
}

impl LogClassifier {
    /// A classifier that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line; continuation lines (tracebacks) count for nothing, but the cause's are read
    /// for its exception and module.
    pub fn feed(&mut self, line: &str) {
        let Some((level, message)) = parse_header(line) else {
            if self.reading_cause {
                self.read_traceback_line(line);
            }
            return;
        };
        self.reading_cause = false;
        self.in_frames = false;
        let v = &mut self.verdict;
        if let Some(counts) = message
            .strip_prefix("odoo.tests.result: ")
            .and_then(TestCounts::parse)
        {
            v.tests = Some(counts);
        }
        match level {
            "ERROR" | "CRITICAL" => {
                v.errors += 1;
                let test = reports_a_test(message);
                if test {
                    v.test_errors += 1;
                }
                v.first_error.get_or_insert_with(|| line.to_string());
                // A test's failure is a cause until an error that is not a test's comes.
                if v.cause.as_ref().is_none_or(|c| c.test && !test) {
                    v.cause = Some(Cause {
                        record: message.to_string(),
                        exception: None,
                        module: module_of_record(message),
                        test,
                    });
                    self.reading_cause = true;
                    self.module_named = v.cause.as_ref().is_some_and(|c| c.module.is_some());
                }
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

    /// A line of the cause's traceback: `  File "path", line n, in f` frames (each with its
    /// code line), then the exception, unindented; chained exceptions start again, and the
    /// last one counts, as Python prints the one raised last.
    fn read_traceback_line(&mut self, line: &str) {
        let Some(cause) = self.verdict.cause.as_mut() else {
            return;
        };
        if let Some(frame) = line.strip_prefix("  File \"") {
            self.in_frames = true;
            let path = frame.split('"').next().unwrap_or_default();
            // The deepest frame in a module is where it broke, unless the record named one.
            if let Some(module) = module_of_path(path).filter(|_| !self.module_named) {
                cause.module = Some(module);
            }
        } else if line.starts_with("Traceback (most recent call last)") {
            self.in_frames = false;
        } else if self.in_frames && !line.is_empty() && !line.starts_with(' ') {
            cause.exception = Some(line.trim_end().to_string());
            self.in_frames = false;
        }
    }
}

/// The module a record names: its logger (`odoo.addons.shop.tests.test_x`) or its message
/// (`module shop: ...`, `Module shop: 1 failures...`, `Couldn't load module shop`).
fn module_of_record(record: &str) -> Option<String> {
    let (logger, message) = record.split_once(": ")?;
    let name = |s: &str| {
        let n: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!n.is_empty()).then_some(n)
    };
    if let Some(rest) = logger.strip_prefix("odoo.addons.") {
        return name(rest);
    }
    [
        "module ",
        "Module ",
        "Couldn't load module ",
        "Failed to load module ",
        "Can not `import odoo.addons.",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .and_then(name)
}

/// The module whose file a traceback frame is in: the folder holding a module's usual
/// parts (`shop/models/x.py`, `shop/migrations/1.1/pre.py`, `shop/tests/test_x.py`,
/// `shop/__init__.py`); never Odoo's own package nor an installed library.
fn module_of_path(path: &str) -> Option<String> {
    const PARTS: &[&str] = &[
        "models",
        "tests",
        "migrations",
        "upgrades",
        "wizard",
        "wizards",
        "controllers",
        "report",
        "populate",
        "__init__.py",
        "hooks.py",
    ];
    if path.contains("site-packages")
        || path.contains("dist-packages")
        || path.contains("/lib/python")
    {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    parts.windows(2).rev().find_map(|w| {
        let (folder, part) = (w[0], w[1]);
        let is_module = !folder.is_empty()
            && folder != "odoo"
            && folder != "addons"
            && folder
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        (is_module && PARTS.contains(&part)).then(|| folder.to_string())
    })
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

    /// Odoo 17 updating a module whose migration raises: the registry fails to load, the
    /// exception is only in the traceback.
    const FAILED_UPDATE: &str = "\
2026-12-06 16:00:01,000 7 INFO db odoo.modules.migration: module shop_core: Running migration [1.2>] pre-break
2026-12-06 16:00:01,100 7 ERROR db odoo.modules.registry: Failed to load registry
Traceback (most recent call last):
  File \"/home/odoo/src/odoo/odoo/modules/registry.py\", line 110, in new
    odoo.modules.load_modules(registry, force_demo, status, update_module)
  File \"/home/odoo/src/odoo/odoo/modules/migration.py\", line 232, in migrate_module
    migrate(self.cr, installed_version)
  File \"/home/odoo/src/user/shop_core/migrations/1.2/pre-break.py\", line 3, in migrate
    raise Exception('migration fails on purpose')
Exception: migration fails on purpose
2026-12-06 16:00:01,200 7 CRITICAL db odoo.service.server: Failed to initialize database `db`.
Traceback (most recent call last):
  File \"/home/odoo/src/odoo/odoo/service/server.py\", line 1306, in preload_registries
    registry = Registry.new(dbname, update_module=update_module)
Exception: migration fails on purpose
";

    #[test]
    fn a_failed_update_s_cause_is_its_exception_and_module() {
        let v = classify_log(FAILED_UPDATE);
        let cause = v.cause.unwrap();
        assert_eq!(
            cause.exception.as_deref(),
            Some("Exception: migration fails on purpose")
        );
        assert_eq!(cause.module.as_deref(), Some("shop_core"));
        assert_eq!(
            cause.record,
            "odoo.modules.registry: Failed to load registry"
        );
        assert!(!cause.test);
        assert_eq!(
            cause.to_string(),
            "Exception: migration fails on purpose (module shop_core; odoo.modules.registry: Failed to load registry)"
        );
        assert_eq!(v.tests, None);
    }

    #[test]
    fn an_import_error_is_the_cause_even_after_failing_tests() {
        // an OCA module whose tests import a package that is not installed, after another
        // module's test failed
        let log = "\
2026-12-06 16:00:00,500 7 ERROR db odoo.addons.web.tests.test_reports: ERROR: TestReports.test_x
Traceback (most recent call last):
  File \"/home/odoo/src/odoo/addons/web/tests/test_reports.py\", line 9, in test_x
    self.fail()
AssertionError: wkhtmltopdf
2026-12-06 16:00:01,100 7 ERROR db odoo.modules.registry: Failed to load registry
Traceback (most recent call last):
  File \"/home/odoo/src/odoo/odoo/modules/loading.py\", line 278, in load_module_graph
    suite = loader.make_suite([module_name], 'at_install')
  File \"/home/odoo/src/odoo/odoo/tests/loader.py\", line 30, in _get_tests_modules
    tests_mod = importlib.import_module(spec.name)
  File \"/usr/lib/python3.10/importlib/__init__.py\", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
  File \"/home/odoo/src/user/oca/base_rest/tests/__init__.py\", line 1, in <module>
    from . import test_a
  File \"/home/odoo/src/user/oca/base_rest/tests/test_a.py\", line 2, in <module>
    from odoo_test_helper import FakeModelLoader
ModuleNotFoundError: No module named 'odoo_test_helper'
";
        let cause = classify_log(log).cause.unwrap();
        assert_eq!(
            cause.exception.as_deref(),
            Some("ModuleNotFoundError: No module named 'odoo_test_helper'")
        );
        assert_eq!(cause.module.as_deref(), Some("base_rest"));
        assert!(!cause.test);
    }

    #[test]
    fn failing_tests_give_odoo_s_counts_and_the_first_failure() {
        let log = "\
2026-12-06 16:00:00,500 7 ERROR db odoo.addons.shop.tests.test_sale: FAIL: TestSale.test_total
Traceback (most recent call last):
  File \"/home/odoo/src/user/shop/tests/test_sale.py\", line 9, in test_total
    self.assertEqual(1, 2)
AssertionError: 1 != 2
2026-12-06 16:00:00,600 7 ERROR db odoo.addons.shop.tests.test_sale: FAIL: TestSale.test_tax
2026-12-06 16:00:02,000 7 ERROR db odoo.modules.loading: Module shop: 4 failures, 1 errors of 12 tests
2026-12-06 16:00:03,000 7 ERROR db odoo.tests.result: 4 failed, 1 error(s) of 12 tests when loading database 'db'
";
        let v = classify_log(log);
        assert_eq!(
            v.tests,
            Some(TestCounts {
                failed: 4,
                errors: 1,
                run: 12
            })
        );
        let cause = v.cause.unwrap();
        assert!(cause.test);
        assert_eq!(cause.exception.as_deref(), Some("AssertionError: 1 != 2"));
        assert_eq!(cause.module.as_deref(), Some("shop"));
        assert_eq!(
            cause.record,
            "odoo.addons.shop.tests.test_sale: FAIL: TestSale.test_total"
        );
        // passing tests are counted too (INFO), and no tests at all (WARNING)
        let passed = classify_log("2026-12-06 16:00:03,000 7 INFO db odoo.tests.result: 0 failed, 0 error(s) of 30 tests when loading database 'db'\n");
        assert!(passed.tests.unwrap().passed());
        assert_eq!(
            passed.tests.unwrap().to_string(),
            "0 failed, 0 error(s) of 30 tests"
        );
    }

    #[test]
    fn test_counts_parse_only_odoo_s_summary() {
        assert_eq!(
            TestCounts::parse("0 failed, 2 error(s) of 84 tests"),
            Some(TestCounts {
                failed: 0,
                errors: 2,
                run: 84
            })
        );
        assert_eq!(
            TestCounts::parse("Module web: 0 failures, 1 errors of 42 tests"),
            None
        );
        assert_eq!(TestCounts::parse("x failed, 1 error(s) of 2 tests"), None);
        let other_logger =
            "2026-12-06 16:00:03,000 7 INFO db odoo.x: 1 failed, 0 error(s) of 2 tests\n";
        assert_eq!(classify_log(other_logger).tests, None);
    }

    #[test]
    fn a_chained_exception_s_cause_is_the_last_raised() {
        let log = "\
2026-12-06 16:00:01,100 7 ERROR db odoo.modules.registry: Failed to load registry
Traceback (most recent call last):
  File \"/home/odoo/src/user/shop/models/sale.py\", line 3, in f
    x['a']
KeyError: 'a'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/home/odoo/src/user/shop/models/sale.py\", line 5, in f
    raise ValueError('no a')
ValueError: no a
";
        let cause = classify_log(log).cause.unwrap();
        assert_eq!(cause.exception.as_deref(), Some("ValueError: no a"));
        assert_eq!(cause.module.as_deref(), Some("shop"));
    }

    #[test]
    fn modules_come_from_module_folders_only() {
        assert_eq!(
            module_of_path("/src/odoo/odoo/addons/base/models/ir_model.py").as_deref(),
            Some("base")
        );
        assert_eq!(module_of_path("/src/odoo/odoo/tests/loader.py"), None);
        assert_eq!(module_of_path("/src/odoo/odoo/modules/loading.py"), None);
        assert_eq!(module_of_path("/src/odoo/odoo/addons/__init__.py"), None);
        assert_eq!(
            module_of_path("/venv/lib/python3.10/site-packages/requests/models/x.py"),
            None
        );
        assert_eq!(module_of_path("<frozen importlib._bootstrap>"), None);
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
