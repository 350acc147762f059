//! `cargo xtask dev`: setup, build, then run the local stack until Ctrl-C.
//!
//! The stack is [`SERVICES`]: each entry is started in its own process group, waited for
//! until its ready URL answers, and stopped (whole group) on Ctrl-C or when any of them exits.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::env::{self, Env};
use crate::proc;
use crate::service::Service;
use crate::{setup, wasm};

/// The local stack: one `dev-stack` process (tests/src/bin/dev-stack.rs) runs trustpay-sim
/// in-process, the edge under `wrangler dev` (D1 migrated, widget served from www/pkg; in its
/// own process group, stopped by dev-stack on SIGTERM) and the demo shop on :8080. It reads
/// `DEV_TRUSTPAY_BASE_URL` (+ `TRUSTPAY_MERCHANT_ID`, `TRUSTPAY_API_KEY`, `TRUSTPAY_SECRET`,
/// `DEV_PUBLIC_BASE_URL`) to use a real TrustPay instead of the simulator, and `DEV_*_PORT`.
/// `port` is the default; readiness is checked on `DEV_SHOP_PORT` when that is set ([`shop_port`]).
const SERVICES: &[Service] = &[Service {
    name: "dev-stack",
    program: "cargo",
    args: &["run", "-q", "-p", "tests", "--bin", "dev-stack"],
    cwd: ".",
    env: &[],
    port: 8080,
    ready_path: "/assets/shop.css",
    ready_timeout: Duration::from_secs(300),
}];

/// How often to check whether a service died.
const POLL: Duration = Duration::from_millis(250);

pub(crate) fn run(env: &Env) -> Result<()> {
    setup::run(env)?;

    println!("\n==> build");
    // The release bundle, exactly what the edge serves in production (and what the SRI covers);
    // DEV_WIDGET_DEBUG=1 builds the unoptimised debug bundle instead (faster while iterating).
    let pkg = if std::env::var_os("DEV_WIDGET_DEBUG").is_some() {
        wasm::build_widget_pkg(env, wasm::Profile::Debug, false)?
    } else {
        wasm::build_widget_pkg(env, wasm::Profile::Release, true)?
    };
    println!("widget: {}", env::rel(env, &pkg.js).to_string_lossy());
    env::run(
        env.command("worker-build")
            .arg("--release")
            .current_dir(env.root.join("edge")),
    )?;
    env::run(
        env.cargo()
            .args(["build", "-p", "tests", "--bin", "dev-stack"]),
    )?;

    println!("\n==> starting {} service(s)", SERVICES.len());
    let mut running = Vec::with_capacity(SERVICES.len());
    let port = shop_port(std::env::var("DEV_SHOP_PORT").ok().as_deref())?;
    for service in SERVICES {
        // dev-stack serves the shop (its readiness URL) on DEV_SHOP_PORT: wait there.
        let service = Service { port, ..*service };
        // On failure, `running` is dropped here and every started group is stopped.
        running.push(service.start(env)?);
    }
    println!("\nall services up (the URL to open is in the box above). Ctrl-C stops them all.");

    loop {
        if proc::interrupted() {
            // The Ctrl-C handler is stopping the groups and exits the process.
            std::thread::sleep(POLL);
            continue;
        }
        for group in &mut running {
            if let Some(status) = group.exit_status()? {
                let name = group.name().to_owned();
                drop(running); // stop the others
                bail!("{name} exited ({status}); stopped the other services");
            }
        }
        std::thread::sleep(POLL);
    }
}

/// The demo shop's port: `DEV_SHOP_PORT` (as dev-stack reads it), else 8080.
fn shop_port(value: Option<&str>) -> Result<u16> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(8080),
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            Ok(_) | Err(_) => bail!("DEV_SHOP_PORT={text:?} is not a TCP port (1-65535)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_port_follows_dev_shop_port() {
        assert_eq!(shop_port(None).ok(), Some(8080));
        assert_eq!(shop_port(Some("")).ok(), Some(8080));
        assert_eq!(shop_port(Some("18080")).ok(), Some(18080));
        assert_eq!(shop_port(Some(" 9000 ")).ok(), Some(9000));
        for bad in ["0", "70000", "http", "-1"] {
            assert!(shop_port(Some(bad)).is_err(), "{bad}");
        }
    }
}
