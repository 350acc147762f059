//! Merchant routes over the notification outbox (Bearer `MERCHANT_API_TOKEN`):
//!
//! * `GET /v1/admin/webhooks?state=dead[&limit=50]`: outbox rows in one state (`pending`,
//!   `delivered`, `dead`; default `dead`), most recently changed first, at most `limit`
//!   (1..=500, default 50): `{"webhooks":[{"id","order_no","type","state","attempts",
//!   "next_attempt_at","last_result","created_at","updated_at"}]}`.
//! * `POST /v1/admin/webhooks/{id}/replay`: makes the row pending and due now (whatever its
//!   state: a delivered event can be sent again, a pending one is nudged) and sends its queue
//!   message; 202 with the row. The retry schedule starts over from the attempt count it has.
//!   Event `webhook`/`enqueued` with detail `<id> <type> replay`. Unknown id: 404.

use serde_json::json;
use worker::Request;
use worker::Response;

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::http;
use crate::notify;
use crate::store::{NewEvent, OutboxState};

/// Rows listed when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;
/// Most rows one listing answers.
const MAX_LIMIT: u32 = 500;
/// Longest event id accepted in a path (`evt_` + 32 hex digits).
const MAX_ID_CHARS: usize = 64;

fn query(req: &Request, name: &str) -> Option<String> {
    req.url().ok().and_then(|url| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// `GET /v1/admin/webhooks?state=dead`.
pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = ctx.config()?;
    http::require_bearer(&req, &config.merchant_api_token)?;
    let state = match query(&req, "state") {
        None => OutboxState::Dead,
        Some(text) => OutboxState::parse(&text).ok_or_else(|| {
            EdgeError::BadRequest("state must be pending, delivered or dead".into())
        })?,
    };
    let limit = match query(&req, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| EdgeError::BadRequest(format!("limit must be 1..={MAX_LIMIT}")))?,
    };
    let rows = ctx.store()?.outbox(state, limit).await?;
    http::json(200, &json!({ "webhooks": rows }))
}

/// `POST /v1/admin/webhooks/{id}/replay`.
pub async fn replay(req: Request, ctx: &Ctx, id: &str) -> Result<Response, EdgeError> {
    let config = ctx.config()?;
    http::require_bearer(&req, &config.merchant_api_token)?;
    let valid = id.starts_with("evt_")
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(EdgeError::NotFound);
    }
    let store = ctx.store()?;
    // The event needs the order and type: read them first (an unknown id ends here).
    let existing = store
        .find_outbox_row(id)
        .await?
        .ok_or(EdgeError::NotFound)?;
    let event = NewEvent {
        order_no: Some(&existing.order_no),
        source: Source::Webhook,
        outcome: Outcome::Enqueued,
        status_from: None,
        status_to: None,
        detail: Some(format!("{id} {} replay", existing.kind)),
    };
    let row = store
        .replay_outbox(&existing.order_no, id, &event, ctx.now_ms)
        .await?
        .ok_or(EdgeError::NotFound)?;
    notify::resend(ctx, &row.id, &row.order_no).await?;
    ctx.log.info(
        "webhook_replayed",
        &[
            ("order_no", row.order_no.as_str().into()),
            ("id", row.id.as_str().into()),
        ],
    );
    http::json(202, &row)
}
