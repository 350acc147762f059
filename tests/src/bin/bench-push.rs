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

use checkout_core::sign::{SignFields, SignOptions};
use checkout_core::{AmountRendering, Secret};
use clap::Parser;
use serde_json::{Value, json};
use tests::edge_harness::EdgeWorker;
use tests::sim::{self, SimConfig};

const TOKEN: &str = "bench-merchant-token";
const INTENT_KEY: &str = "bench-intent-secret";
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({
        "n": ms.len(),
        "p50_ms": percentile(&ms, 50.0),
        "p90_ms": percentile(&ms, 90.0),
        "p99_ms": percentile(&ms, 99.0),
        "max_ms": ms.last().copied().unwrap_or(f64::NAN),
        "mean_ms": ms.iter().sum::<f64>() / ms.len().max(1) as f64,
    })
}

fn signed_paid_callback(order_no: &str, amount: &str) -> String {
    let unsigned = format!(
        r#"{{"type":0,"merchant_id":{},"order_no":"{order_no}","order_amount":{amount},"paid_amount":{amount},"fee":0.30,"status":5,"reason":"bench"}}"#,
        sim::DEFAULT_MERCHANT_ID
    );
    let key = Secret::new(sim::DEFAULT_SECRET).unwrap_or_else(|_| unreachable!("non-empty"));
    let sign = SignFields::from_json(unsigned.as_bytes())
        .map(|f| f.sign(SignOptions::amounts(AmountRendering::TwoDecimals), &key))
        .unwrap_or_else(|e| panic!("{e}"));
    format!(
        "{},\"sign\":\"{}\"}}",
        unsigned.trim_end_matches('}'),
        sign.as_str()
    )
}

/// Reads SSE blocks until one with `data:`; returns its data.
async fn next_event(response: &mut reqwest::Response, buf: &mut String) -> Result<String, Error> {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if !data.is_empty() {
                return Ok(data);
            }
        }
        match response.chunk().await? {
            Some(bytes) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            None => return Err("the event stream ended early".into()),
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
    let vars = vec![
        ("TRUSTPAY_BASE_URL", sim.base_url()),
        ("TRUSTPAY_MERCHANT_ID", sim::DEFAULT_MERCHANT_ID.to_string()),
        ("TRUSTPAY_API_KEY", sim::DEFAULT_API_KEY.to_owned()),
        ("TRUSTPAY_SECRET", sim::DEFAULT_SECRET.to_owned()),
        ("ALLOWED_ORIGINS", ORIGIN.to_owned()),
        ("INTENT_SECRET", INTENT_KEY.to_owned()),
        ("MERCHANT_API_TOKEN", TOKEN.to_owned()),
        ("STATUS_REFRESH_SECONDS", "3600".to_owned()),
    ];
    eprintln!("bench-push: starting wrangler dev");
    let edge = tokio::task::spawn_blocking(move || EdgeWorker::start(&vars)).await??;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
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
            ("Authorization", &format!("Bearer {TOKEN}")),
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
        let mut stream = http
            .get(edge.url(&format!("/v1/orders/{order_no}/events?token={token}")))
            .header("Origin", ORIGIN)
            .send()
            .await?;
        if stream.status() != 200 {
            return Err(format!("events stream: HTTP {}", stream.status()).into());
        }
        let mut buf = String::new();
        let first = next_event(&mut stream, &mut buf).await?;
        if !first.contains("\"state\":\"pending\"") {
            return Err(format!("first event is not pending: {first}").into());
        }
        let body = signed_paid_callback(&order_no, "5.00");
        let sent = Instant::now();
        let callback = http
            .post(edge.url("/v1/trustpay/callback"))
            .header("Content-Type", "application/json")
            .body(body)
            .send();
        let event = next_event(&mut stream, &mut buf);
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
        "callback_to_event": summary(delivered),
        "callback_ack": summary(acked),
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
