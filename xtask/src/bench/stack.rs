//! Suites `ready` (time to ready, layout shift and how the edge serves the widget files) and
//! `stack` (edge overhead and callback ingest), both measured by `tests/src/bin/bench-stack.rs`
//! against the local stack on loopback (each run starts its own).

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::report::{Figure, Goal, Unit};
use super::{Ctx, num};
use crate::env;

/// Goal for time to ready: widget page over the plain-button baseline.
const READY_GOAL_RATIO: f64 = 1.5;
/// Goal for what the edge adds to create-order and order-status (p50).
const OVERHEAD_GOAL_MS: f64 = 1.0;
/// Goal for callback ingest.
pub(super) const INGEST_GOAL_PER_S: f64 = 1_000.0;
/// Goal for callback ingest as a share of no-op `/healthz` throughput at the same concurrency.
const INGEST_GOAL_RATIO: f64 = 0.5;
/// Goals for D1 round trips per request (largest seen), per route.
const ROUND_TRIP_GOALS: [(&str, &str, f64); 3] = [
    ("create", "create-order", 2.0),
    ("status", "order-status", 1.0),
    ("callback", "callback", 1.0),
];

/// Suite `ready`: time to ready and layout shift in Chromium.
pub(super) fn run_ready(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    run(ctx, "ready", "overhead,ingest")
}

/// Suite `stack`: edge overhead and callback ingest.
pub(super) fn run_stack(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    run(ctx, "stack", "ready")
}

fn run(ctx: &Ctx<'_>, name: &str, skip: &str) -> Result<Vec<Figure>> {
    let env = ctx.env;
    for needed in [
        env.root.join("edge/build/index.js"),
        env.root.join("www/pkg/widget/v1/checkout.js"),
    ] {
        if !needed.is_file() {
            bail!(
                "{} is missing: run the `widget` and `edge-size` suites first (a full `cargo xtask bench` does)",
                env::rel(env, &needed).to_string_lossy()
            );
        }
    }
    let dir = env.target_dir.join("bench");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{name}.json"));
    let _ = std::fs::remove_file(&out);
    // release-native: the load driver shares two cores with workerd, so it must be cheap.
    let mut cmd = env.cargo();
    cmd.args([
        "run",
        "--quiet",
        "--profile",
        "release-native",
        "-p",
        "tests",
        "--bin",
        "bench-stack",
        "--",
        "--skip",
        skip,
        "--out",
    ])
    .arg(&out);
    if ctx.quick {
        cmd.arg("--quick");
    }
    env::run(&mut cmd)?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let data: Value = serde_json::from_str(&text).context("parsing the bench-stack output")?;
    let figures = stack_figures(&data)?;
    ctx.raw.borrow_mut().insert(name.into(), data);
    Ok(figures)
}

fn stack_figures(data: &Value) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(ready) = data.get("time_to_ready") {
        let runs = num(ready, "/widget/runs")?;
        let widget = num(ready, "/widget/median_ready_ms")?;
        let baseline = num(ready, "/baseline/median_ready_ms")?;
        let widget_ttfb = num(ready, "/widget/median_ttfb_ms")?;
        let baseline_ttfb = num(ready, "/baseline/median_ttfb_ms")?;
        let widget_after = num(ready, "/widget/median_after_ttfb_ms")?;
        let baseline_after = num(ready, "/baseline/median_after_ttfb_ms")?;
        let assets = ready["assets_served_by"].as_str().unwrap_or("?");
        let waterfall = match (
            num(ready, "/widget/median_js_end_ms"),
            num(ready, "/widget/median_wasm_start_ms"),
            num(ready, "/widget/median_wasm_end_ms"),
        ) {
            (Ok(js), Ok(wasm_start), Ok(wasm_end)) => format!(
                "; checkout.js loaded at {js:.0} ms (ready {:.0} ms after it: the script draws the button), wasm requested at {wasm_start:.0} ms and loaded at {wasm_end:.0} ms",
                widget - js
            ),
            _ => String::new(),
        };
        figures.push(
            Figure::new("time to ready", "shop page / → trustpay:ready", "median", widget, Unit::Milliseconds)
                .note(format!(
                    "{runs:.0} cold loads (new context, cache off), navigation start → event; TTFB {widget_ttfb:.1} ms (a new visitor gets the cart the shop minted ahead){waterfall}; widget files from the {assets}"
                )),
        );
        figures.push(
            Figure::new("time to ready", "baseline /baseline → plain button", "median", baseline, Unit::Milliseconds)
                .note(format!("the same shop page (same template, same server work) with a plain `<button>` where the checkout is; same loads, alternating with the widget page; TTFB {baseline_ttfb:.1} ms")),
        );
        figures.push(
            Figure::new(
                "time to ready",
                "widget / baseline",
                "ratio of medians",
                widget / baseline,
                Unit::Ratio,
            )
            .goal(Goal::AtMost(READY_GOAL_RATIO)),
        );
        if let Ok(fast) = num(ready, "/widget_static/median_ready_ms") {
            let js = num(ready, "/widget_static/median_js_end_ms")
                .map(|js| format!("; checkout.js loaded at {js:.0} ms"))
                .unwrap_or_default();
            figures.push(
                Figure::new("time to ready", "the same, widget files from a static file server", "median", fast, Unit::Milliseconds)
                    .note(format!(
                        "same loads, alternating with both pages{js}; a plain file server on loopback (www/pkg, uncompressed) instead of `wrangler dev`'s asset pipeline, which is slower locally than Cloudflare's static assets: the gap with that pipeline left out"
                    )),
            );
            figures.push(Figure::new(
                "time to ready",
                "widget (files from a static file server) / baseline",
                "ratio of medians",
                fast / baseline,
                Unit::Ratio,
            ));
        }
        figures.push(
            Figure::new("time to ready", "widget / baseline after first byte", "ratio of medians", widget_after / baseline_after, Unit::Ratio)
                .note(format!(
                    "(ready − TTFB): {widget_after:.1} ms vs {baseline_after:.1} ms; leaves out the shop's server time"
                )),
        );
        if let (Ok(max), Ok(median)) = (
            num(ready, "/widget/max_cls"),
            num(ready, "/widget/median_cls"),
        ) {
            figures.push(
                Figure::new("time to ready", "layout shift when the widget appears", "CLS, worst load", max, Unit::Score)
                    .goal(Goal::AtMost(0.0))
                    .note(format!(
                        "median {median:.4}; baseline worst {:.4}; PerformanceObserver `layout-shift` (no recent input) from navigation until the wasm has taken over and two frames later",
                        num(ready, "/baseline/max_cls").unwrap_or(f64::NAN)
                    )),
            );
        }
        if let Ok(handover) = num(ready, "/widget/median_handover_ms") {
            figures.push(
                Figure::new("time to ready", "shop page / → wasm took over", "median", handover, Unit::Milliseconds)
                    .note("navigation start → `TrustPayCheckout.ready` (wasm compiled, instantiated, mounted on the drawn button); a click before it is queued"),
            );
        }
        if let Some(encodings) = ready.get("encodings").and_then(Value::as_object) {
            let br = encodings
                .values()
                .filter(|v| v.as_str() == Some("br"))
                .count();
            let listed: Vec<String> = encodings
                .iter()
                .map(|(file, enc)| format!("{file}: {}", enc.as_str().unwrap_or("?")))
                .collect();
            figures.push(
                Figure::new(
                    "time to ready",
                    "widget files served with `br` (Accept-Encoding: br, gzip)",
                    "count",
                    br as f64,
                    Unit::Count,
                )
                .note(format!(
                    "{} of {} from the {assets}; {}",
                    br,
                    encodings.len(),
                    listed.join(", ")
                )),
            );
        }
    }
    figures.extend(run_figures(data, "", "")?);
    if let Some(sharded) = data.get("sharded") {
        let shards = num(sharded, "/shards")?;
        figures.extend(run_figures(
            sharded,
            &format!(" ({shards:.0} D1 shards)"),
            &format!(
                "; a second Worker with D1_SHARDS={shards:.0} in the same run (orders spread by a hash of the merchant order number). Local shards are SQLite files in one workerd process, on the same two cores: this shows what sharding costs locally, not the gain of {shards:.0} separate primaries in production"
            ),
        )?);
    }
    Ok(figures)
}

/// The edge overhead, callback ingest and round-trip figures of one Worker's runs, each name
/// ending in `suffix`; `ingest_note` is added to the ingest rate's note.
fn run_figures(data: &Value, suffix: &str, ingest_note: &str) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(overhead) = data.get("edge_overhead") {
        let concurrency = num(overhead, "/concurrency")?;
        let in_worker = |route: &str| {
            overhead
                .pointer(&format!("/worker_log/{route}/median_ms"))
                .and_then(Value::as_f64)
                .map_or_else(String::new, |ms| {
                    format!("; in-Worker time (its log, ms resolution) median {ms:.0} ms")
                })
        };
        for (key, label, route) in [
            ("create", "create-order", "create"),
            ("status", "order-status", "status"),
        ] {
            let n = num(overhead, &format!("/{key}/edge/requests"))?;
            let errors = num(overhead, &format!("/{key}/edge/errors"))?
                + num(overhead, &format!("/{key}/direct/errors"))?;
            for (side, what) in [("direct", "simulator direct"), ("edge", "through the edge")] {
                figures.push(
                    Figure::new(
                        "edge overhead",
                        format!("{label}: {what}{suffix}"),
                        "p50",
                        num(overhead, &format!("/{key}/{side}/p50_ms"))?,
                        Unit::Milliseconds,
                    )
                    .note(format!(
                        "p99 {:.2} ms",
                        num(overhead, &format!("/{key}/{side}/p99_ms"))?
                    )),
                );
            }
            let what = if key == "status" {
                "the edge answers from D1 (order younger than STATUS_REFRESH_SECONDS); direct = TrustPay order query"
            } else {
                "edge = intent check + D1 insert + signed call to the simulator + D1 updates"
            };
            figures.push(
                Figure::new(
                    "edge overhead",
                    format!("{label}: added by the edge{suffix}"),
                    "p50",
                    num(overhead, &format!("/{key}/added_p50_ms"))?,
                    Unit::Milliseconds,
                )
                .goal(Goal::AtMost(OVERHEAD_GOAL_MS))
                .note(format!(
                    "p99 +{:.1} ms; {n:.0} requests per side, {concurrency:.0} in flight, {errors:.0} errors; {what}{}",
                    num(overhead, &format!("/{key}/added_p99_ms"))?,
                    in_worker(route)
                )),
            );
        }
        if overhead.get("health").is_some() {
            figures.push(
                Figure::new(
                    "edge overhead",
                    format!("no-op (/healthz vs simulator /health): added{suffix}"),
                    "p50",
                    num(overhead, "/health/added_p50_ms")?,
                    Unit::Milliseconds,
                )
                .note(format!(
                    "p99 +{:.1} ms; no storage, no gateway: what wrangler dev's local proxy + workerd add to any request (production has no such hop)",
                    num(overhead, "/health/added_p99_ms")?
                )),
            );
        }
    }
    if let Some(ingest) = data.get("callback_ingest") {
        let n = num(ingest, "/callbacks")?;
        let errors = num(ingest, "/send/errors")?;
        figures.push(
            Figure::new("callback ingest", format!("signed callbacks → /v1/trustpay/callback{suffix}"), "rate", num(ingest, "/per_second")?, Unit::PerSecond)
                .goal(Goal::AtLeast(INGEST_GOAL_PER_S))
                .note(format!(
                    "{n:.0} callbacks (one per order, created through the edge first; no live stream open, so no Durable Object call: a watched order's change adds one, see push), {:.0} in flight, local D1; latency p50 {:.1} ms, p99 {:.1} ms; {errors:.0} errors{}{ingest_note}",
                    num(ingest, "/concurrency")?,
                    num(ingest, "/send/p50_ms")?,
                    num(ingest, "/send/p99_ms")?,
                    ingest
                        .pointer("/worker_log/callback/median_ms")
                        .and_then(Value::as_f64)
                        .map_or_else(String::new, |ms| format!("; in-Worker time median {ms:.0} ms")),
                )),
        );
        figures.push(
            Figure::new("callback ingest", format!("callbacks lost{suffix}"), "count", num(ingest, "/lost")?, Unit::Count)
                .goal(Goal::AtMost(0.0))
                .note(format!(
                    "counted in D1 afterwards: {:.0} orders paid, {:.0} `accepted` callback events, of {n:.0}",
                    num(ingest, "/d1_orders_paid")?,
                    num(ingest, "/d1_events_accepted")?
                )),
        );
        if let Ok(ratio) = num(ingest, "/ratio_to_healthz") {
            figures.push(
                Figure::new(
                    "callback ingest",
                    format!("callbacks / no-op /healthz at the same concurrency{suffix}"),
                    "ratio of rates",
                    ratio,
                    Unit::Ratio,
                )
                .goal(Goal::AtLeast(INGEST_GOAL_RATIO))
                .note(format!(
                    "/healthz {:.0}/s in the same run; the share of this machine's and runtime's request floor a callback keeps",
                    num(ingest, "/healthz/per_second")?
                )),
            );
        }
    }
    figures.extend(round_trip_figures(data, suffix));
    Ok(figures)
}

/// D1 round trips and Durable Object calls per request, per route, from the Worker's log
/// lines (the largest seen is the figure: the happy path of every request in the run).
fn round_trip_figures(data: &Value, suffix: &str) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (route, label, goal) in ROUND_TRIP_GOALS {
        // The ingest run's log has the creates and callbacks, the overhead run's the status.
        let found = ["/callback_ingest/worker_log", "/edge_overhead/worker_log"]
            .iter()
            .filter_map(|at| data.pointer(&format!("{at}/{route}")))
            .find(|r| r.get("d1_round_trips").is_some_and(|v| !v.is_null()));
        let Some(entry) = found else { continue };
        let (Ok(max), Ok(median)) = (
            num(entry, "/d1_round_trips/max"),
            num(entry, "/d1_round_trips/median"),
        ) else {
            continue;
        };
        let objects = num(entry, "/durable_object_calls/max").unwrap_or(0.0);
        let requests = num(entry, "/requests").unwrap_or(0.0);
        figures.push(
            Figure::new(
                "round trips",
                format!("{label}: D1 round trips per request{suffix}"),
                "max",
                max,
                Unit::Count,
            )
            .goal(Goal::AtMost(goal))
            .note(format!(
                "median {median:.0}; Durable Object calls per request at most {objects:.0}; {requests:.0} requests (a D1 batch() is one round trip; counted by the Worker, machine-independent)"
            )),
        );
    }
    figures
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stack_output_becomes_figures() {
        let data = json!({
            "time_to_ready": {
                "assets_served_by": "edge",
                "widget": {"runs": 20, "median_ready_ms": 150.0, "median_ttfb_ms": 30.0, "median_after_ttfb_ms": 120.0},
                "baseline": {"runs": 20, "median_ready_ms": 50.0, "median_ttfb_ms": 5.0, "median_after_ttfb_ms": 45.0},
                "widget_static": {"runs": 20, "median_ready_ms": 60.0, "median_js_end_ms": 30.0}
            },
            "edge_overhead": {
                "concurrency": 4,
                "create": {"direct": {"p50_ms": 0.5, "p99_ms": 1.0, "errors": 0, "requests": 100},
                           "edge": {"p50_ms": 10.5, "p99_ms": 20.0, "errors": 0, "requests": 100},
                           "added_p50_ms": 10.0, "added_p99_ms": 19.0},
                "status": {"direct": {"p50_ms": 0.2, "p99_ms": 0.5, "errors": 0, "requests": 100},
                           "edge": {"p50_ms": 0.9, "p99_ms": 2.0, "errors": 0, "requests": 100},
                           "added_p50_ms": 0.7, "added_p99_ms": 1.5}
            },
            "callback_ingest": {"callbacks": 100, "concurrency": 8, "per_second": 1200.0, "lost": 0,
                "d1_orders_paid": 100, "d1_events_accepted": 100,
                "send": {"errors": 0, "p50_ms": 5.0, "p99_ms": 9.0},
                "healthz": {"per_second": 2000.0}, "ratio_to_healthz": 0.6,
                "worker_log": {
                    "create": {"requests": 100, "median_ms": 9.0,
                        "d1_round_trips": {"median": 2, "max": 2}, "durable_object_calls": {"median": 0, "max": 0}},
                    "callback": {"requests": 100, "median_ms": 4.0,
                        "d1_round_trips": {"median": 2, "max": 3}, "durable_object_calls": {"median": 1, "max": 1}}
                }}
        });
        let mut data = data;
        data["sharded"] = json!({"shards": 4, "callback_ingest": data["callback_ingest"].clone()});
        data["sharded"]["callback_ingest"]["per_second"] = json!(900.0);
        let figures = stack_figures(&data).expect("figures");
        let get = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(get("widget / baseline").value, Some(3.0));
        assert_eq!(get("widget / baseline").pass(), Some(false));
        let fast = get("widget (files from a static file server) / baseline");
        assert_eq!((fast.value, fast.pass()), (Some(1.2), None));
        assert_eq!(get("create-order: added by the edge").pass(), Some(false));
        assert_eq!(get("order-status: added by the edge").pass(), Some(true));
        assert_eq!(
            get("signed callbacks → /v1/trustpay/callback").pass(),
            Some(true)
        );
        assert_eq!(get("callbacks lost").pass(), Some(true));
        assert_eq!(
            get("callbacks / no-op /healthz at the same concurrency").pass(),
            Some(true)
        );
        let create = get("create-order: D1 round trips per request");
        assert_eq!((create.value, create.pass()), (Some(2.0), Some(true)));
        let callback = get("callback: D1 round trips per request");
        assert_eq!((callback.value, callback.pass()), (Some(3.0), Some(false)));
        let sharded = get("signed callbacks → /v1/trustpay/callback (4 D1 shards)");
        assert_eq!((sharded.value, sharded.pass()), (Some(900.0), Some(false)));
        assert!(
            sharded
                .note
                .as_deref()
                .is_some_and(|n| n.contains("D1_SHARDS=4") && n.contains("separate primaries")),
            "{:?}",
            sharded.note
        );
        let sharded_trips = get("callback: D1 round trips per request (4 D1 shards)");
        assert_eq!(sharded_trips.value, Some(3.0));
        // No log lines for status in this output: no figure rather than a made-up one.
        assert!(
            !figures
                .iter()
                .any(|f| f.name == "order-status: D1 round trips per request")
        );
    }
}
