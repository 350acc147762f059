//! Suite `core`: criterion micro-benchmarks of checkout-core (`core/benches/*.rs`).

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};

use super::Ctx;
use super::criterion::{parse_criterion_output, read_medians};
use super::report::{Figure, Goal, Unit};
use crate::env;
use crate::proc::Group;

/// Goal for each core micro-benchmark (median time per iteration).
pub(super) const CORE_GOAL_NS: f64 = 2_000.0;

/// What each benchmark stands for (the notes column of `docs/performance.md`).
fn core_note(name: &str) -> Option<&'static str> {
    Some(match name {
        "sign_request" => "canonicalize + sign a create-order request",
        "verify_callback" => "parse + canonicalize + verify a callback's sign",
        "intent_mint" => "mint a checkout intent (HMAC-SHA256)",
        "intent_verify" => "verify a checkout intent",
        "state_transition" => "order state machine step",
        "canonical_string" => "canonical string of a callback",
        _ => return None,
    })
}

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let env = ctx.env;
    let benches = env.root.join("core").join("benches");
    let has_benches = std::fs::read_dir(&benches)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|ext| ext == "rs"))
        })
        .unwrap_or(false);
    if !has_benches {
        bail!(
            "core has no criterion benches: core/benches/*.rs is absent. Add core/benches/core.rs \
             (criterion, with `[[bench]] name = \"core\" harness = false` in core/Cargo.toml)"
        );
    }

    let criterion_home = env.target_dir.join("criterion");
    // Coarse mtime resolution: anything written from a second before the run belongs to it.
    let started = SystemTime::now() - Duration::from_secs(1);
    let mut cmd = env.cargo();
    // `--bench '*'`: only the criterion targets, not the lib's tests (all "ignored").
    cmd.args(["bench", "-p", "checkout-core", "--bench", "*"])
        .env("CRITERION_HOME", &criterion_home);
    if ctx.quick {
        cmd.args(["--", "--warm-up-time", "0.5", "--measurement-time", "1"]);
    }
    let stdout = run_capturing(&mut cmd)?;

    let printed = parse_criterion_output(&stdout);
    let medians = read_medians(&criterion_home, started)?;
    let mut figures: Vec<Figure> = printed
        .iter()
        .map(|(name, typical)| {
            let (statistic, value) = match medians.get(name) {
                Some(median) => ("median", *median),
                // No estimates.json (unexpected): criterion's printed typical value.
                None => ("typical", *typical),
            };
            core_figure(name, statistic, value)
        })
        .collect();
    // Benchmarks whose output we could not parse but whose estimates exist.
    for (name, median) in &medians {
        if !printed.iter().any(|(printed_name, _)| printed_name == name) {
            figures.push(core_figure(name, "median", *median));
        }
    }
    if figures.is_empty() {
        bail!("`cargo bench -p checkout-core` reported no criterion benchmarks");
    }
    Ok(figures)
}

fn core_figure(name: &str, statistic: &str, value: f64) -> Figure {
    let figure = Figure::new("core", name, statistic, value, Unit::Nanoseconds)
        .goal(Goal::AtMost(CORE_GOAL_NS));
    match core_note(name) {
        Some(note) => figure.note(note),
        None => figure,
    }
}

/// Runs `cmd`, echoing its stdout live, and returns that stdout.
fn run_capturing(cmd: &mut std::process::Command) -> Result<String> {
    let line = env::display(cmd);
    println!("$ {line}");
    cmd.stdout(Stdio::piped());
    let mut child = Group::start(&line, cmd)?;
    let mut captured = String::new();
    if let Some(stdout) = child.take_stdout() {
        for text in BufReader::new(stdout).lines() {
            let text = text.context("reading benchmark output")?;
            println!("{text}");
            captured.push_str(&text);
            captured.push('\n');
        }
    }
    let status = child.wait()?;
    child.stop();
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(captured)
}
