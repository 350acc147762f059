//! Arbitrary intent text: never panics, never verifies without the key's MAC.
#![no_main]

use checkout_core::intent::Intent;
use checkout_core::{MoneyLimits, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(key) = Secret::new("fuzz-intent-key") else { return };
    if let Ok(intent) = Intent::verify(text, &key, 0, MoneyLimits::default()) {
        // Only a token we could have minted verifies: minting it again gives the same text.
        assert_eq!(intent.mint(&key), text);
    }
});
