//! An S3-compatible bucket (AWS, MinIO, Ceph, Garage…) as a [`Location`], through the
//! `object_store` crate. S3 writes are atomic per object, which is all a location needs.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use super::{Listed, Location};
use crate::Error;

/// A bucket and a key prefix. Calls block the calling thread (run them off the async
/// executor, as every repository operation is); the I/O runs on a small runtime of its own.
pub struct S3Location {
    url: String,
    prefix: String,
    store: Arc<dyn ObjectStore>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The location's runtime is gone (the location is being dropped), so a call cannot run.
#[derive(Debug, thiserror::Error)]
#[error("the S3 client stopped")]
struct ClientStopped;

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("url", &self.url)
            .finish()
    }
}

impl S3Location {
    /// `s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1`. Credentials come from
    /// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT`…);
    /// an `http://` endpoint is allowed (a server on the same network).
    pub fn from_url(spec: &str) -> Result<S3Location, Error> {
        let bad = |reason: String| Error::LocationSpec {
            spec: spec.to_string(),
            reason,
        };
        let url = url::Url::parse(spec).map_err(|e| bad(format!("not a URL: {e}")))?;
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("no bucket; write s3://bucket/prefix".into()))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in url.query_pairs() {
            builder = match key.as_ref() {
                "endpoint" => builder
                    .with_endpoint(value.as_ref())
                    .with_allow_http(value.starts_with("http://")),
                "region" => builder.with_region(value.as_ref()),
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; known: endpoint, region"
                    )))
                }
            };
        }
        let store = builder
            .build()
            .map_err(|e| bad(format!("cannot configure the S3 client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("slipway-s3")
            .build()
            .map_err(|e| bad(format!("cannot start the S3 client's runtime: {e}")))?;
        let prefix = url.path().trim_matches('/').to_string();
        Ok(S3Location {
            url: format!("s3://{bucket}/{prefix}"),
            prefix,
            store: Arc::new(store),
            runtime: Some(runtime),
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Runs a future on the location's runtime and waits for it from this (blocking) thread.
    fn block<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, ClientStopped> {
        let (tx, rx) = std::sync::mpsc::channel();
        let runtime = self.runtime.as_ref().ok_or(ClientStopped)?;
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| ClientStopped)
    }

    fn fail(&self, action: &'static str, key: &str, detail: impl ToString) -> Error {
        Error::Location {
            location: self.url.clone(),
            action,
            key: key.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl Location for S3Location {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), Error> {
        let (store, path) = (self.store.clone(), self.path(key));
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(data));
        self.block(async move { store.put(&path, payload).await.map(|_| ()) })
            .map_err(|e| self.fail("write", key, e))?
            .map_err(|e| self.fail("write", key, e))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let (store, path) = (self.store.clone(), self.path(key));
        let got = self
            .block(async move {
                match store.get(&path).await {
                    Ok(result) => result.bytes().await.map(|b| Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.fail("read", key, e))?;
        got.map_err(|e| self.fail("read", key, e))
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        let (store, path) = (self.store.clone(), self.path(key));
        let found = self
            .block(async move {
                match store.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.fail("check", key, e))?;
        found.map_err(|e| self.fail("check", key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error> {
        let (store, path) = (self.store.clone(), self.path(prefix.trim_end_matches('/')));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let listed = self
            .block(async move {
                store
                    .list(Some(&path))
                    .map_ok(|meta| Listed {
                        key: meta
                            .location
                            .as_ref()
                            .strip_prefix(&strip)
                            .unwrap_or(meta.location.as_ref())
                            .to_string(),
                        modified: Some(meta.last_modified.into()),
                    })
                    .try_collect::<Vec<_>>()
                    .await
            })
            .map_err(|e| self.fail("list", prefix, e))?;
        let mut listed = listed.map_err(|e| self.fail("list", prefix, e))?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let (store, path) = (self.store.clone(), self.path(key));
        let done = self
            .block(async move {
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.fail("delete", key, e))?;
        done.map_err(|e| self.fail("delete", key, e))
    }
}

impl Drop for S3Location {
    fn drop(&mut self) {
        // Dropping a runtime inside another's context panics; shut it down in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
