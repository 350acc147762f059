//! `demo-shop`: the demo merchant page and its tiny merchant backend (dev and tests only).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tests::demo_shop::{ShopConfig, serve};

/// Serves www/ under a strict CSP and mints checkout intents at the edge like a merchant backend.
#[derive(Debug, Parser)]
#[command(name = "demo-shop", version)]
struct Args {
    /// Address to listen on (loopback only in dev and tests).
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The edge Worker's base URL.
    #[arg(long, env = "SHOP_EDGE_URL", default_value = "http://127.0.0.1:8787")]
    edge: String,
    /// The merchant bearer token the edge expects on POST /v1/intents.
    #[arg(long, env = "MERCHANT_API_TOKEN", hide_env_values = true)]
    merchant_token: String,
    /// The folder holding index.html, custom.html and the assets.
    #[arg(long, env = "SHOP_WWW_DIR", default_value = "www")]
    www_dir: PathBuf,
    /// The product price (decimal text).
    #[arg(long, default_value = "24.00")]
    price: String,
    /// The currency (USD or INR).
    #[arg(long, default_value = "USD")]
    currency: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = ShopConfig {
        edge: args.edge.trim_end_matches('/').to_owned(),
        merchant_token: args.merchant_token,
        www_dir: args.www_dir,
        price: args.price,
        currency: args.currency,
    };
    match serve(config, args.listen).await {
        Ok((addr, handle)) => {
            println!("demo-shop: listening on http://{addr}");
            tokio::select! {
                _ = handle => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo-shop: cannot listen on {}: {e}", args.listen);
            ExitCode::FAILURE
        }
    }
}
