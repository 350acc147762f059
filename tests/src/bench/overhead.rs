//! Edge overhead: create-order and order-status through the edge versus the same operation
//! sent straight to the simulator, same closed-loop load (fixed concurrency, 1 by default;
//! bounded count and time), alternating blocks so drift hits both; plus a no-op (`/healthz` vs
//! the simulator's `/health`) for the floor wrangler dev adds to anything.

use std::sync::Arc;
use std::time::Duration;

use checkout_core::wire::{CashierPayinRequest, OrderQueryRequest, TrustPayRequest, paths};
use checkout_core::{Amount, AmountRendering, Currency};
use serde_json::{Value, json};

use super::{AMOUNT, BenchError, CREDENTIALS, check, edge_create_jobs, get};
use crate::edge_harness::EdgeWorker;
use crate::forge::secret;
use crate::load::{Batch, Expect, Job, closed_loop};
use crate::sim;

/// A signed request straight to the simulator.
fn sim_job(sim_url: &str, path: &str, body: String) -> Job {
    Job {
        method: reqwest::Method::POST,
        url: format!("{sim_url}{path}"),
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Api-Key", CREDENTIALS.api_key.to_owned()),
        ],
        body: Some(body),
    }
}

/// The signed body the edge itself would send for a create (same signing code).
fn sim_create_job(sim_url: &str, notify_url: &str, order_no: &str) -> Result<Job, BenchError> {
    let request = CashierPayinRequest {
        merchant_id: sim::DEFAULT_MERCHANT_ID,
        order_no: order_no.to_owned(),
        order_amount: Amount::parse_decimal(AMOUNT).map_err(crate::forge::ForgeError::from)?,
        currency: Currency::Usd,
        notify_url: notify_url.to_owned(),
    };
    let body = request
        .fields(AmountRendering::TwoDecimals)
        .signed_body(&secret(CREDENTIALS.secret)?);
    Ok(sim_job(sim_url, paths::CASHIER_PAYIN, body))
}

fn sim_query_job(sim_url: &str, order_no: &str) -> Result<Job, BenchError> {
    let body = OrderQueryRequest {
        order_no: order_no.to_owned(),
    }
    .fields(AmountRendering::TwoDecimals)
    .signed_body(&secret(CREDENTIALS.secret)?);
    Ok(sim_job(sim_url, paths::ORDER_QUERY, body))
}

/// Measures the edge's overhead with `n` requests per case and `concurrency` in flight.
pub async fn edge_overhead(
    http: &reqwest::Client,
    edge: &EdgeWorker,
    sim_url: &str,
    origin: &str,
    n: usize,
    concurrency: usize,
) -> Result<Value, BenchError> {
    const ROUNDS: usize = 4;
    const LIMIT: Duration = Duration::from_secs(60);
    let warm = 40.min(n);
    let notify_url = edge.url("/v1/trustpay/callback");
    eprintln!("bench-stack: edge overhead, {n} requests per case, concurrency {concurrency}");

    // Warm-up (not recorded): both paths, creates and status.
    let warm_direct: Vec<String> = (0..warm).map(|i| format!("bw-d-{i}")).collect();
    let warm_edge: Vec<String> = (0..warm).map(|i| format!("bw-e-{i}")).collect();
    let jobs = warm_direct
        .iter()
        .map(|o| sim_create_job(sim_url, &notify_url, o))
        .collect::<Result<Vec<_>, _>>()?;
    check(
        closed_loop(
            http,
            Arc::new(jobs),
            Expect::TRUSTPAY_OK,
            concurrency,
            LIMIT,
            false,
        )
        .await,
        "warm-up direct create",
    )?;
    let jobs = edge_create_jobs(edge, origin, &warm_edge)?;
    check(
        closed_loop(
            http,
            Arc::new(jobs),
            Expect::CREATED,
            concurrency,
            LIMIT,
            false,
        )
        .await,
        "warm-up edge create",
    )?;

    // Create: distinct order numbers per request, in alternating blocks.
    let per_round = n.div_ceil(ROUNDS);
    let mut direct_create = Batch::default();
    let mut edge_create = Batch::default();
    let mut direct_orders = Vec::new();
    let mut edge_orders: Vec<(String, String)> = Vec::new(); // (order_no, client_secret)
    for round in 0..ROUNDS {
        let ids: Vec<usize> = (round * per_round..((round + 1) * per_round).min(n)).collect();
        let direct: Vec<String> = ids.iter().map(|i| format!("bd-{i}")).collect();
        let via_edge: Vec<String> = ids.iter().map(|i| format!("be-{i}")).collect();
        let direct_jobs = Arc::new(
            direct
                .iter()
                .map(|o| sim_create_job(sim_url, &notify_url, o))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let edge_jobs = Arc::new(edge_create_jobs(edge, origin, &via_edge)?);
        let run_direct = || {
            closed_loop(
                http,
                Arc::clone(&direct_jobs),
                Expect::TRUSTPAY_OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || {
            closed_loop(
                http,
                Arc::clone(&edge_jobs),
                Expect::CREATED,
                concurrency,
                LIMIT,
                true,
            )
        };
        let (d, e) = if round % 2 == 0 {
            let d = run_direct().await;
            (d, run_edge().await)
        } else {
            let e = run_edge().await;
            (run_direct().await, e)
        };
        for (order_no, body) in via_edge.iter().zip(&e.bodies) {
            if let Some(secret) = body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|v| v["client_secret"].as_str().map(str::to_owned))
            {
                edge_orders.push((order_no.clone(), secret));
            }
        }
        direct_orders.extend(direct);
        direct_create.merge(d);
        edge_create.merge(e);
    }
    if edge_orders.is_empty() || direct_orders.is_empty() {
        return Err(BenchError::NoOrders {
            direct: direct_create.first_error,
            edge: edge_create.first_error,
        });
    }

    // Status: the orders just created, round robin. The edge answers from D1 (the orders are
    // fresh, younger than STATUS_REFRESH_SECONDS); the simulator answers its order query.
    let mut direct_status = Batch::default();
    let mut edge_status = Batch::default();
    for round in 0..ROUNDS {
        let ids: Vec<usize> = (round * per_round..((round + 1) * per_round).min(n)).collect();
        let direct_jobs = Arc::new(
            ids.iter()
                .map(|i| sim_query_job(sim_url, &direct_orders[i % direct_orders.len()]))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let edge_jobs = Arc::new(
            ids.iter()
                .map(|i| {
                    let (order_no, client_secret) = &edge_orders[i % edge_orders.len()];
                    Job {
                        method: reqwest::Method::GET,
                        url: edge.url(&format!("/v1/orders/{order_no}")),
                        headers: vec![
                            ("X-Client-Secret", client_secret.clone()),
                            ("Origin", origin.to_owned()),
                        ],
                        body: None,
                    }
                })
                .collect::<Vec<_>>(),
        );
        let run_direct = || {
            closed_loop(
                http,
                Arc::clone(&direct_jobs),
                Expect::TRUSTPAY_OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || {
            closed_loop(
                http,
                Arc::clone(&edge_jobs),
                Expect::OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        if round % 2 == 0 {
            direct_status.merge(run_direct().await);
            edge_status.merge(run_edge().await);
        } else {
            edge_status.merge(run_edge().await);
            direct_status.merge(run_direct().await);
        }
    }
    // The floor: no storage, no gateway call. The edge's /healthz versus the simulator's
    // /health shows what wrangler dev's local runtime adds to any request by itself.
    let mut direct_health = Batch::default();
    let mut edge_health = Batch::default();
    for round in 0..ROUNDS {
        let direct_jobs = Arc::new(vec![get(format!("{sim_url}/health")); per_round]);
        let edge_jobs = Arc::new(vec![get(edge.url("/healthz")); per_round]);
        let run_direct = || {
            closed_loop(
                http,
                Arc::clone(&direct_jobs),
                Expect::OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || {
            closed_loop(
                http,
                Arc::clone(&edge_jobs),
                Expect::OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        if round % 2 == 0 {
            direct_health.merge(run_direct().await);
            edge_health.merge(run_edge().await);
        } else {
            edge_health.merge(run_edge().await);
            direct_health.merge(run_direct().await);
        }
    }
    for (batch, what) in [
        (&direct_health, "direct health"),
        (&edge_health, "edge healthz"),
        (&direct_create, "direct create"),
        (&edge_create, "edge create"),
        (&direct_status, "direct status"),
        (&edge_status, "edge status"),
    ] {
        eprintln!(
            "bench-stack:   {what:<14} p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            batch.percentile(50.0),
            batch.percentile(99.0),
            batch.errors
        );
    }
    Ok(json!({
        "concurrency": concurrency,
        "warmup_requests": warm,
        "create": {
            "direct": direct_create.summary(),
            "edge": edge_create.summary(),
            "added_p50_ms": edge_create.percentile(50.0) - direct_create.percentile(50.0),
            "added_p99_ms": edge_create.percentile(99.0) - direct_create.percentile(99.0),
        },
        "status": {
            "direct": direct_status.summary(),
            "edge": edge_status.summary(),
            "added_p50_ms": edge_status.percentile(50.0) - direct_status.percentile(50.0),
            "added_p99_ms": edge_status.percentile(99.0) - direct_status.percentile(99.0),
        },
        "health": {
            "direct": direct_health.summary(),
            "edge": edge_health.summary(),
            "added_p50_ms": edge_health.percentile(50.0) - direct_health.percentile(50.0),
            "added_p99_ms": edge_health.percentile(99.0) - direct_health.percentile(99.0),
        },
    }))
}
