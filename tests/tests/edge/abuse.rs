//! Hostile volume: the Worker with the rate limits of `edge/wrangler.toml` as shipped, against
//! floods of creates, forged callbacks, oversized and many-key bodies, junk risk-hook calls,
//! and existence probes; and a Worker refusing each weak configuration at start. Stage
//! `edge-hardening`.
//!
//! `wrangler dev` keeps a `CF-Connecting-IP` the client sends (Cloudflare's edge overwrites it
//! in production), so a test can play distinct clients from one loopback address.

use std::time::{Duration, Instant};

use checkout_core::events_token;
use checkout_core::order_no::OrderNo;
use serde_json::{Value, json};
use tests::forge::{callback_body, now_secs};
use tests::sse::{EventStream, Sse};

use crate::support::{
    Answer, INTENT_KEY, MERCHANT, ORIGIN, RISK_TOKEN, Stack, cases, client, risk_hook_path, secret,
    signed_callback, start_edge, test_vars,
};

/// How many requests a flood keeps in flight.
const IN_FLIGHT: usize = 16;

/// POSTs each body to `path` with `headers`, [`IN_FLIGHT`] at a time; the answers in any
/// order, each recorded for the leak scan.
async fn flood(
    env: &Stack,
    path: &str,
    headers: &[(&str, &str)],
    bodies: Vec<String>,
) -> Vec<Answer> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let url = env.edge.url(path);
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies {
        let (gate, http, url, headers) =
            (gate.clone(), env.http.clone(), url.clone(), headers.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut all = vec![("Content-Type", "application/json")];
            all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            tests::http::send(&http, reqwest::Method::POST, &url, &all, Some(body)).await
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let answer = done.unwrap_or_else(|e| panic!("{e}"));
        env.record(format!("{} {url}\n{}", answer.status, answer.text));
        answers.push(answer);
    }
    answers
}

/// `edge/wrangler.toml`: `CREATE_BY_IP` limit per 60 s.
const CREATE_BY_IP: usize = 20;
/// `edge/wrangler.toml`: `CREATE_BY_ORDER` limit per 60 s.
const CREATE_BY_ORDER: usize = 10;
/// The period of every binding, seconds.
const PERIOD_SECS: u64 = 60;
const HOOK_SECRET: &str = "whsec_YWJ1c2Utc3VpdGUtd2ViaG9vay1rZXktMDEyMzQ1Njc4OQ==";
const CREATE_PATH: &str = "/v4/payin/create/order";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-hardening`"]
async fn edge_abuse() {
    let env = Stack::start_with_merchant_hooks(|vars| {
        vars.shipped_rate_limits()
            .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
    })
    .await;
    let ran = cases!(&env =>
        risk_hook_requires_its_token,
        status_is_no_existence_oracle,
        events_stream_ends_when_its_token_expires,
        forged_callbacks_write_nothing,
        many_key_body_refused_in_bounded_time,
        chunked_body_refused_at_the_limit,
        one_order_number_is_throttled,
        flood_of_creates_is_throttled,
    );
    env.assert_not_logged(&[RISK_TOKEN], "the risk hook token");
    env.leak_scan();
    eprintln!("abuse: {ran} cases");
}

/// How many fixed windows of `PERIOD_SECS` the interval touched (the local limiter, like
/// Cloudflare's, counts per window: a burst across a boundary may use two).
fn windows(started_unix: u64, ended_unix: u64) -> usize {
    usize::try_from(ended_unix / PERIOD_SECS - started_unix / PERIOD_SECS + 1).unwrap_or(usize::MAX)
}

fn unix_now() -> u64 {
    u64::try_from(now_secs()).unwrap_or(0)
}

/// The `order_events` rows in D1.
fn event_rows(env: &Stack) -> i64 {
    env.edge
        .d1_query("SELECT count(*) AS n FROM order_events")
        .unwrap_or_else(|e| panic!("{e}"))[0]["n"]
        .as_i64()
        .unwrap_or(-1)
}

async fn sim_create_calls(env: &Stack) -> usize {
    env.sim_get(&format!("/_sim/requests?path={CREATE_PATH}"))
        .await
        .body
        .as_array()
        .map_or(0, Vec::len)
}

async fn risk_call(env: &Stack, path: &str, order_id: &str) -> Answer {
    env.edge_post(
        path,
        &[],
        &json!({"orderId": order_id, "cardPrefix": "424242", "cardSuffix": "4242", "cardHolderName": "John Doe"}),
    )
    .await
}

/// Without the token (no such route, 404) or with a wrong one (401), the hook answers the same
/// for a known and an unknown order and writes nothing; three junk calls leave the real payment all its attempts
/// (`RISK_MAX_ATTEMPTS` = 3: counted, they would make the simulator's real call the fourth).
async fn risk_hook_requires_its_token(env: &Stack) {
    env.new_order("abuse-risk", "5.00").await;
    let before = event_rows(env);
    let wrong = format!("{}x", risk_hook_path());
    for (path, status, code) in [
        ("/v1/trustpay/risk-control", 404, "not_found"),
        ("/v1/trustpay/risk-control/", 404, "not_found"),
        (
            "/v1/trustpay/risk-control/wrong-token-of-the-right-length-00",
            401,
            "unauthorized",
        ),
        (wrong.as_str(), 401, "unauthorized"),
    ] {
        let known = risk_call(env, path, "abuse-risk").await;
        let unknown = risk_call(env, path, "abuse-no-such-order").await;
        known.expect(status, code, path);
        assert_eq!(
            (unknown.status, unknown.text.as_str()),
            (known.status, known.text.as_str()),
            "{path}: a known and an unknown order answered differently"
        );
    }
    assert_eq!(event_rows(env), before, "refused hook calls wrote rows");

    // The real payment: the simulator asks the hook with the token, and pays.
    env.sim_post("/_sim/orders/abuse-risk/pay", json!({})).await;
    env.wait_state("abuse-risk", "paid").await;
    let risk = env.outcomes("abuse-risk", "risk").await;
    assert_eq!(risk, ["allow"], "only the authenticated call is logged");
}

/// An unknown order and a wrong client secret answer byte for byte the same.
async fn status_is_no_existence_oracle(env: &Stack) {
    let secret = env.new_order("abuse-status", "5.00").await;
    let wrong = "A".repeat(secret.len());
    let known = env.status("abuse-status", &wrong).await;
    let unknown = env.status("abuse-status-nope", &secret).await;
    let unknown_wrong = env.status("abuse-status-nope", &wrong).await;
    for answer in [&unknown, &unknown_wrong] {
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (known.status, known.text.as_str())
        );
    }
    known.expect(401, "client_secret_invalid", "wrong secret");
}

/// A stream opened with a token that expires in 3 s ends then (heartbeats every 15 s).
async fn events_stream_ends_when_its_token_expires(env: &Stack) {
    env.new_order("abuse-live", "5.00").await;
    let order = OrderNo::parse("abuse-live").unwrap_or_else(|e| panic!("{e}"));
    let exp = now_secs() + 3;
    let token = events_token::mint(&order, exp, &secret(INTENT_KEY));
    let response = env
        .http
        .get(
            env.edge
                .url(&format!("/v1/orders/abuse-live/events?token={token}")),
        )
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = EventStream::new(response);
    let first = stream.next(Duration::from_secs(5)).await;
    assert!(matches!(first, Sse::Event { .. }), "{first:?}");
    let started = Instant::now();
    loop {
        match stream.next(Duration::from_secs(20)).await {
            Sse::End => break,
            Sse::Comment | Sse::Event { .. } => {}
            Sse::Quiet => panic!("the stream outlived its token by 20 s"),
        }
    }
    let ended_at = now_secs();
    assert!(
        (exp..=exp + 3).contains(&ended_at),
        "ended at {ended_at}, token exp {exp} ({} ms after the snapshot)",
        started.elapsed().as_millis()
    );
    env.assert_not_logged(&[&token], "the events token");
}

/// 1,000 forged callbacks (bad sign, no sign, malformed) naming a real order: not one row.
async fn forged_callbacks_write_nothing(env: &Stack) {
    env.new_order("abuse-forged", "7.00").await;
    let before = event_rows(env);
    let unsigned = callback_body("abuse-forged", MERCHANT, "7.00", 5, "forged");
    let wrong_key = signed_callback(&unsigned, "not-the-trustpay-secret");
    let started = Instant::now();
    let mut refused = 0;
    let bodies = (0..1_000)
        .map(|i| match i % 3 {
            0 => wrong_key.clone(),
            1 => unsigned.clone(),
            _ => format!("{{\"order_no\":\"abuse-forged\",\"status\":5,\"sign\":{i}"),
        })
        .collect();
    let answers = flood(env, "/v1/trustpay/callback", &[], bodies).await;
    for answer in &answers {
        assert!(
            matches!(answer.status, 400 | 401) && answer.code().starts_with("callback_"),
            "{} {}",
            answer.status,
            answer.text
        );
        refused += 1;
    }
    let took = started.elapsed();
    let after = event_rows(env);
    assert_eq!(after, before, "{refused} forged callbacks wrote rows");
    assert_eq!(
        env.admin_order("abuse-forged").await.body["state"],
        "pending"
    );
    eprintln!(
        "abuse: {refused} forged callbacks refused in {} ms, {} order_events rows written",
        took.as_millis(),
        after - before
    );
}

/// A 63 KB body of thousands of keys is refused at key 65, before any hashing.
async fn many_key_body_refused_in_bounded_time(env: &Stack) {
    let mut body = String::from("{");
    let mut keys = 0;
    while body.len() < 63 * 1024 - 64 {
        body.push_str(&format!("\"{keys:x}\":1,"));
        keys += 1;
    }
    body.push_str("\"order_no\":\"abuse-forged\",\"sign\":\"00\"}");
    let before = event_rows(env);
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let answer = env.callback(body.clone()).await;
        slowest = slowest.max(started.elapsed());
        answer.expect(400, "callback_malformed", "many keys");
    }
    assert_eq!(event_rows(env), before);
    assert!(
        slowest < Duration::from_millis(1_000),
        "a {}-byte, {keys}-key body took {} ms",
        body.len(),
        slowest.as_millis()
    );
    eprintln!(
        "abuse: {} bytes, {keys} keys refused in at most {} ms (wrangler dev round trip included)",
        body.len(),
        slowest.as_millis()
    );
}

/// A 10 MB chunked body (no `Content-Length`) is refused with 413 at the limit.
async fn chunked_body_refused_at_the_limit(env: &Stack) {
    use std::io::{Read as _, Write as _};
    const TOTAL: usize = 10 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let addr = env.edge.base_url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let (answer, sent) = tokio::task::spawn_blocking(move || {
        let mut reader =
            std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
        let _ = reader.set_read_timeout(Some(Duration::from_secs(30)));
        let mut writer = reader.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = answered.clone();
        // The writer sends the whole 10 MB, a chunk every millisecond, until the answer starts
        // (as a client would: writing on after it would only reset the connection and lose
        // the answer); it reports how much it wrote.
        let head = format!(
            "POST /v1/trustpay/callback HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let sender = std::thread::spawn(move || {
            let mut sent = 0;
            if writer.write_all(head.as_bytes()).is_err() {
                return sent;
            }
            let mut chunk = format!("{CHUNK:x}\r\n").into_bytes();
            chunk.extend(std::iter::repeat_n(b' ', CHUNK));
            chunk.extend_from_slice(b"\r\n");
            while sent < TOTAL {
                if stop.load(std::sync::atomic::Ordering::SeqCst) || writer.write_all(&chunk).is_err()
                {
                    return sent;
                }
                sent += CHUNK;
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = writer.write_all(b"0\r\n\r\n");
            sent
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answered.store(true, std::sync::atomic::Ordering::SeqCst);
                    answer.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    answer.extend_from_slice(format!("\n[read error: {e}]").as_bytes());
                    break;
                }
            }
        }
        let _ = reader.shutdown(std::net::Shutdown::Both);
        (answer, sender.join().unwrap_or(0))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "{text} ({} KiB written, {} ms)",
        sent / 1024,
        took.as_millis()
    );
    assert!(text.contains("\"body_too_large\""), "{text}");
    eprintln!(
        "abuse: 10 MB chunked body refused (413) in {} ms ({} KiB written before the answer)",
        took.as_millis(),
        sent / 1024
    );
}

/// One intent opened from 15 different addresses: at most `CREATE_BY_ORDER` per window get
/// through, the rest 429 with `Retry-After`.
async fn one_order_number_is_throttled(env: &Stack) {
    let intent = env.mint("abuse-one-order", "5.00").await;
    let started = unix_now();
    let mut passed = 0;
    let mut limited = 0;
    for i in 0..15 {
        let ip = format!("198.51.100.{}", i + 1);
        let answer = env
            .edge_post(
                "/v1/orders",
                &[("Origin", ORIGIN), ("CF-Connecting-IP", &ip)],
                &json!({ "intent": intent }),
            )
            .await;
        match answer.status {
            200 | 201 => passed += 1,
            429 => {
                answer.expect(429, "rate_limited", "same order number");
                assert_eq!(answer.header("retry-after"), Some("60"));
                limited += 1;
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    let bound = CREATE_BY_ORDER * windows(started, unix_now());
    assert!(
        passed <= bound && limited >= 15 - bound,
        "{passed} passed, {limited} limited"
    );
}

/// 1,000 anonymous creates from one client: at most `CREATE_BY_IP` per window reach TrustPay,
/// every other one is 429 `rate_limited` with `Retry-After: 60`.
async fn flood_of_creates_is_throttled(env: &Stack) {
    const FLOOD: usize = 1_000;
    let before = sim_create_calls(env).await;
    let started_unix = unix_now();
    let started = Instant::now();
    let body = json!({"amount": "5.00", "currency": "USD"});
    let answers = flood(
        env,
        "/v1/orders",
        &[("Origin", ORIGIN), ("CF-Connecting-IP", "203.0.113.7")],
        vec![body.to_string(); FLOOD],
    )
    .await;
    let took = started.elapsed();
    let bound = CREATE_BY_IP * windows(started_unix, unix_now());
    let created = answers.iter().filter(|a| a.status == 201).count();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    for answer in &limited {
        answer.expect(429, "rate_limited", "flood");
        assert_eq!(answer.header("retry-after"), Some("60"), "{}", answer.text);
    }
    assert_eq!(created + limited.len(), FLOOD, "other answers in the flood");
    let reached = sim_create_calls(env).await - before;
    assert!(
        reached <= bound && created == reached,
        "{reached} creations reached TrustPay ({created} answered 201), limit {bound}"
    );
    // Another client is not affected.
    let other = env
        .edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN), ("CF-Connecting-IP", "203.0.113.8")],
            &body,
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    eprintln!(
        "abuse: {FLOOD} creates from one client in {} ms: {reached} reached TrustPay (limit {bound}), {} answered 429",
        took.as_millis(),
        limited.len()
    );
}

/// Each weak configuration stops the Worker from serving, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-hardening`"]
async fn edge_weak_configuration() {
    let short = "x".repeat(31);
    let cases: Vec<(&str, String)> = vec![
        ("INTENT_SECRET", short.clone()),
        ("MERCHANT_API_TOKEN", short.clone()),
        ("MERCHANT_REFUND_TOKEN", short.clone()),
        ("CLIENT_RESULT_SECRET", short.clone()),
        ("RISK_HOOK_TOKEN", short.clone()),
        ("MERCHANT_WEBHOOK_SECRET", short.clone()),
        (
            "TRUSTPAY_BASE_URL",
            "http://api.trustpay.example".to_owned(),
        ),
        ("PUBLIC_BASE_URL", "http://pay.shop.example".to_owned()),
        (
            "MERCHANT_WEBHOOK_URL",
            "http://shop.example/hooks".to_owned(),
        ),
    ];
    let http = client();
    for batch in cases.chunks(3) {
        let starts: Vec<_> = batch
            .iter()
            .map(|(name, value)| {
                let mut vars = test_vars("http://127.0.0.1:9");
                if name.starts_with("MERCHANT_WEBHOOK") {
                    vars = vars
                        .set("MERCHANT_WEBHOOK_URL", "https://shop.example/hooks")
                        .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET);
                }
                tokio::spawn(start_edge(vars.set(name, value.clone())))
            })
            .collect();
        let mut edges = Vec::new();
        for start in starts {
            edges.push(start.await.unwrap_or_else(|e| panic!("{e}")));
        }
        for ((name, _), edge) in batch.iter().zip(&edges) {
            let answer = http
                .post(edge.url("/v1/intents"))
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(answer.status().as_u16(), 500, "{name}");
            let body: Value =
                serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or_default();
            assert_eq!(body["error"]["code"], "misconfigured", "{name}");
            let needle = format!("\"variable\":\"{name}\"");
            let named = tests::wait::eventually(
                Duration::from_secs(10),
                Duration::from_millis(200),
                || async { edge.output().contains(&needle).then_some(()) },
            )
            .await;
            assert!(
                named.is_some(),
                "{name} not named in the log:\n{}",
                edge.output()
            );
            assert!(
                !edge.output().contains(&short),
                "{name}: the weak value was logged"
            );
        }
    }
    eprintln!("weak configuration: {} refused, each named", cases.len());
}
