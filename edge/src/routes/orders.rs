//! The widget routes: `POST /v1/orders` (create, idempotent per intent) and
//! `GET /v1/orders/{order_no}` (status, with `X-Client-Secret`).
//!
//! Create: the order row is inserted first (unique `order_no`, a creation lease), then
//! TrustPay is called, then the pay page is stored. A concurrent duplicate sees the row:
//! with a pay page it gets the same order (200); while the lease runs it gets 409
//! `order_in_progress` and retries. When TrustPay fails transiently the lease is released
//! and the row stays, so the next call with the same intent re-attempts the creation.

use checkout_core::AmountRendering;
use checkout_core::client_result::{self, ClientResult};
use checkout_core::client_secret;
use checkout_core::codes::OrderStatus;
use checkout_core::contract::{
    CLIENT_SECRET_HEADER, CreateOrderRequest, CreateOrderResponse, OrderView,
};
use checkout_core::intent::Intent;
use checkout_core::money::{Amount, Currency, Money, MoneyLimits};
use checkout_core::order_no::OrderNo;
use checkout_core::sign::SignFields;
use checkout_core::state;
use checkout_core::wire::{
    CashierPayinRequest, OrderQueryRequest, TrustPayRequest, opt_number, paths,
};
use serde::Deserialize;
use worker::{Request, Response};

use super::Ctx;
use crate::config::Config;
use crate::error::EdgeError;
use crate::gateway::{Gateway, GatewayError};
use crate::http;
use crate::store::{NewEvent, OrderRow, Store};
use crate::transition::{self, Incoming};

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
    let store = ctx.store()?;
    let now = ctx.now_ms;
    let lease_until = now + i64::from(config.gateway_timeout_ms) + LEASE_MARGIN_MS;
    let order_no = wanted.order_no.as_str();

    let secret = client_secret::encode(&http::random::<{ client_secret::CLIENT_SECRET_BYTES }>()?);
    let secret_hash = client_secret::hash(&secret);

    if store
        .insert_creating(
            order_no,
            wanted.money.amount,
            wanted.money.currency,
            config.merchant_id,
            now,
            lease_until,
        )
        .await?
    {
        store.add_client_secret(order_no, &secret_hash, now).await?;
        store
            .append_event(
                NewEvent {
                    order_no: Some(order_no),
                    source: "create",
                    outcome: "inserted",
                    status_from: None,
                    status_to: Some(1),
                    detail: None,
                },
                now,
            )
            .await?;
        return create_at_gateway(ctx, config, &store, &wanted, secret).await;
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
    if row.amount_minor != wanted.money.amount.minor()
        || row.currency != wanted.money.currency.code()
    {
        return Err(EdgeError::IntentConflictsWithOrder);
    }
    if let Some(pay_url) = row.pay_url.clone() {
        add_secret_capped(&store, order_no, &secret_hash, now).await?;
        ctx.log
            .info("order_reopened", &[("order_no", order_no.into())]);
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
                source: "create",
                outcome: "retry",
                status_from: None,
                status_to: None,
                detail: None,
            },
            now,
        )
        .await?;
    create_at_gateway(ctx, config, &store, &wanted, secret).await
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

/// Creates the cashier order at TrustPay for a row this request holds the lease of.
async fn create_at_gateway(
    ctx: &Ctx,
    config: &Config,
    store: &Store,
    wanted: &Wanted,
    secret: String,
) -> Result<Response, EdgeError> {
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
        Ok(data) => match data.pay_url.filter(|u| !u.is_empty()) {
            Some(pay_url) => Ok((pay_url, data.platform_order_no)),
            None => Err(GatewayError::Garbage {
                detail: "cashier payin answered without pay_url".into(),
            }),
        },
        Err(e) if e.is_order_already_exists() => recover_existing(ctx, &gateway, store, wanted)
            .await?
            .ok_or(e),
        Err(e) => Err(e),
    };
    let now = ctx.now_ms;
    match outcome {
        Ok((pay_url, platform_order_no)) => {
            store
                .set_created(order_no, &pay_url, platform_order_no.as_deref(), now)
                .await?;
            store
                .append_event(
                    NewEvent {
                        order_no: Some(order_no),
                        source: "create",
                        outcome: "created",
                        status_from: None,
                        status_to: Some(1),
                        detail: None,
                    },
                    now,
                )
                .await?;
            ctx.log.info(
                "order_created",
                &[
                    ("order_no", order_no.into()),
                    ("amount", wanted.money.to_string().into()),
                ],
            );
            let row = store
                .order(order_no)
                .await?
                .ok_or_else(|| EdgeError::Storage(format!("order {order_no} vanished")))?;
            respond_created(ctx, 201, &row, pay_url, secret)
        }
        Err(e) => {
            // The row stays (pending, no pay page); releasing the lease lets a retry re-attempt.
            store.release_creation(order_no, now).await?;
            let event = NewEvent {
                order_no: Some(order_no),
                source: "create",
                outcome: "gateway_failed",
                status_from: None,
                status_to: None,
                detail: Some(e.code().as_str().to_owned()),
            };
            store.append_event(event, now).await?;
            Err(e.into())
        }
    }
}

/// The order query answer, read leniently for the one field core's type doesn't carry:
/// `pay_url` [GUESS], which would let a create answered with 880012 recover the pay page.
#[derive(Debug, Deserialize)]
struct RecoveredOrder {
    #[serde(default, with = "opt_number")]
    order_amount: Option<Amount>,
    #[serde(default, with = "opt_number")]
    paid_amount: Option<Amount>,
    #[serde(default, with = "opt_number")]
    refund_amount: Option<Amount>,
    #[serde(default, with = "opt_number")]
    fee: Option<Amount>,
    #[serde(default)]
    status: Option<OrderStatus>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    pay_url: Option<String>,
    #[serde(default)]
    platform_order_no: Option<String>,
}

/// [`OrderQueryRequest`] with a [`RecoveredOrder`] answer.
struct RecoverQuery(OrderQueryRequest);

impl TrustPayRequest for RecoverQuery {
    type Data = RecoveredOrder;
    const PATH: &'static str = paths::ORDER_QUERY;
    fn fields(&self, rendering: AmountRendering) -> SignFields {
        self.0.fields(rendering)
    }
}

/// TrustPay says the order exists (880012) while we hold it without a pay page: the first
/// attempt's answer was lost. Query it. If it is ours (same amount and currency), its status
/// is applied through the state machine (`source = query`), and if the answer names the pay
/// page, creation is complete. `None`: the pay page can't be recovered (the caller reports
/// 880012); the order stays stored.
async fn recover_existing(
    ctx: &Ctx,
    gateway: &Gateway<'_>,
    store: &Store,
    wanted: &Wanted,
) -> Result<Option<(String, Option<String>)>, EdgeError> {
    let order_no = wanted.order_no.as_str();
    let query = RecoverQuery(OrderQueryRequest {
        order_no: order_no.to_owned(),
    });
    let Ok(data) = gateway.call(&query).await else {
        return Ok(None);
    };
    let same_amount = data.order_amount.is_none_or(|a| a == wanted.money.amount);
    let same_currency = data
        .currency
        .as_deref()
        .is_none_or(|c| c == wanted.money.currency.code());
    if !(same_amount && same_currency) {
        ctx.log
            .error("order_number_taken", &[("order_no", order_no.into())]);
        return Ok(None);
    }
    if let (Some(status), Some(row)) = (data.status, store.order(order_no).await?) {
        let incoming = Incoming {
            status,
            paid: data.paid_amount,
            refund: data.refund_amount,
            fee: data.fee,
            detail: Some("880012 recovery".into()),
        };
        transition::apply(ctx, store, row, &incoming, "query", ctx.now_ms).await?;
    }
    Ok(data
        .pay_url
        .filter(|u| !u.is_empty())
        .map(|url| (url, data.platform_order_no)))
}

fn respond_created(
    ctx: &Ctx,
    status: u16,
    row: &OrderRow,
    pay_url: String,
    client_secret: String,
) -> Result<Response, EdgeError> {
    let order_status = row.status();
    http::json(
        status,
        &CreateOrderResponse {
            order_no: row.order_no.clone(),
            pay_url,
            status: order_status,
            state: state::state_name(order_status).to_owned(),
            amount: row.amount()?,
            currency: row.currency()?,
            client_secret,
            events_token: events_token(ctx, row),
        },
    )
}

/// A fresh events token ([`checkout_core::events_token`]) for a page that just proved it
/// knows a client secret, while the order is not final.
pub fn events_token(ctx: &Ctx, row: &OrderRow) -> Option<String> {
    if state::is_final(row.status()) {
        return None;
    }
    let config = ctx.config().ok()?;
    let order_no = OrderNo::parse(&row.order_no).ok()?;
    let exp = ctx.now_secs() + checkout_core::events_token::DEFAULT_TTL_SECS;
    Some(checkout_core::events_token::mint(
        &order_no,
        exp,
        &config.intent_secret,
    ))
}

/// The shopper-facing view of a row.
pub fn view(row: &OrderRow) -> Result<OrderView, EdgeError> {
    let status = row.status();
    Ok(OrderView {
        order_no: row.order_no.clone(),
        status,
        state: state::state_name(status).to_owned(),
        amount: row.amount()?,
        currency: row.currency()?,
        paid_amount: row.paid_amount_minor.and_then(Amount::from_minor),
        refund_amount: row.refund_amount_minor.and_then(Amount::from_minor),
        updated_at: row.updated_at,
        result_token: None,
        events_token: None,
    })
}

/// The signed client result of a final order (`None` while pending, or without
/// `CLIENT_RESULT_SECRET`). Valid for [`client_result::DEFAULT_TTL_SECS`] from `now_secs`.
pub fn result_token(config: &Config, view: &OrderView, now_secs: i64) -> Option<String> {
    let key = config.client_result_secret.as_ref()?;
    if !state::is_final(view.status) {
        return None;
    }
    let result = ClientResult {
        order_no: OrderNo::parse(&view.order_no).ok()?,
        state: view.state.clone(),
        amount: view.amount,
        currency: view.currency,
        exp: now_secs + client_result::DEFAULT_TTL_SECS,
    };
    Some(result.mint(key))
}

/// `GET /v1/orders/{order_no}` with `X-Client-Secret`.
pub async fn status(req: Request, ctx: &Ctx, order_no: &str) -> Result<Response, EdgeError> {
    let presented =
        http::header(&req, CLIENT_SECRET_HEADER).ok_or(EdgeError::ClientSecretInvalid)?;
    let order_no = OrderNo::parse(order_no)?;
    let config = ctx.config()?;
    let store = ctx.store()?;
    let row = store
        .order(order_no.as_str())
        .await?
        .ok_or(EdgeError::OrderNotFound)?;
    let hashes = store.client_secret_hashes(order_no.as_str()).await?;
    if !client_secret::verify(&presented, hashes.iter().map(String::as_str)) {
        return Err(EdgeError::ClientSecretInvalid);
    }
    let row = refresh_if_stale(ctx, config, &store, row).await?;
    let mut view = view(&row)?;
    view.result_token = result_token(config, &view, ctx.now_secs());
    view.events_token = events_token(ctx, &row);
    http::json(200, &view)
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
            let Some(status) = data.status else {
                return Ok(row);
            };
            let incoming = Incoming {
                status,
                paid: data.paid_amount,
                refund: data.refund_amount,
                fee: data.fee,
                detail: data.reason.filter(|r| !r.is_empty()),
            };
            let order_no = row.order_no.clone();
            transition::apply(ctx, store, row, &incoming, "query", now).await?;
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
