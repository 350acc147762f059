//! Arbitrary input to every signed-token verifier (the shared `token::open`, intents, events
//! tokens, client results, webhook signatures): none panics, nothing verifies without the key's
//! MAC (what does must mint back to the same text), and whatever we sign verifies.
#![no_main]

use checkout_core::client_result::{self, ClientResult};
use checkout_core::intent::{self, Intent};
use checkout_core::token::{self, Format};
use checkout_core::webhook::{self, WebhookSecret};
use checkout_core::{Amount, Currency, Money, MoneyLimits, OrderNo, Secret, events_token};
use libfuzzer_sys::fuzz_target;

const RAW: Format = Format::new("v1", 1024);
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = Secret::new("fuzz-token-key") else {
        return;
    };
    // The shared format, on raw bytes: what opens seals back to the same text, what we seal opens.
    let sealed = token::seal(&RAW, &key, data);
    if sealed.len() <= RAW.max_len {
        assert_eq!(token::open(&RAW, &key, &sealed), Ok(data.to_vec()));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(payload) = token::open(&RAW, &key, text) {
        assert_eq!(token::seal(&RAW, &key, &payload), text);
    }

    // Each kind, fed the text as a token: only what we could have minted verifies.
    if let Ok(intent) = Intent::verify(text, &key, 0, MoneyLimits::default()) {
        assert_eq!(intent.mint(&key), text);
    }
    if let Ok(result) = ClientResult::verify(text, &key, 0) {
        assert_eq!(result.mint(&key), text);
    }
    if let Ok(order_no) = OrderNo::parse("A-1") {
        let _ = events_token::verify(text, &order_no, &key, 0);
    }

    // Each kind, carrying the text: minting and verifying gives back what went in.
    if let Ok(order_no) = OrderNo::parse(text) {
        let Ok(money) = Money::parse("5.00", Currency::Usd, MoneyLimits::default()) else {
            return;
        };
        let intent = Intent {
            order_no: order_no.clone(),
            money,
            exp: NOW,
        };
        let minted = intent.mint(&key);
        if minted.len() <= intent::MAX_INTENT_LEN {
            assert_eq!(
                Intent::verify(&minted, &key, 0, MoneyLimits::default()),
                Ok(intent)
            );
        }
        let minted = events_token::mint(&order_no, NOW, &key);
        if minted.len() <= events_token::MAX_TOKEN_LEN {
            assert_eq!(events_token::verify(&minted, &order_no, &key, 0), Ok(()));
        }
    }
    if !text.is_empty() {
        let (Ok(order_no), Some(amount)) = (OrderNo::parse("A-1"), Amount::from_minor(500)) else {
            return;
        };
        let result = ClientResult {
            order_no,
            state: text.to_owned(),
            amount,
            currency: Currency::Usd,
            exp: NOW,
        };
        let minted = result.mint(&key);
        if minted.len() <= client_result::MAX_TOKEN_LEN {
            assert_eq!(ClientResult::verify(&minted, &key, 0), Ok(result));
        }
    }

    // Webhooks: the text as `id \n timestamp \n signature \n body` never panics, and our own
    // signature over any id and body verifies.
    let _ = WebhookSecret::parse(text);
    let Ok(secret) = WebhookSecret::parse("whsec_ZnV6ei13ZWJob29rLWtleS0wMTIzNDU2Nzg5") else {
        return;
    };
    let secrets = [secret];
    let mut parts = text.splitn(4, '\n');
    let mut part = || parts.next().unwrap_or_default();
    let (id, timestamp, signature, body) = (part(), part(), part(), part().as_bytes());
    let _ = webhook::verify(id, timestamp, signature, body, &secrets, NOW);
    if !id.is_empty() {
        let ours = webhook::signature_header(id, NOW, body, &secrets);
        let verdict = webhook::verify(id, &NOW.to_string(), &ours, body, &secrets, NOW);
        assert_eq!(verdict, Ok(()));
    }
});
