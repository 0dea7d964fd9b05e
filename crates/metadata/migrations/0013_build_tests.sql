-- Odoo's own count of a build's tests (`odoo.tests.result: N failed, M error(s) of T tests`),
-- when its run ran tests, and the log that failed (the UI's Logs tab opens it).
ALTER TABLE builds
    ADD COLUMN tests_failed int CHECK (tests_failed >= 0),
    ADD COLUMN tests_errors int CHECK (tests_errors >= 0),
    ADD COLUMN tests_run    int CHECK (tests_run >= 0),
    ADD COLUMN failed_log   text,
    ADD CHECK ((tests_failed IS NULL) = (tests_run IS NULL) AND (tests_errors IS NULL) = (tests_run IS NULL));
