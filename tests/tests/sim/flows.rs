//! Payment flows against the in-process simulator: hosted page, callbacks, refunds, balances.

use std::time::Duration;

use crate::support::{Listener, Respond, amount, start, start_default};
use checkout_core::callback::ExpectedOrder;
use checkout_core::codes::{ErrorCode, NotifyStatus, OrderStatus, TransactionType};
use checkout_core::money::{AmountRendering, Currency};
use checkout_core::sign::SignOptions;
use checkout_core::wire::{BalanceRequest, RefundRequest};
use tests::sim::{DEFAULT_MERCHANT_ID, SimConfig};

const PAID_KEYS: [&str; 11] = [
    "balance_amount",
    "fee",
    "merchant_id",
    "order_amount",
    "order_no",
    "paid_amount",
    "pay_time",
    "reason",
    "sign",
    "status",
    "type",
];
const FAILED_KEYS: [&str; 7] = [
    "merchant_id",
    "order_amount",
    "order_no",
    "reason",
    "sign",
    "status",
    "type",
];
const REFUND_KEYS: [&str; 9] = [
    "merchant_id",
    "merchant_refund_no",
    "order_amount",
    "order_no",
    "reason",
    "refund_amount",
    "sign",
    "status",
    "type",
];

fn refund(order_no: &str, refund_no: &str, minor: i64) -> RefundRequest {
    RefundRequest {
        order_no: order_no.into(),
        merchant_refund_no: refund_no.into(),
        refund_amount: amount(minor),
        reason: "customer asked".into(),
    }
}

/// Submits a button of the hosted page (following the redirect) and returns the result page.
async fn click(api: &crate::support::Api, pay_url: &str, action: &str) -> String {
    let resp = api
        .http
        .post(pay_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("action={action}"))
        .send()
        .await
        .expect("the page answers");
    assert_eq!(resp.status().as_u16(), 200, "after the redirect");
    resp.text().await.expect("html")
}

#[tokio::test]
async fn pay_on_the_hosted_page_sends_a_verified_callback() {
    let (sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;

    let created = api.create("pay-1", 500, &shop.url()).await;
    let platform = created
        .platform_order_no
        .clone()
        .expect("platform_order_no");
    assert_eq!(platform.len(), 24);
    assert!(
        platform.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{platform}"
    );
    assert_eq!(created.merchant_id, Some(DEFAULT_MERCHANT_ID));
    assert_eq!(
        created.currency.as_ref().and_then(|c| c.supported()),
        Some(Currency::Usd)
    );
    assert_eq!(created.amount, Some(amount(500)));
    assert_eq!(
        created.fee,
        Some(amount(45)),
        "2.9% of 5.00 = 0.145 → 0.15, + 0.30"
    );
    let pay_url = created.pay_url.clone().expect("pay_url");
    assert_eq!(pay_url, format!("{}/pay/{platform}", sim.base_url()));

    let pending = api.query("pay-1").await;
    assert_eq!(pending.status, Some(OrderStatus::Pending));
    assert_eq!(pending.notify_status, Some(NotifyStatus::Pending));
    assert_eq!(pending.notify_time, None);
    assert!(
        pending
            .create_time
            .as_deref()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 27),
        "{:?}",
        pending.create_time
    );

    // The page: amount, currency, merchant order, three buttons, no script, strict CSP.
    let page = api.http.get(&pay_url).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    for needle in [
        "5.00",
        "USD",
        "pay-1",
        r#"value="pay""#,
        r#"value="decline""#,
        r#"value="timeout""#,
        r#"<html lang="en">"#,
    ] {
        assert!(html.contains(needle), "page lacks {needle}: {html}");
    }
    assert!(!html.contains("<script"), "no scripts");

    let result = click(&api, &pay_url, "pay").await;
    assert!(
        result.contains("Payment successful") && result.contains("close this tab"),
        "{result}"
    );

    let got = shop.wait_for("pay-1", 1).await;
    let cb = got[0].callback();
    assert_eq!(got[0].keys(), PAID_KEYS);
    assert_eq!(
        got[0].verified.as_ref().map(|v| v.matched).ok(),
        Some(SignOptions::amounts(AmountRendering::TwoDecimals))
    );
    assert!(
        got[0].body.contains(r#""order_amount":5.00"#) && got[0].body.contains(r#""type":0"#),
        "{}",
        got[0].body
    );
    assert_eq!(
        (cb.r#type, cb.status, cb.merchant_id),
        (
            TransactionType::Payin,
            OrderStatus::Paid,
            DEFAULT_MERCHANT_ID
        )
    );
    assert_eq!(cb.order_amount, amount(500));
    assert_eq!(cb.paid_amount, Some(amount(500)));
    assert_eq!(cb.fee, Some(amount(45)));
    assert_eq!(cb.balance_amount, Some(amount(455)), "paid - fee");
    let pay_time = cb.pay_time.clone().expect("pay_time");
    assert!(
        pay_time.len() == 19 && pay_time.as_bytes()[10] == b' ',
        "YYYY-MM-DD HH:MM:SS, got {pay_time}"
    );
    let expected = ExpectedOrder {
        merchant_id: DEFAULT_MERCHANT_ID,
        amount: amount(500),
        currency: Currency::Usd,
    };
    assert!(cb.check_order(&expected).is_ok());

    let done = api.wait_status("pay-1", OrderStatus::Paid).await;
    assert_eq!(done.paid_amount, Some(amount(500)));
    let done = crate::support::until("notify_status 2", || async {
        let q = api.query("pay-1").await;
        (q.notify_status == Some(NotifyStatus::Sent)).then_some(q)
    })
    .await;
    assert!(done.notify_time.is_some());

    // A second click on the finished order changes nothing.
    let again = click(&api, &pay_url, "decline").await;
    assert!(again.contains("Payment successful"));
    let balance = api
        .send(&BalanceRequest {
            currency_id: Currency::Usd,
        })
        .await
        .data
        .expect("balance");
    assert_eq!(
        balance.balance,
        amount(100_000 + 455),
        "opening 1000.00 + paid - fee"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn decline_and_let_it_time_out_on_the_page() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;

    let declined = api.create("decline-1", 1999, &shop.url()).await;
    let page = click(
        &api,
        declined.pay_url.as_deref().expect("pay_url"),
        "decline",
    )
    .await;
    assert!(
        page.contains("Payment declined") && page.contains("close this tab"),
        "{page}"
    );
    let got = shop.wait_for("decline-1", 1).await;
    assert_eq!(got[0].keys(), FAILED_KEYS, "failed: only order_amount");
    assert_eq!(got[0].callback().status, OrderStatus::Failed);
    assert_eq!(got[0].callback().order_amount, amount(1999));

    let expired = api.create("expire-1", 1000, &shop.url()).await;
    let page = click(
        &api,
        expired.pay_url.as_deref().expect("pay_url"),
        "timeout",
    )
    .await;
    assert!(page.contains("Payment timed out"), "{page}");
    let got = shop.wait_for("expire-1", 1).await;
    assert_eq!(got[0].keys(), FAILED_KEYS, "timed out: only order_amount");
    assert_eq!(got[0].callback().status, OrderStatus::TimedOut);
    let q = api.query("expire-1").await;
    assert_eq!(
        (q.status, q.paid_amount),
        (Some(OrderStatus::TimedOut), Some(amount(0)))
    );
}

#[tokio::test]
async fn orders_left_alone_time_out() {
    let (_sim, api) = start(SimConfig {
        order_timeout: Duration::from_millis(100),
        ..SimConfig::for_tests()
    })
    .await;
    let shop = Listener::start(Respond::Ok).await;
    let created = api
        .create_in("idle-1", 5000, Currency::Inr, &shop.url())
        .await;
    let got = shop.wait_for("idle-1", 1).await;
    assert_eq!(got[0].callback().status, OrderStatus::TimedOut);
    assert_eq!(got[0].keys(), FAILED_KEYS);
    api.wait_status("idle-1", OrderStatus::TimedOut).await;
    let page = api
        .http
        .get(created.pay_url.expect("pay_url"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Payment timed out") && !page.contains("<form"),
        "{page}"
    );
}

#[tokio::test]
async fn full_refund_goes_9_then_7_with_a_callback_each() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("refund-full", 500, &shop.url()).await;
    api.control_ok("/_sim/orders/refund-full/pay", serde_json::json!({}))
        .await;
    shop.wait_for("refund-full", 1).await;

    let env = api.send(&refund("refund-full", "R-full-1", 500)).await;
    assert_eq!(env.code, ErrorCode::Success, "{}", env.message);
    let data = env.data.expect("refund data");
    assert_eq!(
        (
            data.merchant_refund_no.as_str(),
            data.refund_amount,
            data.status
        ),
        ("R-full-1", Some(amount(500)), Some(9))
    );

    let got = shop.wait_for("refund-full", 3).await;
    let statuses: Vec<_> = got.iter().map(|r| r.callback().status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Paid,
            OrderStatus::Refunding,
            OrderStatus::Refunded
        ]
    );
    for r in &got[1..] {
        assert_eq!(
            r.keys(),
            REFUND_KEYS,
            "refund callbacks omit paid_amount, balance_amount, fee, pay_time"
        );
        assert_eq!(
            r.callback().merchant_refund_no.as_deref(),
            Some(&["R-full-1".to_owned()][..])
        );
        assert_eq!(r.callback().refund_amount, Some(amount(500)));
    }
    let q = api.wait_status("refund-full", OrderStatus::Refunded).await;
    assert_eq!(q.refund_amount, Some(amount(500)));

    let again = api.send(&refund("refund-full", "R-full-2", 100)).await;
    assert_eq!(
        again.code,
        ErrorCode::OrderProcessingFailed,
        "a refunded order is not refundable: {}",
        again.message
    );
    let balance = api
        .send(&BalanceRequest {
            currency_id: Currency::Usd,
        })
        .await
        .data
        .expect("balance");
    assert_eq!(balance.balance, amount(100_000 + 455 - 500));
    assert_eq!(balance.frozen, amount(0));
}

#[tokio::test]
async fn partial_refunds_go_9_then_8_then_9_then_7() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("refund-part", 1000, &shop.url()).await;

    let early = api.send(&refund("refund-part", "R-early", 100)).await;
    assert_eq!(
        early.code,
        ErrorCode::OrderProcessingFailed,
        "pending orders are not refundable: {}",
        early.message
    );

    api.control_ok("/_sim/orders/refund-part/pay", serde_json::json!({}))
        .await;
    api.wait_status("refund-part", OrderStatus::Paid).await;

    assert_eq!(
        api.send(&refund("refund-part", "R-1", 300)).await.code,
        ErrorCode::Success
    );
    api.wait_status("refund-part", OrderStatus::PartiallyRefunded)
        .await;

    let too_much = api.send(&refund("refund-part", "R-2", 800)).await;
    assert_eq!(
        too_much.code,
        ErrorCode::AmountRuleViolation,
        "7.00 is left: {}",
        too_much.message
    );
    let reused = api.send(&refund("refund-part", "R-1", 100)).await;
    assert_eq!(
        reused.code,
        ErrorCode::OrderAlreadyExists,
        "{}",
        reused.message
    );

    assert_eq!(
        api.send(&refund("refund-part", "R-2", 700)).await.code,
        ErrorCode::Success
    );
    let q = api.wait_status("refund-part", OrderStatus::Refunded).await;
    assert_eq!(q.refund_amount, Some(amount(1000)));

    let got = shop.wait_for("refund-part", 5).await;
    let seen: Vec<_> = got
        .iter()
        .map(|r| (r.callback().status, r.callback().refund_amount))
        .collect();
    assert_eq!(
        seen,
        [
            (OrderStatus::Paid, None),
            (OrderStatus::Refunding, Some(amount(300))),
            (OrderStatus::PartiallyRefunded, Some(amount(300))),
            (OrderStatus::Refunding, Some(amount(1000))),
            (OrderStatus::Refunded, Some(amount(1000))),
        ]
    );
    assert_eq!(
        got[4].callback().merchant_refund_no.as_deref(),
        Some(&["R-1".to_owned(), "R-2".to_owned()][..])
    );
    assert!(
        got[4]
            .body
            .contains(r#""merchant_refund_no":["R-1","R-2"]"#),
        "{}",
        got[4].body
    );
}

#[tokio::test]
async fn a_refund_in_progress_blocks_another_and_freezes_its_amount() {
    let (_sim, api) = start(SimConfig {
        refund_delay: Duration::from_secs(60),
        ..SimConfig::for_tests()
    })
    .await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("slow-refund", 2000, &shop.url()).await;
    api.control_ok("/_sim/orders/slow-refund/pay", serde_json::json!({}))
        .await;
    assert_eq!(
        api.send(&refund("slow-refund", "S-1", 500)).await.code,
        ErrorCode::Success
    );
    assert_eq!(
        api.query("slow-refund").await.status,
        Some(OrderStatus::Refunding)
    );
    let second = api.send(&refund("slow-refund", "S-2", 500)).await;
    assert_eq!(
        second.code,
        ErrorCode::OrderProcessingFailed,
        "{}",
        second.message
    );
    let balance = api
        .send(&BalanceRequest {
            currency_id: Currency::Usd,
        })
        .await
        .data
        .expect("balance");
    // 20.00 paid, fee 0.58 + 0.30 = 0.88, 5.00 refunding.
    assert_eq!(
        (balance.balance, balance.frozen),
        (amount(100_000 + 2000 - 88 - 500), amount(500))
    );
}

#[tokio::test]
async fn a_refund_above_the_balance_is_refused() {
    let (_sim, api) = start(SimConfig {
        opening_balance: amount(0),
        ..SimConfig::for_tests()
    })
    .await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("poor", 1000, &shop.url()).await;
    api.control_ok("/_sim/orders/poor/pay", serde_json::json!({}))
        .await;
    // 10.00 paid minus a 0.59 fee leaves 9.41.
    let env = api.send(&refund("poor", "P-1", 1000)).await;
    assert_eq!(env.code, ErrorCode::InsufficientBalance, "{}", env.message);
    assert_eq!(
        api.send(&refund("poor", "P-2", 941)).await.code,
        ErrorCode::Success
    );
}

#[tokio::test]
async fn callbacks_are_retried_until_the_shop_answers_2xx() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::FailFirst(2)).await;
    api.create("retry-ok", 500, &shop.url()).await;
    api.control_ok("/_sim/orders/retry-ok/pay", serde_json::json!({}))
        .await;

    let q = crate::support::until("notify_status 2", || async {
        let q = api.query("retry-ok").await;
        (q.notify_status == Some(NotifyStatus::Sent)).then_some(q)
    })
    .await;
    assert!(q.notify_time.is_some());
    let got = shop.wait_for("retry-ok", 3).await;
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "every attempt sends the same body"
    );
    let log = api.callback_log("retry-ok").await;
    let attempts: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64(),
                e["outcome"].as_str(),
                e["response_status"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (Some(1), Some("failed"), Some(500)),
            (Some(2), Some("failed"), Some(500)),
            (Some(3), Some("delivered"), Some(200))
        ]
    );
}

#[tokio::test]
async fn callbacks_that_never_get_through_end_with_notify_status_3() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::AlwaysFail).await;
    api.create("retry-fail", 500, &shop.url()).await;
    api.control_ok("/_sim/orders/retry-fail/decline", serde_json::json!({}))
        .await;

    let q = crate::support::until("notify_status 3", || async {
        let q = api.query("retry-fail").await;
        (q.notify_status == Some(NotifyStatus::Failed)).then_some(q)
    })
    .await;
    assert!(q.notify_time.is_some());
    let log = api.callback_log("retry-fail").await;
    assert_eq!(
        log.len(),
        3,
        "one try and the two scheduled retries: {log:?}"
    );
    assert!(log.iter().all(|e| e["outcome"] == "failed"));
    assert_eq!(shop.for_order("retry-fail").len(), 3);
}

#[tokio::test]
async fn a_slow_shop_times_out_and_counts_as_a_failure() {
    let config = SimConfig {
        callback_timeout: Duration::from_millis(100),
        callback_retries: Vec::new(),
        ..SimConfig::for_tests()
    };
    let (_sim, api) = start(config).await;
    let shop = Listener::start(Respond::Slow(Duration::from_millis(600))).await;
    api.create("slow-shop", 500, &shop.url()).await;
    api.control_ok("/_sim/orders/slow-shop/pay", serde_json::json!({}))
        .await;
    api.wait_status("slow-shop", OrderStatus::Paid).await;
    crate::support::until("notify_status 3", || async {
        (api.query("slow-shop").await.notify_status == Some(NotifyStatus::Failed)).then_some(())
    })
    .await;
    let log = api.callback_log("slow-shop").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["error"], "timeout", "{log:?}");
}

#[tokio::test]
async fn callbacks_can_be_rendered_trimmed() {
    let (_sim, api) = start(SimConfig {
        callback_amounts: AmountRendering::Trimmed,
        ..SimConfig::for_tests()
    })
    .await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("trim-1", 500, &shop.url()).await;
    api.control_ok("/_sim/orders/trim-1/pay", serde_json::json!({}))
        .await;
    let got = shop.wait_for("trim-1", 1).await;
    assert!(
        got[0].body.contains(r#""order_amount":5,"#) && got[0].body.contains(r#""fee":0.45"#),
        "{}",
        got[0].body
    );
    assert_eq!(
        got[0].verified.as_ref().map(|v| v.matched).ok(),
        Some(SignOptions::amounts(AmountRendering::Trimmed))
    );
}

#[tokio::test]
async fn platform_order_numbers_follow_the_seed() {
    let numbers = |seed: u64| async move {
        let (sim, api) = start(SimConfig {
            seed,
            ..SimConfig::for_tests()
        })
        .await;
        let mut out = Vec::new();
        for i in 0..3 {
            out.push(
                api.create(&format!("seed-{i}"), 500, "http://127.0.0.1:9/cb")
                    .await
                    .platform_order_no
                    .expect("platform_order_no"),
            );
        }
        api.control_ok("/_sim/reset", serde_json::json!({})).await;
        let after_reset = api
            .create("seed-0", 500, "http://127.0.0.1:9/cb")
            .await
            .platform_order_no
            .expect("platform_order_no");
        sim.shutdown().await.expect("shutdown");
        (out, after_reset)
    };
    let (a, a_reset) = numbers(7).await;
    let (b, _) = numbers(7).await;
    let (c, _) = numbers(8).await;
    assert_eq!(a, b, "same seed, same numbers");
    assert_ne!(a, c, "another seed, other numbers");
    assert_eq!(a_reset, a[0], "a reset reseeds");
}
