//! Shared helpers of the simulator tests: a signing API client, a callback listener that
//! verifies every body with `checkout_core::callback::verify_callback`, and bounded polling.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use checkout_core::callback::{CallbackError, VerifiedCallback, verify_callback};
use checkout_core::codes::{ErrorCode, OrderStatus};
use checkout_core::money::{Amount, AmountRendering, Currency};
use checkout_core::secret::Secret;
use checkout_core::sign::SignFields;
use checkout_core::wire::{
    CashierPayinData, CashierPayinRequest, Envelope, OrderQueryData, OrderQueryRequest,
    TrustPayRequest,
};
use serde_json::Value;
use tests::sim::{
    DEFAULT_API_KEY, DEFAULT_MERCHANT_ID, DEFAULT_SECRET, SimConfig, SimHandle, serve,
};

/// How long any polling waits before failing the test.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// Starts a simulator (quiet) with `config`.
pub(crate) async fn start(config: SimConfig) -> (SimHandle, Api) {
    let (_, sim) = serve(config).await.expect("the simulator starts");
    let api = Api::new(&sim);
    (sim, api)
}

/// Starts a simulator with [`SimConfig::for_tests`].
pub(crate) async fn start_default() -> (SimHandle, Api) {
    start(SimConfig::for_tests()).await
}

/// The development secret.
pub(crate) fn secret() -> Secret {
    Secret::new(DEFAULT_SECRET).expect("non-empty")
}

/// An amount from cents.
pub(crate) fn amount(minor: i64) -> Amount {
    Amount::from_minor(minor).expect("non-negative")
}

/// Polls `check` every 10 ms until it returns `Some`, failing after [`DEADLINE`].
pub(crate) async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tests::wait::eventually(DEADLINE, Duration::from_millis(10), check)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// A client of the simulator: signs like the edge does, with `checkout-core`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) api_key: String,
    pub(crate) secret: Secret,
    pub(crate) rendering: AmountRendering,
}

impl Api {
    pub(crate) fn new(sim: &SimHandle) -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            base: sim.base_url(),
            api_key: DEFAULT_API_KEY.to_owned(),
            secret: secret(),
            rendering: sim.config().sign_amounts,
        }
    }

    /// POSTs `body` to `path` with the given key (`None`: no header) and content type.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: String,
        api_key: Option<&str>,
        content_type: Option<&str>,
    ) -> (u16, String) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(key) = api_key {
            req = req.header("X-Api-Key", key);
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let resp = req.send().await.expect("the simulator answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("a body"))
    }

    /// POSTs an already built body with the right key and content type.
    pub(crate) async fn post_body(&self, path: &str, body: String) -> (u16, String) {
        self.post_raw(
            path,
            body,
            Some(&self.api_key.clone()),
            Some("application/json"),
        )
        .await
    }

    /// Signs `fields` and POSTs them; returns the parsed envelope.
    pub(crate) async fn send_fields(&self, path: &str, fields: SignFields) -> Envelope<Value> {
        let (_, text) = self.post_body(path, fields.signed_body(&self.secret)).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered a non-envelope ({e}): {text}"))
    }

    /// Sends a typed request, signed in this client's rendering.
    pub(crate) async fn send<R: TrustPayRequest>(&self, req: &R) -> Envelope<R::Data> {
        let body = req.fields(self.rendering).signed_body(&self.secret);
        let (_, text) = self.post_body(R::PATH, body).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} answered an unexpected body ({e}): {text}", R::PATH))
    }

    /// Creates a USD order and asserts success.
    pub(crate) async fn create(
        &self,
        order_no: &str,
        minor: i64,
        notify_url: &str,
    ) -> CashierPayinData {
        self.create_in(order_no, minor, Currency::Usd, notify_url)
            .await
    }

    /// Creates an order and asserts success.
    pub(crate) async fn create_in(
        &self,
        order_no: &str,
        minor: i64,
        currency: Currency,
        notify_url: &str,
    ) -> CashierPayinData {
        let req = CashierPayinRequest {
            merchant_id: DEFAULT_MERCHANT_ID,
            order_no: order_no.to_owned(),
            order_amount: amount(minor),
            currency,
            notify_url: notify_url.to_owned(),
        };
        let env = self.send(&req).await;
        assert_eq!(
            env.code,
            ErrorCode::Success,
            "create {order_no}: {}",
            env.message
        );
        env.data.expect("payin data")
    }

    /// Queries an order and asserts success.
    pub(crate) async fn query(&self, order_no: &str) -> OrderQueryData {
        let env = self
            .send(&OrderQueryRequest {
                order_no: order_no.to_owned(),
            })
            .await;
        assert_eq!(
            env.code,
            ErrorCode::Success,
            "query {order_no}: {}",
            env.message
        );
        env.data.expect("query data")
    }

    /// Waits until the order query shows `status`.
    pub(crate) async fn wait_status(&self, order_no: &str, status: OrderStatus) -> OrderQueryData {
        until(
            &format!("{order_no} to reach status {}", status.code()),
            || async {
                let data = self.query(order_no).await;
                (data.status == Some(status)).then_some(data)
            },
        )
        .await
    }

    /// POSTs JSON to the control API; returns the HTTP status and JSON answer.
    pub(crate) async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .send()
            .await
            .expect("control answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs to the control API and asserts HTTP 200.
    pub(crate) async fn control_ok(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.control(path, body).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }

    /// GETs JSON from the simulator.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let text = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// The request log entries for `path`.
    pub(crate) async fn requests(&self, path: &str) -> Vec<Value> {
        self.get_json(&format!("/_sim/requests?path={path}"))
            .await
            .as_array()
            .cloned()
            .expect("an array")
    }

    /// The callback log entries of `order_no`.
    pub(crate) async fn callback_log(&self, order_no: &str) -> Vec<Value> {
        self.get_json(&format!("/_sim/callbacks?order_no={order_no}"))
            .await
            .as_array()
            .cloned()
            .expect("an array")
    }
}

/// How the listener answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Respond {
    /// 200 `{}` to everything.
    Ok,
    /// 500 to the first `n` callbacks, then 200.
    FailFirst(usize),
    /// 500 to everything.
    AlwaysFail,
    /// Waits this long before answering 200 (to trip the simulator's timeout).
    Slow(Duration),
}

/// One received callback.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: String,
    pub(crate) verified: Result<VerifiedCallback, CallbackError>,
}

impl Received {
    /// The verified callback; panics with the body if it did not verify.
    pub(crate) fn callback(&self) -> &checkout_core::wire::Callback {
        match &self.verified {
            Ok(v) => &v.callback,
            Err(e) => panic!("callback did not verify ({e}): {}", self.body),
        }
    }

    /// The body's JSON keys, sorted.
    pub(crate) fn keys(&self) -> Vec<String> {
        let value: Value = serde_json::from_str(&self.body).expect("JSON body");
        let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[derive(Clone)]
struct ListenerState {
    secret: Secret,
    respond: Respond,
    received: Arc<Mutex<Vec<Received>>>,
    calls: Arc<AtomicUsize>,
}

/// A merchant callback endpoint on 127.0.0.1:0 that records and verifies every body.
#[derive(Debug, Clone)]
pub(crate) struct Listener {
    pub(crate) addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Listener {
    pub(crate) async fn start(respond: Respond) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ListenerState {
            secret: secret(),
            respond,
            received: Arc::clone(&received),
            calls: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/callback", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the listener");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, received }
    }

    /// The `notify_url` to give the simulator.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/callback", self.addr)
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// The received callbacks of one order.
    pub(crate) fn for_order(&self, order_no: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.callback().order_no == order_no)
            .collect()
    }

    /// Waits until `n` callbacks of `order_no` arrived; returns them in arrival order.
    pub(crate) async fn wait_for(&self, order_no: &str, n: usize) -> Vec<Received> {
        until(&format!("{n} callback(s) for {order_no}"), || async {
            let got = self.for_order(order_no);
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

async fn receive(State(state): State<ListenerState>, body: Bytes) -> (StatusCode, &'static str) {
    let call = state.calls.fetch_add(1, Ordering::SeqCst);
    if let Respond::Slow(wait) = state.respond {
        tokio::time::sleep(wait).await;
    }
    let received = Received {
        body: String::from_utf8_lossy(&body).into_owned(),
        verified: verify_callback(&body, &state.secret),
    };
    state.received.lock().expect("not poisoned").push(received);
    match state.respond {
        Respond::Ok | Respond::Slow(_) => (StatusCode::OK, "{}"),
        Respond::FailFirst(n) if call < n => (StatusCode::INTERNAL_SERVER_ERROR, "try again"),
        Respond::FailFirst(_) => (StatusCode::OK, "{}"),
        Respond::AlwaysFail => (StatusCode::INTERNAL_SERVER_ERROR, "down"),
    }
}
