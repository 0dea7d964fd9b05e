//! The Odoo runtime on a real PostgreSQL: the stand-in (tests/fixtures/odoo-standin), or the
//! tree in `SLIPWAY_TEST_ODOO_SRC`.

mod odoo_common;

use std::path::Path;
use std::time::Duration;

use odoo_common::{on_standin, source, venv, write_module, PgRole};
use slipway_runner::odoo::{
    free_port, run_task, run_task_with, stop_pid, OdooServer, OdooTask, TestSelection,
};
use slipway_runner::read_db_state;

const GOOD: &str = "{'name': 'Good', 'version': '2.1', 'depends': ['base'], \
                    'data': ['data/partners.xml'], 'demo': ['demo/demo.xml']}";
const PARTNERS: &str = "<odoo><record model=\"res.partner\" id=\"partner_good\">\
                        <field name=\"name\">Good Partner</field></record></odoo>";
const DEMO: &str = "<odoo><record model=\"res.partner\" id=\"partner_demo\">\
                    <field name=\"name\">Demo Partner</field></record></odoo>";
const PASSING: &str = r#"from odoo.tests import TransactionCase


class TestGood(TransactionCase):
    def test_partner(self):
        self.env.cr.execute("SELECT count(*) FROM res_partner WHERE name = 'Good Partner'")
        self.assertEqual(self.env.cr.fetchone()[0], 1)
"#;
const FAILING: &str = r#"from odoo.tests import TransactionCase


class TestBad(TransactionCase):
    def test_wrong(self):
        self.assertEqual(1, 2, 'one is not two')
"#;

fn install(modules: &[&str], demo: bool, tests: bool) -> OdooTask {
    OdooTask::Install {
        modules: modules.iter().map(|m| m.to_string()).collect(),
        demo,
        tests: tests.then(TestSelection::default),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

struct Build {
    pg: PgRole,
    dir: tempfile::TempDir,
    db: String,
}

impl Build {
    async fn new(name: &str) -> Build {
        let mut pg = PgRole::new().await;
        let db = pg.db(name);
        Build {
            pg,
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    fn addons(&self) -> std::path::PathBuf {
        self.dir.path().join("addons")
    }

    fn conf(&self, port: u16) -> std::path::PathBuf {
        std::fs::create_dir_all(self.addons()).unwrap();
        let conf = self.dir.path().join("odoo.conf");
        self.pg
            .conf(
                &self.db,
                &[self.addons()],
                &self.dir.path().join("data"),
                port,
            )
            .write(&conf)
            .unwrap();
        conf
    }

    fn log(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn install_with_demo_data_and_passing_tests() {
    let b = Build::new("good").await;
    write_module(
        &b.addons(),
        "good_mod",
        GOOD,
        &[
            ("data/partners.xml", PARTNERS),
            ("demo/demo.xml", DEMO),
            ("tests/__init__.py", "from . import test_good\n"),
            ("tests/test_good.py", PASSING),
        ],
    );
    let conf = b.conf(free_port().unwrap());
    let venv = venv().await;
    let log = b.log("install.log");
    let mut lines = 0;
    let out = run_task_with(
        &venv,
        &source(),
        &conf,
        &OdooTask::Install {
            modules: vec!["good_mod".into()],
            demo: true,
            // only the module's own tests (a real Odoo would also run base's)
            tests: Some(TestSelection {
                tags: Some("/good_mod".into()),
            }),
        },
        &log,
        &[],
        &mut |_| lines += 1,
    )
    .await
    .unwrap();
    let text = read(&log);
    assert_eq!(out.exit_code, Some(0), "{text}");
    assert!(out.succeeded());
    assert_eq!(out.verdict.errors, 0, "{text}");
    assert!(lines > 5 && lines == text.lines().count());
    assert!(
        text.contains("odoo.modules.loading: Modules loaded."),
        "{text}"
    );
    assert!(text.contains("Starting TestGood.test_partner"), "{text}");
    assert!(text.contains("0 failed, 0 error(s) of 1 tests"), "{text}");
    let state = read_db_state(&b.pg.url(&b.db)).await.unwrap();
    let good = state.modules.iter().find(|m| m.name == "good_mod").unwrap();
    assert_eq!(
        (good.state.as_str(), good.latest_version.as_deref()),
        ("installed", Some("17.0.2.1"))
    );
    assert_eq!(state.series().unwrap().to_string(), "17.0");
    let pool = sqlx::PgPool::connect(&b.pg.url(&b.db)).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM res_partner WHERE name IN ('Good Partner', 'Demo Partner') ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(names, ["Demo Partner", "Good Partner"]);
    if !on_standin() {
        pool.close().await;
        return;
    }
    // the attachment base wrote is in the filestore, content-addressed
    let (fname, sum): (String, String) =
        sqlx::query_as("SELECT store_fname, checksum FROM ir_attachment LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let stored = b.dir.path().join("data/filestore").join(&b.db).join(&fname);
    assert!(stored.is_file(), "{}", stored.display());
    assert_eq!(fname, format!("{}/{sum}", &sum[..2]));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_demo_no_demo_records() {
    if !on_standin() {
        return;
    }
    let b = Build::new("nodemo").await;
    write_module(
        &b.addons(),
        "good_mod",
        GOOD,
        &[("data/partners.xml", PARTNERS), ("demo/demo.xml", DEMO)],
    );
    let conf = b.conf(free_port().unwrap());
    let out = run_task(
        &venv().await,
        &source(),
        &conf,
        &install(&["good_mod"], false, false),
        &b.log("install.log"),
        &[],
    )
    .await
    .unwrap();
    assert!(out.succeeded(), "{}", read(&b.log("install.log")));
    let pool = sqlx::PgPool::connect(&b.pg.url(&b.db)).await.unwrap();
    let demo: i64 =
        sqlx::query_scalar("SELECT count(*) FROM res_partner WHERE name = 'Demo Partner'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(demo, 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_test_fails_the_run() {
    let b = Build::new("failing").await;
    write_module(
        &b.addons(),
        "bad_tests",
        "{'name': 'Bad tests', 'depends': ['base']}",
        &[
            ("tests/__init__.py", "from . import test_bad\n"),
            ("tests/test_bad.py", FAILING),
        ],
    );
    let conf = b.conf(free_port().unwrap());
    let log = b.log("install.log");
    let out = run_task(
        &venv().await,
        &source(),
        &conf,
        &install(&["bad_tests"], true, true),
        &log,
        &[],
    )
    .await
    .unwrap();
    let text = read(&log);
    assert_eq!(out.exit_code, Some(1), "{text}");
    assert!(!out.succeeded());
    assert!(out.verdict.errors >= 1, "{text}");
    let first = out.verdict.first_error.unwrap();
    assert!(
        first.contains("ERROR")
            && first.contains("odoo.addons.bad_tests.tests.test_bad: FAIL: TestBad.test_wrong"),
        "{first}"
    );
    assert!(
        text.contains("one is not two"),
        "the traceback is in the log: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn test_tags_select_tests() {
    if !on_standin() {
        return;
    }
    let b = Build::new("tags").await;
    write_module(
        &b.addons(),
        "bad_tests",
        "{'name': 'Bad tests', 'depends': ['base']}",
        &[
            ("tests/__init__.py", "from . import test_bad\n"),
            ("tests/test_bad.py", FAILING),
        ],
    );
    let conf = b.conf(free_port().unwrap());
    let task = OdooTask::Install {
        modules: vec!["bad_tests".into()],
        demo: true,
        tests: Some(TestSelection {
            tags: Some("-/bad_tests".into()),
        }),
    };
    let log = b.log("install.log");
    let out = run_task(&venv().await, &source(), &conf, &task, &log, &[])
        .await
        .unwrap();
    assert!(out.succeeded(), "{}", read(&log));
    assert!(read(&log).contains("of 0 tests"), "{}", read(&log));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_manifest_fails() {
    if !on_standin() {
        return;
    }
    let b = Build::new("broken").await;
    write_module(
        &b.addons(),
        "broken",
        "{'name': 'Broken', 'depends': ['base'],",
        &[],
    );
    let conf = b.conf(free_port().unwrap());
    let log = b.log("install.log");
    let out = run_task(
        &venv().await,
        &source(),
        &conf,
        &install(&["broken"], true, false),
        &log,
        &[],
    )
    .await
    .unwrap();
    assert_ne!(out.exit_code, Some(0));
    assert!(out.verdict.errors > 0);
    assert!(
        out.verdict
            .first_error
            .unwrap()
            .contains("Couldn't load manifest of module broken"),
        "{}",
        read(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_that_raises_or_malformed_xml_fails_and_installs_nothing() {
    if !on_standin() {
        return;
    }
    let b = Build::new("raises").await;
    write_module(
        &b.addons(),
        "raises",
        "{'name': 'R', 'depends': ['base']}",
        &[],
    );
    std::fs::write(
        b.addons().join("raises/__init__.py"),
        "raise RuntimeError('boom at import')\n",
    )
    .unwrap();
    write_module(
        &b.addons(),
        "bad_xml",
        "{'name': 'X', 'depends': ['base'], 'data': ['v.xml']}",
        &[(
            "v.xml",
            "<odoo><record model=\"res.partner\" id=\"p\"></odoo>",
        )],
    );
    let conf = b.conf(free_port().unwrap());
    let venv = venv().await;
    for module in ["raises", "bad_xml"] {
        let log = b.log(&format!("{module}.log"));
        let out = run_task(
            &venv,
            &source(),
            &conf,
            &install(&[module], true, false),
            &log,
            &[],
        )
        .await
        .unwrap();
        assert_eq!(out.exit_code, Some(1), "{}", read(&log));
        assert!(
            read(&log).contains(&format!("Failed to load module {module}")),
            "{}",
            read(&log)
        );
    }
    assert!(read(&b.log("raises.log")).contains("boom at import"));
    let state = read_db_state(&b.pg.url(&b.db)).await.unwrap();
    for m in state
        .modules
        .iter()
        .filter(|m| m.name == "raises" || m.name == "bad_xml")
    {
        assert_eq!(m.state, slipway_odoo::ModuleState::Uninstalled, "{m:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn warnings_without_errors() {
    if !on_standin() {
        return;
    }
    let b = Build::new("warn").await;
    write_module(
        &b.addons(),
        "warns",
        "{'name': 'W', 'depends': ['base'], 'standin_warning': True}",
        &[],
    );
    let conf = b.conf(free_port().unwrap());
    let out = run_task(
        &venv().await,
        &source(),
        &conf,
        &install(&["warns"], true, false),
        &b.log("i.log"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.verdict.errors, 0);
    assert!(out.verdict.warnings > 0);
    assert!(out.verdict.first_warning.unwrap().contains("WARNING"));
}

async fn post_json(url: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn server_starts_healthy_authenticates_and_stops() {
    let b = Build::new("srv").await;
    let port = free_port().unwrap();
    let conf = b.conf(port);
    let venv = venv().await;
    let src = source();
    let log = b.log("install.log");
    let out = run_task(
        &venv,
        &src,
        &conf,
        &install(&["base"], false, false),
        &log,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, Some(0), "{}", read(&log));
    eprintln!("install base: {:?} in {:?}", out.verdict, out.duration);
    let odoo_log = b.log("odoo.log");
    let mut server = OdooServer::start(&venv, &src, &conf, &odoo_log, &[])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    server
        .wait_healthy(port, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("server healthy after {:?}", started.elapsed());
    let base = format!("http://127.0.0.1:{port}");
    let health: serde_json::Value = reqwest::get(format!("{base}/web/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "pass");
    let params = serde_json::json!({"jsonrpc": "2.0", "params": {"db": b.db, "login": "admin", "password": "admin"}});
    let resp = post_json(&format!("{base}/web/session/authenticate"), params).await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("session_id="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a session_id cookie");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["uid"], 2, "{body}");
    let wrong = serde_json::json!({"params": {"db": b.db, "login": "admin", "password": "nope"}});
    let denied: serde_json::Value = post_json(&format!("{base}/web/session/authenticate"), wrong)
        .await
        .json()
        .await
        .unwrap();
    assert!(denied["error"].is_object(), "{denied}");
    if on_standin() {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(format!("{base}/web"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(page.text().await.unwrap().contains("Logged in as admin"));
        let anonymous = client.get(format!("{base}/odoo")).send().await.unwrap();
        assert_eq!(anonymous.status(), 303);
        let manager = client
            .get(format!("{base}/web/database/manager"))
            .send()
            .await
            .unwrap();
        assert_eq!(manager.status(), 403, "list_db = False");
    }
    let pid = server.pid();
    server.stop(Duration::from_secs(10)).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port still open"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );
    if on_standin() {
        assert!(
            read(&odoo_log).contains("Initiating shutdown"),
            "{}",
            read(&odoo_log)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_fails_to_start_reports_its_log_tail() {
    if !on_standin() {
        return;
    }
    let b = Build::new("nostart").await;
    write_module(
        &b.addons(),
        "sulky",
        "{'name': 'S', 'depends': ['base']}",
        &[("standin_fail_on_start", "")],
    );
    let port = free_port().unwrap();
    let conf = b.conf(port);
    let venv = venv().await;
    let out = run_task(
        &venv,
        &source(),
        &conf,
        &install(&["sulky"], true, false),
        &b.log("i.log"),
        &[],
    )
    .await
    .unwrap();
    assert!(out.succeeded(), "{}", read(&b.log("i.log")));
    let mut server = OdooServer::start(&venv, &source(), &conf, &b.log("odoo.log"), &[])
        .await
        .unwrap();
    let err = server
        .wait_healthy(port, Duration::from_secs(60))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("exited with code 1"), "{text}");
    assert!(
        text.contains("module sulky refuses to start"),
        "the log tail: {text}"
    );
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_server_is_stopped_by_pid() {
    let b = Build::new("detach").await;
    let port = free_port().unwrap();
    let conf = b.conf(port);
    let venv = venv().await;
    let mut server = OdooServer::start(&venv, &source(), &conf, &b.log("odoo.log"), &[])
        .await
        .unwrap();
    server
        .wait_healthy(port, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = server.detach();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "detached server still serves"
    );
    assert!(stop_pid(pid, Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped by pid"
    );
}

/// Processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_running_task_kills_its_process_group() {
    if !on_standin() {
        return;
    }
    let b = Build::new("killed").await;
    write_module(
        &b.addons(),
        "slow",
        "{'name': 'Slow', 'depends': ['base']}",
        &[],
    );
    std::fs::write(
        b.addons().join("slow/__init__.py"),
        "import subprocess, time\nsubprocess.Popen(['sleep', '317'])\ntime.sleep(300)\n",
    )
    .unwrap();
    let conf = b.conf(free_port().unwrap());
    let venv = venv().await;
    let log = b.log("install.log");
    let task = install(&["slow"], true, false);
    let src = source();
    let run = run_task(&venv, &src, &conf, &task, &log, &[]);
    let needle = conf.display().to_string();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run).await;
    assert!(outcome.is_err(), "the task should still be running");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(processes_with(&needle).is_empty(), "odoo-bin left running");
    assert!(
        processes_with("sleep 317").is_empty(),
        "its child left running"
    );
    assert!(
        read(&log).contains("Loading module slow"),
        "the log up to the kill is kept: {}",
        read(&log)
    );
}

/// A minimal SMTP server that accepts every message and hands its text over the channel.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.unwrap();
                            let mut text = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                text.push_str(&l);
                                text.push('\n');
                            }
                            let _ = tx.send(text);
                            b"250 queued\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                    if verb == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_to_the_configured_smtp_unless_a_mail_server_record_is_active() {
    if !on_standin() {
        return;
    }
    let b = Build::new("mail").await;
    let (conf_port, mut conf_inbox) = smtp_sink().await;
    let (record_port, mut record_inbox) = smtp_sink().await;
    let port = free_port().unwrap();
    std::fs::create_dir_all(b.addons()).unwrap();
    let conf = b.dir.path().join("odoo.conf");
    let mut c =
        b.pg.conf(&b.db, &[b.addons()], &b.dir.path().join("data"), port);
    c.smtp = Some(slipway_runner::odoo::SmtpSettings {
        host: "127.0.0.1".into(),
        port: conf_port,
        user: None,
        password: None,
        ssl: false,
    });
    c.write(&conf).unwrap();
    let venv = venv().await;
    let out = run_task(
        &venv,
        &source(),
        &conf,
        &install(&["mail"], false, false),
        &b.log("i.log"),
        &[],
    )
    .await
    .unwrap();
    assert!(out.succeeded(), "{}", read(&b.log("i.log")));
    let mut server = OdooServer::start(&venv, &source(), &conf, &b.log("odoo.log"), &[])
        .await
        .unwrap();
    server
        .wait_healthy(port, Duration::from_secs(60))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/standin/send_mail");
    let mail =
        serde_json::json!({"to": "someone@example.com", "subject": "Build ready", "body": "hello"});
    let sent: serde_json::Value = post_json(&url, mail.clone()).await.json().await.unwrap();
    assert_eq!(sent["state"], "sent", "{sent}");
    let text = conf_inbox.recv().await.unwrap();
    assert!(text.contains("Subject: Build ready"), "{text}");

    let pool = sqlx::PgPool::connect(&b.pg.url(&b.db)).await.unwrap();
    sqlx::query("INSERT INTO ir_mail_server (name, smtp_host, smtp_port) VALUES ('company', '127.0.0.1', $1)")
        .bind(record_port as i32)
        .execute(&pool)
        .await
        .unwrap();
    let sent: serde_json::Value = post_json(&url, mail).await.json().await.unwrap();
    assert_eq!(sent["state"], "sent", "{sent}");
    assert!(record_inbox
        .recv()
        .await
        .unwrap()
        .contains("Subject: Build ready"));
    assert!(
        conf_inbox.try_recv().is_err(),
        "the active ir_mail_server is preferred"
    );
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_mail WHERE state = 'sent'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(logged, 2);
    pool.close().await;
    server.stop(Duration::from_secs(5)).await;
}
