//! `POST /v1/intents` (Bearer `MERCHANT_API_TOKEN`): mints a checkout intent.

use checkout_core::contract::{CreateIntentRequest, CreateIntentResponse};
use checkout_core::intent::Intent;
use checkout_core::money::{Currency, Money, MoneyLimits};
use checkout_core::order_no::OrderNo;
use worker::{Request, Response};

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::http;

/// Lifetime of an intent when `expires_in` is absent, seconds.
pub const DEFAULT_EXPIRES_IN: i64 = 3_600;
/// The longest lifetime accepted, seconds (one week).
pub const MAX_EXPIRES_IN: i64 = 7 * 86_400;

/// Mints an intent: 201 `{intent, order_no, expires_at}`.
pub async fn create(mut req: Request, ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = ctx.config()?;
    http::require_bearer(&req, &config.merchant_api_token)?;
    let body: CreateIntentRequest = http::read_json(&mut req).await?;

    let currency = Currency::parse(&body.currency)?;
    let money = Money::parse(&body.amount, currency, MoneyLimits::default())?;
    let order_no = match body.order_no {
        Some(text) => {
            let order_no = OrderNo::parse(&text)?;
            checkout_core::attempt::check_merchant_order_no(&order_no)
                .map_err(|_| EdgeError::OrderNoReserved)?;
            order_no
        }
        None => new_order_no()?,
    };
    let expires_in = body.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(1..=MAX_EXPIRES_IN).contains(&expires_in) {
        return Err(EdgeError::BadRequest(format!(
            "expires_in {expires_in} outside 1..={MAX_EXPIRES_IN}"
        )));
    }
    let exp = ctx.now_secs() + expires_in;
    let intent = Intent {
        order_no,
        money,
        exp,
    };
    let text = intent.mint(&config.intent_secret);
    ctx.log.info(
        "intent_minted",
        &[
            ("order_no", intent.order_no.as_str().into()),
            ("amount", money.to_string().into()),
            ("exp", exp.into()),
        ],
    );
    http::json(
        201,
        &CreateIntentResponse {
            intent: text,
            order_no: intent.order_no.as_str().to_owned(),
            expires_at: exp,
        },
    )
}

/// A fresh order number: 16 random bytes as 32 hex characters.
pub fn new_order_no() -> Result<OrderNo, EdgeError> {
    let bytes = http::random::<16>()?;
    Ok(OrderNo::parse(&hex::encode(bytes))?)
}
