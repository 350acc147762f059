//! TrustPay v4 Payment Gateway wire types, spelled exactly as TrustPay spells them.
//!
//! What the docs say about each endpoint, and what we inferred: `docs/protocol.md`; the `§`
//! section names in this module's docs are that file's.
//!
//! Requests are built as [`SignFields`] so the body text and the signed text are the same
//! bytes. Responses parse leniently: unknown fields are ignored, amounts may be numbers or
//! strings, fields the docs show only in examples are optional.

use serde::{Deserialize, Serialize};

use crate::codes::{CurrencyCode, ErrorCode, NotifyStatus, OrderStatus, TransactionType};
use crate::money::{Amount, AmountRendering, Currency};
use crate::sign::SignFields;

/// API paths, relative to the base URL (`https://api.trustpay.money`).
pub mod paths {
    /// Cashier payin: create an order and get the hosted pay page.
    pub const CASHIER_PAYIN: &str = "/v4/payin/create/order";
    /// Order query.
    pub const ORDER_QUERY: &str = "/v4/query/order";
    /// Order refund.
    pub const ORDER_REFUND: &str = "/v4/order/refund";
    /// Balance.
    pub const BALANCE: &str = "/v4/balance";
    /// Fee overview.
    pub const FEE_OVERVIEW: &str = "/v4/fee-overview";
}

/// The header carrying the API key on every request (§Basics).
pub const API_KEY_HEADER: &str = "X-Api-Key";

/// `{code, message, data}`, the envelope of every v4 response (§Response envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// 880001 on success; see [`ErrorCode`].
    pub code: ErrorCode,
    /// Free text (`"success"`, `"Fee overview retrieved successfully"`, or an error name).
    #[serde(default)]
    pub message: String,
    /// The payload; absent on errors.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// A signed request to TrustPay: its path and the fields that make up the body.
pub trait TrustPayRequest {
    /// The response `data` type.
    type Data: for<'de> Deserialize<'de>;
    /// The path under the base URL.
    const PATH: &'static str;
    /// The body fields (without `sign`), amounts written in `rendering`.
    fn fields(&self, rendering: AmountRendering) -> SignFields;
}

/// Cashier payin request (§Cashier payin). `merchant_id` is in the body, as in the docs' example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashierPayinRequest {
    /// Merchant id from the dashboard.
    pub merchant_id: i64,
    /// Our order number (unique).
    pub order_no: String,
    /// The amount.
    pub order_amount: Amount,
    /// `USD` or `INR`.
    pub currency: Currency,
    /// Where TrustPay posts callbacks.
    pub notify_url: String,
}

impl TrustPayRequest for CashierPayinRequest {
    type Data = CashierPayinData;
    const PATH: &'static str = paths::CASHIER_PAYIN;
    fn fields(&self, rendering: AmountRendering) -> SignFields {
        SignFields::new()
            .str("currency", self.currency.code())
            .int("merchant_id", self.merchant_id)
            .str("notify_url", self.notify_url.clone())
            .amount("order_amount", self.order_amount, rendering)
            .str("order_no", self.order_no.clone())
    }
}

/// Cashier payin response `data`. Only `order_no` is in the available v4 example; the rest
/// are the v3 fields in snake_case [INFERRED], hence optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashierPayinData {
    /// Our order number, echoed.
    pub order_no: String,
    /// TrustPay's 24-character order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_order_no: Option<String>,
    /// Merchant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<i64>,
    /// Currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyCode>,
    /// Order amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub amount: Option<Amount>,
    /// Fee quoted at creation.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub fee: Option<Amount>,
    /// The hosted cashier page to send the shopper to. The v4 docs end before naming this
    /// field; `pay_url` (v4 snake_case) is read first, v3's `payUrl` as the fallback
    /// ([`CashierPayinData::pay_page`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_url: Option<String>,
    /// v3's name of [`CashierPayinData::pay_url`].
    #[serde(default, rename = "payUrl", skip_serializing_if = "Option::is_none")]
    pub pay_url_v3: Option<String>,
}

impl CashierPayinData {
    /// The pay page: `pay_url`, else `payUrl`; empty strings count as absent.
    pub fn pay_page(&self) -> Option<&str> {
        [&self.pay_url, &self.pay_url_v3]
            .into_iter()
            .filter_map(|url| url.as_deref())
            .find(|url| !url.is_empty())
    }
}

/// Order query request (§Order query): `order_no` only, as in the v4 example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQueryRequest {
    /// Our order number.
    pub order_no: String,
}

impl TrustPayRequest for OrderQueryRequest {
    type Data = OrderQueryData;
    const PATH: &'static str = paths::ORDER_QUERY;
    fn fields(&self, _rendering: AmountRendering) -> SignFields {
        SignFields::new().str("order_no", self.order_no.clone())
    }
}

/// Order query response `data` (§Order query; fields after `currency` inferred from v3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQueryData {
    /// Our order number.
    pub order_no: String,
    /// TrustPay's order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_order_no: Option<String>,
    /// Payin or payout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<TransactionType>,
    /// Merchant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<i64>,
    /// Currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyCode>,
    /// Order amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub order_amount: Option<Amount>,
    /// Paid amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub paid_amount: Option<Amount>,
    /// Refunded amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub refund_amount: Option<Amount>,
    /// Fee.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub fee: Option<Amount>,
    /// Order status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    /// Failure reason text (English; never shown to shoppers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Callback delivery status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_status: Option<NotifyStatus>,
    /// Last callback attempt (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_time: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// The hosted pay page. [GUESS] The v4 docs list no such field in the query answer (the
    /// example ends early); read when present, so a create whose answer was lost can recover
    /// its pay page. Checked like the create answer's before anyone is sent there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_url: Option<String>,
}

/// Order refund request (§Order refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The payin's order number.
    pub order_no: String,
    /// Our unique refund id.
    pub merchant_refund_no: String,
    /// Amount to refund.
    pub refund_amount: Amount,
    /// Free text.
    pub reason: String,
}

impl TrustPayRequest for RefundRequest {
    type Data = RefundData;
    const PATH: &'static str = paths::ORDER_REFUND;
    fn fields(&self, rendering: AmountRendering) -> SignFields {
        SignFields::new()
            .str("merchant_refund_no", self.merchant_refund_no.clone())
            .str("order_no", self.order_no.clone())
            .str("reason", self.reason.clone())
            .amount("refund_amount", self.refund_amount, rendering)
    }
}

/// Order refund response `data` (§Order refund). Refund `status` values are not documented, so the
/// raw integer is kept; `failed_reason` is an object of unknown shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundData {
    /// Our refund id.
    #[serde(default)]
    pub merchant_refund_no: String,
    /// Amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub refund_amount: Option<Amount>,
    /// Currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyCode>,
    /// Undocumented refund status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Undocumented failure detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<serde_json::Value>,
}

/// Balance request (§Balance): `currency_id`, no `merchant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRequest {
    /// Currency.
    pub currency_id: Currency,
}

impl TrustPayRequest for BalanceRequest {
    type Data = BalanceData;
    const PATH: &'static str = paths::BALANCE;
    fn fields(&self, _rendering: AmountRendering) -> SignFields {
        SignFields::new().str("currency_id", self.currency_id.code())
    }
}

/// Balance response `data` (§Balance). v3 called `frozen` `freeze`; both are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceData {
    /// Available.
    #[serde(with = "number")]
    pub balance: Amount,
    /// Frozen.
    #[serde(default, alias = "freeze", with = "number")]
    pub frozen: Amount,
    /// Reserve.
    #[serde(default, with = "number")]
    pub reserve: Amount,
}

/// Fee overview request (§Fee overview): no fields besides `sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeOverviewRequest;

impl TrustPayRequest for FeeOverviewRequest {
    type Data = FeeOverviewData;
    const PATH: &'static str = paths::FEE_OVERVIEW;
    fn fields(&self, _rendering: AmountRendering) -> SignFields {
        SignFields::new()
    }
}

/// Fee overview response `data` (§Fee overview, "Developing").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeOverviewData {
    /// Fee per channel and currency.
    #[serde(default)]
    pub fee_configs: Vec<FeeConfig>,
    /// Dispute and refund fees.
    #[serde(default)]
    pub dispute_configs: Vec<DisputeConfig>,
}

/// One fee configuration. Whether `fee_rate` 0.3 is a fraction or a percent is not stated,
/// so it is kept as the number sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeConfig {
    /// Channel id.
    pub channel_id: i64,
    /// Currency.
    pub currency_id: CurrencyCode,
    /// Probably the transaction type (0 payin) [INFERRED].
    #[serde(default)]
    pub business_type: i64,
    /// Rate, unit undocumented.
    #[serde(default)]
    pub fee_rate: f64,
    /// Fixed part.
    #[serde(default, with = "number")]
    pub fee_fixed_amount: Amount,
    /// Minimum fee.
    #[serde(default, with = "number")]
    pub fee_min_amount: Amount,
}

/// One dispute configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisputeConfig {
    /// Channel id.
    pub channel_id: i64,
    /// Currency.
    pub currency_id: CurrencyCode,
    /// Chargeback fee.
    #[serde(default, with = "number")]
    pub chargeback_fee: Amount,
    /// Refund fee rate, unit undocumented.
    #[serde(default)]
    pub refund_fee_rate: f64,
    /// Fixed refund fee.
    #[serde(default, with = "number")]
    pub refund_fee_fixed_amount: Amount,
}

/// The callback body TrustPay posts to `notify_url` (§Callback fields). Parse it only through
/// [`crate::callback::verify_callback`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// Payin or payout.
    pub r#type: TransactionType,
    /// Merchant id.
    pub merchant_id: i64,
    /// Our order number.
    pub order_no: String,
    /// The new status.
    pub status: OrderStatus,
    /// Reason text (English; logged, never shown to shoppers).
    #[serde(default)]
    pub reason: String,
    /// `YYYY-MM-DD HH:MM:SS`, time zone undocumented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_time: Option<String>,
    /// Order amount.
    #[serde(with = "number")]
    pub order_amount: Amount,
    /// Paid amount (payin success).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub paid_amount: Option<Amount>,
    /// Net credited: `paid_amount - fee` (payin success).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub balance_amount: Option<Amount>,
    /// Refunded total (refund callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub refund_amount: Option<Amount>,
    /// Fee (payin success).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_number")]
    pub fee: Option<Amount>,
    /// Every refund number of this order (refund callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_refund_no: Option<Vec<String>>,
    /// MD5 sign.
    pub sign: String,
}

/// The callback acknowledgement body (Decision 4 in `docs/protocol.md`): HTTP 200,
/// `application/json`, `{}`.
pub const CALLBACK_ACK_BODY: &str = "{}";

/// Serde for amounts as JSON numbers (reads numbers or strings; writes a number).
pub mod number {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::money::Amount;

    /// Writes `5.00` as the JSON number `5.0` / `5.5` (serde_json can't keep trailing zeros).
    pub fn serialize<S: Serializer>(amount: &Amount, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(amount.minor() as f64 / 100.0)
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        Amount::deserialize(d)
    }
}

/// [`number`] for optional fields; `null` reads as absent.
pub mod opt_number {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::money::Amount;

    /// Writes a number, or `null`.
    pub fn serialize<S: Serializer>(amount: &Option<Amount>, s: S) -> Result<S::Ok, S::Error> {
        match amount {
            Some(a) => super::number::serialize(a, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a number, a decimal string, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
        Option::<Amount>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn cashier_payin_body_is_the_documented_example() {
        let req = CashierPayinRequest {
            merchant_id: 8820250900009,
            order_no: "local-test-payin-319".into(),
            order_amount: Amount::from_minor(500).expect("positive"),
            currency: Currency::Usd,
            notify_url: "https://rbaskets.trustpay.money/checkout".into(),
        };
        let body = req
            .fields(AmountRendering::TwoDecimals)
            .signed_body(&Secret::new("YOUR_SECRET_KEY").expect("non-empty"));
        assert_eq!(
            body,
            r#"{"currency":"USD","merchant_id":8820250900009,"notify_url":"https://rbaskets.trustpay.money/checkout","order_amount":5.00,"order_no":"local-test-payin-319","sign":"74d28fe52c0457441f7fa2b3a62b6085"}"#
        );
    }

    #[test]
    fn parses_the_v3_shaped_payin_response_in_snake_case() {
        let json = r#"{"code":880001,"message":"success","data":{"merchant_id":8820250900009,"order_no":"local-test-payin-12","platform_order_no":"T4CMQaTCcN05GEx9EQkuabB1","currency":"USD","amount":20,"fee":4.5,"pay_url":"https://pay.example/checkout.html?token=9c","extra":{"ignored":true}}}"#;
        let env: Envelope<CashierPayinData> = serde_json::from_str(json).expect("parses");
        assert_eq!(env.code, ErrorCode::Success);
        let data = env.data.expect("data");
        assert_eq!(data.fee.map(Amount::minor), Some(450));
        assert_eq!(data.amount.map(Amount::minor), Some(2000));
        assert_eq!(data.platform_order_no.as_deref().map(str::len), Some(24));
    }

    #[test]
    fn parses_errors_without_data_and_unknown_codes() {
        let env: Envelope<CashierPayinData> =
            serde_json::from_str(r#"{"code":880012,"message":"order_already_exists"}"#)
                .expect("parses");
        assert_eq!(env.code, ErrorCode::OrderAlreadyExists);
        assert!(env.data.is_none());
        let env: Envelope<CashierPayinData> =
            serde_json::from_str(r#"{"code":880099,"message":"new","data":null}"#).expect("parses");
        assert_eq!(env.code, ErrorCode::Unknown(880099));
    }

    #[test]
    fn parses_order_query_with_string_amounts_and_unknown_status() {
        let json = r#"{"code":880001,"message":"success","data":{"order_no":"prod-test-payin-4","platform_order_no":"8XyDd93WEJsyXRKdUOeBTSIQ","type_id":0,"merchant_id":8820250900009,"currency":"USD","order_amount":"50","paid_amount":20,"refund_amount":0,"fee":"2.5","status":12,"reason":"","notify_status":3,"notify_time":"2025-12-30T23:51:07.381428Z","create_time":"2025-12-30T18:46:02.616482Z"}}"#;
        let data = serde_json::from_str::<Envelope<OrderQueryData>>(json)
            .expect("parses")
            .data
            .expect("data");
        assert_eq!(data.order_amount.map(Amount::minor), Some(5000));
        assert_eq!(data.fee.map(Amount::minor), Some(250));
        assert_eq!(data.status, Some(OrderStatus::Unknown(12)));
        assert_eq!(data.notify_status, Some(NotifyStatus::Failed));
        assert_eq!(data.type_id, Some(TransactionType::Payin));
    }

    #[test]
    fn parses_balance_refund_and_fees() {
        let b: Envelope<BalanceData> = serde_json::from_str(r#"{"code":880001,"message":"success","data":{"balance":137.7,"frozen":13.15,"reserve":0}}"#).expect("parses");
        assert_eq!(
            b.data.map(|d| (d.balance.minor(), d.frozen.minor())),
            Some((13770, 1315))
        );
        let b: Envelope<BalanceData> = serde_json::from_str(
            r#"{"code":880001,"message":"success","data":{"balance":"0","freeze":"475"}}"#,
        )
        .expect("parses");
        assert_eq!(b.data.map(|d| d.frozen.minor()), Some(47500));
        let r: Envelope<RefundData> = serde_json::from_str(r#"{"code":880001,"message":"ok","data":{"merchant_refund_no":"R1","refund_amount":2.5,"currency":"USD","status":1,"failed_reason":{}}}"#).expect("parses");
        assert_eq!(
            r.data.and_then(|d| d.refund_amount).map(Amount::minor),
            Some(250)
        );
        let f: Envelope<FeeOverviewData> = serde_json::from_str(r#"{"code":880001,"message":"Fee overview retrieved successfully","data":{"fee_configs":[{"channel_id":5,"currency_id":"USD","business_type":0,"fee_rate":0.3,"fee_fixed_amount":10,"fee_min_amount":0}],"dispute_configs":[{"channel_id":5,"currency_id":"USD","chargeback_fee":10,"refund_fee_rate":0.3,"refund_fee_fixed_amount":10}]}}"#).expect("parses");
        let f = f.data.expect("data");
        assert_eq!(f.fee_configs[0].fee_fixed_amount.minor(), 1000);
        assert_eq!(f.dispute_configs[0].chargeback_fee.minor(), 1000);
    }

    #[test]
    fn request_fields_for_every_endpoint() {
        let r = AmountRendering::TwoDecimals;
        let q = OrderQueryRequest {
            order_no: "A".into(),
        }
        .fields(r);
        assert_eq!(q.canonical(crate::sign::SignOptions::AS_SENT), "order_no=A");
        let refund = RefundRequest {
            order_no: "A".into(),
            merchant_refund_no: "R".into(),
            refund_amount: Amount::from_minor(250).expect("positive"),
            reason: "x".into(),
        };
        assert_eq!(
            refund
                .fields(r)
                .canonical(crate::sign::SignOptions::AS_SENT),
            "merchant_refund_no=R&order_no=A&reason=x&refund_amount=2.50"
        );
        assert_eq!(
            BalanceRequest {
                currency_id: Currency::Inr
            }
            .fields(r)
            .canonical(crate::sign::SignOptions::AS_SENT),
            "currency_id=INR"
        );
        assert_eq!(
            FeeOverviewRequest
                .fields(r)
                .canonical(crate::sign::SignOptions::AS_SENT),
            ""
        );
    }

    #[test]
    fn the_pay_page_is_pay_url_or_v3_pay_url() {
        let read = |data: &str| -> Option<String> {
            let e: Envelope<CashierPayinData> = serde_json::from_str(&format!(
                r#"{{"code":880001,"message":"success","data":{{"order_no":"A-1",{data}}}}}"#
            ))
            .expect("parses");
            e.data.and_then(|d| d.pay_page().map(str::to_owned))
        };
        assert_eq!(
            read(r#""pay_url":"https://a.example/1""#).as_deref(),
            Some("https://a.example/1")
        );
        assert_eq!(
            read(r#""payUrl":"https://b.example/2""#).as_deref(),
            Some("https://b.example/2")
        );
        assert_eq!(
            read(r#""pay_url":"https://a.example/1","payUrl":"https://b.example/2""#).as_deref(),
            Some("https://a.example/1")
        );
        assert_eq!(
            read(r#""pay_url":"","payUrl":"https://b.example/2""#).as_deref(),
            Some("https://b.example/2")
        );
        assert_eq!(read(r#""fee":1"#), None);
    }
}
