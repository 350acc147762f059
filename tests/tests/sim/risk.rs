//! The simulator's risk-control call (`--risk-control-url`): before a payment succeeds it asks
//! the merchant's hook, and declines the order (status 3) on anything but 200 `allow`.

use std::sync::{Arc, Mutex};

use crate::support::{Listener, Respond, start};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use checkout_core::codes::OrderStatus;
use serde_json::{Value, json};
use tests::sim::SimConfig;
use tests::sim::risk::{RiskControl, TestCard};

/// A risk hook on 127.0.0.1:0: records bodies; allows only the holder "Good Shopper".
async fn hook() -> (String, Arc<Mutex<Vec<Value>>>) {
    async fn decide(
        State(seen): State<Arc<Mutex<Vec<Value>>>>,
        body: String,
    ) -> (StatusCode, &'static str) {
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let allow = value["cardHolderName"] == "Good Shopper";
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(value);
        if allow {
            (StatusCode::OK, "allow")
        } else {
            (StatusCode::FORBIDDEN, "deny")
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/risk", post(decide))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/risk"), seen)
}

fn card(holder: &str) -> TestCard {
    TestCard {
        holder: holder.into(),
        ..TestCard::default()
    }
}

fn config(url: String, holder: &str) -> SimConfig {
    SimConfig {
        risk_control: Some(RiskControl {
            url,
            card: card(holder),
        }),
        ..SimConfig::for_tests()
    }
}

#[tokio::test]
async fn cashier_pay_asks_the_hook_and_pays_when_allowed() {
    let (url, seen) = hook().await;
    let (sim, api) = start(config(url, "Good Shopper")).await;
    let listener = Listener::start(Respond::Ok).await;
    let created = api.create("R-1", 500, &listener.url()).await;
    let platform = created
        .platform_order_no
        .clone()
        .expect("platform_order_no");
    let page = format!("{}/pay/{platform}", sim.base_url());
    let answer = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(&page)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .expect("cashier");
    assert_eq!(answer.status().as_u16(), 303);
    api.wait_status("R-1", OrderStatus::Paid).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            json!({"orderId": platform, "cardPrefix": "424242", "cardSuffix": "4242", "cardHolderName": "Good Shopper"})
        ]
    );
}

#[tokio::test]
async fn automatic_pay_is_declined_when_the_hook_denies() {
    let (url, seen) = hook().await;
    let (_sim, api) = start(config(url, "Test Shopper")).await;
    let listener = Listener::start(Respond::Ok).await;
    api.create("R-2", 500, &listener.url()).await;
    api.control_ok(
        "/_sim/orders/R-2/auto",
        json!({"outcome": "pay", "after_ms": 0}),
    )
    .await;
    api.wait_status("R-2", OrderStatus::Failed).await;
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_direct_pay_may_name_its_card_and_an_unreachable_hook_declines() {
    let (url, seen) = hook().await;
    let (_sim, api) = start(config(url, "Test Shopper")).await;
    let listener = Listener::start(Respond::Ok).await;
    api.create("R-3", 500, &listener.url()).await;
    let paid = api
        .control_ok(
            "/_sim/orders/R-3/pay",
            json!({"card": {"prefix": "550012", "suffix": "0004", "holder": "Good Shopper"}}),
        )
        .await;
    assert_eq!(paid["status"], 5, "{paid}");
    assert_eq!(seen.lock().expect("lock")[0]["cardPrefix"], "550012");

    // Nobody listens on port 9: no answer is a refusal.
    let (_sim, api) = start(config("http://127.0.0.1:9/risk".into(), "Good Shopper")).await;
    api.create("R-4", 500, &listener.url()).await;
    let declined = api.control_ok("/_sim/orders/R-4/pay", json!({})).await;
    assert_eq!(declined["status"], 3, "{declined}");

    // Without a risk-control URL nothing is asked.
    let before = seen.lock().expect("lock").len();
    let (_sim, api) = start(SimConfig::for_tests()).await;
    api.create("R-5", 500, &listener.url()).await;
    let paid = api.control_ok("/_sim/orders/R-5/pay", json!({})).await;
    assert_eq!(
        paid["status"], 5,
        "without --risk-control-url nothing is asked"
    );
    assert_eq!(seen.lock().expect("lock").len(), before);
}
