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
