//! [`ApiJson`]: axum's `Json` extractor, refusing in the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request};

use super::ApiError;

/// A JSON request body of type `T`. A body that is not JSON, not of `T`'s shape, or sent
/// without `Content-Type: application/json` is answered with the API's error shape (`invalid`,
/// with axum's status: 400, 415 or 422) and a message naming what was wrong, instead of
/// axum's plain text. `Option<ApiJson<T>>` takes an optional body: none without a
/// `Content-Type`, refused the same way when one is sent and unreadable.
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
            Err(rejection) => Err(refused(rejection)),
        }
    }
}

impl<S, T> OptionalFromRequest<S> for ApiJson<T>
where
    axum::Json<T>: OptionalFromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <axum::Json<T> as OptionalFromRequest<S>>::from_request(request, state).await {
            Ok(body) => Ok(body.map(|axum::Json(value)| Self(value))),
            Err(rejection) => Err(refused(rejection)),
        }
    }
}

/// axum's refusal of a body, in the API's shape.
fn refused(rejection: JsonRejection) -> ApiError {
    ApiError::new(
        rejection.status(),
        "invalid",
        format!(
            "the request body is not what this route takes: {}",
            rejection.body_text()
        ),
    )
}
