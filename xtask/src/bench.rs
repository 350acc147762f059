//! `cargo xtask bench [--quick] [SUITE..]`: measures the project against its performance goals,
//! prints a table and writes `bench/results.json` (machine-readable, with the raw numbers) and
//! `bench/results.md` (the table the README's "Performance" section embeds: goal and pass/miss
//! per figure, then the machine it ran on).
//!
//! Suites, in order (each is timed; a suite that fails is reported and the others still run):
//!
//! | suite | what |
//! | --- | --- |
//! | `widget` | release widget bundle ([`crate::size::measure`]): js + wasm raw, gzip -9, brotli 11; each locale's share |
//! | `edge-size` | `worker-build --release`, then gzip / brotli of `edge/build/index_bg.wasm` + `index.js` |
//! | `core` | criterion micro-benchmarks of checkout-core (`core/benches/core.rs`) |
//! | `stack` | `tests/src/bin/bench-stack.rs`: simulator + edge under `wrangler dev` + demo shop on loopback; time to ready in Chromium (`bench/time_to_ready.mjs`), edge overhead, callback ingest |
//! | `push` | `tests/src/bin/bench-push.rs`: callback received → SSE event delivered, p50 / p99 over 200 orders (edge under `wrangler dev`, loopback) |
//!
//! A full run (no arguments) writes `bench/`; `--quick` (small counts, for checking the
//! tooling) or a list of suites writes `target/bench/` instead, so a partial run never
//! replaces the published numbers. Exits non-zero if a suite cannot run or a figure misses
//! its goal (after writing the results). CI does not run this (too slow and noisy on shared
//! machines); it runs the widget size budget (`cargo xtask size`, the `widget-size` stage).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::env::{self, Env};
use crate::size;

/// Goal for each core micro-benchmark (median time per iteration).
const CORE_GOAL_NS: f64 = 2_000.0;
/// Goal for the widget (js + wasm, gzip -9). CI's hard budget is [`size::GZIP_BUDGET`].
const WIDGET_GOAL_BYTES: f64 = 45.0 * 1024.0;
/// Goal for the edge Worker (index_bg.wasm + index.js, gzip -9).
const EDGE_GOAL_BYTES: f64 = 400.0 * 1024.0;
/// Goal for time to ready: widget page over the plain-button baseline.
const READY_GOAL_RATIO: f64 = 1.5;
/// Goal for what the edge adds to create-order and order-status (p50).
const OVERHEAD_GOAL_MS: f64 = 1.0;
/// Goal for callback ingest.
const INGEST_GOAL_PER_S: f64 = 1_000.0;

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
        run: widget_payload,
    },
    Suite {
        name: "edge-size",
        run: edge_size,
    },
    Suite {
        name: "core",
        run: core_micro,
    },
    Suite {
        name: "stack",
        run: stack,
    },
    Suite {
        name: "push",
        run: push,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Nanoseconds,
    Bytes,
    Milliseconds,
    Ratio,
    PerSecond,
    Count,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Bytes => "B",
            Unit::Milliseconds => "ms",
            Unit::Ratio => "x",
            Unit::PerSecond => "1/s",
            Unit::Count => "count",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::Nanoseconds if value < 1.0 => format!("{:.1} ps", value * 1e3),
            Unit::Nanoseconds if value < 1e3 => format!("{value:.1} ns"),
            Unit::Nanoseconds if value < 1e6 => format!("{:.2} µs", value / 1e3),
            Unit::Nanoseconds => format!("{:.2} ms", value / 1e6),
            Unit::Bytes if value.abs() < 10.0 * 1024.0 => format!("{value:.0} B"),
            Unit::Bytes => format!("{:.1} KiB", value / 1024.0),
            Unit::Milliseconds if value.abs() < 10.0 => format!("{value:.2} ms"),
            Unit::Milliseconds => format!("{value:.1} ms"),
            Unit::Ratio => format!("{value:.2}×"),
            Unit::PerSecond => format!("{value:.0}/s"),
            Unit::Count => format!("{value:.0}"),
        }
    }
}

/// The bound a figure must stay within.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(goal) => value <= goal,
            Goal::AtLeast(goal) => value >= goal,
        }
    }

    fn display(self, unit: Unit) -> String {
        match self {
            Goal::AtMost(goal) => format!("≤ {}", unit.format(goal)),
            Goal::AtLeast(goal) => format!("≥ {}", unit.format(goal)),
        }
    }
}

/// One measured number, its goal and a note.
#[derive(Debug, Clone)]
struct Figure {
    suite: &'static str,
    name: String,
    /// What `value` is (e.g. "median", "gzip -9", "p50").
    statistic: String,
    /// `None`: not measured (the note says why).
    value: Option<f64>,
    unit: Unit,
    /// `None` = informational.
    goal: Option<Goal>,
    note: Option<String>,
}

impl Figure {
    fn new(
        suite: &'static str,
        name: impl Into<String>,
        statistic: impl Into<String>,
        value: f64,
        unit: Unit,
    ) -> Self {
        Self {
            suite,
            name: name.into(),
            statistic: statistic.into(),
            value: Some(value),
            unit,
            goal: None,
            note: None,
        }
    }

    fn not_measured(suite: &'static str, name: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            suite,
            name: name.into(),
            statistic: String::new(),
            value: None,
            unit: Unit::Milliseconds,
            goal: None,
            note: Some(why.into()),
        }
    }

    fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn pass(&self) -> Option<bool> {
        match (self.goal, self.value) {
            (Some(goal), Some(value)) => Some(goal.met(value)),
            (Some(_), None) => Some(false),
            (None, _) => None,
        }
    }

    fn display_value(&self) -> String {
        match self.value {
            Some(value) => format!("{} {}", self.statistic, self.unit.format(value))
                .trim()
                .to_owned(),
            None => "not measured".to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "suite": self.suite,
            "name": self.name,
            "statistic": self.statistic,
            "value": self.value,
            "unit": self.unit.symbol(),
            "display": self.value.map(|v| self.unit.format(v)),
            "goal_max": match self.goal { Some(Goal::AtMost(g)) => Some(g), _ => None },
            "goal_min": match self.goal { Some(Goal::AtLeast(g)) => Some(g), _ => None },
            "goal_display": self.goal.map(|g| g.display(self.unit)),
            "pass": self.pass(),
            "note": self.note,
        })
    }
}

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
    let machine = machine(env, &ctx);
    let raw = ctx.raw.take();
    write(
        &json_path,
        &(serde_json::to_string_pretty(&results_json(
            &figures, &timings, took, &machine, raw, quick,
        ))? + "\n"),
    )?;
    let mut table = markdown(&figures);
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

fn results_json(
    figures: &[Figure],
    timings: &[(&str, Duration)],
    took: Duration,
    machine: &Value,
    raw: serde_json::Map<String, Value>,
    quick: bool,
) -> Value {
    let generated = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let suites: serde_json::Map<String, Value> = timings
        .iter()
        .map(|(name, took)| ((*name).to_owned(), json!({ "seconds": took.as_secs_f64() })))
        .collect();
    json!({
        "generated_unix": generated,
        "quick": quick,
        "seconds": took.as_secs_f64(),
        "machine": machine,
        "suites": suites,
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
        "raw": raw,
    })
}

fn markdown(figures: &[Figure]) -> String {
    let mut md = String::from(
        "| suite | benchmark | value | goal | result | notes |\n| --- | --- | ---: | ---: | --- | --- |\n",
    );
    for f in figures {
        let goal = f.goal.map_or_else(|| "-".to_owned(), |g| g.display(f.unit));
        let result = match f.pass() {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "-",
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {goal} | {result} | {} |",
            f.suite,
            f.name,
            f.display_value(),
            f.note
                .as_deref()
                .unwrap_or("")
                .replace('|', "\\|")
                .replace('\n', " ")
        );
    }
    md
}

/// What the numbers were measured on.
fn machine(env: &Env, ctx: &Ctx<'_>) -> Value {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    let rustc = env::probe(env.command("rustc").arg("--version")).unwrap_or_default();
    let npm_version = |package: &str| -> String {
        std::fs::read_to_string(
            env.root
                .join("node_modules")
                .join(package)
                .join("package.json"),
        )
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default()
    };
    let wrangler = npm_version("wrangler");
    let workerd = npm_version("workerd");
    let chromium = ctx.raw.borrow()["stack"]
        .get("time_to_ready")
        .and_then(|t| t["browser"].as_str().map(str::to_owned))
        .or_else(|| {
            env::probe(std::process::Command::new("/usr/bin/chromium").arg("--version"))
                .and_then(|v| v.split_whitespace().nth(1).map(|n| format!("Chromium {n}")))
        })
        .unwrap_or_default();
    let summary = format!(
        "{cores} cores, {mem_gib:.0} GiB, {os}, {}, {chromium}, workerd {workerd} from wrangler {wrangler}",
        rustc.split(" (").next().unwrap_or(&rustc)
    );
    json!({
        "cores": cores,
        "memory_gib": mem_gib,
        "os": os,
        "rustc": rustc,
        "chromium": chromium,
        "wrangler": wrangler,
        "workerd": workerd,
        "summary": summary,
    })
}

// ---------------------------------------------------------------------------------------
// widget: what a merchant page downloads

fn widget_payload(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let report = size::measure(ctx.env)?;
    let mut figures = Vec::new();
    let mut wasm_bytes = None;
    let (mut raw, mut gzip, mut brotli) = (0u64, 0u64, 0u64);
    for file in &report.files {
        let bytes = std::fs::read(&file.path).with_context(|| format!("reading {}", file.name))?;
        let br = size::brotli_len(&bytes)?;
        raw += file.raw;
        gzip += file.gzip;
        brotli += br;
        let short = file
            .path
            .file_name()
            .map_or_else(|| file.name.clone(), |n| n.to_string_lossy().into_owned());
        figures.push(
            Figure::new(
                "widget",
                short.clone(),
                "gzip -9",
                file.gzip as f64,
                Unit::Bytes,
            )
            .note(format!("raw {} B, brotli {} B", file.raw, br)),
        );
        if short.ends_with(".wasm") {
            wasm_bytes = Some(bytes);
        }
    }
    figures.push(
        Figure::new(
            "widget",
            "checkout.js + checkout_bg.wasm",
            "gzip -9",
            gzip as f64,
            Unit::Bytes,
        )
        .goal(Goal::AtMost(WIDGET_GOAL_BYTES))
        .note(format!(
            "{gzip} B; raw {raw} B; CI fails above the {} KiB budget",
            size::GZIP_BUDGET / 1024
        )),
    );
    figures.push(
        Figure::new(
            "widget",
            "checkout.js + checkout_bg.wasm",
            "brotli 11",
            brotli as f64,
            Unit::Bytes,
        )
        .note(format!("{brotli} B")),
    );
    let wasm = wasm_bytes.context("the widget build has no .wasm file")?;
    figures.extend(locale_shares(ctx.env, &wasm, gzip)?);
    Ok(figures)
}

/// Each locale's share of the download: its string table (widget/src/i18n/<locale>.rs, stored
/// in the wasm as one `\u{1f}`-separated string per locale) is found in the built wasm, and
/// its share is what the compressed wasm loses when those bytes are cut out (gzip -9 and
/// brotli 11 of the whole file with and without them). That is the marginal cost in context:
/// compressing a table on its own would count headers and miss what it shares with the rest.
fn locale_shares(env: &Env, wasm: &[u8], total_gzip: u64) -> Result<Vec<Figure>> {
    let dir = env.root.join("widget").join("src").join("i18n");
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if stem == "mod" || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path)?;
        let table = locale_table(&source)
            .with_context(|| format!("reading the locale_table! of {}", path.display()))?;
        tables.push((locale_tag(&stem), table));
    }
    tables.sort();
    if tables.is_empty() {
        bail!("no locale tables under {}", dir.display());
    }

    let gzip_all = size::gzip_len(wasm)? as f64;
    let brotli_all = size::brotli_len(wasm)? as f64;
    let mut figures = Vec::new();
    let mut without_all = wasm.to_vec();
    let mut raw_all = 0;
    let mut missing = Vec::new();
    for (tag, table) in &tables {
        let Some(at) = find(wasm, table.as_bytes()) else {
            missing.push(tag.clone());
            continue;
        };
        let mut without = wasm.to_vec();
        without.drain(at..at + table.len());
        let gzip_share = gzip_all - size::gzip_len(&without)? as f64;
        let brotli_share = brotli_all - size::brotli_len(&without)? as f64;
        if let Some(at) = find(&without_all, table.as_bytes()) {
            without_all.drain(at..at + table.len());
        }
        raw_all += table.len();
        figures.push(
            Figure::new(
                "widget",
                format!("locale {tag}"),
                "gzip share",
                gzip_share,
                Unit::Bytes,
            )
            .note(format!(
                "raw {} B, brotli share {brotli_share:.0} B",
                table.len()
            )),
        );
    }
    if !missing.is_empty() {
        bail!(
            "the string tables of {} were not found verbatim in the built wasm: the per-locale method needs updating",
            missing.join(", ")
        );
    }
    let gzip_share = gzip_all - size::gzip_len(&without_all)? as f64;
    let brotli_share = brotli_all - size::brotli_len(&without_all)? as f64;
    figures.insert(
        0,
        Figure::new("widget", format!("all {} locales' texts", tables.len()), "gzip share", gzip_share, Unit::Bytes)
            .note(format!(
                "{:.1} % of the gzip total; raw {raw_all} B, brotli share {brotli_share:.0} B; share = compressed wasm minus compressed wasm without the table",
                100.0 * gzip_share / total_gzip as f64
            )),
    );
    Ok(figures)
}

/// `pt_br` → `pt-BR`, `zh_cn` → `zh-CN`.
fn locale_tag(stem: &str) -> String {
    match stem.split_once('_') {
        Some((lang, region)) => format!("{lang}-{}", region.to_uppercase()),
        None => stem.to_owned(),
    }
}

/// The string `locale_table!` builds from a locale file: every `Phrase => "text",` literal in
/// order, each followed by U+001F.
fn locale_table(source: &str) -> Result<String> {
    let start = source
        .find("locale_table!")
        .context("no locale_table! invocation")?;
    let body = &source[start..];
    let mut table = String::new();
    let mut rest = body;
    let mut count = 0;
    while let Some(arrow) = rest.find("=> \"") {
        let (text, after) = rust_string_literal(&rest[arrow + 4..])?;
        table.push_str(&text);
        table.push('\u{1f}');
        count += 1;
        rest = after;
    }
    if count == 0 {
        bail!("no `Phrase => \"text\",` entries");
    }
    Ok(table)
}

/// Reads a Rust string literal body up to its closing quote; returns it and the rest.
fn rust_string_literal(text: &str) -> Result<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16)?));
                }
                Some('u') => {
                    let hex: String = chars
                        .by_ref()
                        .map(|(_, c)| c)
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    let code = u32::from_str_radix(&hex, 16)?;
                    out.push(char::from_u32(code).context("bad \\u escape")?);
                }
                Some('\n') => {
                    // Line continuation: skip the newline and leading whitespace.
                    while chars.clone().next().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                }
                other => bail!("unsupported escape \\{other:?}"),
            },
            c => out.push(c),
        }
    }
    bail!("unterminated string literal")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// edge-size: the Worker Cloudflare runs

fn edge_size(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
    let env = ctx.env;
    env::run(
        env.command("worker-build")
            .arg("--release")
            .current_dir(env.root.join("edge")),
    )?;
    let build = env.root.join("edge").join("build");
    let mut figures = Vec::new();
    let (mut gzip, mut brotli, mut raw) = (0, 0, 0);
    for name in ["index_bg.wasm", "index.js"] {
        let path = build.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (g, b) = (size::gzip_len(&bytes)?, size::brotli_len(&bytes)?);
        gzip += g;
        brotli += b;
        raw += bytes.len();
        figures.push(
            Figure::new(
                "edge size",
                format!("build/{name}"),
                "gzip -9",
                g as f64,
                Unit::Bytes,
            )
            .note(format!("raw {} B, brotli {b} B", bytes.len())),
        );
    }
    figures.push(
        Figure::new(
            "edge size",
            "index_bg.wasm + index.js",
            "gzip -9",
            gzip as f64,
            Unit::Bytes,
        )
        .goal(Goal::AtMost(EDGE_GOAL_BYTES))
        .note(format!(
            "raw {raw} B, brotli {brotli} B (Cloudflare's limit applies to the gzip size)"
        )),
    );
    Ok(figures)
}

// ---------------------------------------------------------------------------------------
// stack: time to ready, edge overhead, callback ingest (tests/src/bin/bench-stack.rs)

fn stack(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
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
    let out = dir.join("stack.json");
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
    ctx.raw.borrow_mut().insert("stack".into(), data);
    Ok(figures)
}

fn num(value: &Value, pointer: &str) -> Result<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .with_context(|| format!("bench-stack output has no number at {pointer}"))
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
                "; checkout.js loaded at {js:.0} ms, wasm requested at {wasm_start:.0} ms and loaded at {wasm_end:.0} ms, ready {:.0} ms after that",
                widget - wasm_end
            ),
            _ => String::new(),
        };
        figures.push(
            Figure::new("time to ready", "shop page / → trustpay:ready", "median", widget, Unit::Milliseconds)
                .note(format!(
                    "{runs:.0} cold loads (new context, cache off), navigation start → event; TTFB {widget_ttfb:.1} ms (the shop mints an intent at the edge per page){waterfall}; widget files from the {assets}"
                )),
        );
        figures.push(
            Figure::new("time to ready", "baseline /baseline → plain button", "median", baseline, Unit::Milliseconds)
                .note(format!("same server, same loads, alternating with the widget page; TTFB {baseline_ttfb:.1} ms")),
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
        figures.push(
            Figure::new("time to ready", "widget / baseline after first byte", "ratio of medians", widget_after / baseline_after, Unit::Ratio)
                .note(format!(
                    "(ready − TTFB): {widget_after:.1} ms vs {baseline_after:.1} ms; leaves out the shop's server time"
                )),
        );
    }
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
                        format!("{label}: {what}"),
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
                    format!("{label}: added by the edge"),
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
                    "no-op (/healthz vs simulator /health): added",
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
            Figure::new("callback ingest", "signed callbacks → /v1/trustpay/callback", "rate", num(ingest, "/per_second")?, Unit::PerSecond)
                .goal(Goal::AtLeast(INGEST_GOAL_PER_S))
                .note(format!(
                    "{n:.0} callbacks (one per order, created through the edge first), {:.0} in flight, local D1; latency p50 {:.1} ms, p99 {:.1} ms; {errors:.0} errors{}",
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
            Figure::new("callback ingest", "callbacks lost", "count", num(ingest, "/lost")?, Unit::Count)
                .goal(Goal::AtMost(0.0))
                .note(format!(
                    "counted in D1 afterwards: {:.0} orders paid, {:.0} `accepted` callback events, of {n:.0}",
                    num(ingest, "/d1_orders_paid")?,
                    num(ingest, "/d1_events_accepted")?
                )),
        );
    }
    Ok(figures)
}

// ---------------------------------------------------------------------------------------
// push: callback received → live event delivered (`tests/src/bin/bench-push.rs`)

/// Goal for callback → SSE event on loopback (p50), issue 7.
const PUSH_GOAL_MS: f64 = 50.0;

fn push(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
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

// ---------------------------------------------------------------------------------------
// core: criterion micro-benchmarks of checkout-core

/// What each benchmark stands for (issue 9's list).
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

fn core_micro(ctx: &Ctx<'_>) -> Result<Vec<Figure>> {
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
        let fig = Figure::new("core", "sign/md5", "median", 1293.4, Unit::Nanoseconds)
            .goal(Goal::AtMost(CORE_GOAL_NS));
        assert_eq!(fig.pass(), Some(true));
        assert_eq!(Unit::Nanoseconds.format(1293.4), "1.29 µs");
        assert!(
            markdown(&[fig]).contains("| core | `sign/md5` | median 1.29 µs | ≤ 2.00 µs | pass |")
        );
    }

    #[test]
    fn judges_lower_and_upper_bounds_and_unmeasured_figures() {
        let rate = Figure::new("ingest", "cb", "rate", 900.0, Unit::PerSecond)
            .goal(Goal::AtLeast(INGEST_GOAL_PER_S));
        assert_eq!(rate.pass(), Some(false));
        assert_eq!(
            rate.goal.map(|g| g.display(rate.unit)).as_deref(),
            Some("≥ 1000/s")
        );
        let push = Figure::not_measured("push", "sse", "not measured: push channel not built");
        assert_eq!(push.pass(), None);
        let md = markdown(&[rate, push]);
        assert!(
            md.contains(
                "| push | `sse` | not measured | - | - | not measured: push channel not built |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| ingest | `cb` | rate 900/s | ≥ 1000/s | **miss** |"),
            "{md}"
        );
    }

    #[test]
    fn reads_locale_tables_like_the_macro_builds_them() {
        let source = r#"//! Doc.
locale_table! {
    Loading => "Chargement…",
    PayAmount => "Payer {amount}",
    Quote => "Say \"hi\" \u{2014} d\u{e9}j\u{e0}",
}
"#;
        let table = locale_table(source).expect("table");
        assert_eq!(
            table,
            "Chargement…\u{1f}Payer {amount}\u{1f}Say \"hi\" — déjà\u{1f}"
        );
        assert_eq!(locale_tag("pt_br"), "pt-BR");
        assert_eq!(locale_tag("fr"), "fr");
        assert_eq!(find(b"abcdef", b"cd"), Some(2));
    }

    #[test]
    fn stack_output_becomes_figures() {
        let data = json!({
            "time_to_ready": {
                "assets_served_by": "edge",
                "widget": {"runs": 20, "median_ready_ms": 150.0, "median_ttfb_ms": 30.0, "median_after_ttfb_ms": 120.0},
                "baseline": {"runs": 20, "median_ready_ms": 50.0, "median_ttfb_ms": 5.0, "median_after_ttfb_ms": 45.0}
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
                "send": {"errors": 0, "p50_ms": 5.0, "p99_ms": 9.0}}
        });
        let figures = stack_figures(&data).expect("figures");
        let get = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(get("widget / baseline").value, Some(3.0));
        assert_eq!(get("widget / baseline").pass(), Some(false));
        assert_eq!(get("create-order: added by the edge").pass(), Some(false));
        assert_eq!(get("order-status: added by the edge").pass(), Some(true));
        assert_eq!(
            get("signed callbacks → /v1/trustpay/callback").pass(),
            Some(true)
        );
        assert_eq!(get("callbacks lost").pass(), Some(true));
    }
}
