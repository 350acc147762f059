//! Suite `push`: callback received → live event delivered, measured by
//! `tests/src/bin/bench-push.rs` (edge under `wrangler dev`, loopback).

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::report::{Figure, Goal, Unit};
use super::{Ctx, num};
use crate::env;

/// Goal for callback → SSE event on loopback (p50).
const PUSH_GOAL_MS: f64 = 50.0;

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let env = ctx.env;
    let built = env.root.join("edge/build/index.js");
    if !built.is_file() {
        bail!(
            "edge/build/index.js is missing: run the `edge-size` suite first (a full `cargo xtask bench` does)"
        );
    }
    let dir = env.target_dir.join("bench");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("push.json");
    let _ = std::fs::remove_file(&out);
    let mut cmd = env.cargo();
    cmd.args([
        "run",
        "--quiet",
        "--profile",
        "release-native",
        "-p",
        "tests",
        "--bin",
        "bench-push",
        "--",
        "--out",
    ])
    .arg(&out);
    if ctx.quick {
        cmd.arg("--quick");
    }
    env::run(&mut cmd)?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let data: Value = serde_json::from_str(&text).context("parsing the bench-push output")?;
    let orders = num(&data, "/orders")?;
    let note = format!(
        "{orders:.0} orders one at a time, wrangler dev on loopback: signed paid callback POSTed → its SSE event read on an open stream (D1 update + Durable Object fan-out); p90 {:.1} ms, max {:.1} ms; the callback's 200 came after the event {:.0}/{orders:.0} times (ack p50 {:.1} ms)",
        num(&data, "/callback_to_event/p90_ms")?,
        num(&data, "/callback_to_event/max_ms")?,
        num(&data, "/event_before_ack")?,
        num(&data, "/callback_ack/p50_ms")?,
    );
    let figures = vec![
        Figure::new(
            "push",
            "callback → SSE event delivered",
            "p50",
            num(&data, "/callback_to_event/p50_ms")?,
            Unit::Milliseconds,
        )
        .goal(Goal::AtMost(PUSH_GOAL_MS))
        .note(note),
        Figure::new(
            "push",
            "callback → SSE event delivered",
            "p99",
            num(&data, "/callback_to_event/p99_ms")?,
            Unit::Milliseconds,
        ),
        Figure::not_measured(
            "push",
            "callback → visible in the page",
            "not measured by the bench: the browser-e2e suite (`tests/e2e/push.test.mjs`) asserts payment at the simulator → \"Paid\" on screen ≤ 1 s in Chromium and prints the time (57 ms when added)",
        ),
    ];
    ctx.raw.borrow_mut().insert("push".into(), data);
    Ok(figures)
}
