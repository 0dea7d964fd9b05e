//! The upgrade API reads its parameters from the query string or a form POST, as documented;
//! both at once merge, the form winning.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use slipway_upgrade::Credentials;

/// Parameters of a `/database/v1` call.
#[derive(Debug, Default)]
pub(crate) struct ApiParams(pub HashMap<String, String>);

impl ApiParams {
    /// A parameter, trimmed; `None` when absent.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_string())
    }

    /// The `request` and `key` pair every call after `create` carries.
    pub fn credentials(&self) -> Option<Credentials> {
        let id = self.get("request")?.parse().ok()?;
        Some(Credentials {
            id,
            key: self.get("key")?,
        })
    }

    pub fn from_query(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiParams {
    type Rejection = std::convert::Infallible;

    /// Query string, then (for `application/x-www-form-urlencoded` bodies) the form. Other
    /// bodies are left alone: their handlers read them.
    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Self::from_query(req.uri().query());
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            // Forms of this API are a few short fields; 64 KiB is plenty.
            if let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await {
                params.0.extend(form_urlencoded::parse(&body).into_owned());
            }
        }
        Ok(params)
    }
}

/// The request a call names, read from its parameters as [`ApiParams`] reads them; a missing
/// or malformed pair is answered with the one `KEY:INVALID` failure.
pub(crate) struct Caller(pub Credentials);

impl<S: Send + Sync> FromRequest<S> for Caller {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let params = match ApiParams::from_request(req, state).await {
            Ok(params) => params,
            Err(never) => match never {},
        };
        params.credentials().map(Caller).ok_or_else(super::bad_key)
    }
}
