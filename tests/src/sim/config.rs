//! Simulator configuration: [`SimConfig`] (what [`super::serve`] takes) and [`SimArgs`] (the
//! `trustpay-sim` command line, every flag also readable from a `TRUSTPAY_SIM_*` variable).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use checkout_core::money::{Amount, AmountRendering, Currency};
use checkout_core::secret::Secret;
use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// The merchant id the simulator accepts unless told otherwise (the docs' example merchant).
pub const DEFAULT_MERCHANT_ID: i64 = 8820250900009;
/// The development API key the simulator accepts unless told otherwise. Not a real credential.
pub const DEFAULT_API_KEY: &str = "sim-api-key";
/// The development signing secret the simulator uses unless told otherwise. Not a real credential.
pub const DEFAULT_SECRET: &str = "sim-secret";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

/// Everything the simulator needs. [`SimConfig::default`] is the development setup,
/// [`SimConfig::for_tests`] the same with millisecond-scale delays on `127.0.0.1:0`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port (read it from [`super::serve`]'s result).
    pub listen: SocketAddr,
    /// The only merchant id accepted in request bodies; sent in every callback.
    pub merchant_id: i64,
    /// The `X-Api-Key` every request must carry.
    pub api_key: Secret,
    /// The signing secret for request signs and callbacks.
    pub secret: Secret,
    /// The base URL advertised in `pay_url` (no trailing slash); `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// How amounts must be written in request bodies and signed (checked strictly).
    pub sign_amounts: AmountRendering,
    /// How amounts are written (and signed) in callbacks.
    pub callback_amounts: AmountRendering,
    /// Waits before the 2nd, 3rd, ... delivery attempt of a callback; empty means one attempt.
    pub callback_retries: Vec<Duration>,
    /// Per-attempt timeout of a callback delivery.
    pub callback_timeout: Duration,
    /// Pending orders time out (status 4) after this long.
    pub order_timeout: Duration,
    /// A refund stays at status 9 (refunding) this long before it completes (7 or 8).
    pub refund_delay: Duration,
    /// Seed of the generator of `platform_order_no`s.
    pub seed: u64,
    /// Minimum and maximum order amount per currency (880015 outside).
    pub amount_rules: AmountRules,
    /// The fee charged on payins.
    pub fee: FeeRule,
    /// The merchant balance per currency before any order (refunds can't take it below zero).
    pub opening_balance: Amount,
    /// HTTP status of TrustPay-level error envelopes (the docs don't say; 200 by default).
    pub error_http_status: u16,
    /// Print one line per API request and callback attempt to stderr.
    pub verbose: bool,
    /// The merchant's risk-control hook, called before a payment succeeds (`None`: not called).
    pub risk_control: Option<super::risk::RiskControl>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            merchant_id: DEFAULT_MERCHANT_ID,
            api_key: dev_secret(DEFAULT_API_KEY),
            secret: dev_secret(DEFAULT_SECRET),
            public_url: None,
            sign_amounts: AmountRendering::TwoDecimals,
            callback_amounts: AmountRendering::TwoDecimals,
            callback_retries: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            callback_timeout: Duration::from_secs(5),
            order_timeout: Duration::from_secs(15 * 60),
            refund_delay: Duration::from_secs(1),
            seed: 1,
            amount_rules: AmountRules::default(),
            fee: FeeRule::default(),
            opening_balance: Amount::from_minor(100_000).unwrap_or(Amount::ZERO),
            error_http_status: 200,
            verbose: false,
            risk_control: None,
        }
    }
}

impl SimConfig {
    /// The default configuration on `127.0.0.1:0` with fast timings: callback retries after
    /// 20 ms and 40 ms, 1 s callback timeout, 50 ms refund delay, 60 s order timeout.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            callback_retries: vec![Duration::from_millis(20), Duration::from_millis(40)],
            callback_timeout: Duration::from_secs(1),
            order_timeout: Duration::from_secs(60),
            refund_delay: Duration::from_millis(50),
            ..Self::default()
        }
    }
}

fn dev_secret(text: &str) -> Secret {
    // The built-in development values are non-empty constants.
    Secret::new(text)
        .unwrap_or_else(|_| unreachable!("built-in development credentials are non-empty"))
}

/// Why a configuration value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration is not `<n>ms`, `<n>s`, `<n>m` or `<n>h`.
    #[error("bad duration `{0}`: write e.g. `250ms`, `5s`, `15m` or `1h`")]
    Duration(String),
    /// An amount rule is not `CUR:min-max`.
    #[error("bad amount rule `{0}`: write e.g. `USD:0.50-10000.00` (USD or INR, min <= max)")]
    AmountRule(String),
    /// A fee rule is not `<percent>%+<fixed>`.
    #[error(
        "bad fee rule `{0}`: write e.g. `2.9%+0.30`, `3%`, `0.30` or `0` (at most two decimals each)"
    )]
    Fee(String),
    /// An amount is not a plain decimal with at most two decimals.
    #[error("bad amount `{0}`: write e.g. `1000.00`")]
    Amount(String),
    /// The error HTTP status is not 200..=599.
    #[error("bad HTTP status {0}: use 200..=599")]
    HttpStatus(u16),
    /// The public URL is not an http(s) URL.
    #[error("bad public URL `{0}`: it must start with http:// or https://")]
    PublicUrl(String),
}

/// Parses `250ms`, `5s`, `15m`, `1h` (a bare `0` is zero).
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let err = || ConfigError::Duration(text.to_owned());
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (number, unit) = text.split_at(digits_end);
    let n: u64 = number.parse().map_err(|_| err())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(err),
        "h" => n.checked_mul(3600).map(Duration::from_secs).ok_or_else(err),
        _ => Err(err()),
    }
}

/// Parses a retry schedule: comma-separated durations (`1s,5s,30s`); `none` or `` is empty.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, ConfigError> {
    let text = text.trim();
    if text.is_empty() || text == "none" {
        return Ok(Vec::new());
    }
    text.split(',').map(parse_duration).collect()
}

/// A callback retry schedule as one command-line value (`1s,5s,30s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

/// Writes a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

/// The inclusive order amount range for one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountRule {
    /// The currency this rule applies to.
    pub currency: Currency,
    /// Smallest accepted order amount.
    pub min: Amount,
    /// Largest accepted order amount.
    pub max: Amount,
}

impl AmountRule {
    /// Whether `amount` is inside the range.
    pub fn allows(&self, amount: Amount) -> bool {
        self.min <= amount && amount <= self.max
    }
}

impl FromStr for AmountRule {
    type Err = ConfigError;
    /// `USD:0.50-10000.00`.
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let err = || ConfigError::AmountRule(text.to_owned());
        let (currency, range) = text.trim().split_once(':').ok_or_else(err)?;
        let (min, max) = range.split_once('-').ok_or_else(err)?;
        let currency = Currency::parse(currency).map_err(|_| err())?;
        let min = Amount::parse_decimal(min).map_err(|_| err())?;
        let max = Amount::parse_decimal(max).map_err(|_| err())?;
        if min > max || max.is_zero() {
            return Err(err());
        }
        Ok(AmountRule { currency, min, max })
    }
}

impl fmt::Display for AmountRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.currency, self.min, self.max)
    }
}

/// One [`AmountRule`] per supported currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountRules {
    usd: AmountRule,
    inr: AmountRule,
}

impl Default for AmountRules {
    /// USD 0.50 to 10,000.00; INR 10.00 to 1,000,000.00.
    fn default() -> Self {
        let rule = |currency, min, max| AmountRule {
            currency,
            min: Amount::from_minor(min).unwrap_or(Amount::ZERO),
            max: Amount::from_minor(max).unwrap_or(Amount::ZERO),
        };
        Self {
            usd: rule(Currency::Usd, 50, 1_000_000),
            inr: rule(Currency::Inr, 1_000, 100_000_000),
        }
    }
}

impl AmountRules {
    /// The rule for `currency`.
    pub fn get(&self, currency: Currency) -> AmountRule {
        match currency {
            Currency::Usd => self.usd,
            Currency::Inr => self.inr,
        }
    }

    /// Replaces the rule of the rule's currency.
    pub fn set(&mut self, rule: AmountRule) {
        match rule.currency {
            Currency::Usd => self.usd = rule,
            Currency::Inr => self.inr = rule,
        }
    }
}

/// The payin fee: `amount × percent / 100 + fixed`, rounded half up to the cent, and never
/// more than the amount. The same rule for every currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRule {
    /// The percentage in basis points (2.9 % = 290).
    pub basis_points: i64,
    /// The fixed part, in the order's currency.
    pub fixed: Amount,
}

impl Default for FeeRule {
    /// 2.9 % + 0.30.
    fn default() -> Self {
        Self {
            basis_points: 290,
            fixed: Amount::from_minor(30).unwrap_or(Amount::ZERO),
        }
    }
}

impl FeeRule {
    /// The fee for an order of `amount`.
    pub fn fee_for(&self, amount: Amount) -> Amount {
        let percent = (i128::from(amount.minor()) * i128::from(self.basis_points) + 5_000) / 10_000;
        let total = i128::from(self.fixed.minor()) + percent;
        let capped = total.min(i128::from(amount.minor())).max(0);
        Amount::from_minor(i64::try_from(capped).unwrap_or(amount.minor())).unwrap_or(Amount::ZERO)
    }

    /// The rate as a fraction (2.9 % → 0.029), as the fee overview reports it.
    pub fn rate_fraction(&self) -> f64 {
        self.basis_points as f64 / 10_000.0
    }
}

impl FromStr for FeeRule {
    type Err = ConfigError;
    /// `2.9%+0.30`, `3%`, `0.30`, `0`.
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let err = || ConfigError::Fee(text.to_owned());
        let trimmed = text.trim();
        let (percent, fixed) = match trimmed.split_once('%') {
            Some((percent, rest)) => {
                let fixed = match rest {
                    "" => None,
                    rest => Some(rest.strip_prefix('+').ok_or_else(err)?),
                };
                (Some(percent), fixed)
            }
            None => (None, Some(trimmed)),
        };
        // A percentage with two decimals, read as an amount, is exactly its basis points.
        let basis_points = match percent {
            Some(p) => Amount::parse_decimal(p).map_err(|_| err())?.minor(),
            None => 0,
        };
        let fixed = match fixed {
            Some(f) => Amount::parse_decimal(f).map_err(|_| err())?,
            None => Amount::ZERO,
        };
        Ok(FeeRule {
            basis_points,
            fixed,
        })
    }
}

impl fmt::Display for FeeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = Amount::from_minor(self.basis_points).unwrap_or(Amount::ZERO);
        write!(
            f,
            "{}%+{}",
            percent.render(AmountRendering::Trimmed),
            self.fixed
        )
    }
}

fn rendering_parser() -> impl TypedValueParser<Value = AmountRendering> {
    PossibleValuesParser::new(["two_decimals", "trimmed"]).try_map(|s| s.parse::<AmountRendering>())
}

const LONG_ABOUT: &str = "\
A local stand-in for the TrustPay v4 payment gateway (https://api.trustpay.money), strict enough
that a wrong sign, a wrong amount rendering or a missing X-Api-Key is refused, not hidden.

API (POST, JSON, envelope {code,message,data}):
  /v4/payin/create/order  /v4/query/order  /v4/order/refund  /v4/balance  /v4/fee-overview
Hosted cashier page: GET <public-url>/pay/<platform_order_no> (Pay / Decline / Let it time out).
Control API for tests: /_sim/... (faults, automatic outcomes, request and callback logs, reset);
see tests/README.md. GET /health answers `ok`.

Choices the docs leave open (see tests/README.md):
  * TrustPay-level errors answer HTTP 200 with the code in the envelope (--error-http-status).
  * Requests must write and sign amounts in --sign-amounts rendering; the body text and the sign
    must agree, otherwise 880011.
  * An unknown order_no answers 880002 (message `bad_request: order_not_found`).
  * Callbacks sign merchant_refund_no comma-joined; refund callbacks carry the refunded total.

The API key and secret are never printed or logged.";

/// The `trustpay-sim` command line. Every flag can also be set with the environment variable
/// shown in `--help`.
#[derive(Debug, Clone, Parser)]
#[command(name = "trustpay-sim", version, about = "Local TrustPay v4 payment-gateway simulator", long_about = LONG_ABOUT)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TRUSTPAY_SIM_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The merchant id requests must carry (where the docs put merchant_id in the body) and
    /// callbacks send.
    #[arg(long, env = "TRUSTPAY_SIM_MERCHANT_ID", default_value_t = DEFAULT_MERCHANT_ID)]
    pub merchant_id: i64,

    /// The X-Api-Key every request must send [default: the development key `sim-api-key`].
    /// Never printed.
    #[arg(long, env = "TRUSTPAY_SIM_API_KEY", default_value = DEFAULT_API_KEY, hide_default_value = true, hide_env_values = true, value_parser = |s: &str| Secret::new(s))]
    pub api_key: Secret,

    /// The signing secret for request signs and callbacks [default: the development secret
    /// `sim-secret`]. Never printed.
    #[arg(long, env = "TRUSTPAY_SIM_SECRET", default_value = DEFAULT_SECRET, hide_default_value = true, hide_env_values = true, value_parser = |s: &str| Secret::new(s))]
    pub secret: Secret,

    /// Base URL advertised in pay_url, e.g. http://localhost:8090 [default: http:// + the listen address].
    #[arg(long, env = "TRUSTPAY_SIM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How request amounts must be written and signed: two_decimals (5.00) or trimmed (5).
    /// Checked strictly: a body or sign in the other rendering gets 880011.
    #[arg(long, env = "TRUSTPAY_SIM_SIGN_AMOUNTS", default_value = "two_decimals", value_parser = rendering_parser())]
    pub sign_amounts: AmountRendering,

    /// How callback amounts are written and signed: two_decimals (106.00) or trimmed (106).
    #[arg(long, env = "TRUSTPAY_SIM_CALLBACK_AMOUNTS", default_value = "two_decimals", value_parser = rendering_parser())]
    pub callback_amounts: AmountRendering,

    /// Waits before each callback retry, comma-separated (`none` = a single attempt). A
    /// delivery fails on a non-2xx answer, a connection error or a timeout; after the last
    /// attempt the order's notify_status becomes 3.
    #[arg(long, env = "TRUSTPAY_SIM_CALLBACK_RETRIES", default_value = "1s,5s,30s", value_parser = |s: &str| parse_schedule(s).map(RetrySchedule))]
    pub callback_retries: RetrySchedule,

    /// Timeout of one callback delivery attempt.
    #[arg(long, env = "TRUSTPAY_SIM_CALLBACK_TIMEOUT", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    pub callback_timeout: Duration,

    /// Orders still pending after this long time out (status 4, with a callback).
    #[arg(long, env = "TRUSTPAY_SIM_ORDER_TIMEOUT", default_value = "15m", value_parser = |s: &str| parse_duration(s))]
    pub order_timeout: Duration,

    /// How long a refund stays at status 9 (refunding) before it completes (7 or 8).
    #[arg(long, env = "TRUSTPAY_SIM_REFUND_DELAY", default_value = "1s", value_parser = |s: &str| parse_duration(s))]
    pub refund_delay: Duration,

    /// Seed of the platform_order_no generator: the same seed and the same requests give the
    /// same platform order numbers.
    #[arg(long, env = "TRUSTPAY_SIM_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Order amount range per currency, CUR:min-max, repeatable or comma-separated
    /// (880015 outside it). Currencies not given keep their defaults:
    /// USD:0.50-10000.00, INR:10.00-1000000.00.
    #[arg(long = "amount-rule", env = "TRUSTPAY_SIM_AMOUNT_RULES", value_delimiter = ',', value_parser = |s: &str| s.parse::<AmountRule>())]
    pub amount_rules: Vec<AmountRule>,

    /// Payin fee, PERCENT%+FIXED: amount × PERCENT / 100 rounded half up to the cent,
    /// plus FIXED in the order's currency, capped at the amount.
    #[arg(long, env = "TRUSTPAY_SIM_FEE", default_value = "2.9%+0.30", value_parser = |s: &str| s.parse::<FeeRule>())]
    pub fee: FeeRule,

    /// Merchant balance per currency before any order. Balance = opening + paid - fees -
    /// refunds; a refund above the available balance gets 880005.
    #[arg(long, env = "TRUSTPAY_SIM_OPENING_BALANCE", default_value = "1000.00", value_parser = |s: &str| Amount::parse_decimal(s).map_err(|_| ConfigError::Amount(s.to_owned())))]
    pub opening_balance: Amount,

    /// HTTP status of responses carrying a TrustPay error code (the docs don't say; the
    /// envelope code is what clients must read).
    #[arg(long, env = "TRUSTPAY_SIM_ERROR_HTTP_STATUS", default_value_t = 200)]
    pub error_http_status: u16,

    /// Don't print a line per API request and callback attempt.
    #[arg(long, short, env = "TRUSTPAY_SIM_QUIET")]
    pub quiet: bool,

    /// The merchant's risk-control URL: before a payment succeeds, POST
    /// {orderId, cardPrefix, cardSuffix, cardHolderName} there; anything but 200 `allow`
    /// declines the order (status 3). Unset: no risk call.
    #[arg(long, env = "TRUSTPAY_SIM_RISK_CONTROL_URL")]
    pub risk_control_url: Option<String>,

    /// First 6 digits of the test card sent to the risk-control URL.
    #[arg(long, env = "TRUSTPAY_SIM_RISK_CARD_PREFIX", default_value = "424242")]
    pub risk_card_prefix: String,

    /// Last 4 digits of the test card sent to the risk-control URL.
    #[arg(long, env = "TRUSTPAY_SIM_RISK_CARD_SUFFIX", default_value = "4242")]
    pub risk_card_suffix: String,

    /// Cardholder name sent to the risk-control URL.
    #[arg(
        long,
        env = "TRUSTPAY_SIM_RISK_CARD_HOLDER",
        default_value = "Test Shopper"
    )]
    pub risk_card_holder: String,
}

impl SimArgs {
    /// Validates the flags into a [`SimConfig`].
    pub fn into_config(self) -> Result<SimConfig, ConfigError> {
        if !(200..=599).contains(&self.error_http_status) {
            return Err(ConfigError::HttpStatus(self.error_http_status));
        }
        let public_url = match self.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(url) => return Err(ConfigError::PublicUrl(url)),
            None => None,
        };
        let mut amount_rules = AmountRules::default();
        for rule in self.amount_rules {
            amount_rules.set(rule);
        }
        Ok(SimConfig {
            listen: self.listen,
            merchant_id: self.merchant_id,
            api_key: self.api_key,
            secret: self.secret,
            public_url,
            sign_amounts: self.sign_amounts,
            callback_amounts: self.callback_amounts,
            callback_retries: self.callback_retries.0,
            callback_timeout: self.callback_timeout,
            order_timeout: self.order_timeout,
            refund_delay: self.refund_delay,
            seed: self.seed,
            amount_rules,
            fee: self.fee,
            opening_balance: self.opening_balance,
            error_http_status: self.error_http_status,
            verbose: !self.quiet,
            risk_control: self.risk_control_url.map(|url| super::risk::RiskControl {
                url,
                card: super::risk::TestCard {
                    prefix: self.risk_card_prefix,
                    suffix: self.risk_card_suffix,
                    holder: self.risk_card_holder,
                },
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("non-negative")
    }

    #[test]
    fn durations_and_schedules() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_schedule("1s,5s,30s").map(|s| s.len()), Ok(3));
        assert_eq!(parse_schedule("none"), Ok(vec![]));
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
    }

    #[test]
    fn fee_rule_parses_and_rounds_half_up() {
        let fee: FeeRule = "2.9%+0.30".parse().expect("valid");
        assert_eq!(fee, FeeRule::default());
        assert_eq!(fee.fee_for(amount(500)).minor(), 45); // 14.5 → 15, + 30
        assert_eq!(fee.fee_for(amount(10_000)).minor(), 320); // 290 + 30
        assert_eq!(fee.fee_for(amount(10)).minor(), 10, "capped at the amount");
        assert_eq!(
            "3%".parse::<FeeRule>()
                .map(|f| f.fee_for(amount(1000)).minor()),
            Ok(30)
        );
        assert_eq!(
            "0.30"
                .parse::<FeeRule>()
                .map(|f| f.fee_for(amount(1000)).minor()),
            Ok(30)
        );
        assert_eq!(
            "0".parse::<FeeRule>()
                .map(|f| f.fee_for(amount(1000)).minor()),
            Ok(0)
        );
        for bad in ["2.9%0.30", "x%", "2.999%", "%+1", "1%+-1"] {
            assert!(bad.parse::<FeeRule>().is_err(), "{bad:?}");
        }
        assert_eq!(fee.to_string(), "2.9%+0.30");
        assert!((fee.rate_fraction() - 0.029).abs() < 1e-12);
    }

    #[test]
    fn amount_rules_parse_and_apply() {
        let rule: AmountRule = "INR:100-200.50".parse().expect("valid");
        assert_eq!(rule.currency, Currency::Inr);
        assert!(rule.allows(amount(10_000)) && rule.allows(amount(20_050)));
        assert!(!rule.allows(amount(9_999)) && !rule.allows(amount(20_051)));
        for bad in ["EUR:1-2", "USD:2-1", "USD1-2", "USD:1", "USD:0-0"] {
            assert!(bad.parse::<AmountRule>().is_err(), "{bad:?}");
        }
        let mut rules = AmountRules::default();
        rules.set(rule);
        assert_eq!(rules.get(Currency::Inr), rule);
        assert_eq!(rules.get(Currency::Usd).min.minor(), 50);
    }

    #[test]
    fn args_become_a_config() {
        let args = SimArgs::try_parse_from([
            "trustpay-sim",
            "--listen=127.0.0.1:0",
            "--sign-amounts=trimmed",
            "--callback-retries=10ms,20ms",
            "--amount-rule=USD:1-2,INR:5-6",
            "--fee=1%",
            "--public-url=http://localhost:9/",
        ])
        .expect("valid flags");
        let config = args.into_config().expect("valid config");
        assert_eq!(config.sign_amounts, AmountRendering::Trimmed);
        assert_eq!(
            config.callback_retries,
            vec![Duration::from_millis(10), Duration::from_millis(20)]
        );
        assert_eq!(config.amount_rules.get(Currency::Inr).max.minor(), 600);
        assert_eq!(config.public_url.as_deref(), Some("http://localhost:9"));
        assert!(SimArgs::try_parse_from(["trustpay-sim", "--sign-amounts=cents"]).is_err());
        assert!(
            SimArgs::try_parse_from(["trustpay-sim", "--api-key= "]).is_err(),
            "an empty key is refused"
        );
        let debug = format!(
            "{:?}",
            SimArgs::try_parse_from(["trustpay-sim", "--secret=hunter2"]).expect("parses")
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains(DEFAULT_API_KEY),
            "{debug}"
        );
    }
}
