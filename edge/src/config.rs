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
use checkout_core::webhook::WebhookSecret;

/// TrustPay's API origin when `TRUSTPAY_BASE_URL` is unset.
pub const DEFAULT_TRUSTPAY_BASE_URL: &str = "https://api.trustpay.money";
/// Default outbound timeout.
pub const DEFAULT_GATEWAY_TIMEOUT_MS: u32 = 8_000;
/// Default status refresh period.
pub const DEFAULT_STATUS_REFRESH_SECONDS: u32 = 10;
/// Default budget of the risk hook's storage work.
pub const DEFAULT_RISK_TIMEOUT_MS: u32 = 1_500;
/// Default base of the notification retry backoff.
pub const DEFAULT_WEBHOOK_RETRY_BASE_SECONDS: u32 = 10;
/// Default timeout of one notification delivery.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u32 = 10_000;
/// Default age of a pending order before the reconciliation cron queries it.
pub const DEFAULT_RECONCILE_MIN_AGE_SECONDS: u32 = 120;
/// Default number of orders queried per cron run.
pub const DEFAULT_RECONCILE_BATCH: u32 = 25;
/// Default heartbeat period of the live-events stream.
pub const DEFAULT_EVENTS_HEARTBEAT_SECONDS: u32 = 15;
/// The callback path under `PUBLIC_BASE_URL`.
pub const CALLBACK_PATH: &str = "/v1/trustpay/callback";

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
    /// Required: the HMAC key of checkout intents.
    secret INTENT_SECRET;
    /// Required: the bearer token of `/v1/intents` and `/v1/admin/*`.
    secret MERCHANT_API_TOKEN;
    /// Optional (off): intent-less orders, e.g. `USD:1.00-500.00` or `USD:1-500,INR:100-50000`.
    var OPEN_AMOUNT;
    /// Optional (`two_decimals`): `two_decimals` or `trimmed`.
    var SIGN_AMOUNT_RENDERING;
    /// Optional (`8000`): timeout of each TrustPay call, milliseconds.
    var GATEWAY_TIMEOUT_MS;
    /// Optional (`10`): a pending order older than this is re-queried, at most once per
    /// period, seconds.
    var STATUS_REFRESH_SECONDS;
    /// Optional (off): the HMAC key of the `result_token` of final orders (shared with the
    /// merchant backend).
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
    /// Optional (off): where order notifications are POSTed.
    var MERCHANT_WEBHOOK_URL;
    /// Required with the URL: the signing key, `whsec_<base64>` or raw text.
    secret MERCHANT_WEBHOOK_SECRET;
    /// Optional: the key being rotated out (both signatures are sent).
    secret MERCHANT_WEBHOOK_SECRET_PREVIOUS;
    /// Optional (`10`): retry delay after attempt n = base·2^(n-1), at most 12 h, seconds.
    var MERCHANT_WEBHOOK_RETRY_BASE_SECONDS;
    /// Optional (`10000`): timeout of one delivery attempt, milliseconds.
    var MERCHANT_WEBHOOK_TIMEOUT_MS;
    /// Optional (`120`): the cron queries pending orders with no news for this long, seconds.
    var RECONCILE_MIN_AGE_SECONDS;
    /// Optional (`25`): at most this many TrustPay queries per cron run.
    var RECONCILE_BATCH;
    /// Optional (`15`): a comment line goes on a quiet live-events stream after this long,
    /// seconds.
    var EVENTS_HEARTBEAT_SECONDS;
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
}

/// Merchant notifications (on when `MERCHANT_WEBHOOK_URL` is set).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Where events are POSTed.
    pub url: String,
    /// Signing keys: the current one first, then the previous one during a rotation.
    pub secrets: Vec<WebhookSecret>,
    /// Retry backoff base, seconds.
    pub retry_base_seconds: u32,
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
    /// Bearer token of merchant routes.
    pub merchant_api_token: Secret,
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
            intent_secret: read.secret(var::INTENT_SECRET)?,
            merchant_api_token: read.secret(var::MERCHANT_API_TOKEN)?,
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
            client_result_secret: read.optional_secret(var::CLIENT_RESULT_SECRET),
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
            retry_base_seconds: read.number(
                var::MERCHANT_WEBHOOK_RETRY_BASE_SECONDS,
                DEFAULT_WEBHOOK_RETRY_BASE_SECONDS,
                0..=3_600,
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

    /// A webhook signing key (`whsec_<base64>` or raw text, trimmed); `None` when unset.
    fn webhook_secret(&self, secret: SecretName) -> Result<Option<WebhookSecret>, ConfigError> {
        match (self.0)(secret.0).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => WebhookSecret::parse(v.trim())
                .map(Some)
                .map_err(|_| malformed(secret.0, "expected whsec_<base64> or a raw secret")),
        }
    }
}

/// A TrustPay merchant id: a positive integer, digits only.
fn merchant_id(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        Ok(_) | Err(_) => Err("expected a positive integer".to_owned()),
    }
}

/// An `http(s)://host[:port][/prefix]` URL without query, fragment or trailing slash.
fn base_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err("expected an http:// or https:// URL".to_owned());
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || text.contains(['?', '#', ' ', '@']) {
        return Err(
            "expected scheme://host[:port][/path] without query, fragment or credentials"
                .to_owned(),
        );
    }
    Ok(text.trim_end_matches('/').to_owned())
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
            ("INTENT_SECRET", "intent-secret"),
            ("MERCHANT_API_TOKEN", "token"),
        ])
    }

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
    fn merchant_integrations() {
        let cfg = load(&full()).expect("valid");
        assert!(cfg.client_result_secret.is_none());
        assert!(cfg.webhook.is_none());
        assert_eq!(cfg.risk.rules, RiskRules::default());
        assert_eq!(cfg.risk.timeout_ms, DEFAULT_RISK_TIMEOUT_MS);
        assert_eq!(cfg.risk.on_timeout, OnTimeout::Deny);

        let mut vars = full();
        vars.insert("CLIENT_RESULT_SECRET", "result-key");
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
        vars.insert("MERCHANT_WEBHOOK_SECRET", "whsec_bm90IGJhc2U2NA==");
        vars.insert("MERCHANT_WEBHOOK_SECRET_PREVIOUS", "old-raw-secret");
        let cfg = load(&vars).expect("valid");
        assert!(cfg.client_result_secret.is_some());
        assert_eq!(cfg.risk.rules.max_attempts, 5);
        assert_eq!(cfg.risk.rules.bin_deny.matching("411111"), Some("411111"));
        assert_eq!(cfg.risk.on_timeout, OnTimeout::Allow);
        let hook = cfg.webhook.expect("on");
        assert_eq!(hook.url, "https://shop.example/hooks/trustpay");
        assert_eq!(hook.secrets.len(), 2);
        assert_eq!(hook.retry_base_seconds, DEFAULT_WEBHOOK_RETRY_BASE_SECONDS);
        vars.insert("MERCHANT_WEBHOOK_SECRET", "whsec_!!");
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
        vars.insert("MERCHANT_WEBHOOK_SECRET", "raw-secret");
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
    fn errors_never_contain_secret_values() {
        let mut vars = full();
        vars.insert("SIGN_AMOUNT_RENDERING", "nope");
        let err = load(&vars).expect_err("malformed").to_string();
        assert!(!err.contains("tp-secret") && !err.contains("api-key"));
    }
}
