//! TrustPay's MD5 `sign` (`docs/protocol.md`, §Signing): canonical string, signing, signed bodies.
//!
//! The algorithm, as documented: take every top-level field except `sign`; drop `null`, `""`,
//! numeric zero in any form and `false`; sort by key, byte-wise; join `key=value` with `&`;
//! append `&secret=<secret>`; MD5; lowercase hex. Values are not URL-encoded.
//!
//! Two things the docs leave open are explicit options here (`docs/protocol.md`, §Choices
//! in detail): how amounts are written ([`NumberRendering`]) and how the
//! `merchant_refund_no` array is written ([`ListRendering`]).

use std::collections::BTreeMap;
use std::fmt;

use md5::{Digest, Md5};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::money::{Amount, AmountRendering};
use crate::secret::Secret;

/// Top-level keys that carry money. Under [`NumberRendering::Amounts`] their numbers are
/// re-rendered; every other number is signed as its own digits.
pub const AMOUNT_KEYS: &[&str] = &[
    "balance_amount",
    "fee",
    "order_amount",
    "paid_amount",
    "refund_amount",
];

/// One field value, as far as signing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignValue {
    /// JSON `null`: always dropped.
    Null,
    /// JSON boolean: `false` is dropped, `true` is written `true`.
    Bool(bool),
    /// A string, written raw (no escaping, no URL-encoding). `""` is dropped; `"0"` is kept.
    Str(String),
    /// A JSON number, kept as the exact text that was (or will be) in the body.
    Number(String),
    /// An array of strings (`merchant_refund_no`). Empty arrays are dropped.
    List(Vec<String>),
    /// Any other JSON (object, mixed array). Written as compact JSON; the docs don't say.
    Json(String),
}

/// How numbers enter the sign string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRendering {
    /// Exactly the text in the body. What we use for requests we send, whose body text we
    /// wrote in the configured rendering, and what a strict receiver checks.
    AsSent,
    /// Amount fields re-rendered in one rendering (`106` → `106.00` or the reverse); used to
    /// verify callbacks whose signer may have rendered amounts differently from the body.
    Amounts(AmountRendering),
}

/// How a string array enters the sign string. The docs don't say (`docs/protocol.md`, §Signing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRendering {
    /// Elements joined with commas, in order: `merchant_refund_no=R1,R2` (`docs/protocol.md`,
    /// Decision 5).
    CommaJoined,
    /// The field left out of the sign string entirely.
    Omitted,
}

/// Everything that decides the canonical string besides the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// Number rendering.
    pub numbers: NumberRendering,
    /// Array rendering.
    pub lists: ListRendering,
}

impl SignOptions {
    /// Numbers as sent, arrays comma-joined: how we sign what we send.
    pub const AS_SENT: SignOptions = SignOptions {
        numbers: NumberRendering::AsSent,
        lists: ListRendering::CommaJoined,
    };

    /// Amounts re-rendered in `rendering`, arrays comma-joined.
    pub fn amounts(rendering: AmountRendering) -> Self {
        SignOptions {
            numbers: NumberRendering::Amounts(rendering),
            lists: ListRendering::CommaJoined,
        }
    }
}

/// Why a body could not be read for signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The body is not a JSON object (bad JSON, an array, a number...).
    #[error("the body is not a JSON object: {0}")]
    NotAnObject(String),
    /// The same key appears twice: which value was signed would be ambiguous.
    #[error("the key `{0}` appears more than once")]
    DuplicateKey(String),
    /// More than [`MAX_FIELDS`] top-level keys: no TrustPay body has that many, and reading
    /// them all would only cost time.
    #[error("more than {MAX_FIELDS} top-level keys")]
    TooManyFields,
}

/// The most top-level keys a body may have. TrustPay's callbacks and answers carry about
/// fifteen; a body with more is refused while it is being parsed, before anything is hashed.
pub const MAX_FIELDS: usize = 64;

/// The top-level fields of a request or callback, sorted byte-wise by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignFields {
    fields: BTreeMap<String, SignValue>,
}

impl SignFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string field.
    pub fn str(mut self, key: &str, value: impl Into<String>) -> Self {
        self.fields
            .insert(key.to_owned(), SignValue::Str(value.into()));
        self
    }

    /// Adds an integer field.
    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.fields
            .insert(key.to_owned(), SignValue::Number(value.to_string()));
        self
    }

    /// Adds an amount, written in `rendering` (the same text goes into body and sign).
    pub fn amount(mut self, key: &str, value: Amount, rendering: AmountRendering) -> Self {
        self.fields
            .insert(key.to_owned(), SignValue::Number(value.render(rendering)));
        self
    }

    /// Adds a string-array field.
    pub fn list(mut self, key: &str, values: Vec<String>) -> Self {
        self.fields.insert(key.to_owned(), SignValue::List(values));
        self
    }

    /// Adds any value.
    pub fn with(mut self, key: &str, value: SignValue) -> Self {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// The value of one field.
    pub fn get(&self, key: &str) -> Option<&SignValue> {
        self.fields.get(key)
    }

    /// Whether a field holds a non-empty string array.
    pub fn has_list(&self) -> bool {
        self.fields
            .values()
            .any(|v| matches!(v, SignValue::List(items) if !items.is_empty()))
    }

    /// Reads the top-level fields of a JSON object, keeping each number's exact text.
    /// Duplicate keys are refused (found while inserting into the sorted map: O(n log n)), and
    /// so is a body with more than [`MAX_FIELDS`] keys (found while parsing, so a huge body
    /// stops at its 65th key).
    pub fn from_json(body: &[u8]) -> Result<Self, SignError> {
        let raw: RawFields<'_> = serde_json::from_slice(body).map_err(|e| {
            let text = e.to_string();
            if text.starts_with(TOO_MANY_MARK) {
                SignError::TooManyFields
            } else {
                SignError::NotAnObject(text)
            }
        })?;
        let mut fields = BTreeMap::new();
        for (key, raw) in raw.0 {
            if let Some(key) = insert_new(&mut fields, key, classify(raw)) {
                return Err(SignError::DuplicateKey(key));
            }
        }
        Ok(Self { fields })
    }

    /// The canonical string, **without** the secret: safe to log and to show in tests.
    pub fn canonical(&self, options: SignOptions) -> String {
        let mut out = String::new();
        self.write_canonical(options, &mut |piece| out.push_str(piece));
        out
    }

    /// Feeds the canonical string, piece by piece, to `sink` (no intermediate string).
    fn write_canonical(&self, options: SignOptions, sink: &mut impl FnMut(&str)) {
        let mut first = true;
        let mut scratch = String::new();
        for (key, value) in &self.fields {
            if key == "sign" {
                continue;
            }
            let Some(text) = render(key, value, options, &mut scratch) else {
                continue;
            };
            if !first {
                sink("&");
            }
            first = false;
            sink(key);
            sink("=");
            sink(text);
        }
    }

    /// The lowercase-hex MD5 `sign` for these fields.
    pub fn sign(&self, options: SignOptions, secret: &Secret) -> Sign {
        let mut hasher = Md5::new();
        self.write_canonical(options, &mut |piece| hasher.update(piece.as_bytes()));
        finish_sign(hasher, secret)
    }

    /// The JSON body to send: every field (in key order) plus `sign`, numbers written as
    /// their exact text so the body and the signed string can't disagree.
    pub fn signed_body(&self, secret: &Secret) -> String {
        let sign = self.sign(SignOptions::AS_SENT, secret);
        let mut out = String::from("{");
        for (key, value) in self.fields.iter().filter(|(k, _)| k.as_str() != "sign") {
            push_json_str(&mut out, key);
            out.push(':');
            match value {
                SignValue::Null => out.push_str("null"),
                SignValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                SignValue::Str(s) => push_json_str(&mut out, s),
                SignValue::Number(n) | SignValue::Json(n) => out.push_str(n),
                SignValue::List(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        push_json_str(&mut out, item);
                    }
                    out.push(']');
                }
            }
            out.push(',');
        }
        push_json_str(&mut out, "sign");
        out.push(':');
        push_json_str(&mut out, sign.as_str());
        out.push('}');
        out
    }
}

/// `md5(canonical + "&secret=" + secret)` as lowercase hex.
///
/// The `&secret=` suffix is appended even when no field survives filtering (a bare
/// fee-overview request then signs `&secret=<secret>`), following the documented formula.
pub fn sign_canonical(canonical: &str, secret: &Secret) -> Sign {
    let mut hasher = Md5::new();
    hasher.update(canonical.as_bytes());
    finish_sign(hasher, secret)
}

fn finish_sign(mut hasher: Md5, secret: &Secret) -> Sign {
    hasher.update(b"&secret=");
    hasher.update(secret.expose().as_bytes());
    Sign(hex::encode(hasher.finalize()))
}

/// A computed `sign`: 32 lowercase hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Sign(String);

impl Sign {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a received sign (exact, lowercase).
    pub fn matches(&self, received: &str) -> bool {
        crate::ct_eq(self.0.as_bytes(), received.as_bytes())
    }
}

impl fmt::Debug for Sign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sign({})", self.0)
    }
}

impl fmt::Display for Sign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text a value contributes, or `None` when it is dropped. Borrowed where possible;
/// re-rendered amounts and joined lists are written into `scratch`.
fn render<'a>(
    key: &str,
    value: &'a SignValue,
    options: SignOptions,
    scratch: &'a mut String,
) -> Option<&'a str> {
    match value {
        SignValue::Null | SignValue::Bool(false) => None,
        SignValue::Bool(true) => Some("true"),
        SignValue::Str(s) if s.is_empty() => None,
        SignValue::Str(s) => Some(s),
        SignValue::Number(n) if is_numeric_zero(n) => None,
        SignValue::Number(n) => match options.numbers {
            NumberRendering::Amounts(rendering) if AMOUNT_KEYS.contains(&key) => {
                match Amount::parse_decimal(n) {
                    Ok(amount) => {
                        scratch.clear();
                        amount.write(rendering, scratch);
                        Some(scratch)
                    }
                    Err(_) => Some(n),
                }
            }
            NumberRendering::Amounts(_) | NumberRendering::AsSent => Some(n),
        },
        SignValue::List(items) if items.is_empty() => None,
        SignValue::List(items) => match options.lists {
            ListRendering::CommaJoined => {
                scratch.clear();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        scratch.push(',');
                    }
                    scratch.push_str(item);
                }
                Some(scratch)
            }
            ListRendering::Omitted => None,
        },
        SignValue::Json(text) => Some(text),
    }
}

/// `0`, `0.0`, `0.00`, `-0`, `0e10`: every spelling of a JSON number equal to zero.
fn is_numeric_zero(number: &str) -> bool {
    let mantissa = number.split(['e', 'E']).next().unwrap_or(number);
    mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .all(|b| b == b'0')
}

fn classify(raw: &RawValue) -> SignValue {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'n') => SignValue::Null,
        Some(b't') => SignValue::Bool(true),
        Some(b'f') => SignValue::Bool(false),
        // Fast path: a string without escapes is its raw text between the quotes.
        Some(b'"') if !text.contains('\\') && text.len() >= 2 => {
            SignValue::Str(text[1..text.len() - 1].to_owned())
        }
        Some(b'"') => serde_json::from_str(text)
            .map(SignValue::Str)
            .unwrap_or_else(|_| SignValue::Json(text.to_owned())),
        Some(b'[') => match serde_json::from_str::<Vec<String>>(text) {
            Ok(items) => SignValue::List(items),
            Err(_) => SignValue::Json(compact(text)),
        },
        Some(b'{') => SignValue::Json(compact(text)),
        _ => SignValue::Number(text.to_owned()),
    }
}

/// Compact JSON of a valid JSON text. Through `serde_json::Value` (keys sorted, escapes
/// normalised) when that is a fixed point; but `Value` holds numbers as f64, parsed without
/// `float_roundtrip`, so a long number (`123456789012345678901234567890`) can be written as a
/// float that reads back as a different one, and the canonical string of our own signed body
/// would then differ from the one we signed (found by `fuzz_targets/sign_canonical.rs`). In
/// that case the text is kept as written, only its whitespace removed.
fn compact(json: &str) -> String {
    let via_value =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).map(|v| v.to_string());
    match via_value(json) {
        Ok(out) if via_value(&out).is_ok_and(|again| again == out) => out,
        Ok(_) => strip_whitespace(json),
        Err(_) => json.to_owned(),
    }
}

/// Removes the insignificant whitespace of a valid JSON text (outside strings).
fn strip_whitespace(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                (false, _) => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

fn push_json_str(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing into a String cannot fail.
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Inserts `key` unless it is there already; returns the key when it was.
fn insert_new(
    fields: &mut BTreeMap<String, SignValue>,
    key: String,
    value: SignValue,
) -> Option<String> {
    use std::collections::btree_map::Entry;
    match fields.entry(key) {
        Entry::Occupied(taken) => Some(taken.key().clone()),
        Entry::Vacant(free) => {
            free.insert(value);
            None
        }
    }
}

/// The start of the parse error that [`RawFields`] raises at key [`MAX_FIELDS`] + 1.
const TOO_MANY_MARK: &str = "too many top-level keys";

/// The top-level entries of a JSON object, in body order, borrowing each value's raw text;
/// at most [`MAX_FIELDS`] of them.
struct RawFields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    if entries.len() == MAX_FIELDS {
                        return Err(serde::de::Error::custom(TOO_MANY_MARK));
                    }
                    entries.push((key, value));
                }
                Ok(RawFields(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests;
