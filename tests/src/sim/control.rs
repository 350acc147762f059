//! The simulator-only control API under `/_sim/...` (JSON), for tests and manual poking.
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /health` | `ok` (readiness probe) |
//! | `POST /_sim/reset` | forget orders, logs, faults, holds, automatic outcomes; reseed |
//! | `GET /_sim/requests[?path=]` | the request log |
//! | `GET /_sim/callbacks[?order_no=]` | the callback delivery log |
//! | `GET /_sim/faults`, `DELETE /_sim/faults` | list / remove installed faults |
//! | `POST /_sim/faults/requests` | `{"kind":"code","code":880007}` / `http` + `status` / `garbage` / `delay` + `ms`; `count`, `path` |
//! | `POST /_sim/faults/callbacks` | `{"kind":"duplicate"}` / `drop` / `delay` + `ms`; `count`, `order_no` |
//! | `POST /_sim/callbacks/hold` | `{"order_no":..}` (or `{}` for all): keep callbacks back |
//! | `POST /_sim/callbacks/release` | `{"order_no":..,"reverse":true}` or `"order":[2,0]` (indexes, oldest = 0; left out = dropped): send the held ones, one by one (`"together":true`: all at once) |
//! | `POST /_sim/auto` | `{"outcome":"pay","after_ms":0}` for every new order (`"off"` clears) |
//! | `GET /_sim/orders`, `GET /_sim/orders/{order_no}` | the orders as the simulator holds them |
//! | `POST /_sim/orders/{order_no}/pay\|decline\|timeout\|settle` | act on an order (`{"force":true}` pays a failed / timed-out one; pay takes `"paid_amount":"0.01"` and `"payout":true`) |
//! | `POST /_sim/orders/{order_no}/auto` | `{"outcome":"decline","after_ms":50}`, also for an order not created yet |
//!
//! Bodies may be sent without a `Content-Type`; an empty body reads as `{}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::callbacks;
use super::faults::{CallbackFault, FaultError, RequestFault};
use super::store::{AutoOutcome, Effect, Outcome, OutcomeError};
use super::{Sim, run_effects};

/// The control routes.
pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/_sim/reset", post(reset))
        .route("/_sim/requests", get(requests))
        .route("/_sim/callbacks", get(callback_log))
        .route("/_sim/faults", get(list_faults).delete(clear_faults))
        .route("/_sim/faults/requests", post(add_request_fault))
        .route("/_sim/faults/callbacks", post(add_callback_fault))
        .route("/_sim/callbacks/hold", post(hold))
        .route("/_sim/callbacks/release", post(release))
        .route("/_sim/auto", post(auto_all))
        .route("/_sim/orders", get(list_orders))
        .route("/_sim/orders/{order_no}", get(one_order))
        .route("/_sim/orders/{order_no}/{action}", post(order_action))
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    /// The body is not the expected JSON.
    #[error("bad request body: {0}")]
    Body(String),
    /// A fault specification is invalid.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// No such order.
    #[error("no order `{0}`")]
    NoOrder(String),
    /// The order is not in a status the action applies to.
    #[error("order `{order_no}` is in status {status}")]
    WrongStatus {
        /// Merchant order number.
        order_no: String,
        /// Its status code.
        status: i64,
    },
    /// An unknown action in `/_sim/orders/{order_no}/{action}`.
    #[error("unknown action `{0}`: use pay, decline, timeout, settle or auto")]
    UnknownAction(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::Body(_) | ControlError::Fault(_) | ControlError::UnknownAction(_) => {
                StatusCode::BAD_REQUEST
            }
            ControlError::NoOrder(_) => StatusCode::NOT_FOUND,
            ControlError::WrongStatus { .. } => StatusCode::CONFLICT,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ControlError::Body(e.to_string()))
}

async fn reset(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    sim.lock().reset(sim.config.seed);
    sim.say(format_args!("reset"));
    Json(json!({ "ok": true }))
}

async fn requests(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = q.get("path");
    Json(
        sim.lock()
            .requests
            .filtered(|r| path.is_none_or(|p| *p == r.path)),
    )
    .into_response()
}

async fn callback_log(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let order_no = q.get("order_no");
    Json(
        sim.lock()
            .callbacks
            .filtered(|r| order_no.is_none_or(|o| *o == r.order_no)),
    )
    .into_response()
}

fn faults_json(sim: &Sim) -> serde_json::Value {
    let state = sim.lock();
    let (requests, callbacks) = state.faults.pending();
    json!({
        "requests": requests,
        "callbacks": callbacks,
        "holds": state.faults.holds(),
        "held_callbacks": state.faults.held_count(),
        "auto": state.auto_all,
        "auto_orders": state.auto_orders,
    })
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    Json(faults_json(&sim))
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    sim.lock().faults.clear();
    Json(faults_json(&sim))
}

async fn add_request_fault(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let fault: RequestFault = parse(&body)?;
    fault.validate()?;
    sim.lock().faults.add_request(fault);
    Ok(Json(faults_json(&sim)))
}

async fn add_callback_fault(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let fault: CallbackFault = parse(&body)?;
    fault.validate()?;
    sim.lock().faults.add_callback(fault);
    Ok(Json(faults_json(&sim)))
}

/// `{"order_no": ...}` or `{}`.
#[derive(Debug, Deserialize)]
struct Scope {
    #[serde(default)]
    order_no: Option<String>,
    #[serde(default)]
    reverse: bool,
    /// Delivery order of the held callbacks by index (oldest = 0); indexes left out are
    /// dropped (a lost callback). Overrides `reverse`.
    #[serde(default)]
    order: Option<Vec<usize>>,
    /// Send the released callbacks all at once (concurrently) instead of one by one.
    #[serde(default)]
    together: bool,
}

async fn hold(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let scope: Scope = parse(&body)?;
    sim.lock().faults.hold(scope.order_no);
    Ok(Json(json!({ "ok": true })))
}

async fn release(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let scope: Scope = parse(&body)?;
    let released = callbacks::release(
        &sim,
        scope.order_no.as_deref(),
        scope.reverse,
        scope.order.as_deref(),
        scope.together,
    );
    Ok(Json(json!({ "released": released })))
}

/// An automatic outcome, or `off`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AutoChoice {
    Pay,
    Decline,
    Timeout,
    Off,
}

/// `{"outcome": "pay", "after_ms": 100}`.
#[derive(Debug, Deserialize)]
struct AutoSpec {
    outcome: AutoChoice,
    #[serde(default)]
    after_ms: u64,
}

impl AutoSpec {
    fn auto(&self) -> Option<AutoOutcome> {
        let outcome = match self.outcome {
            AutoChoice::Pay => Outcome::Pay,
            AutoChoice::Decline => Outcome::Decline,
            AutoChoice::Timeout => Outcome::Timeout,
            AutoChoice::Off => return None,
        };
        Some(AutoOutcome {
            outcome,
            after: Duration::from_millis(self.after_ms),
        })
    }
}

async fn auto_all(
    State(sim): State<Arc<Sim>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let spec: AutoSpec = parse(&body)?;
    sim.lock().auto_all = spec.auto();
    Ok(Json(faults_json(&sim)))
}

async fn list_orders(State(sim): State<Arc<Sim>>) -> Response {
    let state = sim.lock();
    Json(state.orders().collect::<Vec<_>>()).into_response()
}

fn order_json(sim: &Sim, order_no: &str) -> Result<Json<serde_json::Value>, ControlError> {
    let state = sim.lock();
    let order = state
        .order(order_no)
        .ok_or_else(|| ControlError::NoOrder(order_no.to_owned()))?;
    serde_json::to_value(order)
        .map(Json)
        .map_err(|e| ControlError::Body(e.to_string()))
}

async fn one_order(
    State(sim): State<Arc<Sim>>,
    Path(order_no): Path<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    order_json(&sim, &order_no)
}

/// `{"force": true}` lets `pay` apply to a failed or timed-out order (a late payment).
#[derive(Debug, Default, Deserialize)]
struct ActionSpec {
    #[serde(default)]
    force: bool,
    /// The card sent to the risk-control hook for this payment (else the configured one).
    #[serde(default)]
    card: Option<super::risk::TestCard>,
    /// `pay` only: the `paid_amount` to report instead of the order amount (short or over).
    #[serde(default)]
    paid_amount: Option<checkout_core::money::Amount>,
    /// `pay` only: report the payment as a payout (`type` 1, status 2 "paid for payout").
    #[serde(default)]
    payout: bool,
}

async fn order_action(
    State(sim): State<Arc<Sim>>,
    Path((order_no, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let outcome = match action.as_str() {
        "pay" => Outcome::Pay,
        "decline" => Outcome::Decline,
        "timeout" => Outcome::Timeout,
        "settle" => {
            sim.lock()
                .settle(&order_no)
                .map_err(|e| outcome_error(&order_no, e))?;
            return order_json(&sim, &order_no);
        }
        "auto" => {
            let spec: AutoSpec = parse(&body)?;
            let effect = {
                let mut state = sim.lock();
                match spec.auto() {
                    Some(auto) => state.set_auto_for(&order_no, auto),
                    None => {
                        state.auto_orders.remove(&order_no);
                        None
                    }
                }
            };
            run_effects(&sim, effect.into_iter().collect());
            return Ok(Json(faults_json(&sim)));
        }
        other => return Err(ControlError::UnknownAction(other.to_owned())),
    };
    let spec: ActionSpec = parse(&body)?;
    let outcome = super::risk::screen(&sim, &order_no, outcome, spec.card.as_ref()).await;
    let shaped = spec.paid_amount.is_some() || spec.payout;
    let event = if outcome == Outcome::Pay && shaped {
        sim.lock().pay_with(
            &sim.config,
            &order_no,
            spec.paid_amount,
            spec.payout,
            spec.force,
        )
    } else {
        sim.lock()
            .apply_outcome(&sim.config, &order_no, outcome, spec.force)
    }
    .map_err(|e| outcome_error(&order_no, e))?;
    run_effects(&sim, vec![Effect::Callback(event)]);
    order_json(&sim, &order_no)
}

fn outcome_error(order_no: &str, e: OutcomeError) -> ControlError {
    match e {
        OutcomeError::NotFound => ControlError::NoOrder(order_no.to_owned()),
        OutcomeError::WrongStatus(status) => ControlError::WrongStatus {
            order_no: order_no.to_owned(),
            status: status.code(),
        },
    }
}
