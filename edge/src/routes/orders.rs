//! The widget routes: `POST /v1/orders` (create, idempotent per intent) and
//! `GET /v1/orders/{order_no}` (status, with `X-Client-Secret`).
//!
//! Create: the order row is inserted first (unique `order_no`, a creation lease; with the
//! page's client-secret hash and the `inserted` event, one D1 batch), then TrustPay is called,
//! then the pay page is stored (with the `created` event, one batch that also answers the row):
//! two D1 round trips on the happy path. A concurrent duplicate sees the row:
//! with a pay page it gets the same order (200); while the lease runs it gets 409
//! `order_in_progress` and retries. When TrustPay fails transiently the lease is released
//! and the row stays, so the next call with the same intent re-attempts the creation.
//!
//! TrustPay's `order_already_exists` (880012) means two different things. On the *first*
//! attempt (this request inserted the row, so nothing of ours can have reached TrustPay) it is
//! someone else's order: the order is marked `order_number_taken`, fails with that code, and
//! nothing TrustPay says about that number is ever applied to it. On a *retry* of a creation
//! we started (lease expired or released, answer lost) it is probably our own: the order is
//! queried and adopted only if type, merchant, amount and currency are all present and equal.

use checkout_core::attempt::{self, AttemptError};
use checkout_core::callback::{ExpectedOrder, QueryMatch};
use checkout_core::client_secret;
use checkout_core::codes::OrderStatus;
use checkout_core::contract::{
    AttemptResponse, CLIENT_SECRET_HEADER, CreateOrderRequest, CreateOrderResponse, check_pay_url,
};
use checkout_core::intent::Intent;
use checkout_core::money::{Currency, Money, MoneyLimits};
use checkout_core::order_no::OrderNo;
use checkout_core::state::OrderState;
use checkout_core::wire::{CashierPayinRequest, OrderQueryRequest};
use worker::{Request, Response};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::{Outcome, Source};
use crate::gateway::{Gateway, GatewayError};
use crate::http;
use crate::limit::{self, Limiter};
use crate::store::{NewEvent, NewOrder, OrderRow, Store};
use crate::transition::{self, Incoming};
use crate::view;

/// Extra time the creation lease gets beyond the gateway timeout, ms.
const LEASE_MARGIN_MS: i64 = 5_000;
/// Client secrets one order may accumulate (one per page that opened it).
const MAX_CLIENT_SECRETS: usize = 32;

/// What the request asks for, once validated.
struct Wanted {
    order_no: OrderNo,
    money: Money,
    /// From an intent: a repeat returns the same order.
    from_intent: bool,
}

fn wanted(body: CreateOrderRequest, config: &Config, now_secs: i64) -> Result<Wanted, EdgeError> {
    match (body.intent, body.amount, body.currency) {
        (Some(intent), None, None) => {
            let intent = Intent::verify(
                &intent,
                &config.intent_secret,
                now_secs,
                MoneyLimits::default(),
            )?;
            attempt::check_merchant_order_no(&intent.order_no)
                .map_err(|_| EdgeError::OrderNoReserved)?;
            Ok(Wanted {
                order_no: intent.order_no,
                money: intent.money,
                from_intent: true,
            })
        }
        (Some(_), _, _) => Err(EdgeError::BadRequest(
            "an intent and an open amount together".into(),
        )),
        (None, None, None) => Err(EdgeError::IntentMissing),
        (None, amount, currency) => {
            let Some(open) = &config.open_amount else {
                return Err(EdgeError::AmountNotAllowed);
            };
            let currency = Currency::parse(currency.as_deref().unwrap_or_default())?;
            let money = Money::parse(
                amount.as_deref().unwrap_or_default(),
                currency,
                MoneyLimits::default(),
            )?;
            if !open.allows(money.currency, money.amount) {
                return Err(EdgeError::AmountNotAllowed);
            }
            Ok(Wanted {
                order_no: super::intents::new_order_no()?,
                money,
                from_intent: false,
            })
        }
    }
}

/// `POST /v1/orders`: 201 when this call created the order at TrustPay, 200 when it existed.
pub async fn create(mut req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let body: CreateOrderRequest = http::read_json(&mut req).await?;
    let config = ctx.config()?;
    let wanted = wanted(body, config, ctx.now_secs())?;
    if wanted.from_intent {
        limit::check(ctx, Limiter::CreateByOrder, wanted.order_no.as_str()).await?;
    }
    let store = ctx.store()?;
    let now = ctx.now_ms;
    let lease_until = now + i64::from(config.gateway_timeout_ms) + LEASE_MARGIN_MS;
    let order_no = wanted.order_no.as_str();

    let secret = client_secret::encode(&http::random::<{ client_secret::CLIENT_SECRET_BYTES }>()?);
    let secret_hash = client_secret::hash(&secret);

    let new_order = NewOrder {
        order_no,
        amount: wanted.money.amount,
        currency: wanted.money.currency,
        merchant_id: config.merchant_id,
        secret_hash: &secret_hash,
    };
    if store.insert_creating(new_order, now, lease_until).await? {
        let (row, pay_url) =
            create_at_gateway(ctx, config, &store, &wanted, Attempt::First, lease_until).await?;
        return respond_created(ctx, 201, &row, pay_url, secret);
    }

    // The order number exists: the same intent again (or a concurrent duplicate).
    let row = store
        .order(order_no)
        .await?
        .ok_or_else(|| EdgeError::Storage(format!("order {order_no} conflicted but is missing")))?;
    if !wanted.from_intent {
        return Err(EdgeError::Internal(format!(
            "random order number {order_no} collided"
        )));
    }
    if row.create_refused.is_some() {
        return Err(EdgeError::OrderNumberTaken);
    }
    if row.amount_minor != wanted.money.amount.minor()
        || row.currency != wanted.money.currency.code()
    {
        return Err(EdgeError::IntentConflictsWithOrder);
    }
    if let Some(pay_url) = row.pay_url.clone() {
        add_secret_capped(&store, order_no, &secret_hash, now).await?;
        ctx.log
            .info("order_reopened", &[("order_no", order_no.into())]);
        if row.attempts > 1 {
            return respond_reopened(ctx, &store, &row, secret).await;
        }
        return respond_created(ctx, 200, &row, pay_url, secret);
    }
    if row.creating_until > now
        || !store
            .claim_creation(order_no, row.creating_until, lease_until)
            .await?
    {
        return Err(EdgeError::OrderInProgress);
    }
    add_secret_capped(&store, order_no, &secret_hash, now).await?;
    store
        .append_event(
            NewEvent {
                order_no: Some(order_no),
                source: Source::Create,
                outcome: Outcome::Retry,
                status_from: None,
                status_to: None,
                detail: None,
            },
            now,
        )
        .await?;
    let (row, pay_url) =
        create_at_gateway(ctx, config, &store, &wanted, Attempt::Retry, lease_until).await?;
    respond_created(ctx, 201, &row, pay_url, secret)
}

/// Whether a creation may already have reached TrustPay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// This request inserted the row: nothing of ours was ever sent.
    First,
    /// A creation we started before may have reached TrustPay (its answer lost).
    Retry,
}

async fn add_secret_capped(
    store: &Store,
    order_no: &str,
    secret_hash: &str,
    now: i64,
) -> Result<(), EdgeError> {
    if store.client_secret_hashes(order_no).await?.len() >= MAX_CLIENT_SECRETS {
        return Err(EdgeError::RateLimited);
    }
    store.add_client_secret(order_no, secret_hash, now).await
}

/// Creates the cashier order at TrustPay for a row this request holds the lease of (until
/// `lease_until`): the row as created, and its pay page. What it learns is written only while
/// it still holds the lease; if the lease passed to another request of ours meanwhile (this
/// one took longer than the lease), that request finishes the creation and this one answers
/// `order_in_progress`.
async fn create_at_gateway(
    ctx: &Ctx,
    config: &Config,
    store: &Store,
    wanted: &Wanted,
    attempt: Attempt,
    lease_until: i64,
) -> Result<(OrderRow, String), EdgeError> {
    let order_no = wanted.order_no.as_str();
    let gateway = Gateway::new(config, &ctx.log);
    let request = CashierPayinRequest {
        merchant_id: config.merchant_id,
        order_no: order_no.to_owned(),
        order_amount: wanted.money.amount,
        currency: wanted.money.currency,
        notify_url: config.notify_url(),
    };
    let outcome = match gateway.call(&request).await {
        Ok(data) => match data.pay_page() {
            Some(pay_url) => checked_pay_page(pay_url).map(|url| (url, data.platform_order_no)),
            None => Err(GatewayError::Garbage {
                detail: "cashier payin answered without pay_url".into(),
            }),
        },
        Err(e) if e.is_order_already_exists() && attempt == Attempt::First => {
            return refuse_taken(ctx, store, order_no, lease_until).await;
        }
        Err(e) if e.is_order_already_exists() => recover_existing(ctx, &gateway, store, wanted)
            .await?
            .ok_or(e),
        Err(e) => Err(e),
    };
    let now = ctx.now_ms;
    match outcome {
        Ok((pay_url, platform_order_no)) => {
            let Some(row) = store
                .set_created(
                    order_no,
                    &pay_url,
                    platform_order_no.as_deref(),
                    lease_until,
                    now,
                )
                .await?
            else {
                lease_lost(ctx, order_no);
                return Err(EdgeError::OrderInProgress);
            };
            ctx.log.info(
                "order_created",
                &[
                    ("order_no", order_no.into()),
                    ("amount", wanted.money.to_string().into()),
                ],
            );
            Ok((row, pay_url))
        }
        Err(e) => {
            // The row stays (pending, no pay page); releasing the lease lets a retry re-attempt.
            store.release_creation(order_no, lease_until, now).await?;
            let event = NewEvent {
                order_no: Some(order_no),
                source: Source::Create,
                outcome: Outcome::GatewayFailed,
                status_from: None,
                status_to: None,
                detail: Some(e.code().as_str().to_owned()),
            };
            store.append_event(event, now).await?;
            Err(e.into())
        }
    }
}

/// This request's creation lease passed to another request before it could record what
/// TrustPay answered.
fn lease_lost(ctx: &Ctx, order_no: &str) {
    ctx.log
        .warn("creation_lease_lost", &[("order_no", order_no.into())]);
}

/// A pay page we may send a shopper to ([`check_pay_url`]); anything else is an unreadable
/// answer (the creation is retried, and the shopper never navigates there).
fn checked_pay_page(url: &str) -> Result<String, GatewayError> {
    check_pay_url(url)
        .map(|()| url.to_owned())
        .map_err(|e| GatewayError::Garbage {
            detail: format!("pay page refused: {e}"),
        })
}

/// 880012 on the first attempt: TrustPay holds a different order under our number. The order
/// is marked, the shopper gets `order_number_taken`, and nothing is queried or adopted.
async fn refuse_taken(
    ctx: &Ctx,
    store: &Store,
    order_no: &str,
    lease_until: i64,
) -> Result<(OrderRow, String), EdgeError> {
    let now = ctx.now_ms;
    let refused = store
        .refuse_creation(
            order_no,
            Outcome::OrderNumberTaken.as_str(),
            lease_until,
            now,
        )
        .await?;
    if !refused {
        // Our lease ran out and another request of ours took over: the order TrustPay holds
        // may be that request's, which finishes (or recovers) the creation.
        lease_lost(ctx, order_no);
        return Err(EdgeError::OrderInProgress);
    }
    let event = NewEvent {
        order_no: Some(order_no),
        source: Source::Create,
        outcome: Outcome::OrderNumberTaken,
        status_from: None,
        status_to: None,
        detail: Some("880012 on the first attempt".into()),
    };
    store.append_event(event, now).await?;
    ctx.log
        .error("order_number_taken", &[("order_no", order_no.into())]);
    Err(EdgeError::OrderNumberTaken)
}

/// TrustPay says the order exists (880012) on a retry of a creation we started: the first
/// attempt's answer was probably lost. Query it. Only if every identifying field is present
/// and ours (pay-in, merchant, amount, currency) is its status applied through the state
/// machine (`source = query`), and if the answer names a pay page we accept, creation is
/// complete. `None`: the pay page can't be recovered (the caller reports 880012); the order
/// stays stored.
async fn recover_existing(
    ctx: &Ctx,
    gateway: &Gateway<'_>,
    store: &Store,
    wanted: &Wanted,
) -> Result<Option<(String, Option<String>)>, EdgeError> {
    let order_no = wanted.order_no.as_str();
    let query = OrderQueryRequest {
        order_no: order_no.to_owned(),
    };
    let Ok(data) = gateway.call(&query).await else {
        return Ok(None);
    };
    let Some(row) = store.order(order_no).await? else {
        return Ok(None);
    };
    let expected = ExpectedOrder {
        merchant_id: row.merchant_id,
        amount: wanted.money.amount,
        currency: wanted.money.currency,
    };
    if let Err(mismatch) = data.check_order(&expected, QueryMatch::AllFields) {
        ctx.log.error(
            "order_number_taken",
            &[
                ("order_no", order_no.into()),
                ("detail", mismatch.to_string().into()),
            ],
        );
        let event = NewEvent {
            order_no: Some(order_no),
            source: Source::Query,
            outcome: Outcome::Mismatch,
            status_from: Some(row.status),
            status_to: data.status.map(OrderStatus::code),
            detail: Some(format!("880012 recovery: {mismatch}")),
        };
        store.append_event(event, ctx.now_ms).await?;
        return Ok(None);
    }
    if let Some(mut incoming) = Incoming::from_query(&data) {
        incoming.detail = Some("880012 recovery".into());
        transition::apply(ctx, store, row, &incoming, Source::Query, ctx.now_ms).await?;
    }
    Ok(data
        .pay_url
        .as_deref()
        .filter(|url| check_pay_url(url).is_ok())
        .map(|url| (url.to_owned(), data.platform_order_no.clone())))
}

/// The same intent again for a merchant order with several attempts: the merchant order's
/// state, and the pay page of its latest attempt that has one.
async fn respond_reopened(
    ctx: &Ctx,
    store: &Store,
    first: &OrderRow,
    client_secret: String,
) -> Result<Response, EdgeError> {
    let rows = store.siblings(first).await?;
    let view = view::merchant_view(&rows)?;
    let latest = rows
        .iter()
        .rev()
        .find(|row| row.pay_url.is_some())
        .unwrap_or(first);
    let state = OrderState::parse(&view.state);
    http::json(
        200,
        &CreateOrderResponse {
            order_no: view.order_no.clone(),
            pay_url: latest.pay_url.clone().unwrap_or_default(),
            status: view.status,
            state: view.state.clone(),
            amount: view.amount,
            currency: view.currency,
            client_secret,
            events_token: view::events_token(ctx, state, &view.order_no),
        },
    )
}

fn respond_created(
    ctx: &Ctx,
    status: u16,
    row: &OrderRow,
    pay_url: String,
    client_secret: String,
) -> Result<Response, EdgeError> {
    let state = view::order_state(row)?;
    http::json(
        status,
        &CreateOrderResponse {
            order_no: row.order_no.clone(),
            pay_url,
            status: row.status(),
            state: state.as_str().to_owned(),
            amount: row.amount()?,
            currency: row.currency()?,
            client_secret,
            events_token: view::events_token(ctx, state, &row.order_no),
        },
    )
}

/// `GET /v1/orders/{order_no}` with `X-Client-Secret`.
///
/// An unknown order and a wrong secret answer the same (401 `client_secret_invalid`) after the
/// same work (both reads, one hash of the presented secret), so the route tells a caller
/// without the secret nothing about which order numbers exist.
pub async fn status(req: Request, ctx: &Ctx, order_no: &str) -> Result<Response, EdgeError> {
    let presented =
        http::header(&req, CLIENT_SECRET_HEADER).ok_or(EdgeError::ClientSecretInvalid)?;
    let order_no = OrderNo::parse(order_no)?;
    let config = ctx.config()?;
    let store = ctx.store()?;
    let (mut rows, hashes) = store.attempts_and_secrets(order_no.as_str()).await?;
    let verified = client_secret::verify(&presented, hashes.iter().map(String::as_str));
    if !verified || rows.is_empty() {
        return Err(EdgeError::ClientSecretInvalid);
    }
    // The latest attempt is the one that may be running (and stale).
    if let Some(latest) = rows.pop() {
        rows.push(refresh_if_stale(ctx, config, &store, latest).await?);
    }
    http::json(200, &view::shopper_view_of(ctx, &rows)?)
}

/// `POST /v1/orders/{order_no}/attempts` with `X-Client-Secret` (of the merchant order): a
/// new payment attempt, its own TrustPay order, once the latest one failed, expired or was
/// abandoned (pending `ATTEMPT_ABANDON_SECONDS` after its creation) and no attempt was paid.
///
/// The attempt's row is inserted first with a creation lease (its TrustPay number is its key,
/// so of two concurrent requests only one inserts; the other is answered
/// `attempt_not_allowed`, the attempt now running), then created at TrustPay exactly like a
/// first creation (880012 = `order_number_taken`). An attempt whose creation failed
/// transiently is re-created by the next call once its lease is over. An unknown order and a
/// wrong secret answer the same, like the status route.
pub async fn new_attempt(req: Request, ctx: &Ctx, order_no: &str) -> Result<Response, EdgeError> {
    let presented =
        http::header(&req, CLIENT_SECRET_HEADER).ok_or(EdgeError::ClientSecretInvalid)?;
    let merchant = OrderNo::parse(order_no)?;
    let config = ctx.config()?;
    let store = ctx.store()?;
    let (rows, hashes) = store.attempts_and_secrets(merchant.as_str()).await?;
    let verified = client_secret::verify(&presented, hashes.iter().map(String::as_str));
    let (Some(first), Some(latest)) = (rows.first(), rows.last()) else {
        return Err(EdgeError::ClientSecretInvalid);
    };
    if !verified || first.attempt != 1 {
        return Err(EdgeError::ClientSecretInvalid);
    }
    let now = ctx.now_ms;
    let lease_until = now + i64::from(config.gateway_timeout_ms) + LEASE_MARGIN_MS;
    let money = Money {
        amount: first.amount()?,
        currency: first.currency()?,
    };
    let (_, order) = view::merchant(&rows)?;

    // The latest attempt never reached TrustPay (its creation failed): create it again.
    if latest.attempt > 1 && latest.pay_url.is_none() && latest.create_refused.is_none() {
        // Never once money arrived (paid or underpaid): the same rule as a new attempt.
        if matches!(order.state, OrderState::Underpaid)
            || order.state.is_paid()
            || latest.creating_until > now
            || !store
                .claim_creation(&latest.order_no, latest.creating_until, lease_until)
                .await?
        {
            return Err(EdgeError::AttemptNotAllowed);
        }
        let wanted = Wanted {
            order_no: OrderNo::parse(&latest.order_no)?,
            money,
            from_intent: true,
        };
        let (row, pay_url) =
            create_at_gateway(ctx, config, &store, &wanted, Attempt::Retry, lease_until).await?;
        return respond_attempt(ctx, &merchant, &row, pay_url);
    }

    let abandoned = now - latest.created_at >= i64::from(config.attempt_abandon_seconds) * 1000;
    if !attempt::may_retry(&order, abandoned) {
        return Err(EdgeError::AttemptNotAllowed);
    }
    let next = latest.attempt_no().saturating_add(1);
    if next > config.max_attempts {
        return Err(EdgeError::AttemptLimit);
    }
    let trustpay_no = match attempt::trustpay_order_no(&merchant, next) {
        Ok(no) => no,
        Err(AttemptError::TooLong | AttemptError::OutOfRange) => {
            return Err(EdgeError::AttemptLimit);
        }
        Err(AttemptError::Reserved) => return Err(EdgeError::OrderNoReserved),
    };
    if !store
        .insert_attempt(first, trustpay_no.as_str(), next, now, lease_until)
        .await?
    {
        return Err(EdgeError::AttemptNotAllowed);
    }
    let wanted = Wanted {
        order_no: trustpay_no,
        money,
        from_intent: true,
    };
    let (row, pay_url) =
        create_at_gateway(ctx, config, &store, &wanted, Attempt::First, lease_until).await?;
    ctx.log.info(
        "attempt_created",
        &[
            ("order_no", merchant.as_str().into()),
            ("attempt", i64::from(next).into()),
        ],
    );
    respond_attempt(ctx, &merchant, &row, pay_url)
}

fn respond_attempt(
    ctx: &Ctx,
    merchant: &OrderNo,
    row: &OrderRow,
    pay_url: String,
) -> Result<Response, EdgeError> {
    let state = view::order_state(row)?;
    http::json(
        201,
        &AttemptResponse {
            order_no: merchant.as_str().to_owned(),
            attempt: row.attempt_no(),
            pay_url,
            status: row.status(),
            state: state.as_str().to_owned(),
            amount: row.amount()?,
            currency: row.currency()?,
            events_token: view::events_token(ctx, state, merchant.as_str()),
        },
    )
}

/// A pending order whose last news is older than `STATUS_REFRESH_SECONDS` is queried at
/// TrustPay, at most once per period per order (the claim is a conditional update). A failed
/// query changes nothing: the stored view is answered and a later request tries again.
pub async fn refresh_if_stale(
    ctx: &Ctx,
    config: &Config,
    store: &Store,
    row: OrderRow,
) -> Result<OrderRow, EdgeError> {
    let period = i64::from(config.status_refresh_seconds) * 1000;
    let now = ctx.now_ms;
    let stale = row.status() == OrderStatus::Pending
        && row.pay_url.is_some()
        && now - row.updated_at >= period;
    if !stale || !store.claim_query(&row.order_no, now, now - period).await? {
        return Ok(row);
    }
    let gateway = Gateway::new(config, &ctx.log);
    match gateway
        .call(&OrderQueryRequest {
            order_no: row.order_no.clone(),
        })
        .await
    {
        Ok(data) => {
            let Some(incoming) = Incoming::from_query(&data) else {
                return Ok(row);
            };
            if !transition::query_is_ours(ctx, store, &row, &data, Source::Query).await? {
                return Ok(row);
            }
            let order_no = row.order_no.clone();
            transition::apply(ctx, store, row, &incoming, Source::Query, now).await?;
            store
                .order(&order_no)
                .await?
                .ok_or(EdgeError::OrderNotFound)
        }
        Err(e) => {
            ctx.log.warn(
                "refresh_failed",
                &[
                    ("order_no", row.order_no.as_str().into()),
                    ("code", e.code().as_str().into()),
                ],
            );
            Ok(row)
        }
    }
}
