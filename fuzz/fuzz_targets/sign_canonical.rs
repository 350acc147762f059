//! Canonical sign strings of arbitrary JSON objects: never panic; our own signed body of the
//! parsed fields must parse back to the same canonical string.
#![no_main]

use checkout_core::Secret;
use checkout_core::sign::{SignFields, SignOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = SignFields::from_json(data) else { return };
    let canonical = fields.canonical(SignOptions::AS_SENT);
    let Ok(secret) = Secret::new("k") else { return };
    let body = fields.signed_body(&secret);
    let again = SignFields::from_json(body.as_bytes()).expect("our own body parses");
    assert_eq!(again.canonical(SignOptions::AS_SENT), canonical);
});
