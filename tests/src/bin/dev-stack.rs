//! `dev-stack`: the whole product on loopback, for `cargo xtask dev` and the browser e2e suite.
//!
//! Starts, in this order: `trustpay-sim` (in-process), the edge Worker under `wrangler dev`
//! (the built `edge/build`, D1 migrated, via [`tests::edge_harness::EdgeWorker`]; it also serves
//! the widget from `www/pkg`), and the demo shop (`www/` under a strict CSP, minting intents at
//! the edge like a merchant backend). Prints one URL to open, streams every service's log with a
//! `[name]` prefix, and on Ctrl-C / SIGTERM stops everything (wrangler's process group included).
//!
//! Dev only: the TrustPay credentials, the intent key and the merchant token are generated per run
//! unless given (flags or the variables below). `--trustpay-base-url` points the edge at a real
//! TrustPay instead of the simulator (then give the real merchant id, API key and secret).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead as _, Seek as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use checkout_core::secret::Secret;
use clap::Parser;
use tests::demo_shop::{self, ShopConfig};
use tests::edge_harness::{EdgeWorker, RATE_LIMITERS, free_port, workspace_root};
use tests::sim::{self, DEFAULT_MERCHANT_ID, SimConfig};

/// The TrustPay simulator, the edge Worker (wrangler dev) and the demo shop, on loopback.
#[derive(Debug, Parser)]
#[command(name = "dev-stack", version)]
struct Args {
    /// Port of the TrustPay simulator (0 = any free port).
    #[arg(long, env = "DEV_SIM_PORT", default_value_t = 8090)]
    sim_port: u16,
    /// Port of the edge Worker under `wrangler dev` (0 = any free port).
    #[arg(long, env = "DEV_EDGE_PORT", default_value_t = 8787)]
    edge_port: u16,
    /// Port of the demo shop (0 = any free port).
    #[arg(long, env = "DEV_SHOP_PORT", default_value_t = 8080)]
    shop_port: u16,
    /// Use this TrustPay API instead of the simulator (e.g. https://api.trustpay.money).
    /// Needs --merchant-id, TRUSTPAY_API_KEY and TRUSTPAY_SECRET; the simulator is not started.
    #[arg(long, env = "DEV_TRUSTPAY_BASE_URL")]
    trustpay_base_url: Option<String>,
    /// The edge's public URL, where TrustPay posts callbacks (default: its loopback URL, which
    /// only the simulator can reach; with a real TrustPay give a tunnel URL).
    #[arg(long, env = "DEV_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// TrustPay merchant id.
    #[arg(long, env = "TRUSTPAY_MERCHANT_ID", default_value_t = DEFAULT_MERCHANT_ID)]
    merchant_id: i64,
    /// TrustPay API key (default: generated; the simulator is started with the same value).
    #[arg(long, env = "TRUSTPAY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// TrustPay signing secret (default: generated).
    #[arg(long, env = "TRUSTPAY_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The edge's intent HMAC key (default: generated).
    #[arg(long, env = "INTENT_SECRET", hide_env_values = true)]
    intent_secret: Option<String>,
    /// The merchant bearer token of /v1/intents and /v1/admin/* (default: generated, printed).
    #[arg(long, env = "MERCHANT_API_TOKEN", hide_env_values = true)]
    merchant_token: Option<String>,
    /// The bearer that may refund (`MERCHANT_REFUND_TOKEN`); generated when absent.
    #[arg(long, env = "MERCHANT_REFUND_TOKEN", hide_env_values = true)]
    refund_token: Option<String>,
    /// The demo product's price (decimal text).
    #[arg(long, default_value = "24.00")]
    price: String,
    /// The demo product's currency (USD or INR).
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Once everything answers, write {"shop","edge","sim"} URLs as JSON to this file.
    #[arg(long, env = "DEV_STACK_READY_FILE")]
    ready_file: Option<PathBuf>,
    /// No per-request lines from the simulator.
    #[arg(long, short)]
    quiet: bool,
}

/// 32 hex characters from the process's random hasher keys (dev-only values, not for production).
fn generated(label: &str) -> String {
    let mut out = String::new();
    for round in 0..2u8 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write(label.as_bytes());
        hasher.write_u8(round);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    format!("dev-{label}-{out}")
}

fn port(wanted: u16) -> Result<u16, String> {
    if wanted != 0 {
        return Ok(wanted);
    }
    free_port().map_err(|e| e.to_string())
}

/// Follows wrangler's log file and prints each new line as `[edge] ...` until `stop`.
fn follow(path: PathBuf, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(file) = std::fs::File::open(&path) else {
            return;
        };
        let mut reader = std::io::BufReader::new(file);
        // From now on: wrangler's start-up banner is already behind us (it was waited for).
        let _ = reader.seek(std::io::SeekFrom::End(0));
        let mut line = String::new();
        while !stop.load(Ordering::SeqCst) {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(150)),
                Ok(_) => {
                    let text = line.trim_end();
                    if !text.trim().is_empty() {
                        println!("[edge] {text}");
                    }
                }
            }
        }
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[dev-stack] error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let api_key = args.api_key.clone().unwrap_or_else(|| generated("api-key"));
    let secret = args.secret.clone().unwrap_or_else(|| generated("secret"));
    let intent_secret = args
        .intent_secret
        .clone()
        .unwrap_or_else(|| generated("intent"));
    let token_given = args.merchant_token.is_some();
    let merchant_token = args
        .merchant_token
        .clone()
        .unwrap_or_else(|| generated("token"));
    let edge_port = port(args.edge_port)?;
    let shop_port = port(args.shop_port)?;
    let shop_url = format!("http://127.0.0.1:{shop_port}");

    // 1. TrustPay: the simulator, unless a real base URL is given.
    let mut sim_handle = None;
    let trustpay_base_url = match &args.trustpay_base_url {
        Some(url) => {
            println!("[dev-stack] using TrustPay at {url} (no simulator)");
            url.trim_end_matches('/').to_owned()
        }
        None => {
            let config = SimConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], args.sim_port)),
                merchant_id: args.merchant_id,
                api_key: Secret::new(api_key.clone()).map_err(|e| format!("api key: {e}"))?,
                secret: Secret::new(secret.clone()).map_err(|e| format!("secret: {e}"))?,
                verbose: !args.quiet,
                ..SimConfig::default()
            };
            let (addr, handle) = sim::serve(config)
                .await
                .map_err(|e| format!("trustpay-sim: {e}"))?;
            println!("[trustpay-sim] listening on http://{addr} (pay pages, /_sim control API)");
            sim_handle = Some(handle);
            format!("http://{addr}")
        }
    };

    // 2. The edge under wrangler dev (blocking: migrations, then /healthz).
    println!("[dev-stack] starting the edge (wrangler dev on 127.0.0.1:{edge_port}) ...");
    let mut vars: Vec<(&str, String)> = vec![
        ("TRUSTPAY_BASE_URL", trustpay_base_url.clone()),
        ("TRUSTPAY_MERCHANT_ID", args.merchant_id.to_string()),
        ("TRUSTPAY_API_KEY", api_key),
        ("TRUSTPAY_SECRET", secret),
        (
            "ALLOWED_ORIGINS",
            format!("{shop_url},http://localhost:{shop_port}"),
        ),
        ("INTENT_SECRET", intent_secret),
        ("MERCHANT_API_TOKEN", merchant_token.clone()),
        (
            "MERCHANT_REFUND_TOKEN",
            args.refund_token
                .clone()
                .unwrap_or_else(|| generated("refund")),
        ),
        ("CLIENT_RESULT_SECRET", generated("result")),
    ];
    if let Some(public) = &args.public_base_url {
        vars.push(("PUBLIC_BASE_URL", public.trim_end_matches('/').to_owned()));
    }
    // Every shopper of the dev stack (and of the browser suite) comes from 127.0.0.1.
    let limits: Vec<(&str, u32)> = RATE_LIMITERS.iter().map(|name| (*name, 10_000)).collect();
    let edge = tokio::task::spawn_blocking(move || {
        EdgeWorker::start_with_limits(Some(edge_port), &vars, &limits)
    })
    .await
    .map_err(|e| format!("edge: {e}"))?
    .map_err(|e| format!("edge: {e}"))?;
    let stop_follow = Arc::new(AtomicBool::new(false));
    follow(edge.log_path().to_path_buf(), Arc::clone(&stop_follow));
    let edge_url = edge.base_url.clone();
    println!("[edge] ready at {edge_url} (widget at {edge_url}/widget/v1/checkout.js)");

    // 3. The demo shop.
    let shop = ShopConfig {
        edge: edge_url.clone(),
        merchant_token: merchant_token.clone(),
        www_dir: workspace_root().join("www"),
        price: args.price.clone(),
        currency: args.currency.clone(),
    };
    let (shop_addr, shop_task) =
        demo_shop::serve(shop, SocketAddr::from(([127, 0, 0, 1], shop_port)))
            .await
            .map_err(|e| format!("demo shop on port {shop_port}: {e}"))?;
    println!("[shop] listening on http://{shop_addr}");

    if let Some(path) = &args.ready_file {
        let ready = serde_json::json!({
            "shop": shop_url,
            "edge": edge_url,
            "sim": sim_handle.as_ref().map(sim::SimHandle::base_url),
        });
        std::fs::write(path, ready.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    println!();
    println!("  ┌──────────────────────────────────────────────────────────────");
    println!("  │  Open  {shop_url}/");
    println!("  │");
    println!("  │  Click Pay, then Pay on the simulator's page in the popup.");
    println!("  │  Also: {shop_url}/custom (mount API, locale switcher)");
    if let Some(sim) = &sim_handle {
        println!("  │  Simulator control: {}/_sim/orders", sim.base_url());
    }
    if !token_given {
        // Generated for this run only; the admin API (refunds) needs it.
        println!("  │  Admin bearer (dev-only, this run): {merchant_token}");
    }
    println!("  │  Ctrl-C stops everything.");
    println!("  └──────────────────────────────────────────────────────────────");
    println!();

    tokio::select! {
        () = shutdown_signal() => println!("\n[dev-stack] stopping ..."),
        _ = shop_task => println!("[dev-stack] the shop stopped; stopping the rest ..."),
    }
    stop_follow.store(true, Ordering::SeqCst);
    // Dropping the edge stops wrangler's whole process group and removes its temp dir.
    let _ = tokio::task::spawn_blocking(move || drop(edge)).await;
    if let Some(sim) = sim_handle {
        let _ = tokio::time::timeout(Duration::from_secs(3), sim.shutdown()).await;
    }
    println!("[dev-stack] stopped");
    Ok(())
}
