//! Any bytes POSTed to the callback URL: never panics, and only a correctly signed body verifies.
#![no_main]

use checkout_core::Secret;
use checkout_core::callback::verify_callback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(secret) = Secret::new("fuzz-secret") else { return };
    if let Ok(v) = verify_callback(data, &secret) {
        // Whatever verified must re-verify, and must fail under another secret.
        assert!(verify_callback(data, &secret).is_ok());
        let Ok(other) = Secret::new("other-secret") else { return };
        assert!(verify_callback(data, &other).is_err(), "{:?}", v.callback);
    }
});
