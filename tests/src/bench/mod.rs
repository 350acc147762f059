//! The measurements of `bench-stack` (`cargo xtask bench`) against a running stack: the
//! TrustPay simulator, the edge Worker under `wrangler dev` and the demo shop, on loopback.
//!
//! * [`ready`]: time to ready of the shop page with the widget versus a plain button;
//! * [`overhead`]: create, status and a no-op through the edge versus straight to the simulator;
//! * [`ingest`]: signed callbacks POSTed as fast as the edge takes them, then counted in D1;
//! * [`worker_log_times`]: what the Worker itself logs per request.
//!
//! The load itself is [`crate::load`].

pub mod ingest;
pub mod overhead;
pub mod ready;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::edge_harness::{Credentials, EdgeWorker, HarnessError};
use crate::forge::ForgeError;
use crate::load::{Batch, Job};
use crate::sim;

/// The bench's credentials: the simulator's development ones and a bench merchant.
pub const CREDENTIALS: Credentials = Credentials {
    merchant_token: "bench-merchant-token-0123456789abcdef",
    intent_key: "bench-intent-secret-0123456789abcdef",
    api_key: sim::DEFAULT_API_KEY,
    secret: sim::DEFAULT_SECRET,
};

/// The rate limit of every `[[ratelimits]]` binding under load (all shoppers share 127.0.0.1).
pub const LOAD_RATE_LIMIT: u32 = 1_000_000;

/// The amount of every bench order.
pub const AMOUNT: &str = "5.00";

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The Worker could not be started or read.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// A request could not be built or sent.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// A file, process or socket operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A JSON document could not be read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An intent or a callback could not be built.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// A blocking task panicked.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// The widget bundle is not built.
    #[error(
        "www/pkg/widget/v1/checkout.js is missing: build the widget first (`cargo xtask size`)"
    )]
    WidgetNotBuilt,
    /// `bench/time_to_ready.mjs` failed.
    #[error("bench/time_to_ready.mjs failed ({0})")]
    Script(std::process::ExitStatus),
    /// No request of a batch succeeded.
    #[error("{what}: no request succeeded: {first_error:?}")]
    NothingSucceeded {
        /// The batch.
        what: String,
        /// Its first failure.
        first_error: Option<String>,
    },
    /// Neither path created an order to ask the status of.
    #[error("no orders were created (direct: {direct:?}; edge: {edge:?})")]
    NoOrders {
        /// The first failure of the direct creates.
        direct: Option<String>,
        /// The first failure of the creates through the edge.
        edge: Option<String>,
    },
    /// Some of the orders the ingest run needs were not created.
    #[error("{failed} of {of} creates failed: {first_error:?}")]
    CreatesFailed {
        /// How many failed.
        failed: usize,
        /// How many were attempted.
        of: usize,
        /// The first failure.
        first_error: Option<String>,
    },
    /// A D1 count did not answer a number.
    #[error("{sql}: {rows}")]
    Count {
        /// The query.
        sql: String,
        /// What it answered.
        rows: Value,
    },
}

/// A create through the edge for each order number, with an intent minted offline.
pub fn edge_create_jobs(
    edge: &EdgeWorker,
    origin: &str,
    order_nos: &[String],
) -> Result<Vec<Job>, BenchError> {
    let exp = crate::forge::now_secs() + 3600;
    order_nos
        .iter()
        .map(|order_no| {
            let intent = crate::forge::intent(order_no, AMOUNT, exp, CREDENTIALS.intent_key)?;
            Ok(Job {
                method: reqwest::Method::POST,
                url: edge.url("/v1/orders"),
                headers: vec![
                    ("Content-Type", "application/json".to_owned()),
                    ("Origin", origin.to_owned()),
                ],
                body: Some(json!({ "intent": intent }).to_string()),
            })
        })
        .collect()
}

/// `batch`, or an error when none of its requests succeeded.
pub fn check(batch: Batch, what: &str) -> Result<Batch, BenchError> {
    if batch.latencies_ms.is_empty() {
        return Err(BenchError::NothingSucceeded {
            what: what.to_owned(),
            first_error: batch.first_error,
        });
    }
    Ok(batch)
}

/// A plain `GET`.
pub(crate) fn get(url: String) -> Job {
    Job {
        method: reqwest::Method::GET,
        url,
        headers: Vec::new(),
        body: None,
    }
}

/// Per route, from the Worker's `request` log lines: count and median of `ms` (from entry to
/// response, I/O included; workerd's clock only advances across I/O, so this is close to the
/// time spent waiting on D1 and the gateway), and the D1 round trips (`d1`, a `batch()` is
/// one) and Durable Object calls (`do`) per request: median and largest. Round trips do not
/// depend on the machine.
pub fn worker_log_times(output: &str) -> Value {
    #[derive(Default)]
    struct Route {
        ms: Vec<f64>,
        d1: Vec<i64>,
        objects: Vec<i64>,
    }
    let mut routes: BTreeMap<&'static str, Route> = BTreeMap::new();
    for line in output.lines() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(entry) = serde_json::from_str::<Value>(&line[start..]) else {
            continue;
        };
        if entry["event"] != "request" {
            continue;
        }
        let (Some(method), Some(path), Some(ms)) = (
            entry["method"].as_str(),
            entry["path"].as_str(),
            entry["ms"].as_f64(),
        ) else {
            continue;
        };
        let route = match (method, path) {
            ("POST", "/v1/orders") => "create",
            ("GET", p) if p.starts_with("/v1/orders/") => "status",
            ("POST", "/v1/trustpay/callback") => "callback",
            ("GET", "/healthz") => "healthz",
            _ => continue,
        };
        let entry_of = routes.entry(route).or_default();
        entry_of.ms.push(ms);
        if let Some(d1) = entry["d1"].as_i64() {
            entry_of.d1.push(d1);
        }
        if let Some(objects) = entry["do"].as_i64() {
            entry_of.objects.push(objects);
        }
    }
    let counts = |mut v: Vec<i64>| {
        v.sort_unstable();
        match (v.get(v.len() / 2), v.last()) {
            (Some(median), Some(max)) => json!({ "median": median, "max": max }),
            _ => Value::Null,
        }
    };
    let map: serde_json::Map<String, Value> = routes
        .into_iter()
        .map(|(route, mut r)| {
            r.ms.sort_by(f64::total_cmp);
            let median = r.ms[r.ms.len() / 2];
            (
                route.to_owned(),
                json!({
                    "requests": r.ms.len(),
                    "median_ms": median,
                    "d1_round_trips": counts(r.d1),
                    "durable_object_calls": counts(r.objects),
                }),
            )
        })
        .collect();
    Value::Object(map)
}
