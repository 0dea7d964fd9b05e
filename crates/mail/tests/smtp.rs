//! The mail catcher's SMTP server with real clients: lettre and Python's smtplib (what Odoo
//! uses), on a real socket, storing into a real folder.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use slipway_mail::smtp::SmtpCatcher;
use slipway_mail::{BuildCredentials, MailStore, SECRET_LEN};

/// A catcher on a free port, stopped when dropped.
struct Catcher {
    addr: SocketAddr,
    store: MailStore,
    credentials: BuildCredentials,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Catcher {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(max_message_bytes: Option<usize>) -> Self {
        Self::start_configured(max_message_bytes, None).await
    }

    async fn start_configured(max_message_bytes: Option<usize>, idle: Option<Duration>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::new(dir.path().join("mails"));
        let credentials = BuildCredentials::new([42; SECRET_LEN]);
        let mut catcher = SmtpCatcher::bind(
            "127.0.0.1:0".parse().unwrap(),
            store.clone(),
            credentials.clone(),
        )
        .await
        .unwrap();
        if let Some(max) = max_message_bytes {
            catcher = catcher.with_max_message_bytes(max);
        }
        if let Some(idle) = idle {
            catcher = catcher.with_idle_timeout(idle);
        }
        let addr = catcher.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(catcher.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            store,
            credentials,
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A lettre transport logged in as `build_id` (no TLS: the catcher offers none).
    fn lettre(&self, build_id: i64) -> AsyncSmtpTransport<Tokio1Executor> {
        let login = self.credentials.credentials_for(build_id);
        self.lettre_as(Some(Credentials::new(login.user, login.password)))
    }

    fn lettre_as(&self, credentials: Option<Credentials>) -> AsyncSmtpTransport<Tokio1Executor> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.addr.port())
            .timeout(Some(Duration::from_secs(20)));
        match credentials {
            Some(credentials) => builder
                .credentials(credentials)
                .authentication(vec![Mechanism::Plain, Mechanism::Login])
                .build(),
            None => builder.build(),
        }
    }

    /// Runs `script` with `smtplib` imported and `host`, `port`, `user`, `password` (of
    /// `build_id`) defined; returns its stdout.
    async fn python(&self, build_id: i64, script: &str) -> String {
        let login = self.credentials.credentials_for(build_id);
        let prelude = format!(
            "import json, smtplib\nhost, port = '127.0.0.1', {}\nuser, password = {:?}, {:?}\n",
            self.addr.port(),
            login.user,
            login.password
        );
        let out = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn message(subject: &str, to: &[&str], body: &str) -> Message {
    let mut builder = Message::builder()
        .from("Odoo <odoo@example.com>".parse::<Mailbox>().unwrap())
        .subject(subject);
    for to in to {
        builder = builder.to(to.parse().unwrap());
    }
    builder.body(body.to_owned()).unwrap()
}

/// What the store should hold of a message lettre sent: lettre ends DATA with `CRLF . CRLF`
/// right after the message, so that first line end becomes part of it.
fn as_received(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[tokio::test]
async fn lettre_with_the_builds_login_is_caught_listed_and_kept_byte_for_byte() {
    let catcher = Catcher::start().await;
    let email = message(
        "Your invoice",
        &["alice@example.com", "bob@example.com"],
        "Hello",
    );
    let response = catcher.lettre(7).send(email.clone()).await.unwrap();
    assert!(response.is_positive());

    let listed = catcher.store.list(7).unwrap();
    assert_eq!(listed.len(), 1);
    let mail = &listed[0];
    assert_eq!(mail.subject.as_deref(), Some("Your invoice"));
    assert_eq!(mail.envelope_from, "odoo@example.com");
    assert_eq!(mail.envelope_to, ["alice@example.com", "bob@example.com"]);
    let to: Vec<_> = mail
        .to
        .iter()
        .map(|a| a.address.as_deref().unwrap())
        .collect();
    assert_eq!(to, ["alice@example.com", "bob@example.com"]);
    assert_eq!(
        catcher.store.raw(7, mail.seq).unwrap(),
        as_received(email.formatted())
    );
    assert!(
        catcher.store.list(8).unwrap().is_empty(),
        "only build 7's mailbox"
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_535_and_nothing_is_stored() {
    let catcher = Catcher::start().await;
    let wrong = catcher.credentials.credentials_for(8).password;
    let transport = catcher.lettre_as(Some(Credentials::new("build-7".into(), wrong)));
    let error = transport
        .send(message("x", &["a@example.com"], "x"))
        .await
        .unwrap_err();
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("535"),
        "{error}"
    );
    assert!(catcher.store.list(7).unwrap().is_empty());
}

#[tokio::test]
async fn sending_without_auth_is_refused_with_530() {
    let catcher = Catcher::start().await;
    let error = catcher
        .lettre_as(None)
        .send(message("x", &["a@example.com"], "x"))
        .await
        .unwrap_err();
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("530"),
        "{error}"
    );
    assert!(!catcher.store.root().exists(), "nothing written");
}

#[tokio::test]
async fn an_oversized_message_is_refused_with_552_after_data() {
    let catcher = Catcher::start_with(Some(64 * 1024)).await;
    let big = "x".repeat(76).repeat(1200);
    let error = catcher
        .lettre(7)
        .send(message("big", &["a@example.com"], &big))
        .await
        .unwrap_err();
    assert_eq!(
        error.status().map(|c| c.to_string()).as_deref(),
        Some("552"),
        "{error}"
    );
    catcher
        .lettre(7)
        .send(message("small", &["a@example.com"], "ok"))
        .await
        .unwrap();
    let subjects: Vec<_> = catcher
        .store
        .list(7)
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(subjects, [Some("small".to_owned())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtplib_as_odoo_uses_it_with_plain_and_login() {
    let catcher = Catcher::start().await;
    let out = catcher
        .python(
            3,
            r#"
msg = b"From: odoo@example.com\r\nTo: a@example.com\r\nSubject: via PLAIN\r\n\r\nhi\r\n"
with smtplib.SMTP(host, port) as s:
    s.login(user, password)
    print(json.dumps(s.sendmail("odoo@example.com", ["a@example.com"], msg)))
with smtplib.SMTP(host, port) as s:
    s.ehlo()
    s.user, s.password = user, password
    code, _ = s.auth("LOGIN", s.auth_login)
    s.sendmail("odoo@example.com", ["b@example.com"], msg.replace(b"PLAIN", b"LOGIN"))
    print(code)
"#,
        )
        .await;
    assert_eq!(out, "{}\n235\n");
    let subjects: Vec<_> = catcher
        .store
        .list(3)
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        subjects,
        [Some("via LOGIN".to_owned()), Some("via PLAIN".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn odoos_send_message_with_an_international_address_uses_smtputf8() {
    let catcher = Catcher::start().await;
    let out = catcher
        .python(
            6,
            r#"
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Zoé <zoé@example.com>"
msg["To"] = "Jürgen <jürgen@example.com>"
msg["Subject"] = "Facture n° 7 — payée"
msg.set_content("Merci beaucoup, Zoé.")
msg.add_alternative("<p>Merci <b>beaucoup</b></p>", subtype="html")
with smtplib.SMTP(host, port) as s:
    s.ehlo_or_helo_if_needed()
    s.login(user, password)
    print(json.dumps(s.send_message(msg)))
"#,
        )
        .await;
    assert_eq!(out, "{}\n");
    let mail = &catcher.store.list(6).unwrap()[0];
    assert_eq!(mail.envelope_from, "zoé@example.com");
    assert_eq!(mail.envelope_to, ["jürgen@example.com"]);
    assert_eq!(mail.subject.as_deref(), Some("Facture n° 7 — payée"));
    assert!(mail.has_html);
    let parsed = catcher.store.get(6, 1).unwrap();
    assert_eq!(
        parsed.text.as_deref().map(str::trim),
        Some("Merci beaucoup, Zoé.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smtplib_gets_535_for_a_wrong_password_and_552_for_an_announced_size() {
    let catcher = Catcher::start_with(Some(1000)).await;
    let out = catcher
        .python(
            3,
            r#"
with smtplib.SMTP(host, port) as s:
    try:
        s.login(user, "0" * 32)
    except smtplib.SMTPAuthenticationError as e:
        print(e.smtp_code)
with smtplib.SMTP(host, port) as s:
    s.login(user, password)
    try:
        s.sendmail("odoo@example.com", ["a@example.com"], b"Subject: big\r\n\r\n" + b"x" * 2000)
    except smtplib.SMTPSenderRefused as e:
        print(e.smtp_code)
"#,
        )
        .await;
    assert_eq!(out, "535\n552\n");
    assert!(catcher.store.list(3).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dot_stuffed_body_round_trips_exactly() {
    let catcher = Catcher::start().await;
    catcher
        .python(
            4,
            r#"
msg = b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...three\r\nend.\r\n"
with smtplib.SMTP(host, port) as s:
    s.login(user, password)
    s.sendmail("odoo@example.com", ["a@example.com"], msg)
"#,
        )
        .await;
    let raw = catcher.store.raw(4, 1).unwrap();
    assert_eq!(
        raw,
        b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...three\r\nend.\r\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_beyond_one_hundred_are_refused_and_the_rest_delivered() {
    let catcher = Catcher::start().await;
    let out = catcher
        .python(
            5,
            r#"
to = ["r%d@example.com" % n for n in range(150)]
with smtplib.SMTP(host, port) as s:
    s.login(user, password)
    refused = s.sendmail("odoo@example.com", to, b"Subject: many\r\n\r\nhi\r\n")
print(len(refused), sorted({code for code, _ in refused.values()}))
"#,
        )
        .await;
    assert_eq!(out, "50 [452]\n");
    let mail = &catcher.store.list(5).unwrap()[0];
    assert_eq!(mail.envelope_to.len(), 100);
    assert_eq!(mail.envelope_to[99], "r99@example.com");
}

#[tokio::test]
async fn two_clients_at_once_each_fill_their_own_build() {
    let catcher = Catcher::start().await;
    let send = |build_id: i64| {
        let transport = catcher.lettre(build_id);
        async move {
            for n in 0..10 {
                let subject = format!("build {build_id} mail {n}");
                transport
                    .send(message(&subject, &["a@example.com"], "x"))
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(send(1), send(2));
    for build_id in [1, 2] {
        let mails = catcher.store.list(build_id).unwrap();
        assert_eq!(mails.len(), 10);
        let prefix = format!("build {build_id} ");
        assert!(mails
            .iter()
            .all(|m| m.subject.as_deref().unwrap().starts_with(&prefix)));
        assert_eq!(mails[0].seq, 10);
    }
}

#[tokio::test]
async fn the_catcher_stops_listening_on_shutdown() {
    let mut catcher = Catcher::start().await;
    catcher.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), catcher.task.take().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(catcher.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: cargo test -p slipway-server --test smtp -- --ignored --nocapture"]
async fn measure_smtplib_throughput() {
    let catcher = Catcher::start().await;
    let out = catcher
        .python(
            1,
            r#"
import time
msg = b"Subject: bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * 130
with smtplib.SMTP(host, port) as s:
    s.login(user, password)
    began = time.perf_counter()
    for _ in range(500):
        s.sendmail("odoo@example.com", ["a@example.com"], msg)
    elapsed = time.perf_counter() - began
print("500 x %d B on one connection: %.1f ms/mail" % (len(msg), elapsed * 2))
"#,
        )
        .await;
    println!("{out}");
    assert_eq!(catcher.store.list(1).unwrap().len(), 500);
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_421_and_frees_its_place() {
    let catcher = Catcher::start_configured(None, Some(Duration::from_millis(300))).await;
    let mut stream = tokio::net::TcpStream::connect(catcher.addr).await.unwrap();
    let mut said = Vec::new();
    // The greeting, then nothing from us: the catcher says why it closes, and closes.
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut said),
    )
    .await
    .expect("the idle connection was not closed");
    read.unwrap();
    let said = String::from_utf8_lossy(&said);
    assert!(said.starts_with("220 "), "{said}");
    assert!(said.contains("421 4.4.2 Idle too long"), "{said}");
    // A real client still gets through afterwards.
    catcher
        .lettre(7)
        .send(message("after", &["a@example.com"], "hi"))
        .await
        .unwrap();
}
