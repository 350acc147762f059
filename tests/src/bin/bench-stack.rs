//! `bench-stack`: the measurements of `cargo xtask bench` that need the running stack.
//!
//! Starts the TrustPay simulator (in-process), the built edge Worker under `wrangler dev`
//! (real workerd, local D1, [`tests::edge_harness::EdgeWorker`]) and the demo shop, all on
//! loopback, then measures, in this order:
//!
//! 1. **time to ready**: `node bench/time_to_ready.mjs` loads the shop page with the widget and
//!    `/baseline` (a plain button), cold, in headless Chromium;
//! 2. **edge overhead**: create-order and order-status through the edge versus the same
//!    operation sent straight to the simulator, same closed-loop load (fixed concurrency, 1 by
//!    default; bounded count and time), alternating blocks so drift hits both; plus a no-op
//!    (`/healthz` vs the simulator's `/health`) for the floor wrangler dev adds to anything;
//! 3. **callback ingest**: orders created through the edge, then signed `status 5` callbacks
//!    POSTed to `/v1/trustpay/callback` as fast as the edge takes them; afterwards every
//!    order and its `accepted` event are counted in D1 (zero lost means all of them);
//! 4. **the same on D1 shards**: a second Worker with `D1_SHARDS` = `--shards` (4), edge
//!    overhead and callback ingest again (under `sharded` in the output), so both rows come
//!    from one run. Local shards are SQLite files in the same workerd process: the figure shows
//!    what sharding costs here (routing, round trips), not the gain of separate primaries.
//!
//! The measurements are [`tests::bench`], the load driver [`tests::load`]; this binary parses
//! the arguments, starts the stack and writes the results.
//!
//! Prints progress on stderr and writes one JSON document to `--out` (or stdout). Loopback only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tests::bench::{CREDENTIALS, LOAD_RATE_LIMIT, ingest, overhead, ready, worker_log_times};
use tests::edge_harness::{self, EdgeVars, EdgeWorker};
use tests::sim::{self, SimConfig};

/// Measures time to ready, edge overhead and callback ingest against a local stack.
#[derive(Debug, Parser)]
#[command(name = "bench-stack")]
struct Args {
    /// Small counts, for checking the tooling (numbers are not meaningful).
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON results (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parts to skip: ready, overhead, ingest (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Cold loads per page (time to ready).
    #[arg(long)]
    ready_runs: Option<usize>,
    /// Requests per case and operation (edge overhead).
    #[arg(long)]
    overhead_requests: Option<usize>,
    /// Concurrent requests (edge overhead). 1 by default: the goal is about the latency one
    /// request gains, and more in flight on two cores would add queueing behind the others.
    #[arg(long, default_value_t = 1)]
    overhead_concurrency: usize,
    /// Callbacks (= orders created first) for the ingest run.
    #[arg(long)]
    callbacks: Option<usize>,
    /// Concurrent callbacks in flight.
    #[arg(long, default_value_t = 32)]
    callback_concurrency: usize,
    /// D1 shards of the second Worker that measures overhead and ingest again (1: no second
    /// run).
    #[arg(long, default_value_t = 4)]
    shards: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-stack: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-stack: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), Error> {
    let started = Instant::now();
    let skip = |part: &str| args.skip.iter().any(|s| s == part);
    let ready_runs = args.ready_runs.unwrap_or(if args.quick { 3 } else { 25 });
    let overhead_n = args
        .overhead_requests
        .unwrap_or(if args.quick { 60 } else { 600 });
    let callbacks = args
        .callbacks
        .unwrap_or(if args.quick { 300 } else { 3000 });

    // The simulator: quiet, one callback attempt, nothing times out during the run.
    let (_, sim) = sim::serve(SimConfig {
        callback_retries: Vec::new(),
        order_timeout: Duration::from_secs(3600),
        verbose: false,
        ..SimConfig::for_tests()
    })
    .await?;
    let sim_url = sim.base_url();
    eprintln!("bench-stack: simulator at {sim_url}");

    // The shop's port is picked first: the edge must list its origin in ALLOWED_ORIGINS.
    let shop_port = edge_harness::free_port()?;
    let shop_origin = format!("http://127.0.0.1:{shop_port}");
    // Every simulated shopper comes from 127.0.0.1: the shipped per-IP limits would measure
    // the rate limiter, not the edge.
    // The status route answers from D1 for the whole run (no TrustPay refresh of orders that
    // grew older than the default 10 s while the run went on): that is the path measured.
    let vars = EdgeVars::new(&sim_url, &CREDENTIALS, &shop_origin)
        .rate_limit_all(LOAD_RATE_LIMIT)
        .set("STATUS_REFRESH_SECONDS", "3600");
    let edge = start_edge(vars.clone()).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;

    let mut out = serde_json::Map::new();
    out.insert(
        "config".into(),
        json!({
            "quick": args.quick,
            "ready_runs": ready_runs,
            "overhead_requests": overhead_n,
            "overhead_concurrency": args.overhead_concurrency,
            "callbacks": callbacks,
            "callback_concurrency": args.callback_concurrency,
            "shards": args.shards,
        }),
    );

    if !skip("ready") {
        let value = ready::time_to_ready(&http, &edge, shop_port, ready_runs).await?;
        out.insert("time_to_ready".into(), value);
    }
    let load = Load {
        http: &http,
        sim_url: &sim_url,
        shop_origin: &shop_origin,
        overhead: (!skip("overhead")).then_some((overhead_n, args.overhead_concurrency)),
        ingest: (!skip("ingest")).then_some((callbacks, args.callback_concurrency)),
    };
    out.extend(load.measure(&edge).await?);
    if args.shards > 1 && (load.overhead.is_some() || load.ingest.is_some()) {
        // One Worker at a time on the two cores: the first one goes before the second starts.
        drop(edge);
        // The same order numbers again: the simulator forgets the first run's orders.
        http.post(format!("{sim_url}/_sim/reset"))
            .send()
            .await?
            .error_for_status()?;
        eprintln!("bench-stack: again with D1_SHARDS={}", args.shards);
        let sharded = start_edge(vars.set("D1_SHARDS", args.shards.to_string())).await?;
        let mut value = serde_json::Map::new();
        value.insert("shards".into(), json!(args.shards));
        value.extend(load.measure(&sharded).await?);
        out.insert("sharded".into(), Value::Object(value));
    } else {
        drop(edge);
    }
    out.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));

    let text = serde_json::to_string_pretty(&Value::Object(out))?;
    match &args.out {
        Some(path) => std::fs::write(path, text + "\n")?,
        None => println!("{text}"),
    }
    sim.shutdown().await?;
    Ok(())
}

async fn start_edge(vars: EdgeVars) -> Result<Arc<EdgeWorker>, Error> {
    let t = Instant::now();
    let edge = Arc::new(EdgeWorker::launch(vars).await?);
    eprintln!(
        "bench-stack: edge (wrangler dev) at {} in {:.1} s",
        edge.base_url,
        t.elapsed().as_secs_f64()
    );
    Ok(edge)
}

/// The edge overhead and callback ingest runs, each `(count, concurrency)` when measured.
struct Load<'a> {
    http: &'a reqwest::Client,
    sim_url: &'a str,
    shop_origin: &'a str,
    overhead: Option<(usize, usize)>,
    ingest: Option<(usize, usize)>,
}

impl Load<'_> {
    /// `edge_overhead` and `callback_ingest` against `edge`, each with the Worker's log
    /// figures of its own requests.
    async fn measure(
        &self,
        edge: &Arc<EdgeWorker>,
    ) -> Result<serde_json::Map<String, Value>, Error> {
        let mut out = serde_json::Map::new();
        if let Some((n, concurrency)) = self.overhead {
            let mark = edge.output().len();
            let mut value = overhead::edge_overhead(
                self.http,
                edge,
                self.sim_url,
                self.shop_origin,
                n,
                concurrency,
            )
            .await?;
            value["worker_log"] = worker_log_times(edge.output().get(mark..).unwrap_or(""));
            out.insert("edge_overhead".into(), value);
        }
        if let Some((n, concurrency)) = self.ingest {
            let mark = edge.output().len();
            let mut value =
                ingest::callback_ingest(self.http, edge, self.shop_origin, n, concurrency).await?;
            value["worker_log"] = worker_log_times(edge.output().get(mark..).unwrap_or(""));
            out.insert("callback_ingest".into(), value);
        }
        Ok(out)
    }
}
