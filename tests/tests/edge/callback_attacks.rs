//! Attacks on `POST /v1/trustpay/callback` against the edge Worker under `wrangler dev`
//! (one instance for the file): forged signs, every field tampered after signing, another
//! merchant's secret, duplicate-key smuggling, replay of an old valid callback after the order
//! moved on, reordering, unknown order, merchant / amount mismatch, and a duplicate storm
//! (100 identical callbacks at once → one state change, 100 event rows, 99 `duplicate`).
//! Every refusal must leave the order as it was and be in the order's event log.
//!
//! The order-independence of the state machine itself (10,000 shuffled callbacks over 100
//! orders, no regression at any step) is the proptest in `core/tests/state_shuffle.rs`; this
//! suite checks the edge applies it faithfully over HTTP and D1.
//!
//! Stage `edge-hardening`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;
use tests::forge::{callback_body, with_sign};

use crate::support::{MERCHANT, SECRET, Stack, cases, refund_auth, sign_of, signed_callback};

/// Malicious or replayed callbacks sent, for the report.
static ATTACKS: AtomicUsize = AtomicUsize::new(0);

fn attack() {
    ATTACKS.fetch_add(1, Ordering::Relaxed);
}

/// A JSON object from raw `(key, JSON text)` pairs, keeping amounts exactly as written.
fn object(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The fields of a paid callback (status 5) the way TrustPay sends them.
fn paid_fields(order_no: &str, amount: &str) -> Vec<(&'static str, String)> {
    vec![
        ("type", "0".into()),
        ("merchant_id", MERCHANT.to_string()),
        ("order_no", format!("\"{order_no}\"")),
        ("order_amount", amount.into()),
        ("paid_amount", amount.into()),
        ("fee", "0.65".into()),
        ("balance_amount", "11.35".into()),
        ("status", "5".into()),
        ("reason", "\"paid\"".into()),
        ("pay_time", "\"2026-11-25 12:00:00\"".into()),
    ]
}

async fn state(env: &Stack, order_no: &str) -> String {
    env.admin_order(order_no).await.body["state"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-hardening`"]
async fn edge_callback_attacks() {
    let started = Instant::now();
    let env = Stack::start(|vars| vars).await;
    eprintln!("worker ready in {} ms", started.elapsed().as_millis());
    cases!(&env =>
        forged_and_tampered,
        smuggled_duplicate_keys,
        unknown_order_and_mismatch,
        replay_after_the_order_moved_on,
        reordered,
        duplicate_storm,
    );
    eprintln!(
        "callback attacks: {} malicious / replayed callbacks sent, all refused or absorbed",
        ATTACKS.load(Ordering::Relaxed)
    );
    env.leak_scan();
    eprintln!(
        "edge_callback_attacks: {} ms",
        started.elapsed().as_millis()
    );
}

/// Forged signs, each field changed after signing, another merchant's secret.
async fn forged_and_tampered(env: &Stack) {
    env.new_order("atk-a", "12.00").await;
    env.new_order("atk-b", "12.00").await; // same amount: a re-targeted callback would fit
    let fields = paid_fields("atk-a", "12.00");
    let unsigned = object(&fields);
    let sign = sign_of(&unsigned, SECRET);
    let mut refused = 0;

    let mut bodies: Vec<(String, String)> = vec![
        (
            "random sign".into(),
            with_sign(&unsigned, "5d41402abc4b2a76b9719d911017c592"),
        ),
        (
            "all-zero sign".into(),
            with_sign(&unsigned, &"0".repeat(32)),
        ),
        ("empty sign".into(), with_sign(&unsigned, "")),
        (
            "sign of another merchant's secret".into(),
            signed_callback(&unsigned, "another-merchants-secret"),
        ),
        (
            "sign with the public dev secret".into(),
            signed_callback(&unsigned, tests::sim::DEFAULT_SECRET),
        ),
        ("sign with one hex digit changed".into(), {
            let flipped = if sign.starts_with('0') { "1" } else { "0" };
            with_sign(&unsigned, &format!("{flipped}{}", &sign[1..]))
        }),
        (
            "sign upper-case".into(),
            with_sign(&unsigned, &sign.to_uppercase()),
        ),
        (
            "sign as a number".into(),
            format!("{},\"sign\":123}}", unsigned.trim_end_matches('}')),
        ),
        (
            "sign as an array".into(),
            format!("{},\"sign\":[\"{sign}\"]}}", unsigned.trim_end_matches('}')),
        ),
    ];
    // Each field tampered after signing (the original sign kept).
    let tampers: [(&str, String); 11] = [
        ("type", "1".into()),
        ("merchant_id", (MERCHANT + 1).to_string()),
        ("order_no", "\"atk-b\"".into()),
        ("order_amount", "1200.00".into()),
        ("paid_amount", "0.01".into()),
        ("fee", "0.00".into()),
        ("balance_amount", "99.99".into()),
        ("status", "6".into()),
        ("reason", "\"refund me\"".into()),
        ("pay_time", "\"2026-11-25 12:00:01\"".into()),
        ("order_no", "\"atk-a \"".into()),
    ];
    for (field, value) in tampers {
        let changed: Vec<(&str, String)> = fields
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == field {
                        value.clone()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        bodies.push((
            format!("{field} tampered to {value}"),
            with_sign(&object(&changed), &sign),
        ));
    }
    let removed: Vec<(&str, String)> = fields
        .iter()
        .filter(|(k, _)| *k != "reason")
        .cloned()
        .collect();
    bodies.push(("reason removed".into(), with_sign(&object(&removed), &sign)));
    let mut added = fields.clone();
    added.push(("refund_amount", "12.00".into()));
    bodies.push((
        "refund_amount added".into(),
        with_sign(&object(&added), &sign),
    ));
    let mut added_zero_status = fields.clone();
    added_zero_status.push(("Status", "6".into()));
    bodies.push((
        "a second, differently-cased status added".into(),
        with_sign(&object(&added_zero_status), &sign),
    ));

    for (what, body) in bodies {
        attack();
        let answer = env.callback(body).await;
        assert!(
            matches!(answer.status, 400 | 401),
            "{what}: accepted or wrong status: {} {}",
            answer.status,
            answer.text
        );
        assert!(
            answer.code().starts_with("callback_"),
            "{what}: {}",
            answer.text
        );
        refused += 1;
    }
    for order_no in ["atk-a", "atk-b"] {
        let admin = env.admin_order(order_no).await;
        assert_eq!(
            (
                admin.body["state"].as_str(),
                admin.body["paid_amount"].is_null()
            ),
            (Some("pending"), true),
            "{order_no} changed: {}",
            admin.text
        );
    }
    // Unverified callbacks write nothing, not even against the order they claim.
    let outcomes = env.outcomes("atk-a", "callback").await;
    assert!(
        outcomes.is_empty(),
        "{refused} refusals wrote rows: {outcomes:?}"
    );
    // The genuine callback still works afterwards.
    let genuine = env.callback(with_sign(&unsigned, &sign)).await;
    assert_eq!((genuine.status, genuine.text.as_str()), (200, "{}"));
    assert_eq!(state(env, "atk-a").await, "paid");
    assert_eq!(state(env, "atk-b").await, "pending");
}

/// A valid signed body with a second `status` (or `order_no`) key appended: a parser that
/// verifies the first and applies the last would be fooled.
async fn smuggled_duplicate_keys(env: &Stack) {
    env.new_order("atk-dup-key", "12.00").await;
    let unsigned = object(
        &paid_fields("atk-dup-key", "12.00")
            .into_iter()
            .map(|(k, v)| {
                if k == "status" {
                    (k, "3".to_owned())
                } else {
                    (k, v)
                }
            })
            .collect::<Vec<_>>(),
    );
    let signed = signed_callback(&unsigned, SECRET);
    for extra in [
        ",\"status\":5",
        ",\"order_no\":\"atk-a\"",
        ",\"paid_amount\":1.00",
    ] {
        attack();
        let smuggled = format!("{}{extra}}}", signed.trim_end_matches('}'));
        let answer = env.callback(smuggled.clone()).await;
        assert!(
            matches!(answer.status, 400 | 401),
            "duplicate key {extra} accepted: {} {}",
            answer.status,
            answer.text
        );
    }
    assert_eq!(state(env, "atk-dup-key").await, "pending");
    assert_eq!(state(env, "atk-a").await, "paid");
}

async fn unknown_order_and_mismatch(env: &Stack) {
    let before = env
        .edge
        .d1_query("SELECT count(*) AS n FROM orders")
        .unwrap_or_else(|e| panic!("{e}"))[0]["n"]
        .clone();
    attack();
    env.callback(signed_callback(
        &object(&paid_fields("atk-never-created", "12.00")),
        SECRET,
    ))
    .await
    .expect(404, "callback_unknown_order", "unknown order");
    let after = env
        .edge
        .d1_query("SELECT count(*) AS n FROM orders")
        .unwrap_or_else(|e| panic!("{e}"))[0]["n"]
        .clone();
    assert_eq!(before, after, "an unknown-order callback created no order");
    env.admin_order("atk-never-created")
        .await
        .expect(404, "order_not_found", "still unknown");

    env.new_order("atk-mismatch", "12.00").await;
    for (what, fields) in [
        ("lower amount", paid_fields("atk-mismatch", "1.20")),
        ("higher amount", paid_fields("atk-mismatch", "120.00")),
        ("other merchant", {
            let mut f = paid_fields("atk-mismatch", "12.00");
            f[1].1 = (MERCHANT + 7).to_string();
            f
        }),
    ] {
        attack();
        env.callback(signed_callback(&object(&fields), SECRET))
            .await
            .expect(409, "callback_order_mismatch", what);
    }
    assert_eq!(state(env, "atk-mismatch").await, "pending");
    assert_eq!(
        env.outcomes("atk-mismatch", "callback").await,
        ["mismatch", "mismatch", "mismatch"]
    );
}

/// The simulator's own signed callbacks, captured, replayed after the order moved on.
async fn replay_after_the_order_moved_on(env: &Stack) {
    env.new_order("atk-replay", "30.00").await;
    env.sim_post("/_sim/orders/atk-replay/pay", json!({})).await;
    env.wait_state("atk-replay", "paid").await;
    let refund = env
        .edge_post(
            "/v1/admin/refunds",
            &[("Authorization", &refund_auth())],
            &json!({"order_no": "atk-replay", "refund_amount": "30.00", "reason": "attack suite"}),
        )
        .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    env.wait_state("atk-replay", "refunded").await;
    let log = env
        .send(
            reqwest::Method::GET,
            &env.sim.url("/_sim/callbacks?order_no=atk-replay"),
            &[],
            None,
        )
        .await;
    let bodies: Vec<String> = log
        .body
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(bodies.len() >= 3, "paid, refunding, refunded: {}", log.text);
    let events_before = env.outcomes("atk-replay", "callback").await.len();
    // Replay every captured callback (paid, refunding, refunded), oldest first, twice.
    for body in bodies.iter().chain(bodies.iter()) {
        attack();
        let answer = env.callback(body.clone()).await;
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (200, "{}"),
            "replay acknowledged"
        );
        assert_eq!(state(env, "atk-replay").await, "refunded", "no regression");
    }
    let outcomes = env.outcomes("atk-replay", "callback").await;
    let replays = &outcomes[events_before..];
    assert_eq!(replays.len(), bodies.len() * 2);
    assert!(
        replays.iter().all(|o| o == "stale" || o == "duplicate"),
        "replays change nothing: {replays:?}"
    );
    let admin = env.admin_order("atk-replay").await;
    assert_eq!(admin.body["refund_amount"], "30.00", "{}", admin.text);
}

/// Crafted callbacks of two refunds in an adversarial order, with stale replays in between.
/// After every step the edge's state must be the one an independent model gives: each
/// callback has its place in the true lifecycle (pending 0, paid 1, first refund refunding 2
/// and completed 3, second refund refunding 4, partially refunded 5, refunded 6), and the
/// order shows the latest place delivered so far (`max`), never an earlier one.
async fn reordered(env: &Stack) {
    env.new_order("atk-order", "12.00").await;
    let refund = |status: i64, refunds: &[&str], total: &str| {
        let list: Vec<String> = refunds.iter().map(|r| format!("\"{r}\"")).collect();
        format!(
            r#"{{"type":0,"merchant_id":{MERCHANT},"order_no":"atk-order","order_amount":12.00,"status":{status},"reason":"r","merchant_refund_no":[{}],"refund_amount":{total}}}"#,
            list.join(",")
        )
    };
    let paid = object(&paid_fields("atk-order", "12.00"));
    let pending = callback_body("atk-order", MERCHANT, "12.00", 1, "e2e");
    let places = [
        "pending",
        "paid",
        "refunding",
        "partially_refunded",
        "refunding",
        "partially_refunded",
        "refunded",
    ];
    // (body, its place in the lifecycle)
    let sequence = [
        (refund(8, &["R1"], "5.00"), 3), // the first refund completed, first to arrive
        (paid.clone(), 1),               // older news
        (refund(9, &["R1"], "5.00"), 2), // late "refunding" of the first refund
        (pending, 0),
        (refund(9, &["R1", "R2"], "12.00"), 4), // the second refund starts
        (refund(8, &["R1"], "5.00"), 3),        // replay of the first refund's completion
        (refund(7, &["R1", "R2"], "12.00"), 6),
        (refund(8, &["R1", "R2"], "12.00"), 5),
        (paid, 1),
    ];
    let mut latest = 0;
    for (body, place) in sequence {
        attack();
        let answer = env.callback(signed_callback(&body, SECRET)).await;
        assert_eq!(answer.status, 200, "{body}: {}", answer.text);
        latest = latest.max(place);
        assert_eq!(
            state(env, "atk-order").await,
            places[latest],
            "after {body}"
        );
    }
    assert_eq!(state(env, "atk-order").await, "refunded");
    let admin = env.admin_order("atk-order").await;
    assert_eq!(admin.body["refund_amount"], "12.00", "{}", admin.text);
}

/// The same paid callback 100 times at once: exactly one state change.
async fn duplicate_storm(env: &Stack) {
    const STORM: usize = 100;
    env.new_order("atk-storm", "12.00").await;
    let body = signed_callback(&object(&paid_fields("atk-storm", "12.00")), SECRET);
    let url = env.edge.url("/v1/trustpay/callback");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..STORM {
        attack();
        let (http, url, body) = (env.http.clone(), url.clone(), body.clone());
        tasks.spawn(async move {
            let response = http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let status = response.status().as_u16();
            let headers = format!("{:?}", response.headers());
            let text = response.text().await.unwrap_or_default();
            (status, headers, text)
        });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let (status, headers, text) = joined.unwrap_or_else(|e| panic!("{e}"));
        env.record(format!("{status} {url}\n{headers}\n{text}"));
        assert_eq!((status, text.as_str()), (200, "{}"));
        ok += 1;
    }
    assert_eq!(ok, STORM);
    let outcomes = env.outcomes("atk-storm", "callback").await;
    let accepted = outcomes.iter().filter(|o| *o == "accepted").count();
    let duplicates = outcomes.iter().filter(|o| *o == "duplicate").count();
    assert_eq!(
        (outcomes.len(), accepted, duplicates),
        (STORM, 1, STORM - 1),
        "{outcomes:?}"
    );
    // Exactly one row moved the order (1 → 5), the others left it as it was.
    let events = env.admin_order("atk-storm").await.body["events"].clone();
    let changes = events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["source"] == "callback" && e["status_from"] != e["status_to"])
                .count()
        })
        .unwrap_or(0);
    assert_eq!(changes, 1, "{events}");
    assert_eq!(state(env, "atk-storm").await, "paid");
}
