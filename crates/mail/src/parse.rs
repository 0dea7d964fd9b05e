//! What a caught message says: its summary (listed) and its parsed content (shown), read with
//! `mail-parser`. Parsing never fails: a message the parser cannot make sense of is kept with
//! an empty summary, since a catcher must not lose what a build sent.

use mail_parser::{Address, Message, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};

/// One address of a `From`, `To` or `Cc` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAddress {
    /// The display name, when given.
    pub name: Option<String>,
    /// The address, when given (a group name alone has none).
    pub address: Option<String>,
}

/// An attachment: a part that is neither the text nor the HTML body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// Its file name, when the message gives one.
    pub name: Option<String>,
    /// Its MIME type (`application/pdf`).
    pub content_type: String,
    /// Its decoded size in bytes.
    pub size: u64,
}

/// What the list of a build's mails shows of each message; stored as `<seq>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSummary {
    /// The build that sent it.
    pub build_id: i64,
    /// Its number within the build (1, 2, ...; never reused).
    pub seq: u64,
    /// `MAIL FROM` (empty for the null sender `<>`).
    pub envelope_from: String,
    /// `RCPT TO`, in the order given: who the message would really have gone to, `Bcc`
    /// included.
    pub envelope_to: Vec<String>,
    /// The `From` header.
    pub from: Vec<MailAddress>,
    /// The `To` header.
    pub to: Vec<MailAddress>,
    /// The `Cc` header.
    pub cc: Vec<MailAddress>,
    /// The `Subject` header, decoded.
    pub subject: Option<String>,
    /// The `Date` header, as RFC 3339.
    pub date: Option<String>,
    /// The `Message-ID` header, without angle brackets.
    pub message_id: Option<String>,
    /// Size of the raw message in bytes.
    pub size: u64,
    /// Whether the message has an HTML body.
    pub has_html: bool,
    /// Its attachments.
    pub attachments: Vec<AttachmentInfo>,
    /// When Slipway received it (RFC 3339, UTC).
    pub received_at: String,
}

/// A header line, decoded for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderLine {
    /// The header name as written.
    pub name: String,
    /// Its value as written (encoded words left encoded), unfolded onto one line.
    pub value: String,
}

/// An inline part an HTML body refers to as `cid:<content_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePart {
    /// The `Content-ID`, without angle brackets.
    pub content_id: String,
    /// Its MIME type (`image/png`).
    pub content_type: String,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

/// A caught message, parsed for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedMail {
    /// The stored summary.
    #[serde(flatten)]
    pub summary: MailSummary,
    /// Every header, in order.
    pub headers: Vec<HeaderLine>,
    /// The text body (converted from the HTML body when there is no text part).
    pub text: Option<String>,
    /// The HTML body as sent: unsafe, never serialized; show it only through
    /// [`crate::safe_html`].
    #[serde(skip)]
    pub html: Option<String>,
    /// Parts with a `Content-ID` the HTML may show inline; never serialized.
    #[serde(skip)]
    pub inline_parts: Vec<InlinePart>,
}

/// The summary of `raw`, caught for `build_id` as message `seq`.
pub(crate) fn summarize(
    build_id: i64,
    seq: u64,
    envelope_from: &str,
    envelope_to: &[String],
    raw: &[u8],
    received_at: String,
) -> MailSummary {
    let message = MessageParser::default().parse(raw);
    let message = message.as_ref();
    MailSummary {
        build_id,
        seq,
        envelope_from: envelope_from.to_owned(),
        envelope_to: envelope_to.to_vec(),
        from: addresses(message.and_then(Message::from)),
        to: addresses(message.and_then(Message::to)),
        cc: addresses(message.and_then(Message::cc)),
        subject: message.and_then(Message::subject).map(str::to_owned),
        date: message.and_then(Message::date).map(|d| d.to_rfc3339()),
        message_id: message.and_then(Message::message_id).map(str::to_owned),
        size: raw.len() as u64,
        has_html: message.is_some_and(|m| m.html_bodies().any(|p| p.is_text_html())),
        attachments: message.map(attachments).unwrap_or_default(),
        received_at,
    }
}

/// `raw` parsed for display, with its stored `summary`.
pub(crate) fn parse(summary: MailSummary, raw: &[u8]) -> ParsedMail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ParsedMail {
            summary,
            headers: Vec::new(),
            text: Some(String::from_utf8_lossy(raw).into_owned()),
            html: None,
            inline_parts: Vec::new(),
        };
    };
    let headers = message
        .headers_raw()
        .map(|(name, value)| HeaderLine {
            name: name.to_owned(),
            value: unfold(value),
        })
        .collect();
    let html = message
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_owned);
    let inline_parts = message
        .parts
        .iter()
        .filter_map(|part| {
            let content_id = part.content_id()?.trim_matches(['<', '>']).to_owned();
            Some(InlinePart {
                content_id,
                content_type: mime_type(part),
                data: part.contents().to_vec(),
            })
        })
        .collect();
    ParsedMail {
        summary,
        headers,
        text: message.body_text(0).map(|t| t.into_owned()),
        html,
        inline_parts,
    }
}

fn addresses(address: Option<&Address<'_>>) -> Vec<MailAddress> {
    address
        .map(|a| {
            a.iter()
                .map(|addr| MailAddress {
                    name: addr.name().map(str::to_owned),
                    address: addr.address().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn attachments(message: &Message<'_>) -> Vec<AttachmentInfo> {
    message
        .attachments()
        .map(|part| AttachmentInfo {
            name: part.attachment_name().map(str::to_owned),
            content_type: mime_type(part),
            size: part.contents().len() as u64,
        })
        .collect()
}

fn mime_type<'x>(part: &impl MimeHeaders<'x>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "application/octet-stream".into(),
    }
}

/// A raw header value on one line: folding removed, surrounding space trimmed.
fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
