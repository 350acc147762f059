//! What we tell about an order: the shopper-facing [`OrderView`], its [`OrderState`] (core's
//! paid rule), and the two tokens that ride with it (the signed client result of a final
//! order, the events token of a live one). Routes, the live channel and merchant
//! notifications all build their views here, so they can't disagree.

use checkout_core::attempt::{self, MerchantOrder};
use checkout_core::client_result::{self, ClientResult};
use checkout_core::contract::OrderView;
use checkout_core::events_token;
use checkout_core::money::Amount;
use checkout_core::order_no::OrderNo;
use checkout_core::state::OrderState;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::store::OrderRow;

/// The order's state: TrustPay's status judged by core's paid rule (a short `paid_amount` is
/// [`OrderState::Underpaid`], never paid).
pub fn order_state(row: &OrderRow) -> Result<OrderState, EdgeError> {
    Ok(OrderState::of(
        row.status(),
        row.amount()?,
        row.paid_amount_minor.and_then(Amount::from_minor),
    ))
}

/// The view of a row without tokens (merchant notifications, the admin view).
pub fn view(row: &OrderRow) -> Result<OrderView, EdgeError> {
    Ok(OrderView {
        order_no: row.order_no.clone(),
        status: row.status(),
        state: order_state(row)?.as_str().to_owned(),
        amount: row.amount()?,
        currency: row.currency()?,
        paid_amount: row.paid_amount_minor.and_then(Amount::from_minor),
        refund_amount: row.refund_amount_minor.and_then(Amount::from_minor),
        updated_at: row.updated_at,
        result_token: None,
        events_token: None,
    })
}

/// The merchant order as its attempts (`rows`, every attempt of one merchant order) make it
/// ([`attempt::merchant_state`]): the attempt whose state decides, and the derived facts.
pub fn merchant(rows: &[OrderRow]) -> Result<(&OrderRow, MerchantOrder), EdgeError> {
    let states = rows
        .iter()
        .map(|row| Ok((row.attempt_no(), order_state(row)?)))
        .collect::<Result<Vec<_>, EdgeError>>()?;
    let order = attempt::merchant_state(&states)
        .ok_or_else(|| EdgeError::Internal("a merchant order without attempts".into()))?;
    let row = rows
        .iter()
        .find(|row| row.attempt_no() == order.attempt)
        .ok_or_else(|| EdgeError::Internal("the deciding attempt is missing".into()))?;
    Ok((row, order))
}

/// The view of a merchant order from its attempts: the deciding attempt's view under the
/// merchant order number, last changed when any attempt last changed.
pub fn merchant_view(rows: &[OrderRow]) -> Result<OrderView, EdgeError> {
    let (row, order) = merchant(rows)?;
    let mut view = view(row)?;
    view.order_no = row.merchant_no().to_owned();
    view.state = order.state.as_str().to_owned();
    view.updated_at = rows
        .iter()
        .map(|r| r.updated_at)
        .max()
        .unwrap_or(row.updated_at);
    Ok(view)
}

/// The view a page that proved it may see the order gets (status route, live stream): with
/// the signed result once final, with a fresh events token while not.
pub fn shopper_view(ctx: &Ctx, row: &OrderRow) -> Result<OrderView, EdgeError> {
    shopper_view_of(ctx, std::slice::from_ref(row))
}

/// [`shopper_view`] of a merchant order from all its attempts.
pub fn shopper_view_of(ctx: &Ctx, rows: &[OrderRow]) -> Result<OrderView, EdgeError> {
    let config = ctx.config()?;
    let mut order = merchant_view(rows)?;
    let state = OrderState::parse(&order.state);
    order.result_token = result_token(config, state, &order, ctx.now_secs());
    order.events_token = events_token(ctx, state, &order.order_no);
    Ok(order)
}

/// A fresh events token ([`checkout_core::events_token`]) while the order is not final.
pub fn events_token(ctx: &Ctx, state: OrderState, order_no: &str) -> Option<String> {
    if state.is_final() {
        return None;
    }
    let config = ctx.config().ok()?;
    let order_no = OrderNo::parse(order_no).ok()?;
    let exp = ctx.now_secs() + events_token::DEFAULT_TTL_SECS;
    Some(events_token::mint(&order_no, exp, &config.intent_secret))
}

/// The signed client result of a final order (`None` while pending, or without
/// `CLIENT_RESULT_SECRET`). Valid for [`client_result::DEFAULT_TTL_SECS`] from `now_secs`.
fn result_token(
    config: &Config,
    state: OrderState,
    view: &OrderView,
    now_secs: i64,
) -> Option<String> {
    let key = config.client_result_secret.as_ref()?;
    if !state.is_final() {
        return None;
    }
    let result = ClientResult {
        order_no: OrderNo::parse(&view.order_no).ok()?,
        state: state.as_str().to_owned(),
        amount: view.amount,
        currency: view.currency,
        exp: now_secs + client_result::DEFAULT_TTL_SECS,
    };
    Some(result.mint(key))
}
