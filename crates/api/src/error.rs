use serde::{Deserialize, Serialize};

/// Every error answer of `/api`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `invalid`, `unauthenticated`, `forbidden`, `not_found`, `conflict`, `internal`, or a
    /// route's own (`no_database`, `restart_failed`, ...).
    pub code: String,
    /// What happened and what to do, for the user.
    pub message: String,
}

impl ErrorBody {
    /// An error answer with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_documented_shape() {
        let body = ErrorBody::new("not_found", "no project \"shop\"");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "not_found", "message": "no project \"shop\""}})
        );
    }
}
