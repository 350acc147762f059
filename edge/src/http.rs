//! HTTP plumbing shared by the routes: JSON bodies in (size limit, content type) and out,
//! error responses, bearer tokens, request ids.

use checkout_core::secret::Secret;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Headers, Request, Response};

use crate::error::EdgeError;

/// The largest request body accepted (callbacks and API bodies are well under 2 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The response header carrying the request id (also in every log line).
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// Reads the raw body, refusing more than [`MAX_BODY_BYTES`]. A declared `Content-Length`
/// over the limit is refused before reading; a body without one (chunked) is read chunk by
/// chunk and refused at the first chunk that crosses the limit, so at most the limit plus one
/// chunk is ever held.
pub async fn read_body(req: &mut Request) -> Result<Vec<u8>, EdgeError> {
    if let Ok(Some(length)) = req.headers().get("Content-Length")
        && length
            .trim()
            .parse::<usize>()
            .map_or(true, |n| n > MAX_BODY_BYTES)
    {
        return Err(EdgeError::BodyTooLarge);
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req
        .stream()
        .map_err(|e| EdgeError::BadRequest(format!("reading body: {e}")))?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| EdgeError::BadRequest(format!("reading body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(EdgeError::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The client's address as Cloudflare reports it (`CF-Connecting-IP`, set by the edge network
/// and not forgeable by the client there); `unknown` when absent, so such requests share one
/// rate-limit bucket.
pub fn client_ip(req: &Request) -> String {
    header(req, "CF-Connecting-IP")
        .map(|ip| ip.trim().to_owned())
        .filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
pub fn is_json(req: &Request) -> bool {
    let content_type = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/json")
}

/// Reads a JSON body of type `T`: content type, size limit, then serde.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, EdgeError> {
    if !is_json(req) {
        return Err(EdgeError::UnsupportedMediaType);
    }
    let bytes = read_body(req).await?;
    serde_json::from_slice(&bytes).map_err(|e| EdgeError::BadRequest(e.to_string()))
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, EdgeError> {
    let body =
        serde_json::to_vec(value).map_err(|e| EdgeError::Internal(format!("serializing: {e}")))?;
    raw_json(status, body)
}

/// A response whose body is already JSON text.
pub fn raw_json(status: u16, body: Vec<u8>) -> Result<Response, EdgeError> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| EdgeError::Internal(format!("headers: {e}")))?;
    headers
        .set("Cache-Control", "no-store")
        .map_err(|e| EdgeError::Internal(format!("headers: {e}")))?;
    let response =
        Response::from_bytes(body).map_err(|e| EdgeError::Internal(format!("response: {e}")))?;
    Ok(response.with_status(status).with_headers(headers))
}

/// The response for an error (with `Retry-After` when the error names a wait). Falls back to
/// a bare 500 if even that can't be built.
pub fn error_response(error: &EdgeError) -> Response {
    match json(error.status(), &error.body()) {
        Ok(mut response) => {
            if let Some(seconds) = error.retry_after_secs() {
                set_header(&mut response, "Retry-After", &seconds.to_string());
            }
            response
        }
        Err(_) => Response::builder().with_status(500).empty(),
    }
}

/// Sets a header, ignoring the (immutable-headers) error that can't happen on our own responses.
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    let _ = response.headers_mut().set(name, value);
}

/// Checks `Authorization: Bearer <token>` against `token` in constant time.
pub fn require_bearer(req: &Request, token: &Secret) -> Result<(), EdgeError> {
    let header = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let presented = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .unwrap_or_default();
    if presented.is_empty() || !token.matches(presented) {
        return Err(EdgeError::Unauthorized);
    }
    Ok(())
}

/// A header's value, if present and readable.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// `n` random bytes from the platform's CSPRNG (`crypto.getRandomValues`).
pub fn random<const N: usize>() -> Result<[u8; N], EdgeError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| EdgeError::Internal(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// A fresh request id: 16 hex characters.
pub fn new_request_id() -> String {
    random::<8>()
        .map(hex::encode)
        .unwrap_or_else(|_| "0000000000000000".to_owned())
}
