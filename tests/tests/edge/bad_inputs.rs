//! The bad-input table (`tests/data/bad_inputs.json`) against the edge Worker under
//! `wrangler dev`: one loop, one row at a time. Each row asserts the HTTP status, the stable
//! error code, and, by reading the local D1 SQLite file before and after, that no order,
//! event, client-secret or refund row was written and no order changed (refused callbacks
//! write exactly their one refusal event, by design). Ends with the secret-leak scan.
//!
//! Stage `edge-hardening`.

use std::time::Instant;

use serde_json::{Value, json};
use tests::forge::{now_secs, with_sign};

use crate::support::{
    INTENT_KEY, ORIGIN, REFUND_TOKEN, RISK_TOKEN, SECRET, Stack, TOKEN, offline_intent, sign_of,
};

/// The table file, relative to the `tests` package.
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/bad_inputs.json");

/// What a refused request may leave in D1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    None,
    RefusalEvent,
}

struct Fixture {
    pending_secret: String,
}

/// `@repeat:<text>:<n>` at the end of a string → `<text>` n times; `$TOKEN`, `$ORIGIN`,
/// `$PENDING_SECRET`; `@now+<secs>`.
fn expand(text: &str, fx: &Fixture) -> String {
    let mut out = text
        .replace("$REFUND_TOKEN", REFUND_TOKEN)
        .replace("$RISK_TOKEN", RISK_TOKEN)
        .replace("$TOKEN", TOKEN)
        .replace("$ORIGIN", ORIGIN)
        .replace("$PENDING_SECRET", &fx.pending_secret);
    while let Some(at) = out.find("@now+") {
        let digits: String = out[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let secs: i64 = digits.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        out = format!(
            "{}{}{}",
            &out[..at],
            now_secs() + secs,
            &out[at + 5 + digits.len()..]
        );
    }
    if let Some(at) = out.find("@repeat:") {
        let spec = &out[at + 8..];
        let (unit, count) = spec
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("bad @repeat in {text}"));
        let count: usize = count.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        out = format!("{}{}", &out[..at], unit.repeat(count));
    }
    out
}

/// `@intent:<kind>`.
fn intent(kind: &str, fx: &Fixture) -> String {
    let exp = now_secs() + 600;
    let good = offline_intent("bad-intent-base", "5.00", exp, INTENT_KEY);
    let parts: Vec<&str> = good.split('.').collect();
    let (payload, mac) = (parts[1], parts[2]);
    match kind {
        "expired" => offline_intent("bad-intent-base", "5.00", now_secs() - 10, INTENT_KEY),
        "tampered_payload" => {
            let cheap = offline_intent("bad-intent-base", "0.01", exp, INTENT_KEY);
            let cheap_payload = cheap.split('.').nth(1).unwrap_or_default().to_owned();
            format!("v1.{cheap_payload}.{mac}")
        }
        "tampered_mac" => {
            let flipped = if mac.starts_with('A') { "B" } else { "A" };
            format!("v1.{payload}.{flipped}{}", &mac[1..])
        }
        "other_key" => offline_intent("bad-intent-base", "5.00", exp, "another-merchants-key"),
        "wrong_version" => good.replacen("v1.", "v2.", 1),
        "truncated_payload" => good[..3 + payload.len() / 2].to_owned(),
        // 40 of the 43 characters: always valid base64 (30 bytes), so the MAC check decides.
        "truncated_mac" => good[..good.len() - 3].to_owned(),
        "no_mac" => format!("v1.{payload}."),
        "extra_part" => format!("{good}.x"),
        "too_long" => format!("v1.{}.{mac}", "A".repeat(2000)),
        other => match other.strip_prefix("signed:") {
            Some(payload) => raw_intent(&expand(payload, fx), INTENT_KEY),
            None => panic!("unknown intent kind {other}"),
        },
    }
}

/// Expands placeholders in every string of a JSON value.
fn expand_value(value: &Value, fx: &Fixture) -> Value {
    match value {
        Value::String(text) => match text.strip_prefix("@intent:") {
            Some(kind) => Value::String(intent(kind, fx)),
            None => Value::String(expand(text, fx)),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| expand_value(v, fx)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), expand_value(v, fx)))
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

/// `large:<bytes>`, `nested:<depth>`, `nested_in:<field>:<depth>`.
fn generate(spec: &str) -> Vec<u8> {
    let parts: Vec<&str> = spec.split(':').collect();
    let number = |text: &str| -> usize { text.parse().unwrap_or_else(|e| panic!("{spec}: {e}")) };
    match parts.as_slice() {
        ["large", bytes] => {
            let pad = number(bytes).saturating_sub(12);
            format!("{{\"pad\":\"{}\"}}", "x".repeat(pad)).into_bytes()
        }
        ["nested", depth] => {
            let depth = number(depth);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        ["nested_in", field, depth] => {
            let depth = number(depth);
            format!(
                "{{\"{field}\":{}1{}}}",
                "{\"a\":".repeat(depth),
                "}".repeat(depth)
            )
            .into_bytes()
        }
        _ => panic!("unknown body generator {spec}"),
    }
}

/// A callback body: `{json, sign: valid | other_key | uppercase | none | garbage}`.
fn callback(spec: &Value) -> Vec<u8> {
    let text = spec["json"].to_string();
    let body = match spec["sign"].as_str().unwrap_or("valid") {
        "valid" => with_sign(&text, &sign_of(&text, SECRET)),
        "other_key" => with_sign(&text, &sign_of(&text, "another-merchants-secret")),
        "uppercase" => with_sign(&text, &sign_of(&text, SECRET).to_uppercase()),
        "garbage" => with_sign(&text, &"0".repeat(32)),
        "none" => text,
        other => panic!("unknown sign kind {other}"),
    };
    body.into_bytes()
}

/// An intent over an arbitrary payload JSON text, MAC'd with `key` (valid MAC, any content).
fn raw_intent(payload: &str, key: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!("v1.{}", b64.encode(payload));
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64.encode(mac.finalize().into_bytes()))
}

/// Everything D1 holds that a refused request must not touch.
fn snapshot(env: &Stack) -> Value {
    let rows = env
        .edge
        .d1_query(
            "SELECT (SELECT count(*) FROM orders) AS orders, \
             (SELECT count(*) FROM order_events) AS events, \
             (SELECT count(*) FROM client_secrets) AS client_secrets, \
             (SELECT count(*) FROM refunds) AS refunds, \
             (SELECT group_concat(order_no || ':' || status || ':' || updated_at || ':' || \
              ifnull(pay_url, '') || ':' || creating_until || ':' || ifnull(last_query_at, ''), '|') \
              FROM orders) AS orders_digest",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    rows[0].clone()
}

async fn setup(env: &Stack) -> Fixture {
    let pending_secret = env.new_order("bad-fixture-pending", "10.00").await;
    env.new_order("bad-fixture-paid", "20.00").await;
    env.sim_post("/_sim/orders/bad-fixture-paid/pay", json!({}))
        .await;
    env.wait_state("bad-fixture-paid", "paid").await;
    Fixture { pending_secret }
}

async fn run_row(env: &Stack, fx: &Fixture, row: &Value) -> Result<(), String> {
    let name = row["name"].as_str().unwrap_or("?");
    let method = row["method"].as_str().unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let path = expand(row["path"].as_str().unwrap_or("/"), fx);
    let body: Option<Vec<u8>> = if let Some(raw) = row["raw"].as_str() {
        Some(raw.as_bytes().to_vec())
    } else if let Some(spec) = row["gen"].as_str() {
        Some(generate(spec))
    } else if row.get("callback").is_some() {
        Some(callback(&row["callback"]))
    } else {
        row.get("body")
            .map(|b| expand_value(b, fx).to_string().into_bytes())
    };
    let mut headers: Vec<(String, String)> = row["headers"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), expand(v.as_str().unwrap_or_default(), fx)))
                .collect()
        })
        .unwrap_or_default();
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    headers.retain(|(k, v)| !(v.is_empty() && k.eq_ignore_ascii_case("content-type")));
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let writes = match row["writes"].as_str().unwrap_or("none") {
        "none" => Writes::None,
        "refusal_event" => Writes::RefusalEvent,
        other => return Err(format!("{name}: unknown writes {other}")),
    };
    let want_status = row["status"].as_u64().unwrap_or(0);
    let want_code = row["code"].as_str().unwrap_or("");

    let before = snapshot(env);
    let answer = env
        .send(method, &env.edge.url(&path), &header_refs, body)
        .await;
    let mut after = snapshot(env);
    let mut problems = Vec::new();
    if (u64::from(answer.status), answer.code()) != (want_status, want_code) {
        problems.push(format!(
            "got {} {:?}, want {want_status} {want_code:?}",
            answer.status,
            answer.code()
        ));
    }
    if answer.body["error"]["message"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        problems.push("no error message".into());
    }
    if answer.header("x-request-id").is_none() {
        problems.push("no X-Request-Id".into());
    }
    if writes == Writes::RefusalEvent {
        let events = after["events"].as_i64().unwrap_or(0) - before["events"].as_i64().unwrap_or(0);
        if events != 1 {
            problems.push(format!(
                "{events} event rows written, want exactly 1 refusal"
            ));
        }
        after["events"] = before["events"].clone();
    }
    if after != before {
        problems.push(format!("D1 changed: before {before}, after {after}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: {} [{}]",
            problems.join("; "),
            answer.text.chars().take(300).collect::<String>()
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-hardening`"]
async fn edge_bad_input_table() {
    let started = Instant::now();
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(TABLE).unwrap_or_else(|e| panic!("{TABLE}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{TABLE}: {e}"));
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    assert!(rows.len() >= 60, "the table has only {} rows", rows.len());

    let env = Stack::start(|vars| vars).await;
    let fx = setup(&env).await;
    eprintln!(
        "worker + fixtures ready in {} ms",
        started.elapsed().as_millis()
    );

    let table_started = Instant::now();
    let mut failures = Vec::new();
    let mut routes = std::collections::BTreeMap::<String, usize>::new();
    for row in &rows {
        let route = format!(
            "{} {}",
            row["method"].as_str().unwrap_or("?"),
            row["path"]
                .as_str()
                .unwrap_or("?")
                .split('?')
                .next()
                .unwrap_or("")
        );
        *routes.entry(route).or_default() += 1;
        if let Err(failure) = run_row(&env, &fx, row).await {
            failures.push(failure);
        }
    }
    eprintln!(
        "bad-input table: {} rows over {} method+path combinations in {} ms, {} failed",
        rows.len(),
        routes.len(),
        table_started.elapsed().as_millis(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );

    // The fixtures are untouched.
    assert_eq!(
        env.admin_order("bad-fixture-pending").await.body["state"],
        "pending"
    );
    let paid = env.admin_order("bad-fixture-paid").await;
    assert_eq!(paid.body["state"], "paid", "{}", paid.text);
    assert!(paid.body["refunds"].as_array().is_some_and(Vec::is_empty));

    env.leak_scan();
    eprintln!("edge_bad_input_table: {} ms", started.elapsed().as_millis());
}
