//! Payment attempts at the edge: a declined shopper tries again in place
//! (`POST /v1/orders/{order_no}/attempts`), each attempt its own TrustPay order
//! `<order_no>__<n>`, the merchant order reported as its attempts make it. Stage `edge-e2e`.

use std::time::Duration;

use serde_json::{Value, json};
use tests::forge::now_secs;
use tests::http::Answer;

use crate::support::{INTENT_KEY, ORIGIN, POLL, Stack, TOKEN, cases, offline_intent, refund_auth};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-e2e`"]
async fn payment_attempts() {
    let env = Stack::start(|vars| vars.set("MAX_ATTEMPTS", "3")).await;
    let ran = cases!(&env =>
        decline_then_retry_then_paid,
        retry_refused_while_running_or_unknown,
        attempt_limit,
        concurrent_retries_create_one_attempt,
        late_payment_of_an_earlier_attempt,
        two_paid_attempts_pay_once,
        reserved_order_numbers_refused,
    );
    eprintln!("{ran} attempt cases passed");
}

/// `POST /v1/orders/{order_no}/attempts` from [`ORIGIN`] with the client secret.
async fn retry(env: &Stack, order_no: &str, secret: &str) -> Answer {
    env.edge_post(
        &format!("/v1/orders/{order_no}/attempts"),
        &[("X-Client-Secret", secret), ("Origin", ORIGIN)],
        &json!({}),
    )
    .await
}

/// Waits until the shopper's status view of the merchant order has `state`; that view.
async fn wait_status(env: &Stack, order_no: &str, secret: &str, state: &str) -> Value {
    let reached = tests::wait::eventually(Duration::from_secs(10), POLL, || async {
        let answer = env.status(order_no, secret).await;
        (answer.body["state"] == state).then_some(answer.body)
    })
    .await;
    reached.unwrap_or_else(|| {
        panic!("{order_no} never reached {state}");
    })
}

/// Declines the TrustPay order `trustpay_no` and waits for the merchant order to fail.
async fn decline(env: &Stack, order_no: &str, trustpay_no: &str, secret: &str) {
    env.sim_post(&format!("/_sim/orders/{trustpay_no}/decline"), json!({}))
        .await;
    wait_status(env, order_no, secret, "failed").await;
}

/// A new attempt; asserts 201 with attempt `n` of `order_no`.
async fn new_attempt(env: &Stack, order_no: &str, secret: &str, n: u64) -> Value {
    let answer = retry(env, order_no, secret).await;
    assert_eq!(answer.status, 201, "attempt {n}: {}", answer.text);
    assert_eq!(
        (
            answer.body["order_no"].as_str(),
            answer.body["attempt"].as_u64(),
            answer.body["state"].as_str(),
            answer.body["amount"].as_str(),
        ),
        (Some(order_no), Some(n), Some("pending"), Some("12.00")),
        "{}",
        answer.text
    );
    assert!(
        answer.body["pay_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http")),
        "{}",
        answer.text
    );
    answer.body
}

async fn decline_then_retry_then_paid(env: &Stack) {
    let order = "att-retry";
    let intent = env.mint(order, "12.00").await;
    let created = env.create(&intent).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    decline(env, order, order, &secret).await;
    let second = new_attempt(env, order, &secret, 2).await;
    // The page reloaded (same intent): the merchant order, on its latest attempt's pay page.
    let reopened = env.create(&intent).await;
    assert_eq!(
        (
            reopened.status,
            reopened.body["order_no"].as_str(),
            reopened.body["state"].as_str(),
            reopened.body["pay_url"].as_str(),
        ),
        (
            200,
            Some(order),
            Some("pending"),
            second["pay_url"].as_str()
        ),
        "{}",
        reopened.text
    );
    // TrustPay holds the second attempt under the derived number, for the same amount.
    let sim = env.sim_get("/_sim/orders/att-retry__2").await;
    assert_eq!(sim.status, 200, "{}", sim.text);
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-retry__2")
            .await,
        1
    );
    // The merchant order is pending again (its latest attempt), under its own number.
    let pending = env.status(order, &secret).await;
    assert_eq!(
        (
            pending.body["order_no"].as_str(),
            pending.body["state"].as_str()
        ),
        (Some(order), Some("pending")),
        "{}",
        pending.text
    );
    env.sim_post("/_sim/orders/att-retry__2/pay", json!({}))
        .await;
    let paid = wait_status(env, order, &secret, "paid").await;
    assert_eq!(
        (paid["order_no"].as_str(), paid["paid_amount"].as_str()),
        (Some(order), Some("12.00")),
        "{paid}"
    );
    // Paid: no further attempt.
    let again = retry(env, order, &secret).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "attempt_not_allowed"),
        "{}",
        again.text
    );
    // The merchant sees the order paid, with both attempts and no duplicate.
    let admin = env.admin_order(order).await;
    assert_eq!(admin.body["state"], "paid", "{}", admin.text);
    let attempts = admin.body["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let states: Vec<(&str, &str)> = attempts
        .iter()
        .filter_map(|a| Some((a["order_no"].as_str()?, a["state"].as_str()?)))
        .collect();
    assert_eq!(
        states,
        [("att-retry", "failed"), ("att-retry__2", "paid")],
        "{}",
        admin.text
    );
    assert!(!admin.text.contains("duplicate_payment"), "{}", admin.text);
}

async fn retry_refused_while_running_or_unknown(env: &Stack) {
    let order = "att-running";
    let secret = env.new_order(order, "12.00").await;
    // Still pending (not abandoned): no new attempt.
    let running = retry(env, order, &secret).await;
    assert_eq!(
        (running.status, running.code()),
        (409, "attempt_not_allowed"),
        "{}",
        running.text
    );
    // A wrong secret and an unknown order answer the same.
    let wrong = retry(env, order, "cs_wrong").await;
    let unknown = retry(env, "att-nobody", &secret).await;
    assert_eq!((wrong.status, wrong.code()), (401, "client_secret_invalid"));
    assert_eq!((unknown.status, unknown.text), (wrong.status, wrong.text));
    // Nothing reached TrustPay.
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-running__2")
            .await,
        0
    );
}

async fn attempt_limit(env: &Stack) {
    let order = "att-limit";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    new_attempt(env, order, &secret, 2).await;
    decline(env, order, "att-limit__2", &secret).await;
    new_attempt(env, order, &secret, 3).await;
    decline(env, order, "att-limit__3", &secret).await;
    // MAX_ATTEMPTS = 3 on this stack.
    let limit = retry(env, order, &secret).await;
    assert_eq!(
        (limit.status, limit.code()),
        (409, "attempt_limit"),
        "{}",
        limit.text
    );
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-limit__4")
            .await,
        0
    );
}

async fn concurrent_retries_create_one_attempt(env: &Stack) {
    let order = "att-race";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    let (a, b) = tokio::join!(retry(env, order, &secret), retry(env, order, &secret));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{}\n{}", a.text, b.text);
    let loser = if a.status == 409 { &a } else { &b };
    assert_eq!(loser.code(), "attempt_not_allowed", "{}", loser.text);
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-race__2")
            .await,
        1
    );
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-race__3")
            .await,
        0
    );
}

async fn late_payment_of_an_earlier_attempt(env: &Stack) {
    let order = "att-late";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    new_attempt(env, order, &secret, 2).await;
    decline(env, order, "att-late__2", &secret).await;
    // Attempt 1's money arrives after all.
    env.sim_post("/_sim/orders/att-late/pay", json!({"force": true}))
        .await;
    let paid = wait_status(env, order, &secret, "paid").await;
    assert_eq!(paid["order_no"], order, "{paid}");
    let admin = env.admin_order(order).await;
    assert_eq!(admin.body["state"], "paid", "{}", admin.text);
    assert!(!admin.text.contains("duplicate_payment"), "{}", admin.text);
}

async fn two_paid_attempts_pay_once(env: &Stack) {
    let order = "att-twice";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    new_attempt(env, order, &secret, 2).await;
    // Two windows: attempt 2 paid, and attempt 1 (declined) paid late as well.
    env.sim_post("/_sim/orders/att-twice__2/pay", json!({}))
        .await;
    wait_status(env, order, &secret, "paid").await;
    env.sim_post("/_sim/orders/att-twice/pay", json!({"force": true}))
        .await;
    let flagged = tests::wait::eventually(Duration::from_secs(10), POLL, || async {
        let admin = env.admin_order(order).await;
        admin.body["state_detail"]
            .as_array()
            .is_some_and(|flags| flags.iter().any(|f| f == "duplicate_payment"))
            .then_some(admin)
    })
    .await
    .unwrap_or_else(|| panic!("no duplicate_payment: {}", "att-twice"));
    // Paid once: the lowest paid attempt decides; the order is paid, not twice.
    assert_eq!(flagged.body["state"], "paid", "{}", flagged.text);
    assert_eq!(flagged.body["paid_amount"], "12.00", "{}", flagged.text);
    let status = env.status(order, &secret).await;
    assert_eq!(
        (
            status.body["order_no"].as_str(),
            status.body["state"].as_str()
        ),
        (Some(order), Some("paid")),
        "{}",
        status.text
    );
    let again = retry(env, order, &secret).await;
    assert_eq!((again.status, again.code()), (409, "attempt_not_allowed"));
}

async fn reserved_order_numbers_refused(env: &Stack) {
    let bearer = format!("Bearer {TOKEN}");
    let minted = env
        .edge_post(
            "/v1/intents",
            &[("Authorization", &bearer)],
            &json!({"order_no": "att-shop__2", "amount": "12.00", "currency": "USD"}),
        )
        .await;
    assert_eq!(
        (minted.status, minted.code()),
        (400, "order_no_invalid"),
        "{}",
        minted.text
    );
    // An intent signed elsewhere with a reserved number is refused at creation.
    let intent = offline_intent("att-shop__3", "12.00", now_secs() + 600, INTENT_KEY);
    let created = env.create(&intent).await;
    assert_eq!(
        (created.status, created.code()),
        (400, "order_no_invalid"),
        "{}",
        created.text
    );
    assert_eq!(
        env.sim_requests("/v4/payin/create/order", "att-shop__3")
            .await,
        0
    );
    // Endings that are not the derived shape stay allowed.
    env.create_order("att-shop__02", "12.00").await;
}

/// The notification signing key of [`attempt_notifications`].
const HOOK_SECRET: &str = "whsec_YXR0ZW1wdHMtaG9vay1zZWNyZXQtZm9yLXRlc3RzLTMyYg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-merchant`"]
async fn attempt_notifications() {
    let env = Stack::start_with_merchant_hooks(|vars| {
        vars.set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
            .set("AUTO_REFUND_DUPLICATES", "on")
            // A pending attempt counts as abandoned at once: two windows can pay two attempts.
            .set("ATTEMPT_ABANDON_SECONDS", "0")
    })
    .await;
    let ran = cases!(&env =>
        // First: it holds every callback, so nothing of another case may be in flight.
        simultaneous_payments_are_a_duplicate,
        retried_order_notifies_paid_once,
        second_payment_notifies_duplicate,
        every_refund_of_the_deciding_attempt_notifies,
    );
    eprintln!("{ran} attempt notification cases passed");
}

/// The `(type, data)` of every notification about the merchant order `order_no`, once `done`
/// holds for their types (and 2 s more, for anything sent twice).
async fn notifications(
    env: &Stack,
    order_no: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<(String, Value)> {
    wait_notified(env, order_no, |seen| {
        let kinds: Vec<String> = seen.iter().map(|(kind, _)| kind.clone()).collect();
        done(&kinds)
    })
    .await;
    // Anything sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    notified(env, order_no)
}

/// The `(type, data)` of every notification about the merchant order `order_no` so far.
fn notified(env: &Stack, order_no: &str) -> Vec<(String, Value)> {
    env.receiver()
        .deliveries()
        .into_iter()
        .filter(|d| d.answered < 300)
        .filter_map(|d| serde_json::from_slice::<Value>(&d.body).ok())
        .filter(|body| body["data"]["order_no"] == order_no)
        .map(|body| {
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["data"].clone(),
            )
        })
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

async fn retried_order_notifies_paid_once(env: &Stack) {
    let order = "atth-retry";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    new_attempt(env, order, &secret, 2).await;
    env.sim_post("/_sim/orders/atth-retry__2/pay", json!({}))
        .await;
    wait_status(env, order, &secret, "paid").await;
    let seen = notifications(env, order, |kinds| count(kinds, "order.paid") >= 1).await;
    let kinds: Vec<String> = seen.iter().map(|(kind, _)| kind.clone()).collect();
    assert_eq!(kinds, ["order.failed", "order.paid"], "{seen:?}");
    let paid = &seen[1].1;
    assert_eq!(
        (
            paid["order_no"].as_str(),
            paid["state"].as_str(),
            paid["attempt"].as_u64(),
            paid["duplicate_payment"].as_bool()
        ),
        (Some(order), Some("paid"), Some(2), Some(false)),
        "{paid}"
    );
}

async fn second_payment_notifies_duplicate(env: &Stack) {
    let order = "atth-twice";
    let secret = env.new_order(order, "12.00").await;
    // Window 1 left attempt 1 open (abandoned); window 2 starts attempt 2 and pays it.
    new_attempt(env, order, &secret, 2).await;
    env.sim_post("/_sim/orders/atth-twice__2/pay", json!({}))
        .await;
    wait_status(env, order, &secret, "paid").await;
    // Then window 1 pays attempt 1 as well.
    env.sim_post("/_sim/orders/atth-twice/pay", json!({})).await;
    let seen = notifications(env, order, |kinds| {
        count(kinds, "order.duplicate_payment") >= 1
    })
    .await;
    let kinds: Vec<String> = seen.iter().map(|(kind, _)| kind.clone()).collect();
    assert_eq!(kinds, ["order.paid", "order.duplicate_payment"], "{seen:?}");
    let duplicate = &seen[1].1;
    assert_eq!(
        (
            duplicate["state"].as_str(),
            duplicate["attempt"].as_u64(),
            duplicate["duplicate_payment"].as_bool()
        ),
        (Some("paid"), Some(1), Some(true)),
        "{duplicate}"
    );
    // AUTO_REFUND_DUPLICATES: the extra attempt (not the one that decides) is refunded in
    // full, once; attempt 1 is not.
    assert_eq!(
        env.sim_requests("/v4/order/refund", "atth-twice__2").await,
        1
    );
    assert_eq!(env.sim_requests("/v4/order/refund", "atth-twice").await, 0);
    let extra = env.admin_order("atth-twice__2").await;
    let refunds = extra.body["refunds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            refunds.len(),
            refunds.first().map(|r| r["amount_minor"].clone())
        ),
        (1, Some(json!(1200))),
        "{}",
        extra.text
    );
    // The merchant order stays paid (by attempt 1) and flagged.
    let admin = env.admin_order(order).await;
    assert_eq!(admin.body["state"], "paid", "{}", admin.text);
    assert!(admin.text.contains("duplicate_payment"), "{}", admin.text);
}

/// Two windows pay both attempts of a merchant order at the same instant: their callbacks
/// reach the edge together (the simulator holds them, then sends them all at once), each
/// reading the attempts before the other has written. Still one order paid by attempt 1,
/// flagged, one `order.duplicate_payment`, the extra attempt refunded once. Several orders at
/// once, so the race happens whatever the timing of one pair; the Worker's log shows it did
/// (a lost conditional update, `update_race_lost`).
async fn simultaneous_payments_are_a_duplicate(env: &Stack) {
    let orders: Vec<String> = (1..=6).map(|i| format!("atth-race-{i}")).collect();
    for order in &orders {
        let secret = env.new_order(order, "12.00").await;
        new_attempt(env, order, &secret, 2).await;
    }
    env.sim_post("/_sim/callbacks/hold", json!({})).await;
    for order in &orders {
        for trustpay_no in [order.clone(), format!("{order}__2")] {
            env.sim_post(&format!("/_sim/orders/{trustpay_no}/pay"), json!({}))
                .await;
        }
    }
    let released = env
        .sim_post("/_sim/callbacks/release", json!({"together": true}))
        .await;
    assert!(
        released.body["released"].as_u64() >= Some(2 * orders.len() as u64),
        "{}",
        released.text
    );
    for order in &orders {
        let seen = notifications(env, order, |kinds| {
            count(kinds, "order.duplicate_payment") >= 1
        })
        .await;
        // The queue may deliver the two in either order.
        let mut kinds: Vec<String> = seen.iter().map(|(kind, _)| kind.clone()).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            ["order.duplicate_payment", "order.paid"],
            "{order}: {seen:?}"
        );
        let Some((_, duplicate)) = seen
            .iter()
            .find(|(kind, _)| kind == "order.duplicate_payment")
        else {
            unreachable!("checked above");
        };
        assert_eq!(
            (
                duplicate["state"].as_str(),
                duplicate["attempt"].as_u64(),
                duplicate["duplicate_payment"].as_bool(),
                duplicate["paid_amount"].as_str()
            ),
            (Some("paid"), Some(1), Some(true), Some("12.00")),
            "{order}: {duplicate}"
        );
        assert_eq!(
            env.sim_requests("/v4/order/refund", &format!("{order}__2"))
                .await,
            1,
            "{order}: the extra attempt refunded once"
        );
        assert_eq!(env.sim_requests("/v4/order/refund", order).await, 0);
        let admin = env.admin_order(order).await;
        assert_eq!(admin.body["state"], "paid", "{}", admin.text);
        assert!(admin.text.contains("duplicate_payment"), "{}", admin.text);
    }
    let raced = env
        .worker_log()
        .lines()
        .filter(|line| line.contains("update_race_lost") && line.contains("atth-race-"))
        .count();
    assert!(
        raced >= 1,
        "no two callbacks of one order overlapped: the race was not tested"
    );
}

/// A merchant order paid by its second attempt, refunded in two parts, the second part's
/// `refunding` callback lost: the order goes from partially refunded (4.00) to partially
/// refunded (7.00), and the merchant is told, as for an order with one attempt.
async fn every_refund_of_the_deciding_attempt_notifies(env: &Stack) {
    let order = "atth-refunds";
    let attempt = "atth-refunds__2";
    let secret = env.new_order(order, "12.00").await;
    decline(env, order, order, &secret).await;
    new_attempt(env, order, &secret, 2).await;
    env.sim_post(&format!("/_sim/orders/{attempt}/pay"), json!({}))
        .await;
    wait_status(env, order, &secret, "paid").await;
    let refund = |amount: &'static str| async move {
        let answer = env
            .edge_post(
                "/v1/admin/refunds",
                &[
                    ("Authorization", &refund_auth()),
                    ("Idempotency-Key", &format!("{attempt}-{amount}")),
                ],
                &json!({"order_no": attempt, "refund_amount": amount, "reason": "two parts"}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    };
    refund("4.00").await;
    let refunded = |amount: &'static str| {
        move |seen: &[(String, Value)]| {
            seen.iter().any(|(kind, data)| {
                kind == "order.partially_refunded" && data["refund_amount"] == amount
            })
        }
    };
    let first = refunded("4.00");
    wait_notified(env, order, first).await;
    // The second part: only its completion arrives.
    env.sim_post("/_sim/callbacks/hold", json!({"order_no": attempt}))
        .await;
    refund("3.00").await;
    let sim_done = tests::wait::eventually(Duration::from_secs(10), POLL, || async {
        (env.sim_get(&format!("/_sim/orders/{attempt}")).await.body["status"] == 8).then_some(())
    })
    .await;
    assert!(
        sim_done.is_some(),
        "the simulator never finished the refund"
    );
    let released = env
        .sim_post(
            "/_sim/callbacks/release",
            json!({"order_no": attempt, "order": [1]}),
        )
        .await;
    assert_eq!(released.body["released"], 1, "{}", released.text);
    let second = refunded("7.00");
    let seen = wait_notified(env, order, second).await;
    let (kind, last) = seen.last().cloned().unwrap_or_default();
    assert_eq!(
        (
            kind.as_str(),
            last["state"].as_str(),
            last["attempt"].as_u64(),
            last["refund_amount"].as_str()
        ),
        (
            "order.partially_refunded",
            Some("partially_refunded"),
            Some(2),
            Some("7.00")
        ),
        "{seen:?}"
    );
}

/// Waits (30 s at most) until the notifications about `order_no` satisfy `done`; them.
async fn wait_notified(
    env: &Stack,
    order_no: &str,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let reached = tests::wait::eventually(Duration::from_secs(30), POLL, || async {
        let seen = notified(env, order_no);
        done(&seen).then_some(seen)
    })
    .await;
    reached.unwrap_or_else(|| panic!("{order_no}: {:?}", notified(env, order_no)))
}
