//! D1 sharding (`D1_SHARDS = 4`): orders really spread over the shards, each on the shard its
//! merchant order number hashes to (the first 8 bytes of SHA-256, big-endian, modulo the shard
//! count, as `edge/src/store.rs` documents), and every path across orders sees all of them:
//! the risk hook's lookup by TrustPay's order number, the reconciliation scan, the admin
//! notification list and replay by id, and the refund-number check. Each case fails if that
//! path read shard 0 only. Then what must not change with shards: a refund number stays unique
//! across them (also under a race), and one cron run re-sends a backlog of lost notifications
//! held by one shard. Stage `edge-sharded`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use checkout_core::webhook;
use serde_json::json;
use tests::forge::now_secs;
use tests::wait::eventually;

use crate::support::{self, Answer, POLL, Stack, TOKEN, cases, refund_auth};

/// The shards of this suite's Worker.
const SHARDS: usize = 4;
/// Orders per shard the suite makes sure of.
const PER_SHARD: usize = 4;
/// `RECONCILE_MIN_AGE_SECONDS`.
const MIN_AGE: Duration = Duration::from_secs(1);
/// Stuck outbox rows the cron re-sends per run (`SWEEP_BATCH` of `edge/src/notify.rs`).
const SWEEP_BATCH: usize = 100;
/// `whsec_` + base64 of 32 bytes.
const HOOK_SECRET: &str = "whsec_c2hhcmRpbmctY2FuYXJ5LTAxMjM0NTY3ODlhYmNkZWY=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built Worker and wrangler: `cargo xtask test edge-build edge-sharded`"]
async fn edge_sharding() {
    let env = Stack::start_with_merchant_hooks(|vars| {
        vars.set("D1_SHARDS", SHARDS.to_string())
            .set("MERCHANT_WEBHOOK_SECRET", HOOK_SECRET)
            // Only the cron queries TrustPay here.
            .set("STATUS_REFRESH_SECONDS", "3600")
            .set("RECONCILE_MIN_AGE_SECONDS", MIN_AGE.as_secs().to_string())
            .set("RECONCILE_BATCH", "100")
    })
    .await;
    assert_eq!(env.edge.shards(), SHARDS);
    cases!(&env =>
        orders_live_on_their_shards,
        the_cron_and_the_risk_hook_see_every_shard,
        admin_notifications_see_every_shard,
        refund_numbers_are_checked_on_every_shard,
        a_claimed_refund_number_is_refused_to_other_orders,
        a_leftover_refund_number_claim_is_taken_over,
        one_refund_number_raced_on_every_shard_is_reserved_once,
        the_outbox_sweep_takes_a_full_batch_from_one_shard,
    );
}

/// The shard of `order_no` (a merchant order number) on this suite's Worker.
fn shard_of(order_no: &str) -> usize {
    support::shard_of(order_no, SHARDS)
}

/// The suite's order numbers by shard: `sh-1`, `sh-2`, ... until every shard has
/// [`PER_SHARD`] of them.
fn orders() -> BTreeMap<usize, Vec<String>> {
    let mut by_shard: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for n in 1.. {
        if by_shard.len() == SHARDS && by_shard.values().all(|v| v.len() >= PER_SHARD) {
            break;
        }
        let no = format!("sh-{n}");
        let shard = shard_of(&no);
        let list = by_shard.entry(shard).or_default();
        if list.len() < PER_SHARD {
            list.push(no);
        }
    }
    by_shard
}

fn all_orders() -> Vec<String> {
    orders().into_values().flatten().collect()
}

/// `order_no`s of the suite's orders on shard `shard`, read from its database alone.
fn stored_on(env: &Stack, shard: usize) -> BTreeSet<String> {
    env.edge
        .d1_query_shard(
            shard,
            "SELECT order_no FROM orders WHERE order_no LIKE 'sh-%'",
        )
        .unwrap_or_else(|e| panic!("shard {shard}: {e}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|row| row["order_no"].as_str().map(str::to_owned))
        .collect()
}

async fn orders_live_on_their_shards(env: &Stack) {
    for no in all_orders() {
        let created = env.create_order(&no, "7.00").await;
        assert_eq!(created.status, 201, "{no}: {}", created.text);
    }
    for (shard, expected) in orders() {
        let expected: BTreeSet<String> = expected.into_iter().collect();
        assert_eq!(stored_on(env, shard), expected, "shard {shard}");
        // Its events and client secret live there too.
        let events = env
            .edge
            .d1_query_shard(
                shard,
                "SELECT count(DISTINCT order_no) AS n FROM order_events WHERE order_no LIKE 'sh-%'",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events[0]["n"], json!(PER_SHARD), "events on shard {shard}");
        let secrets = env
            .edge
            .d1_query_shard(
                shard,
                "SELECT count(*) AS n FROM client_secrets WHERE order_no LIKE 'sh-%'",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            secrets[0]["n"],
            json!(PER_SHARD),
            "secrets on shard {shard}"
        );
    }
    // The harness's union reads every shard.
    let total = env
        .edge
        .d1_query("SELECT count(*) AS n FROM orders WHERE order_no LIKE 'sh-%'")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total[0]["n"], json!(SHARDS * PER_SHARD));
}

/// The simulator asks the risk hook (by TrustPay's order number, which names no shard) before
/// it pays; its callbacks are dropped, so only the cron's scan (across shards) can learn of
/// the payments.
async fn the_cron_and_the_risk_hook_see_every_shard(env: &Stack) {
    for no in all_orders() {
        env.sim_post(
            "/_sim/faults/callbacks",
            json!({"kind": "drop", "order_no": no, "count": 10}),
        )
        .await;
        let paid = env
            .sim_post(&format!("/_sim/orders/{no}/pay"), json!({}))
            .await;
        assert_eq!(paid.status, 200, "{no}: {}", paid.text);
    }
    tokio::time::sleep(MIN_AGE + Duration::from_millis(300)).await;
    let cron = env
        .send(reqwest::Method::GET, &env.edge.scheduled_url(), &[], None)
        .await;
    assert_eq!(cron.status, 200, "/__scheduled: {}", cron.text);
    for no in all_orders() {
        let admin = env.admin_order(&no).await;
        assert_eq!(admin.status, 200, "{no}: {}", admin.text);
        assert_eq!(
            admin.body["state"],
            "paid",
            "{no} (shard {})",
            shard_of(&no)
        );
        let sources: Vec<&str> = admin.body["events"]
            .as_array()
            .map(|events| events.iter().filter_map(|e| e["source"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            sources.contains(&"risk"),
            "{no}: no risk decision: {sources:?}"
        );
        assert!(
            sources.contains(&"reconcile"),
            "{no}: not reconciled: {sources:?}"
        );
    }
}

/// Every paid order's notification is listed, whichever shard holds it, and one on each shard
/// is replayed by its id alone.
async fn admin_notifications_see_every_shard(env: &Stack) {
    let expected: BTreeSet<String> = all_orders().into_iter().collect();
    let listed = eventually(Duration::from_secs(30), POLL, || async {
        let rows = env.admin_webhooks("delivered").await;
        let orders: BTreeSet<String> = rows
            .iter()
            .filter_map(|row| row["order_no"].as_str().map(str::to_owned))
            .filter(|no| expected.contains(no))
            .collect();
        (orders == expected).then_some(rows)
    })
    .await
    .unwrap_or_else(|| panic!("not every order's notification listed as delivered"));
    for (shard, orders) in orders() {
        let id = listed
            .iter()
            .find(|row| row["order_no"] == orders[0].as_str())
            .and_then(|row| row["id"].as_str())
            .unwrap_or_else(|| panic!("no notification of {}", orders[0]));
        let replayed = env
            .edge_post(
                &format!("/v1/admin/webhooks/{id}/replay"),
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                &json!({}),
            )
            .await;
        assert_eq!(replayed.status, 202, "shard {shard}: {}", replayed.text);
        assert_eq!(replayed.body["order_no"], orders[0].as_str());
    }
}

/// `POST /v1/admin/refunds`: 1.00 of `order_no` under the merchant refund number `number`.
async fn refund(env: &Stack, order_no: &str, number: &str) -> Answer {
    let body = json!({"order_no": order_no, "refund_amount": "1.00", "reason": "sharding", "merchant_refund_no": number});
    env.edge_post(
        "/v1/admin/refunds",
        &[("Authorization", &refund_auth())],
        &body,
    )
    .await
}

/// A refund number used for an order on one shard is refused for an order on another.
async fn refund_numbers_are_checked_on_every_shard(env: &Stack) {
    let by_shard = orders();
    let (first, second) = (&by_shard[&1][0], &by_shard[&2][0]);
    let made = refund(env, first, "R-shard-1").await;
    assert_eq!(made.status, 201, "{}", made.text);
    refund(env, second, "R-shard-1").await.expect(
        409,
        "refund_not_allowed",
        "a number used on another shard",
    );
}

/// A refund request that has claimed its number for its order but not yet reserved the
/// refund on the order's shard (staged: the claim alone, made just now, in `refund_numbers` on
/// the shard the number hashes to) holds the number: another order's refund under it is
/// refused before TrustPay is asked, while the holder's own goes ahead. The window a race
/// between two shards falls into, made to last.
async fn a_claimed_refund_number_is_refused_to_other_orders(env: &Stack) {
    let by_shard = orders();
    let (holder, other) = (&by_shard[&3][0], &by_shard[&0][0]);
    let number = "R-claimed-1";
    let sql = format!(
        "INSERT INTO refund_numbers (merchant_refund_no, order_no, created_at) VALUES ('{number}', '{holder}', {})",
        now_secs() * 1000
    );
    env.edge
        .d1_execute_on(shard_of(number), &sql)
        .unwrap_or_else(|e| panic!("staging the claim: {e}"));
    refund(env, other, number).await.expect(
        409,
        "refund_not_allowed",
        "a number claimed for another order",
    );
    assert_eq!(env.sim_requests("/v4/order/refund", other).await, 0);
    let made = refund(env, holder, number).await;
    assert_eq!(made.status, 201, "the holder's refund: {}", made.text);
}

/// Claims are never deleted, so a leftover one (its order has no refund under the number:
/// TrustPay refused it, the amount was too high, or the request died after claiming; staged:
/// a claim two minutes old and more) must not hold the number for ever: the next order that
/// asks takes it over and its refund goes to TrustPay. A claim as old whose order does have a
/// refund under the number keeps it (staged: a real refund, its claim aged).
async fn a_leftover_refund_number_claim_is_taken_over(env: &Stack) {
    let by_shard = orders();
    let claim_of = |number: &str| {
        env.edge
            .d1_query_shard(
                shard_of(number),
                &format!(
                    "SELECT order_no FROM refund_numbers WHERE merchant_refund_no = '{number}'"
                ),
            )
            .unwrap_or_else(|e| panic!("reading the claim: {e}"))[0]["order_no"]
            .clone()
    };

    let (gone, taker) = (&by_shard[&1][3], &by_shard[&2][3]);
    let number = "R-leftover-1";
    let stale = (now_secs() - 121) * 1000;
    env.edge
        .d1_execute_on(
            shard_of(number),
            &format!(
                "INSERT INTO refund_numbers (merchant_refund_no, order_no, created_at) VALUES ('{number}', '{gone}', {stale})"
            ),
        )
        .unwrap_or_else(|e| panic!("staging the claim: {e}"));
    let made = refund(env, taker, number).await;
    assert_eq!(made.status, 201, "a leftover claim: {}", made.text);
    assert_eq!(env.sim_requests("/v4/order/refund", taker).await, 1);
    assert_eq!(claim_of(number), taker.as_str());

    let (owner, other) = (&by_shard[&3][3], &by_shard[&0][3]);
    let number = "R-leftover-2";
    let made = refund(env, owner, number).await;
    assert_eq!(made.status, 201, "{}", made.text);
    env.edge
        .d1_execute_on(
            shard_of(number),
            &format!(
                "UPDATE refund_numbers SET created_at = {stale} WHERE merchant_refund_no = '{number}'"
            ),
        )
        .unwrap_or_else(|e| panic!("ageing the claim: {e}"));
    refund(env, other, number).await.expect(
        409,
        "refund_not_allowed",
        "an old claim whose order has its refund",
    );
    assert_eq!(env.sim_requests("/v4/order/refund", other).await, 0);
    assert_eq!(claim_of(number), owner.as_str());
}

/// An order on each shard refunded at once under one new refund number: one refund is made,
/// the others are refused as a reused number before TrustPay is asked, as one database's key
/// decides it. (With the number's key on each order's shard alone, the requests that raced
/// were all reserved and sent, and TrustPay refused all but the first.) Two rounds, orders not
/// refunded before.
async fn one_refund_number_raced_on_every_shard_is_reserved_once(env: &Stack) {
    let by_shard = orders();
    for round in [1_usize, 2] {
        let racers: Vec<&str> = (0..SHARDS).map(|s| by_shard[&s][round].as_str()).collect();
        let number = format!("R-race-{round}");
        let (a, b, c, d) = tokio::join!(
            refund(env, racers[0], &number),
            refund(env, racers[1], &number),
            refund(env, racers[2], &number),
            refund(env, racers[3], &number),
        );
        let answers = [a, b, c, d];
        let made = answers.iter().filter(|a| a.status == 201).count();
        let refused = answers
            .iter()
            .filter(|a| a.status == 409 && a.code() == "refund_not_allowed")
            .count();
        assert_eq!(
            (made, refused),
            (1, SHARDS - 1),
            "{number} for {racers:?}: {:?}",
            answers.iter().map(|a| &a.text).collect::<Vec<_>>()
        );
        let mut asked = 0;
        for no in &racers {
            asked += env.sim_requests("/v4/order/refund", no).await;
        }
        assert_eq!(asked, 1, "{number}: TrustPay asked {asked} times");
    }
}

/// Notifications whose queue messages were lost (staged: paid orders and their pending outbox
/// rows, long overdue, written straight into one shard) are all re-sent by one cron run when
/// there are fewer than a run's batch, as with one database: more than a quarter of the batch
/// sits on one shard, so a sweep that gave each shard an equal share of the batch leaves some
/// for a later run.
async fn the_outbox_sweep_takes_a_full_batch_from_one_shard(env: &Stack) {
    const SHARD: usize = 3;
    let stuck = SWEEP_BATCH / SHARDS + 5;
    let orders: Vec<String> = (1..)
        .map(|n| format!("sweep-{n}"))
        .filter(|no| shard_of(no) == SHARD)
        .take(stuck)
        .collect();
    let ids: BTreeSet<String> = orders
        .iter()
        .map(|no| webhook::event_id(no, 5, 1))
        .collect();
    let created = now_secs();
    let order_rows: Vec<String> = orders
        .iter()
        .map(|no| {
            format!(
                "('{no}', 500, 'USD', {}, 5, 0, 0, 0, 'https://pay.example/{no}')",
                support::MERCHANT
            )
        })
        .collect();
    let outbox_rows: Vec<String> = orders
        .iter()
        .map(|no| {
            let id = webhook::event_id(no, 5, 1);
            let body = json!({"id": id, "type": "order.paid", "created_at": created, "data": {"order_no": no}});
            format!("('{id}', '{no}', 'order.paid', '{body}', 'pending', 0, 0, 0, 0)")
        })
        .collect();
    let sql = format!(
        "INSERT INTO orders (order_no, amount_minor, currency, merchant_id, status, creating_until, created_at, updated_at, pay_url) VALUES {}; \
         INSERT INTO webhook_outbox (id, order_no, kind, body, state, attempts, next_attempt_at, created_at, updated_at) VALUES {};",
        order_rows.join(", "),
        outbox_rows.join(", ")
    );
    env.edge
        .d1_execute_on(SHARD, &sql)
        .unwrap_or_else(|e| panic!("staging the stuck outbox rows: {e}"));
    let cron = env
        .send(reqwest::Method::GET, &env.edge.scheduled_url(), &[], None)
        .await;
    assert_eq!(cron.status, 200, "/__scheduled: {}", cron.text);
    let delivered = || {
        env.receiver()
            .deliveries()
            .into_iter()
            .filter(|d| d.answered == 204 && ids.contains(&d.id))
            .map(|d| d.id)
            .collect::<BTreeSet<String>>()
    };
    let all = eventually(Duration::from_secs(20), POLL, || async {
        (delivered() == ids).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "one cron run sent {} of the {stuck} stuck notifications on shard {SHARD}",
        delivered().len()
    );
}
