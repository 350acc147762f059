//! Property test: 10,000 orders (100 cases × 100 orders), each with a realistic lifecycle
//! (failures, time-outs, late payments, settlement, up to four refunds), its callbacks
//! dropped at random, duplicated and shuffled together, and applied through the state
//! machine.
//!
//! The expected outcome comes from an independent model, not from core: an order must end at
//! the *latest* step of its lifecycle that was delivered at least once (its status, refund
//! count and refunded total), and no applied change may move it to an earlier step.

use checkout_core::codes::OrderStatus::{self, *};
use checkout_core::state::{Progress, Transition, apply_progress};
use proptest::prelude::*;

/// One step of a lifecycle: what a callback reports.
type Step = Progress;

fn step(status: OrderStatus, refunds: Option<usize>, refunded: i64) -> Step {
    Progress {
        status,
        refunds,
        refunded,
    }
}

/// What a `refunding` (9) callback carries as `refund_amount`: the docs don't say whether it
/// is the total before the refund in flight, the total including it, or absent.
#[derive(Debug, Clone, Copy)]
enum RefundingTotal {
    Before,
    After,
    Absent,
}

/// A realistic lifecycle of an order of 100.00, in the order TrustPay would report it.
fn lifecycle(rng: &mut u64) -> Vec<Step> {
    let mut out = vec![step(Pending, None, 0)];
    let paid = match next(rng) % 5 {
        0 => {
            out.push(step(Failed, None, 0));
            false
        }
        1 => {
            out.push(step(TimedOut, None, 0));
            false
        }
        2 => {
            // Time-out, then the money arrives anyway (late payment).
            out.push(step(TimedOut, None, 0));
            out.push(step(Paid, None, 0));
            true
        }
        _ => {
            out.push(step(Paid, None, 0));
            true
        }
    };
    if !paid {
        return out;
    }
    if next(rng).is_multiple_of(2) {
        out.push(step(Settled, None, 0));
    }
    let refunding_total = match next(rng) % 3 {
        0 => RefundingTotal::Before,
        1 => RefundingTotal::After,
        _ => RefundingTotal::Absent,
    };
    let refunds = next(rng) % 5;
    let full = next(rng).is_multiple_of(2);
    let mut total = 0i64;
    for n in 1..=refunds {
        let last = n == refunds;
        // Each refund 1.00..=20.00; the last one takes the rest when the order ends refunded.
        let this = if last && full {
            10_000 - total
        } else {
            100 + i64::try_from(next(rng) % 1_901).unwrap_or(0)
        };
        let before = total;
        total += this;
        let n = usize::try_from(n).unwrap_or(0);
        let reported = match refunding_total {
            RefundingTotal::Before => before,
            RefundingTotal::After => total,
            RefundingTotal::Absent => 0,
        };
        out.push(step(Refunding, Some(n), reported));
        out.push(step(
            if last && full {
                Refunded
            } else {
                PartiallyRefunded
            },
            Some(n),
            total,
        ));
    }
    out
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick(rng: &mut u64, below: usize) -> usize {
    usize::try_from(next(rng) % u64::try_from(below).unwrap_or(1)).unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn shuffled_dropped_duplicated_callbacks_end_at_the_latest_delivered_step(seed in any::<u64>()) {
        let mut rng = seed;
        let lifecycles: Vec<Vec<Step>> = (0..100).map(|_| lifecycle(&mut rng)).collect();

        // Each step after `pending` is delivered 0..=3 times (a quarter of them lost), the
        // callbacks of all 100 orders shuffled together.
        let mut callbacks: Vec<(usize, usize)> = Vec::new();
        let mut delivered: Vec<Vec<bool>> = Vec::new();
        for (order, steps) in lifecycles.iter().enumerate() {
            let mut seen = vec![false; steps.len()];
            seen[0] = true;
            for (index, flag) in seen.iter_mut().enumerate().skip(1) {
                let copies = pick(&mut rng, 4);
                *flag = copies > 0;
                callbacks.extend(std::iter::repeat_n((order, index), copies));
            }
            delivered.push(seen);
        }
        for i in (1..callbacks.len()).rev() {
            let j = pick(&mut rng, i + 1);
            callbacks.swap(i, j);
        }

        // The machine's state per order, and the lifecycle index of the step it holds.
        let mut state: Vec<(Progress, usize)> =
            vec![(step(Pending, None, 0), 0); lifecycles.len()];
        for (order, index) in callbacks {
            let incoming = lifecycles[order][index];
            let (current, at) = state[order];
            let t = apply_progress(current, incoming);
            match t.new_status() {
                Some(next) => {
                    prop_assert_eq!(next, incoming.status);
                    prop_assert!(
                        index > at,
                        "order {}: step {} {:?} replaced later step {} {:?}",
                        order, index, incoming, at, current
                    );
                    state[order] = (incoming, index);
                }
                None => prop_assert!(
                    matches!(t, Transition::Same | Transition::Stale),
                    "order {}: {:?} over {:?} gave {:?}", order, incoming, current, t
                ),
            }
        }

        for (order, steps) in lifecycles.iter().enumerate() {
            let latest = (0..steps.len()).rev().find(|&i| delivered[order][i]).unwrap_or(0);
            let (got, _) = state[order];
            let want = steps[latest];
            prop_assert_eq!(
                (got.status, got.refunds, got.refunded),
                (want.status, want.refunds, want.refunded),
                "order {} lifecycle {:?} delivered {:?}", order, steps, delivered[order]
            );
        }
    }
}

#[test]
fn a_late_refunding_does_not_undo_a_completed_refund() {
    let partial = step(PartiallyRefunded, Some(1), 1_000);
    assert_eq!(
        apply_progress(partial, step(Refunding, Some(1), 1_000)),
        Transition::Stale
    );
    assert_eq!(
        apply_progress(partial, step(Refunding, Some(2), 1_000)),
        Transition::Advance(Refunding)
    );
    let refunding = step(Refunding, Some(2), 2_500);
    assert_eq!(
        apply_progress(refunding, step(PartiallyRefunded, Some(1), 1_000)),
        Transition::Stale
    );
    assert_eq!(
        apply_progress(refunding, step(PartiallyRefunded, Some(2), 2_500)),
        Transition::Advance(PartiallyRefunded)
    );
}

#[test]
fn a_second_partial_refund_completes_even_when_its_refunding_comes_last() {
    // Refund 1 (10.00) and refund 2 (15.00): 9, 8, 9, 8 arriving as 9, 8, 8, 9.
    let mut current = step(Paid, None, 0);
    for incoming in [
        step(Refunding, Some(1), 0),
        step(PartiallyRefunded, Some(1), 1_000),
        step(PartiallyRefunded, Some(2), 2_500),
        step(Refunding, Some(2), 1_000),
    ] {
        if apply_progress(current, incoming).new_status().is_some() {
            current = incoming;
        }
    }
    assert_eq!(current, step(PartiallyRefunded, Some(2), 2_500));
}
