//! The HTTP client the project, branch, build, user and runtime commands use: the CLI is a
//! client of `/api`, like the web UI.

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use slipway_api::ErrorBody;

use crate::config::GlobalOptions;

/// Where the server is and who we are.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// The Slipway server.
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_SERVER",
        default_value = "http://127.0.0.1:8400"
    )]
    pub server: String,

    /// API token (default: the token the first `slipway serve` saved in the data directory).
    #[arg(long, global = true, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// An authenticated API client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client from the options, the token read from the data directory when not given.
    pub fn new(options: &ClientOptions, global: &GlobalOptions) -> Result<Self> {
        let token = match &options.token {
            Some(token) => token.clone(),
            None => {
                let path = global.layout().cli_token();
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_string())
                    .with_context(|| {
                        format!(
                            "no API token: pass --token (or SLIPWAY_TOKEN), or run on the server's machine where {} holds the first administrator's token",
                            path.display()
                        )
                    })?
            }
        };
        Ok(Self {
            http: reqwest::Client::new(),
            base: options.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request and returns the JSON answer, or the API's error message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Value> {
        answer(self.send(method, path, body).await?).await
    }

    /// Sends a request and decodes the answer into `T`, the route's type in `slipway_api`
    /// (or the domain record it re-exports); an answer of another shape is an error naming
    /// the route, not a silent `null`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        decode(path, self.call(method, path, body).await?)
    }

    /// GET `path`, decoded into `T`.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(path, self.get(path).await?)
    }

    /// POST `body` to `path`, the answer decoded into `T`.
    pub async fn post_as<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        decode(path, self.post(path, body).await?)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// [`Client::post_file`], the answer decoded into `T`.
    pub async fn post_file_as<T: DeserializeOwned>(
        &self,
        path: &str,
        file: &std::path::Path,
    ) -> Result<T> {
        decode(path, self.post_file(path, file).await?)
    }

    /// POSTs the file at `file` as the raw body of `path` (streamed, never read whole) and
    /// returns the JSON answer, or the API's error message.
    pub async fn post_file(&self, path: &str, file: &std::path::Path) -> Result<Value> {
        let opened = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        let mut request = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        if let Ok(meta) = opened.metadata().await {
            request = request.header(reqwest::header::CONTENT_LENGTH, meta.len());
        }
        answer(
            self.dispatch(request.body(reqwest::Body::from(opened)))
                .await?,
        )
        .await
    }

    /// The raw response to a request (for logs and streams).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.dispatch(request).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base);
        self.http.request(method, &url).bearer_auth(&self.token)
    }

    /// Sends `request`; a refused token is an error here, other statuses are the caller's.
    async fn dispatch(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach the Slipway server at {}; is `slipway serve` running? (--server)",
                self.base
            )
        })?;
        if response.status() == StatusCode::UNAUTHORIZED {
            bail!("the server refused the token (HTTP 401): pass a valid --token");
        }
        Ok(response)
    }
}

/// The JSON of a successful answer, or the API's error message with the status.
async fn answer(response: reqwest::Response) -> Result<Value> {
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = serde_json::from_value::<ErrorBody>(value)
            .map(|body| body.error.message)
            .unwrap_or_else(|_| "no details".to_string());
        bail!("{message} (HTTP {})", status.as_u16());
    }
    Ok(value)
}

/// An answer read as the route's type.
fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).with_context(|| {
        format!("the server's answer to {path} is not what this slipway expects: is it the same version?")
    })
}

/// Percent-encodes a path segment (branch names hold `/`).
pub fn segment(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
