//! End-to-end tests of the edge Worker: `trustpay-sim` (in-process) + `wrangler dev` (real
//! workerd, local D1), over loopback HTTP.
//!
//! One stack is shared by the cases of [`edge_end_to_end`] (they use distinct order numbers);
//! [`edge_misconfigured`] starts two more Workers with broken configuration. Stage `edge-e2e`.

use std::time::{Duration, Instant};

use checkout_core::intent::Intent;
use checkout_core::money::MoneyLimits;
use serde_json::{Value, json};
use tests::forge::{callback_body, now_secs};
use tests::wait::eventually;

use crate::support::{
    API_KEY, INTENT_KEY, MERCHANT, ORIGIN, POLL, SECRET, Stack, TOKEN, cases, client,
    offline_intent, refund_auth, secret, signed_callback, start_edge, test_vars,
};

/// The second shop the Worker accepts (CORS).
const OTHER_ORIGIN: &str = "http://other-shop.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-e2e`"]
async fn edge_end_to_end() {
    let env =
        Stack::start(|vars| vars.set("ALLOWED_ORIGINS", format!("{ORIGIN},{OTHER_ORIGIN}"))).await;
    let ran = cases!(&env =>
        health,
        intents_mint_and_auth,
        intents_refused_at_create,
        create_and_status,
        create_idempotent,
        create_concurrent_duplicate,
        create_retries_after_gateway_failures,
        create_gateway_rejection,
        create_open_amount,
        request_hygiene,
        cors,
        callback_paid_via_simulator,
        callback_duplicate,
        callback_forged_unknown_mismatch,
        callback_reordered_crafted,
        callback_concurrent,
        callback_reordered_via_simulator_refund,
        status_refresh_from_query,
        refunds,
        balance_and_fees,
        admin_auth,
    );
    eprintln!("{ran} edge e2e cases passed");

    // No secret ever reaches the Worker's logs.
    env.assert_not_logged(&[SECRET, API_KEY, TOKEN, INTENT_KEY], "a secret");
    let output = env.edge.output();
    assert!(
        output.contains("\"request_id\""),
        "structured logs expected:\n{output}"
    );
}

async fn health(env: &Stack) {
    let answer = env.edge_get("/healthz", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["config"], "ok", "{}", answer.text);
    assert!(
        answer
            .header("x-request-id")
            .is_some_and(|id| id.len() == 16)
    );
}

async fn intents_mint_and_auth(env: &Stack) {
    let bearer = format!("Bearer {TOKEN}");
    let answer = env
        .edge_post(
            "/v1/intents",
            &[("Authorization", &bearer)],
            &json!({"amount": "5.00", "currency": "USD", "expires_in": 600}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let order_no = answer.body["order_no"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        order_no.len(),
        32,
        "generated order numbers are 16 random bytes in hex"
    );
    let expires_at = answer.body["expires_at"].as_i64().unwrap_or_default();
    assert!((expires_at - now_secs() - 600).abs() < 30, "{expires_at}");
    // The intent verifies offline with the shared key and says what was asked.
    let intent = answer.body["intent"].as_str().unwrap_or_default();
    let verified = Intent::verify(
        intent,
        &secret(INTENT_KEY),
        now_secs(),
        MoneyLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            verified.order_no.as_str(),
            verified.money.amount.to_string().as_str()
        ),
        (order_no.as_str(), "5.00")
    );

    let body = json!({"amount": "5.00", "currency": "USD"});
    env.edge_post("/v1/intents", &[], &body)
        .await
        .expect(401, "unauthorized", "no bearer");
    env.edge_post("/v1/intents", &[("Authorization", "Bearer wrong")], &body)
        .await
        .expect(401, "unauthorized", "wrong bearer");
    env.edge_post("/v1/intents", &[("Authorization", TOKEN)], &body)
        .await
        .expect(401, "unauthorized", "not a bearer scheme");
    for (body, code) in [
        (
            json!({"amount": "5.001", "currency": "USD"}),
            "amount_too_precise",
        ),
        (json!({"amount": "0", "currency": "USD"}), "amount_zero"),
        (
            json!({"amount": "-1", "currency": "USD"}),
            "amount_negative",
        ),
        (
            json!({"amount": "5", "currency": "EUR"}),
            "currency_unsupported",
        ),
        (
            json!({"amount": "5", "currency": "USD", "order_no": "a b"}),
            "order_no_invalid",
        ),
        (
            json!({"amount": "5", "currency": "USD", "expires_in": 0}),
            "bad_request",
        ),
        (json!({"amount": 5, "currency": "USD"}), "bad_request"),
    ] {
        let answer = env
            .edge_post("/v1/intents", &[("Authorization", &bearer)], &body)
            .await;
        assert_eq!(answer.code(), code, "{body}: {}", answer.text);
        assert_eq!(answer.status, 400, "{body}");
    }
}

async fn intents_refused_at_create(env: &Stack) {
    let expired = offline_intent("e2e-expired", "5.00", now_secs() - 10, INTENT_KEY);
    env.create(&expired)
        .await
        .expect(410, "intent_expired", "expired");
    let wrong_key = offline_intent("e2e-wrong-key", "5.00", now_secs() + 600, "another-key");
    env.create(&wrong_key)
        .await
        .expect(401, "intent_bad_signature", "wrong key");
    // Tampered: the payload of a 0.01 intent with the MAC of a 5.00 one.
    let good = offline_intent("e2e-tampered", "5.00", now_secs() + 600, INTENT_KEY);
    let cheap = offline_intent("e2e-tampered", "0.01", now_secs() + 600, "whatever");
    let (good_parts, cheap_parts): (Vec<&str>, Vec<&str>) =
        (good.split('.').collect(), cheap.split('.').collect());
    let tampered = format!("v1.{}.{}", cheap_parts[1], good_parts[2]);
    env.create(&tampered)
        .await
        .expect(401, "intent_bad_signature", "tampered");
    env.create("v1.abc")
        .await
        .expect(400, "intent_malformed", "malformed");
    env.create(&good.replacen("v1.", "v2.", 1))
        .await
        .expect(400, "intent_version", "version");
    env.edge_post("/v1/orders", &[("Origin", ORIGIN)], &json!({}))
        .await
        .expect(400, "intent_missing", "no intent");
    // Nothing was stored for any of them.
    env.admin_order("e2e-expired").await.expect(
        404,
        "order_not_found",
        "expired intent stored nothing",
    );
    env.admin_order("e2e-tampered").await.expect(
        404,
        "order_not_found",
        "tampered intent stored nothing",
    );
}

async fn create_and_status(env: &Stack) {
    let intent = env.mint("e2e-create", "12.34").await;
    let answer = env.create(&intent).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = &answer.body;
    assert_eq!(
        (
            body["order_no"].as_str(),
            body["status"].as_i64(),
            body["state"].as_str()
        ),
        (Some("e2e-create"), Some(1), Some("pending"))
    );
    assert_eq!(
        (body["amount"].as_str(), body["currency"].as_str()),
        (Some("12.34"), Some("USD"))
    );
    let pay_url = body["pay_url"].as_str().unwrap_or_default();
    assert!(pay_url.starts_with(&env.sim.base_url()), "{pay_url}");
    let client_secret = body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(client_secret.len(), 43);

    // The simulator saw a correctly signed request carrying our notify_url.
    let sim_order = env.sim_get("/_sim/orders/e2e-create").await;
    assert_eq!(sim_order.status, 200, "{}", sim_order.text);
    assert!(
        sim_order.text.contains("/v1/trustpay/callback"),
        "{}",
        sim_order.text
    );

    let status = env.status("e2e-create", &client_secret).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(
        (
            status.body["state"].as_str(),
            status.body["amount"].as_str()
        ),
        (Some("pending"), Some("12.34"))
    );
    assert!(status.body.get("paid_amount").is_none());
    assert_eq!(status.header("access-control-allow-origin"), Some(ORIGIN));

    env.status("e2e-create", "wrong-secret").await.expect(
        401,
        "client_secret_invalid",
        "wrong secret",
    );
    env.edge_get("/v1/orders/e2e-create", &[]).await.expect(
        401,
        "client_secret_invalid",
        "no secret",
    );
    // An unknown order answers like a wrong secret: no existence oracle.
    env.status("e2e-nope", &client_secret).await.expect(
        401,
        "client_secret_invalid",
        "unknown order",
    );
    env.status("bad%20no", &client_secret).await.expect(
        400,
        "order_no_invalid",
        "bad order number",
    );

    // The admin view has no secret material, only the event log.
    let admin = env.admin_order("e2e-create").await;
    assert!(!admin.text.contains(&client_secret));
    assert_eq!(
        env.outcomes("e2e-create", "create").await,
        ["inserted", "created"]
    );
}

async fn create_idempotent(env: &Stack) {
    let intent = env.mint("e2e-idem", "7.00").await;
    let first = env.create(&intent).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = env.create(&intent).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(
        (
            second.body["order_no"].as_str(),
            second.body["pay_url"].as_str()
        ),
        (
            first.body["order_no"].as_str(),
            first.body["pay_url"].as_str()
        )
    );
    // A new intent for the same order (same money) is the same order too.
    let again = env.create(&env.mint("e2e-idem", "7.00").await).await;
    assert_eq!(
        (again.status, again.body["pay_url"].as_str()),
        (200, first.body["pay_url"].as_str())
    );
    // Each page got its own client secret; all of them work.
    for answer in [&first, &second, &again] {
        let secret = answer.body["client_secret"].as_str().unwrap_or_default();
        assert_eq!(env.status("e2e-idem", secret).await.status, 200);
    }
    // The same order number with different money is refused.
    env.create(&env.mint("e2e-idem", "8.00").await)
        .await
        .expect(400, "intent_invalid", "different amount");
    // TrustPay saw exactly one create.
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "e2e-idem").await,
        1
    );
}

async fn create_concurrent_duplicate(env: &Stack) {
    let intent = env.mint("e2e-concurrent", "9.00").await;
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "delay", "ms": 900, "path": "/v4/payin/create/order"}),
    )
    .await;
    let (first, second) = tokio::join!(env.create(&intent), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.create(&intent).await
    });
    assert_eq!(first.status, 201, "{}", first.text);
    second.expect(
        409,
        "order_in_progress",
        "duplicate while the first is in flight",
    );
    let retry = env.create(&intent).await;
    assert_eq!(
        (retry.status, retry.body["pay_url"].as_str()),
        (200, first.body["pay_url"].as_str()),
        "{}",
        retry.text
    );
}

async fn create_retries_after_gateway_failures(env: &Stack) {
    let path = "/v4/payin/create/order";
    for (n, (fault, status, code)) in [
        (
            json!({"kind": "http", "status": 503, "path": path}),
            503,
            "gateway_unavailable",
        ),
        (
            json!({"kind": "garbage", "path": path}),
            502,
            "gateway_error",
        ),
        (
            json!({"kind": "code", "code": 880007, "path": path}),
            502,
            "gateway_rejected",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let order_no = format!("e2e-retry-{n}");
        let intent = env.mint(&order_no, "3.00").await;
        env.sim_post("/_sim/faults/requests", fault).await;
        env.create(&intent).await.expect(status, code, &order_no);
        // The row stayed, with nothing to pay yet, and the same intent re-attempts.
        let stored = env.admin_order(&order_no).await;
        assert_eq!(
            (
                stored.status,
                stored.body["state"].as_str(),
                stored.body["pay_url"].is_null()
            ),
            (200, Some("pending"), true),
            "{}",
            stored.text
        );
        let retry = env.create(&intent).await;
        assert_eq!(retry.status, 201, "{order_no} retry: {}", retry.text);
        assert_eq!(
            env.outcomes(&order_no, "create").await,
            ["inserted", "gateway_failed", "retry", "created"]
        );
    }
    // A timeout: the edge gives up after GATEWAY_TIMEOUT_MS and says unavailable.
    let intent = env.mint("e2e-timeout", "3.00").await;
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "delay", "ms": 2500, "path": path}),
    )
    .await;
    let started = Instant::now();
    env.create(&intent)
        .await
        .expect(503, "gateway_unavailable", "timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "timed out after {:?}",
        started.elapsed()
    );
    // The simulator dropped the request with the connection; the retry creates it.
    let retry = env.create(&intent).await;
    assert_eq!(retry.status, 201, "{}", retry.text);

    // 880012 on our first attempt: TrustPay holds a different order under this number (we
    // never sent it before), even a paid one. The order fails with `order_number_taken`; the
    // edge never queries or adopts that order.
    env.create_at_trustpay("e2e-exists", 300).await;
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": "e2e-exists", "count": 10}),
    )
    .await;
    env.sim_post("/_sim/orders/e2e-exists/pay", json!({})).await;
    let exists = env.create(&env.mint("e2e-exists", "3.00").await).await;
    exists.expect(409, "order_number_taken", "880012 on the first attempt");
    assert_eq!(
        env.sim_requests("/v4/query/order", "e2e-exists").await,
        0,
        "the edge must not query someone else's order"
    );
    let stored = env.admin_order("e2e-exists").await;
    assert_eq!(
        (
            stored.body["state"].as_str(),
            stored.body["state_detail"][0].as_str()
        ),
        (Some("pending"), Some("order_number_taken")),
        "{}",
        stored.text
    );
    assert!(env.outcomes("e2e-exists", "query").await.is_empty());
}

async fn create_gateway_rejection(env: &Stack) {
    // Above the simulator's amount rule: TrustPay's own code is passed on.
    let intent = env.mint("e2e-too-big", "999999.00").await;
    let answer = env.create(&intent).await;
    answer.expect(502, "gateway_rejected", "amount rule");
    assert_eq!(
        answer.body["error"]["trustpay_code"], 880015,
        "{}",
        answer.text
    );
    assert!(
        !answer.text.contains("amount_rule_violation"),
        "TrustPay's message is not echoed: {}",
        answer.text
    );
}

async fn create_open_amount(env: &Stack) {
    let answer = env
        .edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({"amount": "10.00", "currency": "USD"}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.body["order_no"].as_str().map(str::len), Some(32));
    let outside = env
        .edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({"amount": "100.00", "currency": "USD"}),
        )
        .await;
    outside.expect(400, "amount_not_allowed", "outside OPEN_AMOUNT");
    let inr = env
        .edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({"amount": "10.00", "currency": "INR"}),
        )
        .await;
    inr.expect(400, "amount_not_allowed", "currency without a range");
    let both = env
        .edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({"amount": "10.00", "currency": "USD", "intent": "v1.a.b"}),
        )
        .await;
    both.expect(400, "bad_request", "intent and amount");
}

async fn request_hygiene(env: &Stack) {
    let url = env.edge.url("/v1/orders");
    let text = env
        .send(
            reqwest::Method::POST,
            &url,
            &[("Content-Type", "text/plain")],
            Some("{}".into()),
        )
        .await;
    text.expect(415, "unsupported_media_type", "text/plain");
    let big = format!("{{\"intent\":\"{}\"}}", "x".repeat(70 * 1024));
    let answer = env
        .send(
            reqwest::Method::POST,
            &url,
            &[("Content-Type", "application/json")],
            Some(big.into_bytes()),
        )
        .await;
    answer.expect(413, "body_too_large", "70 KiB");
    let bad = env
        .send(
            reqwest::Method::POST,
            &url,
            &[("Content-Type", "application/json; charset=utf-8")],
            Some("{not json".into()),
        )
        .await;
    bad.expect(400, "bad_request", "not JSON");
    let unknown_field = env
        .edge_post("/v1/orders", &[], &json!({"intent": "x", "extra": 1}))
        .await;
    unknown_field.expect(400, "bad_request", "unknown field");
    env.edge_get("/v1/nothing", &[])
        .await
        .expect(404, "not_found", "unknown route");
    env.edge_get("/v1/intents", &[])
        .await
        .expect(405, "method_not_allowed", "GET intents");
    env.edge_get("/v1/orders", &[])
        .await
        .expect(405, "method_not_allowed", "GET orders");
}

async fn cors(env: &Stack) {
    let preflight = |origin: &'static str| async move {
        env.send(
            reqwest::Method::OPTIONS,
            &env.edge.url("/v1/orders"),
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            None,
        )
        .await
    };
    let allowed = preflight(ORIGIN).await;
    assert_eq!(allowed.status, 204, "{}", allowed.text);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(
        allowed
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST"))
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("X-Client-Secret"))
    );
    assert_eq!(allowed.header("vary"), Some("Origin"));
    let second = preflight(OTHER_ORIGIN).await;
    assert_eq!(
        second.header("access-control-allow-origin"),
        Some(OTHER_ORIGIN)
    );
    // A foreign origin's preflight passes, so its page can read the refusal below.
    let denied = preflight("http://evil.test").await;
    assert_eq!(
        (denied.status, denied.header("access-control-allow-origin")),
        (204, Some("http://evil.test")),
        "{}",
        denied.text
    );

    let intent = env.mint("e2e-cors", "4.00").await;
    let foreign = env
        .edge_post(
            "/v1/orders",
            &[("Origin", "http://evil.test")],
            &json!({ "intent": intent }),
        )
        .await;
    foreign.expect(403, "origin_not_allowed", "POST from a foreign origin");
    assert_eq!(
        foreign.header("access-control-allow-origin"),
        Some("http://evil.test"),
        "the widget reads `origin_not_allowed` instead of a network error"
    );
    env.admin_order("e2e-cors")
        .await
        .expect(404, "order_not_found", "refused before anything ran");
    let ok = env.create(&intent).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        ok.header("access-control-expose-headers"),
        Some("X-Request-Id")
    );
    // Errors carry CORS headers too, so the widget can read the code.
    let err = env
        .edge_post("/v1/orders", &[("Origin", ORIGIN)], &json!({}))
        .await;
    assert_eq!(
        (err.status, err.header("access-control-allow-origin")),
        (400, Some(ORIGIN))
    );
    // Merchant routes are not CORS routes.
    let intents = env
        .send(
            reqwest::Method::OPTIONS,
            &env.edge.url("/v1/intents"),
            &[("Origin", ORIGIN)],
            None,
        )
        .await;
    assert!(intents.header("access-control-allow-origin").is_none());
}

async fn callback_paid_via_simulator(env: &Stack) {
    let secret = env.new_order("e2e-paid", "20.00").await;
    env.sim_post("/_sim/orders/e2e-paid/pay", json!({})).await;
    env.wait_state("e2e-paid", "paid").await;
    let status = env.status("e2e-paid", &secret).await;
    assert_eq!(
        (
            status.body["state"].as_str(),
            status.body["status"].as_i64(),
            status.body["paid_amount"].as_str()
        ),
        (Some("paid"), Some(5), Some("20.00")),
        "{}",
        status.text
    );
    assert_eq!(env.outcomes("e2e-paid", "callback").await, ["accepted"]);
    // The simulator's delivery got 200 `{}`.
    let log = env.sim_get("/_sim/callbacks?order_no=e2e-paid").await;
    assert!(log.text.contains("200"), "{}", log.text);
}

async fn callback_duplicate(env: &Stack) {
    env.new_order("e2e-dup", "6.00").await;
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "duplicate", "order_no": "e2e-dup"}),
    )
    .await;
    env.sim_post("/_sim/orders/e2e-dup/pay", json!({})).await;
    env.wait_state("e2e-dup", "paid").await;
    let both = eventually(Duration::from_secs(5), POLL, || async {
        (env.outcomes("e2e-dup", "callback").await.len() >= 2).then_some(())
    })
    .await
    .is_some();
    assert!(both, "{:?}", env.outcomes("e2e-dup", "callback").await);
    // The two deliveries may race: whichever wins the conditional update is `accepted`.
    let mut outcomes = env.outcomes("e2e-dup", "callback").await;
    outcomes.sort();
    assert_eq!(outcomes, ["accepted", "duplicate"]);
    // A duplicate posted directly is acknowledged the same way: 200 `{}`.
    let body = signed_callback(
        &callback_body("e2e-dup", MERCHANT, "6.00", 5, "e2e"),
        SECRET,
    );
    let again = env.callback(body).await;
    assert_eq!(
        (
            again.status,
            again.text.as_str(),
            again.header("content-type")
        ),
        (200, "{}", Some("application/json"))
    );
}

async fn callback_forged_unknown_mismatch(env: &Stack) {
    let client_secret = env.new_order("e2e-forged", "15.00").await;
    let merchant = MERCHANT;
    let forged = signed_callback(
        &callback_body("e2e-forged", merchant, "15.00", 5, "e2e"),
        "not-the-secret",
    );
    env.callback(forged)
        .await
        .expect(401, "callback_bad_signature", "forged");
    let unsigned = callback_body("e2e-forged", merchant, "15.00", 5, "e2e");
    env.callback(unsigned)
        .await
        .expect(401, "callback_unsigned", "unsigned");
    env.callback("{not json".into())
        .await
        .expect(400, "callback_malformed", "malformed");
    let unknown = signed_callback(
        &callback_body("e2e-never-created", merchant, "15.00", 5, "e2e"),
        SECRET,
    );
    env.callback(unknown)
        .await
        .expect(404, "callback_unknown_order", "unknown order");
    let amount = signed_callback(
        &callback_body("e2e-forged", merchant, "1.00", 5, "e2e"),
        SECRET,
    );
    env.callback(amount)
        .await
        .expect(409, "callback_order_mismatch", "amount mismatch");
    let other_merchant = signed_callback(
        &callback_body("e2e-forged", merchant + 1, "15.00", 5, "e2e"),
        SECRET,
    );
    env.callback(other_merchant)
        .await
        .expect(409, "callback_order_mismatch", "merchant mismatch");
    // Nothing changed, and every signed refusal is in the log.
    let status = env.status("e2e-forged", &client_secret).await;
    assert_eq!(status.body["state"], "pending", "{}", status.text);
    assert_eq!(
        env.outcomes("e2e-forged", "callback").await,
        // Unsigned and badly signed callbacks write nothing; signed mismatches are logged.
        ["mismatch", "mismatch"]
    );
}

async fn callback_reordered_crafted(env: &Stack) {
    env.new_order("e2e-reorder", "11.00").await;
    let send = |status: i64| {
        env.callback(signed_callback(
            &callback_body("e2e-reorder", MERCHANT, "11.00", status, "e2e"),
            SECRET,
        ))
    };
    // Settled arrives before paid, then a stale pending: both acknowledged, neither applied.
    assert_eq!(send(6).await.status, 200);
    assert_eq!(send(5).await.status, 200);
    assert_eq!(send(1).await.status, 200);
    let admin = env.admin_order("e2e-reorder").await;
    assert_eq!(
        (
            admin.body["state"].as_str(),
            admin.body["paid_amount"].as_str()
        ),
        (Some("settled"), Some("11.00")),
        "{}",
        admin.text
    );
    assert_eq!(
        env.outcomes("e2e-reorder", "callback").await,
        ["accepted", "stale", "stale"]
    );
    // Money after a decline is applied and flagged.
    env.new_order("e2e-late", "11.00").await;
    let late = |status: i64| {
        env.callback(signed_callback(
            &callback_body("e2e-late", MERCHANT, "11.00", status, "e2e"),
            SECRET,
        ))
    };
    assert_eq!(late(3).await.status, 200);
    assert_eq!(late(5).await.status, 200);
    let admin = env.admin_order("e2e-late").await;
    assert_eq!(
        (
            admin.body["state"].as_str(),
            admin.body["late_payment"].as_bool()
        ),
        (Some("paid"), Some(true)),
        "{}",
        admin.text
    );
}

async fn callback_concurrent(env: &Stack) {
    // Six deliveries of the same paid callback at once: exactly one wins the conditional update.
    env.new_order("e2e-race", "13.00").await;
    let body = signed_callback(
        &callback_body("e2e-race", MERCHANT, "13.00", 5, "e2e"),
        SECRET,
    );
    let send = || env.callback(body.clone());
    let (a, b, c, d, e, f) = tokio::join!(send(), send(), send(), send(), send(), send());
    let answers = [a, b, c, d, e, f];
    assert!(
        answers.iter().all(|a| a.status == 200 && a.text == "{}"),
        "{answers:?}"
    );
    let mut outcomes = env.outcomes("e2e-race", "callback").await;
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
}

async fn callback_reordered_via_simulator_refund(env: &Stack) {
    env.new_order("e2e-sim-reorder", "30.00").await;
    env.sim_post("/_sim/orders/e2e-sim-reorder/pay", json!({}))
        .await;
    env.wait_state("e2e-sim-reorder", "paid").await;
    // Hold the refund's callbacks (9 refunding, then 7 refunded) and deliver them newest first.
    env.sim_post(
        "/_sim/callbacks/hold",
        json!({"order_no": "e2e-sim-reorder"}),
    )
    .await;
    let refund = env
        .edge_post(
            "/v1/admin/refunds",
            &[("Authorization", &refund_auth())],
            &json!({"order_no": "e2e-sim-reorder", "refund_amount": "30.00", "reason": "e2e"}),
        )
        .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let released = env
        .sim_post(
            "/_sim/callbacks/release",
            json!({"order_no": "e2e-sim-reorder", "reverse": true}),
        )
        .await;
    assert_eq!(
        released.body["released"]
            .as_i64()
            .or_else(|| released.body["released"].as_array().map(|a| a.len() as i64)),
        Some(2),
        "{}",
        released.text
    );
    env.wait_state("e2e-sim-reorder", "refunded").await;
    let settled = eventually(Duration::from_secs(5), POLL, || async {
        (env.outcomes("e2e-sim-reorder", "callback").await.len() >= 3).then_some(())
    })
    .await
    .is_some();
    assert!(settled);
    assert_eq!(
        env.outcomes("e2e-sim-reorder", "callback").await,
        ["accepted", "accepted", "stale"]
    );
}

async fn status_refresh_from_query(env: &Stack) {
    let secret = env.new_order("e2e-refresh", "8.00").await;
    // The paid callback never arrives; the status route asks TrustPay instead.
    env.sim_post(
        "/_sim/faults/callbacks",
        json!({"kind": "drop", "order_no": "e2e-refresh", "count": 10}),
    )
    .await;
    env.sim_post("/_sim/orders/e2e-refresh/pay", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let status = env.status("e2e-refresh", &secret).await;
    assert_eq!(
        (status.status, status.body["state"].as_str()),
        (200, Some("paid")),
        "{}",
        status.text
    );
    assert_eq!(env.outcomes("e2e-refresh", "query").await, ["accepted"]);
    // Rate limit: a burst of status calls queries TrustPay at most once per period.
    let other = env.new_order("e2e-refresh-2", "8.00").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(
            env.status("e2e-refresh-2", &other).await.body["state"],
            "pending"
        );
    }
    let queries = env.sim_requests("/v4/query/order", "e2e-refresh-2").await;
    assert!(
        (1..=2).contains(&queries),
        "queried {queries} times for 5 status calls in about a second"
    );
}

async fn refunds(env: &Stack) {
    let bearer = refund_auth();
    let auth = [("Authorization", bearer.as_str())];
    env.new_order("e2e-refund", "40.00").await;
    let refund = |amount: &str| {
        let body =
            json!({"order_no": "e2e-refund", "refund_amount": amount, "reason": "customer asked"});
        let key = format!("e2e-refund-{amount}");
        async move {
            let headers = [auth[0], ("Idempotency-Key", key.as_str())];
            env.edge_post("/v1/admin/refunds", &headers, &body).await
        }
    };
    refund("5.00")
        .await
        .expect(409, "refund_not_allowed", "not paid yet");
    env.sim_post("/_sim/orders/e2e-refund/pay", json!({})).await;
    env.wait_state("e2e-refund", "paid").await;
    let first = refund("10.00").await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(
        (
            first.body["refund_amount"].as_str(),
            first.body["currency"].as_str()
        ),
        (Some("10.00"), Some("USD"))
    );
    assert!(
        first.body["merchant_refund_no"]
            .as_str()
            .is_some_and(|n| n.starts_with("rf_"))
    );
    env.wait_state("e2e-refund", "partially_refunded").await;
    refund("30.01")
        .await
        .expect(409, "refund_not_allowed", "more than is left");
    refund("0").await.expect(400, "amount_zero", "zero");
    let named = env
        .edge_post("/v1/admin/refunds", &auth, &json!({"order_no": "e2e-refund", "refund_amount": 5, "reason": "again", "merchant_refund_no": "R-e2e-1"}))
        .await;
    assert_eq!(
        (named.status, named.body["merchant_refund_no"].as_str()),
        (201, Some("R-e2e-1")),
        "{}",
        named.text
    );
    let reused = env
        .edge_post("/v1/admin/refunds", &auth, &json!({"order_no": "e2e-refund", "refund_amount": 1, "reason": "again", "merchant_refund_no": "R-e2e-1"}))
        .await;
    reused.expect(409, "refund_not_allowed", "refund number reused");
    env.edge_post(
        "/v1/admin/refunds",
        &auth,
        &json!({"order_no": "e2e-none", "refund_amount": 1, "reason": "x"}),
    )
    .await
    .expect(404, "order_not_found", "unknown order");
    let admin = env.admin_order("e2e-refund").await;
    assert_eq!(
        admin.body["refunds"].as_array().map(Vec::len),
        Some(2),
        "{}",
        admin.text
    );
}

async fn balance_and_fees(env: &Stack) {
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let balance = env.edge_get("/v1/admin/balance?currency=USD", &auth).await;
    assert_eq!(balance.status, 200, "{}", balance.text);
    assert_eq!(balance.body["currency"], "USD");
    for field in ["balance", "frozen", "reserve"] {
        assert!(
            balance.body[field]
                .as_str()
                .is_some_and(|v| v.contains('.')),
            "{field}: {}",
            balance.text
        );
    }
    env.edge_get("/v1/admin/balance?currency=EUR", &auth)
        .await
        .expect(400, "currency_unsupported", "EUR");
    let fees = env.edge_get("/v1/admin/fees", &auth).await;
    assert_eq!(fees.status, 200, "{}", fees.text);
    assert!(fees.body["fee_configs"].is_array(), "{}", fees.text);
    // TrustPay failures on admin routes map like everywhere else.
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "http", "status": 500, "path": "/v4/balance"}),
    )
    .await;
    env.edge_get("/v1/admin/balance?currency=USD", &auth)
        .await
        .expect(503, "gateway_unavailable", "balance 500");
    env.sim_post(
        "/_sim/faults/requests",
        json!({"kind": "garbage", "path": "/v4/fee-overview"}),
    )
    .await;
    env.edge_get("/v1/admin/fees", &auth)
        .await
        .expect(502, "gateway_error", "fees garbage");
}

async fn admin_auth(env: &Stack) {
    for (method, path) in [
        (reqwest::Method::GET, "/v1/admin/balance?currency=USD"),
        (reqwest::Method::GET, "/v1/admin/fees"),
        (reqwest::Method::GET, "/v1/admin/orders/e2e-create"),
        (reqwest::Method::POST, "/v1/admin/refunds"),
    ] {
        let intent_token = format!("Bearer {TOKEN}");
        let refund_token = refund_auth();
        // Each token opens only its own routes: the intent token never refunds, the refund
        // token reads nothing.
        let other_token = if method == reqwest::Method::POST {
            intent_token.as_str()
        } else {
            refund_token.as_str()
        };
        for auth in [
            None,
            Some("Bearer nope"),
            Some("Basic ZTJlOnRva2Vu"),
            Some(other_token),
        ] {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(auth) = auth {
                headers.push(("Authorization", auth));
            }
            let answer = env
                .send(
                    method.clone(),
                    &env.edge.url(path),
                    &headers,
                    Some("{}".into()),
                )
                .await;
            answer.expect(
                401,
                "unauthorized",
                &format!("{method} {path} with {auth:?}"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-e2e`"]
async fn edge_misconfigured() {
    let http = client();
    let base = test_vars("http://127.0.0.1:9");
    let missing = base.clone().unset("TRUSTPAY_SECRET");
    let malformed = base.set("OPEN_AMOUNT", "USD:50-1");
    let (a, b) = tokio::join!(start_edge(missing), start_edge(malformed));
    for (edge, variable) in [(&a, "TRUSTPAY_SECRET"), (&b, "OPEN_AMOUNT")] {
        let health = http
            .get(edge.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(health.status().as_u16(), 200);
        let health: Value =
            serde_json::from_str(&health.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        assert_eq!(health["config"], "misconfigured");
        for (path, body) in [
            ("/v1/orders", r#"{"intent":"v1.a.b"}"#),
            ("/v1/trustpay/callback", "{}"),
            ("/v1/intents", "{}"),
        ] {
            let answer = http
                .post(edge.url(path))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(answer.status().as_u16(), 500, "{variable} {path}");
            let text = answer.text().await.unwrap_or_default();
            assert_eq!(
                text,
                r#"{"error":{"code":"misconfigured","message":"The checkout is misconfigured."}}"#,
                "{variable} {path}"
            );
        }
        // wrangler forwards the Worker's console asynchronously.
        let needle = format!("\"variable\":\"{variable}\"");
        let named = eventually(Duration::from_secs(5), POLL, || async {
            edge.output().contains(&needle).then_some(())
        })
        .await
        .is_some();
        let output = edge.output();
        assert!(named, "the log names {variable}:\n{output}");
        assert!(
            !output.contains(API_KEY) && !output.contains(TOKEN),
            "no secret in the log"
        );
    }
}
