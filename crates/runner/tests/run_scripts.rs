//! Upgrade scripts run on a real database through the Python host.

mod common;

use common::{lines, run, World};
use slipway_odoo::UpdateRequest;
use slipway_runner::{run_plan, Error, RunEvent, RunOptions, ScriptFailure};

/// The failure of a run that must have failed in a script.
fn failure(result: Result<slipway_runner::RunReport, Error>) -> ScriptFailure {
    match result {
        Err(Error::ScriptFailed(f)) => *f,
        other => panic!("expected a script failure, got {other:?}"),
    }
}

const MANIFEST_11: &str = "{'name': 'Demo', 'version': '1.1', 'depends': ['base']}";

#[tokio::test]
async fn scripts_change_the_database_and_receive_the_old_version() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11)
        .file("demo/migrations/1.1/pre-create.py", "def migrate(cr, version):\n    cr.execute('CREATE TABLE seen (stage text, version text)')\n    cr.execute('INSERT INTO seen VALUES (%s, %s)', ('pre', version))\n")
        .file("demo/upgrades/1.1/post-fill.py", "def migrate(cr, version):\n    cr.execute('INSERT INTO seen VALUES (%s, %s)', ['post', version])\n")
        .file("demo/migrations/0.0.0/end-check.py", "def migrate(cr, version):\n    cr.execute('SELECT latest_version FROM ir_module_module WHERE name = %s', ('demo',))\n    cr.execute('INSERT INTO seen VALUES (%s, %s)', ('end', cr.fetchone()[0]))\n");
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, events) = run(&plan, w.db.url(), false).await;
    let report = result.unwrap();
    assert_eq!(report.scripts_run, 3);
    assert_eq!(
        lines(&events),
        [
            "module demo: Running migration [>1.1] pre-create",
            "module demo: Running migration [1.1>] post-fill",
            "module demo: Running migration [$0.0.0] end-check",
        ]
    );
    let seen = w
        .scalar("SELECT string_agg(stage || '=' || version, ' ' ORDER BY stage DESC) FROM seen")
        .await;
    // end scripts run after the module's new version is written.
    assert_eq!(
        seen.as_deref(),
        Some("pre=17.0.1.0 post=17.0.1.0 end=17.0.1.1")
    );
    assert_eq!(w.version_of("demo").await, "17.0.1.1");
    assert_eq!(
        w.scalar("SELECT state FROM ir_module_module WHERE name = 'demo'")
            .await
            .as_deref(),
        Some("installed")
    );
    assert!(events.iter().any(|e| matches!(e, RunEvent::ModuleDone { module, version } if module == "demo" && version == "17.0.1.1")));
}

#[tokio::test]
async fn a_failure_rolls_back_the_whole_run() {
    let w = World::new().await;
    w.installed("first", "17.0.1.0", &["base"]).await;
    w.installed("second", "17.0.1.0", &["first"]).await;
    w.file(
        "first/__manifest__.py",
        "{'version': '1.1', 'depends': ['base']}",
    )
    .file(
        "first/migrations/1.1/post-a.py",
        "def migrate(cr, version):\n    cr.execute('CREATE TABLE made_by_first (x int)')\n",
    )
    .file(
        "second/__manifest__.py",
        "{'version': '1.1', 'depends': ['first']}",
    )
    .file(
        "second/migrations/1.1/pre-boom.py",
        "def migrate(cr, version):\n    cr.execute('SELECT 1')\n    1 / 0\n",
    );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, _) = run(&plan, w.db.url(), false).await;
    let ScriptFailure {
        module,
        stage,
        script,
        traceback,
        committed_modules,
        ..
    } = failure(result);
    assert_eq!((module.as_str(), stage.as_str()), ("second", "pre"));
    assert!(
        script.ends_with("second/migrations/1.1/pre-boom.py"),
        "{script}"
    );
    assert!(
        traceback.contains("ZeroDivisionError") && traceback.contains("pre-boom.py"),
        "{traceback}"
    );
    assert!(committed_modules.is_empty());
    assert!(
        !w.table_exists("made_by_first").await,
        "first's work must be rolled back"
    );
    assert_eq!(w.version_of("first").await, "17.0.1.0");
}

#[tokio::test]
async fn commit_per_module_keeps_earlier_modules_like_odoo() {
    let w = World::new().await;
    w.installed("first", "17.0.1.0", &["base"]).await;
    w.installed("second", "17.0.1.0", &["first"]).await;
    w.file(
        "first/__manifest__.py",
        "{'version': '1.1', 'depends': ['base']}",
    )
    .file(
        "first/migrations/1.1/post-a.py",
        "def migrate(cr, version):\n    cr.execute('CREATE TABLE made_by_first (x int)')\n",
    )
    .file(
        "second/__manifest__.py",
        "{'version': '1.1', 'depends': ['first']}",
    )
    .file(
        "second/migrations/1.1/pre-a.py",
        "def migrate(cr, version):\n    cr.execute('CREATE TABLE made_by_second (x int)')\n",
    )
    .file(
        "second/migrations/1.1/post-boom.py",
        "def migrate(cr, version):\n    raise RuntimeError('nope')\n",
    );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, _) = run(&plan, w.db.url(), true).await;
    let ScriptFailure {
        committed_modules,
        message,
        ..
    } = failure(result);
    assert_eq!(committed_modules, ["first"]);
    assert!(message.contains("RuntimeError: nope"), "{message}");
    assert!(w.table_exists("made_by_first").await);
    assert_eq!(w.version_of("first").await, "17.0.1.1");
    assert!(!w.table_exists("made_by_second").await);
    assert_eq!(w.version_of("second").await, "17.0.1.0");
}

const CURSOR_API: &str = r#"
def migrate(cr, version):
    cr.execute("CREATE TABLE t (id int, name text)")
    cr.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert cr.rowcount == 3, cr.rowcount
    cr.execute("SELECT name FROM t WHERE id IN %s ORDER BY id", ((1, 3),))
    assert cr.fetchall() == [('a',), ('c',)]
    cr.execute("SELECT id FROM t WHERE name = %(n)s", {'n': 'b'})
    assert cr.fetchone() == (2,)
    assert cr.description[0][0] == 'id'
    cr.execute("SELECT id, name FROM t ORDER BY id")
    assert cr.dictfetchone() == {'id': 1, 'name': 'a'}
    assert len(cr.fetchmany(1)) == 1
    assert cr.dictfetchall() == [{'id': 3, 'name': 'c'}]
    try:
        with cr.savepoint():
            cr.execute("DELETE FROM t")
            cr.execute("SELECT no_such_column FROM t")
    except Exception:
        pass
    cr.execute("SELECT count(*) FROM t")
    assert cr.fetchone()[0] == 3, "savepoint rolled back the delete"
    assert cr.dbname
    print("cursor api ok on", cr.dbname)
    cr.execute("CREATE TABLE api_ok (db text)")
    cr.execute("INSERT INTO api_ok VALUES (%s)", (cr.dbname,))
"#;

#[tokio::test]
async fn cursor_behaves_like_odoos_with_psycopg2_semantics() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11)
        .file("demo/migrations/1.1/post-api.py", CURSOR_API);
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, events) = run(&plan, w.db.url(), false).await;
    result.unwrap();
    assert_eq!(
        w.scalar("SELECT db FROM api_ok").await.as_deref(),
        Some(w.db.name())
    );
    let printed = format!("cursor api ok on {}", w.db.name());
    assert!(
        events.contains(&RunEvent::Output(printed)),
        "script output is relayed: {events:?}"
    );
}

#[tokio::test]
async fn a_script_without_migrate_is_skipped_with_odoos_error() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11)
        .file("demo/migrations/1.1/pre-nothing.py", "X = 1\n")
        .file(
            "demo/migrations/1.1/pre-zzz.py",
            "def migrate(cr, version):\n    cr.execute('CREATE TABLE ran (x int)')\n",
        );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, events) = run(&plan, w.db.url(), false).await;
    let report = result.unwrap();
    assert_eq!(report.scripts_run, 1);
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].contains("must have a \"migrate(cr, installed_version)\" function"));
    assert!(events
        .iter()
        .any(|e| matches!(e, RunEvent::ScriptSkipped { .. })));
    assert!(w.table_exists("ran").await);
}

#[tokio::test]
async fn a_syntax_error_fails_the_run_and_names_the_script() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11)
        .file(
            "demo/migrations/1.1/pre-ok.py",
            "def migrate(cr, version):\n    cr.execute('CREATE TABLE ran (x int)')\n",
        )
        .file(
            "demo/migrations/1.1/pre-typo.py",
            "def migrate(cr, version)\n    pass\n",
        );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, _) = run(&plan, w.db.url(), false).await;
    let ScriptFailure {
        message,
        traceback,
        script,
        ..
    } = failure(result);
    assert!(
        message.contains("syntax error") && script.ends_with("pre-typo.py"),
        "{message}"
    );
    assert!(traceback.contains("SyntaxError"), "{traceback}");
    assert!(!w.table_exists("ran").await);
}

#[tokio::test]
async fn scripts_needing_the_orm_say_so() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11).file(
        "demo/migrations/1.1/post-orm.py",
        "from odoo.upgrade import util\n\ndef migrate(cr, version):\n    env = util.env(cr)\n",
    );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let (result, _) = run(&plan, w.db.url(), false).await;
    let err = failure(result);
    let text = err.to_string();
    assert!(
        text.contains("real Odoo runtime") && text.contains("odoo.upgrade"),
        "{text}"
    );
}

#[tokio::test]
async fn rerunning_without_a_version_increase_runs_nothing() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11)
        .file("demo/migrations/0.0.0/pre-always.py", "def migrate(cr, version):\n    cr.execute('CREATE TABLE IF NOT EXISTS runs (x int)')\n    cr.execute('INSERT INTO runs VALUES (1)')\n");
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    run(&plan, w.db.url(), false).await.0.unwrap();
    let again = w.plan(UpdateRequest::VersionBumps).await;
    assert!(again.modules.is_empty() && again.steps.is_empty());
    let forced = w.plan(UpdateRequest::Modules(vec!["demo".into()])).await;
    run(&forced, w.db.url(), false).await.0.unwrap();
    assert_eq!(
        w.scalar("SELECT count(*)::text FROM runs").await.as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn a_python_without_psycopg2_says_how_to_install_it() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11).file(
        "demo/migrations/1.1/pre-a.py",
        "def migrate(cr, version):\n    pass\n",
    );
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    // `python3 -S` leaves site-packages (where psycopg2 lives) out of sys.path.
    let wrapper = w.tree.path().join("python-without-site");
    std::fs::write(&wrapper, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let opts = RunOptions {
        python: wrapper.display().to_string(),
        commit_per_module: false,
        sandbox: None,
    };
    let err = run_plan(&plan, w.db.url(), &opts, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Psycopg2Missing(_)), "{err}");
    assert!(
        err.to_string().contains("-m pip install psycopg2-binary"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_interpreter_is_named() {
    let w = World::new().await;
    w.installed("demo", "17.0.1.0", &["base"]).await;
    w.file("demo/__manifest__.py", MANIFEST_11);
    let plan = w.plan(UpdateRequest::VersionBumps).await;
    let opts = RunOptions {
        python: "/nonexistent/python3".into(),
        commit_per_module: false,
        sandbox: None,
    };
    let err = run_plan(&plan, w.db.url(), &opts, &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/python3"), "{err}");
}
