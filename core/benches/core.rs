//! Micro-benchmarks of the pure core: what every request and callback pays for.
//! Goal: each ≤ 2 µs on the project machine (`docs/performance.md`). Run with `cargo xtask bench`.

use std::hint::black_box;

use checkout_core::callback::verify_callback;
use checkout_core::codes::OrderStatus;
use checkout_core::intent::Intent;
use checkout_core::sign::SignFields;
use checkout_core::state::apply;
use checkout_core::wire::{CashierPayinRequest, TrustPayRequest};
use checkout_core::{Amount, AmountRendering, Currency, Money, MoneyLimits, OrderNo, Secret};
use criterion::{Criterion, criterion_group, criterion_main};

const CALLBACK: &[u8] = br#"{"type":0,"merchant_id":1,"order_no":"payout0003","order_amount":106.00,"paid_amount":106.00,"balance_amount":100.00,"fee":6.00,"pay_time":"2025-08-05 16:43:55","status":5,"reason":"success","sign":"f0b08c8ea0537a9974e926a2f9aa6d83"}"#;

fn benches(c: &mut Criterion) {
    let secret = Secret::new("YOUR_SECRET_KEY").expect("non-empty");
    let request = CashierPayinRequest {
        merchant_id: 8820250900009,
        order_no: "local-test-payin-319".into(),
        order_amount: Amount::from_minor(500).expect("positive"),
        currency: Currency::Usd,
        notify_url: "https://rbaskets.trustpay.money/checkout".into(),
    };
    c.bench_function("sign_request", |b| {
        b.iter(|| {
            black_box(&request)
                .fields(AmountRendering::TwoDecimals)
                .signed_body(black_box(&secret))
        })
    });
    c.bench_function("verify_callback", |b| {
        b.iter(|| verify_callback(black_box(CALLBACK), black_box(&secret)))
    });

    let key = Secret::new("intent-key").expect("non-empty");
    let intent = Intent {
        order_no: OrderNo::parse("A-1").expect("valid"),
        money: Money::parse("5.00", Currency::Usd, MoneyLimits::default()).expect("valid"),
        exp: 1_800_000_000,
    };
    let token = intent.mint(&key);
    c.bench_function("intent_mint", |b| {
        b.iter(|| black_box(&intent).mint(black_box(&key)))
    });
    c.bench_function("intent_verify", |b| {
        b.iter(|| {
            Intent::verify(
                black_box(&token),
                black_box(&key),
                1_700_000_000,
                MoneyLimits::default(),
            )
        })
    });
    c.bench_function("state_transition", |b| {
        b.iter(|| {
            apply(
                black_box(OrderStatus::Refunding),
                black_box(OrderStatus::PartiallyRefunded),
            )
        })
    });
    c.bench_function("canonical_string", |b| {
        b.iter(|| {
            SignFields::from_json(black_box(CALLBACK))
                .map(|f| f.canonical(checkout_core::sign::SignOptions::AS_SENT))
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
