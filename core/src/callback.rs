//! Verifying TrustPay's payment callbacks (§4 of the shared notes).
//!
//! The body is read as raw bytes, its `sign` checked against every rendering the docs leave
//! possible (Decisions 3 and 5), and only then parsed into a typed [`Callback`].

use crate::codes::{OrderStatus, TransactionType};
use crate::money::{Amount, AmountRendering};
use crate::secret::Secret;
use crate::sign::{ListRendering, NumberRendering, SignError, SignFields, SignOptions, SignValue};
use crate::wire::Callback;

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

/// Why a verified callback does not belong to the order we hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderMismatch {
    /// The callback names another merchant.
    #[error("merchant_id {got} is not ours ({expected})")]
    Merchant {
        /// Ours.
        expected: i64,
        /// The callback's.
        got: i64,
    },
    /// The order amount differs from what we created.
    #[error("order_amount {got} differs from the stored {expected}")]
    Amount {
        /// Ours.
        expected: Amount,
        /// The callback's.
        got: Amount,
    },
}

impl Callback {
    /// Checks the callback against the stored order (Decision 8).
    pub fn check_order(&self, merchant_id: i64, order_amount: Amount) -> Result<(), OrderMismatch> {
        if self.merchant_id != merchant_id {
            return Err(OrderMismatch::Merchant {
                expected: merchant_id,
                got: self.merchant_id,
            });
        }
        if self.order_amount != order_amount {
            return Err(OrderMismatch::Amount {
                expected: order_amount,
                got: self.order_amount,
            });
        }
        Ok(())
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
        assert!(
            v.callback
                .check_order(1, Amount::from_minor(10600).expect("positive"))
                .is_ok()
        );
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

    #[test]
    fn order_mismatch() {
        let v = verify_callback(DOC.as_bytes(), &secret()).expect("verifies");
        let amount = Amount::from_minor(10600).expect("positive");
        assert_eq!(
            v.callback.check_order(2, amount),
            Err(OrderMismatch::Merchant {
                expected: 2,
                got: 1
            })
        );
        let other = Amount::from_minor(500).expect("positive");
        assert_eq!(
            v.callback.check_order(1, other),
            Err(OrderMismatch::Amount {
                expected: other,
                got: amount
            })
        );
    }
}
