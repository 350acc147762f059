//! Issue 7 end-to-end: reconciliation of missed callbacks (the cron, run through
//! `wrangler dev --test-scheduled`'s `/__scheduled`) and the live order-event channel.
//!
//! `trustpay-sim` in-process + one `wrangler dev` shared by the sub-cases (distinct order
//! numbers). `#[ignore]`d like the other edge suites: `cargo xtask test edge-build edge-live`.

use std::future::Future;
use std::time::{Duration, Instant};

use checkout_core::money::AmountRendering;
use checkout_core::secret::Secret;
use checkout_core::sign::{SignFields, SignOptions};
use serde_json::{Value, json};
use tests::edge_harness::EdgeWorker;
use tests::sim::{self, SimConfig};

const ORIGIN: &str = "http://shop.test";
const TOKEN: &str = "live-merchant-token";
const INTENT_KEY: &str = "live-intent-secret";
/// `RECONCILE_MIN_AGE_SECONDS` of this suite.
const MIN_AGE: Duration = Duration::from_secs(2);
/// `RECONCILE_BATCH` of this suite.
const BATCH: usize = 3;

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

struct Env {
    sim: sim::SimHandle,
    edge: EdgeWorker,
    http: reqwest::Client,
}

impl Env {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let tests::http::Reply {
            status, text, body, ..
        } = tests::http::send(&self.http, method, url, headers, body).await;
        Answer { status, body, text }
    }

    async fn edge_post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.send(
            reqwest::Method::POST,
            &self.edge.url(path),
            &all,
            Some(body.to_string()),
        )
        .await
    }

    async fn sim_post(&self, path: &str, body: Value) -> Answer {
        let answer = self
            .send(
                reqwest::Method::POST,
                &self.sim.url(path),
                &[("Content-Type", "application/json")],
                Some(body.to_string()),
            )
            .await;
        assert!(answer.status < 300, "sim {path}: {}", answer.text);
        answer
    }

    /// Mints an intent and creates the order; returns the create answer's body.
    async fn new_order(&self, order_no: &str, amount: &str) -> Value {
        let minted = self
            .edge_post(
                "/v1/intents",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                &json!({"order_no": order_no, "amount": amount, "currency": "USD"}),
            )
            .await;
        assert_eq!(minted.status, 201, "mint: {}", minted.text);
        let created = self
            .edge_post(
                "/v1/orders",
                &[("Origin", ORIGIN)],
                &json!({"intent": minted.body["intent"]}),
            )
            .await;
        assert_eq!(created.status, 201, "create {order_no}: {}", created.text);
        created.body
    }

    async fn admin_order(&self, order_no: &str) -> Value {
        let answer = self
            .send(
                reqwest::Method::GET,
                &self.edge.url(&format!("/v1/admin/orders/{order_no}")),
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    }

    /// `(source, outcome)` of the order's status events (notifications left out).
    async fn events(&self, order_no: &str) -> Vec<(String, String)> {
        let admin = self.admin_order(order_no).await;
        admin["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter(|e| {
                        ["callback", "query", "reconcile"]
                            .contains(&e["source"].as_str().unwrap_or(""))
                    })
                    .map(|e| {
                        (
                            e["source"].as_str().unwrap_or("").to_owned(),
                            e["outcome"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs the cron handler once; returns when it has finished.
    async fn run_cron(&self) {
        let answer = self
            .send(reqwest::Method::GET, &self.edge.scheduled_url(), &[], None)
            .await;
        assert_eq!(answer.status, 200, "/__scheduled: {}", answer.text);
    }

    /// How many `/v4/query/order` requests the simulator received for `order_no`.
    async fn queries(&self, order_no: &str) -> usize {
        let log = self
            .send(
                reqwest::Method::GET,
                &self.sim.url("/_sim/requests?path=/v4/query/order"),
                &[],
                None,
            )
            .await;
        let needle = format!("\"order_no\":\"{order_no}\"");
        log.body.as_array().map_or(0, |requests| {
            requests
                .iter()
                .filter(|r| r["body"].as_str().is_some_and(|b| b.contains(&needle)))
                .count()
        })
    }

    async fn callback(&self, body: String) -> Answer {
        self.send(
            reqwest::Method::POST,
            &self.edge.url("/v1/trustpay/callback"),
            &[("Content-Type", "application/json")],
            Some(body),
        )
        .await
    }

    /// Waits until the order has `state`.
    async fn wait_state(&self, order_no: &str, state: &str) {
        let reached = eventually(Duration::from_secs(10), || async {
            self.admin_order(order_no).await["state"] == state
        })
        .await;
        assert!(
            reached,
            "{order_no} never reached {state}: {}",
            self.admin_order(order_no).await
        );
    }
}

async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// What an SSE stream yielded.
#[derive(Debug, Clone, PartialEq)]
enum Sse {
    /// An event: its `id` and parsed `data`.
    Event(String, Value),
    /// A comment line (heartbeat).
    Comment,
    /// The server ended the stream.
    End,
    /// Nothing within the wait.
    Quiet,
}

/// A minimal `text/event-stream` reader over `reqwest`.
struct Stream {
    response: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(env: &Env, order_no: &str, token: &str) -> Stream {
        let url = env
            .edge
            .url(&format!("/v1/orders/{order_no}/events?token={token}"));
        let response = env
            .http
            .get(&url)
            .header("Accept", "text/event-stream")
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let headers = response.headers();
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/event-stream; charset=utf-8")
        );
        assert_eq!(
            headers
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(ORIGIN)
        );
        Stream {
            response,
            buf: String::new(),
        }
    }

    /// The next event, comment or end, waiting at most `wait`.
    async fn next(&mut self, wait: Duration) -> Sse {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data, mut comment) = (String::new(), String::new(), false);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    } else if line.starts_with(':') {
                        comment = true;
                    }
                }
                if data.is_empty() && comment {
                    return Sse::Comment;
                }
                let value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                return Sse::Event(id, value);
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Sse::Quiet,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => return Sse::End,
            }
        }
    }

    /// The next event (heartbeats skipped); panics on anything else.
    async fn event(&mut self, wait: Duration) -> (String, Value) {
        loop {
            match self.next(wait).await {
                Sse::Event(id, data) => return (id, data),
                Sse::Comment => continue,
                other @ (Sse::End | Sse::Quiet) => panic!("expected an event, got {other:?}"),
            }
        }
    }

    /// The stream ends (heartbeats skipped) within `wait`.
    async fn ends(&mut self, wait: Duration) {
        loop {
            match self.next(wait).await {
                Sse::End => return,
                Sse::Comment => continue,
                other @ (Sse::Event(..) | Sse::Quiet) => {
                    panic!("expected the end, got {other:?}")
                }
            }
        }
    }
}

/// A callback body signed the way TrustPay signs (two-decimal amounts).
fn signed_callback(order_no: &str, amount: &str, status: i64) -> String {
    let paid = if status == 5 || status == 6 {
        format!(",\"paid_amount\":{amount},\"fee\":0.30")
    } else {
        String::new()
    };
    let unsigned = format!(
        r#"{{"type":0,"merchant_id":{},"order_no":"{order_no}","order_amount":{amount}{paid},"status":{status},"reason":"live"}}"#,
        sim::DEFAULT_MERCHANT_ID
    );
    let fields = SignFields::from_json(unsigned.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let key = Secret::new(sim::DEFAULT_SECRET).unwrap_or_else(|_| unreachable!("non-empty"));
    let sign = fields.sign(SignOptions::amounts(AmountRendering::TwoDecimals), &key);
    format!(
        "{},\"sign\":\"{}\"}}",
        unsigned.trim_end_matches('}'),
        sign.as_str()
    )
}

fn edge_vars(sim_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TRUSTPAY_BASE_URL", sim_url.to_owned()),
        ("TRUSTPAY_MERCHANT_ID", sim::DEFAULT_MERCHANT_ID.to_string()),
        ("TRUSTPAY_API_KEY", sim::DEFAULT_API_KEY.to_owned()),
        ("TRUSTPAY_SECRET", sim::DEFAULT_SECRET.to_owned()),
        ("ALLOWED_ORIGINS", ORIGIN.to_owned()),
        ("INTENT_SECRET", INTENT_KEY.to_owned()),
        ("MERCHANT_API_TOKEN", TOKEN.to_owned()),
        ("GATEWAY_TIMEOUT_MS", "4000".to_owned()),
        // The status route must not query TrustPay here: only the cron does.
        ("STATUS_REFRESH_SECONDS", "3600".to_owned()),
        ("RECONCILE_MIN_AGE_SECONDS", MIN_AGE.as_secs().to_string()),
        ("RECONCILE_BATCH", BATCH.to_string()),
        ("EVENTS_HEARTBEAT_SECONDS", "1".to_owned()),
    ]
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-live`"]
async fn edge_live() {
    let (_, sim) = sim::serve(SimConfig::for_tests())
        .await
        .unwrap_or_else(|e| panic!("sim: {e}"));
    let vars = edge_vars(&sim.base_url());
    let edge = match tokio::task::spawn_blocking(move || EdgeWorker::start(&vars)).await {
        Ok(Ok(edge)) => edge,
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("harness thread: {e}"),
    };
    let env = Env {
        sim,
        edge,
        http: client(),
    };
    macro_rules! cases {
        ($($case:ident),+ $(,)?) => {{
            $(
                let started = Instant::now();
                $case(&env).await;
                eprintln!("ok   {:<36} {:>6} ms", stringify!($case), started.elapsed().as_millis());
            )+
        }};
    }
    // The reconcile cases first: they count queries, so no other pending order may exist.
    cases!(
        reconcile_bounded_and_rotating,
        reconcile_recovers_dropped_callback,
        reconcile_races_callback,
        reconcile_stale_answer_does_not_regress,
        events_auth_and_cors,
        events_callback_reaches_two_streams,
        events_reconnect_gets_current_state_first,
        events_heartbeats,
    );
    let output = env.edge.output();
    for secret in [sim::DEFAULT_SECRET, sim::DEFAULT_API_KEY, TOKEN, INTENT_KEY] {
        assert!(
            !output.contains(secret),
            "the Worker logged a secret ({secret})"
        );
    }
}

/// At most `RECONCILE_BATCH` queries per run, and a backlog rotates: the next run takes the
/// orders the previous one didn't reach, none twice within `RECONCILE_MIN_AGE_SECONDS`.
async fn reconcile_bounded_and_rotating(env: &Env) {
    let orders: Vec<String> = (0..BATCH + 2).map(|i| format!("live-batch-{i}")).collect();
    for no in &orders {
        env.new_order(no, "5.00").await;
    }
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    let count = || async {
        let mut n = Vec::new();
        for no in &orders {
            n.push(env.queries(no).await);
        }
        n
    };
    env.run_cron().await;
    let first = count().await;
    assert_eq!(first.iter().sum::<usize>(), BATCH, "one run: {first:?}");
    env.run_cron().await;
    let second = count().await;
    assert_eq!(
        second,
        vec![1; BATCH + 2],
        "two runs: every order exactly once"
    );
    // Still pending at TrustPay: each query was recorded as a `reconcile` duplicate.
    for no in &orders {
        assert_eq!(
            env.events(no).await,
            [("reconcile".into(), "duplicate".into())]
        );
    }
    // Take them out of the backlog (their callbacks arrive), so later cases have the batch.
    for no in &orders {
        env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
            .await;
    }
    for no in &orders {
        env.wait_state(no, "paid").await;
    }
}

/// The paid callback is dropped by the simulator; the cron finds the payment.
async fn reconcile_recovers_dropped_callback(env: &Env) {
    let no = "live-dropped";
    let token = token_of(&env.new_order(no, "12.00").await);
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": no, "count": 10}),
    )
    .await;
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    // Too young for the cron: a run leaves it alone.
    env.run_cron().await;
    assert_eq!(
        env.queries(no).await,
        0,
        "queried before RECONCILE_MIN_AGE_SECONDS"
    );
    assert_eq!(env.admin_order(no).await["state"], "pending");
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    let mut stream = Stream::open(env, no, &token).await;
    assert_eq!(
        stream.event(Duration::from_secs(5)).await.1["state"],
        "pending"
    );
    env.run_cron().await;
    // The cron's change is pushed like a callback's.
    assert_eq!(
        stream.event(Duration::from_secs(5)).await.1["state"],
        "paid"
    );
    let admin = env.admin_order(no).await;
    assert_eq!(
        (admin["state"].as_str(), admin["paid_amount"].as_str()),
        (Some("paid"), Some("12.00")),
        "{admin}"
    );
    assert_eq!(
        env.events(no).await,
        [("reconcile".into(), "accepted".into())]
    );
    // Idempotent: later runs don't query a final order again or record anything.
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    env.run_cron().await;
    assert_eq!(env.queries(no).await, 1);
    assert_eq!(env.events(no).await.len(), 1);
}

/// A callback and the cron's answer for the same payment, both in flight: exactly one wins.
async fn reconcile_races_callback(env: &Env) {
    let no = "live-race";
    env.new_order(no, "9.00").await;
    env.sim_post("/_sim/callbacks/hold", json!({"order_no": no}))
        .await;
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    // The cron's query is answered 1.5 s late; the callback arrives meanwhile.
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "delay", "ms": 1500, "path": "/v4/query/order"}),
    )
    .await;
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    let release = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        env.sim_post("/_sim/callbacks/release", json!({"order_no": no}))
            .await;
    };
    tokio::join!(env.run_cron(), release);
    env.wait_state(no, "paid").await;
    let settled = eventually(Duration::from_secs(5), || async {
        env.events(no).await.len() >= 2
    })
    .await;
    assert!(settled, "{:?}", env.events(no).await);
    let mut events = env.events(no).await;
    events.sort();
    assert_eq!(
        events,
        [
            ("callback".into(), "accepted".into()),
            ("reconcile".into(), "duplicate".into())
        ]
    );
}

/// The cron's answer is older than a callback that arrived while it was in flight: the
/// order keeps the newer status.
async fn reconcile_stale_answer_does_not_regress(env: &Env) {
    let no = "live-stale";
    env.new_order(no, "7.00").await;
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": no, "count": 10}),
    )
    .await;
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "delay", "ms": 1500, "path": "/v4/query/order"}),
    )
    .await;
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    // TrustPay's settlement callback (6) lands while the query (which will say 5) is delayed.
    let settle = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let answer = env.callback(signed_callback(no, "7.00", 6)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    };
    tokio::join!(env.run_cron(), settle);
    let admin = env.admin_order(no).await;
    assert_eq!(admin["state"], "settled", "{admin}");
    assert_eq!(
        env.events(no).await,
        [
            ("callback".into(), "accepted".into()),
            ("reconcile".into(), "stale".into())
        ]
    );
}

fn token_of(body: &Value) -> String {
    body["events_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no events_token: {body}"))
        .to_owned()
}

async fn events_auth_and_cors(env: &Env) {
    let created = env.new_order("live-auth", "5.00").await;
    let token = token_of(&created);
    let other = token_of(&env.new_order("live-auth-other", "5.00").await);
    let get = |path: String, origin: &'static str| async move {
        env.send(
            reqwest::Method::GET,
            &env.edge.url(&path),
            &[("Origin", origin)],
            None,
        )
        .await
    };
    for (path, status, code) in [
        (
            "/v1/orders/live-auth/events".to_owned(),
            401,
            "client_secret_invalid",
        ),
        (
            "/v1/orders/live-auth/events?token=nope".to_owned(),
            401,
            "client_secret_invalid",
        ),
        (
            format!("/v1/orders/live-auth/events?token={other}"),
            401,
            "client_secret_invalid",
        ),
        (
            format!("/v1/orders/live-nope/events?token={token}"),
            401,
            "client_secret_invalid",
        ),
    ] {
        let answer = get(path.clone(), ORIGIN).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {}",
            answer.text
        );
    }
    let foreign = get(
        format!("/v1/orders/live-auth/events?token={token}"),
        "http://evil.test",
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.text);
    let post = env
        .edge_post(
            &format!("/v1/orders/live-auth/events?token={token}"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(post.status, 405, "{}", post.text);
    // The status answer carries a fresh token while the order is pending.
    let status = env
        .send(
            reqwest::Method::GET,
            &env.edge.url("/v1/orders/live-auth"),
            &[
                (
                    "X-Client-Secret",
                    created["client_secret"].as_str().unwrap_or(""),
                ),
                ("Origin", ORIGIN),
            ],
            None,
        )
        .await;
    assert!(
        status.body["events_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ev1.")),
        "{}",
        status.text
    );
}

async fn events_callback_reaches_two_streams(env: &Env) {
    let no = "live-two";
    let created = env.new_order(no, "14.00").await;
    let token = token_of(&created);
    let mut a = Stream::open(env, no, &token).await;
    let mut b = Stream::open(env, no, &token).await;
    for stream in [&mut a, &mut b] {
        let (id, first) = stream.event(Duration::from_secs(5)).await;
        assert_eq!(
            (
                id.as_str(),
                first["state"].as_str(),
                first["order_no"].as_str()
            ),
            ("0", Some("pending"), Some(no))
        );
    }
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    for stream in [&mut a, &mut b] {
        let (id, paid) = stream.event(Duration::from_secs(5)).await;
        assert_eq!(
            (id.as_str(), paid["state"].as_str(), paid["status"].as_i64()),
            ("1", Some("paid"), Some(5)),
            "{paid}"
        );
        assert_eq!(paid["paid_amount"], "14.00");
        // Final: the stream ends.
        stream.ends(Duration::from_secs(5)).await;
    }
    assert_eq!(
        env.events(no).await,
        [("callback".into(), "accepted".into())]
    );
}

async fn events_reconnect_gets_current_state_first(env: &Env) {
    let no = "live-reconnect";
    let token = token_of(&env.new_order(no, "8.00").await);
    let mut first = Stream::open(env, no, &token).await;
    assert_eq!(
        first.event(Duration::from_secs(5)).await.1["state"],
        "pending"
    );
    drop(first);
    // A change while nobody listens: the next subscriber starts from it.
    let answer = env.callback(signed_callback(no, "8.00", 3)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut again = Stream::open(env, no, &token).await;
    let (id, now) = again.event(Duration::from_secs(5)).await;
    assert_eq!(
        (id.as_str(), now["state"].as_str()),
        ("1", Some("failed")),
        "{now}"
    );
    again.ends(Duration::from_secs(5)).await;
    // Late money after the decline: a subscriber opened with the old token sees `paid` first.
    let answer = env.callback(signed_callback(no, "8.00", 5)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut third = Stream::open(env, no, &token).await;
    let (id, now) = third.event(Duration::from_secs(5)).await;
    assert_eq!(
        (id.as_str(), now["state"].as_str()),
        ("2", Some("paid")),
        "{now}"
    );
}

async fn events_heartbeats(env: &Env) {
    let no = "live-heartbeat";
    let token = token_of(&env.new_order(no, "3.00").await);
    let mut stream = Stream::open(env, no, &token).await;
    assert_eq!(
        stream.event(Duration::from_secs(5)).await.1["state"],
        "pending"
    );
    // EVENTS_HEARTBEAT_SECONDS=1 here.
    assert_eq!(stream.next(Duration::from_millis(2500)).await, Sse::Comment);
    assert_eq!(stream.next(Duration::from_millis(2500)).await, Sse::Comment);
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    let (_, paid) = stream.event(Duration::from_secs(5)).await;
    assert_eq!(paid["state"], "paid");
}
