//! `cargo xtask fuzz --time N [TARGET...]`: runs every cargo-fuzz target in `fuzz/fuzz_targets`
//! (or the named ones) for N seconds each on the nightly toolchain
//! (`cargo +nightly fuzz run <target> -- -max_total_time=N`), parses libFuzzer's
//! `Done X runs in Y second(s)` line, and prints executions and crashes per target and in total.
//! Exits non-zero if any target crashed (the input is in `fuzz/artifacts/<target>/`; commit it
//! as a regression test in `core`). Not part of `cargo xtask test` / CI: it takes minutes.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::env::{self, Env};

/// What one target did.
#[derive(Debug, Default)]
struct Outcome {
    runs: u64,
    crashed: bool,
    artifacts: Vec<String>,
    took: Duration,
}

pub(crate) fn run(env: &Env, args: &[String]) -> Result<()> {
    let (seconds, filters) = parse_args(args)?;
    let targets = targets(env, &filters)?;
    // The rustup proxy (not `$CARGO`, which is the stable toolchain's cargo) understands `+nightly`.
    let cargo = env.cargo_bin.join("cargo");
    let nightly = || {
        let mut cmd = env.command(&cargo.to_string_lossy());
        for var in [
            "RUSTUP_TOOLCHAIN",
            "RUSTC",
            "RUSTDOC",
            "RUSTC_WRAPPER",
            "CARGO",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("+nightly");
        cmd
    };
    env::run(nightly().args(["fuzz", "build"])).context(
        "building the fuzz targets (is the nightly toolchain and cargo-fuzz installed?)",
    )?;

    let mut results = Vec::new();
    for target in &targets {
        println!("\n==> fuzz {target} for {seconds} s");
        let mut cmd = nightly();
        cmd.args(["fuzz", "run", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1");
        let (outcome, took) = env::timed(|| fuzz_one(&mut cmd));
        let mut outcome = outcome?;
        outcome.took = took;
        println!(
            "<== {target}: {} executions, {}",
            outcome.runs,
            if outcome.crashed {
                "CRASHED"
            } else {
                "0 crashes"
            }
        );
        results.push((target.clone(), outcome));
    }

    println!(
        "\n{:<18} {:>14} {:>8} {:>9}",
        "target", "executions", "crashes", "time"
    );
    let (mut total_runs, mut total_crashes) = (0u64, 0usize);
    for (target, outcome) in &results {
        let crashes = usize::from(outcome.crashed);
        total_runs += outcome.runs;
        total_crashes += crashes;
        println!(
            "{target:<18} {:>14} {crashes:>8} {:>9}",
            outcome.runs,
            env::fmt_duration(outcome.took)
        );
        for artifact in &outcome.artifacts {
            println!("    crash input: {artifact}");
        }
    }
    println!("{:<18} {total_runs:>14} {total_crashes:>8}", "total");
    if total_crashes > 0 {
        bail!(
            "{total_crashes} fuzz target(s) crashed; commit the inputs above as regression tests"
        );
    }
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(u64, Vec<String>)> {
    let mut seconds = None;
    let mut filters = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = if let Some(v) = arg.strip_prefix("--time=") {
            Some(v.to_owned())
        } else if arg == "--time" {
            Some(
                rest.next()
                    .context("--time needs a number of seconds")?
                    .clone(),
            )
        } else {
            None
        };
        match value {
            Some(v) => {
                let n: u64 = v
                    .parse()
                    .with_context(|| format!("--time {v}: not a number of seconds"))?;
                if n == 0 {
                    bail!("--time must be at least 1 second");
                }
                seconds = Some(n);
            }
            None if arg.starts_with('-') => {
                bail!("unknown option `{arg}` (usage: fuzz --time N [TARGET...])")
            }
            None => filters.push(arg.clone()),
        }
    }
    Ok((
        seconds.context("usage: cargo xtask fuzz --time N [TARGET...]")?,
        filters,
    ))
}

/// Target names: the `.rs` files of `fuzz/fuzz_targets`, sorted, filtered by `filters`.
fn targets(env: &Env, filters: &[String]) -> Result<Vec<String>> {
    let dir: PathBuf = env.root.join("fuzz").join("fuzz_targets");
    let mut all: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    all.sort();
    for filter in filters {
        if !all.contains(filter) {
            bail!("no fuzz target `{filter}`; targets: {}", all.join(", "));
        }
    }
    let chosen: Vec<String> = all
        .into_iter()
        .filter(|t| filters.is_empty() || filters.contains(t))
        .collect();
    if chosen.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(chosen)
}

/// Runs one target, echoing libFuzzer's notable lines, and reads its figures.
fn fuzz_one(cmd: &mut Command) -> Result<Outcome> {
    println!("$ {}", env::display(cmd));
    cmd.stdout(Stdio::inherit()).stderr(Stdio::piped());
    let mut child = crate::proc::Group::start("cargo fuzz", cmd)?;
    let stderr = child.take_stderr().context("libFuzzer's stderr")?;
    let mut outcome = Outcome::default();
    let (mut done, mut stat, mut last_status) = (None, None, None);
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading libFuzzer's output")?;
        if let Some(n) = parse_done(&line) {
            done = Some(n);
        } else if let Some(n) = line
            .strip_prefix("stat::number_of_executed_units:")
            .and_then(|v| v.trim().parse().ok())
        {
            stat = Some(n);
        } else if let Some(n) = parse_status(&line) {
            last_status = Some(n);
        }
        if let Some(path) = line.split("Test unit written to ").nth(1) {
            outcome.artifacts.push(path.trim().to_owned());
            outcome.crashed = true;
        }
        let notable = line.starts_with("Done ")
            || line.starts_with("stat::")
            || line.starts_with("INFO: Running with")
            || line.contains("ERROR")
            || line.contains("panicked")
            || line.contains("SUMMARY")
            || line.contains("Test unit written")
            || line.contains("DONE")
            || line.starts_with("error")
            || line.contains("Compiling")
            || line.contains("Finished");
        if notable {
            eprintln!("  {line}");
        }
    }
    let status = child.wait()?;
    child.stop();
    if !status.success() {
        outcome.crashed = true;
        if outcome.artifacts.is_empty() {
            eprintln!("  cargo fuzz exited with {status} and wrote no crash input");
        }
    }
    outcome.runs = done.or(stat).or(last_status).unwrap_or(0);
    Ok(outcome)
}

/// `Done 12345 runs in 60 second(s)` → 12345.
fn parse_done(line: &str) -> Option<u64> {
    line.strip_prefix("Done ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `#12345\tpulse  cov: ...` → 12345 (the latest status line, used when a crash cut the run short).
fn parse_status(line: &str) -> Option<u64> {
    let rest = line.strip_prefix('#')?;
    let digits: &str = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    if digits.is_empty() || !rest[digits.len()..].starts_with(['\t', ' ']) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_lines() {
        assert_eq!(
            parse_done("Done 15318947 runs in 61 second(s)"),
            Some(15_318_947)
        );
        assert_eq!(parse_done("Done x runs"), None);
        assert_eq!(
            parse_status("#262144\tpulse  cov: 219 ft: 512 corp: 80/1k exec/s: 131072"),
            Some(262_144)
        );
        assert_eq!(parse_status("#2\tINITED cov: 10"), Some(2));
        assert_eq!(parse_status("#x"), None);
    }

    #[test]
    fn args() {
        let (n, targets) =
            parse_args(&["--time".into(), "30".into(), "money_parse".into()]).expect("valid");
        assert_eq!((n, targets), (30, vec!["money_parse".to_owned()]));
        assert_eq!(parse_args(&["--time=5".into()]).expect("valid").0, 5);
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&["--time".into(), "0".into()]).is_err());
        assert!(parse_args(&["--bogus".into()]).is_err());
    }
}
