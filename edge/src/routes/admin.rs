//! Merchant routes (Bearer `MERCHANT_API_TOKEN`): refunds, balance, fees, and one order with
//! its event log.

use checkout_core::codes::OrderStatus;
use checkout_core::money::{Amount, Currency, MoneyError};
use checkout_core::order_no::OrderNo;
use checkout_core::wire::{BalanceRequest, FeeOverviewRequest, RefundRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::Ctx;
use super::orders::view;
use crate::config::Config;
use crate::error::EdgeError;
use crate::gateway::{Gateway, GatewayError};
use crate::http;
use crate::store::{EventRow, NewEvent, RefundRow};

/// Longest refund reason accepted.
const MAX_REASON_CHARS: usize = 200;

fn authorized<'a>(req: &Request, ctx: &'a Ctx) -> Result<&'a Config, EdgeError> {
    let config = ctx.config()?;
    http::require_bearer(req, &config.merchant_api_token)?;
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
    let config = authorized(&req, ctx)?;
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
    let refund_no = match body.merchant_refund_no {
        Some(text) => OrderNo::parse(&text)?,
        None => OrderNo::parse(&format!("rf_{}", hex::encode(http::random::<12>()?)))?,
    };

    let store = ctx.store()?;
    let row = store
        .order(order_no.as_str())
        .await?
        .ok_or(EdgeError::OrderNotFound)?;
    if !matches!(
        row.status(),
        OrderStatus::Paid | OrderStatus::Settled | OrderStatus::PartiallyRefunded
    ) {
        return Err(EdgeError::RefundNotAllowed("the order is not paid"));
    }
    let requested: i64 = store
        .refunds(order_no.as_str())
        .await?
        .iter()
        .map(|r| r.amount_minor)
        .sum();
    let refunded = row.refund_amount_minor.unwrap_or(0).max(requested);
    if row.amount_minor - refunded < body.refund_amount.minor() {
        return Err(EdgeError::RefundNotAllowed(
            "the amount exceeds what is left to refund",
        ));
    }
    let now = ctx.now_ms;
    if !store
        .insert_refund(
            refund_no.as_str(),
            order_no.as_str(),
            body.refund_amount,
            reason,
            now,
        )
        .await?
    {
        return Err(EdgeError::RefundNotAllowed(
            "the refund number is used already",
        ));
    }

    let request = RefundRequest {
        order_no: order_no.as_str().to_owned(),
        merchant_refund_no: refund_no.as_str().to_owned(),
        refund_amount: body.refund_amount,
        reason: reason.to_owned(),
    };
    let result = Gateway::new(config, &ctx.log).call(&request).await;
    let (outcome, detail) = match &result {
        Ok(_) => ("refund_requested", refund_no.as_str().to_owned()),
        Err(e) => (
            "refund_failed",
            format!("{} {}", refund_no.as_str(), e.code().as_str()),
        ),
    };
    let event = NewEvent {
        order_no: Some(order_no.as_str()),
        source: "admin",
        outcome,
        status_from: Some(row.status),
        status_to: None,
        detail: Some(detail),
    };
    store.append_event(event, now).await?;
    match result {
        Ok(data) => {
            store
                .set_refund_status(refund_no.as_str(), data.status)
                .await?;
            ctx.log.info(
                "refund_requested",
                &[
                    ("order_no", order_no.as_str().into()),
                    ("merchant_refund_no", refund_no.as_str().into()),
                ],
            );
            http::json(
                201,
                &RefundAnswer {
                    order_no: order_no.as_str().to_owned(),
                    merchant_refund_no: refund_no.as_str().to_owned(),
                    refund_amount: body.refund_amount,
                    currency: row.currency()?,
                    gateway_status: data.status,
                },
            )
        }
        Err(e) => {
            // A refusal means no refund exists: free the number. After a timeout the refund may
            // exist, so the row stays and keeps counting against the refundable amount.
            if matches!(e, GatewayError::Rejected { .. }) {
                store.delete_refund(refund_no.as_str()).await?;
            }
            Err(e.into())
        }
    }
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
    pay_url: Option<String>,
    platform_order_no: Option<String>,
    fee: Option<Amount>,
    late_payment: bool,
    created_at: i64,
    last_query_at: Option<i64>,
    refunds: Vec<RefundRow>,
    events: Vec<EventRow>,
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
    let answer = AdminOrder {
        view: view(&row)?,
        pay_url: row.pay_url.clone(),
        platform_order_no: row.platform_order_no.clone(),
        fee: row.fee_minor.and_then(Amount::from_minor),
        late_payment: row.late_payment != 0,
        created_at: row.created_at,
        last_query_at: row.last_query_at,
        refunds: store.refunds(order_no.as_str()).await?,
        events: store.events(order_no.as_str()).await?,
    };
    http::json(200, &answer)
}
