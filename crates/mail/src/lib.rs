//! Slipway's mail catcher, without the network: what development and staging builds send is
//! kept here instead of leaving the machine.
//!
//! - [`MailStore`]: caught messages on disk per build, raw and summarized, capped, dropped
//!   with their build.
//! - [`ParsedMail`] and [`safe_html`]: a message parsed with `mail-parser` and shown as HTML
//!   that can neither run script nor fetch anything.
//! - [`BuildCredentials`]: the SMTP login of each build, derived from one server secret.
//!
//! - [`smtp`]: the catcher's SMTP server, which feeds the store (a pure session state machine
//!   driven by one tokio task per connection).
//!
//! **Invariants:** a caught message never leaves the machine; a mailbox never grows past its
//! cap; HTML is shown only after sanitizing, under a CSP that forbids every fetch.
//!
//! ## Design notes
//!
//! The mail catcher without the network. `MailStore` keeps each caught message under
//! `<data-dir>/mails/<build_id>/<seq>.eml` (the bytes received) and `<seq>.json` (its
//! `MailSummary`: envelope, From/To/Cc, subject, date, message-id, size, has_html, attachments,
//! received_at), both written temp + rename, the `.eml` first, so a `.json` marks a complete
//! message; numbers are never reused; a build keeps its newest 1,000 (`DEFAULT_CAP`); `drop_build`
//! removes them with the build. `ParsedMail` (headers, text, HTML, inline parts) comes from
//! `mail-parser`; `safe_html` renders it through `ammonia` (allow-list: no script, handlers, forms,
//! frames or `<style>`; links http/https/mailto/tel only; `style` attributes limited to URL-free
//! properties) and keeps images only as `data:` URLs: `cid:` parts that are raster images of at
//! most 2 MiB are inlined, every other source is dropped; text-only mail is escaped into `<pre>`.
//! `BuildCredentials` derives build `<id>`'s SMTP login (`build-<id>`, 32 hex digits of
//! HMAC-SHA256(secret, `smtp:build:<id>`)) from one secret (`<data-dir>/smtp/secret`, 32 random
//! bytes, 0600) and checks it in constant time: nothing per build is stored. It does not listen on
//! sockets or know which builds exist.
//!
//! `smtp` is the mail catcher's SMTP server (`SmtpCatcher`, started by `serve` on `--smtp-listen`,
//! default 127.0.0.1:2525): one task per connection over the pure `session.rs` state machine,
//! commands and DATA parsed by `smtp-proto`. AUTH PLAIN/LOGIN with a build's login is required
//! before `MAIL FROM` (530), at most 100 recipients (452 beyond), 25 MiB (advertised as SIZE, 552
//! beyond, whether announced or found during DATA), no STARTTLS; three failed logins or twenty
//! errors close the connection.

#![warn(missing_docs)]

mod credentials;
mod error;
mod html;
mod parse;
pub mod smtp;
mod store;

pub use credentials::{load_or_create_secret, BuildCredentials, SmtpLogin, SECRET_LEN};
pub use error::{MailError, Result};
pub use html::{safe_html, CONTENT_SECURITY_POLICY, MAX_INLINE_IMAGE};
pub use parse::{AttachmentInfo, HeaderLine, InlinePart, MailAddress, MailSummary, ParsedMail};
pub use store::{MailStore, DEFAULT_CAP};
