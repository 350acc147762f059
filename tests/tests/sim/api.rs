//! The simulator's request checks: credentials, sign, amount rendering, body shape, business
//! rules, and the request log.

use crate::support::{amount, start, start_default};
use checkout_core::codes::ErrorCode;
use checkout_core::money::{AmountRendering, Currency};
use checkout_core::sign::{SignFields, SignOptions};
use checkout_core::wire::{
    BalanceRequest, CashierPayinRequest, Envelope, FeeOverviewRequest, OrderQueryRequest,
    TrustPayRequest, paths,
};
use serde_json::Value;
use tests::sim::{DEFAULT_API_KEY, DEFAULT_MERCHANT_ID, DEFAULT_SECRET, SimConfig};

const NOTIFY: &str = "http://127.0.0.1:9/callback";

fn payin(order_no: &str, minor: i64) -> CashierPayinRequest {
    CashierPayinRequest {
        merchant_id: DEFAULT_MERCHANT_ID,
        order_no: order_no.into(),
        order_amount: amount(minor),
        currency: Currency::Usd,
        notify_url: NOTIFY.into(),
    }
}

fn envelope(text: &str) -> Envelope<Value> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not an envelope ({e}): {text}"))
}

/// A cashier payin body built field by field, signed with the development secret as sent.
fn payin_fields() -> SignFields {
    payin("shape-1", 500).fields(AmountRendering::TwoDecimals)
}

#[tokio::test]
async fn a_wrong_or_missing_api_key_is_880011_and_never_logged() {
    let (_sim, api) = start_default().await;
    let body = payin("key-1", 500)
        .fields(AmountRendering::TwoDecimals)
        .signed_body(&api.secret);

    let (status, text) = api
        .post_raw(
            paths::CASHIER_PAYIN,
            body.clone(),
            Some("not-the-key"),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, 200, "errors answer HTTP 200 by default");
    let env = envelope(&text);
    assert_eq!(env.code, ErrorCode::Unauthorized, "{}", env.message);
    assert!(env.data.is_none());

    let (_, text) = api
        .post_raw(
            paths::CASHIER_PAYIN,
            body.clone(),
            None,
            Some("application/json"),
        )
        .await;
    assert_eq!(envelope(&text).code, ErrorCode::Unauthorized);

    // The right key and the same body work: the order was not created by the refused calls.
    let (_, text) = api.post_body(paths::CASHIER_PAYIN, body).await;
    assert_eq!(envelope(&text).code, ErrorCode::Success, "{text}");

    let log = api.requests(paths::CASHIER_PAYIN).await;
    let verdicts: Vec<_> = log
        .iter()
        .map(|e| e["verdict"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(verdicts, ["wrong_api_key", "missing_api_key", "ok"]);
    assert_eq!(log[0]["headers"]["x-api-key"], "[redacted: does not match]");
    assert_eq!(log[2]["headers"]["x-api-key"], "[redacted: matched]");
    assert_eq!(log[2]["api_key"], "matched");
    let everything = api.get_json("/_sim/requests").await.to_string();
    for secret in [DEFAULT_API_KEY, DEFAULT_SECRET, "not-the-key"] {
        assert!(
            !everything.contains(secret),
            "the request log leaks `{secret}`"
        );
    }
}

#[tokio::test]
async fn a_wrong_sign_is_880011_and_the_log_shows_both_sides() {
    let (_sim, api) = start_default().await;
    let other = checkout_core::secret::Secret::new("another-secret").expect("non-empty");
    let body = payin("sign-1", 500)
        .fields(AmountRendering::TwoDecimals)
        .signed_body(&other);
    let (_, text) = api.post_body(paths::CASHIER_PAYIN, body).await;
    let env = envelope(&text);
    assert_eq!(env.code, ErrorCode::Unauthorized);
    assert!(env.message.contains("sign"), "{}", env.message);

    let missing = payin_fields()
        .signed_body(&api.secret)
        .replace(r#","sign":""#, r#","nosign":""#);
    let (_, text) = api.post_body(paths::CASHIER_PAYIN, missing).await;
    assert_eq!(
        envelope(&text).code,
        ErrorCode::Unauthorized,
        "no sign at all"
    );

    let log = api.requests(paths::CASHIER_PAYIN).await;
    assert_eq!(log[0]["verdict"], "bad_sign");
    assert_eq!(log[1]["verdict"], "missing_sign");
    let canonical = log[0]["canonical"].as_str().expect("canonical");
    assert_eq!(
        canonical,
        format!(
            "currency=USD&merchant_id={DEFAULT_MERCHANT_ID}&notify_url={NOTIFY}&order_amount=5.00&order_no=sign-1"
        )
    );
    let expected = checkout_core::sign::sign_canonical(canonical, &api.secret);
    assert_eq!(log[0]["expected_sign"], expected.as_str());
    assert_ne!(log[0]["received_sign"], log[0]["expected_sign"]);
}

#[tokio::test]
async fn amounts_must_be_written_and_signed_in_the_configured_rendering() {
    // Default: two decimals. A client that sends and signs `5` is refused...
    let (_sim, mut api) = start_default().await;
    api.rendering = AmountRendering::Trimmed;
    let env = api.send(&payin("render-1", 500)).await;
    assert_eq!(env.code, ErrorCode::Unauthorized, "{}", env.message);
    assert!(env.message.contains("order_amount"), "{}", env.message);
    // ... and so is one whose body says 5.00 but whose sign was computed over `5`.
    let fields = payin("render-2", 500).fields(AmountRendering::TwoDecimals);
    let trimmed_sign = fields.sign(SignOptions::amounts(AmountRendering::Trimmed), &api.secret);
    let body = fields.signed_body(&api.secret).replace(
        &fields.sign(SignOptions::AS_SENT, &api.secret).to_string(),
        trimmed_sign.as_str(),
    );
    let (_, text) = api.post_body(paths::CASHIER_PAYIN, body).await;
    assert_eq!(envelope(&text).code, ErrorCode::Unauthorized);
    let log = api.requests(paths::CASHIER_PAYIN).await;
    assert_eq!(log[0]["verdict"], "wrong_amount_rendering");
    assert!(
        log[0]["canonical_as_sent"]
            .as_str()
            .is_some_and(|c| c.contains("order_amount=5&")),
        "{}",
        log[0]
    );
    assert_eq!(log[1]["verdict"], "bad_sign");

    // A simulator configured for trimmed amounts takes `5` and refuses `5.00`.
    let (_sim, mut api) = start(SimConfig {
        sign_amounts: AmountRendering::Trimmed,
        ..SimConfig::for_tests()
    })
    .await;
    assert_eq!(
        api.send(&payin("render-3", 500)).await.code,
        ErrorCode::Success
    );
    api.rendering = AmountRendering::TwoDecimals;
    assert_eq!(
        api.send(&payin("render-4", 500)).await.code,
        ErrorCode::Unauthorized
    );
    // Amounts with cents are the same text in both renderings.
    assert_eq!(
        api.send(&payin("render-5", 505)).await.code,
        ErrorCode::Success
    );
}

#[tokio::test]
async fn duplicate_order_numbers_are_880012() {
    let (_sim, api) = start_default().await;
    assert_eq!(
        api.send(&payin("dup-1", 500)).await.code,
        ErrorCode::Success
    );
    let env = api.send(&payin("dup-1", 700)).await;
    assert_eq!(env.code, ErrorCode::OrderAlreadyExists, "{}", env.message);
}

#[tokio::test]
async fn amounts_outside_the_rules_are_880015() {
    let (_sim, api) = start_default().await;
    for (order_no, minor, currency) in [
        ("low", 49, Currency::Usd),
        ("high", 1_000_001, Currency::Usd),
        ("inr-low", 999, Currency::Inr),
        ("zero", 0, Currency::Usd),
    ] {
        let env = api
            .send(&CashierPayinRequest {
                currency,
                ..payin(order_no, minor)
            })
            .await;
        assert_eq!(
            env.code,
            ErrorCode::AmountRuleViolation,
            "{order_no}: {}",
            env.message
        );
    }
    for (order_no, minor, currency) in [
        ("min", 50, Currency::Usd),
        ("max", 1_000_000, Currency::Usd),
        ("inr-min", 1000, Currency::Inr),
    ] {
        let env = api
            .send(&CashierPayinRequest {
                currency,
                ..payin(order_no, minor)
            })
            .await;
        assert_eq!(env.code, ErrorCode::Success, "{order_no}: {}", env.message);
    }
}

#[tokio::test]
async fn malformed_bodies_are_880002() {
    let (_sim, api) = start_default().await;
    let sign = |fields: SignFields| fields.signed_body(&api.secret);
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{\"order_no\":".to_owned()),
        ("an array", "[1,2]".to_owned()),
        (
            "a repeated key",
            r#"{"order_no":"a","order_no":"b","sign":"x"}"#.to_owned(),
        ),
        (
            "no order_no",
            sign(payin_fields().with("order_no", checkout_core::sign::SignValue::Null)),
        ),
        (
            "amount as a string",
            sign(payin_fields().str("order_amount", "5.00")),
        ),
        (
            "three decimals",
            sign(payin_fields().with(
                "order_amount",
                checkout_core::sign::SignValue::Number("5.001".into()),
            )),
        ),
        (
            "negative amount",
            sign(payin_fields().with(
                "order_amount",
                checkout_core::sign::SignValue::Number("-5.00".into()),
            )),
        ),
        ("EUR", sign(payin_fields().str("currency", "EUR"))),
        (
            "lower-case usd",
            sign(payin_fields().str("currency", "usd")),
        ),
        (
            "merchant_id as a string",
            sign(payin_fields().str("merchant_id", "8820250900009")),
        ),
        (
            "no merchant_id",
            sign(payin_fields().with("merchant_id", checkout_core::sign::SignValue::Null)),
        ),
        (
            "order_no with a space",
            sign(payin_fields().str("order_no", "a b")),
        ),
        (
            "ftp notify_url",
            sign(payin_fields().str("notify_url", "ftp://x/cb")),
        ),
    ];
    for (what, body) in cases {
        let (_, text) = api.post_body(paths::CASHIER_PAYIN, body).await;
        let env = envelope(&text);
        assert_eq!(env.code, ErrorCode::BadRequest, "{what}: {}", env.message);
        assert!(
            env.message.starts_with("bad_request: "),
            "{what}: {}",
            env.message
        );
    }
    let (_, text) = api
        .post_raw(
            paths::CASHIER_PAYIN,
            sign(payin_fields()),
            Some(DEFAULT_API_KEY),
            Some("text/plain"),
        )
        .await;
    assert_eq!(
        envelope(&text).code,
        ErrorCode::BadRequest,
        "wrong content type"
    );
    let foreign = sign(payin_fields().int("merchant_id", 1));
    let (_, text) = api.post_body(paths::CASHIER_PAYIN, foreign).await;
    assert_eq!(
        envelope(&text).code,
        ErrorCode::Unauthorized,
        "another merchant's id"
    );
}

#[tokio::test]
async fn query_balance_and_fee_overview() {
    let (_sim, api) = start_default().await;
    let missing = api
        .send(&OrderQueryRequest {
            order_no: "nope".into(),
        })
        .await;
    assert_eq!(missing.code, ErrorCode::BadRequest);
    assert_eq!(missing.message, "bad_request: order_not_found");

    api.create("q-1", 1234, NOTIFY).await;
    let q = api.query("q-1").await;
    assert_eq!(q.order_amount, Some(amount(1234)));
    assert_eq!(
        q.type_id,
        Some(checkout_core::codes::TransactionType::Payin)
    );
    assert_eq!(q.fee, Some(amount(66)), "35.786 → 36 + 30");
    assert_eq!(
        (q.paid_amount, q.refund_amount),
        (Some(amount(0)), Some(amount(0)))
    );
    let raw = api
        .send_fields(
            paths::ORDER_QUERY,
            OrderQueryRequest {
                order_no: "q-1".into(),
            }
            .fields(AmountRendering::TwoDecimals),
        )
        .await;
    let data = raw.data.expect("data");
    for key in [
        "order_no",
        "platform_order_no",
        "type_id",
        "merchant_id",
        "currency",
        "order_amount",
        "paid_amount",
        "refund_amount",
        "fee",
        "status",
        "reason",
        "notify_status",
        "create_time",
    ] {
        assert!(data.get(key).is_some(), "query data lacks {key}: {data}");
    }

    for currency in Currency::ALL {
        let b = api
            .send(&BalanceRequest {
                currency_id: currency,
            })
            .await;
        assert_eq!(b.code, ErrorCode::Success);
        assert_eq!(
            b.data.map(|d| (d.balance, d.frozen, d.reserve)),
            Some((amount(100_000), amount(0), amount(0)))
        );
    }
    let eur = api
        .send_fields(paths::BALANCE, SignFields::new().str("currency_id", "EUR"))
        .await;
    assert_eq!(eur.code, ErrorCode::BadRequest);

    let fees = api.send(&FeeOverviewRequest).await;
    assert_eq!(fees.code, ErrorCode::Success);
    assert_eq!(fees.message, "Fee overview retrieved successfully");
    let fees = fees.data.expect("fee data");
    assert_eq!(fees.fee_configs.len(), 2);
    assert!((fees.fee_configs[0].fee_rate - 0.029).abs() < 1e-9);
    assert_eq!(fees.fee_configs[0].fee_fixed_amount, amount(30));
}

#[tokio::test]
async fn the_error_http_status_is_configurable() {
    let (_sim, api) = start(SimConfig {
        error_http_status: 400,
        ..SimConfig::for_tests()
    })
    .await;
    let body = payin("status-1", 500)
        .fields(AmountRendering::TwoDecimals)
        .signed_body(&api.secret);
    let (status, text) = api
        .post_raw(
            paths::CASHIER_PAYIN,
            body.clone(),
            Some("wrong"),
            Some("application/json"),
        )
        .await;
    assert_eq!(
        (status, envelope(&text).code),
        (400, ErrorCode::Unauthorized)
    );
    let (status, text) = api.post_body(paths::CASHIER_PAYIN, body).await;
    assert_eq!((status, envelope(&text).code), (200, ErrorCode::Success));
}

#[tokio::test]
async fn health_and_help() {
    let (sim, api) = start_default().await;
    let health = api
        .http
        .get(sim.url("/health"))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("body");
    assert_eq!(health, "ok");

    use clap::CommandFactory;
    let help = tests::sim::SimArgs::command()
        .render_long_help()
        .to_string();
    for flag in [
        "--listen",
        "--merchant-id",
        "--api-key",
        "--secret",
        "--public-url",
        "--sign-amounts",
        "--callback-amounts",
        "--callback-retries",
        "--callback-timeout",
        "--order-timeout",
        "--refund-delay",
        "--seed",
        "--amount-rule",
        "--fee",
        "--opening-balance",
        "--error-http-status",
        "--quiet",
        "TRUSTPAY_SIM_SECRET",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
