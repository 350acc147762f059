//! The report model: a [`Figure`] is one measured number with its [`Unit`] and optional
//! [`Goal`]; the suites return them, and [`markdown`] / [`results_json`] render them.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Nanoseconds,
    Bytes,
    Milliseconds,
    Ratio,
    PerSecond,
    Count,
    /// A unitless score (cumulative layout shift).
    Score,
}

impl Unit {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Unit::Nanoseconds => "ns",
            Unit::Bytes => "B",
            Unit::Milliseconds => "ms",
            Unit::Ratio => "x",
            Unit::PerSecond => "1/s",
            Unit::Count => "count",
            Unit::Score => "score",
        }
    }

    pub(crate) fn format(self, value: f64) -> String {
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
            Unit::Score => format!("{value:.4}"),
        }
    }
}

/// The bound a figure must stay within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    pub(crate) fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(goal) => value <= goal,
            Goal::AtLeast(goal) => value >= goal,
        }
    }

    pub(crate) fn display(self, unit: Unit) -> String {
        match self {
            Goal::AtMost(goal) => format!("≤ {}", unit.format(goal)),
            Goal::AtLeast(goal) => format!("≥ {}", unit.format(goal)),
        }
    }
}

/// One measured number, its goal and a note.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) suite: &'static str,
    pub(crate) name: String,
    /// What `value` is (e.g. "median", "gzip -9", "p50").
    pub(crate) statistic: String,
    /// `None`: not measured (the note says why).
    pub(crate) value: Option<f64>,
    pub(crate) unit: Unit,
    /// `None` = informational.
    pub(crate) goal: Option<Goal>,
    pub(crate) note: Option<String>,
}

impl Figure {
    pub(crate) fn new(
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

    pub(crate) fn not_measured(
        suite: &'static str,
        name: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
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

    pub(crate) fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub(crate) fn pass(&self) -> Option<bool> {
        match (self.goal, self.value) {
            (Some(goal), Some(value)) => Some(goal.met(value)),
            (Some(_), None) => Some(false),
            (None, _) => None,
        }
    }

    pub(crate) fn display_value(&self) -> String {
        match self.value {
            Some(value) => format!("{} {}", self.statistic, self.unit.format(value))
                .trim()
                .to_owned(),
            None => "not measured".to_owned(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
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

pub(crate) fn results_json(
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

pub(crate) fn markdown(figures: &[Figure]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_judges_figures() {
        let fig = Figure::new("core", "sign/md5", "median", 1293.4, Unit::Nanoseconds)
            .goal(Goal::AtMost(2_000.0));
        assert_eq!(fig.pass(), Some(true));
        assert_eq!(Unit::Nanoseconds.format(1293.4), "1.29 µs");
        assert!(
            markdown(&[fig]).contains("| core | `sign/md5` | median 1.29 µs | ≤ 2.00 µs | pass |")
        );
    }

    #[test]
    fn judges_lower_and_upper_bounds_and_unmeasured_figures() {
        let rate = Figure::new("ingest", "cb", "rate", 900.0, Unit::PerSecond)
            .goal(Goal::AtLeast(1_000.0));
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
}
