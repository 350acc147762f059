//! Arbitrary amount text: never panics; what parses renders back to an equal amount.
#![no_main]

use checkout_core::{Amount, AmountRendering, Currency, Money, MoneyLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(money) = Money::parse(text, Currency::Usd, MoneyLimits::default()) {
        assert!(money.amount.minor() > 0);
        for r in AmountRendering::ALL {
            let again = Amount::parse_decimal(&money.amount.render(r)).expect("rendered amounts parse");
            assert_eq!(again, money.amount);
        }
    }
    let _ = Amount::parse_decimal(text);
});
