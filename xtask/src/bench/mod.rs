//! `cargo xtask bench [--quick] [SUITE..]`: measures the project against its performance goals,
//! prints a table and writes `bench/results.json` (machine-readable, with the raw numbers) and
//! `bench/results.md` (the table `docs/performance.md` embeds: goal and pass/miss
//! per figure, then the machine it ran on).
//!
//! Suites, in order (each is timed; a suite that fails is reported and the others still run):
//!
//! | suite | what |
//! | --- | --- |
//! | `widget` | release widget bundle ([`crate::size::measure`]): first payload per locale (js + wasm + that locale's file), gzip -9 and brotli 11; each locale's on-demand file; English's share of the wasm |
//! | `edge-size` | `worker-build --release`, then gzip / brotli of `edge/build/index_bg.wasm` + `index.js` |
//! | `core` | criterion micro-benchmarks of checkout-core (`core/benches/core.rs`) |
//! | `ready` | `tests/src/bin/bench-stack.rs --skip overhead,ingest`: simulator + edge under `wrangler dev` + demo shop on loopback; time to ready and layout shift in Chromium (`bench/time_to_ready.mjs`), which encodings the edge serves the widget files with |
//! | `stack` | `tests/src/bin/bench-stack.rs --skip ready`: the same stack; edge overhead, callback ingest |
//! | `push` | `tests/src/bin/bench-push.rs`: callback received → SSE event delivered, p50 / p99 over 200 orders (edge under `wrangler dev`, loopback) |
//!
//! A full run (no arguments) writes `bench/`; `--quick` (small counts, for checking the
//! tooling) or a list of suites writes `target/bench/` instead, so a partial run never
//! replaces the published numbers. Exits non-zero if a suite cannot run or a figure misses
//! its goal (after writing the results). CI does not run this (too slow and noisy on shared
//! machines); it runs the widget size budget (`cargo xtask size`, the `widget-size` stage).
//!
//! Layout: this file wires the suites and writes the results; [`report`] is the figure and goal
//! model and its renderings, [`machine`] describes the machine, each suite has its own file,
//! and [`criterion`] reads criterion's output for the `core` suite.

mod core_micro;
mod criterion;
mod edge_size;
mod machine;
mod push;
mod report;
mod stack;
mod widget_payload;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::env::{self, Env};
use report::{Figure, Goal};

/// What a suite gets.
#[derive(Debug)]
struct Ctx<'a> {
    env: &'a Env,
    /// Small counts: checks the tooling, the numbers mean little.
    quick: bool,
    /// Raw outputs kept for results.json (e.g. the stack's JSON).
    raw: std::cell::RefCell<serde_json::Map<String, Value>>,
}

/// One suite of measurements.
#[derive(Debug)]
struct Suite {
    name: &'static str,
    run: fn(&Ctx<'_>) -> Result<Vec<Figure>>,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "widget",
        run: widget_payload::run,
    },
    Suite {
        name: "edge-size",
        run: edge_size::run,
    },
    Suite {
        name: "core",
        run: core_micro::run,
    },
    Suite {
        name: "ready",
        run: stack::run_ready,
    },
    Suite {
        name: "stack",
        run: stack::run_stack,
    },
    Suite {
        name: "push",
        run: push::run,
    },
];

pub(crate) fn run(env: &Env, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let names: Vec<&str> = args
        .iter()
        .filter(|a| *a != "--quick")
        .map(String::as_str)
        .collect();
    for name in &names {
        if name.starts_with('-') || !SUITES.iter().any(|s| s.name == *name) {
            let known: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
            bail!(
                "unknown bench suite or flag `{name}` (suites: {}; flag: --quick)",
                known.join(", ")
            );
        }
    }
    let full = !quick && names.is_empty();
    let ctx = Ctx {
        env,
        quick,
        raw: std::cell::RefCell::default(),
    };

    let started = Instant::now();
    let mut figures = Vec::new();
    let mut timings = Vec::new();
    let mut failures = Vec::new();
    for suite in SUITES
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
    {
        println!("\n==> bench suite `{}`", suite.name);
        let (result, took) = env::timed(|| (suite.run)(&ctx));
        timings.push((suite.name, took));
        match result {
            Ok(suite_figures) => {
                println!(
                    "<== {}: {} figure(s) in {}",
                    suite.name,
                    suite_figures.len(),
                    env::fmt_duration(took)
                );
                figures.extend(suite_figures);
            }
            Err(err) => {
                eprintln!(
                    "<== {} FAILED after {}: {err:#}",
                    suite.name,
                    env::fmt_duration(took)
                );
                figures.push(
                    Figure::not_measured(
                        suite.name,
                        format!("suite `{}`", suite.name),
                        format!("suite failed: {err:#}"),
                    )
                    .goal(Goal::AtMost(0.0)),
                );
                failures.push(suite.name);
            }
        }
    }
    let took = started.elapsed();

    let dir = if full {
        env.root.join("bench")
    } else {
        env.target_dir.join("bench")
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json_path = dir.join("results.json");
    let md_path = dir.join("results.md");
    let machine = machine::machine(env, &ctx);
    let raw = ctx.raw.take();
    write(
        &json_path,
        &(serde_json::to_string_pretty(&report::results_json(
            &figures, &timings, took, &machine, raw, quick,
        ))? + "\n"),
    )?;
    let mut table = report::markdown(&figures);
    let _ = write!(
        table,
        "\n{}Measured by `cargo xtask bench` in {} on {}. Times are medians (latencies: p50 / p99) \
         with the baseline measured in the same run.\n",
        if quick {
            "**Quick run: small counts, not meaningful.** "
        } else {
            ""
        },
        env::fmt_duration(took),
        machine["summary"].as_str().unwrap_or("this machine")
    );
    write(&md_path, &table)?;
    println!("\n{table}");
    println!(
        "wrote {} and {}{}",
        env::rel(env, &json_path).to_string_lossy(),
        env::rel(env, &md_path).to_string_lossy(),
        if full {
            ""
        } else {
            " (partial or quick run: bench/ is left as it is)"
        }
    );
    println!("bench took {}", env::fmt_duration(took));

    if !failures.is_empty() {
        bail!("bench suite(s) failed: {}", failures.join(", "));
    }
    let missed: Vec<String> = figures
        .iter()
        .filter(|f| f.pass() == Some(false))
        .map(|f| format!("{} `{}`", f.suite, f.name))
        .collect();
    if !missed.is_empty() {
        bail!(
            "{} of {} figure(s) with a goal missed it: {}",
            missed.len(),
            figures.iter().filter(|f| f.goal.is_some()).count(),
            missed.join(", ")
        );
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A number from a bench binary's JSON output, or an error naming where it was expected.
fn num(value: &Value, pointer: &str) -> Result<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .with_context(|| format!("bench-stack output has no number at {pointer}"))
}
