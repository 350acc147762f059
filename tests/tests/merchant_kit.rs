//! The merchant kit's shared vectors, `tests/data/vectors.json`: checkout intents to mint,
//! notifications and result tokens to verify, valid and tampered, each with its key and the
//! outcome core gives. The examples in `examples/merchant-backend/` (Node, Python, PHP, Go) run
//! against the file in the `merchant-kit` stage of `cargo xtask test`.
//!
//! This test builds the vectors with core's own minting and signing, asserts core's verdict on
//! each is the intended one, and compares the result with the file. After a deliberate change:
//!
//! ```sh
//! UPDATE_VECTORS=1 cargo test -p tests --test merchant_kit
//! ```

use checkout_core::client_result::{ClientResult, ClientResultError};
use checkout_core::codes::OrderStatus;
use checkout_core::contract::OrderView;
use checkout_core::intent::{Intent, IntentError};
use checkout_core::webhook::{self, WebhookError, WebhookSecret};
use checkout_core::{Amount, Currency, Money, MoneyLimits, OrderNo, Secret};
use serde_json::{Value, json};
use tests::edge_harness::workspace_root;

const INTENT_KEY: &str = "intent-key-for-vectors-7Hq2Lr9x";
const RESULT_KEY: &str = "result-key-for-vectors-Kd4Pm8Zt";
/// `whsec_` + base64 of `webhook-key-for-vectors-01234567`.
const WEBHOOK_SECRET: &str = "whsec_d2ViaG9vay1rZXktZm9yLXZlY3RvcnMtMDEyMzQ1Njc=";
/// The secret before a rotation: `whsec_` + base64 of `previous-webhook-key-for-vectors`.
const WEBHOOK_SECRET_PREVIOUS: &str = "whsec_cHJldmlvdXMtd2ViaG9vay1rZXktZm9yLXZlY3RvcnM=";
/// A secret the sender never used: `whsec_` + base64 of `a-stranger's-webhook-key-0000000`.
const WEBHOOK_SECRET_STRANGER: &str = "whsec_YS1zdHJhbmdlcidzLXdlYmhvb2sta2V5LTAwMDAwMDA=";
const TS: i64 = 1_800_000_000;

fn key(text: &str) -> Secret {
    Secret::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn whsec(text: &str) -> WebhookSecret {
    WebhookSecret::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn intent(order_no: &str, amount: &str, currency: Currency, exp: i64) -> Intent {
    Intent {
        order_no: OrderNo::parse(order_no).unwrap_or_else(|e| panic!("{order_no}: {e}")),
        money: Money::parse(amount, currency, MoneyLimits::default())
            .unwrap_or_else(|e| panic!("{amount}: {e}")),
        exp,
    }
}

/// `v1.<payload>.<mac>` with the payload replaced by `payload` and the old MAC kept.
fn swap_payload(token: &str, payload: &str) -> String {
    use base64::Engine as _;
    let mac = token.rsplit('.').next().unwrap_or_default();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    format!("v1.{encoded}.{mac}")
}

fn intents() -> Value {
    let key = key(INTENT_KEY);
    let mint: Vec<Value> = [
        ("usd", intent("A-1", "5.00", Currency::Usd, TS)),
        (
            "inr",
            intent("ORD_2026.07-x", "1234.50", Currency::Inr, TS + 3600),
        ),
        ("smallest", intent("a", "0.01", Currency::Usd, TS)),
    ]
    .into_iter()
    .map(|(name, intent)| {
        json!({
            "name": name,
            "key": INTENT_KEY,
            "payload": {
                "order_no": intent.order_no.as_str(),
                "amount": intent.money.amount.to_string(),
                "currency": intent.money.currency.code(),
                "exp": intent.exp,
            },
            "intent": intent.mint(&key),
        })
    })
    .collect();
    let good = intent("A-1", "5.00", Currency::Usd, TS).mint(&key);
    let now = TS - 60;
    let refusals: Vec<Value> = [
        (
            "amount_changed",
            swap_payload(
                &good,
                r#"{"order_no":"A-1","amount":"0.01","currency":"USD","exp":1800000000}"#,
            ),
            now,
            "intent_bad_signature",
        ),
        (
            "other_key",
            intent("A-1", "5.00", Currency::Usd, TS).mint(&self::key("not-the-intent-key")),
            now,
            "intent_bad_signature",
        ),
        ("expired", good.clone(), TS, "intent_expired"),
        (
            "version",
            good.replacen("v1.", "v2.", 1),
            now,
            "intent_version",
        ),
        (
            "truncated",
            good[..good.len() - 3].to_owned(),
            now,
            "intent_bad_signature",
        ),
        (
            "two_parts",
            good.rsplit_once('.')
                .map(|(head, _)| head)
                .unwrap_or_default()
                .to_owned(),
            now,
            "intent_malformed",
        ),
    ]
    .into_iter()
    .map(|(name, text, now, code)| {
        let verdict = Intent::verify(&text, &key, now, MoneyLimits::default());
        assert_eq!(
            verdict.as_ref().map_err(IntentError::code).err(),
            Some(code),
            "{name}"
        );
        json!({ "name": name, "key": INTENT_KEY, "intent": text, "now": now, "error": code })
    })
    .collect();
    json!({ "mint": mint, "refused_by_the_edge": refusals })
}

fn view(order_no: &str, status: OrderStatus, state: &str, minor: i64) -> OrderView {
    let amount = Amount::from_minor(minor).unwrap_or_else(|| panic!("{minor} is positive"));
    OrderView {
        order_no: order_no.to_owned(),
        status,
        state: state.to_owned(),
        amount,
        currency: Currency::Usd,
        paid_amount: (state == "paid").then_some(amount),
        refund_amount: None,
        updated_at: TS * 1000,
        result_token: None,
        events_token: None,
    }
}

fn webhook_code(e: &WebhookError) -> &'static str {
    match e {
        WebhookError::BadSecret => "bad_secret",
        WebhookError::MissingHeaders => "missing_headers",
        WebhookError::Expired => "expired",
        WebhookError::FromTheFuture => "from_the_future",
        WebhookError::BadSignature => "bad_signature",
    }
}

fn notifications() -> Value {
    let paid = view("A-1", OrderStatus::Paid, "paid", 500);
    let failed = view("B-2", OrderStatus::Failed, "failed", 1999);
    let paid_id = webhook::event_id("A-1", 5, 2);
    let failed_id = webhook::event_id("B-2", 3, 2);
    let paid_body = webhook::event_body(&paid_id, TS, &paid);
    let failed_body = webhook::event_body(&failed_id, TS, &failed);
    let current = [whsec(WEBHOOK_SECRET)];
    let both = [whsec(WEBHOOK_SECRET), whsec(WEBHOOK_SECRET_PREVIOUS)];
    let sig = |id: &str, body: &str, secrets: &[WebhookSecret]| {
        webhook::signature_header(id, TS, body.as_bytes(), secrets)
    };
    let tampered = paid_body.replace("\"5.00\"", "\"500.00\"");
    assert_ne!(tampered, paid_body);
    let v2 = sig(&paid_id, &paid_body, &current).replacen("v1,", "v2,", 1);
    let cases = [
        (
            "paid",
            WEBHOOK_SECRET,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &current),
            TS + 5,
            &paid_body,
        ),
        (
            "failed",
            WEBHOOK_SECRET,
            &failed_id,
            &failed_body,
            sig(&failed_id, &failed_body, &current),
            TS,
            &failed_body,
        ),
        // During a rotation the edge signs with both secrets; a receiver with either accepts.
        (
            "rotation_new_secret",
            WEBHOOK_SECRET,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &both),
            TS,
            &paid_body,
        ),
        (
            "rotation_old_secret",
            WEBHOOK_SECRET_PREVIOUS,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &both),
            TS,
            &paid_body,
        ),
        (
            "body_tampered",
            WEBHOOK_SECRET,
            &paid_id,
            &tampered,
            sig(&paid_id, &paid_body, &current),
            TS,
            &paid_body,
        ),
        (
            "id_replaced",
            WEBHOOK_SECRET,
            &failed_id,
            &paid_body,
            sig(&paid_id, &paid_body, &current),
            TS,
            &paid_body,
        ),
        (
            "other_secret",
            WEBHOOK_SECRET_STRANGER,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &current),
            TS,
            &paid_body,
        ),
        (
            "unknown_signature_version",
            WEBHOOK_SECRET,
            &paid_id,
            &paid_body,
            v2,
            TS,
            &paid_body,
        ),
        (
            "too_old",
            WEBHOOK_SECRET,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &current),
            TS + 600,
            &paid_body,
        ),
        (
            "from_the_future",
            WEBHOOK_SECRET,
            &paid_id,
            &paid_body,
            sig(&paid_id, &paid_body, &current),
            TS - 600,
            &paid_body,
        ),
    ];
    let out: Vec<Value> = cases
        .into_iter()
        .map(|(name, secret, id, body, signature, now, signed_body)| {
            let verdict = webhook::verify(
                id,
                &TS.to_string(),
                &signature,
                body.as_bytes(),
                &[whsec(secret)],
                now,
            );
            let mut case = json!({
                "name": name,
                "secret": secret,
                "headers": {
                    "webhook-id": id,
                    "webhook-timestamp": TS.to_string(),
                    "webhook-signature": signature,
                },
                "body": body,
                "now": now,
            });
            match verdict {
                Ok(()) => {
                    assert_eq!(body, signed_body, "{name}");
                    let event: Value =
                        serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}: {e}"));
                    case["valid"] = json!(true);
                    case["event"] = json!({
                        "id": event["id"], "type": event["type"],
                        "order_no": event["data"]["order_no"], "state": event["data"]["state"],
                    });
                }
                Err(e) => {
                    case["valid"] = json!(false);
                    case["error"] = json!(webhook_code(&e));
                }
            }
            case
        })
        .collect();
    let valid: Vec<&str> = out
        .iter()
        .filter(|c| c["valid"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        valid,
        [
            "paid",
            "failed",
            "rotation_new_secret",
            "rotation_old_secret"
        ]
    );
    json!(out)
}

fn result_tokens() -> Value {
    let key = key(RESULT_KEY);
    let result = |order_no: &str, state: &str, minor: i64, exp: i64| ClientResult {
        order_no: OrderNo::parse(order_no).unwrap_or_else(|e| panic!("{order_no}: {e}")),
        state: state.to_owned(),
        amount: Amount::from_minor(minor).unwrap_or_else(|| panic!("{minor}")),
        currency: Currency::Usd,
        exp,
    };
    let paid = result("A-1", "paid", 500, TS).mint(&key);
    let failed = result("B-2", "failed", 1999, TS + 600).mint(&key);
    let now = TS - 60;
    let cases = [
        ("paid", paid.clone(), now),
        ("failed", failed, now),
        ("expired", paid.clone(), TS),
        (
            "failed_rewritten_as_paid",
            swap_payload(
                &paid,
                r#"{"order_no":"A-1","state":"paid","amount":"5.00","currency":"USD","exp":1900000000}"#,
            ),
            now,
        ),
        (
            "other_key",
            result("A-1", "paid", 500, TS).mint(&self::key("not-the-result-key")),
            now,
        ),
        ("version", paid.replacen("v1.", "v2.", 1), now),
        ("truncated", paid[..paid.len() - 3].to_owned(), now),
        (
            "two_parts",
            paid.rsplit_once('.')
                .map(|(head, _)| head)
                .unwrap_or_default()
                .to_owned(),
            now,
        ),
    ];
    let out: Vec<Value> = cases
        .into_iter()
        .map(|(name, token, now)| {
            let mut case = json!({ "name": name, "key": RESULT_KEY, "token": token, "now": now });
            match ClientResult::verify(&token, &key, now) {
                Ok(r) => {
                    case["valid"] = json!(true);
                    case["result"] = json!({
                        "order_no": r.order_no.as_str(), "state": r.state,
                        "amount": r.amount.to_string(), "currency": r.currency.code(), "exp": r.exp,
                    });
                }
                Err(e) => {
                    case["valid"] = json!(false);
                    case["error"] = json!(ClientResultError::code(&e));
                }
            }
            case
        })
        .collect();
    let errors: Vec<&str> = out.iter().filter_map(|c| c["error"].as_str()).collect();
    assert_eq!(
        errors,
        [
            "result_expired",
            "result_bad_signature",
            "result_bad_signature",
            "result_version",
            "result_bad_signature",
            "result_malformed"
        ]
    );
    json!(out)
}

fn vectors() -> String {
    let doc = json!({
        "about": "Merchant kit vectors, generated by tests/tests/merchant_kit.rs from checkout-core \
                  (UPDATE_VECTORS=1 cargo test -p tests --test merchant_kit). Times are Unix seconds; \
                  verify each case as if the clock said `now`. Intents: mint `payload` with `key` and \
                  get exactly `intent`; `refused_by_the_edge` lists what the edge answers to tampered \
                  ones. Notifications: Standard Webhooks, verify `body` with `headers` and `secret`. \
                  Result tokens: verify `token` with `key`; `error` is core's code.",
        "intents": intents(),
        "notifications": notifications(),
        "result_tokens": result_tokens(),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| panic!("{e}"));
    text.push('\n');
    text
}

#[test]
fn vectors_match_core() {
    let path = workspace_root()
        .join("tests")
        .join("data")
        .join("vectors.json");
    let fresh = vectors();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "{} is not what core generates now; if core's formats changed on purpose, regenerate it \
         with `UPDATE_VECTORS=1 cargo test -p tests --test merchant_kit` (and check the examples \
         in examples/merchant-backend/ still pass: `cargo xtask test merchant-kit`)",
        path.display()
    );
}
