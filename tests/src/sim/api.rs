//! The TrustPay v4 API: `POST` JSON endpoints answering the `{code, message, data}` envelope.
//!
//! Every request is judged in this order, and the first failure answers:
//!
//! 1. `X-Api-Key` present and equal to the configured key, else 880011;
//! 2. `Content-Type: application/json`, else 880002;
//! 3. the body is a JSON object without repeated keys, else 880002;
//! 4. `sign` present, amounts written in the configured rendering (so the body text and the
//!    signed text agree), and `sign` equal to the MD5 of the canonical string in that
//!    rendering, else 880011;
//! 5. fields present and of the right JSON type, `merchant_id` (where sent) ours, currency
//!    USD or INR, else 880002 (880011 for a foreign `merchant_id`);
//! 6. business rules: amount range (880015), duplicates (880012), refundability (880008),
//!    balance (880005).
//!
//! Each request is logged with the canonical string the simulator computed, the expected and
//! received sign, and the verdict (`/_sim/requests`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use checkout_core::codes::{CurrencyCode, ErrorCode};
use checkout_core::money::{Amount, Currency};
use checkout_core::order_no::OrderNo;
use checkout_core::sign::{
    AMOUNT_KEYS, SignError, SignFields, SignOptions, SignValue, sign_canonical,
};
use checkout_core::wire::{
    API_KEY_HEADER, DisputeConfig, Envelope, FeeConfig, FeeOverviewData, paths,
};
use serde::Serialize;

use super::clock;
use super::faults::RequestFaultKind;
use super::log::{ApiKeyCheck, RequestRecord};
use super::store::{CreateError, Effect, NewOrder, NewRefund, RefundError};
use super::{Sim, run_effects};

/// The body a `garbage` fault answers: truncated JSON, then HTML.
pub(crate) const GARBAGE_BODY: &str =
    "{\"code\":880001,\"message\":\"succ<html><body>502 Bad Gateway</body></html>";

/// The v4 endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    CashierPayin,
    OrderQuery,
    OrderRefund,
    Balance,
    FeeOverview,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::CashierPayin,
        Endpoint::OrderQuery,
        Endpoint::OrderRefund,
        Endpoint::Balance,
        Endpoint::FeeOverview,
    ];

    fn path(self) -> &'static str {
        match self {
            Endpoint::CashierPayin => paths::CASHIER_PAYIN,
            Endpoint::OrderQuery => paths::ORDER_QUERY,
            Endpoint::OrderRefund => paths::ORDER_REFUND,
            Endpoint::Balance => paths::BALANCE,
            Endpoint::FeeOverview => paths::FEE_OVERVIEW,
        }
    }
}

/// The v4 routes.
pub(crate) fn routes() -> Router<Arc<Sim>> {
    Endpoint::ALL
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            router.route(
                endpoint.path(),
                post(
                    move |State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes| {
                        handle(sim, endpoint, headers, body)
                    },
                ),
            )
        })
}

/// Why a request was refused: each variant maps to one TrustPay code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("missing X-Api-Key header")]
    MissingApiKey,
    #[error("X-Api-Key does not match")]
    WrongApiKey,
    #[error("Content-Type must be application/json")]
    ContentType,
    #[error("{0}")]
    BadJson(SignError),
    #[error("missing sign")]
    MissingSign,
    #[error(
        "`{key}` is written `{sent}` but amounts must be signed and sent as `{expected}` ({rendering})"
    )]
    Rendering {
        key: String,
        sent: String,
        expected: String,
        rendering: &'static str,
    },
    #[error("sign does not match")]
    BadSign,
    #[error("merchant_id {0} is not this merchant's")]
    WrongMerchant(i64),
    #[error("{0}")]
    BadField(String),
    #[error("currency `{0}` is not supported (USD, INR)")]
    Currency(String),
    #[error("order_not_found")]
    OrderNotFound,
    #[error("order_no already exists")]
    OrderExists,
    #[error("merchant_refund_no already exists")]
    RefundExists,
    #[error("{0}")]
    AmountRule(String),
    #[error("{0}")]
    NotRefundable(String),
    #[error("insufficient balance: {0} available")]
    InsufficientBalance(Amount),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The envelope code.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            ApiError::MissingApiKey
            | ApiError::WrongApiKey
            | ApiError::MissingSign
            | ApiError::Rendering { .. }
            | ApiError::BadSign
            | ApiError::WrongMerchant(_) => ErrorCode::Unauthorized,
            ApiError::ContentType
            | ApiError::BadJson(_)
            | ApiError::BadField(_)
            | ApiError::Currency(_)
            | ApiError::OrderNotFound => ErrorCode::BadRequest,
            ApiError::OrderExists | ApiError::RefundExists => ErrorCode::OrderAlreadyExists,
            ApiError::AmountRule(_) => ErrorCode::AmountRuleViolation,
            ApiError::NotRefundable(_) => ErrorCode::OrderProcessingFailed,
            ApiError::InsufficientBalance(_) => ErrorCode::InsufficientBalance,
            ApiError::Internal(_) => ErrorCode::SystemInternalError,
        }
    }

    /// The request log verdict.
    pub(crate) fn verdict(&self) -> &'static str {
        match self {
            ApiError::MissingApiKey => "missing_api_key",
            ApiError::WrongApiKey => "wrong_api_key",
            ApiError::ContentType => "bad_content_type",
            ApiError::BadJson(_) => "bad_json",
            ApiError::MissingSign => "missing_sign",
            ApiError::Rendering { .. } => "wrong_amount_rendering",
            ApiError::BadSign => "bad_sign",
            ApiError::WrongMerchant(_) => "wrong_merchant",
            ApiError::BadField(_) => "bad_field",
            ApiError::Currency(_) => "unsupported_currency",
            ApiError::OrderNotFound => "order_not_found",
            ApiError::OrderExists => "order_exists",
            ApiError::RefundExists => "refund_exists",
            ApiError::AmountRule(_) => "amount_rule",
            ApiError::NotRefundable(_) => "not_refundable",
            ApiError::InsufficientBalance(_) => "insufficient_balance",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The envelope message: the code's documented name and the detail.
    fn message(&self) -> String {
        format!("{}: {self}", self.code().doc_name())
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Exists => ApiError::OrderExists,
        }
    }
}

impl From<RefundError> for ApiError {
    fn from(e: RefundError) -> Self {
        match e {
            RefundError::OrderNotFound => ApiError::OrderNotFound,
            RefundError::Exists => ApiError::RefundExists,
            RefundError::AboveRemainder(_) => ApiError::AmountRule(e.to_string()),
            RefundError::InsufficientBalance(available) => ApiError::InsufficientBalance(available),
            RefundError::NotRefundable(_) | RefundError::InProgress => {
                ApiError::NotRefundable(e.to_string())
            }
        }
    }
}

/// What the simulator computed about a request's sign, for the log.
#[derive(Debug, Default)]
struct SignTrace {
    canonical: Option<String>,
    canonical_as_sent: Option<String>,
    expected_sign: Option<String>,
    received_sign: Option<String>,
}

/// A successful answer.
struct Success {
    message: &'static str,
    data: serde_json::Value,
    effects: Vec<Effect>,
}

async fn handle(sim: Arc<Sim>, endpoint: Endpoint, headers: HeaderMap, body: Bytes) -> Response {
    let arrival = SystemTime::now();
    let api_key = api_key_check(&sim, &headers);
    let (trace, judged) = judge(&sim, api_key, &headers, &body);
    let fault = sim.lock().faults.take_request(endpoint.path());

    let mut fault_label = None;
    let (verdict, code, status, content_type, response) = match fault {
        Some(RequestFaultKind::Code { code }) => {
            fault_label = Some(format!("code {code}"));
            let code = ErrorCode::from_code(code);
            let body = envelope_json(code, format!("{} (injected fault)", code.doc_name()), None);
            (
                "fault".to_owned(),
                Some(code.code()),
                error_status(&sim),
                "application/json",
                body,
            )
        }
        Some(RequestFaultKind::Http { status }) => {
            fault_label = Some(format!("http {status}"));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (
                "fault".to_owned(),
                None,
                status,
                "text/plain; charset=utf-8",
                format!("simulated HTTP {} (injected fault)", status.as_u16()),
            )
        }
        Some(RequestFaultKind::Garbage) => {
            fault_label = Some("garbage".to_owned());
            (
                "fault".to_owned(),
                None,
                StatusCode::OK,
                "application/json",
                GARBAGE_BODY.to_owned(),
            )
        }
        Some(RequestFaultKind::Delay { ms }) => {
            fault_label = Some(format!("delay {ms}ms"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer(&sim, endpoint, judged)
        }
        None => answer(&sim, endpoint, judged),
    };

    sim.say(format_args!(
        "POST {} -> {} {verdict}",
        endpoint.path(),
        code.map_or_else(|| format!("HTTP {}", status.as_u16()), |c| c.to_string())
    ));
    let record_headers = headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.as_str().eq_ignore_ascii_case(API_KEY_HEADER) {
                match api_key {
                    ApiKeyCheck::Matched => "[redacted: matched]".to_owned(),
                    ApiKeyCheck::Mismatched | ApiKeyCheck::Missing => {
                        "[redacted: does not match]".to_owned()
                    }
                }
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    sim.lock().requests.push_with(|seq| RequestRecord {
        seq,
        time: clock::rfc3339(arrival),
        method: "POST".to_owned(),
        path: endpoint.path().to_owned(),
        headers: record_headers,
        api_key,
        body: String::from_utf8_lossy(&body).into_owned(),
        canonical: trace.canonical,
        canonical_as_sent: trace.canonical_as_sent,
        expected_sign: trace.expected_sign,
        received_sign: trace.received_sign,
        verdict,
        fault: fault_label,
        code,
        http_status: status.as_u16(),
        response: response.clone(),
    });
    (status, [(CONTENT_TYPE, content_type)], response).into_response()
}

/// Runs the endpoint on a judged request: (verdict, code, status, content type, body).
fn answer(
    sim: &Arc<Sim>,
    endpoint: Endpoint,
    judged: Result<SignFields, ApiError>,
) -> (String, Option<i64>, StatusCode, &'static str, String) {
    match judged.and_then(|fields| run_endpoint(sim, endpoint, &fields)) {
        Ok(success) => {
            let body = envelope_json(
                ErrorCode::Success,
                success.message.to_owned(),
                Some(success.data),
            );
            run_effects(sim, success.effects);
            (
                "ok".to_owned(),
                Some(ErrorCode::Success.code()),
                StatusCode::OK,
                "application/json",
                body,
            )
        }
        Err(error) => {
            let body = envelope_json(error.code(), error.message(), None);
            (
                error.verdict().to_owned(),
                Some(error.code().code()),
                error_status(sim),
                "application/json",
                body,
            )
        }
    }
}

fn error_status(sim: &Sim) -> StatusCode {
    StatusCode::from_u16(sim.config.error_http_status).unwrap_or(StatusCode::OK)
}

fn envelope_json(code: ErrorCode, message: String, data: Option<serde_json::Value>) -> String {
    let envelope = Envelope {
        code,
        message,
        data,
    };
    serde_json::to_string(&envelope).unwrap_or_else(|_| {
        format!(
            "{{\"code\":{},\"message\":\"internal error\"}}",
            ErrorCode::SystemInternalError.code()
        )
    })
}

fn api_key_check(sim: &Sim, headers: &HeaderMap) -> ApiKeyCheck {
    match headers.get(API_KEY_HEADER) {
        None => ApiKeyCheck::Missing,
        Some(value)
            if sim
                .config
                .api_key
                .matches(&String::from_utf8_lossy(value.as_bytes())) =>
        {
            ApiKeyCheck::Matched
        }
        Some(_) => ApiKeyCheck::Mismatched,
    }
}

/// Steps 1-4: credentials, content type, JSON, sign. The sign trace is computed whenever the
/// body is a JSON object, so the log shows it even for requests refused earlier.
fn judge(
    sim: &Sim,
    api_key: ApiKeyCheck,
    headers: &HeaderMap,
    body: &[u8],
) -> (SignTrace, Result<SignFields, ApiError>) {
    let cfg = &sim.config;
    let mut trace = SignTrace::default();
    let parsed = SignFields::from_json(body);
    if let Ok(fields) = &parsed {
        let canonical = fields.canonical(SignOptions::amounts(cfg.sign_amounts));
        let as_sent = fields.canonical(SignOptions::AS_SENT);
        trace.expected_sign = Some(sign_canonical(&canonical, &cfg.secret).as_str().to_owned());
        trace.canonical_as_sent = (as_sent != canonical).then_some(as_sent);
        trace.canonical = Some(canonical);
        trace.received_sign = match fields.get("sign") {
            Some(SignValue::Str(s)) => Some(s.clone()),
            Some(other) => Some(format!("{other:?}")),
            None => None,
        };
    }
    let result = (|| {
        match api_key {
            ApiKeyCheck::Matched => {}
            ApiKeyCheck::Missing => return Err(ApiError::MissingApiKey),
            ApiKeyCheck::Mismatched => return Err(ApiError::WrongApiKey),
        }
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError::ContentType);
        }
        let fields = parsed.map_err(ApiError::BadJson)?;
        let received = match fields.get("sign") {
            Some(SignValue::Str(s)) if !s.is_empty() => s.clone(),
            Some(
                SignValue::Null
                | SignValue::Bool(_)
                | SignValue::Str(_)
                | SignValue::Number(_)
                | SignValue::List(_)
                | SignValue::Json(_),
            )
            | None => {
                return Err(ApiError::MissingSign);
            }
        };
        if let Some(mismatch) = rendering_mismatch(&fields, cfg.sign_amounts) {
            return Err(mismatch);
        }
        let expected = sign_canonical(
            &fields.canonical(SignOptions::amounts(cfg.sign_amounts)),
            &cfg.secret,
        );
        if !expected.matches(&received) {
            return Err(ApiError::BadSign);
        }
        Ok(fields)
    })();
    (trace, result)
}

/// The first amount whose body text differs from its configured rendering.
fn rendering_mismatch(
    fields: &SignFields,
    rendering: checkout_core::money::AmountRendering,
) -> Option<ApiError> {
    AMOUNT_KEYS.iter().find_map(|&key| match fields.get(key) {
        Some(SignValue::Number(sent)) => {
            let amount = Amount::parse_decimal(sent).ok()?;
            let expected = amount.render(rendering);
            (amount.minor() != 0 && *sent != expected).then(|| ApiError::Rendering {
                key: key.to_owned(),
                sent: sent.clone(),
                expected,
                rendering: rendering.as_str(),
            })
        }
        Some(
            SignValue::Null
            | SignValue::Bool(_)
            | SignValue::Str(_)
            | SignValue::List(_)
            | SignValue::Json(_),
        )
        | None => None,
    })
}

/// Typed access to a judged body's fields (step 5).
struct Body<'a>(&'a SignFields);

impl Body<'_> {
    fn string(&self, key: &str) -> Result<String, ApiError> {
        self.opt_string(key)?
            .ok_or_else(|| ApiError::BadField(format!("`{key}` is missing")))
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            Some(SignValue::Str(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(SignValue::Str(_) | SignValue::Null) | None => Ok(None),
            Some(
                SignValue::Bool(_) | SignValue::Number(_) | SignValue::List(_) | SignValue::Json(_),
            ) => Err(ApiError::BadField(format!("`{key}` must be a string"))),
        }
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            Some(SignValue::Number(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| ApiError::BadField(format!("`{key}` must be an integer"))),
            Some(SignValue::Null) | None => Ok(None),
            Some(
                SignValue::Bool(_) | SignValue::Str(_) | SignValue::List(_) | SignValue::Json(_),
            ) => Err(ApiError::BadField(format!("`{key}` must be an integer"))),
        }
    }

    fn amount(&self, key: &str) -> Result<Amount, ApiError> {
        match self.0.get(key) {
            Some(SignValue::Number(n)) => {
                Amount::parse_decimal(n).map_err(|e| ApiError::BadField(format!("`{key}`: {e}")))
            }
            Some(SignValue::Null) | None => Err(ApiError::BadField(format!("`{key}` is missing"))),
            Some(
                SignValue::Bool(_) | SignValue::Str(_) | SignValue::List(_) | SignValue::Json(_),
            ) => Err(ApiError::BadField(format!("`{key}` must be a JSON number"))),
        }
    }

    fn currency(&self, key: &str) -> Result<Currency, ApiError> {
        let code = self.string(key)?;
        Currency::parse(&code).map_err(|_| ApiError::Currency(code))
    }

    /// `merchant_id`, when present, must be ours; `required` for the cashier payin.
    fn check_merchant(&self, ours: i64, required: bool) -> Result<(), ApiError> {
        match self.opt_int("merchant_id")? {
            Some(id) if id == ours => Ok(()),
            Some(id) => Err(ApiError::WrongMerchant(id)),
            None if required => Err(ApiError::BadField("`merchant_id` is missing".to_owned())),
            None => Ok(()),
        }
    }
}

fn to_data<T: Serialize>(data: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(data).map_err(|e| ApiError::Internal(e.to_string()))
}

fn success(data: serde_json::Value, effects: Vec<Effect>) -> Success {
    Success {
        message: "success",
        data,
        effects,
    }
}

/// Steps 5 and 6 for one endpoint.
fn run_endpoint(sim: &Sim, endpoint: Endpoint, fields: &SignFields) -> Result<Success, ApiError> {
    let cfg = &sim.config;
    let body = Body(fields);
    body.check_merchant(cfg.merchant_id, endpoint == Endpoint::CashierPayin)?;
    match endpoint {
        Endpoint::CashierPayin => {
            let order_no = body.string("order_no")?;
            OrderNo::parse(&order_no)
                .map_err(|e| ApiError::BadField(format!("`order_no`: {e}")))?;
            let order_amount = body.amount("order_amount")?;
            let currency = body.currency("currency")?;
            let notify_url = body.string("notify_url")?;
            if !(notify_url.starts_with("http://") || notify_url.starts_with("https://")) {
                return Err(ApiError::BadField(
                    "`notify_url` must be an http:// or https:// URL".to_owned(),
                ));
            }
            let rule = cfg.amount_rules.get(currency);
            if !rule.allows(order_amount) {
                return Err(ApiError::AmountRule(format!(
                    "order_amount {order_amount} {currency} is outside {}..{}",
                    rule.min, rule.max
                )));
            }
            let new = NewOrder {
                order_no,
                order_amount,
                currency,
                notify_url,
            };
            let (data, effects) = sim.lock().create_order(cfg, &sim.base_url, new)?;
            Ok(success(to_data(&data)?, effects))
        }
        Endpoint::OrderQuery => {
            let order_no = body.string("order_no")?;
            let data = sim
                .lock()
                .order(&order_no)
                .map(|o| o.query_data())
                .ok_or(ApiError::OrderNotFound)?;
            Ok(success(to_data(&data)?, Vec::new()))
        }
        Endpoint::OrderRefund => {
            let order_no = body.string("order_no")?;
            let merchant_refund_no = body.string("merchant_refund_no")?;
            OrderNo::parse(&merchant_refund_no)
                .map_err(|e| ApiError::BadField(format!("`merchant_refund_no`: {e}")))?;
            let refund_amount = body.amount("refund_amount")?;
            if refund_amount.is_zero() {
                return Err(ApiError::AmountRule(
                    "refund_amount must be above zero".to_owned(),
                ));
            }
            let reason = body.opt_string("reason")?.unwrap_or_default();
            let new = NewRefund {
                order_no,
                merchant_refund_no,
                refund_amount,
                reason,
            };
            let (data, effects) = sim.lock().start_refund(cfg, new)?;
            Ok(success(to_data(&data)?, effects))
        }
        Endpoint::Balance => {
            let currency = body.currency("currency_id")?;
            let data = sim.lock().balance(cfg, currency);
            Ok(success(to_data(&data)?, Vec::new()))
        }
        Endpoint::FeeOverview => {
            let data = fee_overview(sim);
            Ok(Success {
                message: "Fee overview retrieved successfully",
                data: to_data(&data)?,
                effects: Vec::new(),
            })
        }
    }
}

/// The configured fee rule as a fee overview: one payin config per currency (channel 1,
/// `fee_rate` as a fraction), and no dispute or refund fees.
fn fee_overview(sim: &Sim) -> FeeOverviewData {
    let fee = sim.config.fee;
    FeeOverviewData {
        fee_configs: Currency::ALL
            .iter()
            .map(|&c| FeeConfig {
                channel_id: 1,
                currency_id: CurrencyCode::from(c),
                business_type: 0,
                fee_rate: fee.rate_fraction(),
                fee_fixed_amount: fee.fixed,
                fee_min_amount: Amount::ZERO,
            })
            .collect(),
        dispute_configs: Currency::ALL
            .iter()
            .map(|&c| DisputeConfig {
                channel_id: 1,
                currency_id: CurrencyCode::from(c),
                chargeback_fee: Amount::ZERO,
                refund_fee_rate: 0.0,
                refund_fee_fixed_amount: Amount::ZERO,
            })
            .collect(),
    }
}
