//! `trustpay-sim`: the TrustPay simulator as a server. `--help` documents every flag.

use std::process::ExitCode;

use clap::Parser;
use tests::sim::{SimArgs, serve};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match SimArgs::parse().into_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("trustpay-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let (merchant_id, sign, callback, retries) = (
        config.merchant_id,
        config.sign_amounts.as_str(),
        config.callback_amounts.as_str(),
        config
            .callback_retries
            .iter()
            .map(|d| tests::sim::config::format_duration(*d))
            .collect::<Vec<_>>()
            .join(","),
    );
    let (addr, sim) = match serve(config).await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("trustpay-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Credentials are deliberately not printed.
    println!(
        "trustpay-sim listening on http://{addr} (pay pages at {}/pay/...)",
        sim.public_url()
    );
    println!(
        "merchant_id {merchant_id}; request amounts {sign}; callback amounts {callback}; callback retries [{retries}]"
    );
    let ctrl_c = async {
        // If the handler can't be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match sim.run_until(ctrl_c).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trustpay-sim: {error}");
            ExitCode::FAILURE
        }
    }
}
