//! Reading the edge's JSON answers into `checkout-core`'s contract types, without serde.
//!
//! The browser parses the JSON (`Response.json()`); this module picks the fields out through
//! a three-method trait and builds [`CreateOrderResponse`] / [`OrderView`] / a [`Failure`]
//! with struct literals, so a field added to or renamed in the contract is still a compile
//! error here. Why not serde-wasm-bindgen: measured, serde's deserializer plus
//! `checkout-core`'s `serde_json::Value`-based impls (and the float formatting they bring)
//! cost ~60 KB of wasm before `wasm-opt`; this costs a few hundred bytes. The native tests
//! feed it `serde_json` renderings of the real core types, so both sides stay in step.

use checkout_core::codes::{ErrorCode, OrderStatus};
use checkout_core::contract::{ApiErrorCode, AttemptResponse, CreateOrderResponse, OrderView};
use checkout_core::{Amount, Currency};

use crate::reducer::Failure;

/// A parsed JSON value, as far as the widget needs it.
pub trait Json: Sized {
    /// A member of an object.
    fn field(&self, key: &str) -> Option<Self>;
    /// The value as a string.
    fn string(&self) -> Option<String>;
    /// The value as a number.
    fn number(&self) -> Option<f64>;
}

fn s<J: Json>(j: &J, key: &str) -> Option<String> {
    j.field(key)?.string()
}

/// An integer code sent as a number or a digit string (core accepts both).
fn int<J: Json>(j: &J, key: &str) -> Option<i64> {
    let v = j.field(key)?;
    match v.number() {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(n as i64),
        Some(_) => None,
        None => digits(v.string()?.trim()),
    }
}

/// A non-negative decimal integer of at most 15 digits sent as a string (the edge sends JSON
/// numbers; this is leniency), without `str::parse`, whose generic code is ~0.5 KB of wasm.
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 {
        return None;
    }
    text.bytes().try_fold(0i64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// An amount sent as a decimal string (or a number), parsed by core's strict parser.
fn amount<J: Json>(j: &J, key: &str) -> Option<Amount> {
    let v = j.field(key)?;
    match v.string() {
        Some(text) => Amount::parse_decimal(&text).ok(),
        None => {
            let minor = (v.number()? * 100.0).round();
            (0.0..9.0e15)
                .contains(&minor)
                .then(|| Amount::from_minor(minor as i64))
                .flatten()
        }
    }
}

/// A currency the gateway takes, by its code: [`Currency::parse`] without building the error
/// it would return (a copy of the text), which the widget only discards.
pub fn currency(code: &str) -> Option<Currency> {
    Currency::ALL.into_iter().find(|c| c.code() == code)
}

/// `201`/`200` answer to `POST /v1/orders`.
pub fn create_order_response<J: Json>(j: &J) -> Option<CreateOrderResponse> {
    let status = OrderStatus::from_code(int(j, "status")?);
    Some(CreateOrderResponse {
        order_no: s(j, "order_no")?,
        pay_url: s(j, "pay_url")?,
        status,
        state: s(j, "state").unwrap_or_else(|| checkout_core::state::state_name(status).to_owned()),
        amount: amount(j, "amount")?,
        currency: currency(&s(j, "currency")?)?,
        client_secret: s(j, "client_secret")?,
        events_token: s(j, "events_token"),
    })
}

/// `201` answer to `POST /v1/orders/{order_no}/attempts`.
pub fn attempt_response<J: Json>(j: &J) -> Option<AttemptResponse> {
    let status = OrderStatus::from_code(int(j, "status")?);
    Some(AttemptResponse {
        order_no: s(j, "order_no")?,
        attempt: u32::try_from(int(j, "attempt")?).ok()?,
        pay_url: s(j, "pay_url")?,
        status,
        state: s(j, "state").unwrap_or_else(|| checkout_core::state::state_name(status).to_owned()),
        amount: amount(j, "amount")?,
        currency: currency(&s(j, "currency")?)?,
        events_token: s(j, "events_token"),
    })
}

/// `GET /v1/orders/{order_no}` answer.
pub fn order_view<J: Json>(j: &J) -> Option<OrderView> {
    let status = OrderStatus::from_code(int(j, "status")?);
    Some(OrderView {
        order_no: s(j, "order_no")?,
        status,
        state: s(j, "state").unwrap_or_else(|| checkout_core::state::state_name(status).to_owned()),
        amount: amount(j, "amount")?,
        currency: currency(&s(j, "currency")?)?,
        paid_amount: amount(j, "paid_amount"),
        refund_amount: amount(j, "refund_amount"),
        updated_at: int(j, "updated_at").unwrap_or(0),
        result_token: s(j, "result_token"),
        // Not read: the widget opens its stream from the create answer's token only.
        events_token: None,
    })
}

/// [`ApiErrorCode::from_code`] by a search of [`ApiErrorCode::KNOWN`]: the same answer, but
/// from the code table the wasm carries anyway (`as_str`) instead of a second, compiled
/// `match` on strings (~1.3 KB of wasm).
pub fn api_code(code: &str) -> ApiErrorCode {
    ApiErrorCode::KNOWN
        .iter()
        .find(|known| known.as_str() == code)
        .cloned()
        .unwrap_or_else(|| ApiErrorCode::Unknown(code.to_owned()))
}

/// An error answer (`{"error":{"code":..,"trustpay_code":..}}`) → [`Failure::Api`];
/// anything else → [`Failure::BadResponse`].
pub fn error_failure<J: Json>(j: Option<&J>) -> Failure {
    let Some(error) = j.and_then(|j| j.field("error")) else {
        return Failure::BadResponse;
    };
    match s(&error, "code") {
        Some(code) => Failure::Api {
            code: api_code(&code),
            trustpay: int(&error, "trustpay_code").map(ErrorCode::from_code),
        },
        None => Failure::BadResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_is_core_parse_without_the_error() {
        for code in ["USD", "INR", "usd", "EUR", "", "USDX", "\u{e9}"] {
            assert_eq!(currency(code), Currency::parse(code).ok(), "{code:?}");
        }
    }
    use checkout_core::contract::ErrorBody;
    use serde_json::{Value, json};

    #[test]
    fn integers_sent_as_strings() {
        assert_eq!(digits("880012"), Some(880_012));
        assert_eq!(digits("0"), Some(0));
        for bad in ["", "-1", "+1", "1.5", "1e3", "x", "1234567890123456"] {
            assert_eq!(digits(bad), None, "{bad}");
        }
        let j = json!({ "status": "5", "n": 7 });
        assert_eq!(int(&j, "status"), Some(5));
        assert_eq!(int(&j, "n"), Some(7));
    }

    #[test]
    fn api_code_reads_as_core_does() {
        for code in ApiErrorCode::KNOWN {
            assert_eq!(&api_code(code.as_str()), code);
        }
        assert_eq!(api_code("brand_new"), ApiErrorCode::from_code("brand_new"));
    }

    impl Json for Value {
        fn field(&self, key: &str) -> Option<Self> {
            self.get(key).filter(|v| !v.is_null()).cloned()
        }
        fn string(&self) -> Option<String> {
            self.as_str().map(str::to_owned)
        }
        fn number(&self) -> Option<f64> {
            self.as_f64()
        }
    }

    fn created() -> CreateOrderResponse {
        CreateOrderResponse {
            order_no: "A-1".into(),
            pay_url: "https://cashier.example/p/1".into(),
            status: OrderStatus::Pending,
            state: "pending".into(),
            amount: Amount::from_minor(500).expect("positive"),
            currency: Currency::Inr,
            client_secret: "cs_123".into(),
            events_token: Some("ev1.eyJ9.sig".into()),
        }
    }

    #[test]
    fn reads_core_create_order_response_as_serialized_by_core() {
        let original = created();
        let json = serde_json::to_value(&original).expect("serializes");
        assert_eq!(create_order_response(&json), Some(original));
    }

    #[test]
    fn reads_core_order_view_as_serialized_by_core() {
        let view = OrderView {
            order_no: "A-1".into(),
            status: OrderStatus::Paid,
            state: "paid".into(),
            amount: Amount::from_minor(12_345).expect("positive"),
            currency: Currency::Usd,
            paid_amount: Amount::from_minor(12_345),
            refund_amount: None,
            updated_at: 1_764_000_000_000,
            result_token: Some("v1.eyJ9.sig".into()),
            events_token: None,
        };
        let json = serde_json::to_value(&view).expect("serializes");
        assert_eq!(order_view(&json), Some(view));
    }

    #[test]
    fn reads_core_attempt_response_as_serialized_by_core() {
        let original = AttemptResponse {
            order_no: "A-1".into(),
            attempt: 2,
            pay_url: "https://cashier.example/p/2".into(),
            status: OrderStatus::Pending,
            state: "pending".into(),
            amount: Amount::from_minor(500).expect("positive"),
            currency: Currency::Usd,
            events_token: Some("ev1.eyJ9.sig".into()),
        };
        let json = serde_json::to_value(&original).expect("serializes");
        assert_eq!(attempt_response(&json), Some(original));
        let mut bad = json.clone();
        bad["attempt"] = json!(-1);
        assert_eq!(attempt_response(&bad), None);
        let mut bad = json;
        bad.as_object_mut().expect("object").remove("pay_url");
        assert_eq!(attempt_response(&bad), None);
    }

    #[test]
    fn tolerant_where_core_is_tolerant() {
        let json = json!({"order_no":"A","status":"6","amount":5,"currency":"USD","updated_at":1,"state":"settled"});
        let view = order_view(&json).expect("reads");
        assert_eq!(view.status, OrderStatus::Settled);
        assert_eq!(view.amount.minor(), 500);
        let json =
            json!({"order_no":"A","status":42,"amount":"1.00","currency":"USD","updated_at":1});
        assert_eq!(
            order_view(&json).map(|v| v.status),
            Some(OrderStatus::Unknown(42))
        );
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let mut json = serde_json::to_value(created()).expect("serializes");
        json["currency"] = json!("EUR");
        assert_eq!(create_order_response(&json), None);
        let mut json = serde_json::to_value(created()).expect("serializes");
        json.as_object_mut()
            .expect("object")
            .remove("client_secret");
        assert_eq!(create_order_response(&json), None);
        assert_eq!(order_view(&json!({"status":1.5})), None);
    }

    #[test]
    fn error_bodies_from_core() {
        let body = serde_json::to_value(
            ErrorBody::new(ApiErrorCode::GatewayRejected).with_trustpay_code(880017),
        )
        .expect("serializes");
        assert_eq!(
            error_failure(Some(&body)),
            Failure::Api {
                code: ApiErrorCode::GatewayRejected,
                trustpay: Some(ErrorCode::UserRiskControlFailed)
            }
        );
        let body =
            serde_json::to_value(ErrorBody::new(ApiErrorCode::IntentExpired)).expect("serializes");
        assert_eq!(
            error_failure(Some(&body)),
            Failure::Api {
                code: ApiErrorCode::IntentExpired,
                trustpay: None
            }
        );
        let body = json!({"error":{"code":"brand_new","message":"x"}});
        assert_eq!(
            error_failure(Some(&body)),
            Failure::Api {
                code: ApiErrorCode::Unknown("brand_new".into()),
                trustpay: None
            }
        );
        assert_eq!(
            error_failure(Some(&json!({"oops":1}))),
            Failure::BadResponse
        );
        assert_eq!(error_failure::<Value>(None), Failure::BadResponse);
    }
}
