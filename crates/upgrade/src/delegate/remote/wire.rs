//! The remote API's wire format, free of I/O: the forms sent, the answers read, the URLs used.

use serde::Deserialize;

use super::error::{RemoteError, RemoteFailure};
use crate::delegate::{Progress, UpgradeOrder};
use crate::rules::RequestState;

/// The base URL of an upgrade service, checked: `http` or `https`, a host, no query, no
/// trailing `/`.
pub(super) fn base_url(url: &str) -> Result<String, RemoteError> {
    let bad = |why: &str| RemoteError::BadAddress {
        url: url.to_string(),
        why: format!("{why}; give its base URL, such as https://upgrade.example.com"),
    };
    let trimmed = url.trim();
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| bad(&format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(&format!("{}: is not http: or https:", parsed.scheme())));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a query or fragment has no place in it"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials have no place in it (the contract is the credential)",
        ));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

/// The form of `create`, field for field as Odoo's `odoo-upgrade` client posts it (`contract`,
/// `email`, `target`, `aim`, `filename`), plus Slipway's optional `custom_modules`
/// (comma-separated), sent only when there are some: Odoo's platform ignores fields it does
/// not know.
pub(super) fn create_form(
    contract: &str,
    order: &UpgradeOrder,
    filename: &str,
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("contract", contract.to_string()),
        ("email", order.email.clone()),
        ("target", order.target.clone()),
        ("aim", order.aim.as_str().to_string()),
        ("filename", filename.to_string()),
    ];
    if !order.custom_modules.is_empty() {
        form.push(("custom_modules", order.custom_modules.join(",")));
    }
    form
}

/// The `request` dict of an answer: what the client uses of it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RemoteRequest {
    pub id: i64,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub customer_message: Option<String>,
    #[serde(default)]
    pub notes_url: Option<String>,
    #[serde(default)]
    pub upgraded_dump_url: Option<String>,
    #[serde(default)]
    pub upgraded_sql_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    failures: Vec<RemoteFailure>,
    #[serde(default)]
    request: Option<RemoteRequest>,
}

/// What one HTTP answer to `call` says: the request, or why not.
pub(super) fn read_answer(
    url: &str,
    call: &'static str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<RemoteRequest, RemoteError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| RemoteError::NotJson {
        url: url.to_string(),
        call,
        status,
        content_type: if content_type.is_empty() {
            "no content type".into()
        } else {
            content_type.to_string()
        },
        excerpt: excerpt(body),
    })?;
    let unexpected = |what: String| RemoteError::Unexpected {
        url: url.to_string(),
        call,
        what,
    };
    if !answer.failures.is_empty() {
        return Err(RemoteError::Refused {
            url: url.to_string(),
            call,
            failures: answer.failures,
        });
    }
    if status >= 400 {
        return Err(unexpected(format!("HTTP {status} and no failures")));
    }
    answer
        .request
        .ok_or_else(|| unexpected("no failures and no request".into()))
}

/// The request's state, as the API names it.
pub(super) fn state_of(
    url: &str,
    call: &'static str,
    request: &RemoteRequest,
) -> Result<RequestState, RemoteError> {
    let name = request.state.as_deref().unwrap_or_default();
    RequestState::parse(name).ok_or_else(|| RemoteError::Unexpected {
        url: url.to_string(),
        call,
        what: format!("a request in the unknown state {name:?}"),
    })
}

/// Where a request is: its state, and for a failed one, the remote's message. The API says
/// nothing of the current step.
pub(super) fn progress_of(state: RequestState, request: &RemoteRequest) -> Progress {
    let message = (state == RequestState::Failed)
        .then(|| request.customer_message.clone())
        .flatten()
        .filter(|m| !m.trim().is_empty());
    Progress {
        state,
        step: None,
        message,
    }
}

/// The upgraded dump's URL: `upgraded_dump_url` (in the input's format), else the SQL.
pub(super) fn result_url(request: &RemoteRequest) -> Option<&str> {
    [&request.upgraded_dump_url, &request.upgraded_sql_url]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .find(|url| !url.is_empty())
}

/// The log beside the notes (`.../upgraded/notes` -> `.../upgraded/log`), a Slipway URL; Odoo's
/// platform has none, and answers 404 there.
pub(super) fn log_url(request: &RemoteRequest) -> Option<String> {
    let notes = request.notes_url.as_deref()?;
    let stem = notes.strip_suffix("/notes")?;
    Some(format!("{stem}/log"))
}

/// A URL the remote gave, made absolute against its base (they usually are already).
pub(super) fn resolve(base: &str, given: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(&format!("{base}/"))
        .ok()?
        .join(given)
        .ok()
}

/// The start of a body, for an error message: its first line or 200 characters.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    let text = text.trim();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Aim;

    fn order(custom_modules: &[&str]) -> UpgradeOrder {
        UpgradeOrder {
            dump: "/tmp/prod.zip".into(),
            target: "17.0".into(),
            aim: Aim::Production,
            email: "ops@example.com".into(),
            custom_modules: custom_modules.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn create_sends_the_documented_fields_and_custom_modules_only_when_there_are_some() {
        let plain = create_form("M1-abc", &order(&[]), "prod.zip");
        assert_eq!(
            plain,
            [
                ("contract", "M1-abc".to_string()),
                ("email", "ops@example.com".into()),
                ("target", "17.0".into()),
                ("aim", "production".into()),
                ("filename", "prod.zip".into()),
            ]
        );
        let with = create_form("M1-abc", &order(&["x_sale", "x_stock"]), "prod.zip");
        assert_eq!(
            with.last().unwrap(),
            &("custom_modules", "x_sale,x_stock".into())
        );
        assert_eq!(with.len(), 6);
    }

    #[test]
    fn base_urls_are_http_or_https_without_query_and_lose_their_trailing_slash() {
        assert_eq!(
            base_url(" https://upgrade.example.com/ ").unwrap(),
            "https://upgrade.example.com"
        );
        assert_eq!(
            base_url("http://10.0.0.2:8400/slipway").unwrap(),
            "http://10.0.0.2:8400/slipway"
        );
        for bad in [
            "upgrade.example.com",
            "ftp://upgrade.example.com",
            "https://upgrade.example.com/?x=1",
            "https://me:secret@upgrade.example.com",
        ] {
            let error = base_url(bad).unwrap_err().to_string();
            assert!(
                error.contains("give its base URL, such as https://upgrade.example.com"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn answers_give_the_request_or_the_failures_or_say_they_are_not_json() {
        let ok = br#"{"failures": [], "request": {"id": 7, "key": "k", "state": "pending"}}"#;
        let request = read_answer("http://u", "process", 200, "application/json", ok).unwrap();
        assert_eq!((request.id, request.key.as_deref()), (7, Some("k")));
        assert_eq!(
            state_of("http://u", "process", &request).unwrap(),
            RequestState::Pending
        );

        let refused = br#"{"failures": [{"reason": "CONTRACT:NOT_FOUND", "message": "Can not find contract X", "code": "X"}], "request": null}"#;
        let error =
            read_answer("http://u", "create", 400, "application/json", refused).unwrap_err();
        assert_eq!(error.reasons(), ["CONTRACT:NOT_FOUND"]);

        let page = b"<html><body>Bad Gateway</body></html>";
        let error = read_answer("http://u", "status", 502, "text/html", page).unwrap_err();
        assert!(matches!(error, RemoteError::NotJson { status: 502, .. }));
        assert!(
            error.to_string().contains("<html><body>Bad Gateway"),
            "{error}"
        );

        let odd = br#"{"failures": [], "request": {"id": 7, "state": "exploded"}}"#;
        let request = read_answer("http://u", "status", 200, "application/json", odd).unwrap();
        let error = state_of("http://u", "status", &request).unwrap_err();
        assert!(
            error.to_string().contains("unknown state \"exploded\""),
            "{error}"
        );
    }

    #[test]
    fn a_failed_request_brings_its_message_and_urls_follow_the_status() {
        let request: RemoteRequest = serde_json::from_str(
            r#"{"id": 3, "state": "failed", "customer_message": "pre-boom.py: ZeroDivisionError",
                "notes_url": "http://u/database/local/3/k/upgraded/notes",
                "upgraded_dump_url": "http://u/database/local/3/k/upgraded/archive",
                "upgraded_sql_url": "http://u/database/local/3/k/upgraded/sql"}"#,
        )
        .unwrap();
        let progress = progress_of(RequestState::Failed, &request);
        assert_eq!(
            progress.message.as_deref(),
            Some("pre-boom.py: ZeroDivisionError")
        );
        assert_eq!(progress_of(RequestState::Progress, &request).message, None);
        assert_eq!(
            result_url(&request),
            Some("http://u/database/local/3/k/upgraded/archive")
        );
        assert_eq!(
            log_url(&request).unwrap(),
            "http://u/database/local/3/k/upgraded/log"
        );
        let sql_only = RemoteRequest {
            upgraded_dump_url: None,
            ..request.clone()
        };
        assert_eq!(
            result_url(&sql_only),
            Some("http://u/database/local/3/k/upgraded/sql")
        );
        assert_eq!(
            resolve("http://u:8/base", "/database/x").unwrap().as_str(),
            "http://u:8/database/x"
        );
    }
}
