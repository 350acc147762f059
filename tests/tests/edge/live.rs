//! Reconciliation of missed callbacks (the cron, run through `wrangler dev --test-scheduled`'s
//! `/__scheduled`) and the live order-event channel. One stack shared by the cases (distinct
//! order numbers). Stage `edge-live`.

use std::time::Duration;

use serde_json::{Value, json};
use tests::forge::callback_body;
use tests::sse::{EventStream, Sse};
use tests::wait::eventually;

use crate::support::{
    API_KEY, INTENT_KEY, MERCHANT, ORIGIN, SECRET, Stack, TOKEN, cases, refund_auth,
    signed_callback,
};

/// `RECONCILE_MIN_AGE_SECONDS` of this suite.
const MIN_AGE: Duration = Duration::from_secs(2);
/// `RECONCILE_BATCH` of this suite.
const BATCH: usize = 3;
/// How often this suite polls.
const POLL: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-live`"]
async fn edge_live() {
    let env = Stack::start(|vars| {
        vars.unset("OPEN_AMOUNT")
            .set("GATEWAY_TIMEOUT_MS", "4000")
            // The status route must not query TrustPay here: only the cron does.
            .set("STATUS_REFRESH_SECONDS", "3600")
            .set("RECONCILE_MIN_AGE_SECONDS", MIN_AGE.as_secs().to_string())
            .set("RECONCILE_BATCH", BATCH.to_string())
            .set("EVENTS_HEARTBEAT_SECONDS", "1")
    })
    .await;
    // The reconcile cases first: they count queries, so no other pending order may exist.
    cases!(&env =>
        reconcile_bounded_and_rotating,
        reconcile_recovers_dropped_callback,
        reconcile_races_callback,
        reconcile_stale_answer_does_not_regress,
        reconcile_finishes_a_refund_whose_callback_was_lost,
        events_auth_and_cors,
        events_callback_reaches_two_streams,
        events_reconnect_gets_current_state_first,
        events_heartbeats,
        pushes_only_while_a_stream_may_be_open,
        a_row_of_the_previous_worker_is_always_pushed,
    );
    env.assert_not_logged(&[SECRET, API_KEY, TOKEN, INTENT_KEY], "a secret");
}

/// Mints an intent and creates the order; returns the create answer's body.
async fn new_order(env: &Stack, order_no: &str, amount: &str) -> Value {
    env.create_order(order_no, amount).await.body
}

/// The merchant's view of the order; asserts it exists.
async fn admin_order(env: &Stack, order_no: &str) -> Value {
    let answer = env.admin_order(order_no).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

/// `(source, outcome)` of the order's status events (notifications left out).
async fn events(env: &Stack, order_no: &str) -> Vec<(String, String)> {
    env.events(order_no)
        .await
        .iter()
        .filter(|e| {
            ["callback", "query", "reconcile"].contains(&e["source"].as_str().unwrap_or(""))
        })
        .map(|e| {
            (
                e["source"].as_str().unwrap_or("").to_owned(),
                e["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Runs the cron handler once; returns when it has finished.
async fn run_cron(env: &Stack) {
    let answer = env
        .send(reqwest::Method::GET, &env.edge.scheduled_url(), &[], None)
        .await;
    assert_eq!(answer.status, 200, "/__scheduled: {}", answer.text);
}

/// How many `/v4/query/order` requests the simulator received for `order_no`.
async fn queries(env: &Stack, order_no: &str) -> usize {
    env.sim_requests("/v4/query/order", order_no).await
}

/// A status callback for `order_no`, signed the way TrustPay signs.
fn callback(order_no: &str, amount: &str, status: i64) -> String {
    signed_callback(
        &callback_body(order_no, MERCHANT, amount, status, "live"),
        SECRET,
    )
}

/// An order's event stream, opened from [`ORIGIN`] with `token`.
struct Stream(EventStream);

impl Stream {
    async fn open(env: &Stack, order_no: &str, token: &str) -> Stream {
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
        Stream(EventStream::new(response))
    }

    /// The next event, comment or end, waiting at most `wait`.
    async fn next(&mut self, wait: Duration) -> Sse {
        self.0.next(wait).await
    }

    /// The next event (heartbeats skipped) with its data parsed; panics on anything else.
    async fn event(&mut self, wait: Duration) -> (String, Value) {
        loop {
            match self.next(wait).await {
                Sse::Event { id, data } => {
                    let value =
                        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                    return (id, value);
                }
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
                other @ (Sse::Event { .. } | Sse::Quiet) => {
                    panic!("expected the end, got {other:?}")
                }
            }
        }
    }
}

/// At most `RECONCILE_BATCH` queries per run, and a backlog rotates: the next run takes the
/// orders the previous one didn't reach, none twice within `RECONCILE_MIN_AGE_SECONDS`.
async fn reconcile_bounded_and_rotating(env: &Stack) {
    let orders: Vec<String> = (0..BATCH + 2).map(|i| format!("live-batch-{i}")).collect();
    for no in &orders {
        new_order(env, no, "5.00").await;
    }
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    let count = || async {
        let mut n = Vec::new();
        for no in &orders {
            n.push(queries(env, no).await);
        }
        n
    };
    run_cron(env).await;
    let first = count().await;
    assert_eq!(first.iter().sum::<usize>(), BATCH, "one run: {first:?}");
    run_cron(env).await;
    let second = count().await;
    assert_eq!(
        second,
        vec![1; BATCH + 2],
        "two runs: every order exactly once"
    );
    // Still pending at TrustPay: each query was recorded as a `reconcile` duplicate.
    for no in &orders {
        assert_eq!(
            events(env, no).await,
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
async fn reconcile_recovers_dropped_callback(env: &Stack) {
    let no = "live-dropped";
    let token = token_of(&new_order(env, no, "12.00").await);
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": no, "count": 10}),
    )
    .await;
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    // Too young for the cron: a run leaves it alone.
    run_cron(env).await;
    assert_eq!(
        queries(env, no).await,
        0,
        "queried before RECONCILE_MIN_AGE_SECONDS"
    );
    assert_eq!(admin_order(env, no).await["state"], "pending");
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    let mut stream = Stream::open(env, no, &token).await;
    assert_eq!(
        stream.event(Duration::from_secs(5)).await.1["state"],
        "pending"
    );
    run_cron(env).await;
    // The cron's change is pushed like a callback's.
    assert_eq!(
        stream.event(Duration::from_secs(5)).await.1["state"],
        "paid"
    );
    let admin = admin_order(env, no).await;
    assert_eq!(
        (admin["state"].as_str(), admin["paid_amount"].as_str()),
        (Some("paid"), Some("12.00")),
        "{admin}"
    );
    assert_eq!(
        events(env, no).await,
        [("reconcile".into(), "accepted".into())]
    );
    // Idempotent: later runs don't query a final order again or record anything.
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    run_cron(env).await;
    assert_eq!(queries(env, no).await, 1);
    assert_eq!(events(env, no).await.len(), 1);
}

/// A refund's completion callback is lost: the order sits in `refunding` until the cron asks
/// TrustPay (refunding orders are reconciled like pending ones) and learns it was refunded.
async fn reconcile_finishes_a_refund_whose_callback_was_lost(env: &Stack) {
    let no = "live-refund-lost";
    new_order(env, no, "12.00").await;
    env.sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
        .await;
    env.wait_state(no, "paid").await;
    env.sim_post("/_sim/callbacks/hold", json!({"order_no": no}))
        .await;
    let refund = env
        .edge_post(
            "/v1/admin/refunds",
            &[("Authorization", &refund_auth())],
            &json!({"order_no": no, "refund_amount": "12.00", "reason": "live suite"}),
        )
        .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    // Let the simulator complete the refund, then deliver only its "refunding" (9).
    let done = eventually(Duration::from_secs(10), POLL, || async {
        (env.sim_get(&format!("/_sim/orders/{no}")).await.body["status"] == 7).then_some(())
    })
    .await;
    assert!(done.is_some(), "the simulator never completed the refund");
    env.sim_post(
        "/_sim/callbacks/release",
        json!({"order_no": no, "order": [0]}),
    )
    .await;
    env.wait_state(no, "refunding").await;
    tokio::time::sleep(MIN_AGE + Duration::from_millis(200)).await;
    run_cron(env).await;
    let admin = admin_order(env, no).await;
    assert_eq!(
        (admin["state"].as_str(), admin["refund_amount"].as_str()),
        (Some("refunded"), Some("12.00")),
        "{admin}"
    );
    assert_eq!(
        events(env, no).await.last(),
        Some(&("reconcile".to_owned(), "accepted".to_owned()))
    );
}

/// A callback and the cron's answer for the same payment, both in flight: exactly one wins.
async fn reconcile_races_callback(env: &Stack) {
    let no = "live-race";
    new_order(env, no, "9.00").await;
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
    tokio::join!(run_cron(env), release);
    env.wait_state(no, "paid").await;
    let settled = eventually(Duration::from_secs(5), POLL, || async {
        (events(env, no).await.len() >= 2).then_some(())
    })
    .await
    .is_some();
    assert!(settled, "{:?}", events(env, no).await);
    let mut events = events(env, no).await;
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
async fn reconcile_stale_answer_does_not_regress(env: &Stack) {
    let no = "live-stale";
    new_order(env, no, "7.00").await;
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
        let answer = env.callback(callback(no, "7.00", 6)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    };
    tokio::join!(run_cron(env), settle);
    let admin = admin_order(env, no).await;
    assert_eq!(admin["state"], "settled", "{admin}");
    assert_eq!(
        events(env, no).await,
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

async fn events_auth_and_cors(env: &Stack) {
    let created = new_order(env, "live-auth", "5.00").await;
    let token = token_of(&created);
    let other = token_of(&new_order(env, "live-auth-other", "5.00").await);
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

async fn events_callback_reaches_two_streams(env: &Stack) {
    let no = "live-two";
    let created = new_order(env, no, "14.00").await;
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
        events(env, no).await,
        [("callback".into(), "accepted".into())]
    );
}

/// The Durable Object calls (`do` of its `request` log line) of the callback that stored a
/// change of `order_no` (found by its `callback_stored` line's request id).
async fn object_calls_of_callback(env: &Stack, order_no: &str) -> u64 {
    let line_of = |log: &str, pred: &dyn Fn(&Value) -> bool| -> Option<Value> {
        log.lines()
            .filter_map(|line| line.find('{').map(|at| &line[at..]))
            .filter_map(|json| serde_json::from_str::<Value>(json).ok())
            .find(|v| pred(v))
    };
    let found = eventually(Duration::from_secs(10), POLL, || async {
        let log = env.worker_log();
        let stored = line_of(&log, &|v| {
            v["event"] == "callback_stored" && v["order_no"] == order_no
        })?;
        let id = stored["request_id"].clone();
        line_of(&log, &|v| v["event"] == "request" && v["request_id"] == id)
    })
    .await;
    let request = found.unwrap_or_else(|| panic!("no request line for {order_no}'s callback"));
    request["do"].as_u64().unwrap_or(u64::MAX)
}

/// A change is pushed to the order's object only while a stream may be open: an order nobody
/// subscribed to is paid without any object call; one with a stream gets its event.
async fn pushes_only_while_a_stream_may_be_open(env: &Stack) {
    let quiet = "live-quiet";
    new_order(env, quiet, "6.00").await;
    env.sim_post(&format!("/_sim/orders/{quiet}/pay"), json!({}))
        .await;
    assert_eq!(object_calls_of_callback(env, quiet).await, 0);
    assert_eq!(admin_order(env, quiet).await["state"], "paid");

    let watched = "live-watched";
    let created = new_order(env, watched, "6.00").await;
    let mut stream = Stream::open(env, watched, &token_of(&created)).await;
    let (_, first) = stream.event(Duration::from_secs(5)).await;
    assert_eq!(first["state"], "pending", "{first}");
    env.sim_post(&format!("/_sim/orders/{watched}/pay"), json!({}))
        .await;
    let (_, paid) = stream.event(Duration::from_secs(5)).await;
    assert_eq!(paid["state"], "paid", "{paid}");
    assert_eq!(object_calls_of_callback(env, watched).await, 1);
}

/// During a deploy, the previous Worker (which doesn't note streams) still inserts orders and
/// opens streams: a row inserted without `live_until` (as it did) gets the column's default,
/// "may be streaming", and its changes are always pushed, never left silent.
async fn a_row_of_the_previous_worker_is_always_pushed(env: &Stack) {
    let legacy = "live-legacy";
    let sql = format!(
        "INSERT INTO orders (order_no, amount_minor, currency, merchant_id, status, creating_until, created_at, updated_at, pay_url) \
         VALUES ('{legacy}', 700, 'USD', {MERCHANT}, 1, 0, 0, 0, 'https://pay.example/{legacy}')"
    );
    env.d1_execute_for(legacy, &sql, "inserting the previous Worker's row");
    let answer = env.callback(callback(legacy, "7.00", 5)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(object_calls_of_callback(env, legacy).await, 1);
}

async fn events_reconnect_gets_current_state_first(env: &Stack) {
    let no = "live-reconnect";
    let token = token_of(&new_order(env, no, "8.00").await);
    let mut first = Stream::open(env, no, &token).await;
    assert_eq!(
        first.event(Duration::from_secs(5)).await.1["state"],
        "pending"
    );
    drop(first);
    // A change while nobody listens: the next subscriber starts from it.
    let answer = env.callback(callback(no, "8.00", 3)).await;
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
    let answer = env.callback(callback(no, "8.00", 5)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut third = Stream::open(env, no, &token).await;
    let (id, now) = third.event(Duration::from_secs(5)).await;
    assert_eq!(
        (id.as_str(), now["state"].as_str()),
        ("2", Some("paid")),
        "{now}"
    );
}

async fn events_heartbeats(env: &Stack) {
    let no = "live-heartbeat";
    let token = token_of(&new_order(env, no, "3.00").await);
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
