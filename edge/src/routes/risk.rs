//! `POST /v1/trustpay/risk-control/{token}`: TrustPay's pre-authorisation veto hook
//! (`docs/protocol.md`, §Risk-control hook).
//!
//! TrustPay posts `{orderId, cardPrefix, cardSuffix, cardHolderName}` while the shopper pays by
//! card and waits for HTTP 200 `text/plain` `allow` or 403 (`deny`). The decision is core's
//! [`checkout_core::risk::decide`]; this handler finds the order (`orderId` matched on our
//! `order_no` or TrustPay's `platform_order_no`), counts the order's earlier risk decisions,
//! and appends one `order_events` row (`source = risk`, `outcome = allow|deny`, `detail` =
//! reason, BIN and last four digits; never the holder name).
//!
//! **Time budget.** The storage work races `RISK_TIMEOUT_MS` (default 1500 ms). When it loses,
//! or storage fails, the answer is `RISK_ON_TIMEOUT` (default `deny`: fail closed, because an
//! unchecked card payment is the risk this hook exists to stop, while a denied shopper can
//! retry and TrustPay treats a slow or missing answer in an undocumented way), and the
//! decision is still logged in the background (`waitUntil`).
//!
//! **Authentication.** TrustPay documents no signature for this hook, so the URL registered
//! with TrustPay carries a secret: its last segment must equal `RISK_HOOK_TOKEN` (or, during a
//! rotation, `RISK_HOOK_TOKEN_PREVIOUS`), compared in constant time (the path without a token
//! is no route: 404). With a wrong token, or none configured (the hook is off), the answer is 401
//! `unauthorized` before the body is read or storage is touched: the same answer, after the
//! same work, for known and unknown orders, and nothing is written, so junk calls can neither
//! probe for orders nor use up an order's attempts. Only authenticated, well-formed calls count
//! toward `RISK_MAX_ATTEMPTS` (decisions `malformed` are logged against the order but not
//! counted).

use std::pin::pin;
use std::time::Duration;

use checkout_core::risk::{self, Decision, DenyReason, OrderFacts, RiskRequest};
use checkout_core::secret::Secret;
use futures_util::future::{Either, select};
use worker::{Delay, Request, Response};

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::http;
use crate::store::{NewEvent, Store};

/// The event outcome of a decision.
fn outcome(decision: Decision) -> Outcome {
    match decision {
        Decision::Allow => Outcome::Allow,
        Decision::Deny(_) => Outcome::Deny,
    }
}

/// Whether `presented` is one of the configured hook tokens. Every configured token is compared
/// (constant time each), so the time taken does not depend on which one matched.
fn authenticated(presented: &str, tokens: &[Secret]) -> bool {
    !presented.is_empty()
        && tokens
            .iter()
            .fold(false, |found, token| token.matches(presented) | found)
}

/// Handles one risk-control request; `token` is the URL's last segment.
pub async fn decide(mut req: Request, ctx: &Ctx, token: &str) -> Result<Response, EdgeError> {
    let config = ctx.config()?;
    if !authenticated(token, &config.risk.hook_tokens) {
        ctx.log.warn(
            "risk_refused",
            &[("configured", (!config.risk.hook_tokens.is_empty()).into())],
        );
        return Err(EdgeError::Unauthorized);
    }
    let body = http::read_body(&mut req).await?;
    let request = RiskRequest::parse(&body).unwrap_or_else(|| RiskRequest {
        order_id: String::new(),
        card_prefix: String::new(),
        card_suffix: String::new(),
        card_holder_name: String::new(),
    });
    let store = ctx.store()?;
    let work = decide_and_log(&store, &request, &config.risk.rules, ctx.now_ms);
    let timeout = Delay::from(Duration::from_millis(u64::from(config.risk.timeout_ms)));
    let (decision, order_no) = match select(pin!(work), pin!(timeout)).await {
        Either::Left((Ok(done), _)) => done,
        Either::Left((Err(e), _)) => {
            ctx.log
                .error("risk_storage_failed", &[("detail", e.to_string().into())]);
            fallback(
                ctx,
                &request,
                config.risk.on_timeout.decision(),
                "storage_error",
            )
        }
        Either::Right(((), _)) => {
            ctx.log
                .warn("risk_timeout", &[("ms", config.risk.timeout_ms.into())]);
            fallback(ctx, &request, config.risk.on_timeout.decision(), "timeout")
        }
    };
    ctx.log.info(
        "risk_decision",
        &[
            ("order_no", order_no.unwrap_or_default().into()),
            ("decision", decision.as_str().into()),
            ("reason", decision.reason().into()),
        ],
    );
    let response = Response::ok(decision.as_str())
        .map_err(|e| EdgeError::Internal(format!("response: {e}")))?
        .with_status(decision.http_status());
    let _ = response
        .headers()
        .set("Content-Type", "text/plain; charset=utf-8");
    Ok(response)
}

fn detail(decision: Decision, request: &RiskRequest, note: Option<&str>) -> String {
    let mut text = format!(
        "{} bin={} last4={}",
        decision.reason(),
        safe_digits(&request.card_prefix, 8),
        safe_digits(&request.card_suffix, 4)
    );
    if let Some(note) = note {
        text.push_str(" (");
        text.push_str(note);
        text.push(')');
    }
    text
}

/// The digits as sent, or `?` when they are not short digits (never echo arbitrary text).
fn safe_digits(text: &str, max: usize) -> String {
    if !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit()) {
        text.to_owned()
    } else {
        "?".to_owned()
    }
}

/// Looks the order up, decides and appends the event. Returns the decision and the order.
async fn decide_and_log(
    store: &Store,
    request: &RiskRequest,
    rules: &risk::RiskRules,
    now: i64,
) -> Result<(Decision, Option<String>), EdgeError> {
    // Malformed requests are logged against their order too, when they name one.
    let order_id = request.order_id.trim();
    let row = if !order_id.is_empty() && order_id.len() <= 64 {
        store.order_by_any_no(order_id).await?
    } else {
        None
    };
    let facts = match &row {
        None => OrderFacts::Unknown,
        Some(row) => {
            let all = store
                .count_events(&row.order_no, Source::RiskControl, None)
                .await?;
            let malformed = store
                .count_events(
                    &row.order_no,
                    Source::RiskControl,
                    Some(DenyReason::Malformed.code()),
                )
                .await?;
            OrderFacts::Found {
                status: row.status(),
                attempts_before: u32::try_from(all - malformed).unwrap_or(u32::MAX),
            }
        }
    };
    let decision = risk::decide(request, facts, rules);
    let order_no = row.as_ref().map(|r| r.order_no.clone());
    store
        .append_event(
            NewEvent {
                order_no: order_no.as_deref(),
                source: Source::RiskControl,
                outcome: outcome(decision),
                status_from: row.as_ref().map(|r| r.status),
                status_to: None,
                detail: Some(detail(decision, request, None)),
            },
            now,
        )
        .await?;
    Ok((decision, order_no))
}

/// The configured answer when storage was too slow or failed; the event is appended in the
/// background (it may itself be slow).
fn fallback(
    ctx: &Ctx,
    request: &RiskRequest,
    decision: Decision,
    why: &'static str,
) -> (Decision, Option<String>) {
    let Ok(store) = ctx.store() else {
        return (decision, None);
    };
    let request = request.clone();
    let now = ctx.now_ms;
    let log = ctx.log.clone();
    ctx.wait_until(async move {
        let row = store
            .order_by_any_no(request.order_id.trim())
            .await
            .ok()
            .flatten();
        let order_no = row.as_ref().map(|r| r.order_no.clone());
        let event = NewEvent {
            order_no: order_no.as_deref(),
            source: Source::RiskControl,
            outcome: outcome(decision),
            status_from: row.as_ref().map(|r| r.status),
            status_to: None,
            detail: Some(detail(decision, &request, Some(why))),
        };
        if let Err(e) = store.append_event(event, now).await {
            log.error("risk_event_lost", &[("detail", e.to_string().into())]);
        }
    });
    (decision, None)
}
