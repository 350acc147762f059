//! Reading criterion: the `time: [low typical high]` lines it prints, and the medians in its
//! `estimates.json` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use serde_json::Value;

/// `(name, typical ns)` for each `time: [low typical high]` line criterion printed, in order.
/// Handles names on their own line (long names) and the `\r` progress residue.
pub(super) fn parse_criterion_output(stdout: &str) -> Vec<(String, f64)> {
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
pub(super) fn read_medians(
    criterion_home: &Path,
    since: SystemTime,
) -> Result<BTreeMap<String, f64>> {
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
}
