//! Project tasks, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod bench;
mod dev;
mod env;
mod fuzz;
mod proc;
mod service;
mod setup;
mod size;
mod test;
mod wasm;
mod wasm_names;
mod wasm_panic;

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::env::Env;

const HELP: &str = "\
Usage: cargo xtask <command> [args]

Commands:
  setup           Install what this machine lacks (wasm32 target, wasm-bindgen-cli at the
                  Cargo.lock version, worker-build, npm packages, Chromium); skips what is present
  test [STAGE..]  setup, then every test stage (or only the named ones); stops at the first failure
  bench [--quick] [SUITE..]
                  Measure size, speed and scale against their goals (widget, edge-size, core,
                  stack, push); a full run writes bench/results.json + bench/results.md
  size            Build the release widget (wasm-bindgen + wasm-opt -Os) and check its gzip
                  budgets: 40 KiB for checkout.js + checkout_bg.wasm, 1.5 KiB per locale file
  dev             setup, build, and run the local stack until Ctrl-C
  fuzz --time N [TARGET..]
                  Run each cargo-fuzz target N seconds (nightly); executions and crashes (not in CI)
  help            Show this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nerror: {err:#}");
            // Ctrl-C: the handler may still be stopping processes; exit as it would.
            if proc::interrupted() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        print!("{HELP}");
        bail!("no command given");
    };
    if matches!(command.as_str(), "help" | "--help" | "-h") {
        print!("{HELP}");
        return Ok(());
    }
    let env = Env::new()?;
    proc::install_signal_handler()?;
    let no_args = |name: &str| -> Result<()> {
        if let Some(extra) = rest.first() {
            bail!("`{name}` takes no arguments (got `{extra}`)");
        }
        Ok(())
    };
    let result = match command.as_str() {
        "setup" => no_args("setup").and_then(|()| setup::run(&env)),
        "test" => test::run(&env, rest),
        "bench" => bench::run(&env, rest),
        "size" => no_args("size").and_then(|()| size::run(&env)),
        "dev" => no_args("dev").and_then(|()| dev::run(&env)),
        "fuzz" => fuzz::run(&env, rest),
        other => {
            print!("{HELP}");
            bail!("unknown command `{other}`");
        }
    };
    // Nothing this run started may outlive it.
    proc::finish(&format!("`cargo xtask {command}`"), result)
}
