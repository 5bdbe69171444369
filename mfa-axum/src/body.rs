//! [`JsonBody`]: a JSON request body whose refusals are this layer's (`invalid_input`).

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Longest request body read, in bytes: a WebAuthn response is the largest legitimate one
/// ([`mfa_core::adapter::MAX_CREDENTIAL_LEN`]) and JSON wraps it.
const MAX_BODY: usize = mfa_core::adapter::MAX_CREDENTIAL_LEN * 2;

/// A JSON body. An empty body reads as `{}`; a malformed, oversized or non-JSON one is
/// refused as `invalid_input` (400), in the layer's error format.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |reason| ApiError::Mfa(mfa_core::Error::InvalidInput { field: "body", reason });
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.starts_with("application/json"));
        if !json {
            return Err(invalid("must be application/json"));
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY).await.map_err(|_| invalid("too long"))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(JsonBody).map_err(|_| invalid("not the expected JSON"))
    }
}
