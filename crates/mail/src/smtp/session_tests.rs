//! The conversation rules, byte for byte, without a socket.

use super::*;

const LIMITS: Limits = Limits {
    max_message_bytes: 1000,
    max_recipients: 3,
};

fn credentials() -> BuildCredentials {
    BuildCredentials::new([1; crate::SECRET_LEN])
}

/// A session and everything it said so far.
struct Client {
    session: Session,
    delivered: Vec<Delivery>,
    closed: bool,
}

impl Client {
    fn new() -> (Self, String) {
        let mut out = Vec::new();
        let session = Session::new(LIMITS, credentials(), &mut out);
        let client = Self {
            session,
            delivered: Vec::new(),
            closed: false,
        };
        (client, String::from_utf8(out).unwrap())
    }

    /// Sends `input`, returns the replies.
    fn send(&mut self, input: &str) -> String {
        let mut out = Vec::new();
        self.session.push(input.as_bytes());
        loop {
            match self.session.advance(&mut out) {
                Step::NeedInput => break,
                Step::Close => {
                    self.closed = true;
                    break;
                }
                Step::Deliver(delivery) => {
                    let seq = self.delivered.len() as u64 + 1;
                    self.delivered.push(delivery);
                    self.session.delivered(Ok(seq), &mut out);
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn logged_in() -> Self {
        let (mut client, _) = Self::new();
        let login = credentials().credentials_for(12);
        let plain = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", login.user, login.password));
        assert!(client
            .send(&format!("EHLO me\r\nAUTH PLAIN {plain}\r\n"))
            .contains("235 "));
        client
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn greets_and_advertises_size_and_auth_without_starttls() {
    let (mut client, greeting) = Client::new();
    assert!(greeting.starts_with("220 slipway"));
    let ehlo = client.send("EHLO client.example\r\n");
    assert!(ehlo.contains("250-SIZE 1000\r\n"), "{ehlo}");
    assert!(ehlo.ends_with("250 AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"));
    assert!(client.send("STARTTLS\r\n").starts_with("502 "));
}

#[test]
fn mail_without_login_is_refused_with_530() {
    let (mut client, _) = Client::new();
    client.send("EHLO me\r\n");
    assert!(client
        .send("MAIL FROM:<a@example.com>\r\n")
        .starts_with("530 "));
}

#[test]
fn auth_login_in_two_steps_and_with_an_initial_response() {
    let login = credentials().credentials_for(5);
    let (mut client, _) = Client::new();
    assert_eq!(client.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(
        client.send(&format!("{}\r\n", b64(&login.user))),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert!(client
        .send(&format!("{}\r\n", b64(&login.password)))
        .starts_with("235 "));
    assert_eq!(client.session.build_id(), Some(5));

    let (mut client, _) = Client::new();
    assert_eq!(
        client.send(&format!("AUTH LOGIN {}\r\n", b64(&login.user))),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert!(client
        .send(&format!("{}\r\n", b64(&login.password)))
        .starts_with("235 "));
}

#[test]
fn auth_plain_with_a_separate_response_line() {
    let login = credentials().credentials_for(5);
    let (mut client, _) = Client::new();
    assert_eq!(client.send("AUTH PLAIN\r\n"), "334 \r\n");
    let plain = b64(&format!("\0{}\0{}", login.user, login.password));
    assert!(client.send(&format!("{plain}\r\n")).starts_with("235 "));
}

#[test]
fn wrong_passwords_get_535_then_the_connection_closes() {
    let (mut client, _) = Client::new();
    let wrong = b64("\0build-5\0nope");
    assert!(client
        .send(&format!("AUTH PLAIN {wrong}\r\n"))
        .starts_with("535 "));
    assert!(client
        .send(&format!("AUTH PLAIN {wrong}\r\n"))
        .starts_with("535 "));
    assert!(client
        .send(&format!("AUTH PLAIN {wrong}\r\n"))
        .starts_with("421 "));
    assert!(client.closed);
    assert_eq!(client.session.build_id(), None);
}

#[test]
fn a_cancelled_or_garbled_auth_is_501_and_commands_work_again() {
    let (mut client, _) = Client::new();
    client.send("AUTH LOGIN\r\n");
    assert!(client.send("*\r\n").starts_with("501 "));
    assert!(client.send("AUTH PLAIN !!!\r\n").starts_with("501 "));
    assert!(client.send("AUTH CRAM-MD5\r\n").starts_with("504 "));
    assert!(client.send("NOOP\r\n").starts_with("250 "));
}

#[test]
fn a_message_is_delivered_dot_unstuffed_with_its_envelope() {
    let mut client = Client::logged_in();
    assert!(client
        .send("MAIL FROM:<a@example.com> SIZE=100\r\n")
        .starts_with("250 "));
    assert!(client
        .send("RCPT TO:<b@example.com>\r\n")
        .starts_with("250 "));
    assert!(client.send("DATA\r\n").starts_with("354 "));
    let reply = client.send("..first line\r\nSubject: x\r\n\r\n..\r\n...two\r\n.\r\n");
    assert_eq!(reply, "250 2.0.0 Ok: caught as mail 1 of build 12\r\n");
    let delivery = &client.delivered[0];
    assert_eq!(
        (delivery.build_id, delivery.from.as_str()),
        (12, "a@example.com")
    );
    assert_eq!(delivery.to, ["b@example.com"]);
    assert_eq!(
        delivery.raw,
        b".first line\r\nSubject: x\r\n\r\n.\r\n..two\r\n"
    );
}

#[test]
fn data_split_across_reads_and_pipelined_commands_after_it() {
    let mut client = Client::logged_in();
    client.send("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    client.send("Subject: split\r\n\r\nhello\r");
    let reply = client.send("\n.\r\nNOOP\r\n");
    assert_eq!(
        reply,
        "250 2.0.0 Ok: caught as mail 1 of build 12\r\n250 2.0.0 Ok\r\n"
    );
    assert_eq!(client.delivered[0].from, "");
    assert_eq!(client.delivered[0].raw, b"Subject: split\r\n\r\nhello\r\n");
}

#[test]
fn a_bare_lf_dot_does_not_end_the_data() {
    let mut client = Client::logged_in();
    client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    assert_eq!(client.send("smuggled\n.\nMAIL FROM:<x@example.com>\n"), "");
    assert!(client.send("\r\n.\r\n").starts_with("250 "));
    assert_eq!(client.delivered.len(), 1);
}

#[test]
fn an_oversized_message_gets_552_and_the_session_goes_on() {
    let mut client = Client::logged_in();
    assert!(client
        .send("MAIL FROM:<a@example.com> SIZE=5000\r\n")
        .starts_with("552 "));
    client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    let line = format!("{}\r\n", "x".repeat(99));
    for _ in 0..20 {
        assert_eq!(client.send(&line), "");
    }
    assert!(client.send(".\r\n").starts_with("552 "));
    assert!(client.delivered.is_empty());
    assert!(
        client
            .send("RCPT TO:<b@example.com>\r\n")
            .starts_with("503 "),
        "transaction reset"
    );
    client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    assert!(client.send("small\r\n.\r\n").starts_with("250 "));
}

#[test]
fn an_oversized_message_arriving_in_one_read_gets_552() {
    let mut client = Client::logged_in();
    client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    let reply = client.send(&format!("{}\r\n.\r\nNOOP\r\n", "x".repeat(1001)));
    assert!(
        reply.starts_with("552 ") && reply.ends_with("250 2.0.0 Ok\r\n"),
        "{reply}"
    );
    assert!(client.delivered.is_empty());
}

#[test]
fn recipients_beyond_the_cap_get_452() {
    let mut client = Client::logged_in();
    client.send("MAIL FROM:<a@example.com>\r\n");
    for n in 0..3 {
        assert!(client
            .send(&format!("RCPT TO:<r{n}@example.com>\r\n"))
            .starts_with("250 "));
    }
    assert!(client
        .send("RCPT TO:<r4@example.com>\r\n")
        .starts_with("452 "));
    client.send("DATA\r\nx\r\n.\r\n");
    assert_eq!(client.delivered[0].to.len(), 3);
}

#[test]
fn commands_out_of_order_get_503() {
    let mut client = Client::logged_in();
    assert!(client
        .send("RCPT TO:<b@example.com>\r\n")
        .starts_with("503 "));
    assert!(client.send("DATA\r\n").starts_with("503 "));
    client.send("MAIL FROM:<a@example.com>\r\n");
    assert!(client
        .send("MAIL FROM:<a@example.com>\r\n")
        .starts_with("503 "));
    assert!(client.send("DATA\r\n").starts_with("503 "));
    assert!(client.send("RSET\r\n").starts_with("250 "));
    assert!(client
        .send("RCPT TO:<b@example.com>\r\n")
        .starts_with("503 "));
}

#[test]
fn unknown_commands_get_502_and_too_many_errors_close() {
    let (mut client, _) = Client::new();
    assert!(client.send("FROB\r\n").starts_with("502 "));
    assert!(client.send("VRFY root\r\n").starts_with("502 "));
    let mut last = String::new();
    for _ in 0..MAX_ERRORS {
        last = client.send("FROB\r\n");
    }
    assert!(last.starts_with("421 "), "{last}");
    assert!(client.closed);
}

#[test]
fn quit_says_bye_and_closes() {
    let (mut client, _) = Client::new();
    assert_eq!(client.send("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(client.closed);
}
