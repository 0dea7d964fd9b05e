//! What can go wrong with another upgrade platform. Every message names the service's base URL
//! and the call, never a request's URL: those carry its private key.

use serde::Deserialize;
use slipway_metadata::ErrorKind;

/// One entry of a remote's `failures` list, as Odoo documents it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteFailure {
    /// Machine-readable kind: `CONTRACT:NOT_FOUND`, `TARGET:INVALID`...
    pub reason: String,
    /// A sentence for a person.
    #[serde(default)]
    pub message: String,
    /// The values that would have been accepted (`TARGET:INVALID` lists the targets).
    #[serde(default)]
    pub expected: Option<Vec<String>>,
}

/// A call to another upgrade platform that did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `--upgrade-service` or `--upgrade-contract` cannot be used.
    #[error("upgrade service {url:?}: {why}")]
    BadAddress { url: String, why: String },
    /// The service answered with its documented failures.
    #[error("the upgrade service {url} refused {call}: {}", describe(.failures))]
    Refused {
        url: String,
        call: &'static str,
        failures: Vec<RemoteFailure>,
    },
    /// Nothing came back in time.
    #[error("the upgrade service {url} did not answer {call} within {seconds} s; check that it is up, or try again later")]
    Timeout {
        url: String,
        call: &'static str,
        seconds: u64,
    },
    /// No connection (refused, no route, name unknown, TLS failed).
    #[error("cannot reach the upgrade service {url} ({call}): {cause}; check its address and that it is running")]
    Unreachable {
        url: String,
        call: &'static str,
        cause: String,
    },
    /// An answer that is not the API's JSON: a web page, a proxy's error.
    #[error("the upgrade service {url} answered {call} with HTTP {status} and no JSON ({content_type}: {excerpt:?}); is {url} the base URL of an upgrade platform (its /database/v1 API)?")]
    NotJson {
        url: String,
        call: &'static str,
        status: u16,
        content_type: String,
        excerpt: String,
    },
    /// JSON, but not what the API documents.
    #[error("the upgrade service {url} answered {call} with {what}")]
    Unexpected {
        url: String,
        call: &'static str,
        what: String,
    },
    /// A file the request's URLs serve could not be had.
    #[error("the upgrade service {url} answered HTTP {status} for {what}: {excerpt:?}")]
    Download {
        url: String,
        what: &'static str,
        status: u16,
        excerpt: String,
    },
    /// A download that ended early: nothing was written.
    #[error("the download of {what} from the upgrade service {url} stopped after {received} of {expected} bytes{}; try again", cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Truncated {
        url: String,
        what: &'static str,
        received: u64,
        expected: String,
        cause: Option<String>,
    },
    /// The request has no upgraded database (yet, or at all).
    #[error("request {id} at the upgrade service {url} is {state}: it has no upgraded database to fetch")]
    NotReady { url: String, id: i64, state: String },
    /// A local file.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RemoteError {
    /// [`ErrorKind::Invalid`] for what the configuration or the caller must change (the
    /// address, what the remote refused); [`ErrorKind::Conflict`] for a result asked too early;
    /// otherwise [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            RemoteError::BadAddress { .. } | RemoteError::Refused { .. } => ErrorKind::Invalid,
            RemoteError::NotReady { .. } => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }

    /// The reasons the remote gave, when it refused.
    pub fn reasons(&self) -> Vec<&str> {
        match self {
            RemoteError::Refused { failures, .. } => {
                failures.iter().map(|f| f.reason.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// `CONTRACT:NOT_FOUND: Can not find contract X; TARGET:INVALID: Invalid value "5.0" (expected:
/// 17.0, 18.0)`.
fn describe(failures: &[RemoteFailure]) -> String {
    let described: Vec<String> = failures
        .iter()
        .map(|f| {
            let expected = match &f.expected {
                Some(values) if !values.is_empty() => format!(" (expected: {})", values.join(", ")),
                _ => String::new(),
            };
            format!("{}: {}{expected}", f.reason, f.message)
        })
        .collect();
    described.join("; ")
}

/// The causes of a `reqwest` error, outermost first, without its URL (which may carry a key).
pub(super) fn causes(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lists_every_reason_and_the_expected_values() {
        let error = RemoteError::Refused {
            url: "https://upgrade.example.com".into(),
            call: "create",
            failures: vec![
                RemoteFailure {
                    reason: "TARGET:INVALID".into(),
                    message: "Invalid value \"5.0\"".into(),
                    expected: Some(vec!["17.0".into(), "18.0".into()]),
                },
                RemoteFailure {
                    reason: "CONTRACT:NOT_FOUND".into(),
                    message: "Can not find contract X".into(),
                    expected: None,
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "the upgrade service https://upgrade.example.com refused create: TARGET:INVALID: \
             Invalid value \"5.0\" (expected: 17.0, 18.0); CONTRACT:NOT_FOUND: Can not find contract X"
        );
        assert_eq!(error.reasons(), ["TARGET:INVALID", "CONTRACT:NOT_FOUND"]);
        assert_eq!(error.kind(), ErrorKind::Invalid);
    }
}
