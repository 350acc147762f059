//! `cargo xtask dev`: setup, build, then run the local stack until Ctrl-C.
//!
//! The stack is [`SERVICES`]: each entry is started in its own process group, waited for
//! until its ready URL answers, and stopped (whole group) on Ctrl-C or when any of them exits.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::env::{self, Env};
use crate::proc::{self, Service};
use crate::{setup, wasm};

/// The local stack, started in this order. Adding a server is one entry, e.g.
///
/// ```text
/// Service { name: "simulator", program: "cargo", args: &["run", "-p", "tests", "--bin", "trustpay-sim"],
///           cwd: ".", env: &[], port: 8099, ready_path: "/health", ready_timeout: Duration::from_secs(300) },
/// Service { name: "edge", program: "wrangler",
///           args: &["dev", "--ip", "127.0.0.1", "--port", "8787", "--show-interactive-dev-session=false"],
///           cwd: "edge", env: &[("CI", "true")], port: 8787, ready_path: "/", ready_timeout: Duration::from_secs(60) },
/// ```
const SERVICES: &[Service] = &[];

/// How often to check whether a service died.
const POLL: Duration = Duration::from_millis(250);

pub(crate) fn run(env: &Env) -> Result<()> {
    setup::run(env)?;

    println!("\n==> build");
    let pkg = wasm::build_widget_pkg(env, wasm::Profile::Debug, false)?;
    println!("widget: {}", env::rel(env, &pkg.js).to_string_lossy());
    env::run(
        env.cargo()
            .args(["build", "-p", "edge", "--target", "wasm32-unknown-unknown"]),
    )?;

    if SERVICES.is_empty() {
        println!(
            "\nbuilt. No servers to run yet: the TrustPay simulator, the edge (`wrangler dev`) and the \
             www server are added to `cargo xtask dev` by later issues (one `SERVICES` entry each in xtask/src/dev.rs)."
        );
        return Ok(());
    }

    println!("\n==> starting {} service(s)", SERVICES.len());
    let mut running = Vec::with_capacity(SERVICES.len());
    for service in SERVICES {
        // On failure, `running` is dropped here and every started group is stopped.
        running.push(service.start(env)?);
    }
    println!("\nall services up:");
    for service in SERVICES {
        println!("  {:<12} {}", service.name, service.url("/"));
    }
    println!("Ctrl-C stops them all.");

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
