//! Parsing, summary and the safe HTML view of a message shaped like Odoo's (related inline
//! logo, alternative text/HTML, PDF attachment) with hostile HTML in it.

use super::*;
use crate::parse::{parse, summarize, MailAddress};

const QUOTATION: &[u8] = include_bytes!("../tests/fixtures/quotation.eml");

fn quotation() -> ParsedMail {
    let to = vec![
        "alice@example.com".to_owned(),
        "hidden@example.com".to_owned(),
    ];
    let summary = summarize(7, 1, "odoobot@example.com", &to, QUOTATION, "now".into());
    parse(summary, QUOTATION)
}

fn addr(name: Option<&str>, address: &str) -> MailAddress {
    MailAddress {
        name: name.map(str::to_owned),
        address: Some(address.to_owned()),
    }
}

#[test]
fn the_summary_has_headers_envelope_and_attachments() {
    let summary = quotation().summary;
    assert_eq!(summary.subject.as_deref(), Some("Quotation S00001 — été"));
    assert_eq!(
        summary.from,
        vec![addr(Some("Odoo Bot"), "odoobot@example.com")]
    );
    assert_eq!(
        summary.to,
        vec![
            addr(Some("Alice"), "alice@example.com"),
            addr(None, "bob@example.com")
        ]
    );
    assert_eq!(summary.cc, vec![addr(None, "carol@example.com")]);
    assert_eq!(
        summary.envelope_to,
        ["alice@example.com", "hidden@example.com"]
    );
    assert_eq!(summary.date.as_deref(), Some("2026-11-17T10:00:00+01:00"));
    assert_eq!(summary.message_id.as_deref(), Some("quote-1@example.com"));
    assert_eq!(summary.size, QUOTATION.len() as u64);
    assert!(summary.has_html);
    let pdf = summary
        .attachments
        .iter()
        .find(|a| a.name.as_deref() == Some("S00001.pdf"))
        .expect("the PDF is listed");
    assert_eq!(
        (pdf.content_type.as_str(), pdf.size),
        ("application/pdf", 19)
    );
}

#[test]
fn the_parsed_mail_has_text_headers_and_the_inline_logo() {
    let mail = quotation();
    assert_eq!(
        mail.text.as_deref().map(str::trim),
        Some("Hello Alice, <your> quotation is attached.")
    );
    assert!(mail
        .headers
        .iter()
        .any(|h| h.name == "Cc" && h.value == "carol@example.com"));
    assert_eq!(mail.inline_parts.len(), 1);
    assert_eq!(mail.inline_parts[0].content_id, "logo@odoo");
    assert_eq!(mail.inline_parts[0].content_type, "image/png");
}

#[test]
fn the_json_of_a_parsed_mail_never_carries_the_raw_html() {
    let json = serde_json::to_value(quotation()).unwrap();
    assert_eq!(json["subject"], "Quotation S00001 — été");
    assert!(json.get("html").is_none() && json.get("inline_parts").is_none());
    assert!(!json.to_string().contains("<script>"));
}

#[test]
fn safe_html_removes_scripts_handlers_remote_content_and_script_links() {
    let html = safe_html(&quotation());
    for gone in [
        "<script",
        "alert",
        "onerror",
        "javascript:",
        "tracker.example",
        "evil.example",
        "<form",
        "<iframe",
        "<style",
        "cid:",
        "background-image",
    ] {
        assert!(!html.contains(gone), "{gone} is still in {html}");
    }
    assert!(html.contains("Hello <b>Alice</b>"), "{html}");
    assert!(
        html.contains("color:red") || html.contains("color: red"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://odoo.example/my/orders/1\""),
        "{html}"
    );
    assert!(html.contains("noopener noreferrer"), "{html}");
    assert!(
        html.contains("<title>Quotation S00001 — été</title>"),
        "{html}"
    );
}

#[test]
fn a_cid_image_becomes_a_data_url_and_a_missing_one_loses_its_source() {
    let html = safe_html(&quotation());
    assert!(
        html.contains("src=\"data:image/png;base64,iVBORw0KGgo"),
        "{html}"
    );
    assert_eq!(html.matches("src=").count(), 1, "{html}");
    assert!(html.contains("alt=\"missing\""), "{html}");
}

#[test]
fn svg_and_oversized_inline_images_are_dropped() {
    let mut mail = quotation();
    mail.inline_parts[0].content_type = "image/svg+xml".into();
    assert!(!safe_html(&mail).contains("data:"));
    let mut mail = quotation();
    mail.inline_parts[0].data = vec![0; MAX_INLINE_IMAGE + 1];
    assert!(!safe_html(&mail).contains("data:"));
}

#[test]
fn a_text_only_mail_is_escaped_inside_pre() {
    let raw =
        b"From: a@example.com\r\nSubject: <b>hi</b>\r\n\r\n<script>alert(1)</script>\r\nbye\r\n";
    let mail = parse(summarize(1, 1, "", &[], raw, "now".into()), raw);
    assert!(!mail.summary.has_html);
    let html = safe_html(&mail);
    assert!(html.contains("<pre"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("<title>&lt;b&gt;hi&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn garbage_is_kept_with_an_empty_summary() {
    let raw = b"\xff\xfe not a mail at all";
    let summary = summarize(1, 1, "x@example.com", &[], raw, "now".into());
    assert_eq!(summary.size, raw.len() as u64);
    assert_eq!(summary.subject, None);
    assert!(!safe_html(&parse(summary, raw)).contains("<script"));
}

#[test]
#[ignore = "prints the view for a human to look at"]
fn print_quotation_view() {
    println!("{}", safe_html(&quotation()));
}
