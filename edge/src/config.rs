//! Configuration: every variable and secret the edge reads, parsed into typed values.
//!
//! [`Config::from_lookup`] is a pure function over a name → value closure, so every rule here
//! is unit-tested natively; the Worker passes a closure over `Env` (vars and secrets look the
//! same to it). Secrets become [`Secret`] the moment they are read; an empty secret is an
//! error, never a value to sign with.
//!
//! Every name is declared once, in [`var`] (its kind, whether it is required, its default and
//! meaning are in its doc comment), and read once, in [`Config::from_lookup`], through
//! [`Reader`]. To add a setting: one entry in the `variables!` list, one field, one read.

use checkout_core::money::{Amount, AmountRendering, Currency};
use checkout_core::risk::{BinList, DEFAULT_MAX_ATTEMPTS, OnTimeout, RiskRules};
use checkout_core::secret::Secret;
use checkout_core::webhook::{RetrySchedule, WebhookSecret};

/// TrustPay's API origin when `TRUSTPAY_BASE_URL` is unset.
pub const DEFAULT_TRUSTPAY_BASE_URL: &str = "https://api.trustpay.money";
/// Default outbound timeout.
pub const DEFAULT_GATEWAY_TIMEOUT_MS: u32 = 8_000;
/// Default status refresh period.
pub const DEFAULT_STATUS_REFRESH_SECONDS: u32 = 10;
/// Default budget of the risk hook's storage work.
pub const DEFAULT_RISK_TIMEOUT_MS: u32 = 1_500;
/// Default timeout of one notification delivery.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u32 = 10_000;
/// Default age of a pending order before the reconciliation cron queries it.
pub const DEFAULT_RECONCILE_MIN_AGE_SECONDS: u32 = 120;
/// Default number of orders queried per cron run.
pub const DEFAULT_RECONCILE_BATCH: u32 = 25;
/// Default of `MAX_ATTEMPTS`.
pub const DEFAULT_MAX_ATTEMPTS_PER_ORDER: u32 = 5;
/// Default of `ATTEMPT_ABANDON_SECONDS`.
pub const DEFAULT_ATTEMPT_ABANDON_SECONDS: u32 = 600;
/// Default heartbeat period of the live-events stream.
pub const DEFAULT_EVENTS_HEARTBEAT_SECONDS: u32 = 15;
/// The most D1 shards `D1_SHARDS` may name.
pub const MAX_D1_SHARDS: u32 = 16;
/// The D1 binding of each shard: shard 0 is `DB` (the only one without sharding), shard `i`
/// is `DB_i`.
pub const D1_BINDINGS: [&str; MAX_D1_SHARDS as usize] = [
    "DB", "DB_1", "DB_2", "DB_3", "DB_4", "DB_5", "DB_6", "DB_7", "DB_8", "DB_9", "DB_10", "DB_11",
    "DB_12", "DB_13", "DB_14", "DB_15",
];
/// The callback path under `PUBLIC_BASE_URL`.
pub const CALLBACK_PATH: &str = "/v1/trustpay/callback";
/// The risk-control hook's path under `PUBLIC_BASE_URL`; the hook URL registered with TrustPay
/// is `{PUBLIC_BASE_URL}{RISK_HOOK_PATH}/{RISK_HOOK_TOKEN}`.
pub const RISK_HOOK_PATH: &str = "/v1/trustpay/risk-control";
/// The shortest secret of ours accepted (bytes as configured): 32 random bytes' worth of text
/// is the floor for keys that sign intents and results, and for bearer tokens.
pub const MIN_SECRET_BYTES: usize = 32;

/// The name of a plain variable (`[vars]` in wrangler.toml): read trimmed, blank = unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarName(pub &'static str);

/// The name of a secret (`wrangler secret put`): read untrimmed, blank = unset, never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretName(pub &'static str);

/// Declares each name once: `var NAME;` or `secret NAME;`, and [`var::ALL`] in this order.
macro_rules! variables {
    ( $( $(#[$doc:meta])* $kind:ident $name:ident; )+ ) => {
        /// Every variable and secret the edge reads, in the order they are documented.
        pub mod var {
            use super::{SecretName, VarName};
            $( variables!(@one $(#[$doc])* $kind $name); )+

            /// Every name, in declaration order.
            pub const ALL: &[&str] = &[ $( stringify!($name), )+ ];
        }
    };
    (@one $(#[$doc:meta])* var $name:ident) => {
        $(#[$doc])*
        pub const $name: VarName = VarName(stringify!($name));
    };
    (@one $(#[$doc:meta])* secret $name:ident) => {
        $(#[$doc])*
        pub const $name: SecretName = SecretName(stringify!($name));
    };
}

variables! {
    /// Optional (default [`super::DEFAULT_TRUSTPAY_BASE_URL`]): the TrustPay API origin.
    var TRUSTPAY_BASE_URL;
    /// Required: our TrustPay merchant id (digits).
    var TRUSTPAY_MERCHANT_ID;
    /// Required: sent as `X-Api-Key`.
    secret TRUSTPAY_API_KEY;
    /// Required: the MD5 `sign` key of requests and callbacks.
    secret TRUSTPAY_SECRET;
    /// Required: this Worker's public URL; `notify_url` = `{it}/v1/trustpay/callback`.
    var PUBLIC_BASE_URL;
    /// Required: comma-separated merchant page origins (`https://shop.example`).
    var ALLOWED_ORIGINS;
    /// Required (at least 32 bytes): the HMAC key of checkout intents and events tokens.
    secret INTENT_SECRET;
    /// Required (at least 32 bytes): the bearer token of `/v1/intents` and the read-only
    /// admin routes (`balance`, `fees`, `orders/{order_no}`).
    secret MERCHANT_API_TOKEN;
    /// Optional (off; at least 32 bytes): the bearer token of the money-moving admin route
    /// (`POST /v1/admin/refunds`). Unset, refunds are refused with `unauthorized`.
    secret MERCHANT_REFUND_TOKEN;
    /// Optional (off): intent-less orders, e.g. `USD:1.00-500.00` or `USD:1-500,INR:100-50000`.
    var OPEN_AMOUNT;
    /// Optional (`two_decimals`): `two_decimals` or `trimmed`.
    var SIGN_AMOUNT_RENDERING;
    /// Optional (`8000`): timeout of each TrustPay call, milliseconds.
    var GATEWAY_TIMEOUT_MS;
    /// Optional (`10`): a pending order older than this is re-queried, at most once per
    /// period, seconds.
    var STATUS_REFRESH_SECONDS;
    /// Optional (off; at least 32 bytes): the HMAC key of the `result_token` of final orders
    /// (shared with the merchant backend).
    secret CLIENT_RESULT_SECRET;
    /// Optional (any): comma-separated BIN prefixes the risk hook approves.
    var RISK_BIN_ALLOW;
    /// Optional (none): comma-separated BIN prefixes the risk hook refuses (wins).
    var RISK_BIN_DENY;
    /// Optional (`3`): risk decisions per order; the next is denied.
    var RISK_MAX_ATTEMPTS;
    /// Optional (`1500`): budget of the risk hook's storage work, milliseconds.
    var RISK_TIMEOUT_MS;
    /// Optional (`deny`): the answer when that budget runs out, `deny` or `allow`.
    var RISK_ON_TIMEOUT;
    /// Optional (off; at least 32 bytes): the last path segment of the risk-control hook URL
    /// registered with TrustPay. Unset, the hook refuses every call with `unauthorized`.
    secret RISK_HOOK_TOKEN;
    /// Optional (at least 32 bytes): the hook token being rotated out, still accepted.
    secret RISK_HOOK_TOKEN_PREVIOUS;
    /// Optional (off): where order notifications are POSTed.
    var MERCHANT_WEBHOOK_URL;
    /// Required with the URL (at least 32 bytes as written): the signing key, `whsec_<base64>`
    /// or raw text.
    secret MERCHANT_WEBHOOK_SECRET;
    /// Optional (at least 32 bytes): the key being rotated out (both signatures are sent).
    secret MERCHANT_WEBHOOK_SECRET_PREVIOUS;
    /// Optional (`1m,5m,30m,2h,5h,10h,12h,12h,12h,12h,12h`: 12 attempts over ~3.2 days): the
    /// wait after each failed delivery attempt (`s`/`m`/`h`/`d`); after the last, the
    /// notification is dead until an admin replays it. `none`: one attempt only.
    var MERCHANT_WEBHOOK_RETRY_SCHEDULE;
    /// Optional (`10000`): timeout of one delivery attempt, milliseconds.
    var MERCHANT_WEBHOOK_TIMEOUT_MS;
    /// Optional (`120`): the cron queries pending orders with no news for this long, seconds.
    var RECONCILE_MIN_AGE_SECONDS;
    /// Optional (`25`): at most this many TrustPay queries per cron run.
    var RECONCILE_BATCH;
    /// Optional (`15`): a comment line goes on a quiet live-events stream after this long,
    /// seconds.
    var EVENTS_HEARTBEAT_SECONDS;
    /// Optional (`5`): payment attempts one merchant order may have (1 = no retry).
    var MAX_ATTEMPTS;
    /// Optional (`600`): an attempt still pending this long after its creation counts as
    /// abandoned, and the shopper may start a new one, seconds.
    var ATTEMPT_ABANDON_SECONDS;
    /// Optional (`off`): `on` refunds the extra attempt of a merchant order paid twice, in
    /// full, as soon as the second payment is known.
    var AUTO_REFUND_DUPLICATES;
    /// Optional (`1`, at most 16): how many D1 databases orders are spread over, by a hash of
    /// the merchant order number (`store::shard_of`); each needs its binding, `DB` then `DB_1`
    /// .. `DB_{N-1}` ([`super::D1_BINDINGS`]). Chosen once: changing it moves orders to other
    /// shards, and nothing moves their rows.
    var D1_SHARDS;
}

/// The risk-control hook's settings.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// The rules.
    pub rules: RiskRules,
    /// Budget of the storage work, milliseconds.
    pub timeout_ms: u32,
    /// The answer when the budget runs out.
    pub on_timeout: OnTimeout,
    /// The accepted hook tokens: the current one, then the previous one during a rotation.
    /// Empty: the hook is off and refuses every call.
    pub hook_tokens: Vec<Secret>,
}

/// Merchant notifications (on when `MERCHANT_WEBHOOK_URL` is set).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Where events are POSTed.
    pub url: String,
    /// Signing keys: the current one first, then the previous one during a rotation.
    pub secrets: Vec<WebhookSecret>,
    /// The wait after each failed attempt; dead after the last.
    pub retry_schedule: RetrySchedule,
    /// Timeout of one attempt, milliseconds.
    pub timeout_ms: u32,
}

/// The typed configuration of one request.
#[derive(Debug, Clone)]
pub struct Config {
    /// TrustPay origin without a trailing slash.
    pub trustpay_base_url: String,
    /// Our TrustPay merchant id.
    pub merchant_id: i64,
    /// `X-Api-Key`.
    pub api_key: Secret,
    /// The MD5 signing secret.
    pub trustpay_secret: Secret,
    /// This Worker's public origin (+ optional path prefix), no trailing slash.
    pub public_base_url: String,
    /// Origins allowed to call the widget routes.
    pub allowed_origins: AllowedOrigins,
    /// HMAC key of checkout intents.
    pub intent_secret: Secret,
    /// Bearer token of intents and the read-only merchant routes.
    pub merchant_api_token: Secret,
    /// Bearer token of refunds; none = refunds are refused.
    pub merchant_refund_token: Option<Secret>,
    /// Intent-less amounts, when enabled.
    pub open_amount: Option<OpenAmount>,
    /// How amounts are written in TrustPay requests and their signs.
    pub sign_amount_rendering: AmountRendering,
    /// Outbound timeout, milliseconds.
    pub gateway_timeout_ms: u32,
    /// Pending-order refresh period, seconds.
    pub status_refresh_seconds: u32,
    /// HMAC key of client result tokens; none = no `result_token`.
    pub client_result_secret: Option<Secret>,
    /// The risk-control hook.
    pub risk: RiskConfig,
    /// Merchant notifications, when configured.
    pub webhook: Option<WebhookConfig>,
    /// The reconciliation cron queries pending orders with no news for this long, seconds.
    pub reconcile_min_age_seconds: u32,
    /// At most this many orders are queried per cron run.
    pub reconcile_batch: u32,
    /// Heartbeat period of the live-events stream, seconds.
    pub events_heartbeat_seconds: u32,
    /// Payment attempts one merchant order may have.
    pub max_attempts: u32,
    /// A pending attempt this old may be replaced by a new one, seconds.
    pub attempt_abandon_seconds: u32,
    /// Refund the extra payment of a merchant order paid twice, automatically.
    pub auto_refund_duplicates: bool,
    /// D1 databases orders are spread over (1..=[`MAX_D1_SHARDS`]).
    pub d1_shards: u32,
}

/// Why the configuration is unusable. Each names the variable; none holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable or secret is unset or blank.
    #[error("{name} is not set")]
    Missing {
        /// The variable.
        name: &'static str,
    },
    /// A variable is set but can't be used.
    #[error("{name} is malformed: {reason}")]
    Malformed {
        /// The variable.
        name: &'static str,
        /// What is wrong, without the value when it is a secret.
        reason: String,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::Missing { name } | ConfigError::Malformed { name, .. } => name,
        }
    }
}

fn malformed(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Malformed {
        name,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads and validates everything. `lookup` returns a variable's or secret's text.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = Reader(lookup);
        Ok(Config {
            trustpay_base_url: read.parsed_or(var::TRUSTPAY_BASE_URL, base_url, || {
                DEFAULT_TRUSTPAY_BASE_URL.to_owned()
            })?,
            merchant_id: read.required(var::TRUSTPAY_MERCHANT_ID, merchant_id)?,
            api_key: read.secret(var::TRUSTPAY_API_KEY)?,
            trustpay_secret: read.secret(var::TRUSTPAY_SECRET)?,
            public_base_url: read.required(var::PUBLIC_BASE_URL, base_url)?,
            allowed_origins: read.required(var::ALLOWED_ORIGINS, AllowedOrigins::parse)?,
            intent_secret: read.strong_secret(var::INTENT_SECRET)?,
            merchant_api_token: read.strong_secret(var::MERCHANT_API_TOKEN)?,
            merchant_refund_token: read.optional_strong_secret(var::MERCHANT_REFUND_TOKEN)?,
            open_amount: read.parsed(var::OPEN_AMOUNT, OpenAmount::parse)?,
            sign_amount_rendering: read.parsed_or(
                var::SIGN_AMOUNT_RENDERING,
                str::parse::<AmountRendering>,
                || AmountRendering::TwoDecimals,
            )?,
            gateway_timeout_ms: read.number(
                var::GATEWAY_TIMEOUT_MS,
                DEFAULT_GATEWAY_TIMEOUT_MS,
                100..=60_000,
            )?,
            status_refresh_seconds: read.number(
                var::STATUS_REFRESH_SECONDS,
                DEFAULT_STATUS_REFRESH_SECONDS,
                0..=3_600,
            )?,
            client_result_secret: read.optional_strong_secret(var::CLIENT_RESULT_SECRET)?,
            risk: RiskConfig::read(&read)?,
            webhook: WebhookConfig::read(&read)?,
            reconcile_min_age_seconds: read.number(
                var::RECONCILE_MIN_AGE_SECONDS,
                DEFAULT_RECONCILE_MIN_AGE_SECONDS,
                0..=86_400,
            )?,
            reconcile_batch: read.number(var::RECONCILE_BATCH, DEFAULT_RECONCILE_BATCH, 1..=500)?,
            events_heartbeat_seconds: read.number(
                var::EVENTS_HEARTBEAT_SECONDS,
                DEFAULT_EVENTS_HEARTBEAT_SECONDS,
                1..=300,
            )?,
            max_attempts: read.number(
                var::MAX_ATTEMPTS,
                DEFAULT_MAX_ATTEMPTS_PER_ORDER,
                1..=checkout_core::attempt::MAX_ATTEMPT,
            )?,
            attempt_abandon_seconds: read.number(
                var::ATTEMPT_ABANDON_SECONDS,
                DEFAULT_ATTEMPT_ABANDON_SECONDS,
                0..=7 * 86_400,
            )?,
            auto_refund_duplicates: read
                .parsed_or(var::AUTO_REFUND_DUPLICATES, on_off, || false)?,
            d1_shards: read.number(var::D1_SHARDS, 1, 1..=MAX_D1_SHARDS)?,
        })
    }

    /// Where TrustPay posts callbacks.
    pub fn notify_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_base_url)
    }
}

impl RiskConfig {
    fn read<F: Fn(&str) -> Option<String>>(read: &Reader<F>) -> Result<Self, ConfigError> {
        Ok(RiskConfig {
            rules: RiskRules {
                bin_allow: read.parsed_or(var::RISK_BIN_ALLOW, BinList::parse, BinList::default)?,
                bin_deny: read.parsed_or(var::RISK_BIN_DENY, BinList::parse, BinList::default)?,
                max_attempts: read.number(var::RISK_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, 1..=100)?,
            },
            timeout_ms: read.number(var::RISK_TIMEOUT_MS, DEFAULT_RISK_TIMEOUT_MS, 1..=10_000)?,
            on_timeout: read
                .parsed_or(var::RISK_ON_TIMEOUT, OnTimeout::parse, || OnTimeout::Deny)?,
            hook_tokens: {
                let current = read.optional_strong_secret(var::RISK_HOOK_TOKEN)?;
                let previous = read.optional_strong_secret(var::RISK_HOOK_TOKEN_PREVIOUS)?;
                if current.is_none() && previous.is_some() {
                    return Err(ConfigError::Missing {
                        name: var::RISK_HOOK_TOKEN.0,
                    });
                }
                current.into_iter().chain(previous).collect()
            },
        })
    }
}

impl WebhookConfig {
    /// On when `MERCHANT_WEBHOOK_URL` is set; its secret is then required.
    fn read<F: Fn(&str) -> Option<String>>(read: &Reader<F>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = read.parsed(var::MERCHANT_WEBHOOK_URL, base_url)? else {
            return Ok(None);
        };
        let current =
            read.webhook_secret(var::MERCHANT_WEBHOOK_SECRET)?
                .ok_or(ConfigError::Missing {
                    name: var::MERCHANT_WEBHOOK_SECRET.0,
                })?;
        let mut secrets = vec![current];
        secrets.extend(read.webhook_secret(var::MERCHANT_WEBHOOK_SECRET_PREVIOUS)?);
        Ok(Some(WebhookConfig {
            url,
            secrets,
            retry_schedule: read.parsed_or(
                var::MERCHANT_WEBHOOK_RETRY_SCHEDULE,
                RetrySchedule::parse,
                RetrySchedule::default,
            )?,
            timeout_ms: read.number(
                var::MERCHANT_WEBHOOK_TIMEOUT_MS,
                DEFAULT_WEBHOOK_TIMEOUT_MS,
                100..=30_000,
            )?,
        }))
    }
}

/// The one place names are looked up: each method takes a [`VarName`] or [`SecretName`] and
/// turns "unset", "blank" and "can't parse" into a [`ConfigError`] naming it.
struct Reader<F>(F);

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// A variable's trimmed text; unset and blank are both `None`.
    fn text(&self, var: VarName) -> Option<String> {
        (self.0)(var.0)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A set variable, parsed; `None` when unset.
    fn parsed<T>(
        &self,
        var: VarName,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.text(var)
            .map(|text| parse(&text).map_err(|reason| malformed(var.0, reason)))
            .transpose()
    }

    /// A variable parsed, or `default()` when unset.
    fn parsed_or<T>(
        &self,
        var: VarName,
        parse: impl FnOnce(&str) -> Result<T, String>,
        default: impl FnOnce() -> T,
    ) -> Result<T, ConfigError> {
        Ok(self.parsed(var, parse)?.unwrap_or_else(default))
    }

    /// A variable that must be set, parsed.
    fn required<T>(
        &self,
        var: VarName,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.parsed(var, parse)?
            .ok_or(ConfigError::Missing { name: var.0 })
    }

    /// An integer in `range`, or `default` when unset.
    fn number(
        &self,
        var: VarName,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        self.parsed_or(
            var,
            |text| match text.parse::<u32>() {
                Ok(v) if range.contains(&v) => Ok(v),
                Ok(_) | Err(_) => Err(format!(
                    "expected an integer in {}..={}",
                    range.start(),
                    range.end()
                )),
            },
            || default,
        )
    }

    /// A secret, not trimmed (whitespace may be part of it); `None` when unset or blank.
    fn optional_secret(&self, secret: SecretName) -> Option<Secret> {
        (self.0)(secret.0).and_then(|v| Secret::new(v).ok())
    }

    /// A secret that must be set.
    fn secret(&self, secret: SecretName) -> Result<Secret, ConfigError> {
        self.optional_secret(secret)
            .ok_or(ConfigError::Missing { name: secret.0 })
    }

    /// One of our own secrets, when set: at least [`MIN_SECRET_BYTES`] long.
    fn optional_strong_secret(&self, secret: SecretName) -> Result<Option<Secret>, ConfigError> {
        match self.optional_secret(secret) {
            Some(value) if value.expose().len() < MIN_SECRET_BYTES => Err(too_short(secret)),
            found => Ok(found),
        }
    }

    /// One of our own secrets, required: at least [`MIN_SECRET_BYTES`] long.
    fn strong_secret(&self, secret: SecretName) -> Result<Secret, ConfigError> {
        self.optional_strong_secret(secret)?
            .ok_or(ConfigError::Missing { name: secret.0 })
    }

    /// A webhook signing key (`whsec_<base64>` or raw text, trimmed); `None` when unset.
    fn webhook_secret(&self, secret: SecretName) -> Result<Option<WebhookSecret>, ConfigError> {
        match (self.0)(secret.0).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) if v.trim().len() < MIN_SECRET_BYTES => Err(too_short(secret)),
            Some(v) => WebhookSecret::parse(v.trim())
                .map(Some)
                .map_err(|_| malformed(secret.0, "expected whsec_<base64> or a raw secret")),
        }
    }
}

fn too_short(secret: SecretName) -> ConfigError {
    malformed(
        secret.0,
        format!("shorter than {MIN_SECRET_BYTES} bytes (generate one: `openssl rand -hex 32`)"),
    )
}

/// A TrustPay merchant id: a positive integer, digits only.
/// `on` / `off`.
fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected `on` or `off`".into()),
    }
}

fn merchant_id(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        Ok(_) | Err(_) => Err("expected a positive integer".to_owned()),
    }
}

/// An `https://host[:port][/prefix]` URL without query, fragment or trailing slash;
/// `http://` only on loopback (`127.0.0.1`, `localhost`, `[::1]`), for local development.
fn base_url(text: &str) -> Result<String, String> {
    let (rest, plain) = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
        (Some(rest), _) => (rest, false),
        (None, Some(rest)) => (rest, true),
        (None, None) => return Err("expected an https:// URL".to_owned()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || text.contains(['?', '#', ' ', '@']) {
        return Err(
            "expected scheme://host[:port][/path] without query, fragment or credentials"
                .to_owned(),
        );
    }
    if plain && !is_loopback(authority) {
        return Err("http:// is allowed only for 127.0.0.1, localhost and [::1]".to_owned());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Whether `host[:port]` names the loopback interface.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_owned),
    };
    let port_ok = |host: &str| {
        let rest = &authority[host.len()..];
        rest.is_empty()
            || rest
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match host.as_deref() {
        Some(h @ ("127.0.0.1" | "[::1]")) => port_ok(h),
        Some(h) if h.eq_ignore_ascii_case("localhost") => port_ok(h),
        Some(_) | None => false,
    }
}

/// The merchant page origins allowed to use the widget routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parses `https://a.example, http://localhost:8080`: exact origins (`scheme://host[:port]`).
    /// `*` is refused: the widget routes create orders and must name their merchants.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let rest = item
                .strip_prefix("https://")
                .or_else(|| item.strip_prefix("http://"));
            match rest {
                Some(host)
                    if !host.is_empty() && !host.contains(['/', '?', '#', '*', ' ', '@']) =>
                {
                    origins.push(item.to_ascii_lowercase())
                }
                Some(_) | None => {
                    return Err(format!(
                        "`{item}` is not an origin like https://shop.example"
                    ));
                }
            }
        }
        if origins.is_empty() {
            return Err("no origins listed".to_owned());
        }
        Ok(Self(origins))
    }

    /// Whether a request's `Origin` header is allowed (compared case-insensitively).
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Intent-less amounts: per currency, an inclusive range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAmount(Vec<(Currency, Amount, Amount)>);

impl OpenAmount {
    /// Parses `USD:1.00-500.00[,INR:100-50000]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let err = || format!("`{item}` is not CURRENCY:MIN-MAX, e.g. USD:1.00-500.00");
            let (code, range) = item.split_once(':').ok_or_else(err)?;
            let (min, max) = range.split_once('-').ok_or_else(err)?;
            let currency = Currency::parse(code.trim()).map_err(|e| e.to_string())?;
            let min = Amount::parse_decimal(min.trim()).map_err(|e| format!("{item}: {e}"))?;
            let max = Amount::parse_decimal(max.trim()).map_err(|e| format!("{item}: {e}"))?;
            if min.is_zero() || min > max {
                return Err(format!("`{item}`: need 0 < MIN <= MAX"));
            }
            if ranges.iter().any(|(c, _, _)| *c == currency) {
                return Err(format!("{} listed twice", currency.code()));
            }
            ranges.push((currency, min, max));
        }
        if ranges.is_empty() {
            return Err("no ranges listed".to_owned());
        }
        Ok(Self(ranges))
    }

    /// Whether an intent-less order of this amount is allowed.
    pub fn allows(&self, currency: Currency, amount: Amount) -> bool {
        self.0
            .iter()
            .any(|&(c, min, max)| c == currency && min <= amount && amount <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn full() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("TRUSTPAY_MERCHANT_ID", "8820250900009"),
            ("TRUSTPAY_API_KEY", "api-key"),
            ("TRUSTPAY_SECRET", "tp-secret"),
            ("PUBLIC_BASE_URL", "https://pay.shop.example/"),
            (
                "ALLOWED_ORIGINS",
                "https://shop.example, http://localhost:8080",
            ),
            ("INTENT_SECRET", INTENT),
            ("MERCHANT_API_TOKEN", TOKEN),
        ])
    }

    /// Our own secrets in the tests: exactly [`MIN_SECRET_BYTES`] long.
    const INTENT: &str = "intent-secret-0123456789abcdefgh";
    const TOKEN: &str = "merchant-token-0123456789abcdefg";
    const LONG: &str = "another-secret-0123456789abcdefg";

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn defaults() {
        let cfg = load(&full()).expect("valid");
        assert_eq!(cfg.trustpay_base_url, DEFAULT_TRUSTPAY_BASE_URL);
        assert_eq!(cfg.merchant_id, 8820250900009);
        assert_eq!(
            cfg.notify_url(),
            "https://pay.shop.example/v1/trustpay/callback"
        );
        assert_eq!(cfg.sign_amount_rendering, AmountRendering::TwoDecimals);
        assert!(cfg.open_amount.is_none());
        assert_eq!(cfg.gateway_timeout_ms, DEFAULT_GATEWAY_TIMEOUT_MS);
        assert!(cfg.allowed_origins.allows("http://localhost:8080"));
        assert!(cfg.allowed_origins.allows("https://SHOP.example"));
        assert!(!cfg.allowed_origins.allows("https://evil.example"));
        assert!(!format!("{cfg:?}").contains("tp-secret"));
    }

    #[test]
    fn each_required_variable_is_named_when_missing_or_blank() {
        for name in [
            "TRUSTPAY_MERCHANT_ID",
            "TRUSTPAY_API_KEY",
            "TRUSTPAY_SECRET",
            "PUBLIC_BASE_URL",
            "ALLOWED_ORIGINS",
            "INTENT_SECRET",
            "MERCHANT_API_TOKEN",
        ] {
            let mut vars = full();
            vars.remove(name);
            assert_eq!(
                load(&vars).map(|_| ()),
                Err(ConfigError::Missing { name }),
                "{name}"
            );
            vars.insert(name, "   ");
            assert_eq!(
                load(&vars).map(|_| ()),
                Err(ConfigError::Missing { name }),
                "{name} blank"
            );
        }
    }

    #[test]
    fn each_malformed_variable_is_named() {
        for (name, value) in [
            ("TRUSTPAY_BASE_URL", "ftp://x"),
            ("TRUSTPAY_BASE_URL", "https://"),
            ("TRUSTPAY_MERCHANT_ID", "12ab"),
            ("TRUSTPAY_MERCHANT_ID", "-5"),
            ("PUBLIC_BASE_URL", "pay.shop.example"),
            ("PUBLIC_BASE_URL", "https://x/?a=1"),
            ("ALLOWED_ORIGINS", "*"),
            ("ALLOWED_ORIGINS", "https://shop.example/path"),
            ("ALLOWED_ORIGINS", " , "),
            ("OPEN_AMOUNT", "USD"),
            ("OPEN_AMOUNT", "EUR:1-5"),
            ("OPEN_AMOUNT", "USD:5-1"),
            ("OPEN_AMOUNT", "USD:0-1"),
            ("OPEN_AMOUNT", "USD:1-2,USD:3-4"),
            ("SIGN_AMOUNT_RENDERING", "cents"),
            ("GATEWAY_TIMEOUT_MS", "0"),
            ("STATUS_REFRESH_SECONDS", "soon"),
            ("RISK_BIN_ALLOW", "4x"),
            ("RISK_BIN_DENY", "123456789"),
            ("RISK_MAX_ATTEMPTS", "0"),
            ("RISK_TIMEOUT_MS", "0"),
            ("RISK_ON_TIMEOUT", "maybe"),
            ("MERCHANT_WEBHOOK_URL", "shop.example/hook"),
            ("RECONCILE_MIN_AGE_SECONDS", "-1"),
            ("RECONCILE_BATCH", "0"),
            ("RECONCILE_BATCH", "501"),
            ("EVENTS_HEARTBEAT_SECONDS", "0"),
            ("MAX_ATTEMPTS", "0"),
            ("MAX_ATTEMPTS", "100"),
            ("ATTEMPT_ABANDON_SECONDS", "-1"),
            ("AUTO_REFUND_DUPLICATES", "yes"),
            ("D1_SHARDS", "0"),
            ("D1_SHARDS", "17"),
            ("D1_SHARDS", "four"),
        ] {
            let mut vars = full();
            vars.insert(name, value);
            let err = load(&vars).map(|_| ()).expect_err(value);
            assert_eq!(err.variable(), name, "{value}");
            assert!(matches!(err, ConfigError::Malformed { .. }), "{value}");
        }
    }

    #[test]
    fn optional_settings() {
        let mut vars = full();
        vars.insert("TRUSTPAY_BASE_URL", "http://127.0.0.1:9999/");
        vars.insert("OPEN_AMOUNT", "USD:1.00-500.00, INR:100-50000");
        vars.insert("SIGN_AMOUNT_RENDERING", "trimmed");
        vars.insert("STATUS_REFRESH_SECONDS", "0");
        let cfg = load(&vars).expect("valid");
        assert_eq!(cfg.trustpay_base_url, "http://127.0.0.1:9999");
        assert_eq!(cfg.sign_amount_rendering, AmountRendering::Trimmed);
        assert_eq!(cfg.status_refresh_seconds, 0);
        assert_eq!(
            cfg.reconcile_min_age_seconds,
            DEFAULT_RECONCILE_MIN_AGE_SECONDS
        );
        assert_eq!(cfg.reconcile_batch, DEFAULT_RECONCILE_BATCH);
        assert_eq!(cfg.d1_shards, 1);
        vars.insert("D1_SHARDS", "16");
        assert_eq!(load(&vars).expect("valid").d1_shards, MAX_D1_SHARDS);
        vars.remove("D1_SHARDS");
        vars.insert("RECONCILE_MIN_AGE_SECONDS", "0");
        vars.insert("RECONCILE_BATCH", "3");
        let reconcile = load(&vars).expect("valid");
        assert_eq!(
            (
                reconcile.reconcile_min_age_seconds,
                reconcile.reconcile_batch
            ),
            (0, 3)
        );
        let open = cfg.open_amount.expect("on");
        let usd = |minor| Amount::from_minor(minor).expect("positive");
        assert!(open.allows(Currency::Usd, usd(100)));
        assert!(open.allows(Currency::Usd, usd(50_000)));
        assert!(!open.allows(Currency::Usd, usd(99)));
        assert!(!open.allows(Currency::Usd, usd(50_001)));
        assert!(open.allows(Currency::Inr, usd(10_000)));
    }

    #[test]
    fn every_shard_has_its_binding_name() {
        assert_eq!(D1_BINDINGS[0], "DB");
        for (i, name) in D1_BINDINGS.iter().enumerate().skip(1) {
            assert_eq!(*name, format!("DB_{i}"));
        }
    }

    #[test]
    fn merchant_integrations() {
        let cfg = load(&full()).expect("valid");
        assert!(cfg.client_result_secret.is_none());
        assert!(cfg.webhook.is_none());
        assert_eq!(cfg.risk.rules, RiskRules::default());
        assert_eq!(cfg.risk.timeout_ms, DEFAULT_RISK_TIMEOUT_MS);
        assert_eq!(cfg.risk.on_timeout, OnTimeout::Deny);

        let mut vars = full();
        vars.insert("CLIENT_RESULT_SECRET", LONG);
        vars.insert("RISK_BIN_ALLOW", "4,5500");
        vars.insert("RISK_BIN_DENY", "411111");
        vars.insert("RISK_MAX_ATTEMPTS", "5");
        vars.insert("RISK_ON_TIMEOUT", "allow");
        vars.insert(
            "MERCHANT_WEBHOOK_URL",
            "https://shop.example/hooks/trustpay",
        );
        let err = load(&vars).map(|_| ()).expect_err("secret missing");
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "MERCHANT_WEBHOOK_SECRET"
            }
        );
        // 32 random bytes, base64: `whsec_` + 44 characters.
        vars.insert(
            "MERCHANT_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0rdMGGjTRo0=",
        );
        vars.insert("MERCHANT_WEBHOOK_SECRET_PREVIOUS", LONG);
        let cfg = load(&vars).expect("valid");
        assert!(cfg.client_result_secret.is_some());
        assert_eq!(cfg.risk.rules.max_attempts, 5);
        assert_eq!(cfg.risk.rules.bin_deny.matching("411111"), Some("411111"));
        assert_eq!(cfg.risk.on_timeout, OnTimeout::Allow);
        let hook = cfg.webhook.expect("on");
        assert_eq!(hook.url, "https://shop.example/hooks/trustpay");
        assert_eq!(hook.secrets.len(), 2);
        assert_eq!(hook.retry_schedule, RetrySchedule::default());
        vars.insert("MERCHANT_WEBHOOK_RETRY_SCHEDULE", "1s, 2m,3h");
        let hook = load(&vars).expect("valid").webhook.expect("on");
        assert_eq!(hook.retry_schedule.attempts(), 4);
        assert_eq!(hook.retry_schedule.delay_after(3), Some(3 * 3_600));
        vars.insert("MERCHANT_WEBHOOK_RETRY_SCHEDULE", "1s,soon");
        assert_eq!(
            load(&vars).map(|_| ()).expect_err("bad").variable(),
            "MERCHANT_WEBHOOK_RETRY_SCHEDULE"
        );
        vars.remove("MERCHANT_WEBHOOK_RETRY_SCHEDULE");
        vars.insert(
            "MERCHANT_WEBHOOK_SECRET",
            "whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        );
        assert_eq!(
            load(&vars).map(|_| ()).expect_err("bad").variable(),
            "MERCHANT_WEBHOOK_SECRET"
        );
    }

    #[test]
    fn every_declared_name_is_read_once_in_declaration_order() {
        let mut vars = full();
        vars.insert(
            "MERCHANT_WEBHOOK_URL",
            "https://shop.example/hooks/trustpay",
        );
        vars.insert("MERCHANT_WEBHOOK_SECRET", LONG);
        vars.insert("RISK_HOOK_TOKEN", LONG);
        let asked = std::cell::RefCell::new(Vec::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            vars.get(name).map(|v| (*v).to_owned())
        })
        .expect("valid");
        assert_eq!(asked.into_inner(), var::ALL);
        let mut names = var::ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), var::ALL.len(), "a name is declared twice");
    }

    #[test]
    fn each_short_secret_of_ours_is_named() {
        let short = "x".repeat(MIN_SECRET_BYTES - 1);
        for name in [
            "INTENT_SECRET",
            "MERCHANT_API_TOKEN",
            "MERCHANT_REFUND_TOKEN",
            "CLIENT_RESULT_SECRET",
            "RISK_HOOK_TOKEN",
            "RISK_HOOK_TOKEN_PREVIOUS",
            "MERCHANT_WEBHOOK_SECRET",
            "MERCHANT_WEBHOOK_SECRET_PREVIOUS",
        ] {
            let mut vars = full();
            vars.insert("MERCHANT_WEBHOOK_URL", "https://shop.example/hooks");
            vars.insert("MERCHANT_WEBHOOK_SECRET", LONG);
            vars.insert("RISK_HOOK_TOKEN", LONG);
            let mut vars: HashMap<&str, String> =
                vars.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
            vars.insert(name, short.clone());
            let err = Config::from_lookup(|n| vars.get(n).cloned()).expect_err(name);
            assert_eq!(err.variable(), name);
            assert!(matches!(err, ConfigError::Malformed { .. }), "{name}");
            assert!(
                !err.to_string().contains(&short),
                "{name}: the value leaked"
            );
        }
        // TrustPay's own credentials are theirs to choose: only non-empty.
        let mut vars = full();
        vars.insert("TRUSTPAY_API_KEY", "k");
        vars.insert("TRUSTPAY_SECRET", "s");
        assert!(load(&vars).is_ok());
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for name in [
            "TRUSTPAY_BASE_URL",
            "PUBLIC_BASE_URL",
            "MERCHANT_WEBHOOK_URL",
        ] {
            for url in [
                "http://pay.example",
                "http://10.0.0.1:8080",
                "http://127.0.0.1.evil.example",
                "http://localhost.evil.example",
                "http://[::2]:80",
                "http://127.0.0.1:",
            ] {
                let mut vars = full();
                vars.insert("MERCHANT_WEBHOOK_SECRET", LONG);
                vars.insert(name, url);
                let err = load(&vars).map(|_| ()).expect_err(url);
                assert_eq!(err.variable(), name, "{url}");
            }
            for url in [
                "http://127.0.0.1",
                "http://127.0.0.1:8787/prefix",
                "http://localhost:3000",
                "http://LOCALHOST",
                "http://[::1]:9000",
                "https://pay.example",
            ] {
                let mut vars = full();
                vars.insert("MERCHANT_WEBHOOK_SECRET", LONG);
                vars.insert(name, url);
                assert!(load(&vars).is_ok(), "{name}={url}");
            }
        }
    }

    #[test]
    fn refund_and_hook_tokens() {
        let cfg = load(&full()).expect("valid");
        assert!(cfg.merchant_refund_token.is_none());
        assert!(cfg.risk.hook_tokens.is_empty());
        let mut vars = full();
        vars.insert("RISK_HOOK_TOKEN_PREVIOUS", LONG);
        assert_eq!(
            load(&vars).map(|_| ()),
            Err(ConfigError::Missing {
                name: "RISK_HOOK_TOKEN"
            })
        );
        vars.insert("RISK_HOOK_TOKEN", INTENT);
        vars.insert("MERCHANT_REFUND_TOKEN", LONG);
        let cfg = load(&vars).expect("valid");
        let tokens: Vec<&str> = cfg.risk.hook_tokens.iter().map(Secret::expose).collect();
        assert_eq!(tokens, [INTENT, LONG]);
        assert!(cfg.merchant_refund_token.is_some_and(|t| t.matches(LONG)));
    }

    #[test]
    fn errors_never_contain_secret_values() {
        let mut vars = full();
        vars.insert("SIGN_AMOUNT_RENDERING", "nope");
        let err = load(&vars).expect_err("malformed").to_string();
        assert!(!err.contains("tp-secret") && !err.contains("api-key"));
    }
}
