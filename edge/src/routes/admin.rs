//! Merchant routes: refunds (Bearer `MERCHANT_REFUND_TOKEN`: the one route that moves money),
//! and balance, fees and one order with its event log (Bearer `MERCHANT_API_TOKEN`, which also
//! mints intents). With no `MERCHANT_REFUND_TOKEN` configured, refunds answer `unauthorized`;
//! the intent token never refunds, so a leaked shop backend token can't send money back out.
//!
//! Refunds are reserved before TrustPay is called, in one conditional statement that checks
//! what is left to refund, so concurrent refunds can't together exceed the payment. Each is
//! idempotent on its refund number: `merchant_refund_no`, or one derived from the request's
//! `Idempotency-Key` header (required for a partial refund without a number; a full refund
//! without either derives its number from the order). A retry with the same number and amount
//! gets the first answer again (`Idempotent-Replayed: true`), never a second refund.

use checkout_core::money::{Amount, Currency, MoneyError};
use checkout_core::order_no::OrderNo;
use checkout_core::state::OrderState;
use checkout_core::wire::{BalanceRequest, FeeOverviewRequest, RefundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use worker::{Request, Response};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::gateway::{Gateway, GatewayError};
use crate::http;
use crate::store::{EventRow, NewEvent, NewRefund, OrderRow, RefundRow, Reserved, StoredRefund};
use crate::view::{self, view};

/// The idempotency header (the usual convention).
const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Longest refund reason accepted.
const MAX_REASON_CHARS: usize = 200;

/// The read-only routes: Bearer `MERCHANT_API_TOKEN`.
fn authorized<'a>(req: &Request, ctx: &'a Ctx) -> Result<&'a Config, EdgeError> {
    let config = ctx.config()?;
    http::require_bearer(req, &config.merchant_api_token)?;
    Ok(config)
}

/// The money-moving route: Bearer `MERCHANT_REFUND_TOKEN`; refused when none is configured.
fn authorized_to_refund<'a>(req: &Request, ctx: &'a Ctx) -> Result<&'a Config, EdgeError> {
    let config = ctx.config()?;
    let token = config
        .merchant_refund_token
        .as_ref()
        .ok_or(EdgeError::Unauthorized)?;
    http::require_bearer(req, token)?;
    Ok(config)
}

/// `POST /v1/admin/refunds` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    order_no: String,
    /// `"2.50"` or `2.5`.
    refund_amount: Amount,
    reason: String,
    #[serde(default)]
    merchant_refund_no: Option<String>,
}

/// `POST /v1/admin/refunds` answer.
#[derive(Debug, Serialize)]
struct RefundAnswer {
    order_no: String,
    merchant_refund_no: String,
    refund_amount: Amount,
    currency: Currency,
    /// TrustPay's refund status (undocumented values).
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_status: Option<i64>,
}

/// Requests a (partial) refund of a paid order: 201.
pub async fn refund(mut req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = authorized_to_refund(&req, ctx)?;
    let key = idempotency_key(&req)?;
    let body: RefundBody = http::read_json(&mut req).await?;
    let order_no = OrderNo::parse(&body.order_no)?;
    if body.refund_amount.is_zero() {
        return Err(MoneyError::Zero.into());
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(EdgeError::BadRequest(format!(
            "reason must be 1..={MAX_REASON_CHARS} characters"
        )));
    }

    let store = ctx.store()?;
    let row = store
        .order(order_no.as_str())
        .await?
        .ok_or(EdgeError::OrderNotFound)?;
    let named = match (body.merchant_refund_no, key.as_deref()) {
        (Some(text), _) => Some(OrderNo::parse(&text)?),
        (None, Some(key)) => Some(derived_refund_no(order_no.as_str(), key)?),
        (None, None) => None,
    };
    // A retry of a refund we already hold gets its first answer, whatever happened since.
    if let Some(number) = &named
        && let Some(existing) = store.refund(number.as_str()).await?
    {
        return replay(existing, order_no.as_str(), body.refund_amount);
    }
    match view::order_state(&row)? {
        // Underpaid: what did arrive may be given back.
        OrderState::Paid
        | OrderState::Settled
        | OrderState::PartiallyRefunded
        | OrderState::Underpaid => {}
        OrderState::Pending
        | OrderState::Failed
        | OrderState::Expired
        | OrderState::Refunding
        | OrderState::Refunded
        | OrderState::Unknown => {
            return Err(EdgeError::RefundNotAllowed("the order is not paid"));
        }
    }
    let refund_no = match named {
        Some(number) => number,
        // Without a key only a full refund is safe to retry (nothing is left after it).
        None => {
            let reserved: i64 = store
                .refunds(order_no.as_str())
                .await?
                .iter()
                .map(|r| r.amount_minor)
                .sum();
            if body.refund_amount.minor() != refundable(&row, reserved) {
                return Err(EdgeError::IdempotencyKeyRequired);
            }
            derived_refund_no(order_no.as_str(), "full refund")?
        }
    };
    let now = ctx.now_ms;
    let reservation = NewRefund {
        merchant_refund_no: refund_no.as_str(),
        order_no: order_no.as_str(),
        amount: body.refund_amount,
        reason,
        idempotency_key: key.as_deref(),
    };
    match store.reserve_refund(reservation, now).await? {
        Reserved::Reserved => {}
        // A concurrent request with the same number won the reservation.
        Reserved::Exists(existing) => {
            return replay(existing, order_no.as_str(), body.refund_amount);
        }
        // Another order's refund holds the number (its reservation may be under way).
        Reserved::Taken => {
            return Err(EdgeError::RefundNotAllowed(
                "the refund number is used already",
            ));
        }
        Reserved::Exceeds => {
            return Err(EdgeError::RefundNotAllowed(
                "the amount exceeds what is left to refund",
            ));
        }
    }

    let request = RefundRequest {
        order_no: order_no.as_str().to_owned(),
        merchant_refund_no: refund_no.as_str().to_owned(),
        refund_amount: body.refund_amount,
        reason: reason.to_owned(),
    };
    let result = Gateway::new(config, &ctx.log).call(&request).await;
    let (outcome, detail) = match &result {
        Ok(_) => (Outcome::RefundRequested, refund_no.as_str().to_owned()),
        Err(e) => (
            Outcome::RefundFailed,
            format!("{} {}", refund_no.as_str(), e.code().as_str()),
        ),
    };
    let event = NewEvent {
        order_no: Some(order_no.as_str()),
        source: Source::Admin,
        outcome,
        status_from: Some(row.status),
        status_to: None,
        detail: Some(detail),
    };
    store.append_event(event, now).await?;
    match result {
        Ok(data) => {
            store
                .set_refund_status(order_no.as_str(), refund_no.as_str(), data.status)
                .await?;
            ctx.log.info(
                "refund_requested",
                &[
                    ("order_no", order_no.as_str().into()),
                    ("merchant_refund_no", refund_no.as_str().into()),
                ],
            );
            let answer = serde_json::to_string(&RefundAnswer {
                order_no: order_no.as_str().to_owned(),
                merchant_refund_no: refund_no.as_str().to_owned(),
                refund_amount: body.refund_amount,
                currency: row.currency()?,
                gateway_status: data.status,
            })
            .map_err(|e| EdgeError::Internal(format!("refund answer: {e}")))?;
            store
                .set_refund_answer(order_no.as_str(), refund_no.as_str(), &answer)
                .await?;
            http::raw_json(201, answer.into_bytes())
        }
        Err(e) => {
            // A refusal means no refund exists: free the number. After a timeout the refund may
            // exist, so the row stays and keeps counting against the refundable amount.
            if matches!(e, GatewayError::Rejected { .. }) {
                store
                    .delete_refund(order_no.as_str(), refund_no.as_str())
                    .await?;
            }
            Err(e.into())
        }
    }
}

/// The answer to a refund request whose number exists already: the first answer again when it
/// is the same refund (order and amount), else a refusal.
fn replay(existing: StoredRefund, order_no: &str, amount: Amount) -> Result<Response, EdgeError> {
    if existing.order_no != order_no || existing.amount_minor != amount.minor() {
        return Err(EdgeError::RefundNotAllowed(
            "the refund number is used already",
        ));
    }
    match existing.answer {
        Some(answer) => {
            let mut response = http::raw_json(201, answer.into_bytes())?;
            http::set_header(&mut response, "Idempotent-Replayed", "true");
            Ok(response)
        }
        // The first request is still running, or timed out at TrustPay.
        None => Err(EdgeError::RefundNotAllowed(
            "this refund is already in progress",
        )),
    }
}

/// What the order can still give back: what was paid (the order amount when TrustPay
/// reported no paid amount) minus the larger of TrustPay's refunded total and our reserved
/// refunds. The store's reservation checks the same, atomically.
fn refundable(row: &OrderRow, reserved: i64) -> i64 {
    row.paid_amount_minor.unwrap_or(row.amount_minor)
        - row.refund_amount_minor.unwrap_or(0).max(reserved)
}

/// The `Idempotency-Key` header: 1..=255 visible ASCII characters, or absent.
fn idempotency_key(req: &Request) -> Result<Option<String>, EdgeError> {
    let Some(key) = http::header(req, IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let valid = (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(Some(key))
    } else {
        Err(EdgeError::BadRequest(format!(
            "{IDEMPOTENCY_KEY_HEADER} must be 1..={MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )))
    }
}

/// The refund number of a request with no `merchant_refund_no`: a hash of the order and the
/// idempotency key, so a retry names the same refund.
fn derived_refund_no(order_no: &str, key: &str) -> Result<OrderNo, EdgeError> {
    let digest = Sha256::new()
        .chain_update(order_no.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    Ok(OrderNo::parse(&format!(
        "rf_{}",
        hex::encode(&digest[..12])
    ))?)
}

/// `GET /v1/admin/balance?currency=USD`.
pub async fn balance(req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = authorized(&req, ctx)?;
    let url = req
        .url()
        .map_err(|e| EdgeError::BadRequest(format!("url: {e}")))?;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "currency")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "USD".to_owned());
    let currency = Currency::parse(&code)?;
    let data = Gateway::new(config, &ctx.log)
        .call(&BalanceRequest {
            currency_id: currency,
        })
        .await?;
    http::json(
        200,
        &json!({ "currency": currency, "balance": data.balance, "frozen": data.frozen, "reserve": data.reserve }),
    )
}

/// `GET /v1/admin/fees`: TrustPay's fee overview as it answered.
pub async fn fees(req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = authorized(&req, ctx)?;
    let data = Gateway::new(config, &ctx.log)
        .call(&FeeOverviewRequest)
        .await?;
    http::json(200, &data)
}

/// `GET /v1/admin/orders/{order_no}` answer.
#[derive(Debug, Serialize)]
struct AdminOrder {
    #[serde(flatten)]
    view: checkout_core::contract::OrderView,
    /// Flags a merchant must act on (`underpaid`, `overpaid`, `late_payment`,
    /// `order_number_taken`, `duplicate_payment`), empty when there are none.
    state_detail: Vec<&'static str>,
    pay_url: Option<String>,
    platform_order_no: Option<String>,
    fee: Option<Amount>,
    late_payment: bool,
    created_at: i64,
    last_query_at: Option<i64>,
    refunds: Vec<RefundRow>,
    events: Vec<EventRow>,
    /// Every payment attempt of the merchant order, when it has more than one (the other
    /// fields are then the merchant order's view and its first attempt's details).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attempts: Vec<AdminAttempt>,
}

/// One payment attempt in the admin view.
#[derive(Debug, Serialize)]
struct AdminAttempt {
    /// The attempt's number (1 = the merchant order number itself).
    attempt: u32,
    /// Its TrustPay order number.
    order_no: String,
    status: checkout_core::codes::OrderStatus,
    state: String,
    paid_amount: Option<Amount>,
    refund_amount: Option<Amount>,
    pay_url: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// `GET /v1/admin/orders/{order_no}`: the order, its refunds and its event log.
pub async fn order(req: Request, ctx: &Ctx, order_no: &str) -> Result<Response, EdgeError> {
    authorized(&req, ctx)?;
    let order_no = OrderNo::parse(order_no)?;
    let store = ctx.store()?;
    let row = store
        .order(order_no.as_str())
        .await?
        .ok_or(EdgeError::OrderNotFound)?;
    let rows = store.siblings(&row).await?;
    let (order_view, duplicate_payment, attempts) = if rows.len() > 1 {
        let (_, merchant) = view::merchant(&rows)?;
        let attempts = rows
            .iter()
            .map(|attempt| {
                Ok(AdminAttempt {
                    attempt: attempt.attempt_no(),
                    order_no: attempt.order_no.clone(),
                    status: attempt.status(),
                    state: view::order_state(attempt)?.as_str().to_owned(),
                    paid_amount: attempt.paid_amount_minor.and_then(Amount::from_minor),
                    refund_amount: attempt.refund_amount_minor.and_then(Amount::from_minor),
                    pay_url: attempt.pay_url.clone(),
                    created_at: attempt.created_at,
                    updated_at: attempt.updated_at,
                })
            })
            .collect::<Result<Vec<_>, EdgeError>>()?;
        (
            view::merchant_view(&rows)?,
            merchant.duplicate_payment,
            attempts,
        )
    } else {
        (view(&row)?, false, Vec::new())
    };
    // Asked by a derived attempt number: that attempt's own view.
    let order_view = if row.attempt > 1 {
        view(&row)?
    } else {
        order_view
    };
    let mut flags = state_detail(&row)?;
    if duplicate_payment {
        flags.push("duplicate_payment");
    }
    let answer = AdminOrder {
        view: order_view,
        state_detail: flags,
        pay_url: row.pay_url.clone(),
        platform_order_no: row.platform_order_no.clone(),
        fee: row.fee_minor.and_then(Amount::from_minor),
        late_payment: row.late_payment != 0,
        created_at: row.created_at,
        last_query_at: row.last_query_at,
        refunds: store.refunds(order_no.as_str()).await?,
        events: store.events(order_no.as_str()).await?,
        attempts,
    };
    http::json(200, &answer)
}

/// The flags of the admin view.
fn state_detail(row: &OrderRow) -> Result<Vec<&'static str>, EdgeError> {
    use checkout_core::state::PaidAmount;
    let mut flags = Vec::new();
    let state = view::order_state(row)?;
    let paid = PaidAmount::compare(
        row.amount()?,
        row.paid_amount_minor.and_then(Amount::from_minor),
    );
    if state == OrderState::Underpaid {
        flags.push("underpaid");
    }
    if state.is_paid() && matches!(paid, PaidAmount::Over { .. }) {
        flags.push("overpaid");
    }
    if row.late_payment != 0 {
        flags.push("late_payment");
    }
    if row.create_refused.is_some() {
        flags.push("order_number_taken");
    }
    Ok(flags)
}
