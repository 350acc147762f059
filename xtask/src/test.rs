//! `cargo xtask test [STAGE...]`: setup, then every test stage in order, stopping at the first
//! failure. Ends with a table of stages and durations and the line `N passed, M failed`.
//!
//! To add a stage (widget wasm-bindgen-test in Chromium, edge e2e with `wrangler dev` and the
//! simulator, Playwright), add one entry to [`STAGES`] and write its function below. Stages that
//! need servers start them with [`crate::service::Service::start`]; the returned group is stopped
//! when it goes out of scope, also when the stage fails. Every command a stage runs has its own
//! process group, stopped when the command ends; after each stage, a process of this run that is
//! still alive (one that left its group, like a browser its driver launched) is stopped and
//! fails the stage ([`proc::finish`]).

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::env::{self, Env};
use crate::{proc, setup};

/// One step of the test run.
#[derive(Debug)]
struct Stage {
    /// Short name, also usable as a filter: `cargo xtask test native`.
    name: &'static str,
    /// What it runs, for the header.
    what: &'static str,
    run: fn(&Env) -> Result<()>,
}

const STAGES: &[Stage] = &[
    Stage {
        name: "lint",
        what: "cargo fmt --check; cargo clippy -D warnings (native workspace, and widget + edge on wasm32)",
        run: lint,
    },
    Stage {
        name: "native",
        what: "cargo test --workspace",
        run: native,
    },
    Stage {
        name: "wasm-build",
        what: "cargo build -p widget -p edge --target wasm32-unknown-unknown",
        run: wasm_build,
    },
    Stage {
        name: "widget-browser",
        what: "cargo test -p widget --target wasm32-unknown-unknown (wasm-bindgen-test, headless Chromium)",
        run: widget_browser,
    },
    Stage {
        name: "widget-size",
        what: "release widget bundle (checkout.js + checkout_bg.wasm), gzip budget",
        run: crate::size::run,
    },
    Stage {
        name: "widget-bundle",
        what: "node widget/tests/bundle_smoke.mjs (the built checkout.js under strict CSP, Chromium)",
        run: widget_bundle,
    },
    Stage {
        name: "edge-build",
        what: "worker-build --release (in edge/)",
        run: edge_build,
    },
    Stage {
        name: "edge-e2e",
        what: "cargo test -p tests --test edge -- e2e:: attempts::payment_attempts --include-ignored (trustpay-sim + wrangler dev)",
        run: edge_e2e,
    },
    Stage {
        name: "edge-hardening",
        what: "cargo test -p tests --test edge -- bad_inputs:: callback_attacks:: upstream_faults:: abuse:: --include-ignored --test-threads=1",
        run: edge_hardening,
    },
    Stage {
        name: "edge-merchant",
        what: "cargo test -p tests --test edge -- merchant:: integrity:: attempts::attempt_notifications --include-ignored (notifications via local Queues, risk hook, client results, payment-state integrity)",
        run: edge_merchant,
    },
    Stage {
        name: "edge-live",
        what: "cargo test -p tests --test edge -- live:: --include-ignored (reconciliation cron via wrangler dev --test-scheduled; live order events)",
        run: edge_live,
    },
    Stage {
        name: "edge-sharded",
        what: "EDGE_D1_SHARDS=4 cargo test -p tests --test edge -- sharding:: e2e:: attempts:: integrity:: callback_attacks:: merchant:: live:: bad_inputs:: upstream_faults:: abuse::edge_abuse --include-ignored --test-threads=1 (every Worker on 4 D1 shards)",
        run: edge_sharded,
    },
    Stage {
        name: "merchant-kit",
        what: "redocly lint edge/openapi.yaml; examples/merchant-backend (Node, Python, PHP, Go) against tests/data/vectors.json, Node + Python against wrangler dev; wrangler deploy --dry-run",
        run: merchant_kit,
    },
    Stage {
        name: "browser-e2e",
        what: "node --test tests/e2e/*.test.mjs (Playwright, Chromium: demo shop + widget + edge + trustpay-sim via dev-stack)",
        run: browser_e2e,
    },
];

/// Formatting, and clippy with warnings as errors: the whole workspace natively, then the
/// crates whose browser/Worker shells only exist on wasm32 (every target that builds there).
/// All three run even if one fails, so one run shows every finding.
fn lint(env: &Env) -> Result<()> {
    let checks: [&[&str]; 3] = [
        &["fmt", "--all", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[
            "clippy",
            "-p",
            "widget",
            "-p",
            "edge",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ];
    let failed: Vec<String> = checks
        .iter()
        .filter_map(|args| env::run(env.cargo().args(*args)).err())
        .map(|err| format!("{err:#}"))
        .collect();
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Native unit, property and integration tests of the whole workspace.
fn native(env: &Env) -> Result<()> {
    env::run(env.cargo().args(["test", "--workspace"]))
}

/// The browser widget and the Cloudflare worker compile for wasm32.
fn wasm_build(env: &Env) -> Result<()> {
    env::run(env.cargo().args([
        "build",
        "-p",
        "widget",
        "-p",
        "edge",
        "--target",
        "wasm32-unknown-unknown",
    ]))
}

/// The widget's DOM tests (`widget/tests/web.rs`) in headless Chromium. The runner comes from
/// `.cargo/config.toml`, chromedriver from `CHROMEDRIVER` (set by [`Env`]), browser flags from
/// `widget/webdriver.json` (the runner reads it from the package directory).
fn widget_browser(env: &Env) -> Result<()> {
    env::run(
        env.cargo()
            .args(["test", "-p", "widget", "--target", "wasm32-unknown-unknown"])
            .current_dir(env.root.join("widget")),
    )
}

/// The shipped bundle from `widget-size` (`www/pkg/widget/v1/`): one-tag embed, `mount()`,
/// `<trustpay-checkout>`, and the fallback when CSP blocks wasm, via playwright-core.
fn widget_bundle(env: &Env) -> Result<()> {
    env::run(env.command("node").arg("widget/tests/bundle_smoke.mjs"))
}

/// The Worker bundle `wrangler dev` / `wrangler deploy` run: `edge/build/index.js` + wasm.
/// worker-build finds wasm-bindgen, wasm-opt and esbuild through the env's `*_BIN` variables.
fn edge_build(env: &Env) -> Result<()> {
    env::run(
        env.command("worker-build")
            .arg("--release")
            .current_dir(env.root.join("edge")),
    )
}

/// End-to-end: the simulator in-process, the built Worker under `wrangler dev`, local D1.
/// The tests are `#[ignore]`d in the plain `cargo test --workspace` run (they need the build).
fn edge_e2e(env: &Env) -> Result<()> {
    edge_suites(
        env,
        1,
        &["e2e::", "attempts::payment_attempts"],
        Workers::Parallel,
    )
}

/// How many of an edge stage's Workers run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workers {
    /// As many as the test harness likes.
    Parallel,
    /// One at a time (suites that time retries, or start many Workers).
    OneAtATime,
}

/// `cargo test -p tests --test edge -- <filters> --include-ignored` with every Worker on
/// `shards` D1 databases (`EDGE_D1_SHARDS`, read by the suites' fixture).
fn edge_suites(env: &Env, shards: u32, filters: &[&str], workers: Workers) -> Result<()> {
    let mut cargo = env.cargo();
    if shards > 1 {
        cargo.env("EDGE_D1_SHARDS", shards.to_string());
    }
    cargo.args(["test", "-p", "tests", "--test", "edge", "--"]);
    cargo.args(filters).arg("--include-ignored");
    if workers == Workers::OneAtATime {
        cargo.arg("--test-threads=1");
    }
    env::run(&mut cargo)
}

/// Hardening (`docs/reliability.md`): the bad-input table, callback attacks and upstream faults,
/// each ending with the secret-leak scan; one `wrangler dev` per suite, like `edge-e2e`.
fn edge_hardening(env: &Env) -> Result<()> {
    // One Worker at a time, as when they were three test binaries.
    edge_suites(
        env,
        1,
        &[
            "bad_inputs::",
            "callback_attacks::",
            "upstream_faults::",
            "abuse::",
        ],
        Workers::OneAtATime,
    )
}

/// Merchant integrations end-to-end: signed notifications through the local Queue to a
/// local receiver, the risk-control hook (also called by the simulator), client results.
fn edge_merchant(env: &Env) -> Result<()> {
    // One Worker at a time: the suites time webhook retries.
    edge_suites(
        env,
        1,
        &[
            "merchant::",
            "integrity::",
            "attempts::attempt_notifications",
        ],
        Workers::OneAtATime,
    )
}

/// Live order status end-to-end: the reconciliation cron (triggered through `wrangler dev
/// --test-scheduled`) and the live order-event channel.
fn edge_live(env: &Env) -> Result<()> {
    edge_suites(env, 1, &["live::"], Workers::Parallel)
}

/// D1 sharding: the focused suite (orders spread over 4 shards, every path across orders sees
/// all of them), then the other edge suites again with every Worker on 4 shards
/// (`EDGE_D1_SHARDS`, read by the suites' fixture): the state machine, integrity, callback
/// attacks, merchant notifications (outbox, cron, dead letters, replay), the reconciliation
/// cron and live events, bad inputs, upstream faults and abuse. Left out:
/// `abuse::edge_weak_configuration` (nine Workers refusing their configuration before any D1
/// access, nothing to shard; each start migrates 4 databases, ~200 s in all), `merchant_kit::`
/// (the examples against a Worker; stage `merchant-kit`). `merchant::` onwards add about
/// 3.5 min.
fn edge_sharded(env: &Env) -> Result<()> {
    // One Worker at a time, as in edge-hardening and edge-merchant.
    edge_suites(
        env,
        4,
        &[
            "sharding::",
            "e2e::",
            "attempts::",
            "integrity::",
            "callback_attacks::",
            "merchant::",
            "live::",
            "bad_inputs::",
            "upstream_faults::",
            "abuse::edge_abuse",
        ],
        Workers::OneAtATime,
    )
}

/// The merchant backend kit: the OpenAPI lint, each language's example against the shared
/// vectors (each prints its results), the Node and Python examples against a live edge
/// (`merchant_kit::` of the edge suite: offline intent, order, payment in the simulator, the
/// real notification verified with the Standard Webhooks library, the result token), and
/// `wrangler deploy --dry-run` of the built Worker (bundle, assets and bindings resolve), with
/// its upload size. Interpreters come from [`setup`] (PHP and Go from Debian, the Python venv).
fn merchant_kit(env: &Env) -> Result<()> {
    if !env.root.join("edge/build/index.js").is_file() {
        bail!("edge/build/index.js is missing: run the edge-build stage first");
    }
    env::run(env.command("redocly").args([
        "lint",
        "--extends",
        "recommended-strict",
        "edge/openapi.yaml",
    ]))?;
    let vectors = env.root.join("tests/data/vectors.json");
    let kit = env.root.join("examples/merchant-backend");
    let python = setup::merchant_kit_python(env);
    env::run(
        env.command("node")
            .arg("vectors.mjs")
            .arg(&vectors)
            .current_dir(kit.join("node")),
    )?;
    env::run(
        env.command(&python.to_string_lossy())
            .arg("vectors.py")
            .arg(&vectors)
            .current_dir(kit.join("python")),
    )?;
    env::run(
        env.command("php")
            .arg("vectors.php")
            .arg(&vectors)
            .current_dir(kit.join("php")),
    )?;
    // Standard library only: no module download, a cache under target/.
    env::run(
        env.command("go")
            .args(["test", "-v", "-count=1", "./..."])
            .env("VECTORS", &vectors)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env(
                "GOCACHE",
                env.target_dir.join("merchant-kit").join("go-cache"),
            )
            .current_dir(kit.join("go")),
    )?;
    env::run(
        env.cargo()
            .args([
                "test",
                "-p",
                "tests",
                "--test",
                "edge",
                "--",
                "merchant_kit::",
                "--include-ignored",
                // Show each example's live run.
                "--nocapture",
            ])
            .env("MERCHANT_KIT_PYTHON", &python),
    )?;
    let outdir = env.target_dir.join("merchant-kit").join("deploy");
    let report = env::output(
        env.command("wrangler")
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(&outdir)
            .current_dir(env.root.join("edge")),
    )?;
    let size = report
        .lines()
        .find(|line| line.contains("Total Upload"))
        .map(str::trim)
        .context("wrangler deploy --dry-run printed no `Total Upload` line")?;
    println!("wrangler deploy --dry-run: {size}");
    Ok(())
}

/// The real-browser suite (`tests/e2e/`, node's built-in test runner + playwright-core) against
/// the whole stack: `dev-stack` (simulator, `wrangler dev` serving the widget from www/pkg, demo
/// shop) on free ports with per-run credentials, which the suite checks never reach the page.
/// Builds nothing new: it uses the widget-size and edge-build stages' output.
fn browser_e2e(env: &Env) -> Result<()> {
    use std::hash::{BuildHasher as _, Hasher as _};
    for built in ["www/pkg/widget/v1/checkout.js", "edge/build/index.js"] {
        if !env.root.join(built).is_file() {
            bail!("{built} is missing: run the widget-size and edge-build stages first");
        }
    }
    // `cargo test --workspace` (native stage) already built it; this is a no-op then.
    env::run(
        env.cargo()
            .args(["build", "-q", "-p", "tests", "--bin", "dev-stack"]),
    )?;
    let artifacts = env.root.join("tests").join("artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let ready = artifacts.join("dev-stack.ready.json");
    let _ = std::fs::remove_file(&ready);
    let log = artifacts.join("dev-stack.log");
    let secret = |label: &str| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(label.as_bytes());
        format!("e2e-{label}-{:016x}{:08x}", h.finish(), std::process::id())
    };
    let (api_key, trustpay_secret, intent_secret, token, refund_token) = (
        secret("key"),
        secret("secret"),
        secret("intent"),
        secret("token"),
        secret("refund"),
    );

    let log_file = std::fs::File::create(&log)?;
    let mut cmd = env.command(
        &env.target_dir
            .join("debug")
            .join("dev-stack")
            .to_string_lossy(),
    );
    cmd.args([
        "--sim-port",
        "0",
        "--edge-port",
        "0",
        "--shop-port",
        "0",
        "--quiet",
    ])
    .env("DEV_STACK_READY_FILE", &ready)
    .env("TRUSTPAY_API_KEY", &api_key)
    .env("TRUSTPAY_SECRET", &trustpay_secret)
    .env("INTENT_SECRET", &intent_secret)
    .env("MERCHANT_API_TOKEN", &token)
    .env("MERCHANT_REFUND_TOKEN", &refund_token)
    .stdout(log_file.try_clone()?)
    .stderr(log_file);
    let mut stack = crate::proc::Group::spawn("dev-stack", cmd)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let urls: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(value) = serde_json::from_str(&text)
        {
            break value;
        }
        if stack.exit_status()?.is_some() || std::time::Instant::now() > deadline {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "dev-stack did not start; its log ({}):\n{out}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let url = |key: &str| urls[key].as_str().unwrap_or_default().to_owned();
    println!(
        "dev-stack up: shop {}, edge {}, sim {} (log: tests/artifacts/dev-stack.log)",
        url("shop"),
        url("edge"),
        url("sim")
    );
    let result = env::run(
        env.command("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                "tests/e2e/*.test.mjs",
            ])
            .env("E2E_SHOP", url("shop"))
            .env("E2E_EDGE", url("edge"))
            .env("E2E_SIM", url("sim"))
            .env("E2E_MERCHANT_TOKEN", &token)
            .env("E2E_REFUND_TOKEN", &refund_token)
            .env(
                "E2E_SECRETS",
                [
                    &api_key,
                    &trustpay_secret,
                    &intent_secret,
                    &token,
                    &refund_token,
                ]
                .map(String::as_str)
                .join(","),
            ),
    );
    stack.stop();
    result
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Passed,
    Failed,
    NotRun,
}

pub(crate) fn run(env: &Env, filters: &[String]) -> Result<()> {
    let stages = select(filters)?;
    let (setup_result, setup_took) = env::timed(|| setup::run(env));
    setup_result?;

    let mut results: Vec<(&Stage, Status, Duration)> = Vec::new();
    let mut failure = None;
    for (index, stage) in stages.iter().enumerate() {
        if failure.is_some() {
            results.push((stage, Status::NotRun, Duration::ZERO));
            continue;
        }
        println!(
            "\n==> [{}/{}] {}: {}",
            index + 1,
            stages.len(),
            stage.name,
            stage.what
        );
        let (outcome, took) =
            env::timed(|| proc::finish(&format!("stage `{}`", stage.name), (stage.run)(env)));
        match outcome {
            Ok(()) => {
                println!("<== {}: passed in {}", stage.name, env::fmt_duration(took));
                results.push((stage, Status::Passed, took));
            }
            Err(err) => {
                println!(
                    "<== {}: FAILED after {}: {err:#}",
                    stage.name,
                    env::fmt_duration(took)
                );
                results.push((stage, Status::Failed, took));
                failure = Some(stage.name);
            }
        }
    }

    print_summary(setup_took, &results);
    let passed = results
        .iter()
        .filter(|(_, status, _)| *status == Status::Passed)
        .count();
    let failed = results
        .iter()
        .filter(|(_, status, _)| *status == Status::Failed)
        .count();
    println!("{passed} passed, {failed} failed");
    match failure {
        None => Ok(()),
        Some(name) => bail!("stage `{name}` failed"),
    }
}

fn select(filters: &[String]) -> Result<Vec<&'static Stage>> {
    if filters.is_empty() {
        return Ok(STAGES.iter().collect());
    }
    for filter in filters {
        if !STAGES.iter().any(|stage| stage.name == filter) {
            let names: Vec<&str> = STAGES.iter().map(|stage| stage.name).collect();
            bail!("no test stage `{filter}`; stages: {}", names.join(", "));
        }
    }
    Ok(STAGES
        .iter()
        .filter(|stage| filters.iter().any(|f| f == stage.name))
        .collect())
}

fn print_summary(setup_took: Duration, results: &[(&Stage, Status, Duration)]) {
    let width = results
        .iter()
        .map(|(stage, _, _)| stage.name.len())
        .max()
        .unwrap_or(0)
        .max("(setup)".len());
    println!("\n{:<width$}  {:<7}  {:>9}", "stage", "result", "time");
    println!(
        "{:<width$}  {:<7}  {:>9}",
        "(setup)",
        "done",
        env::fmt_duration(setup_took)
    );
    let mut total = setup_took;
    for (stage, status, took) in results {
        let (label, time) = match status {
            Status::Passed => ("passed", env::fmt_duration(*took)),
            Status::Failed => ("FAILED", env::fmt_duration(*took)),
            Status::NotRun => ("not run", "-".to_owned()),
        };
        total += *took;
        println!("{:<width$}  {label:<7}  {time:>9}", stage.name);
    }
    println!(
        "{:<width$}  {:<7}  {:>9}",
        "total",
        "",
        env::fmt_duration(total)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_unique_and_selectable() {
        let mut names: Vec<&str> = STAGES.iter().map(|stage| stage.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STAGES.len());
        assert_eq!(select(&["native".to_owned()]).expect("exists").len(), 1);
        assert!(select(&["nope".to_owned()]).is_err());
        // Lint runs first, right after setup: a formatting slip fails in seconds, not after
        // the e2e suites.
        assert_eq!(STAGES.first().map(|stage| stage.name), Some("lint"));
    }
}
