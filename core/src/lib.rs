//! # checkout-core
//!
//! The pure heart of the TrustPay checkout, shared by the browser widget and the edge Worker.
//! It decides things and never does I/O: callers pass bytes, `now` and keys, and get values.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`money`] | exact amounts in minor units, strict parsing, the two renderings |
//! | [`codes`] | TrustPay's enums (statuses, error codes, ...) with their documented names |
//! | [`wire`] | TrustPay v4 request/response/callback types, spelled like TrustPay |
//! | [`sign`] | the MD5 `sign`: canonical string, signed request bodies |
//! | [`callback`] | callback verification against every allowed rendering |
//! | [`client_secret`] | per-order client secrets: encoding, hashing, constant-time check |
//! | [`state`] | the forward-only order status state machine and the paid rule |
//! | [`attempt`] | payment attempts: TrustPay order numbers per attempt, the merchant order's state |
//! | [`intent`] | checkout intents: HMAC-signed, expiring order descriptions |
//! | [`events_token`] | events tokens: HMAC-signed, short-lived access to one order's live events |
//! | [`client_result`] | signed client results: the edge's short-lived word on a final order state |
//! | [`risk`] | the risk-control hook's decision (BIN lists, holder name, order state, attempts) |
//! | [`webhook`] | merchant notifications, Standard Webhooks style: event JSON, signing, verification |
//! | [`contract`] | the widget ⇄ edge JSON contract and its stable error codes |
//! | [`order_no`] | merchant order numbers |
//! | [`secret`] | a redacting secret type |
//! | [`token`] | the one signed-token format (version, length cap, MAC before decoding) |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attempt;
pub mod callback;
pub mod client_result;
pub mod client_secret;
pub mod codes;
pub mod contract;
pub mod events_token;
pub mod intent;
pub mod money;
pub mod order_no;
pub mod risk;
pub mod secret;
pub mod sign;
pub mod state;
pub mod token;
pub mod webhook;
pub mod wire;

pub use money::{Amount, AmountRendering, Currency, Money, MoneyError, MoneyLimits};
pub use order_no::OrderNo;
pub use secret::Secret;

/// Constant-time equality of two byte strings (length is not hidden).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
