//! The closed-loop load driver of the bench binaries, and the latency statistics they report.
//!
//! The driver is reqwest + tokio rather than `oha`/`wrk`: every create needs its own intent and
//! every callback its own signed body, which those tools can't vary per request. Latencies are
//! kept exactly (a vector sorted when read, not a bucketed histogram).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One prepared request.
#[derive(Debug, Clone)]
pub struct Job {
    /// The method.
    pub method: reqwest::Method,
    /// The full URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<String>,
}

/// What a response must look like to count as a success.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Accepted HTTP statuses.
    pub status: &'static [u16],
    /// Substring the body must contain (e.g. the TrustPay success code).
    pub contains: Option<&'static str>,
}

impl Expect {
    /// HTTP 200.
    pub const OK: Self = Self {
        status: &[200],
        contains: None,
    };
    /// HTTP 201.
    pub const CREATED: Self = Self {
        status: &[201],
        contains: None,
    };
    /// HTTP 200 with TrustPay's success code in the envelope.
    pub const TRUSTPAY_OK: Self = Self {
        status: &[200],
        contains: Some("\"code\":880001"),
    };
}

/// The nearest-rank percentile `p` (0-100) of `sorted`; NaN when it is empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Latency statistics of a set of samples (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample (NaN when there is none).
    pub max: f64,
    /// Arithmetic mean (0 when there is no sample).
    pub mean: f64,
}

impl Stats {
    /// The statistics of `samples` (any order).
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            n: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: percentile(&sorted, 100.0),
            mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
        }
    }
}

/// Latencies (ms) and errors of one batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// The latency of each successful request, in completion order.
    pub latencies_ms: Vec<f64>,
    /// Requests that failed or answered unexpectedly.
    pub errors: usize,
    /// What the first failure was.
    pub first_error: Option<String>,
    /// Wall-clock time of the batch.
    pub wall: Duration,
    /// Response bodies by job index (when asked for).
    pub bodies: Vec<Option<String>>,
}

impl Batch {
    /// Adds `other`'s requests to this batch (bodies are not merged).
    pub fn merge(&mut self, other: Batch) {
        self.latencies_ms.extend(other.latencies_ms);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.wall += other.wall;
    }

    /// The percentile `p` of the successful requests' latencies.
    pub fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, p)
    }

    /// The batch as the bench's JSON summary.
    pub fn summary(&self) -> Value {
        let stats = Stats::of(&self.latencies_ms);
        let n = stats.n;
        json!({
            "requests": n + self.errors,
            "ok": n,
            "errors": self.errors,
            "first_error": self.first_error,
            "p50_ms": stats.p50,
            "p90_ms": stats.p90,
            "p99_ms": stats.p99,
            "max_ms": stats.max,
            "mean_ms": stats.mean,
            "seconds": self.wall.as_secs_f64(),
            "per_second": (n + self.errors) as f64 / self.wall.as_secs_f64().max(1e-9),
        })
    }
}

/// One request's latency (ms) and body (when kept), or what went wrong.
type Outcome = Result<(f64, Option<String>), String>;

/// Sends `jobs` with `concurrency` requests in flight (closed loop) until all are done or
/// `limit` has passed; records each successful request's latency (send → body read).
pub async fn closed_loop(
    http: &reqwest::Client,
    jobs: Arc<Vec<Job>>,
    expect: Expect,
    concurrency: usize,
    limit: Duration,
    keep_bodies: bool,
) -> Batch {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, jobs, next) = (http.clone(), Arc::clone(&jobs), Arc::clone(&next));
        tasks.spawn(async move {
            let mut mine: Vec<(usize, Outcome)> = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs.len() || Instant::now() >= deadline {
                    break;
                }
                let result = one(&http, &jobs[index], expect, keep_bodies).await;
                mine.push((index, result));
            }
            mine
        });
    }
    let mut batch = Batch {
        bodies: if keep_bodies {
            vec![None; jobs.len()]
        } else {
            Vec::new()
        },
        ..Batch::default()
    };
    while let Some(done) = tasks.join_next().await {
        for (index, result) in done.unwrap_or_default() {
            match result {
                Ok((ms, body)) => {
                    batch.latencies_ms.push(ms);
                    if let Some(body) = body {
                        batch.bodies[index] = Some(body);
                    }
                }
                Err(e) => {
                    batch.errors += 1;
                    batch.first_error.get_or_insert(e);
                }
            }
        }
    }
    batch.wall = started.elapsed();
    batch
}

/// Sends one job and times it.
async fn one(http: &reqwest::Client, job: &Job, expect: Expect, keep_body: bool) -> Outcome {
    let mut request = http.request(job.method.clone(), &job.url);
    for (name, value) in &job.headers {
        request = request.header(*name, value);
    }
    if let Some(body) = &job.body {
        request = request.body(body.clone());
    }
    let t = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| format!("{}: {e}", job.url))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{}: reading the body: {e}", job.url))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let ok = expect.status.contains(&status)
        && expect.contains.is_none_or(|needle| text.contains(needle));
    if ok {
        Ok((ms, keep_body.then_some(text)))
    } else {
        Err(format!("{} {}: HTTP {status}: {text}", job.method, job.url))
    }
}
