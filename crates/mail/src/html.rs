//! The HTML view of a caught message: nothing in it can run or reach the network.
//!
//! The HTML body goes through `ammonia` (an allow-list sanitizer on html5ever, the HTML
//! parser of Servo): scripts, event handlers, forms, frames, `<style>` blocks and unknown tags
//! go; links keep only `http`, `https`, `mailto` and `tel` targets and open in a new tab
//! without referrer; inline `style` attributes keep only an allow-list of layout and colour
//! properties, none of which can take a URL. Images are kept only when they need no network:
//! `cid:` references to an inline `image/*` part of the message of at most
//! [`MAX_INLINE_IMAGE`] bytes become `data:` URLs, as do `data:image/` URLs already there;
//! every other image source (remote, relative, a missing or too large `cid:` part) is dropped.
//! A message without HTML shows its text escaped inside `<pre>`.
//!
//! The HTTP layer adds [`CONTENT_SECURITY_POLICY`] as a second wall.

use std::collections::{HashMap, HashSet};

use base64::Engine;

use crate::parse::ParsedMail;

/// The largest inline image shown as a `data:` URL, in bytes.
pub const MAX_INLINE_IMAGE: usize = 2 * 1024 * 1024;

/// The `Content-Security-Policy` to send with [`safe_html`]: no script, no remote fetch of any
/// kind, images only from `data:`, inline styles only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src data:; \
     style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; \
     sandbox allow-popups allow-popups-to-escape-sandbox";

/// Tags and attributes e-mail layouts need on top of ammonia's defaults.
const LAYOUT_ATTRIBUTES: &[&str] = &[
    "align",
    "valign",
    "width",
    "height",
    "bgcolor",
    "border",
    "cellpadding",
    "cellspacing",
    "style",
    "dir",
    "lang",
    "title",
    "color",
];
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "line-height",
    "text-align",
    "text-decoration",
    "text-transform",
    "vertical-align",
    "white-space",
    "letter-spacing",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-radius",
    "width",
    "max-width",
    "min-width",
    "height",
    "max-height",
    "min-height",
    "display",
    "table-layout",
];
const LINK_SCHEMES: &[&str] = &["http:", "https:", "mailto:", "tel:"];

/// A complete HTML document showing `mail` safely (see the module docs).
pub fn safe_html(mail: &ParsedMail) -> String {
    let title = mail.summary.subject.as_deref().unwrap_or("(no subject)");
    let body = match &mail.html {
        Some(html) => sanitize(html, inline_images(mail)),
        None => format!(
            "<pre style=\"white-space: pre-wrap\">{}</pre>",
            escape(&mail.text.as_deref().unwrap_or("").replace("\r\n", "\n"))
        ),
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title></head>\
         <body>{body}</body></html>\n",
        escape(title)
    )
}

/// `text` safe as HTML text or attribute value.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `cid` -> `data:` URL of each inline image small enough to show.
fn inline_images(mail: &ParsedMail) -> HashMap<String, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    mail.inline_parts
        .iter()
        .filter(|p| is_safe_image_type(&p.content_type) && p.data.len() <= MAX_INLINE_IMAGE)
        .map(|p| {
            let url = format!("data:{};base64,{}", p.content_type, engine.encode(&p.data));
            (p.content_id.to_ascii_lowercase(), url)
        })
        .collect()
}

/// Raster image types a browser shows in `<img>`; SVG is left out (it is a document).
fn is_safe_image_type(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp" | "image/bmp"
    )
}

fn sanitize(html: &str, images: HashMap<String, String>) -> String {
    let mut builder = ammonia::Builder::default();
    builder
        .add_generic_attributes(LAYOUT_ATTRIBUTES)
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect::<HashSet<_>>())
        .add_url_schemes(["cid", "data"])
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            filter_attribute(&images, element, attribute, value).map(Into::into)
        });
    builder.clean(html).to_string()
}

/// The value an URL attribute keeps (`None` drops it).
fn filter_attribute(
    images: &HashMap<String, String>,
    element: &str,
    attribute: &str,
    value: &str,
) -> Option<String> {
    let lower = value.trim().to_ascii_lowercase();
    match (element, attribute) {
        ("img", "src") => {
            if let Some(cid) = lower.strip_prefix("cid:") {
                images.get(cid).cloned()
            } else {
                let image_type = lower.strip_prefix("data:")?.split([';', ',']).next()?;
                is_safe_image_type(image_type).then(|| value.to_owned())
            }
        }
        (_, "href") => LINK_SCHEMES
            .iter()
            .any(|scheme| lower.starts_with(scheme))
            .then(|| value.to_owned()),
        (_, "src" | "cite" | "longdesc" | "srcset" | "action" | "background" | "poster") => None,
        _ => Some(value.to_owned()),
    }
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
