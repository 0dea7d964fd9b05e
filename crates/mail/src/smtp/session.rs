//! One SMTP conversation as a pure state machine: bytes in, replies and finished messages
//! out. The connection task ([`super::connection`]) does the I/O and the storing.
//!
//! Commands and the DATA stream are parsed by `smtp-proto` (Stalwart's parser: it only ends
//! DATA on `<CRLF>.<CRLF>`, the SMTP-smuggling-safe reading, and removes dot-stuffing).

use crate::BuildCredentials;
use base64::Engine;
use smtp_proto::request::receiver::{
    DataReceiver, DummyDataReceiver, LineReceiver, RequestReceiver,
};
use smtp_proto::{Error as ParseError, MailFrom, RcptTo, Request, AUTH_LOGIN, AUTH_PLAIN};

/// The name the server gives itself in replies.
const HOSTNAME: &str = "slipway";
/// Protocol errors tolerated on one connection before it is closed.
const MAX_ERRORS: u32 = 20;
/// Failed logins tolerated on one connection before it is closed.
const MAX_AUTH_FAILURES: u32 = 3;

/// What one connection may do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest message accepted, in bytes (advertised as `SIZE`).
    pub max_message_bytes: usize,
    /// Recipients per message; more get `452` (the client may send them in another message).
    pub max_recipients: usize,
}

/// What the connection should do next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send the replies and read more bytes.
    NeedInput,
    /// Store this message, then call [`Session::delivered`].
    Deliver(Delivery),
    /// Send the replies and close the connection.
    Close,
}

/// A complete message to store.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub build_id: i64,
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

enum State {
    Command(RequestReceiver),
    AuthPlain(LineReceiver<()>),
    AuthLoginUser(LineReceiver<()>),
    AuthLoginPassword(LineReceiver<String>),
    Data(DataReceiver),
    DataTooLarge(DummyDataReceiver),
}

/// What one pass over the input produced.
enum Event {
    NeedInput,
    Request(Request<String>),
    BadRequest(ParseError),
    AuthLine(Vec<u8>),
    DataEnd,
    DataTooLargeEnd,
}

struct Envelope {
    from: String,
    to: Vec<String>,
}

/// One SMTP conversation.
pub(crate) struct Session {
    limits: Limits,
    credentials: BuildCredentials,
    state: State,
    /// The build that logged in.
    build_id: Option<i64>,
    envelope: Option<Envelope>,
    message: Vec<u8>,
    pending: Vec<u8>,
    errors: u32,
    auth_failures: u32,
}

impl Session {
    /// A new conversation; `out` receives the greeting.
    pub fn new(limits: Limits, credentials: BuildCredentials, out: &mut Vec<u8>) -> Self {
        reply(out, 220, &format!("{HOSTNAME} ESMTP Slipway mail catcher"));
        Self {
            limits,
            credentials,
            state: State::Command(RequestReceiver::default()),
            build_id: None,
            envelope: None,
            message: Vec::new(),
            pending: Vec::new(),
            errors: 0,
            auth_failures: 0,
        }
    }

    /// The build that logged in, if any.
    pub fn build_id(&self) -> Option<i64> {
        self.build_id
    }

    /// Bytes read from the client.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Handles the input received so far, writing replies to `out`.
    pub fn advance(&mut self, out: &mut Vec<u8>) -> Step {
        let input = std::mem::take(&mut self.pending);
        let mut bytes = input.iter();
        let step = loop {
            let step = match self.next_event(&mut bytes) {
                Event::NeedInput => Some(Step::NeedInput),
                Event::Request(request) => self.request(request, out),
                Event::BadRequest(error) => self.bad_request(error, out),
                Event::AuthLine(line) => self.auth_line(&line, out),
                Event::DataEnd => self.data_end(),
                Event::DataTooLargeEnd => {
                    self.state = State::Command(RequestReceiver::default());
                    self.envelope = None;
                    let max = self.limits.max_message_bytes;
                    reply(
                        out,
                        552,
                        &format!("5.3.4 Message exceeds the limit of {max} bytes"),
                    );
                    None
                }
            };
            if let Some(step) = step {
                break step;
            }
        };
        self.pending = bytes.as_slice().to_vec();
        step
    }

    /// Replies to the client once a [`Step::Deliver`] message is stored (`Ok(seq)`) or not.
    pub fn delivered(&mut self, stored: Result<u64, ()>, out: &mut Vec<u8>) {
        match (stored, self.build_id) {
            (Ok(seq), Some(build)) => reply(
                out,
                250,
                &format!("2.0.0 Ok: caught as mail {seq} of build {build}"),
            ),
            _ => reply(
                out,
                451,
                "4.3.0 The message could not be stored; try again later",
            ),
        }
    }

    fn next_event(&mut self, bytes: &mut std::slice::Iter<'_, u8>) -> Event {
        match &mut self.state {
            State::Command(receiver) => match receiver.ingest(bytes) {
                Ok(request) => Event::Request(request.into_owned()),
                Err(ParseError::NeedsMoreData { .. }) => Event::NeedInput,
                Err(error) => Event::BadRequest(error),
            },
            State::AuthPlain(line) | State::AuthLoginUser(line) => match line.ingest(bytes) {
                true => Event::AuthLine(std::mem::take(&mut line.buf)),
                false => Event::NeedInput,
            },
            State::AuthLoginPassword(line) => match line.ingest(bytes) {
                true => Event::AuthLine(std::mem::take(&mut line.buf)),
                false => Event::NeedInput,
            },
            State::Data(receiver) => {
                let ended = receiver.ingest(bytes, &mut self.message);
                let too_large = self.message.len() > self.limits.max_message_bytes;
                if too_large {
                    self.message = Vec::new();
                }
                match (ended, too_large) {
                    (true, false) => Event::DataEnd,
                    (true, true) => Event::DataTooLargeEnd,
                    (false, false) => Event::NeedInput,
                    (false, true) => {
                        // Read on to the end without keeping anything.
                        self.state = State::DataTooLarge(DummyDataReceiver::new_data(receiver));
                        self.next_event(bytes)
                    }
                }
            }
            State::DataTooLarge(receiver) => match receiver.ingest(bytes) {
                true => Event::DataTooLargeEnd,
                false => Event::NeedInput,
            },
        }
    }

    fn request(&mut self, request: Request<String>, out: &mut Vec<u8>) -> Option<Step> {
        match request {
            Request::Ehlo { .. } => {
                self.envelope = None;
                let size = self.limits.max_message_bytes;
                out.extend_from_slice(
                    format!(
                        "250-{HOSTNAME}\r\n250-SIZE {size}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                         250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
                    )
                    .as_bytes(),
                );
            }
            Request::Helo { .. } => {
                self.envelope = None;
                reply(out, 250, HOSTNAME);
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response, out),
            Request::Mail { from } => self.mail(from, out),
            Request::Rcpt { to } => self.rcpt(to, out),
            Request::Data => match &self.envelope {
                None => reply(out, 503, "5.5.1 MAIL FROM first"),
                Some(envelope) if envelope.to.is_empty() => reply(out, 503, "5.5.1 RCPT TO first"),
                Some(_) => {
                    let mut receiver = DataReceiver::new();
                    // Start as if after a line end, so a first line "." or ".." is seen.
                    receiver.ingest(&mut b"\r\n".iter(), &mut self.message);
                    self.message.clear();
                    self.state = State::Data(receiver);
                    reply(out, 354, "End data with <CR><LF>.<CR><LF>");
                }
            },
            Request::Rset => {
                self.envelope = None;
                reply(out, 250, "2.0.0 Ok");
            }
            Request::Noop { .. } => reply(out, 250, "2.0.0 Ok"),
            Request::Quit => {
                reply(out, 221, "2.0.0 Bye");
                return Some(Step::Close);
            }
            Request::Lhlo { .. }
            | Request::Bdat { .. }
            | Request::Vrfy { .. }
            | Request::Expn { .. }
            | Request::Help { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::StartTls => return self.error(out, 502, "5.5.1 Command not implemented"),
        }
        None
    }

    fn bad_request(&mut self, error: ParseError, out: &mut Vec<u8>) -> Option<Step> {
        let (code, text) = match error {
            ParseError::UnknownCommand => (502, "5.5.1 Command not implemented".to_owned()),
            ParseError::InvalidSenderAddress => (501, "5.1.7 Invalid sender address".into()),
            ParseError::InvalidRecipientAddress => (501, "5.1.3 Invalid recipient address".into()),
            ParseError::SyntaxError { syntax } => (501, format!("5.5.4 Syntax: {syntax}")),
            ParseError::InvalidParameter { param } => {
                (501, format!("5.5.4 Invalid parameter {param}"))
            }
            ParseError::UnsupportedParameter { param } => {
                (504, format!("5.5.4 Unsupported parameter {param}"))
            }
            ParseError::ResponseTooLong => (500, "5.5.2 Line too long".into()),
            ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
                (500, "5.5.2 Syntax error".into())
            }
        };
        self.error(out, code, &text)
    }

    /// Replies with an error; closes the connection once the client made too many.
    fn error(&mut self, out: &mut Vec<u8>, code: u16, text: &str) -> Option<Step> {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            reply(out, 421, "4.7.0 Too many errors, closing the connection");
            return Some(Step::Close);
        }
        reply(out, code, text);
        None
    }

    fn auth(&mut self, mechanism: u64, initial: String, out: &mut Vec<u8>) -> Option<Step> {
        if self.build_id.is_some() {
            return self.error(out, 503, "5.5.1 Already authenticated");
        }
        if self.envelope.is_some() {
            return self.error(
                out,
                503,
                "5.5.1 AUTH is not allowed during a mail transaction",
            );
        }
        match (mechanism, initial.is_empty()) {
            (AUTH_PLAIN, true) => {
                self.state = State::AuthPlain(LineReceiver::new(()));
                reply(out, 334, "");
                None
            }
            (AUTH_PLAIN, false) => self.auth_plain(initial.as_bytes(), out),
            (AUTH_LOGIN, true) => {
                self.state = State::AuthLoginUser(LineReceiver::new(()));
                reply(out, 334, "VXNlcm5hbWU6");
                None
            }
            (AUTH_LOGIN, false) => self.auth_login_user(initial.as_bytes(), out),
            _ => self.error(out, 504, "5.5.4 Use AUTH PLAIN or AUTH LOGIN"),
        }
    }

    fn auth_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Option<Step> {
        let state = std::mem::replace(&mut self.state, State::Command(RequestReceiver::default()));
        if line == b"*" {
            return self.error(out, 501, "5.0.0 Authentication cancelled");
        }
        match state {
            State::AuthPlain(_) => self.auth_plain(line, out),
            State::AuthLoginUser(_) => self.auth_login_user(line, out),
            State::AuthLoginPassword(receiver) => {
                let Some(password) = decode(line) else {
                    return self.error(out, 501, "5.5.2 Invalid base64");
                };
                self.login(&receiver.state, &String::from_utf8_lossy(&password), out)
            }
            _ => None,
        }
    }

    fn auth_plain(&mut self, response: &[u8], out: &mut Vec<u8>) -> Option<Step> {
        let Some(decoded) = decode(response) else {
            return self.error(out, 501, "5.5.2 Invalid base64");
        };
        let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authzid, user, password] = fields[..] else {
            return self.error(out, 501, "5.5.2 AUTH PLAIN wants authzid\\0user\\0password");
        };
        let user = String::from_utf8_lossy(user);
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return self.failed_login(out);
        }
        self.login(&user, &String::from_utf8_lossy(password), out)
    }

    fn auth_login_user(&mut self, response: &[u8], out: &mut Vec<u8>) -> Option<Step> {
        let Some(user) = decode(response) else {
            return self.error(out, 501, "5.5.2 Invalid base64");
        };
        let user = String::from_utf8_lossy(&user).into_owned();
        self.state = State::AuthLoginPassword(LineReceiver::new(user));
        reply(out, 334, "UGFzc3dvcmQ6");
        None
    }

    fn login(&mut self, user: &str, password: &str, out: &mut Vec<u8>) -> Option<Step> {
        match self.credentials.authenticate(user, password) {
            Some(build_id) => {
                self.build_id = Some(build_id);
                reply(out, 235, "2.7.0 Authentication successful");
                None
            }
            None => self.failed_login(out),
        }
    }

    fn failed_login(&mut self, out: &mut Vec<u8>) -> Option<Step> {
        self.auth_failures += 1;
        tracing::warn!(failures = self.auth_failures, "SMTP login refused");
        if self.auth_failures >= MAX_AUTH_FAILURES {
            reply(
                out,
                421,
                "4.7.0 Too many failed logins, closing the connection",
            );
            return Some(Step::Close);
        }
        reply(out, 535, "5.7.8 Authentication credentials invalid");
        None
    }

    fn mail(&mut self, from: MailFrom<String>, out: &mut Vec<u8>) {
        let max = self.limits.max_message_bytes;
        if self.build_id.is_none() {
            reply(
                out,
                530,
                "5.7.0 Authentication required (AUTH with the build's login)",
            );
        } else if self.envelope.is_some() {
            reply(out, 503, "5.5.1 Nested MAIL command");
        } else if from.size > max {
            reply(
                out,
                552,
                &format!("5.3.4 Message exceeds the limit of {max} bytes"),
            );
        } else {
            self.envelope = Some(Envelope {
                from: from.address,
                to: Vec::new(),
            });
            reply(out, 250, "2.1.0 Ok");
        }
    }

    fn rcpt(&mut self, to: RcptTo<String>, out: &mut Vec<u8>) {
        match &mut self.envelope {
            None => reply(out, 503, "5.5.1 MAIL FROM first"),
            Some(envelope) if envelope.to.len() >= self.limits.max_recipients => {
                reply(out, 452, "4.5.3 Too many recipients")
            }
            Some(envelope) => {
                envelope.to.push(to.address);
                reply(out, 250, "2.1.5 Ok");
            }
        }
    }

    fn data_end(&mut self) -> Option<Step> {
        self.state = State::Command(RequestReceiver::default());
        let envelope = self.envelope.take()?;
        let build_id = self.build_id?;
        Some(Step::Deliver(Delivery {
            build_id,
            from: envelope.from,
            to: envelope.to,
            raw: std::mem::take(&mut self.message),
        }))
    }
}

fn reply(out: &mut Vec<u8>, code: u16, text: &str) {
    out.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
}

fn decode(base64: &[u8]) -> Option<Vec<u8>> {
    let trimmed = base64.trim_ascii();
    if trimmed == b"=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
