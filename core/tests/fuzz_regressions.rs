//! Inputs that once crashed a `cargo xtask fuzz` target (`fuzz/fuzz_targets/`), replayed
//! through the same property as the target. Each file in `tests/fuzz_regressions/` is named
//! `<target>-<hash>`; add new crash inputs there and a line below.

use checkout_core::Secret;
use checkout_core::sign::{SignFields, SignOptions};

/// `fuzz_targets/sign_canonical.rs`: our own signed body of the parsed fields parses back to
/// the same canonical string.
fn sign_canonical(data: &[u8]) {
    let Ok(fields) = SignFields::from_json(data) else {
        return;
    };
    let canonical = fields.canonical(SignOptions::AS_SENT);
    let secret = Secret::new("k").expect("non-empty");
    let body = fields.signed_body(&secret);
    let again = SignFields::from_json(body.as_bytes()).expect("our own body parses");
    assert_eq!(
        again.canonical(SignOptions::AS_SENT),
        canonical,
        "body: {body}"
    );
}

/// An object value holding a 250-digit integer: compacting it through `serde_json::Value`
/// (an f64 parsed without `float_roundtrip`) wrote a number that re-parsed to a different
/// f64, so the canonical string changed between our body and its re-parse.
#[test]
fn sign_canonical_object_with_a_huge_number() {
    sign_canonical(include_bytes!(
        "fuzz_regressions/sign_canonical-4251cfbf7f2a34ce.json"
    ));
}

/// The same shape, written by hand: objects with long or very precise numbers.
#[test]
fn sign_canonical_objects_with_imprecise_numbers() {
    for body in [
        r#"{"a":{"x":123456789012345678901234567890123456789}}"#,
        r#"{"a":{"x":0.30000000000000004441, "y" : [1e400, -2.5e-400]}}"#,
        r#"{"a":{ "b" : { "c" : 9007199254740993 } }, "order_no":"A-1"}"#,
    ] {
        sign_canonical(body.as_bytes());
    }
}
