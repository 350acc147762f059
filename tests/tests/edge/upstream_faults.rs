//! Upstream faults injected through the simulator's fault API (`/_sim/faults/requests`)
//! against the edge Worker under `wrangler dev` (one instance, `GATEWAY_TIMEOUT_MS=1000`):
//! timeouts, slow answers beyond the timeout, HTTP 5xx and 4xx, garbage JSON, every 8800xx
//! error code and an unknown one on create, faults on the status refresh and the admin routes,
//! and a duplicate `order_no` (880012) for an order TrustPay already holds. Each create failure
//! must answer the right code (`gateway_unavailable` / `gateway_error` / `gateway_rejected` +
//! `trustpay_code`), and the order is never lost: it is in D1, and it reaches its true state
//! (a retry of the same intent completes it; a status refresh or the 880012 recovery query
//! applies what TrustPay knows).
//!
//! Stage `edge-hardening`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::wait::eventually;

use crate::support::{POLL, Stack, TOKEN, cases, refund_auth};

/// The edge's gateway timeout in this suite.
/// Small, yet with room for a loaded 2-core CI machine answering a normal call.
const TIMEOUT_MS: u64 = 1_000;
const CREATE: &str = "/v4/payin/create/order";

/// Faults installed, for the report.
static FAULTS: AtomicUsize = AtomicUsize::new(0);

async fn fault(env: &Stack, fault: Value) {
    FAULTS.fetch_add(1, Ordering::Relaxed);
    env.sim_post("/_sim/faults/requests", fault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-hardening`"]
async fn edge_upstream_faults() {
    let started = Instant::now();
    let env = Stack::start(|vars| vars.set("GATEWAY_TIMEOUT_MS", TIMEOUT_MS.to_string())).await;
    eprintln!("worker ready in {} ms", started.elapsed().as_millis());
    cases!(&env =>
        create_faults_then_retry,
        create_timeout,
        status_refresh_faults,
        order_number_taken_at_trustpay,
        admin_faults,
    );
    eprintln!(
        "upstream faults: {} faults injected, every one answered with its code, no order lost",
        FAULTS.load(Ordering::Relaxed)
    );
    env.leak_scan();
    eprintln!("edge_upstream_faults: {} ms", started.elapsed().as_millis());
}

/// The order is stored, pending, without a pay page.
async fn assert_kept(env: &Stack, order_no: &str) {
    let stored = env.admin_order(order_no).await;
    assert_eq!(
        (
            stored.status,
            stored.body["state"].as_str(),
            stored.body["pay_url"].is_null()
        ),
        (200, Some("pending"), true),
        "{order_no} must be kept: {}",
        stored.text
    );
}

/// Every fault kind on create: the right code, the order kept, and the same intent completes it.
async fn create_faults_then_retry(env: &Stack) {
    let mut cases: Vec<(String, Value, u16, &str, Option<i64>)> = vec![
        (
            "http-500".into(),
            json!({"kind": "http", "status": 500}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "http-502".into(),
            json!({"kind": "http", "status": 502}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "http-503".into(),
            json!({"kind": "http", "status": 503}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "http-504".into(),
            json!({"kind": "http", "status": 504}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "http-404".into(),
            json!({"kind": "http", "status": 404}),
            502,
            "gateway_error",
            None,
        ),
        (
            "http-429".into(),
            json!({"kind": "http", "status": 429}),
            502,
            "gateway_error",
            None,
        ),
        (
            "garbage".into(),
            json!({"kind": "garbage"}),
            502,
            "gateway_error",
            None,
        ),
    ];
    // Every documented error code, and one the docs don't list. 880012 (order exists) is not a
    // transient fault: on a first attempt it means the number is someone else's, so the order
    // can never be created (`order_number_taken_at_trustpay` covers it).
    let codes = (880_002..=880_024)
        .filter(|c| *c != 880_010 && *c != 880_012)
        .chain([880_099]);
    for code in codes {
        cases.push((
            format!("code-{code}"),
            json!({"kind": "code", "code": code}),
            502,
            "gateway_rejected",
            Some(code),
        ));
    }
    let mut intents = Vec::new();
    for (n, (what, mut spec, status, code, trustpay_code)) in cases.into_iter().enumerate() {
        let order_no = format!("flt-{n:02}-{what}");
        let intent = env.mint(&order_no, "3.00").await;
        spec["path"] = json!(CREATE);
        fault(env, spec).await;
        let answer = env.create(&intent).await;
        answer.expect(status, code, &order_no);
        assert_eq!(
            answer.body["error"]["trustpay_code"].as_i64(),
            trustpay_code,
            "{order_no}: {}",
            answer.text
        );
        assert!(
            !answer.text.contains("simulated") && !answer.text.contains("injected"),
            "TrustPay's text is not echoed: {}",
            answer.text
        );
        assert_kept(env, &order_no).await;
        intents.push((order_no, intent));
    }
    // No fault left: every retry of the same intent creates the order at TrustPay.
    for (order_no, intent) in &intents {
        let retry = env.create(intent).await;
        assert_eq!(retry.status, 201, "{order_no} retry: {}", retry.text);
        let outcomes = env.outcomes(order_no, "create").await;
        assert_eq!(
            outcomes,
            ["inserted", "gateway_failed", "retry", "created"],
            "{order_no}"
        );
    }
    eprintln!(
        "     {} create faults, each retried to success",
        intents.len()
    );
}

/// Slow answers beyond GATEWAY_TIMEOUT_MS: 503 within the timeout, the order kept.
async fn create_timeout(env: &Stack) {
    for (n, delay) in [TIMEOUT_MS + 600, 5_000].into_iter().enumerate() {
        let order_no = format!("flt-timeout-{n}");
        let intent = env.mint(&order_no, "4.00").await;
        fault(env, json!({"kind": "delay", "ms": delay, "path": CREATE})).await;
        let started = Instant::now();
        env.create(&intent)
            .await
            .expect(503, "gateway_unavailable", &order_no);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1_500),
            "{order_no}: gave up after {took:?}"
        );
        assert_kept(env, &order_no).await;
        let retry = env.create(&intent).await;
        assert_eq!(retry.status, 201, "{}", retry.text);
    }
    // A slow answer within the timeout is fine.
    let intent = env.mint("flt-slow-ok", "4.00").await;
    fault(
        env,
        json!({"kind": "delay", "ms": TIMEOUT_MS / 4, "path": CREATE}),
    )
    .await;
    assert_eq!(env.create(&intent).await.status, 201);
}

/// The paid callback is lost; the order query fails in every way first, and the status
/// route keeps answering the stored view; then a clean query applies the true state.
async fn status_refresh_faults(env: &Stack) {
    let secret = env.new_order("flt-refresh", "8.00").await;
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": "flt-refresh", "count": 10}),
    )
    .await;
    env.sim_post("/_sim/orders/flt-refresh/pay", json!({}))
        .await;
    let query = "/v4/query/order";
    for spec in [
        json!({"kind": "http", "status": 503, "path": query}),
        json!({"kind": "garbage", "path": query}),
        json!({"kind": "code", "code": 880007, "path": query}),
        json!({"kind": "delay", "ms": TIMEOUT_MS + 400, "path": query}),
    ] {
        fault(env, spec.clone()).await;
        tokio::time::sleep(Duration::from_millis(1050)).await; // STATUS_REFRESH_SECONDS=1
        let status = env.status("flt-refresh", &secret).await;
        assert_eq!(
            (status.status, status.body["state"].as_str()),
            (200, Some("pending")),
            "{spec}: {}",
            status.text
        );
    }
    // The faults are used up: the next refresh finds out.
    let paid = eventually(Duration::from_secs(10), POLL, || async {
        (env.status("flt-refresh", &secret).await.body["state"] == "paid").then_some(())
    })
    .await
    .is_some();
    assert!(paid, "{}", env.admin_order("flt-refresh").await.text);
    assert_eq!(env.outcomes("flt-refresh", "query").await, ["accepted"]);
}

/// 880012 means two things. On our *first* attempt TrustPay holds someone else's order under
/// the number: `order_number_taken`, never queried. On a *retry* of a creation we started
/// (its answer lost after TrustPay created it) the edge queries the order and adopts its
/// state only when every identifying field is present and ours; a different amount is not
/// ours.
async fn order_number_taken_at_trustpay(env: &Stack) {
    // First attempt: someone else's order.
    env.create_at_trustpay("flt-exists", 500).await;
    FAULTS.fetch_add(1, Ordering::Relaxed); // the duplicate order number itself
    let intent = env.mint("flt-exists", "5.00").await;
    env.create(&intent)
        .await
        .expect(409, "order_number_taken", "880012 on the first attempt");
    assert_eq!(env.sim_requests("/v4/query/order", "flt-exists").await, 0);

    // A retry: our first attempt reached TrustPay but its answer was lost (here: the
    // attempt failed with a 503, and the order appears at TrustPay with exactly our
    // merchant, amount and currency, as the lost attempt would have created it).
    let order_no = "flt-lost-answer";
    let intent = env.mint(order_no, "5.00").await;
    fault(env, json!({"kind": "http", "status": 503, "path": CREATE})).await;
    env.create(&intent)
        .await
        .expect(503, "gateway_unavailable", "the lost answer");
    assert_kept(env, order_no).await;
    env.create_at_trustpay(order_no, 500).await;
    // The shopper paid on the page of the lost answer; the callback is lost too.
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": order_no, "count": 10}),
    )
    .await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    let again = env.create(&intent).await;
    again.expect(
        502,
        "gateway_rejected",
        "880012 on a retry, no pay page to recover",
    );
    assert_eq!(
        again.body["error"]["trustpay_code"], 880012,
        "{}",
        again.text
    );
    let stored = env.admin_order(order_no).await;
    assert_eq!(
        (
            stored.body["state"].as_str(),
            stored.body["paid_amount"].as_str()
        ),
        (Some("paid"), Some("5.00")),
        "the true state arrived by query: {}",
        stored.text
    );
    assert_eq!(env.outcomes(order_no, "query").await, ["accepted"]);

    // A retry whose first attempt never reached TrustPay, while someone else created the
    // number with another amount in between: the answer is not ours, nothing is adopted.
    let order_no = "flt-taken-between";
    let intent = env.mint(order_no, "5.00").await;
    fault(env, json!({"kind": "http", "status": 503, "path": CREATE})).await;
    env.create(&intent)
        .await
        .expect(503, "gateway_unavailable", "first attempt refused");
    env.create_at_trustpay(order_no, 700).await;
    env.sim_post(&format!("/_sim/orders/{order_no}/pay"), json!({}))
        .await;
    env.create(&intent)
        .await
        .expect(502, "gateway_rejected", "880012 on a retry, not ours");
    assert_kept(env, order_no).await;
    assert_eq!(env.outcomes(order_no, "query").await, ["mismatch"]);
}

/// Admin routes map TrustPay failures the same way; a refund refused by TrustPay frees its
/// number, one that timed out keeps counting against the refundable amount.
async fn admin_faults(env: &Stack) {
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    for (path, route, spec, status, code, trustpay_code) in [
        (
            "/v4/balance",
            "/v1/admin/balance?currency=USD",
            json!({"kind": "http", "status": 500}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "/v4/balance",
            "/v1/admin/balance?currency=USD",
            json!({"kind": "garbage"}),
            502,
            "gateway_error",
            None,
        ),
        (
            "/v4/balance",
            "/v1/admin/balance?currency=USD",
            json!({"kind": "code", "code": 880011}),
            502,
            "gateway_rejected",
            Some(880011),
        ),
        (
            "/v4/fee-overview",
            "/v1/admin/fees",
            json!({"kind": "delay", "ms": TIMEOUT_MS + 400}),
            503,
            "gateway_unavailable",
            None,
        ),
        (
            "/v4/fee-overview",
            "/v1/admin/fees",
            json!({"kind": "code", "code": 880003}),
            502,
            "gateway_rejected",
            Some(880003),
        ),
    ] {
        let mut spec = spec;
        spec["path"] = json!(path);
        fault(env, spec).await;
        let answer = env.edge_get(route, &auth).await;
        answer.expect(status, code, route);
        assert_eq!(
            answer.body["error"]["trustpay_code"].as_i64(),
            trustpay_code
        );
    }

    env.new_order("flt-refund", "10.00").await;
    env.sim_post("/_sim/orders/flt-refund/pay", json!({})).await;
    env.wait_state("flt-refund", "paid").await;
    let refund_bearer = refund_auth();
    let refund_auth = [("Authorization", refund_bearer.as_str())];
    let refund = |amount: &str, number: &str| {
        let body = json!({"order_no": "flt-refund", "refund_amount": amount, "reason": "faults", "merchant_refund_no": number});
        async move {
            env.edge_post("/v1/admin/refunds", &refund_auth, &body)
                .await
        }
    };
    fault(
        env,
        json!({"kind": "code", "code": 880008, "path": "/v4/order/refund"}),
    )
    .await;
    refund("10.00", "flt-r1")
        .await
        .expect(502, "gateway_rejected", "refused refund");
    fault(
        env,
        json!({"kind": "delay", "ms": TIMEOUT_MS + 400, "path": "/v4/order/refund"}),
    )
    .await;
    refund("6.00", "flt-r2")
        .await
        .expect(503, "gateway_unavailable", "timed-out refund");
    let refunds = env.admin_order("flt-refund").await.body["refunds"].clone();
    assert_eq!(
        refunds.as_array().map(Vec::len),
        Some(1),
        "the refused refund is gone, the timed-out one kept: {refunds}"
    );
    // 6.00 may exist at TrustPay: only 4.00 is left to refund.
    refund("4.01", "flt-r3")
        .await
        .expect(409, "refund_not_allowed", "over what is left");
    let ok = refund("4.00", "flt-r4").await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}
