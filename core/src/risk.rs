//! The risk-control hook's decision: TrustPay asks the merchant, during a card payment,
//! whether to go on (`POST {risk_control_url}` with `orderId`, `cardPrefix`, `cardSuffix`,
//! `cardHolderName`; the answer is HTTP 200 `text/plain` `allow`, or 403 to deny).
//!
//! [`decide`] is pure: the edge looks the order up and counts earlier attempts, then passes
//! what it found ([`OrderFacts`]) with the request and the configured [`RiskRules`]. Rules, in
//! the order they are checked (the first that fails names the reason):
//!
//! 1. the request is well formed: `cardPrefix` 6 digits (8 accepted), `cardSuffix` 4 digits;
//! 2. the order exists (matched on our `order_no` or TrustPay's `platform_order_no`);
//! 3. it is pending (status 1);
//! 4. fewer than `max_attempts` earlier risk decisions for it;
//! 5. the BIN matches no entry of the deny list (entries are digit prefixes, deny wins);
//! 6. when the allow list is not empty, the BIN matches one of its entries;
//! 7. the holder name is present and plausible (see [`plausible_holder_name`]).

use serde::Deserialize;

use crate::codes::OrderStatus;

/// The request body TrustPay sends (camelCase, as documented).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskRequest {
    /// Our `order_no` or TrustPay's `platform_order_no`.
    pub order_id: String,
    /// First 6 digits of the card.
    #[serde(default)]
    pub card_prefix: String,
    /// Last 4 digits of the card.
    #[serde(default)]
    pub card_suffix: String,
    /// The cardholder name as typed.
    #[serde(default)]
    pub card_holder_name: String,
}

impl RiskRequest {
    /// Parses the JSON body. `None` when it is not a JSON object with a string `orderId`.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// A list of BIN prefixes (`4,5500,411111`): each entry 1–8 digits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinList(Vec<String>);

impl BinList {
    /// Parses a comma-separated list; blank means empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.len() > 8 || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{item}` is not a BIN prefix of 1-8 digits"));
            }
            entries.push(item.to_owned());
        }
        Ok(Self(entries))
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry matching this card prefix, if any.
    pub fn matching(&self, card_prefix: &str) -> Option<&str> {
        self.0
            .iter()
            .map(String::as_str)
            .find(|e| card_prefix.starts_with(e))
    }
}

/// The configured rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRules {
    /// BINs to approve; empty = any BIN not denied.
    pub bin_allow: BinList,
    /// BINs to refuse (wins over the allow list).
    pub bin_deny: BinList,
    /// Risk decisions allowed per order (the next one is denied).
    pub max_attempts: u32,
}

/// Default per-order attempt limit.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

impl Default for RiskRules {
    fn default() -> Self {
        Self {
            bin_allow: BinList::default(),
            bin_deny: BinList::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What the edge found out about the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderFacts {
    /// No order has that number (ours or TrustPay's).
    Unknown,
    /// The order, with its status and the number of earlier risk decisions for it.
    Found {
        /// Current status.
        status: OrderStatus,
        /// Earlier risk decisions (allowed or denied) for this order.
        attempts_before: u32,
    },
}

/// Why a payment was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The body is not the documented JSON, or the card digits are not digits.
    Malformed,
    /// No such order.
    UnknownOrder,
    /// The order is not pending.
    OrderNotPending,
    /// `max_attempts` decisions were made already.
    TooManyAttempts,
    /// The BIN is on the deny list.
    BinDenied,
    /// The allow list is set and the BIN is not on it.
    BinNotAllowed,
    /// No holder name.
    HolderMissing,
    /// The holder name does not look like a name.
    HolderImplausible,
    /// Storage did not answer in time and the configured default is deny.
    Timeout,
}

impl DenyReason {
    /// A stable snake_case code (the event log's `detail`).
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::Malformed => "malformed",
            DenyReason::UnknownOrder => "unknown_order",
            DenyReason::OrderNotPending => "order_not_pending",
            DenyReason::TooManyAttempts => "too_many_attempts",
            DenyReason::BinDenied => "bin_denied",
            DenyReason::BinNotAllowed => "bin_not_allowed",
            DenyReason::HolderMissing => "holder_missing",
            DenyReason::HolderImplausible => "holder_implausible",
            DenyReason::Timeout => "timeout",
        }
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// HTTP 200 `allow`.
    Allow,
    /// HTTP 403 `deny`.
    Deny(DenyReason),
}

impl Decision {
    /// `allow` / `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny(_) => "deny",
        }
    }

    /// The HTTP status TrustPay expects: 200 or 403.
    pub fn http_status(self) -> u16 {
        match self {
            Decision::Allow => 200,
            Decision::Deny(_) => 403,
        }
    }

    /// The reason code for the log (`ok` for an allow).
    pub fn reason(self) -> &'static str {
        match self {
            Decision::Allow => "ok",
            Decision::Deny(r) => r.code(),
        }
    }
}

/// What to answer when storage is too slow (`RISK_ON_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Fail closed (the default): a payment we could not check is not approved.
    Deny,
    /// Fail open: approve, and rely on the order checks done elsewhere.
    Allow,
}

impl OnTimeout {
    /// Parses `allow` / `deny`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "deny" => Ok(OnTimeout::Deny),
            "allow" => Ok(OnTimeout::Allow),
            other => Err(format!("`{other}` is not allow or deny")),
        }
    }

    /// The decision it stands for.
    pub fn decision(self) -> Decision {
        match self {
            OnTimeout::Deny => Decision::Deny(DenyReason::Timeout),
            OnTimeout::Allow => Decision::Allow,
        }
    }
}

fn digits(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the request's own fields are well formed (checked before any storage access).
pub fn well_formed(req: &RiskRequest) -> bool {
    !req.order_id.trim().is_empty()
        && req.order_id.len() <= 64
        && digits(&req.card_prefix, &[6, 8])
        && digits(&req.card_suffix, &[4])
}

/// A plausible cardholder name: after trimming, 2–64 characters; only letters (any script),
/// spaces, `'`, `-`, `.` and `,`; at least two letters; no digits, no control characters,
/// and not one letter repeated (`aaaa`).
pub fn plausible_holder_name(name: &str) -> bool {
    let name = name.trim();
    let count = name.chars().count();
    if !(2..=64).contains(&count) {
        return false;
    }
    let allowed = |c: char| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | ',');
    if !name.chars().all(allowed) {
        return false;
    }
    let letters: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    letters.len() >= 2 && letters.iter().any(|c| *c != letters[0])
}

/// The decision for a request, given what the edge found and the rules.
pub fn decide(req: &RiskRequest, facts: OrderFacts, rules: &RiskRules) -> Decision {
    use DenyReason::*;
    if !well_formed(req) {
        return Decision::Deny(Malformed);
    }
    let (status, attempts_before) = match facts {
        OrderFacts::Unknown => return Decision::Deny(UnknownOrder),
        OrderFacts::Found {
            status,
            attempts_before,
        } => (status, attempts_before),
    };
    if status != OrderStatus::Pending {
        return Decision::Deny(OrderNotPending);
    }
    if attempts_before >= rules.max_attempts {
        return Decision::Deny(TooManyAttempts);
    }
    if rules.bin_deny.matching(&req.card_prefix).is_some() {
        return Decision::Deny(BinDenied);
    }
    if !rules.bin_allow.is_empty() && rules.bin_allow.matching(&req.card_prefix).is_none() {
        return Decision::Deny(BinNotAllowed);
    }
    if req.card_holder_name.trim().is_empty() {
        return Decision::Deny(HolderMissing);
    }
    if !plausible_holder_name(&req.card_holder_name) {
        return Decision::Deny(HolderImplausible);
    }
    Decision::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prefix: &str, suffix: &str, holder: &str) -> RiskRequest {
        RiskRequest {
            order_id: "A-1".into(),
            card_prefix: prefix.into(),
            card_suffix: suffix.into(),
            card_holder_name: holder.into(),
        }
    }

    fn pending(attempts_before: u32) -> OrderFacts {
        OrderFacts::Found {
            status: OrderStatus::Pending,
            attempts_before,
        }
    }

    fn rules(allow: &str, deny: &str, max_attempts: u32) -> RiskRules {
        RiskRules {
            bin_allow: BinList::parse(allow).expect("valid"),
            bin_deny: BinList::parse(deny).expect("valid"),
            max_attempts,
        }
    }

    #[test]
    fn decision_table() {
        use DenyReason::*;
        let open = rules("", "", 3);
        let listed = rules("4, 5500", "411111,400000", 3);
        let deny_only = rules("", "411111", 3);
        let ok = req("424242", "4242", "John Doe");
        let cases: Vec<(&str, RiskRequest, OrderFacts, &RiskRules, Decision)> = vec![
            (
                "all good, no lists",
                ok.clone(),
                pending(0),
                &open,
                Decision::Allow,
            ),
            (
                "allow-listed BIN",
                ok.clone(),
                pending(0),
                &listed,
                Decision::Allow,
            ),
            (
                "allow-listed 4-digit prefix",
                req("550012", "0004", "Ana María Pérez-Núñez"),
                pending(2),
                &listed,
                Decision::Allow,
            ),
            (
                "8-digit BIN",
                req("42424242", "4242", "John Doe"),
                pending(0),
                &open,
                Decision::Allow,
            ),
            (
                "deny-listed BIN",
                req("411111", "1111", "John Doe"),
                pending(0),
                &listed,
                Decision::Deny(BinDenied),
            ),
            (
                "deny wins over allow",
                req("400000", "0002", "John Doe"),
                pending(0),
                &listed,
                Decision::Deny(BinDenied),
            ),
            (
                "not on the allow list",
                req("510510", "5100", "John Doe"),
                pending(0),
                &listed,
                Decision::Deny(BinNotAllowed),
            ),
            (
                "deny list alone",
                req("411111", "1111", "John Doe"),
                pending(0),
                &deny_only,
                Decision::Deny(BinDenied),
            ),
            (
                "unknown order",
                ok.clone(),
                OrderFacts::Unknown,
                &open,
                Decision::Deny(UnknownOrder),
            ),
            (
                "paid order",
                ok.clone(),
                OrderFacts::Found {
                    status: OrderStatus::Paid,
                    attempts_before: 0,
                },
                &open,
                Decision::Deny(OrderNotPending),
            ),
            (
                "failed order",
                ok.clone(),
                OrderFacts::Found {
                    status: OrderStatus::Failed,
                    attempts_before: 0,
                },
                &open,
                Decision::Deny(OrderNotPending),
            ),
            (
                "third attempt of 3",
                ok.clone(),
                pending(2),
                &open,
                Decision::Allow,
            ),
            (
                "fourth attempt of 3",
                ok.clone(),
                pending(3),
                &open,
                Decision::Deny(TooManyAttempts),
            ),
            (
                "attempts before BIN",
                req("411111", "1111", "John Doe"),
                pending(3),
                &listed,
                Decision::Deny(TooManyAttempts),
            ),
            (
                "no holder",
                req("424242", "4242", "   "),
                pending(0),
                &open,
                Decision::Deny(HolderMissing),
            ),
            (
                "digits in holder",
                req("424242", "4242", "J0hn D0e"),
                pending(0),
                &open,
                Decision::Deny(HolderImplausible),
            ),
            (
                "one letter",
                req("424242", "4242", "J"),
                pending(0),
                &open,
                Decision::Deny(HolderImplausible),
            ),
            (
                "repeated letter",
                req("424242", "4242", "aaaa"),
                pending(0),
                &open,
                Decision::Deny(HolderImplausible),
            ),
            (
                "markup",
                req("424242", "4242", "<script>"),
                pending(0),
                &open,
                Decision::Deny(HolderImplausible),
            ),
            (
                "short prefix",
                req("42424", "4242", "John Doe"),
                pending(0),
                &open,
                Decision::Deny(Malformed),
            ),
            (
                "letters in suffix",
                req("424242", "42a2", "John Doe"),
                pending(0),
                &open,
                Decision::Deny(Malformed),
            ),
            (
                "malformed before unknown order",
                req("", "", ""),
                OrderFacts::Unknown,
                &open,
                Decision::Deny(Malformed),
            ),
        ];
        for (what, request, facts, rules, expected) in cases {
            assert_eq!(decide(&request, facts, rules), expected, "{what}");
        }
    }

    #[test]
    fn holder_names() {
        for good in [
            "John Doe",
            "O'Brien",
            "Jean-Luc Picard",
            "J. R. R. Tolkien",
            "李小龍",
            "Müller, Anna",
            "Al",
        ] {
            assert!(plausible_holder_name(good), "{good}");
        }
        for bad in [
            "",
            " ",
            "X",
            "xx",
            "John\tDoe",
            "John Doe 2",
            "a@b.c",
            &"a".repeat(65),
            "---",
            "Jo\u{0}hn",
        ] {
            assert!(!plausible_holder_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn parses_the_documented_body() {
        let body = br#"{"orderId":"RgBFsAlTSKBKuZNJTcNlULSc","cardPrefix":"123456","cardSuffix":"7890","cardHolderName":"John Doe"}"#;
        let req = RiskRequest::parse(body).expect("parses");
        assert_eq!(req.order_id, "RgBFsAlTSKBKuZNJTcNlULSc");
        assert_eq!(
            (req.card_prefix.as_str(), req.card_suffix.as_str()),
            ("123456", "7890")
        );
        assert!(RiskRequest::parse(b"not json").is_none());
        assert!(RiskRequest::parse(br#"{"cardPrefix":"123456"}"#).is_none());
        assert!(!well_formed(
            &RiskRequest::parse(br#"{"orderId":"A-1"}"#).expect("parses")
        ));
    }

    #[test]
    fn lists_and_defaults() {
        assert!(BinList::parse("").expect("empty").is_empty());
        assert_eq!(
            BinList::parse(" 4 , 5500 ")
                .expect("valid")
                .matching("550012"),
            Some("5500")
        );
        assert!(BinList::parse("4x").is_err());
        assert!(BinList::parse("123456789").is_err());
        assert_eq!(OnTimeout::parse("deny"), Ok(OnTimeout::Deny));
        assert_eq!(
            OnTimeout::parse("allow").map(OnTimeout::decision),
            Ok(Decision::Allow)
        );
        assert!(OnTimeout::parse("maybe").is_err());
        assert_eq!(
            OnTimeout::Deny.decision(),
            Decision::Deny(DenyReason::Timeout)
        );
        assert_eq!(
            (Decision::Allow.http_status(), Decision::Allow.as_str()),
            (200, "allow")
        );
        assert_eq!(Decision::Deny(DenyReason::BinDenied).http_status(), 403);
        assert_eq!(Decision::Deny(DenyReason::BinDenied).reason(), "bin_denied");
        assert_eq!(RiskRules::default().max_attempts, DEFAULT_MAX_ATTEMPTS);
    }
}
