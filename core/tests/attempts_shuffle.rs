//! Property test: a merchant order with up to four attempts (each its own TrustPay order with
//! its own lifecycle), their callbacks duplicated and shuffled together. The merchant order's
//! state ([`merchant_state`]) must never move backwards, by an independent ranking: no
//! outcome < failed / expired < underpaid < paid (paid, settled). Once money arrived it stays
//! visible; a paid order stays paid whatever the other attempts report; and it ends paid
//! exactly when some attempt was paid, flagged when more than one was.

use checkout_core::attempt::merchant_state;
use checkout_core::codes::OrderStatus::{self, *};
use checkout_core::money::Amount;
use checkout_core::state::{OrderState, Progress, apply_progress};
use proptest::prelude::*;

fn rank(state: OrderState) -> u8 {
    match state {
        OrderState::Pending | OrderState::Unknown => 0,
        OrderState::Failed | OrderState::Expired => 1,
        OrderState::Underpaid => 2,
        OrderState::Paid
        | OrderState::Settled
        | OrderState::Refunding
        | OrderState::PartiallyRefunded
        | OrderState::Refunded => 3,
    }
}

/// One attempt's callbacks in the order TrustPay sends them, with the paid amount (minor).
fn lifecycle(kind: u8) -> Vec<(OrderStatus, Option<i64>)> {
    match kind % 6 {
        0 => vec![(Failed, None)],
        1 => vec![(TimedOut, None)],
        2 => vec![(Paid, Some(10_000))],
        3 => vec![(Paid, Some(10_000)), (Settled, None)],
        4 => vec![(Paid, Some(2_500))],                    // short
        _ => vec![(TimedOut, None), (Paid, Some(10_000))], // late payment
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn attempt_callbacks_in_any_order_never_move_the_order_backwards(
        kinds in prop::collection::vec(0u8..6, 1..=4),
        copies in prop::collection::vec(1usize..=3, 8),
        seed in any::<u64>(),
    ) {
        let amount = Amount::from_minor(10_000).unwrap_or(Amount::ZERO);
        let mut callbacks: Vec<(usize, OrderStatus, Option<i64>)> = Vec::new();
        for (attempt, &kind) in kinds.iter().enumerate() {
            for (i, (status, paid)) in lifecycle(kind).into_iter().enumerate() {
                for _ in 0..copies[(attempt * 2 + i) % copies.len()] {
                    callbacks.push((attempt, status, paid));
                }
            }
        }
        let mut rng = seed;
        for i in (1..callbacks.len()).rev() {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let j = usize::try_from(rng >> 33).unwrap_or(0) % (i + 1);
            callbacks.swap(i, j);
        }

        let mut attempts: Vec<(Progress, Option<i64>)> = vec![(Progress::of(Pending), None); kinds.len()];
        let view = |attempts: &[(Progress, Option<i64>)]| {
            let states: Vec<(u32, OrderState)> = attempts
                .iter()
                .enumerate()
                .map(|(i, (p, paid))| {
                    let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    (n, OrderState::of(p.status, amount, paid.and_then(Amount::from_minor)))
                })
                .collect();
            merchant_state(&states)
        };
        let mut before = view(&attempts).map(|o| rank(o.state)).unwrap_or(0);
        for (attempt, status, paid) in callbacks {
            let (current, stored_paid) = attempts[attempt];
            if let Some(next) = apply_progress(current, Progress::of(status)).new_status() {
                attempts[attempt] = (Progress::of(next), paid.or(stored_paid));
            }
            let now = view(&attempts).map(|o| rank(o.state)).unwrap_or(0);
            prop_assert!(now >= before, "{:?} moved the order back ({} -> {})", attempts, before, now);
            before = now;
        }
        let order = view(&attempts).expect("attempts");
        let paid_attempts = kinds.iter().filter(|&&k| matches!(k % 6, 2 | 3 | 5)).count();
        prop_assert_eq!(order.state.is_paid(), paid_attempts > 0, "{:?}", kinds);
        prop_assert_eq!(order.duplicate_payment, paid_attempts > 1, "{:?}", kinds);
    }
}
