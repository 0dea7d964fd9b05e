//! [`Remote`]: another upgrade platform's `/database/v1` over HTTP(S), called as Odoo's own
//! clients call it: form POSTs for `create`, `process`, `status` and `cancel`, the dump as the
//! raw body of `upload` (streamed from disk, never held whole), results fetched from the URLs
//! `status` hands out. `cancel` and the log URL are Slipway's extensions; Odoo's platform has
//! neither (its log reads as empty).
//!
//! Nothing here prints a request's key: error messages name the service and the call.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use tokio::io::AsyncWriteExt;

use super::{Filed, Progress, UpgradeOrder};
use crate::error::Result;
use crate::rules::RequestState;

mod error;
mod wire;

pub use error::{RemoteError, RemoteFailure};
use wire::RemoteRequest;

/// Another upgrade platform, and the contract used there.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Its address and contract.
    pub service: RemoteService,
    http: reqwest::Client,
    timeouts: Timeouts,
}

/// `serve --upgrade-service URL --upgrade-contract C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteService {
    /// Its base URL (`https://upgrade.example.com`), `/database/v1/...` appended.
    pub url: String,
    /// The contract `create` is called with.
    pub contract: String,
}

impl RemoteService {
    /// The service at `url` with `contract`, checked: an `http` or `https` base URL (its
    /// trailing `/` dropped) and a contract.
    pub fn new(url: &str, contract: &str) -> Result<Self, RemoteError> {
        let url = wire::base_url(url)?;
        let contract = contract.trim();
        if contract.is_empty() {
            return Err(RemoteError::BadAddress {
                url,
                why: "the contract is empty; give the contract requests are filed under there"
                    .into(),
            });
        }
        Ok(Self {
            url,
            contract: contract.to_string(),
        })
    }
}

/// How long the remote may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// To answer a call, and between two parts of a download.
    pub answer: Duration,
    /// The slowest upload accepted, in bytes per second: an upload may take `answer` plus its
    /// size at this rate.
    pub upload_bytes_per_second: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            answer: Duration::from_secs(120),
            upload_bytes_per_second: 256 * 1024,
        }
    }
}

/// The calls, as errors name them.
const CREATE: &str = "create";
const UPLOAD: &str = "upload";
const PROCESS: &str = "process";
const STATUS: &str = "status";
const CANCEL: &str = "cancel";

impl Remote {
    /// A client of `service`, with the default [`Timeouts`].
    pub fn new(service: RemoteService) -> Result<Self, RemoteError> {
        Self::with_timeouts(service, Timeouts::default())
    }

    /// A client of `service` with `timeouts`.
    pub fn with_timeouts(service: RemoteService, timeouts: Timeouts) -> Result<Self, RemoteError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::BadAddress {
                url: service.url.clone(),
                why: format!("no HTTP client: {}", error::causes(e)),
            })?;
        Ok(Self {
            service,
            http,
            timeouts,
        })
    }

    pub(super) async fn submit(&self, order: &UpgradeOrder) -> Result<Filed> {
        let filename = order
            .dump
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "{}: the dump needs a UTF-8 file name to be sent",
                    order.dump.display()
                ))
            })?;
        let size = tokio::fs::metadata(&order.dump)
            .await
            .map_err(|source| RemoteError::Io {
                context: format!("reading the dump {}", order.dump.display()),
                source,
            })?
            .len();
        let form = wire::create_form(&self.service.contract, order, filename);
        let created = self.call(CREATE, &form).await?;
        let filed = Filed {
            id: created.id,
            key: created.key.ok_or_else(|| RemoteError::Unexpected {
                url: self.service.url.clone(),
                call: CREATE,
                what: "a request without its key".into(),
            })?,
        };
        // A request left in draft holds nothing on the remote, but would be listed there:
        // cancel it when the rest fails.
        let sent = async {
            self.upload(&filed, &order.dump, size).await?;
            self.call(PROCESS, &key_form(&filed)).await
        };
        if let Err(error) = sent.await {
            if let Err(cancel) = self.cancel(&filed).await {
                tracing::warn!(
                    request = filed.id,
                    "cancelling the unsent request: {cancel}"
                );
            }
            return Err(error.into());
        }
        Ok(filed)
    }

    pub(super) async fn progress(&self, request: &Filed) -> Result<Progress> {
        let (state, status) = self.status(request).await?;
        Ok(wire::progress_of(state, &status))
    }

    pub(super) async fn fetch_upgraded(&self, request: &Filed, dest: &Path) -> Result<()> {
        let (state, status) = self.status(request).await?;
        let url = wire::result_url(&status).filter(|_| state.has_result());
        let Some(url) = url else {
            return Err(RemoteError::NotReady {
                url: self.service.url.clone(),
                id: request.id,
                state: state.as_str().to_string(),
            }
            .into());
        };
        let url = self.resolve(url, "the upgraded dump URL")?;
        match self.download(url, dest, "the upgraded dump").await? {
            Downloaded::Written(0) => {
                let _ = tokio::fs::remove_file(dest).await;
                Err(RemoteError::Unexpected {
                    url: self.service.url.clone(),
                    call: "the upgraded dump's download",
                    what: "an empty file".into(),
                }
                .into())
            }
            Downloaded::Written(_) => Ok(()),
            Downloaded::Missing { status, excerpt } => Err(RemoteError::Download {
                url: self.service.url.clone(),
                what: "the upgraded dump",
                status,
                excerpt,
            }
            .into()),
        }
    }

    pub(super) async fn fetch_log(&self, request: &Filed, dest: &Path) -> Result<()> {
        let (_, status) = self.status(request).await?;
        let url = wire::log_url(&status)
            .map(|url| self.resolve(&url, "the log URL"))
            .transpose()?;
        let written = match url {
            Some(url) => self.download(url, dest, "the log").await?,
            None => Downloaded::Missing {
                status: 404,
                excerpt: String::new(),
            },
        };
        match written {
            Downloaded::Written(_) => Ok(()),
            // No log yet (not started), or none at all (Odoo's platform): an empty one.
            Downloaded::Missing { status: 404, .. } => Ok(write_atomically(dest, b"").await?),
            Downloaded::Missing { status, excerpt } => Err(RemoteError::Download {
                url: self.service.url.clone(),
                what: "the log",
                status,
                excerpt,
            }
            .into()),
        }
    }

    pub(super) async fn cancel(&self, request: &Filed) -> Result<()> {
        match self.call(CANCEL, &key_form(request)).await {
            Ok(_) => Ok(()),
            Err(refused) if refused.reasons() == ["STATE:INVALID"] => {
                // Too late to cancel: fine when the request already ended, not while it runs.
                let (state, _) = self.status(request).await?;
                if state.is_unfinished() {
                    Err(refused.into())
                } else {
                    Ok(())
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// `status`: the request's state and dict.
    async fn status(&self, request: &Filed) -> Result<(RequestState, RemoteRequest)> {
        let status = self.call(STATUS, &key_form(request)).await?;
        let state = wire::state_of(&self.service.url, STATUS, &status)?;
        Ok((state, status))
    }

    /// POSTs `form` to `/database/v1/<call>` and reads the answer.
    async fn call(
        &self,
        call: &'static str,
        form: &[(&'static str, String)],
    ) -> Result<RemoteRequest, RemoteError> {
        let url = format!("{}/database/v1/{call}", self.service.url);
        let sent = self.http.post(url).form(form).send();
        self.answer(call, sent, self.timeouts.answer).await
    }

    /// `upload?key=..&request=..` with the dump as the raw body, its length declared.
    async fn upload(&self, request: &Filed, dump: &Path, size: u64) -> Result<(), RemoteError> {
        let file = tokio::fs::File::open(dump)
            .await
            .map_err(|source| RemoteError::Io {
                context: format!("reading the dump {}", dump.display()),
                source,
            })?;
        let sent = self
            .http
            .post(format!("{}/database/v1/{UPLOAD}", self.service.url))
            .query(&[
                ("key", request.key.as_str()),
                ("request", &request.id.to_string()),
            ])
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::from(file))
            .send();
        let rate = self.timeouts.upload_bytes_per_second.max(1);
        let patience = self.timeouts.answer + Duration::from_secs(size / rate);
        self.answer(UPLOAD, sent, patience).await.map(|_| ())
    }

    /// The answer of a call sent, within `patience`.
    async fn answer(
        &self,
        call: &'static str,
        sent: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
        patience: Duration,
    ) -> Result<RemoteRequest, RemoteError> {
        let received = async {
            let response = sent.await?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, content_type, body))
        };
        let (status, content_type, body) = tokio::time::timeout(patience, received)
            .await
            .map_err(|_| self.timed_out(call, patience))?
            .map_err(|e| self.failed(call, e))?;
        wire::read_answer(&self.service.url, call, status, &content_type, &body)
    }

    /// GETs `url` into `dest` (a temporary file beside it, renamed when complete and of the
    /// announced length); a 4xx or 5xx answer writes nothing.
    async fn download(
        &self,
        url: reqwest::Url,
        dest: &Path,
        what: &'static str,
    ) -> Result<Downloaded, RemoteError> {
        let patience = self.timeouts.answer;
        let mut response = tokio::time::timeout(patience, self.http.get(url).send())
            .await
            .map_err(|_| self.timed_out(what, patience))?
            .map_err(|e| self.failed(what, e))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let body = tokio::time::timeout(patience, response.bytes())
                .await
                .ok()
                .and_then(|b| b.ok())
                .unwrap_or_default();
            return Ok(Downloaded::Missing {
                status,
                excerpt: wire::excerpt(&body),
            });
        }
        let expected = response.content_length();
        let (mut file, temp) = temp_beside(dest)?;
        let mut received = 0u64;
        let truncated = |received: u64, cause: Option<String>| RemoteError::Truncated {
            url: self.service.url.clone(),
            what,
            received,
            expected: expected.map_or("the announced".into(), |e| e.to_string()),
            cause,
        };
        loop {
            let chunk = tokio::time::timeout(patience, response.chunk())
                .await
                .map_err(|_| self.timed_out(what, patience))?
                .map_err(|e| truncated(received, Some(error::causes(e))))?;
            let Some(chunk) = chunk else { break };
            file.write_all(&chunk)
                .await
                .map_err(|source| RemoteError::Io {
                    context: format!("writing {}", temp.display()),
                    source,
                })?;
            received += chunk.len() as u64;
        }
        if expected.is_some_and(|expected| expected != received) {
            return Err(truncated(received, None));
        }
        finish(file, temp, dest).await?;
        Ok(Downloaded::Written(received))
    }

    fn resolve(&self, given: &str, what: &str) -> Result<reqwest::Url, RemoteError> {
        wire::resolve(&self.service.url, given).ok_or_else(|| RemoteError::Unexpected {
            url: self.service.url.clone(),
            call: STATUS,
            what: format!(
                "{what} {:?}, which is not a URL",
                wire::excerpt(given.as_bytes())
            ),
        })
    }

    fn timed_out(&self, call: &'static str, after: Duration) -> RemoteError {
        RemoteError::Timeout {
            url: self.service.url.clone(),
            call,
            seconds: after.as_secs(),
        }
    }

    /// A transport error of `call`: no connection, or one that broke.
    fn failed(&self, call: &'static str, error: reqwest::Error) -> RemoteError {
        if error.is_timeout() {
            return self.timed_out(call, self.timeouts.connect);
        }
        RemoteError::Unreachable {
            url: self.service.url.clone(),
            call,
            cause: error::causes(error),
        }
    }
}

/// What a download brought.
enum Downloaded {
    /// This many bytes, now at the destination.
    Written(u64),
    /// An HTTP error answer; nothing was written.
    Missing { status: u16, excerpt: String },
}

/// The `key` and `request` pair every call after `create` carries, as a form.
fn key_form(request: &Filed) -> [(&'static str, String); 2] {
    [
        ("key", request.key.clone()),
        ("request", request.id.to_string()),
    ]
}

/// A new temporary file in `dest`'s folder (so that the final rename stays on one file
/// system); it is removed if dropped before [`finish`].
fn temp_beside(dest: &Path) -> Result<(tokio::fs::File, tempfile::TempPath), RemoteError> {
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (file, temp) = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .map_err(|source| RemoteError::Io {
            context: format!("creating a file in {}", dir.display()),
            source,
        })?
        .into_parts();
    Ok((tokio::fs::File::from_std(file), temp))
}

/// Flushes `file` to disk and renames it to `dest`.
async fn finish(
    mut file: tokio::fs::File,
    temp: tempfile::TempPath,
    dest: &Path,
) -> Result<(), RemoteError> {
    let io = |source| RemoteError::Io {
        context: format!("writing {}", dest.display()),
        source,
    };
    file.flush().await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    temp.persist(dest).map_err(|e| io(e.error))
}

/// Writes `bytes` to `dest` as [`Remote::download`] does: all or nothing.
async fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), RemoteError> {
    let (mut file, temp) = temp_beside(dest)?;
    file.write_all(bytes)
        .await
        .map_err(|source| RemoteError::Io {
            context: format!("writing {}", temp.display()),
            source,
        })?;
    finish(file, temp, dest).await
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A stand-in remote on a real socket: each connection gets the raw answer of the first
    /// `(path prefix, answer)` its request's path starts with, then is closed. `answers` is
    /// given the server's base URL.
    async fn answering(answers: impl FnOnce(&str) -> Vec<(&'static str, Vec<u8>)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers = answers(&base);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = read_head(&mut socket).await;
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let l = l.to_ascii_lowercase();
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = socket.read_exact(&mut body).await;
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                if let Some((_, answer)) = answers.iter().find(|(p, _)| path.starts_with(p)) {
                    let _ = socket.write_all(answer).await;
                }
            }
        });
        base
    }

    async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    /// A raw HTTP answer declaring `length` bytes of body (which may be more than `body`).
    fn http(status: &str, content_type: &str, body: &[u8], length: usize) -> Vec<u8> {
        let mut answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        answer.extend_from_slice(body);
        answer
    }

    fn json(body: &str) -> Vec<u8> {
        http("200 OK", "application/json", body.as_bytes(), body.len())
    }

    fn client(base: &str) -> Remote {
        Remote::new(RemoteService::new(base, "M1").unwrap()).unwrap()
    }

    fn filed() -> Filed {
        Filed {
            id: 4,
            key: "secret-key".into(),
        }
    }

    #[tokio::test]
    async fn a_download_cut_short_writes_nothing_and_says_how_much_came() {
        let base = answering(|base| {
            let status = format!(
                r#"{{"failures": [], "request": {{"id": 4, "state": "done", "upgraded_dump_url": "{base}/database/local/4/secret-key/upgraded/archive"}}}}"#
            );
            let part = b"PK\x03\x04 only a part";
            vec![
                ("/database/v1/status", json(&status)),
                ("/database/local/4/", http("200 OK", "application/zip", part, 1000)),
            ]
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("upgraded.zip");
        let error = client(&base)
            .fetch_upgraded(&filed(), &dest)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "the download of the upgraded dump from the upgrade service {base} stopped after 16 of 1000 bytes"
            )),
            "{message}"
        );
        assert!(!message.contains("secret-key"), "{message}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[tokio::test]
    async fn a_web_page_instead_of_the_api_is_named_as_such() {
        let base = answering(|_| {
            let page = b"<!doctype html><title>Welcome to nginx</title>";
            vec![("/", http("200 OK", "text/html", page, page.len()))]
        })
        .await;
        let error = client(&base).progress(&filed()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the upgrade service {base} answered status with HTTP 200 and no JSON (text/html: \
                 \"<!doctype html><title>Welcome to nginx</title>\"); is {base} the base URL of an \
                 upgrade platform (its /database/v1 API)?"
            )
        );
    }

    #[tokio::test]
    async fn https_services_are_spoken_to_in_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 3];
            socket.read_exact(&mut first).await.unwrap();
            first
        });
        let error = client(&format!("https://127.0.0.1:{port}"))
            .progress(&filed())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                crate::Error::Remote(RemoteError::Unreachable { .. })
            ),
            "{error}"
        );
        // A TLS handshake record (0x16), version 3.x: a ClientHello, not plain HTTP.
        let first = first_bytes.await.unwrap();
        assert_eq!(first[..2], [0x16, 0x03], "{first:?}");
    }
}
