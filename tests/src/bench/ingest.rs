//! Callback ingest: orders created through the edge, then signed `status 5` callbacks POSTed
//! to `/v1/trustpay/callback` as fast as the edge takes them; afterwards every order and its
//! `accepted` event are counted in D1 (zero lost means all of them). Right after, the same
//! number of no-op `GET /healthz` at the same concurrency: the callback rate as a share of
//! what the local runtime serves when the Worker does nothing is the figure that says
//! something beyond this machine.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{AMOUNT, BenchError, CREDENTIALS, edge_create_jobs};
use crate::edge_harness::EdgeWorker;
use crate::load::{Expect, Job, closed_loop};
use crate::sim;

/// A paid callback for `order_no`, signed like TrustPay signs.
fn signed_callback(order_no: &str) -> Result<String, BenchError> {
    let unsigned = format!(
        r#"{{"type":0,"merchant_id":{},"order_no":"{order_no}","order_amount":{AMOUNT},"paid_amount":{AMOUNT},"fee":0.45,"balance_amount":4.55,"pay_time":"2026-11-25 22:00:00","status":5,"reason":"bench"}}"#,
        sim::DEFAULT_MERCHANT_ID
    );
    Ok(crate::forge::signed_callback(
        &unsigned,
        CREDENTIALS.secret,
    )?)
}

/// Creates `n` orders through the edge, then sends their paid callbacks with `concurrency`
/// in flight and counts what D1 holds.
pub async fn callback_ingest(
    http: &reqwest::Client,
    edge: &Arc<EdgeWorker>,
    origin: &str,
    n: usize,
    concurrency: usize,
) -> Result<Value, BenchError> {
    eprintln!("bench-stack: callback ingest: creating {n} orders through the edge");
    let order_nos: Vec<String> = (0..n).map(|i| format!("bc-{i}")).collect();
    let jobs = edge_create_jobs(edge, origin, &order_nos)?;
    let created = closed_loop(
        http,
        Arc::new(jobs),
        Expect::CREATED,
        8,
        Duration::from_secs(240),
        false,
    )
    .await;
    if created.errors > 0 {
        return Err(BenchError::CreatesFailed {
            failed: created.errors,
            of: n,
            first_error: created.first_error,
        });
    }

    // Bodies are signed before the clock starts: the edge's work is what is measured.
    let jobs: Vec<Job> = order_nos
        .iter()
        .map(|order_no| {
            Ok(Job {
                method: reqwest::Method::POST,
                url: edge.url("/v1/trustpay/callback"),
                headers: vec![("Content-Type", "application/json".to_owned())],
                body: Some(signed_callback(order_no)?),
            })
        })
        .collect::<Result<_, BenchError>>()?;
    eprintln!("bench-stack: callback ingest: {n} signed callbacks, {concurrency} in flight");
    let sent = closed_loop(
        http,
        Arc::new(jobs),
        Expect::OK,
        concurrency,
        Duration::from_secs(240),
        false,
    )
    .await;
    let rate = sent.latencies_ms.len() as f64 / sent.wall.as_secs_f64().max(1e-9);
    eprintln!(
        "bench-stack:   {} accepted in {:.2} s = {rate:.0}/s, {} errors",
        sent.latencies_ms.len(),
        sent.wall.as_secs_f64(),
        sent.errors
    );

    // The floor of this machine and runtime: the same load, nothing done per request.
    let health = closed_loop(
        http,
        Arc::new(vec![super::get(edge.url("/healthz")); n]),
        Expect::OK,
        concurrency,
        Duration::from_secs(240),
        false,
    )
    .await;
    let health_rate = health.latencies_ms.len() as f64 / health.wall.as_secs_f64().max(1e-9);
    eprintln!(
        "bench-stack:   /healthz at {concurrency} in flight: {health_rate:.0}/s; callbacks at {:.2} of that",
        rate / health_rate.max(1e-9)
    );

    // Count what D1 holds: every order paid, one accepted callback event each.
    let reader = Arc::clone(edge);
    let (paid, accepted) = tokio::task::spawn_blocking(move || -> Result<(i64, i64), BenchError> {
        let count = |sql: &str| -> Result<i64, BenchError> {
            let rows = reader.d1_query(sql)?;
            rows[0]["n"].as_i64().ok_or_else(|| BenchError::Count {
                sql: sql.to_owned(),
                rows: rows.clone(),
            })
        };
        Ok((
            count("SELECT count(*) AS n FROM orders WHERE order_no LIKE 'bc-%' AND status = 5")?,
            count(
                "SELECT count(*) AS n FROM order_events WHERE order_no LIKE 'bc-%' AND source = 'callback' AND outcome = 'accepted'",
            )?,
        ))
    })
    .await??;
    let lost = n as i64 - paid.min(accepted);
    Ok(json!({
        "callbacks": n,
        "concurrency": concurrency,
        "orders_created": { "seconds": created.wall.as_secs_f64(), "per_second": n as f64 / created.wall.as_secs_f64().max(1e-9) },
        "send": sent.summary(),
        "per_second": rate,
        "healthz": { "send": health.summary(), "per_second": health_rate },
        "ratio_to_healthz": rate / health_rate.max(1e-9),
        "d1_orders_paid": paid,
        "d1_events_accepted": accepted,
        "lost": lost,
    }))
}
