//! [`ApiJson`]: axum's `Json` extractor, refusing in the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

use super::ApiError;

/// A JSON request body of type `T`. A body that is not JSON, not of `T`'s shape, or sent
/// without `Content-Type: application/json` is answered with the API's error shape (`invalid`,
/// with axum's status: 400, 415 or 422) and a message naming what was wrong, instead of
/// axum's plain text.
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid",
                format!(
                    "the request body is not what this route takes: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}
