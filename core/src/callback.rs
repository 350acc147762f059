//! Verifying TrustPay's payment callbacks (`docs/protocol.md`, §Callbacks).
//!
//! The body is read as raw bytes, its `sign` checked against every rendering the docs leave
//! possible (Decisions 3 and 5 in `docs/protocol.md`), and only then parsed into a typed
//! [`Callback`].

use crate::codes::{OrderStatus, TransactionType};
use crate::money::{Amount, AmountRendering, Currency};
use crate::secret::Secret;
use crate::sign::{ListRendering, NumberRendering, SignError, SignFields, SignOptions, SignValue};
use crate::wire::{Callback, OrderQueryData};

/// A callback whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCallback {
    /// The typed body.
    pub callback: Callback,
    /// The rendering the sender used; worth logging, since the docs don't settle it.
    pub matched: SignOptions,
}

/// Why a callback was refused. Nothing about a refused callback may change an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The body is not a JSON object, or repeats a key.
    #[error("malformed callback body: {0}")]
    Malformed(#[from] SignError),
    /// There is no `sign` string field.
    #[error("the callback has no sign")]
    MissingSign,
    /// The `sign` matches none of the accepted renderings.
    #[error("the callback sign does not verify")]
    BadSign,
    /// Signed correctly, but a field has the wrong type or is missing.
    #[error("the callback has an invalid field: {0}")]
    InvalidField(String),
}

impl CallbackError {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::Malformed(_) => "callback_malformed",
            CallbackError::MissingSign => "callback_unsigned",
            CallbackError::BadSign => "callback_bad_signature",
            CallbackError::InvalidField(_) => "callback_invalid",
        }
    }
}

/// The sign options a callback may have been signed with: each amount rendering, and for
/// a body with a string array, that array joined or left out. At most four.
pub fn candidate_options(fields: &SignFields) -> Vec<SignOptions> {
    let lists: &[ListRendering] = if fields.has_list() {
        &[ListRendering::CommaJoined, ListRendering::Omitted]
    } else {
        &[ListRendering::CommaJoined]
    };
    let mut out = Vec::with_capacity(4);
    for rendering in AmountRendering::ALL {
        for &list in lists {
            out.push(SignOptions {
                numbers: NumberRendering::Amounts(rendering),
                lists: list,
            });
        }
    }
    out
}

/// Verifies and parses a callback body.
///
/// Candidate signs are tried in a fixed order (two decimals first, the common case) and each
/// comparison is constant-time, so timing reveals nothing about the expected sign; it only
/// shows which rendering matched, which is not secret.
pub fn verify_callback(body: &[u8], secret: &Secret) -> Result<VerifiedCallback, CallbackError> {
    let fields = SignFields::from_json(body)?;
    let received = match fields.get("sign") {
        Some(SignValue::Str(sign)) if !sign.is_empty() => sign.as_str(),
        Some(_) | None => return Err(CallbackError::MissingSign),
    };
    let matched = candidate_options(&fields)
        .into_iter()
        .find(|&options| fields.sign(options, secret).matches(received))
        .ok_or(CallbackError::BadSign)?;
    let callback = callback_from_fields(&fields)?;
    Ok(VerifiedCallback { callback, matched })
}

/// Builds the typed callback from the fields already read for signing (one JSON parse in
/// all). Accepts what [`Callback`]'s serde implementation accepts; unknown fields are ignored.
fn callback_from_fields(fields: &SignFields) -> Result<Callback, CallbackError> {
    let invalid = |key: &str, what: &str| CallbackError::InvalidField(format!("`{key}`: {what}"));
    let int = |key: &str, required: bool| -> Result<Option<i64>, CallbackError> {
        match fields.get(key) {
            Some(SignValue::Number(n) | SignValue::Str(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| invalid(key, "expected an integer")),
            None | Some(SignValue::Null) if !required => Ok(None),
            None | Some(SignValue::Null) => Err(invalid(key, "missing")),
            Some(_) => Err(invalid(key, "expected an integer")),
        }
    };
    let text = |key: &str| -> Result<Option<String>, CallbackError> {
        match fields.get(key) {
            Some(SignValue::Str(s)) => Ok(Some(s.clone())),
            None | Some(SignValue::Null) => Ok(None),
            Some(_) => Err(invalid(key, "expected a string")),
        }
    };
    let amount = |key: &str| -> Result<Option<Amount>, CallbackError> {
        match fields.get(key) {
            Some(SignValue::Number(n) | SignValue::Str(n)) => Amount::parse_decimal(n)
                .map(Some)
                .map_err(|e| invalid(key, &e.to_string())),
            None | Some(SignValue::Null) => Ok(None),
            Some(_) => Err(invalid(key, "expected an amount")),
        }
    };
    let merchant_id = match fields.get("merchant_id") {
        Some(SignValue::Number(n)) => n
            .parse()
            .map_err(|_| invalid("merchant_id", "expected an integer"))?,
        Some(_) | None => return Err(invalid("merchant_id", "expected an integer")),
    };
    let merchant_refund_no = match fields.get("merchant_refund_no") {
        Some(SignValue::List(items)) => Some(items.clone()),
        None | Some(SignValue::Null) => None,
        Some(_) => {
            return Err(invalid(
                "merchant_refund_no",
                "expected an array of strings",
            ));
        }
    };
    Ok(Callback {
        r#type: TransactionType::from_code(int("type", true)?.unwrap_or_default()),
        merchant_id,
        order_no: text("order_no")?.ok_or_else(|| invalid("order_no", "missing"))?,
        status: OrderStatus::from_code(int("status", true)?.unwrap_or_default()),
        reason: text("reason")?.unwrap_or_default(),
        pay_time: text("pay_time")?,
        order_amount: amount("order_amount")?.ok_or_else(|| invalid("order_amount", "missing"))?,
        paid_amount: amount("paid_amount")?,
        balance_amount: amount("balance_amount")?,
        refund_amount: amount("refund_amount")?,
        fee: amount("fee")?,
        merchant_refund_no,
        sign: text("sign")?.unwrap_or_default(),
    })
}

/// The order as we stored it: what every TrustPay message about it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedOrder {
    /// Our merchant id.
    pub merchant_id: i64,
    /// The order amount we created.
    pub amount: Amount,
    /// The currency we created it in.
    pub currency: Currency,
}

/// Why a TrustPay message (callback or order query) does not belong to the order we hold.
/// Nothing in such a message may change the order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderMismatch {
    /// The message is about a payout (or an unknown transaction type), not a pay-in.
    #[error("transaction type {got:?} is not a pay-in")]
    NotPayin {
        /// The message's type.
        got: TransactionType,
    },
    /// The message names another merchant.
    #[error("merchant_id {got} is not ours ({expected})")]
    Merchant {
        /// Ours.
        expected: i64,
        /// The message's.
        got: i64,
    },
    /// The order amount differs from what we created.
    #[error("order_amount {got} differs from the stored {expected}")]
    Amount {
        /// Ours.
        expected: Amount,
        /// The message's.
        got: Amount,
    },
    /// The currency differs from what we created.
    #[error("currency {got} differs from the stored {expected}")]
    Currency {
        /// Ours.
        expected: Currency,
        /// The message's.
        got: String,
    },
    /// A field needed to tell the order is ours is absent (strict matching).
    #[error("the answer has no `{0}`, so it can't be matched to our order")]
    Missing(&'static str),
}

/// How strictly an order query answer must match ([`OrderQueryData::check_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMatch {
    /// Every field present must match (routine refreshes and reconciliation: the docs don't
    /// settle which fields a v4 query answer carries).
    PresentFields,
    /// Every field must be present and match: adopting an order we could not confirm we
    /// created (a create retried after its answer was lost).
    AllFields,
}

impl Callback {
    /// Checks the callback against the stored order: a pay-in, our merchant, our amount.
    /// (Callbacks carry no currency; the order number was matched by the lookup.)
    pub fn check_order(&self, expected: &ExpectedOrder) -> Result<(), OrderMismatch> {
        check_type(Some(self.r#type))?;
        check_merchant(expected, self.merchant_id)?;
        check_amount(expected, self.order_amount)
    }
}

impl OrderQueryData {
    /// Checks an order query answer against the stored order (see [`QueryMatch`]).
    pub fn check_order(
        &self,
        expected: &ExpectedOrder,
        strictness: QueryMatch,
    ) -> Result<(), OrderMismatch> {
        let required = |field: &'static str| match strictness {
            QueryMatch::PresentFields => Ok(()),
            QueryMatch::AllFields => Err(OrderMismatch::Missing(field)),
        };
        match self.type_id {
            Some(kind) => check_type(Some(kind))?,
            None => required("type_id")?,
        }
        match self.merchant_id {
            Some(id) => check_merchant(expected, id)?,
            None => required("merchant_id")?,
        }
        match &self.currency {
            Some(code) if code.as_str() == expected.currency.code() => {}
            Some(code) => {
                return Err(OrderMismatch::Currency {
                    expected: expected.currency,
                    got: code.as_str().to_owned(),
                });
            }
            None => required("currency")?,
        }
        match self.order_amount {
            Some(amount) => check_amount(expected, amount),
            None => required("order_amount"),
        }
    }
}

fn check_type(kind: Option<TransactionType>) -> Result<(), OrderMismatch> {
    match kind {
        Some(TransactionType::Payin) | None => Ok(()),
        Some(got @ (TransactionType::Payout | TransactionType::Unknown(_))) => {
            Err(OrderMismatch::NotPayin { got })
        }
    }
}

fn check_merchant(expected: &ExpectedOrder, got: i64) -> Result<(), OrderMismatch> {
    if got == expected.merchant_id {
        Ok(())
    } else {
        Err(OrderMismatch::Merchant {
            expected: expected.merchant_id,
            got,
        })
    }
}

fn check_amount(expected: &ExpectedOrder, got: Amount) -> Result<(), OrderMismatch> {
    if got == expected.amount {
        Ok(())
    } else {
        Err(OrderMismatch::Amount {
            expected: expected.amount,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("YOUR_SECRET_KEY").expect("non-empty")
    }

    const DOC: &str = r#"{"type":0,"merchant_id":1,"order_no":"payout0003","order_amount":106.00,"paid_amount":106.00,"balance_amount":100.00,"fee":6.00,"pay_time":"2025-08-05 16:43:55","status":5,"reason":"success","sign":"f0b08c8ea0537a9974e926a2f9aa6d83"}"#;

    #[test]
    fn accepts_the_documented_example() {
        let v = verify_callback(DOC.as_bytes(), &secret()).expect("verifies");
        assert_eq!(
            v.matched,
            SignOptions::amounts(AmountRendering::TwoDecimals)
        );
        assert_eq!(v.callback.status, OrderStatus::Paid);
        assert_eq!(v.callback.r#type, TransactionType::Payin);
        assert_eq!(v.callback.paid_amount.map(Amount::minor), Some(10600));
        assert_eq!(v.callback.fee.map(Amount::minor), Some(600));
        assert!(v.callback.check_order(&expected(1, 10600)).is_ok());
    }

    #[test]
    fn accepts_a_trimmed_signer() {
        // md5 of the trimmed string from sign/tests.rs vector 4.
        let body = DOC.replace(
            "f0b08c8ea0537a9974e926a2f9aa6d83",
            "6d4fd8c9bd5c761ae061107d64b1d70e",
        );
        let v = verify_callback(body.as_bytes(), &secret()).expect("verifies");
        assert_eq!(v.matched, SignOptions::amounts(AmountRendering::Trimmed));
    }

    #[test]
    fn accepts_refunds_with_the_array_joined_or_left_out() {
        let s = Secret::new("s3cr3t").expect("non-empty");
        let body = |sign: &str| {
            format!(
                r#"{{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund","sign":"{sign}"}}"#
            )
        };
        // Expected signs from sign/tests.rs vectors 13-16.
        for (sign, numbers, lists) in [
            (
                "72c443c5c58d49b48eb5ed87b79df4f1",
                AmountRendering::TwoDecimals,
                ListRendering::CommaJoined,
            ),
            (
                "f4464b123f7d35f78f38557d33586c3f",
                AmountRendering::TwoDecimals,
                ListRendering::Omitted,
            ),
            (
                "8562467039e197ea2973235e6c22b316",
                AmountRendering::Trimmed,
                ListRendering::CommaJoined,
            ),
            (
                "9adddfe624cfb8d7752c9a4a4639d9da",
                AmountRendering::Trimmed,
                ListRendering::Omitted,
            ),
        ] {
            let v = verify_callback(body(sign).as_bytes(), &s).expect("verifies");
            assert_eq!(
                v.matched,
                SignOptions {
                    numbers: NumberRendering::Amounts(numbers),
                    lists
                }
            );
            assert_eq!(
                v.callback.merchant_refund_no.as_deref(),
                Some(&["R1".to_owned(), "R2".to_owned()][..])
            );
        }
        assert_eq!(
            verify_callback(body("0".repeat(32).as_str()).as_bytes(), &s),
            Err(CallbackError::BadSign)
        );
    }

    #[test]
    fn refuses_forgeries() {
        let s = secret();
        assert_eq!(
            verify_callback(DOC.as_bytes(), &Secret::new("other").expect("non-empty")),
            Err(CallbackError::BadSign)
        );
        // Each field tampered after signing.
        for (from, to) in [
            ("\"status\":5", "\"status\":6"),
            ("\"order_amount\":106.00", "\"order_amount\":1.00"),
            ("\"paid_amount\":106.00", "\"paid_amount\":107.00"),
            ("\"order_no\":\"payout0003\"", "\"order_no\":\"payout0004\""),
            ("\"merchant_id\":1", "\"merchant_id\":2"),
            ("\"reason\":\"success\"", "\"reason\":\"succes\""),
            ("\"type\":0", "\"type\":1"),
            ("\"fee\":6.00", "\"fee\":0.60"),
        ] {
            let tampered = DOC.replace(from, to);
            assert_ne!(tampered, DOC);
            assert_eq!(
                verify_callback(tampered.as_bytes(), &s),
                Err(CallbackError::BadSign),
                "{to}"
            );
        }
        // An added field changes the sign too.
        let added = DOC.replace("\"status\":5", "\"status\":5,\"refund_amount\":1.00");
        assert_eq!(
            verify_callback(added.as_bytes(), &s),
            Err(CallbackError::BadSign)
        );
        // Upper-case hex is not what the docs specify.
        let upper = DOC.replace(
            "f0b08c8ea0537a9974e926a2f9aa6d83",
            "F0B08C8EA0537A9974E926A2F9AA6D83",
        );
        assert_eq!(
            verify_callback(upper.as_bytes(), &s),
            Err(CallbackError::BadSign)
        );
    }

    #[test]
    fn refuses_malformed_and_unsigned() {
        let s = secret();
        assert!(matches!(
            verify_callback(b"not json", &s),
            Err(CallbackError::Malformed(_))
        ));
        assert!(matches!(
            verify_callback(br#"{"status":5,"status":5,"sign":"x"}"#, &s),
            Err(CallbackError::Malformed(_))
        ));
        let unsigned = DOC.replace(",\"sign\":\"f0b08c8ea0537a9974e926a2f9aa6d83\"", "");
        assert_eq!(
            verify_callback(unsigned.as_bytes(), &s),
            Err(CallbackError::MissingSign)
        );
        let numeric_sign = DOC.replace("\"f0b08c8ea0537a9974e926a2f9aa6d83\"", "12");
        assert_eq!(
            verify_callback(numeric_sign.as_bytes(), &s),
            Err(CallbackError::MissingSign)
        );
    }

    #[test]
    fn a_signed_body_with_bad_types_is_invalid_not_accepted() {
        let s = Secret::new("k").expect("non-empty");
        let fields = SignFields::from_json(br#"{"type":0,"merchant_id":"one","order_no":"x","order_amount":1,"status":5,"reason":"ok"}"#).expect("object");
        let sign = fields.sign(SignOptions::amounts(AmountRendering::TwoDecimals), &s);
        let body = format!(
            r#"{{"type":0,"merchant_id":"one","order_no":"x","order_amount":1,"status":5,"reason":"ok","sign":"{sign}"}}"#
        );
        assert!(matches!(
            verify_callback(body.as_bytes(), &s),
            Err(CallbackError::InvalidField(_))
        ));
    }

    #[test]
    fn the_fast_parse_agrees_with_serde() {
        let s = Secret::new("s3cr3t").expect("non-empty");
        let refund = r#"{"type":0,"merchant_id":1,"order_no":"r-1","order_amount":30.00,"merchant_refund_no":["R1","R2"],"refund_amount":12.50,"status":8,"reason":"refund","sign":"72c443c5c58d49b48eb5ed87b79df4f1"}"#;
        for (body, secret) in [(DOC, secret()), (refund, s)] {
            let fast = verify_callback(body.as_bytes(), &secret)
                .expect("verifies")
                .callback;
            let slow: Callback = serde_json::from_str(body).expect("serde parses");
            assert_eq!(fast, slow);
        }
    }

    fn expected(merchant_id: i64, minor: i64) -> ExpectedOrder {
        ExpectedOrder {
            merchant_id,
            amount: Amount::from_minor(minor).expect("positive"),
            currency: Currency::Usd,
        }
    }

    #[test]
    fn order_mismatch() {
        let v = verify_callback(DOC.as_bytes(), &secret()).expect("verifies");
        let amount = Amount::from_minor(10600).expect("positive");
        assert_eq!(
            v.callback.check_order(&expected(2, 10600)),
            Err(OrderMismatch::Merchant {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            v.callback.check_order(&expected(1, 500)),
            Err(OrderMismatch::Amount {
                expected: Amount::from_minor(500).expect("positive"),
                got: amount
            })
        );
    }

    #[test]
    fn a_payout_callback_is_never_about_a_payin_order() {
        // The documented payout example (type 1, status 2), re-signed by hand: the sign
        // string is `merchant_id=1&order_amount=106.00&order_no=payout0003&pay_time=2025-08-05
        // 16:43:55&reason=success&status=2&type=1&secret=YOUR_SECRET_KEY`.
        let body = r#"{"type":1,"merchant_id":1,"order_no":"payout0003","order_amount":106.00,"pay_time":"2025-08-05 16:43:55","status":2,"reason":"success","sign":"SIGN"}"#;
        let sign = {
            use md5::Digest as _;
            let text = "merchant_id=1&order_amount=106.00&order_no=payout0003&pay_time=2025-08-05 16:43:55&reason=success&status=2&type=1&secret=YOUR_SECRET_KEY";
            hex::encode(md5::Md5::digest(text.as_bytes()))
        };
        let body = body.replace("SIGN", &sign);
        let v = verify_callback(body.as_bytes(), &secret()).expect("verifies");
        assert_eq!(
            v.callback.check_order(&expected(1, 10600)),
            Err(OrderMismatch::NotPayin {
                got: TransactionType::Payout
            })
        );
    }

    #[test]
    fn query_answers_match_present_fields_or_all_of_them() {
        let answer: OrderQueryData = serde_json::from_str(
            r#"{"order_no":"A-1","type_id":0,"merchant_id":1,"currency":"USD","order_amount":106.00,"status":5}"#,
        )
        .expect("parses");
        let ours = expected(1, 10600);
        assert_eq!(answer.check_order(&ours, QueryMatch::AllFields), Ok(()));
        let inr = ExpectedOrder {
            currency: Currency::Inr,
            ..ours
        };
        assert!(matches!(
            answer.check_order(&inr, QueryMatch::PresentFields),
            Err(OrderMismatch::Currency { .. })
        ));
        let payout = OrderQueryData {
            type_id: Some(TransactionType::Payout),
            ..answer.clone()
        };
        assert!(matches!(
            payout.check_order(&ours, QueryMatch::PresentFields),
            Err(OrderMismatch::NotPayin { .. })
        ));
        let bare = OrderQueryData {
            currency: None,
            ..answer
        };
        assert_eq!(bare.check_order(&ours, QueryMatch::PresentFields), Ok(()));
        assert_eq!(
            bare.check_order(&ours, QueryMatch::AllFields),
            Err(OrderMismatch::Missing("currency"))
        );
    }
}
