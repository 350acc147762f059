//! The one fixture of the edge suites: [`Stack`] = `trustpay-sim` in-process + the built Worker
//! under `wrangler dev` + a client that records every edge response for the secret-leak scan.
//! The Worker runs with distinctive canary credentials, so a hit in a scan can only be a leak.
//!
//! A suite is one `#[tokio::test]` that starts a stack and runs its cases in order with
//! [`cases!`]; each case is an `async fn(&Stack)` using its own order numbers.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use checkout_core::secret::Secret;
use serde_json::{Value, json};
use tests::edge_harness::{
    Credentials, EdgeVars, EdgeWorker, files_under, free_port, workspace_root,
};
use tests::sim::risk::{RiskControl, TestCard};
use tests::sim::{self, SimConfig};
use tests::webhook_receiver::WebhookReceiver;

pub(crate) use tests::http::Answer;

use crate::openapi::Exchange;

pub(crate) const ORIGIN: &str = "http://shop.test";
// Canary values: long and unique, so a hit in a scan can only be a leak. Ours are at least 32
// bytes (the edge refuses shorter ones); TrustPay's are whatever TrustPay issues.
pub(crate) const TOKEN: &str = "mtok-CANARY-q7Zr2Lp9Wx4Kd8Vn-e5Ha1Sg";
pub(crate) const REFUND_TOKEN: &str = "rtok-CANARY-u4Xc9Bn2Ke7Qm5Tw-j8Ld3Fv";
pub(crate) const RISK_TOKEN: &str = "risk-CANARY-p6Gy1Rz8Nc3Vh0Ds-b2Wm7Kq";
pub(crate) const INTENT_KEY: &str = "ikey-CANARY-h3Tb6Ys1Mf5Gc0Ju-y9Pe4Ax";
pub(crate) const API_KEY: &str = "apik-CANARY-w9Nd2Qe7Rv4Hs6Xa";
pub(crate) const SECRET: &str = "tpsec-CANARY-k5Lm8Pz3Bt1Fy7Ce";
pub(crate) const MERCHANT: i64 = sim::DEFAULT_MERCHANT_ID;

/// The stack's credentials, shared by the Worker and the simulator.
pub(crate) const CREDENTIALS: Credentials = Credentials {
    merchant_token: TOKEN,
    intent_key: INTENT_KEY,
    api_key: API_KEY,
    secret: SECRET,
};

/// The secret values the leak scan looks for.
pub(crate) const CANARIES: [(&str, &str); 6] = [
    ("MERCHANT_API_TOKEN", TOKEN),
    ("MERCHANT_REFUND_TOKEN", REFUND_TOKEN),
    ("RISK_HOOK_TOKEN", RISK_TOKEN),
    ("INTENT_SECRET", INTENT_KEY),
    ("TRUSTPAY_API_KEY", API_KEY),
    ("TRUSTPAY_SECRET", SECRET),
];

/// How often the suites poll the edge while waiting.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Runs each case on the fixture in order, printing its time; evaluates to how many ran.
macro_rules! cases {
    ($env:expr => $($case:ident),+ $(,)?) => {{
        let env = $env;
        let mut ran = 0_usize;
        $(
            let started = std::time::Instant::now();
            $case(env).await;
            eprintln!("ok   {:<40} {:>6} ms", stringify!($case), started.elapsed().as_millis());
            ran += 1;
        )+
        ran
    }};
}
pub(crate) use cases;

/// The Worker variables of the suites: the stack's credentials (the refund and risk hook
/// tokens included), [`ORIGIN`], open amounts of 1.00-50.00 USD, a 1.5 s gateway timeout and
/// status refreshes after 1 s. The suites drive hundreds of orders from one loopback address,
/// so their Workers get rate limits far above the shipped ones (configuration, as a deployment
/// behind a load balancer would set it); `abuse::` runs with the shipped limits
/// ([`EdgeVars::shipped_rate_limits`]).
pub(crate) fn test_vars(sim_url: &str) -> EdgeVars {
    EdgeVars::new(sim_url, &CREDENTIALS, ORIGIN)
        .set("MERCHANT_REFUND_TOKEN", REFUND_TOKEN)
        .set("RISK_HOOK_TOKEN", RISK_TOKEN)
        .set("OPEN_AMOUNT", "USD:1.00-50.00")
        .set("GATEWAY_TIMEOUT_MS", "1500")
        .set("STATUS_REFRESH_SECONDS", "1")
        .rate_limit_all(SUITE_RATE_LIMIT)
}

/// The rate limit of every binding in the suites other than `abuse::`.
pub(crate) const SUITE_RATE_LIMIT: u32 = 1_000_000;

/// `Authorization` for the refund route (`MERCHANT_REFUND_TOKEN`).
pub(crate) fn refund_auth() -> String {
    format!("Bearer {REFUND_TOKEN}")
}

/// The risk-control hook URL path registered with TrustPay (token included).
pub(crate) fn risk_hook_path() -> String {
    format!("/v1/trustpay/risk-control/{RISK_TOKEN}")
}

/// The environment variable that runs every Worker the suites start with this many D1
/// shards (`D1_SHARDS`, unless the test sets it itself): the `edge-sharded` stage sets it to 4.
pub(crate) const SHARDS_ENV: &str = "EDGE_D1_SHARDS";

/// The D1 shard (`0..shards`) that holds the merchant order number `order_no` (attempt 1's
/// number), computed here from the rule `edge/src/store.rs` documents rather than by calling
/// the Worker's code: the first 8 bytes of its SHA-256, big-endian, modulo `shards`.
pub(crate) fn shard_of(order_no: &str, shards: usize) -> usize {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(order_no.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    let shards = u64::try_from(shards.max(1)).unwrap_or(1);
    usize::try_from(u64::from_be_bytes(head) % shards).unwrap_or(0)
}

/// Starts a Worker from async code (with [`SHARDS_ENV`]'s shards when it is set); panics with
/// the harness's explanation.
pub(crate) async fn start_edge(vars: EdgeVars) -> EdgeWorker {
    let shards = std::env::var(SHARDS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let vars = match shards {
        Some(n) if !vars.as_slice().iter().any(|(k, _)| *k == "D1_SHARDS") => {
            vars.set("D1_SHARDS", n)
        }
        Some(_) | None => vars,
    };
    EdgeWorker::launch(vars)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A loopback client with a 30 s timeout.
pub(crate) fn client() -> reqwest::Client {
    tests::http::client(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"))
}

/// A non-empty key as a [`Secret`].
pub(crate) fn secret(text: &str) -> Secret {
    tests::forge::secret(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// [`tests::forge::sign_of`]: the sign TrustPay would put on `unsigned` with `key`.
#[track_caller]
pub(crate) fn sign_of(unsigned: &str, key: &str) -> String {
    tests::forge::sign_of(unsigned, key).unwrap_or_else(|e| panic!("{unsigned}: {e}"))
}

/// [`tests::forge::signed_callback`]: `unsigned` signed the way TrustPay signs, with `key`.
#[track_caller]
pub(crate) fn signed_callback(unsigned: &str, key: &str) -> String {
    tests::forge::signed_callback(unsigned, key).unwrap_or_else(|e| panic!("{unsigned}: {e}"))
}

/// [`tests::forge::intent`]: a USD intent minted offline.
#[track_caller]
pub(crate) fn offline_intent(order_no: &str, amount: &str, exp: i64, key: &str) -> String {
    tests::forge::intent(order_no, amount, exp, key).unwrap_or_else(|e| panic!("{e}"))
}

/// The fixture: the simulator, the Worker, a client, and every edge response seen.
pub(crate) struct Stack {
    pub(crate) sim: sim::SimHandle,
    pub(crate) edge: EdgeWorker,
    pub(crate) http: reqwest::Client,
    /// The merchant's webhook endpoint (see [`Stack::start_with_merchant_hooks`]).
    receiver: Option<WebhookReceiver>,
    /// Every edge response as text: status line, headers, body.
    seen: Mutex<Vec<String>>,
    /// Every edge response of [`Stack::send`], checked against `edge/openapi.yaml` on drop.
    exchanges: Mutex<Vec<Exchange>>,
}

impl Stack {
    /// Starts the simulator (canary credentials, no order times out) and a Worker with
    /// [`test_vars`] changed by `tune`.
    pub(crate) async fn start(tune: impl FnOnce(EdgeVars) -> EdgeVars) -> Self {
        let (_, sim) = sim::serve(sim_config())
            .await
            .unwrap_or_else(|e| panic!("sim: {e}"));
        let edge = start_edge(tune(test_vars(&sim.base_url()))).await;
        Self::new(sim, edge, None)
    }

    /// [`Stack::start`] with the merchant's hooks: a [`WebhookReceiver`] the Worker notifies
    /// (`MERCHANT_WEBHOOK_URL`), and a simulator that asks the Worker's risk-control route
    /// before paying. The simulator's port is chosen first, the Worker started, then the
    /// simulator on that port.
    pub(crate) async fn start_with_merchant_hooks(tune: impl FnOnce(EdgeVars) -> EdgeVars) -> Self {
        let sim_port = free_port().unwrap_or_else(|e| panic!("{e}"));
        let receiver = WebhookReceiver::start()
            .await
            .unwrap_or_else(|e| panic!("receiver: {e}"));
        let vars = test_vars(&format!("http://127.0.0.1:{sim_port}"))
            .set("MERCHANT_WEBHOOK_URL", receiver.url());
        let edge = start_edge(tune(vars)).await;
        let config = SimConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], sim_port)),
            risk_control: Some(RiskControl {
                url: edge.url(&risk_hook_path()),
                card: TestCard::default(),
            }),
            ..sim_config()
        };
        let (_, sim) = sim::serve(config)
            .await
            .unwrap_or_else(|e| panic!("sim: {e}"));
        Self::new(sim, edge, Some(receiver))
    }

    fn new(sim: sim::SimHandle, edge: EdgeWorker, receiver: Option<WebhookReceiver>) -> Self {
        Self {
            sim,
            edge,
            http: client(),
            receiver,
            seen: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
        }
    }

    /// The merchant's webhook endpoint; panics unless started with the merchant's hooks.
    pub(crate) fn receiver(&self) -> &WebhookReceiver {
        self.receiver
            .as_ref()
            .unwrap_or_else(|| panic!("the stack was started without a webhook receiver"))
    }

    /// Sends a request; responses from the edge are recorded for the leak scan.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let method_name = method.as_str().to_owned();
        let answer = tests::http::send(&self.http, method, url, headers, body).await;
        if url.starts_with(&self.edge.base_url) {
            let mut record = format!("{} {url}\n", answer.status);
            for (name, value) in &answer.headers {
                record.push_str(&format!(
                    "{name}: {}\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            record.push_str(&answer.text);
            self.record(record);
            let path = url[self.edge.base_url.len()..].split(['?', '#']).next();
            self.exchanges
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Exchange {
                    method: method_name,
                    path: path.unwrap_or_default().to_owned(),
                    status: answer.status,
                    content_type: answer
                        .headers
                        .get("content-type")
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    body: answer.text.clone(),
                });
        }
        answer
    }

    /// Records an edge response seen outside [`Stack::send`] (e.g. from spawned tasks).
    pub(crate) fn record(&self, record: String) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    pub(crate) async fn edge_post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Answer {
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

    pub(crate) async fn edge_get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::GET, &self.edge.url(path), headers, None)
            .await
    }

    /// A GET on the simulator (its control and log API).
    pub(crate) async fn sim_get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, &self.sim.url(path), &[], None)
            .await
    }

    /// Creates `order_no` (amount in minor units, USD, our callback URL) at the simulator
    /// directly, signed with the stack's credentials, as someone else (or a lost attempt of
    /// ours) would; asserts TrustPay accepted it.
    pub(crate) async fn create_at_trustpay(&self, order_no: &str, minor: i64) {
        use checkout_core::money::{Amount, AmountRendering, Currency};
        use checkout_core::wire::{CashierPayinRequest, TrustPayRequest};
        let request = CashierPayinRequest {
            merchant_id: MERCHANT,
            order_no: order_no.into(),
            order_amount: Amount::from_minor(minor).unwrap_or(Amount::ZERO),
            currency: Currency::Usd,
            notify_url: self.edge.url("/v1/trustpay/callback"),
        };
        let body = request
            .fields(AmountRendering::TwoDecimals)
            .signed_body(&secret(SECRET));
        let created = self
            .send(
                reqwest::Method::POST,
                &self.sim.url(CashierPayinRequest::PATH),
                &[("Content-Type", "application/json"), ("X-Api-Key", API_KEY)],
                Some(body.into_bytes()),
            )
            .await;
        assert_eq!(created.body["code"], 880001, "{}", created.text);
    }

    /// A POST to the simulator's control API; asserts it succeeded.
    pub(crate) async fn sim_post(&self, path: &str, body: Value) -> Answer {
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

    /// How many requests to `path` the simulator received for `order_no`.
    pub(crate) async fn sim_requests(&self, path: &str, order_no: &str) -> usize {
        let log = self.sim_get(&format!("/_sim/requests?path={path}")).await;
        let needle = format!("\"order_no\":\"{order_no}\"");
        log.body.as_array().map_or(0, |requests| {
            requests
                .iter()
                .filter(|r| r["body"].as_str().is_some_and(|b| b.contains(&needle)))
                .count()
        })
    }

    /// Mints an intent through `POST /v1/intents`; asserts 201.
    pub(crate) async fn mint(&self, order_no: &str, amount: &str) -> String {
        let answer = self
            .edge_post(
                "/v1/intents",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                &json!({"order_no": order_no, "amount": amount, "currency": "USD"}),
            )
            .await;
        assert_eq!(answer.status, 201, "mint {order_no}: {}", answer.text);
        answer.body["intent"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `POST /v1/orders` with `intent`, from [`ORIGIN`].
    pub(crate) async fn create(&self, intent: &str) -> Answer {
        self.edge_post(
            "/v1/orders",
            &[("Origin", ORIGIN)],
            &json!({ "intent": intent }),
        )
        .await
    }

    /// Mints and creates an order; asserts 201 and returns the create answer.
    pub(crate) async fn create_order(&self, order_no: &str, amount: &str) -> Answer {
        let intent = self.mint(order_no, amount).await;
        let answer = self.create(&intent).await;
        assert_eq!(answer.status, 201, "create {order_no}: {}", answer.text);
        answer
    }

    /// Mints and creates an order; returns its client secret.
    pub(crate) async fn new_order(&self, order_no: &str, amount: &str) -> String {
        self.create_order(order_no, amount).await.body["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The shopper's status view of an order.
    pub(crate) async fn status(&self, order_no: &str, secret: &str) -> Answer {
        self.edge_get(
            &format!("/v1/orders/{order_no}"),
            &[("X-Client-Secret", secret), ("Origin", ORIGIN)],
        )
        .await
    }

    /// The notification outbox rows in `state` (`GET /v1/admin/webhooks?state=...`).
    pub(crate) async fn admin_webhooks(&self, state: &str) -> Vec<Value> {
        let answer = self
            .edge_get(
                &format!("/v1/admin/webhooks?state={state}"),
                &[("Authorization", &format!("Bearer {TOKEN}"))],
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["webhooks"]
            .as_array()
            .unwrap_or_else(|| panic!("no webhooks array: {}", answer.text))
            .clone()
    }

    /// The merchant's view of an order (`GET /v1/admin/orders/{order_no}`).
    pub(crate) async fn admin_order(&self, order_no: &str) -> Answer {
        self.edge_get(
            &format!("/v1/admin/orders/{order_no}"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .await
    }

    /// The order's event log, oldest first; asserts the order exists.
    pub(crate) async fn events(&self, order_no: &str) -> Vec<Value> {
        let answer = self.admin_order(order_no).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The outcomes of the order's events from `source`, in order.
    pub(crate) async fn outcomes(&self, order_no: &str, source: &str) -> Vec<String> {
        self.events(order_no)
            .await
            .iter()
            .filter(|e| e["source"] == source)
            .filter_map(|e| e["outcome"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until the admin view of the order has `state`.
    pub(crate) async fn wait_state(&self, order_no: &str, state: &str) {
        let reached = tests::wait::eventually(Duration::from_secs(10), POLL, || async {
            (self.admin_order(order_no).await.body["state"] == state).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "{order_no} never reached {state}: {}",
            self.admin_order(order_no).await.text
        );
    }

    /// Runs SQL that writes rows about the merchant order `order_no` on the D1 shard holding
    /// it ([`shard_of`]; [`EdgeWorker::d1_execute_on`]), to stage a state the Worker would only
    /// reach by stopping between two steps. Panics with `what` on failure.
    pub(crate) fn d1_execute_for(&self, order_no: &str, sql: &str, what: &str) {
        let shard = shard_of(order_no, self.edge.shards());
        self.edge
            .d1_execute_on(shard, sql)
            .unwrap_or_else(|e| panic!("{what} (shard {shard}): {e}"));
    }

    /// POSTs a callback body to `/v1/trustpay/callback`.
    pub(crate) async fn callback(&self, body: String) -> Answer {
        self.send(
            reqwest::Method::POST,
            &self.edge.url("/v1/trustpay/callback"),
            &[("Content-Type", "application/json")],
            Some(body.into_bytes()),
        )
        .await
    }

    /// The `wrangler dev` output without its own access-log lines (`[wrangler:info] POST
    /// /v1/... 200 OK (12ms)`): those stand in for Cloudflare's invocation logs, which
    /// `edge/wrangler.toml` turns off because they record URLs, and the risk hook's URL carries
    /// its token. Everything the Worker itself prints stays in.
    pub(crate) fn worker_log(&self) -> String {
        const METHODS: [&str; 5] = ["GET ", "POST ", "OPTIONS ", "PUT ", "DELETE "];
        self.edge
            .output()
            .lines()
            .filter(|line| {
                line.strip_prefix("[wrangler:info] ")
                    .is_none_or(|rest| !METHODS.iter().any(|m| rest.starts_with(m)))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Asserts the Worker's output so far contains none of `values` (`what` they are).
    pub(crate) fn assert_not_logged(&self, values: &[&str], what: &str) {
        let output = self.worker_log();
        for value in values {
            assert!(
                !output.contains(value),
                "the Worker logged {what} ({value})"
            );
        }
    }

    /// Scans every recorded edge response, the Worker's log ([`Stack::worker_log`]) and the
    /// built assets for the canary secrets. Panics on any hit.
    pub(crate) fn leak_scan(&self) {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let log = self.worker_log();
        let root = workspace_root();
        let files: Vec<PathBuf> = [
            root.join("edge").join("build"),
            root.join("www").join("pkg"),
        ]
        .iter()
        .flat_map(|dir| files_under(dir))
        .collect();
        let mut hits = Vec::new();
        for (name, value) in CANARIES {
            for (n, record) in seen.iter().enumerate() {
                // A record's first line is the status and the URL we requested (the risk
                // hook's URL holds its token); the response is the rest.
                let response = record.split_once('\n').map_or("", |(_, rest)| rest);
                if response.contains(value) {
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
    }
}

/// A suite that ended well ends with its responses checked against `edge/openapi.yaml`
/// ([`crate::openapi`]): each must be a documented status and media type of its operation, with
/// a body its schema accepts. Static assets (`/widget/...`) and `wrangler dev`'s own routes
/// (`/__scheduled`) are not part of the API.
impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let exchanges = self
            .exchanges
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let spec = crate::openapi::spec();
        let failures: Vec<String> = exchanges
            .iter()
            .filter(|e| !e.path.starts_with("/widget/") && !e.path.starts_with("/__"))
            .filter_map(|e| {
                let why = spec.check(e).err()?;
                Some(format!(
                    "{} {} -> {}: {why}\n    {:.300}",
                    e.method, e.path, e.status, e.body
                ))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} edge responses do not match edge/openapi.yaml:\n{}",
            failures.len(),
            exchanges.len(),
            failures.join("\n")
        );
        eprintln!(
            "openapi: {} edge responses match edge/openapi.yaml",
            exchanges.len()
        );
    }
}

/// The simulator of every stack: the canary credentials, and no time-out callback may land in
/// the middle of a suite.
fn sim_config() -> SimConfig {
    SimConfig {
        api_key: secret(API_KEY),
        secret: secret(SECRET),
        order_timeout: Duration::from_secs(3600),
        ..SimConfig::for_tests()
    }
}
