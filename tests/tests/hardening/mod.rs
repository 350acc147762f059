//! Shared fixture of the hardening suites (`edge_bad_inputs`, `edge_callback_attacks`,
//! `edge_upstream_faults`): the simulator in-process and one `wrangler dev` per test file,
//! started with distinctive canary secrets, a client that records every response of the edge
//! (status, headers, body) for the secret-leak scan, and helpers to sign callbacks and intents.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use checkout_core::intent::Intent;
use checkout_core::money::{AmountRendering, Currency, Money, MoneyLimits};
use checkout_core::order_no::OrderNo;
use checkout_core::secret::Secret;
use checkout_core::sign::{SignFields, SignOptions};
use serde_json::{Value, json};
use tests::edge_harness::{EdgeWorker, workspace_root};
use tests::sim::{self, SimConfig};

pub const ORIGIN: &str = "http://shop.test";
// Canary values: long and unique, so a hit in a scan can only be a leak.
pub const TOKEN: &str = "mtok-CANARY-q7Zr2Lp9Wx4Kd8Vn";
pub const INTENT_KEY: &str = "ikey-CANARY-h3Tb6Ys1Mf5Gc0Ju";
pub const API_KEY: &str = "apik-CANARY-w9Nd2Qe7Rv4Hs6Xa";
pub const SECRET: &str = "tpsec-CANARY-k5Lm8Pz3Bt1Fy7Ce";
pub const MERCHANT: i64 = sim::DEFAULT_MERCHANT_ID;

/// The secret values the leak scan looks for.
pub const CANARIES: [(&str, &str); 4] = [
    ("MERCHANT_API_TOKEN", TOKEN),
    ("INTENT_SECRET", INTENT_KEY),
    ("TRUSTPAY_API_KEY", API_KEY),
    ("TRUSTPAY_SECRET", SECRET),
];

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(&self, status: u16, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{what}: {}",
            self.text
        );
    }
}

/// The fixture: the simulator, the Worker, a client, and every edge response seen.
pub struct Env {
    pub sim: sim::SimHandle,
    pub edge: EdgeWorker,
    pub http: reqwest::Client,
    /// Every edge response as text: status line, headers, body.
    seen: Mutex<Vec<String>>,
}

/// Starts the simulator (canary credentials) and a Worker with `extra` variables on top of
/// the defaults (later entries win).
pub async fn start(extra: &[(&'static str, &str)]) -> Env {
    let config = SimConfig {
        api_key: secret(API_KEY),
        secret: secret(SECRET),
        // No time-out callback may land in the middle of a suite.
        order_timeout: Duration::from_secs(3600),
        ..SimConfig::for_tests()
    };
    let (_, sim) = sim::serve(config)
        .await
        .unwrap_or_else(|e| panic!("sim: {e}"));
    let mut vars: Vec<(&'static str, String)> = vec![
        ("TRUSTPAY_BASE_URL", sim.base_url()),
        ("TRUSTPAY_MERCHANT_ID", MERCHANT.to_string()),
        ("TRUSTPAY_API_KEY", API_KEY.to_owned()),
        ("TRUSTPAY_SECRET", SECRET.to_owned()),
        ("ALLOWED_ORIGINS", ORIGIN.to_owned()),
        ("INTENT_SECRET", INTENT_KEY.to_owned()),
        ("MERCHANT_API_TOKEN", TOKEN.to_owned()),
        ("OPEN_AMOUNT", "USD:1.00-50.00".to_owned()),
        ("GATEWAY_TIMEOUT_MS", "1500".to_owned()),
        ("STATUS_REFRESH_SECONDS", "1".to_owned()),
    ];
    for (key, value) in extra {
        vars.retain(|(k, _)| k != key);
        vars.push((key, (*value).to_owned()));
    }
    let edge = match tokio::task::spawn_blocking(move || EdgeWorker::start(&vars)).await {
        Ok(Ok(edge)) => edge,
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("harness thread: {e}"),
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    Env {
        sim,
        edge,
        http,
        seen: Mutex::new(Vec::new()),
    }
}

impl Env {
    /// Sends a request; responses from the edge are recorded for the leak scan.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let tests::http::Reply {
            status,
            headers,
            text,
            body,
        } = tests::http::send(&self.http, method, url, headers, body).await;
        if url.starts_with(&self.edge.base_url) {
            let mut record = format!("{status} {url}\n");
            for (name, value) in &headers {
                record.push_str(&format!(
                    "{name}: {}\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            record.push_str(&text);
            self.seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(record);
        }
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Records an edge response seen outside [`Env::send`] (e.g. from spawned tasks).
    pub fn record(&self, record: String) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record);
    }

    pub async fn edge_post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.send(
            reqwest::Method::POST,
            &self.edge.url(path),
            &all,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn edge_get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::GET, &self.edge.url(path), headers, None)
            .await
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> Answer {
        let answer = self
            .send(
                reqwest::Method::POST,
                &self.sim.url(path),
                &[("Content-Type", "application/json")],
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert!(answer.status < 300, "sim {path}: {}", answer.text);
        answer
    }

    pub async fn mint(&self, order_no: &str, amount: &str) -> String {
        let answer = self
            .edge_post(
                "/v1/intents",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                &json!({"order_no": order_no, "amount": amount, "currency": "USD"}),
            )
            .await;
        assert_eq!(answer.status, 201, "mint: {}", answer.text);
        answer.body["intent"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn create(&self, intent: &str) -> Answer {
        self.edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({ "intent": intent }),
        )
        .await
    }

    /// Mints and creates an order; returns its client secret.
    pub async fn new_order(&self, order_no: &str, amount: &str) -> String {
        let intent = self.mint(order_no, amount).await;
        let answer = self.create(&intent).await;
        assert_eq!(answer.status, 201, "create {order_no}: {}", answer.text);
        answer.body["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn status(&self, order_no: &str, secret: &str) -> Answer {
        self.edge_get(
            &format!("/v1/orders/{order_no}"),
            &[("X-Client-Secret", secret), ("Origin", ORIGIN)],
        )
        .await
    }

    pub async fn admin_order(&self, order_no: &str) -> Answer {
        self.edge_get(
            &format!("/v1/admin/orders/{order_no}"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .await
    }

    /// The outcomes of the order's events from `source`, in order.
    pub async fn outcomes(&self, order_no: &str, source: &str) -> Vec<String> {
        let answer = self.admin_order(order_no).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e["source"] == source)
                    .filter_map(|e| e["outcome"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the admin view of the order has `state`.
    pub async fn wait_state(&self, order_no: &str, state: &str) {
        let reached = eventually(Duration::from_secs(10), || async {
            self.admin_order(order_no).await.body["state"] == state
        })
        .await;
        assert!(
            reached,
            "{order_no} never reached {state}: {}",
            self.admin_order(order_no).await.text
        );
    }

    pub async fn callback(&self, body: String) -> Answer {
        self.send(
            reqwest::Method::POST,
            &self.edge.url("/v1/trustpay/callback"),
            &[("Content-Type", "application/json")],
            Some(body.into_bytes()),
        )
        .await
    }

    /// Row counts of every D1 table, read from the local SQLite file.
    pub fn d1_counts(&self) -> Value {
        let rows = self
            .edge
            .d1_query(
                "SELECT (SELECT count(*) FROM orders) AS orders, \
                 (SELECT count(*) FROM order_events) AS events, \
                 (SELECT count(*) FROM client_secrets) AS client_secrets, \
                 (SELECT count(*) FROM refunds) AS refunds",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        rows[0].clone()
    }

    /// Scans every recorded edge response, the wrangler log and the built assets for the
    /// canary secrets. Panics on any hit; returns (responses, log bytes, files) scanned.
    pub fn leak_scan(&self) -> (usize, usize, usize) {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let log = self.edge.output();
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in [
            root.join("edge").join("build"),
            root.join("www").join("pkg"),
        ] {
            walk(&dir, &mut files);
        }
        let mut hits = Vec::new();
        for (name, value) in CANARIES {
            for (n, record) in seen.iter().enumerate() {
                if record.contains(value) {
                    hits.push(format!("{name} in edge response #{n}: {record}"));
                }
            }
            for line in log.lines().filter(|l| l.contains(value)) {
                hits.push(format!("{name} in the wrangler log: {line}"));
            }
            for file in &files {
                let bytes = std::fs::read(file).unwrap_or_default();
                if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                    hits.push(format!("{name} in {}", file.display()));
                }
            }
        }
        assert!(
            seen.len() > 10 && log.contains("\"request_id\""),
            "the scan saw too little to mean anything"
        );
        assert!(
            hits.is_empty(),
            "{} secret leak(s):\n{}",
            hits.len(),
            hits.join("\n")
        );
        eprintln!(
            "leak scan: 0 hits for {} secrets in {} edge responses (headers + bodies), {} bytes of wrangler log, {} built asset files",
            CANARIES.len(),
            seen.len(),
            log.len(),
            files.len()
        );
        (seen.len(), log.len(), files.len())
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub fn secret(text: &str) -> Secret {
    Secret::new(text).unwrap_or_else(|_| unreachable!("non-empty"))
}

/// The sign TrustPay would put on `unsigned` (two-decimal amounts) with `key`.
pub fn sign_of(unsigned: &str, key: &str) -> String {
    let fields =
        SignFields::from_json(unsigned.as_bytes()).unwrap_or_else(|e| panic!("{unsigned}: {e}"));
    fields
        .sign(
            SignOptions::amounts(AmountRendering::TwoDecimals),
            &secret(key),
        )
        .as_str()
        .to_owned()
}

/// `unsigned` with a `sign` field appended.
pub fn with_sign(unsigned: &str, sign: &str) -> String {
    let trimmed = unsigned.trim_end().trim_end_matches('}');
    format!("{trimmed},\"sign\":\"{sign}\"}}")
}

/// A callback body signed the way TrustPay signs (two-decimal amounts).
pub fn signed_callback(unsigned: &str, key: &str) -> String {
    with_sign(unsigned, &sign_of(unsigned, key))
}

pub fn callback_body(order_no: &str, merchant_id: i64, amount: &str, status: i64) -> String {
    let paid = if status == 5 || status == 6 {
        format!(",\"paid_amount\":{amount},\"fee\":0.30")
    } else {
        String::new()
    };
    format!(
        r#"{{"type":0,"merchant_id":{merchant_id},"order_no":"{order_no}","order_amount":{amount}{paid},"status":{status},"reason":"e2e"}}"#
    )
}

pub fn offline_intent(order_no: &str, amount: &str, exp: i64, key: &str) -> String {
    let money = Money::parse(amount, Currency::Usd, MoneyLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let order_no = OrderNo::parse(order_no).unwrap_or_else(|e| panic!("{e}"));
    Intent {
        order_no,
        money,
        exp,
    }
    .mint(&secret(key))
}

/// An intent over an arbitrary payload JSON text, MAC'd with `key` (valid MAC, any content).
pub fn raw_intent(payload: &str, key: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!("v1.{}", b64.encode(payload));
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64.encode(mac.finalize().into_bytes()))
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
