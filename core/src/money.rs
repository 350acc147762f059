//! Money: exact amounts in integer minor units, parsed strictly from decimal text.
//!
//! TrustPay speaks decimal major units with two decimals (`5.00` = five dollars;
//! `docs/protocol.md`, §Basics). We never hold amounts as floats: an [`Amount`] is a count of
//! cents (or paise), and [`Money`] pairs a positive amount with a supported [`Currency`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Minor units per major unit for every currency we support (USD cents, INR paise).
const SCALE: i64 = 100;

/// A currency the checkout accepts for payins: the v4 payin currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    /// United States dollar, two decimals.
    Usd,
    /// Indian rupee, two decimals.
    Inr,
}

impl Currency {
    /// Every supported currency.
    pub const ALL: [Currency; 2] = [Currency::Usd, Currency::Inr];

    /// The ISO 4217 code as TrustPay spells it.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Inr => "INR",
        }
    }

    /// Parses an exact, upper-case ISO code. `usd`, `EUR` and `""` are refused.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code {
            "USD" => Ok(Currency::Usd),
            "INR" => Ok(Currency::Inr),
            other => Err(MoneyError::UnsupportedCurrency(truncate_for_error(other))),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// How an amount is written into a TrustPay request body and its sign string.
///
/// The docs never say whether `5.00` is signed as `5.00` or `5` (`docs/protocol.md`, §Signing).
/// We send and sign the same text, and make the rendering one setting (`SIGN_AMOUNT_RENDERING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum AmountRendering {
    /// Always two decimals: `5.00`, `5.50`, `106.00` (the default; `docs/protocol.md`, Decision 2).
    #[default]
    TwoDecimals,
    /// Trailing fractional zeros dropped: `5`, `5.5`, `106`.
    Trimmed,
}

impl AmountRendering {
    /// Both renderings, in the order callbacks are checked.
    pub const ALL: [AmountRendering; 2] = [AmountRendering::TwoDecimals, AmountRendering::Trimmed];

    /// The configuration spelling: `two_decimals` or `trimmed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AmountRendering::TwoDecimals => "two_decimals",
            AmountRendering::Trimmed => "trimmed",
        }
    }
}

impl FromStr for AmountRendering {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "two_decimals" => Ok(AmountRendering::TwoDecimals),
            "trimmed" => Ok(AmountRendering::Trimmed),
            other => Err(format!(
                "expected `two_decimals` or `trimmed`, got `{}`",
                truncate_for_error(other)
            )),
        }
    }
}

/// A non-negative amount with at most two decimals, held as minor units.
///
/// This is the wire-level amount: it may be zero (`refund_amount: 0`). Use [`Money`] for an
/// amount a shopper pays, which must be positive and carry its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount {
    minor: i64,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount { minor: 0 };

    /// An amount from minor units (cents); `None` when negative.
    pub fn from_minor(minor: i64) -> Option<Self> {
        (minor >= 0).then_some(Self { minor })
    }

    /// Minor units (cents / paise).
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// `self - other`, or `None` when it would go negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.minor
            .checked_sub(other.minor)
            .and_then(Amount::from_minor)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.minor
            .checked_add(other.minor)
            .map(|minor| Amount { minor })
    }

    /// Writes the amount as decimal text in the chosen rendering.
    pub fn render(self, rendering: AmountRendering) -> String {
        let mut out = String::with_capacity(24);
        self.write(rendering, &mut out);
        out
    }

    /// Appends the amount's text in the chosen rendering to `out` (no allocation of its own).
    pub fn write(self, rendering: AmountRendering, out: &mut String) {
        use std::fmt::Write as _;
        let whole = self.minor / SCALE;
        let cents = self.minor % SCALE;
        // Writing into a String cannot fail.
        let _ = match rendering {
            AmountRendering::TwoDecimals => write!(out, "{whole}.{cents:02}"),
            AmountRendering::Trimmed => match cents {
                0 => write!(out, "{whole}"),
                c if c % 10 == 0 => write!(out, "{whole}.{}", c / 10),
                c => write!(out, "{whole}.{c:02}"),
            },
        };
    }

    /// Parses decimal text leniently enough for what TrustPay sends (`106`, `106.00`, `4.5`,
    /// `"50"`) and strictly enough to never guess: sign, exponent, more than two decimals or
    /// anything but digits and one dot are errors. Zero is allowed.
    pub fn parse_decimal(text: &str) -> Result<Self, MoneyError> {
        parse_minor(text).map(|minor| Amount { minor })
    }
}

impl fmt::Display for Amount {
    /// Two decimals, the way TrustPay documents amounts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(AmountRendering::TwoDecimals))
    }
}

impl Serialize for Amount {
    /// Serialized as a decimal string (`"5.00"`) in our own JSON contracts; TrustPay request
    /// bodies are written by [`crate::sign::SignedBody`], which controls the number text.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Accepts a JSON number (`5`, `5.00`, `4.5`) or a decimal string (`"50"`), as TrustPay's
    /// examples use both (`docs/protocol.md`, §Order query).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let text = match &value {
            serde_json::Value::Number(n) => number_text(n),
            serde_json::Value::String(s) => s.clone(),
            other @ (serde_json::Value::Null
            | serde_json::Value::Bool(_)
            | serde_json::Value::Array(_)
            | serde_json::Value::Object(_)) => {
                return Err(serde::de::Error::custom(format!(
                    "expected an amount, got {other}"
                )));
            }
        };
        Amount::parse_decimal(&text).map_err(serde::de::Error::custom)
    }
}

/// The decimal text of a JSON number without float noise: integers as digits, fractions
/// rounded to the nearest cent when they are exactly representable at two decimals.
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && ((f * 100.0) - (f * 100.0).round()).abs() < 1e-6 => {
            // serde_json parses `0.29` to the nearest f64; rounding to cents recovers the text.
            let minor = (f * 100.0).round() as i64;
            let sign = if minor < 0 { "-" } else { "" };
            let minor = minor.abs();
            format!("{sign}{}.{:02}", minor / 100, minor % 100)
        }
        _ => n.to_string(),
    }
}

/// A positive amount in a supported currency: what a shopper is asked to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, always > 0.
    pub amount: Amount,
    /// The currency.
    pub currency: Currency,
}

/// The largest amount a merchant accepts, per currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneyLimits {
    /// Inclusive maximum, in minor units, applied to every currency.
    pub max_minor: i64,
}

impl Default for MoneyLimits {
    /// 1,000,000.00 in any currency: far above any cashier payin, far below overflow.
    fn default() -> Self {
        Self {
            max_minor: 1_000_000 * SCALE,
        }
    }
}

impl Money {
    /// Parses a shopper-facing amount such as `"5"`, `"5.0"` or `"5.00"`.
    ///
    /// Each kind of bad input has its own error, so the edge can say exactly what is wrong.
    pub fn parse(text: &str, currency: Currency, limits: MoneyLimits) -> Result<Self, MoneyError> {
        let minor = parse_minor(text)?;
        if minor == 0 {
            return Err(MoneyError::Zero);
        }
        if minor > limits.max_minor {
            return Err(MoneyError::TooLarge {
                max: Amount {
                    minor: limits.max_minor,
                },
            });
        }
        Ok(Money {
            amount: Amount { minor },
            currency,
        })
    }

    /// Builds money from an already validated positive amount.
    pub fn new(amount: Amount, currency: Currency) -> Result<Self, MoneyError> {
        if amount.is_zero() {
            return Err(MoneyError::Zero);
        }
        Ok(Money { amount, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Why an amount or currency was refused. Each variant is a distinct, stable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// No text at all.
    #[error("the amount is empty")]
    Empty,
    /// A leading minus sign.
    #[error("the amount is negative")]
    Negative,
    /// Zero (in any spelling) where a positive amount is needed.
    #[error("the amount is zero")]
    Zero,
    /// More than two decimals, e.g. `5.001`.
    #[error("the amount has more than two decimals")]
    TooPrecise,
    /// Exponents (`1e3`), `NaN`, `inf`, spaces, a lone dot, a plus sign, letters, etc.
    #[error("the amount is not a plain decimal number")]
    NotADecimal,
    /// Above the configured maximum.
    #[error("the amount is above the maximum of {max}")]
    TooLarge {
        /// The configured maximum.
        max: Amount,
    },
    /// A currency other than USD or INR (the text is kept, truncated, for the message).
    #[error("the currency `{0}` is not supported (USD, INR)")]
    UnsupportedCurrency(String),
}

impl MoneyError {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::Empty => "amount_missing",
            MoneyError::Negative => "amount_negative",
            MoneyError::Zero => "amount_zero",
            MoneyError::TooPrecise => "amount_too_precise",
            MoneyError::NotADecimal => "amount_malformed",
            MoneyError::TooLarge { .. } => "amount_too_large",
            MoneyError::UnsupportedCurrency(_) => "currency_unsupported",
        }
    }
}

/// At most this many integer digits: keeps every parsed value far from `i64` overflow.
const MAX_INTEGER_DIGITS: usize = 15;

fn parse_minor(text: &str) -> Result<i64, MoneyError> {
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    if text.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    // Cut at ASCII bytes (char boundaries): `str` patterns would bring their search code into
    // the wasm widget, which parses amounts with this too.
    let (whole, frac) = match text.bytes().position(|b| b == b'.') {
        Some(dot) => (
            text.get(..dot).unwrap_or_default(),
            Some(text.get(dot + 1..).unwrap_or_default()),
        ),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) {
        return Err(MoneyError::NotADecimal);
    }
    let frac = match frac {
        None => "",
        Some(f) if all_digits(f) => f,
        Some(_) => return Err(MoneyError::NotADecimal),
    };
    let significant = frac
        .get(
            ..frac
                .bytes()
                .rposition(|b| b != b'0')
                .map_or(0, |last| last + 1),
        )
        .unwrap_or_default();
    if significant.len() > 2 {
        return Err(MoneyError::TooPrecise);
    }
    let whole = whole
        .get(whole.bytes().position(|b| b != b'0').unwrap_or(whole.len())..)
        .unwrap_or_default();
    if whole.len() > MAX_INTEGER_DIGITS {
        return Err(MoneyError::TooLarge {
            max: Amount {
                minor: MoneyLimits::default().max_minor,
            },
        });
    }
    // Both are ASCII digits only (checked above), at most 15 and 2 of them: no overflow.
    let cents = match significant.len() {
        1 => digits_value(significant) * 10,
        _ => digits_value(significant),
    };
    Ok(digits_value(whole) * SCALE + cents)
}

/// The value of ASCII digits (0 for none), checked and bounded by the caller: a loop, not
/// `str::parse`, whose generic code the wasm widget would carry (~0.5 KB) for this one use.
fn digits_value(digits: &str) -> i64 {
    digits
        .bytes()
        .fold(0, |n, b| n * 10 + i64::from(b.wrapping_sub(b'0')))
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `str`-pattern form `parse_minor` had before it moved to bytes: the oracle.
    fn reference_parse_minor(text: &str) -> Result<i64, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) {
            return Err(MoneyError::NotADecimal);
        }
        let frac = match frac {
            None => "",
            Some(f) if all_digits(f) => f,
            Some(_) => return Err(MoneyError::NotADecimal),
        };
        let significant = frac.trim_end_matches('0');
        if significant.len() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > MAX_INTEGER_DIGITS {
            return Err(MoneyError::TooLarge {
                max: Amount {
                    minor: MoneyLimits::default().max_minor,
                },
            });
        }
        // Both are ASCII digits only (checked above), at most 15 and 2 of them: no overflow.
        // `str::parse`, as before the digit loop, so the oracle checks that step too.
        let value = |digits: &str| -> i64 {
            if digits.is_empty() {
                0
            } else {
                digits.parse().expect("checked ASCII digits")
            }
        };
        let cents = match significant.len() {
            1 => value(significant) * 10,
            _ => value(significant),
        };
        Ok(value(whole) * SCALE + cents)
    }

    #[test]
    fn parse_minor_is_the_reference_one() {
        let parts = [
            "",
            "0",
            "00",
            "1",
            "5",
            "10",
            "123456789012345",
            "9999999999999999",
            ".",
            "-",
            "+",
            "e",
            "é",
            " ",
            "50",
        ];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let text = [a, b, c].concat();
                    assert_eq!(parse_minor(&text), reference_parse_minor(&text), "{text:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, parts.len().pow(3));
    }

    fn usd(text: &str) -> Result<Money, MoneyError> {
        Money::parse(text, Currency::Usd, MoneyLimits::default())
    }

    #[test]
    fn accepts_plain_decimals() {
        for text in ["5", "5.0", "5.00", "05.00"] {
            assert_eq!(usd(text).map(|m| m.amount.minor()), Ok(500), "{text}");
        }
        assert_eq!(usd("0.01").map(|m| m.amount.minor()), Ok(1));
        assert_eq!(usd("1234.5").map(|m| m.amount.minor()), Ok(123_450));
        assert_eq!(
            usd("5.000").map(|m| m.amount.minor()),
            Ok(500),
            "trailing zeros are not precision"
        );
    }

    #[test]
    fn each_bad_input_has_its_own_error() {
        assert_eq!(usd("5.001"), Err(MoneyError::TooPrecise));
        assert_eq!(usd("-1"), Err(MoneyError::Negative));
        assert_eq!(usd("0"), Err(MoneyError::Zero));
        assert_eq!(usd("0.00"), Err(MoneyError::Zero));
        assert_eq!(usd("NaN"), Err(MoneyError::NotADecimal));
        assert_eq!(usd("1e3"), Err(MoneyError::NotADecimal));
        assert_eq!(usd(""), Err(MoneyError::Empty));
        for bad in [
            "inf", " 5", "5 ", "+5", ".5", "5.", "5..0", "5,00", "٥", "0x10", "1_000",
        ] {
            assert_eq!(usd(bad), Err(MoneyError::NotADecimal), "{bad:?}");
        }
        let limits = MoneyLimits { max_minor: 50_000 };
        assert_eq!(
            Money::parse("500.00", Currency::Usd, limits).map(|m| m.amount.minor()),
            Ok(50_000)
        );
        assert!(matches!(
            Money::parse("500.01", Currency::Usd, limits),
            Err(MoneyError::TooLarge { .. })
        ));
        assert!(matches!(
            usd("99999999999999999999999"),
            Err(MoneyError::TooLarge { .. })
        ));
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            MoneyError::Empty,
            MoneyError::Negative,
            MoneyError::Zero,
            MoneyError::TooPrecise,
            MoneyError::NotADecimal,
            MoneyError::TooLarge { max: Amount::ZERO },
            MoneyError::UnsupportedCurrency("EUR".into()),
        ];
        let mut codes: Vec<_> = errors.iter().map(MoneyError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn renders_both_ways() {
        let cases = [
            (500, "5.00", "5"),
            (550, "5.50", "5.5"),
            (505, "5.05", "5.05"),
            (1, "0.01", "0.01"),
            (0, "0.00", "0"),
            (10600, "106.00", "106"),
        ];
        for (minor, two, trimmed) in cases {
            let a = Amount::from_minor(minor).expect("non-negative");
            assert_eq!(a.render(AmountRendering::TwoDecimals), two);
            assert_eq!(a.render(AmountRendering::Trimmed), trimmed);
        }
    }

    #[test]
    fn currencies_are_exact_codes() {
        assert_eq!(Currency::parse("USD"), Ok(Currency::Usd));
        assert_eq!(Currency::parse("INR"), Ok(Currency::Inr));
        for bad in ["usd", "EUR", "", "USDT", " USD"] {
            assert!(
                matches!(
                    Currency::parse(bad),
                    Err(MoneyError::UnsupportedCurrency(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn wire_amounts_accept_numbers_and_strings() {
        let parse = |json: &str| {
            serde_json::from_str::<Amount>(json)
                .map(Amount::minor)
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse("5"), Ok(500));
        assert_eq!(parse("5.00"), Ok(500));
        assert_eq!(parse("4.5"), Ok(450));
        assert_eq!(parse("0.29"), Ok(29));
        assert_eq!(parse("\"50\""), Ok(5000));
        assert_eq!(parse("\"2.5\""), Ok(250));
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("-1").is_err());
        assert!(parse("1.005").is_err());
        assert!(parse("true").is_err());
        assert!(parse("\"1e3\"").is_err());
    }
}
