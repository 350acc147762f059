//! `cargo xtask bench`: measures the project against its performance goals and writes
//! `bench/results.json` (machine-readable) and `bench/results.md` (a table with goal and
//! pass/miss per figure). Exits non-zero if a suite cannot run or a figure misses its goal.
//!
//! Each suite produces [`Figure`]s. To add one (widget size, time-to-ready, edge overhead),
//! add an entry to [`SUITES`] and a function returning its figures; `crate::size::measure`
//! already gives the widget's gzip size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::env::{self, Env};

/// Goal for each core micro-benchmark (median time per iteration).
const CORE_GOAL_NS: f64 = 2_000.0;

/// One suite of measurements.
#[derive(Debug)]
struct Suite {
    name: &'static str,
    run: fn(&Env) -> Result<Vec<Figure>>,
}

const SUITES: &[Suite] = &[Suite {
    name: "core",
    run: core_micro,
}];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Nanoseconds,
    #[allow(dead_code, reason = "for the widget size suite")]
    Bytes,
    #[allow(dead_code, reason = "for the time-to-ready and edge overhead suites")]
    Milliseconds,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Bytes => "B",
            Unit::Milliseconds => "ms",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::Nanoseconds if value < 1.0 => format!("{:.1} ps", value * 1e3),
            Unit::Nanoseconds if value < 1e3 => format!("{value:.1} ns"),
            Unit::Nanoseconds if value < 1e6 => format!("{:.2} µs", value / 1e3),
            Unit::Nanoseconds => format!("{:.2} ms", value / 1e6),
            Unit::Bytes => format!("{value:.0} B"),
            Unit::Milliseconds => format!("{value:.1} ms"),
        }
    }
}

/// One measured number and the most it may be.
#[derive(Debug, Clone)]
struct Figure {
    suite: &'static str,
    name: String,
    /// What `value` is (e.g. "median").
    statistic: &'static str,
    value: f64,
    unit: Unit,
    /// Upper bound; `None` = informational.
    goal: Option<f64>,
}

impl Figure {
    fn pass(&self) -> Option<bool> {
        self.goal.map(|goal| self.value <= goal)
    }

    fn to_json(&self) -> Value {
        json!({
            "suite": self.suite,
            "name": self.name,
            "statistic": self.statistic,
            "value": self.value,
            "unit": self.unit.symbol(),
            "display": self.unit.format(self.value),
            "goal_max": self.goal,
            "goal_display": self.goal.map(|g| format!("≤ {}", self.unit.format(g))),
            "pass": self.pass(),
        })
    }
}

pub(crate) fn run(env: &Env) -> Result<()> {
    let mut figures = Vec::new();
    let mut timings = Vec::new();
    for suite in SUITES {
        println!("==> bench suite `{}`", suite.name);
        let (result, took) = env::timed(|| (suite.run)(env));
        let suite_figures =
            result.with_context(|| format!("bench suite `{}` failed", suite.name))?;
        println!(
            "<== {}: {} figure(s) in {}",
            suite.name,
            suite_figures.len(),
            env::fmt_duration(took)
        );
        timings.push((suite.name, took));
        figures.extend(suite_figures);
    }

    let dir = env.root.join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json_path = dir.join("results.json");
    let md_path = dir.join("results.md");
    write(
        &json_path,
        &(serde_json::to_string_pretty(&results_json(&figures, &timings))? + "\n"),
    )?;
    let table = markdown(&figures);
    write(&md_path, &table)?;
    println!("\n{table}");
    println!(
        "wrote {} and {}",
        env::rel(env, &json_path).to_string_lossy(),
        env::rel(env, &md_path).to_string_lossy()
    );

    let missed: Vec<&str> = figures
        .iter()
        .filter(|f| f.pass() == Some(false))
        .map(|f| f.name.as_str())
        .collect();
    if !missed.is_empty() {
        bail!(
            "{} of {} figure(s) missed their goal: {}",
            missed.len(),
            figures.len(),
            missed.join(", ")
        );
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn results_json(figures: &[Figure], timings: &[(&str, Duration)]) -> Value {
    let generated = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let suites: serde_json::Map<String, Value> = timings
        .iter()
        .map(|(name, took)| ((*name).to_owned(), json!({ "seconds": took.as_secs_f64() })))
        .collect();
    json!({
        "generated_unix": generated,
        "suites": suites,
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
    })
}

fn markdown(figures: &[Figure]) -> String {
    let mut md = String::from(
        "| suite | benchmark | value | goal | result |\n| --- | --- | ---: | ---: | --- |\n",
    );
    for f in figures {
        let goal = f
            .goal
            .map_or_else(|| "-".to_owned(), |g| format!("≤ {}", f.unit.format(g)));
        let result = match f.pass() {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "-",
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} {} | {goal} | {result} |",
            f.suite,
            f.name,
            f.statistic,
            f.unit.format(f.value)
        );
    }
    md
}

// ---------------------------------------------------------------------------------------
// core: criterion micro-benchmarks of checkout-core

fn core_micro(env: &Env) -> Result<Vec<Figure>> {
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
    let stdout = run_capturing(
        env.cargo()
            // `--bench '*'`: only the criterion targets, not the lib's tests (all "ignored").
            .args(["bench", "-p", "checkout-core", "--bench", "*"])
            .env("CRITERION_HOME", &criterion_home),
    )?;

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
            Figure {
                suite: "core",
                name: name.clone(),
                statistic,
                value,
                unit: Unit::Nanoseconds,
                goal: Some(CORE_GOAL_NS),
            }
        })
        .collect();
    // Benchmarks whose output we could not parse but whose estimates exist.
    for (name, median) in &medians {
        if !printed.iter().any(|(printed_name, _)| printed_name == name) {
            figures.push(Figure {
                suite: "core",
                name: name.clone(),
                statistic: "median",
                value: *median,
                unit: Unit::Nanoseconds,
                goal: Some(CORE_GOAL_NS),
            });
        }
    }
    if figures.is_empty() {
        bail!("`cargo bench -p checkout-core` reported no criterion benchmarks");
    }
    Ok(figures)
}

/// Runs `cmd`, echoing its stdout live, and returns that stdout.
fn run_capturing(cmd: &mut std::process::Command) -> Result<String> {
    let line = env::display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| env::spawn_error(cmd, &err))?;
    let mut captured = String::new();
    if let Some(stdout) = child.stdout.take() {
        for text in BufReader::new(stdout).lines() {
            let text = text.context("reading benchmark output")?;
            println!("{text}");
            captured.push_str(&text);
            captured.push('\n');
        }
    }
    let status = child.wait().context("waiting for cargo bench")?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(captured)
}

/// `(name, typical ns)` for each `time: [low typical high]` line criterion printed, in order.
/// Handles names on their own line (long names) and the `\r` progress residue.
fn parse_criterion_output(stdout: &str) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    let mut pending: Option<String> = None;
    for raw in stdout.lines() {
        let line = raw.rsplit('\r').next().unwrap_or(raw);
        if let Some(at) = line.find("time:") {
            let inline = line[..at].trim();
            let name = if inline.is_empty() {
                pending.take()
            } else {
                Some(inline.to_owned())
            };
            if let (Some(name), Some(ns)) = (name, parse_time_interval(&line[at + "time:".len()..]))
            {
                found.push((name, ns));
            }
            pending = None;
        } else if !line.is_empty() && !line.starts_with(char::is_whitespace) && !is_noise(line) {
            pending = Some(line.trim().to_owned());
        }
    }
    found
}

fn is_noise(line: &str) -> bool {
    [
        "Found ",
        "Benchmarking ",
        "running ",
        "test ",
        "Gnuplot ",
        "WARNING",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// `[605.92 ps 620.40 ps 635.26 ps]` → 0.6204 (ns), the middle value.
fn parse_time_interval(text: &str) -> Option<f64> {
    let inner = text.trim().strip_prefix('[')?.split(']').next()?;
    let words: Vec<&str> = inner.split_whitespace().collect();
    let [_, _, value, unit, _, _] = words.as_slice() else {
        return None;
    };
    let value: f64 = value.parse().ok()?;
    let scale = match *unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}

/// `full_id → median ns` from criterion's `<id>/new/{benchmark,estimates}.json` written since `since`.
fn read_medians(criterion_home: &Path, since: SystemTime) -> Result<BTreeMap<String, f64>> {
    let mut files = Vec::new();
    collect_benchmark_json(criterion_home, &mut files);
    let mut medians = BTreeMap::new();
    for file in files {
        let fresh = file
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= since);
        if !fresh {
            continue;
        }
        let dir = file.parent().context("benchmark.json has no parent")?;
        let meta: Value = read_json(&file)?;
        let estimates: Value = read_json(&dir.join("estimates.json"))?;
        if let (Some(id), Some(median)) = (
            meta["full_id"].as_str(),
            estimates["median"]["point_estimate"].as_f64(),
        ) {
            medians.insert(id.to_owned(), median);
        }
    }
    Ok(medians)
}

fn collect_benchmark_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                let file = path.join("benchmark.json");
                if file.is_file() {
                    out.push(file);
                }
            } else {
                collect_benchmark_json(&path, out);
            }
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

sign/md5                time:   [605.92 ps 620.40 ps 635.26 ps]
Found 2 outliers among 10 measurements (20.00%)
  1 (10.00%) low severe

a_really_long_benchmark_name_that_wraps_the_line_in_criterion_output
                        time:   [464.32 ns 505.95 ns 596.97 ns]
                        change: [-1.2% +0.3% +2.0%] (p = 0.70 > 0.05)

format/amount/100       time:   [1.2502 µs 1.2934 µs 1.3201 µs]
Benchmarking x: Analyzing\rtrust/v4 time:   [2.5 ms 3.0 ms 3.5 ms]
";

    #[test]
    fn parses_criterion_lines() {
        let parsed = parse_criterion_output(SAMPLE);
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "sign/md5",
                "a_really_long_benchmark_name_that_wraps_the_line_in_criterion_output",
                "format/amount/100",
                "trust/v4"
            ]
        );
        let ns: Vec<f64> = parsed.iter().map(|(_, v)| *v).collect();
        assert!((ns[0] - 0.6204).abs() < 1e-9);
        assert!((ns[1] - 505.95).abs() < 1e-9);
        assert!((ns[2] - 1293.4).abs() < 1e-6);
        assert!((ns[3] - 3.0e6).abs() < 1e-3);
    }

    #[test]
    fn formats_and_judges_figures() {
        let fig = Figure {
            suite: "core",
            name: "sign/md5".into(),
            statistic: "median",
            value: 1293.4,
            unit: Unit::Nanoseconds,
            goal: Some(CORE_GOAL_NS),
        };
        assert_eq!(fig.pass(), Some(true));
        assert_eq!(Unit::Nanoseconds.format(1293.4), "1.29 µs");
        assert!(
            markdown(&[fig]).contains("| core | `sign/md5` | median 1.29 µs | ≤ 2.00 µs | pass |")
        );
    }
}
