//! CORS for the widget routes (`/v1/orders`, `/v1/orders/{order_no}`).
//!
//! Only origins in `ALLOWED_ORIGINS` get `Access-Control-Allow-Origin` (their own origin,
//! never `*`, with `Vary: Origin`). A browser request from any other origin is refused with
//! 403 `origin_not_allowed` before anything runs. That one refusal is readable by the page
//! ([`refused`]): its preflight passes and the 403 carries CORS headers for that origin, so
//! the widget can tell the merchant "this origin is not allowed" at once instead of seeing a
//! network error and retrying. Nothing else is answered to such an origin, and nothing runs
//! for it. Requests without an `Origin` header are not browser cross-origin requests; the
//! intent is their credential.

use worker::Response;

use crate::config::AllowedOrigins;
use crate::error::EdgeError;
use crate::http::{REQUEST_ID_HEADER, set_header};

/// Methods the widget routes answer.
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// Request headers the widget may send.
const ALLOW_HEADERS: &str = "Content-Type, X-Client-Secret";
/// How long a browser may cache a preflight, seconds.
const MAX_AGE: &str = "600";

/// Checks a request's `Origin` against the allow-list. `Ok(None)`: no `Origin` header.
pub fn check(origin: Option<&str>, allowed: &AllowedOrigins) -> Result<Option<String>, EdgeError> {
    match origin {
        None => Ok(None),
        Some(origin) if allowed.allows(origin) => Ok(Some(origin.to_owned())),
        Some(_) => Err(EdgeError::OriginNotAllowed),
    }
}

/// Adds the headers of an allowed cross-origin answer.
pub fn decorate(response: &mut Response, origin: &str) {
    set_header(response, "Access-Control-Allow-Origin", origin);
    set_header(response, "Vary", "Origin");
    set_header(response, "Access-Control-Expose-Headers", REQUEST_ID_HEADER);
}

/// A request from an origin not in `ALLOWED_ORIGINS`, made readable for that origin: a
/// preflight passes (204; the browser then sends the request, which gets the 403), and the
/// `origin_not_allowed` refusal carries the CORS headers. Only this error body is ever
/// readable there.
pub fn refused(origin: &str, preflight_request: bool, refusal: Response) -> Response {
    if preflight_request {
        return preflight(origin);
    }
    let mut refusal = refusal;
    decorate(&mut refusal, origin);
    refusal
}

/// The answer to an allowed preflight: 204 with the allowed methods and headers.
pub fn preflight(origin: &str) -> Response {
    let mut response = Response::builder().with_status(204).empty();
    decorate(&mut response, origin);
    set_header(&mut response, "Access-Control-Allow-Methods", ALLOW_METHODS);
    set_header(&mut response, "Access-Control-Allow-Headers", ALLOW_HEADERS);
    set_header(&mut response, "Access-Control-Max-Age", MAX_AGE);
    response
}
