//! `bench-push`: callback → live-event latency, for `cargo xtask bench`'s `push` suite.
//!
//! Starts the TrustPay simulator (in-process) and the built edge Worker under `wrangler dev`
//! (real workerd, local D1, the `ORDER_EVENTS` Durable Object), all on loopback. For each of
//! `--orders` orders (200; `--quick` 20), one at a time: create it through the edge, open
//! its event stream (`GET /v1/orders/{order_no}/events?token=`) and read the first event
//! (the current state, `pending`), then POST a signed `status 5` callback and time from just
//! before the POST leaves until the `paid` event's bytes arrive on the stream. On loopback the
//! POST's send time is the callback's arrival at the edge within well under a millisecond, so
//! this is callback received → event delivered (D1 update, event row, Durable Object fan-out).
//! The callback's own response time is reported alongside.
//!
//! Prints progress on stderr and writes one JSON document to `--out` (or stdout).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tests::bench::CREDENTIALS;
use tests::edge_harness::{EdgeVars, EdgeWorker};
use tests::load::Stats;
use tests::sim::{self, SimConfig};
use tests::sse::{EventStream, Sse};

const ORIGIN: &str = "http://shop.bench";

/// Measures callback → SSE event latency against a local edge.
#[derive(Debug, Parser)]
#[command(name = "bench-push")]
struct Args {
    /// Small counts, for checking the tooling.
    #[arg(long)]
    quick: bool,
    /// Orders (one callback each).
    #[arg(long)]
    orders: Option<usize>,
    /// Where to write the JSON results (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-push: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-push: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn summary(ms: &[f64]) -> Value {
    let stats = Stats::of(ms);
    json!({
        "n": stats.n,
        "p50_ms": stats.p50,
        "p90_ms": stats.p90,
        "p99_ms": stats.p99,
        "max_ms": stats.max,
        "mean_ms": stats.mean,
    })
}

/// The next event's data (heartbeats and empty blocks skipped).
async fn next_event(stream: &mut EventStream) -> Result<String, Error> {
    loop {
        match stream.next(Duration::from_secs(30)).await {
            Sse::Event { data, .. } if !data.is_empty() => return Ok(data),
            Sse::Event { .. } | Sse::Comment => continue,
            Sse::End => return Err("the event stream ended early".into()),
            Sse::Quiet => return Err("no event within 30 s".into()),
        }
    }
}

/// POSTs JSON with one extra header; the answer's JSON.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    header: (&str, &str),
    body: &Value,
) -> Result<Value, Error> {
    let text = http
        .post(url)
        .header("Content-Type", "application/json")
        .header(header.0, header.1)
        .body(body.to_string())
        .send()
        .await?
        .text()
        .await?;
    Ok(serde_json::from_str(&text)?)
}

async fn run(args: Args) -> Result<(), Error> {
    let orders = args.orders.unwrap_or(if args.quick { 20 } else { 200 });
    let (_, sim) = sim::serve(SimConfig {
        verbose: false,
        ..SimConfig::for_tests()
    })
    .await?;
    let vars = EdgeVars::new(&sim.base_url(), &CREDENTIALS, ORIGIN)
        .set("STATUS_REFRESH_SECONDS", "3600")
        .rate_limit_all(tests::bench::LOAD_RATE_LIMIT);
    eprintln!("bench-push: starting wrangler dev");
    let edge = EdgeWorker::launch(vars).await?;
    let http = tests::http::client(Duration::from_secs(30))?;
    let run_id = std::process::id();
    let mut delivered = Vec::with_capacity(orders);
    let mut acked = Vec::with_capacity(orders);
    let mut event_before_ack = 0usize;
    let started = Instant::now();
    for i in 0..orders {
        let order_no = format!("push-{run_id}-{i}");
        let minted = post_json(
            &http,
            &edge.url("/v1/intents"),
            (
                "Authorization",
                &format!("Bearer {}", CREDENTIALS.merchant_token),
            ),
            &json!({"order_no": order_no, "amount": "5.00", "currency": "USD"}),
        )
        .await?;
        let created = post_json(
            &http,
            &edge.url("/v1/orders"),
            ("Origin", ORIGIN),
            &json!({"intent": minted["intent"]}),
        )
        .await?;
        let token = created["events_token"]
            .as_str()
            .ok_or_else(|| format!("no events_token in the create answer: {created}"))?;
        let response = http
            .get(edge.url(&format!("/v1/orders/{order_no}/events?token={token}")))
            .header("Origin", ORIGIN)
            .send()
            .await?;
        if response.status() != 200 {
            return Err(format!("events stream: HTTP {}", response.status()).into());
        }
        let mut stream = EventStream::new(response);
        let first = next_event(&mut stream).await?;
        if !first.contains("\"state\":\"pending\"") {
            return Err(format!("first event is not pending: {first}").into());
        }
        let body = tests::forge::signed_callback(
            &tests::forge::callback_body(&order_no, sim::DEFAULT_MERCHANT_ID, "5.00", 5, "bench"),
            CREDENTIALS.secret,
        )?;
        let sent = Instant::now();
        let callback = http
            .post(edge.url("/v1/trustpay/callback"))
            .header("Content-Type", "application/json")
            .body(body)
            .send();
        let event = next_event(&mut stream);
        // Both at once: the event may (and should) arrive before the callback's answer.
        let (answer, data) = tokio::join!(
            async {
                let answer = callback.await;
                (answer, sent.elapsed())
            },
            async {
                let data = event.await;
                (data, sent.elapsed())
            }
        );
        let (answer, ack_at) = answer;
        let (data, event_at) = data;
        let answer = answer?;
        if answer.status() != 200 {
            return Err(format!("callback: HTTP {}", answer.status()).into());
        }
        let data = data?;
        if !data.contains("\"state\":\"paid\"") {
            return Err(format!("second event is not paid: {data}").into());
        }
        if event_at <= ack_at {
            event_before_ack += 1;
        }
        delivered.push(event_at.as_secs_f64() * 1e3);
        acked.push(ack_at.as_secs_f64() * 1e3);
        if (i + 1) % 50 == 0 {
            eprintln!("bench-push: {} / {orders}", i + 1);
        }
    }
    let result = json!({
        "orders": orders,
        "seconds": started.elapsed().as_secs_f64(),
        "callback_to_event": summary(&delivered),
        "callback_ack": summary(&acked),
        "event_before_ack": event_before_ack,
    });
    let text = serde_json::to_string_pretty(&result)?;
    match &args.out {
        Some(path) => std::fs::write(path, text)?,
        None => println!("{text}"),
    }
    drop(edge);
    sim.shutdown().await?;
    Ok(())
}
