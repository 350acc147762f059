//! Configuration: every variable and secret the edge reads, parsed into typed values.
//!
//! [`Config::from_lookup`] is a pure function over a name → value closure, so every rule here
//! is unit-tested natively; the Worker passes a closure over `Env` (vars and secrets look the
//! same to it). Secrets become [`Secret`] the moment they are read; an empty secret is an
//! error, never a value to sign with.
//!
//! | name | kind | required | meaning |
//! | --- | --- | --- | --- |
//! | `TRUSTPAY_BASE_URL` | var | no (`https://api.trustpay.money`) | TrustPay API origin |
//! | `TRUSTPAY_MERCHANT_ID` | var | yes | merchant id (digits) |
//! | `TRUSTPAY_API_KEY` | secret | yes | sent as `X-Api-Key` |
//! | `TRUSTPAY_SECRET` | secret | yes | MD5 `sign` key, requests and callbacks |
//! | `PUBLIC_BASE_URL` | var | yes | this Worker's public URL; `notify_url` = `{it}/v1/trustpay/callback` |
//! | `ALLOWED_ORIGINS` | var | yes | comma-separated merchant page origins (`https://shop.example`) |
//! | `INTENT_SECRET` | secret | yes | HMAC key of checkout intents |
//! | `MERCHANT_API_TOKEN` | secret | yes | bearer token of `/v1/intents` and `/v1/admin/*` |
//! | `OPEN_AMOUNT` | var | no (off) | intent-less orders, e.g. `USD:1.00-500.00` or `USD:1-500,INR:100-50000` |
//! | `SIGN_AMOUNT_RENDERING` | var | no (`two_decimals`) | `two_decimals` or `trimmed` |
//! | `GATEWAY_TIMEOUT_MS` | var | no (`8000`) | timeout of each TrustPay call |
//! | `STATUS_REFRESH_SECONDS` | var | no (`10`) | a pending order older than this is re-queried, at most once per period |
//! | `CLIENT_RESULT_SECRET` | secret | no (off) | HMAC key of the `result_token` of final orders (shared with the merchant backend) |
//! | `RISK_BIN_ALLOW` | var | no (any) | comma-separated BIN prefixes the risk hook approves |
//! | `RISK_BIN_DENY` | var | no (none) | comma-separated BIN prefixes the risk hook refuses (wins) |
//! | `RISK_MAX_ATTEMPTS` | var | no (`3`) | risk decisions per order; the next is denied |
//! | `RISK_TIMEOUT_MS` | var | no (`1500`) | budget of the risk hook's storage work |
//! | `RISK_ON_TIMEOUT` | var | no (`deny`) | answer when that budget runs out: `deny` or `allow` |
//! | `MERCHANT_WEBHOOK_URL` | var | no (off) | where order notifications are POSTed |
//! | `MERCHANT_WEBHOOK_SECRET` | secret | with the URL | signing key, `whsec_<base64>` or raw text |
//! | `MERCHANT_WEBHOOK_SECRET_PREVIOUS` | secret | no | the key being rotated out (both signatures are sent) |
//! | `MERCHANT_WEBHOOK_RETRY_BASE_SECONDS` | var | no (`10`) | retry delay after attempt n = base·2^(n-1), at most 12 h |
//! | `MERCHANT_WEBHOOK_TIMEOUT_MS` | var | no (`10000`) | timeout of one delivery attempt |
//! | `RECONCILE_MIN_AGE_SECONDS` | var | no (`120`) | the cron queries pending orders with no news for this long |
//! | `RECONCILE_BATCH` | var | no (`25`) | at most this many TrustPay queries per cron run |
//! | `EVENTS_HEARTBEAT_SECONDS` | var | no (`15`) | comment line on a quiet live-events stream after this long |

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

/// Every variable name, in the order they are documented.
pub const VARIABLES: &[&str] = &[
    "TRUSTPAY_BASE_URL",
    "TRUSTPAY_MERCHANT_ID",
    "TRUSTPAY_API_KEY",
    "TRUSTPAY_SECRET",
    "PUBLIC_BASE_URL",
    "ALLOWED_ORIGINS",
    "INTENT_SECRET",
    "MERCHANT_API_TOKEN",
    "OPEN_AMOUNT",
    "SIGN_AMOUNT_RENDERING",
    "GATEWAY_TIMEOUT_MS",
    "STATUS_REFRESH_SECONDS",
    "CLIENT_RESULT_SECRET",
    "RISK_BIN_ALLOW",
    "RISK_BIN_DENY",
    "RISK_MAX_ATTEMPTS",
    "RISK_TIMEOUT_MS",
    "RISK_ON_TIMEOUT",
    "MERCHANT_WEBHOOK_URL",
    "MERCHANT_WEBHOOK_SECRET",
    "MERCHANT_WEBHOOK_SECRET_PREVIOUS",
    "MERCHANT_WEBHOOK_RETRY_BASE_SECONDS",
    "MERCHANT_WEBHOOK_TIMEOUT_MS",
    "RECONCILE_MIN_AGE_SECONDS",
    "RECONCILE_BATCH",
    "EVENTS_HEARTBEAT_SECONDS",
];

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
        let optional = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| optional(name).ok_or(ConfigError::Missing { name });
        // Secrets are not trimmed: whitespace may be part of them; blank means unset.
        let secret = |name: &'static str| -> Result<Secret, ConfigError> {
            lookup(name)
                .and_then(|v| Secret::new(v).ok())
                .ok_or(ConfigError::Missing { name })
        };

        let trustpay_base_url = match optional("TRUSTPAY_BASE_URL") {
            Some(url) => parse_base_url("TRUSTPAY_BASE_URL", &url)?,
            None => DEFAULT_TRUSTPAY_BASE_URL.to_owned(),
        };
        let merchant_id = required("TRUSTPAY_MERCHANT_ID")?;
        let merchant_id = match merchant_id.parse::<i64>() {
            Ok(id) if id > 0 && merchant_id.bytes().all(|b| b.is_ascii_digit()) => id,
            Ok(_) | Err(_) => {
                return Err(malformed(
                    "TRUSTPAY_MERCHANT_ID",
                    "expected a positive integer",
                ));
            }
        };
        let api_key = secret("TRUSTPAY_API_KEY")?;
        let trustpay_secret = secret("TRUSTPAY_SECRET")?;
        let public_base_url = parse_base_url("PUBLIC_BASE_URL", &required("PUBLIC_BASE_URL")?)?;
        let allowed_origins = AllowedOrigins::parse(&required("ALLOWED_ORIGINS")?)
            .map_err(|reason| malformed("ALLOWED_ORIGINS", reason))?;
        let intent_secret = secret("INTENT_SECRET")?;
        let merchant_api_token = secret("MERCHANT_API_TOKEN")?;
        let open_amount = match optional("OPEN_AMOUNT") {
            Some(text) => {
                Some(OpenAmount::parse(&text).map_err(|reason| malformed("OPEN_AMOUNT", reason))?)
            }
            None => None,
        };
        let sign_amount_rendering = match optional("SIGN_AMOUNT_RENDERING") {
            Some(text) => text
                .parse::<AmountRendering>()
                .map_err(|reason| malformed("SIGN_AMOUNT_RENDERING", reason))?,
            None => AmountRendering::TwoDecimals,
        };
        let gateway_timeout_ms = parse_u32(
            optional("GATEWAY_TIMEOUT_MS"),
            "GATEWAY_TIMEOUT_MS",
            DEFAULT_GATEWAY_TIMEOUT_MS,
            100..=60_000,
        )?;
        let status_refresh_seconds = parse_u32(
            optional("STATUS_REFRESH_SECONDS"),
            "STATUS_REFRESH_SECONDS",
            DEFAULT_STATUS_REFRESH_SECONDS,
            0..=3_600,
        )?;

        let client_result_secret = lookup("CLIENT_RESULT_SECRET").and_then(|v| Secret::new(v).ok());
        let bins = |name: &'static str| {
            BinList::parse(&optional(name).unwrap_or_default())
                .map_err(|reason| malformed(name, reason))
        };
        let risk = RiskConfig {
            rules: RiskRules {
                bin_allow: bins("RISK_BIN_ALLOW")?,
                bin_deny: bins("RISK_BIN_DENY")?,
                max_attempts: parse_u32(
                    optional("RISK_MAX_ATTEMPTS"),
                    "RISK_MAX_ATTEMPTS",
                    DEFAULT_MAX_ATTEMPTS,
                    1..=100,
                )?,
            },
            timeout_ms: parse_u32(
                optional("RISK_TIMEOUT_MS"),
                "RISK_TIMEOUT_MS",
                DEFAULT_RISK_TIMEOUT_MS,
                1..=10_000,
            )?,
            on_timeout: match optional("RISK_ON_TIMEOUT") {
                Some(text) => OnTimeout::parse(&text)
                    .map_err(|reason| malformed("RISK_ON_TIMEOUT", reason))?,
                None => OnTimeout::Deny,
            },
        };
        let webhook = match optional("MERCHANT_WEBHOOK_URL") {
            None => None,
            Some(url) => {
                let url = parse_base_url("MERCHANT_WEBHOOK_URL", &url)?;
                let webhook_secret =
                    |name: &'static str| -> Result<Option<WebhookSecret>, ConfigError> {
                        match lookup(name).filter(|v| !v.trim().is_empty()) {
                            None => Ok(None),
                            Some(v) => WebhookSecret::parse(v.trim()).map(Some).map_err(|_| {
                                malformed(name, "expected whsec_<base64> or a raw secret")
                            }),
                        }
                    };
                let current =
                    webhook_secret("MERCHANT_WEBHOOK_SECRET")?.ok_or(ConfigError::Missing {
                        name: "MERCHANT_WEBHOOK_SECRET",
                    })?;
                let mut secrets = vec![current];
                secrets.extend(webhook_secret("MERCHANT_WEBHOOK_SECRET_PREVIOUS")?);
                Some(WebhookConfig {
                    url,
                    secrets,
                    retry_base_seconds: parse_u32(
                        optional("MERCHANT_WEBHOOK_RETRY_BASE_SECONDS"),
                        "MERCHANT_WEBHOOK_RETRY_BASE_SECONDS",
                        DEFAULT_WEBHOOK_RETRY_BASE_SECONDS,
                        0..=3_600,
                    )?,
                    timeout_ms: parse_u32(
                        optional("MERCHANT_WEBHOOK_TIMEOUT_MS"),
                        "MERCHANT_WEBHOOK_TIMEOUT_MS",
                        DEFAULT_WEBHOOK_TIMEOUT_MS,
                        100..=30_000,
                    )?,
                })
            }
        };

        let reconcile_min_age_seconds = parse_u32(
            optional("RECONCILE_MIN_AGE_SECONDS"),
            "RECONCILE_MIN_AGE_SECONDS",
            DEFAULT_RECONCILE_MIN_AGE_SECONDS,
            0..=86_400,
        )?;
        let reconcile_batch = parse_u32(
            optional("RECONCILE_BATCH"),
            "RECONCILE_BATCH",
            DEFAULT_RECONCILE_BATCH,
            1..=500,
        )?;
        let events_heartbeat_seconds = parse_u32(
            optional("EVENTS_HEARTBEAT_SECONDS"),
            "EVENTS_HEARTBEAT_SECONDS",
            DEFAULT_EVENTS_HEARTBEAT_SECONDS,
            1..=300,
        )?;

        Ok(Config {
            trustpay_base_url,
            merchant_id,
            api_key,
            trustpay_secret,
            public_base_url,
            allowed_origins,
            intent_secret,
            merchant_api_token,
            open_amount,
            sign_amount_rendering,
            gateway_timeout_ms,
            status_refresh_seconds,
            client_result_secret,
            risk,
            webhook,
            reconcile_min_age_seconds,
            reconcile_batch,
            events_heartbeat_seconds,
        })
    }

    /// Where TrustPay posts callbacks.
    pub fn notify_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_base_url)
    }
}

fn parse_u32(
    text: Option<String>,
    name: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<u32>() {
        Ok(v) if range.contains(&v) => Ok(v),
        Ok(_) | Err(_) => Err(malformed(
            name,
            format!("expected an integer in {}..={}", range.start(), range.end()),
        )),
    }
}

/// An `http(s)://host[:port][/prefix]` URL without query, fragment or trailing slash.
fn parse_base_url(name: &'static str, text: &str) -> Result<String, ConfigError> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(malformed(name, "expected an http:// or https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || text.contains(['?', '#', ' ', '@']) {
        return Err(malformed(
            name,
            "expected scheme://host[:port][/path] without query, fragment or credentials",
        ));
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
    fn errors_never_contain_secret_values() {
        let mut vars = full();
        vars.insert("SIGN_AMOUNT_RENDERING", "nope");
        let err = load(&vars).expect_err("malformed").to_string();
        assert!(!err.contains("tp-secret") && !err.contains("api-key"));
    }
}
