//! Fault injection and the control API: request faults, callback faults, holds, automatic
//! outcomes, direct actions, reset.

use std::time::{Duration, Instant};

use crate::support::{Listener, Respond, amount, start_default};
use checkout_core::codes::{ErrorCode, NotifyStatus, OrderStatus};
use checkout_core::money::{AmountRendering, Currency};
use checkout_core::wire::{
    BalanceRequest, OrderQueryRequest, RefundRequest, TrustPayRequest, paths,
};
use serde_json::json;

#[tokio::test]
async fn request_faults_code_http_garbage_and_delay() {
    let (_sim, api) = start_default().await;
    api.create("f-1", 500, "http://127.0.0.1:9/cb").await;

    // Two queries get 880007; balance is not affected (the fault is scoped to a path).
    api.control_ok(
        "/_sim/faults/requests",
        json!({"kind": "code", "code": 880007, "count": 2, "path": paths::ORDER_QUERY}),
    )
    .await;
    assert_eq!(
        api.send(&BalanceRequest {
            currency_id: Currency::Usd
        })
        .await
        .code,
        ErrorCode::Success
    );
    for _ in 0..2 {
        let env = api
            .send(&OrderQueryRequest {
                order_no: "f-1".into(),
            })
            .await;
        assert_eq!(env.code, ErrorCode::SystemInternalError);
        assert!(env.data.is_none());
    }
    assert_eq!(
        api.send(&OrderQueryRequest {
            order_no: "f-1".into()
        })
        .await
        .code,
        ErrorCode::Success,
        "used up"
    );

    // HTTP 503 with a non-JSON body.
    api.control_ok(
        "/_sim/faults/requests",
        json!({"kind": "http", "status": 503}),
    )
    .await;
    let body = OrderQueryRequest {
        order_no: "f-1".into(),
    }
    .fields(AmountRendering::TwoDecimals)
    .signed_body(&api.secret);
    let (status, text) = api.post_body(paths::ORDER_QUERY, body.clone()).await;
    assert_eq!(status, 503);
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );

    // Garbage: HTTP 200, JSON content type, unparseable body.
    api.control_ok("/_sim/faults/requests", json!({"kind": "garbage"}))
        .await;
    let resp = api
        .http
        .post(format!("{}{}", api.base, paths::ORDER_QUERY))
        .header("X-Api-Key", &api.api_key)
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let text = resp.text().await.expect("body");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );

    // Delay: the answer is normal, just late.
    api.control_ok("/_sim/faults/requests", json!({"kind": "delay", "ms": 300}))
        .await;
    let started = Instant::now();
    let (_, text) = api.post_body(paths::ORDER_QUERY, body).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(text.contains("\"code\":880001"), "{text}");

    let log = api.requests(paths::ORDER_QUERY).await;
    let faults: Vec<_> = log
        .iter()
        .filter_map(|e| e["fault"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        faults,
        [
            "code 880007",
            "code 880007",
            "http 503",
            "garbage",
            "delay 300ms"
        ]
    );
    let pending = api.get_json("/_sim/faults").await;
    assert_eq!(pending["requests"], json!([]), "every fault used up");

    // Invalid specifications are refused.
    assert_eq!(
        api.control(
            "/_sim/faults/requests",
            json!({"kind": "http", "status": 200})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.control(
            "/_sim/faults/requests",
            json!({"kind": "code", "code": 880007, "count": 0})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.control("/_sim/faults/requests", json!({"kind": "boom"}))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn a_duplicated_callback_arrives_twice() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("dup-cb", 500, &shop.url()).await;
    api.control_ok(
        "/_sim/faults/callbacks",
        json!({"kind": "duplicate", "order_no": "dup-cb"}),
    )
    .await;
    api.control_ok("/_sim/orders/dup-cb/pay", json!({})).await;
    let got = shop.wait_for("dup-cb", 2).await;
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(got[1].callback().status, OrderStatus::Paid);
    let log = api.callback_log("dup-cb").await;
    let copies: Vec<_> = log.iter().map(|e| e["copy"].as_u64()).collect();
    assert_eq!(copies, [Some(1), Some(2)]);
}

#[tokio::test]
async fn a_dropped_callback_never_arrives() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("drop-cb", 500, &shop.url()).await;
    api.control_ok("/_sim/faults/callbacks", json!({"kind": "drop"}))
        .await;
    api.control_ok("/_sim/orders/drop-cb/decline", json!({}))
        .await;
    let log = crate::support::until("the drop to be logged", || async {
        let log = api.callback_log("drop-cb").await;
        (!log.is_empty()).then_some(log)
    })
    .await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "dropped");
    assert_eq!(
        api.query("drop-cb").await.notify_status,
        Some(NotifyStatus::Failed)
    );
    assert!(
        shop.received().is_empty(),
        "a dropped callback is never sent"
    );
}

#[tokio::test]
async fn a_delayed_callback_arrives_late() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("late-cb", 500, &shop.url()).await;
    api.control_ok(
        "/_sim/faults/callbacks",
        json!({"kind": "delay", "ms": 250}),
    )
    .await;
    let started = Instant::now();
    api.control_ok("/_sim/orders/late-cb/pay", json!({})).await;
    shop.wait_for("late-cb", 1).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn held_callbacks_are_released_in_reverse_order() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("reorder", 800, &shop.url()).await;
    api.control_ok("/_sim/callbacks/hold", json!({"order_no": "reorder"}))
        .await;
    api.control_ok("/_sim/orders/reorder/pay", json!({})).await;
    let refund = RefundRequest {
        order_no: "reorder".into(),
        merchant_refund_no: "RR-1".into(),
        refund_amount: amount(800),
        reason: String::new(),
    };
    assert_eq!(api.send(&refund).await.code, ErrorCode::Success);
    let query = api.wait_status("reorder", OrderStatus::Refunded).await;
    assert_eq!(
        query.notify_status,
        Some(NotifyStatus::Pending),
        "held callbacks are not delivered yet"
    );
    crate::support::until("three held callbacks", || async {
        (api.callback_log("reorder").await.len() == 3).then_some(())
    })
    .await;
    assert!(shop.received().is_empty());

    let released = api
        .control_ok(
            "/_sim/callbacks/release",
            json!({"order_no": "reorder", "reverse": true}),
        )
        .await;
    assert_eq!(released["released"], 3);
    let got = shop.wait_for("reorder", 3).await;
    let statuses: Vec<_> = got.iter().map(|r| r.callback().status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Refunded,
            OrderStatus::Refunding,
            OrderStatus::Paid
        ],
        "newest first"
    );
    crate::support::until("notify_status 2", || async {
        (api.query("reorder").await.notify_status == Some(NotifyStatus::Sent)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn automatic_outcomes_for_all_new_orders_and_for_one_order() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;

    api.control_ok("/_sim/auto", json!({"outcome": "pay", "after_ms": 0}))
        .await;
    api.create("auto-pay", 500, &shop.url()).await;
    assert_eq!(
        shop.wait_for("auto-pay", 1).await[0].callback().status,
        OrderStatus::Paid
    );

    api.control_ok("/_sim/auto", json!({"outcome": "timeout", "after_ms": 20}))
        .await;
    api.create("auto-timeout", 500, &shop.url()).await;
    assert_eq!(
        shop.wait_for("auto-timeout", 1).await[0].callback().status,
        OrderStatus::TimedOut
    );
    api.control_ok("/_sim/auto", json!({"outcome": "off"}))
        .await;

    // Set before the order exists (the edge picks the order number), applied on creation.
    api.control_ok(
        "/_sim/orders/auto-decline/auto",
        json!({"outcome": "decline", "after_ms": 10}),
    )
    .await;
    api.create("auto-decline", 500, &shop.url()).await;
    assert_eq!(
        shop.wait_for("auto-decline", 1).await[0].callback().status,
        OrderStatus::Failed
    );

    // Set on an existing pending order.
    api.create("auto-later", 500, &shop.url()).await;
    assert_eq!(
        api.query("auto-later").await.status,
        Some(OrderStatus::Pending),
        "auto is off again"
    );
    api.control_ok(
        "/_sim/orders/auto-later/auto",
        json!({"outcome": "pay", "after_ms": 10}),
    )
    .await;
    api.wait_status("auto-later", OrderStatus::Paid).await;
}

#[tokio::test]
async fn direct_actions_and_their_errors() {
    let (_sim, api) = start_default().await;
    let shop = Listener::start(Respond::Ok).await;
    api.create("act-1", 500, &shop.url()).await;
    let order = api
        .control_ok("/_sim/orders/act-1/timeout", json!({}))
        .await;
    assert_eq!(order["status"], 4);
    let (status, answer) = api.control("/_sim/orders/act-1/pay", json!({})).await;
    assert_eq!(status, 409, "not pending: {answer}");
    // A late payment, on purpose.
    let order = api
        .control_ok("/_sim/orders/act-1/pay", json!({"force": true}))
        .await;
    assert_eq!(order["status"], 5);
    let got = shop.wait_for("act-1", 2).await;
    assert_eq!(
        got.iter().map(|r| r.callback().status).collect::<Vec<_>>(),
        [OrderStatus::TimedOut, OrderStatus::Paid]
    );
    assert_eq!(
        api.control_ok("/_sim/orders/act-1/settle", json!({})).await["status"],
        6
    );

    assert_eq!(api.control("/_sim/orders/nope/pay", json!({})).await.0, 404);
    assert_eq!(
        api.control("/_sim/orders/act-1/explode", json!({})).await.0,
        400
    );
    let orders = api.get_json("/_sim/orders").await;
    assert_eq!(orders.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn reset_forgets_everything() {
    let (_sim, api) = start_default().await;
    api.create("gone", 500, "http://127.0.0.1:9/cb").await;
    api.control_ok(
        "/_sim/faults/requests",
        json!({"kind": "garbage", "path": "/v4/fee-overview"}),
    )
    .await;
    api.control_ok("/_sim/auto", json!({"outcome": "pay"}))
        .await;
    api.control_ok("/_sim/reset", json!({})).await;

    let env = api
        .send(&OrderQueryRequest {
            order_no: "gone".into(),
        })
        .await;
    assert_eq!(env.code, ErrorCode::BadRequest, "{}", env.message);
    let faults = api.get_json("/_sim/faults").await;
    assert_eq!(
        (faults["requests"].clone(), faults["auto"].clone()),
        (json!([]), json!(null))
    );
    assert_eq!(api.requests(paths::CASHIER_PAYIN).await.len(), 0);
    api.create("gone", 500, "http://127.0.0.1:9/cb").await;
    assert_eq!(
        api.query("gone").await.status,
        Some(OrderStatus::Pending),
        "no automatic outcome after reset"
    );
}
