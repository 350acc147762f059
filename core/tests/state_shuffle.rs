//! Property test: 10,000 callbacks over 100 orders, duplicated and shuffled, applied through
//! the state machine. Every order must end where its lifecycle ended, and no step may move an
//! order backwards.

use checkout_core::codes::OrderStatus::{self, *};
use checkout_core::state::{Progress, Transition, apply_progress};
use proptest::prelude::*;

/// A total order on how far an order has got. Every applied change must not decrease it.
fn key(p: Progress) -> (u8, usize, u8) {
    let rank = match p.status {
        Pending => 0,
        Failed | TimedOut => 1,
        Paid | PayoutPaid => 2,
        Settled => 3,
        Refunding | PartiallyRefunded => 4,
        Refunded => 6,
        Unknown(_) => 0,
    };
    // At the same refund count, "refunding" comes before "partially refunded".
    let sub = u8::from(p.status == PartiallyRefunded);
    (rank, p.refunds, sub)
}

/// A realistic lifecycle: the statuses an order passes through, in order, with refund counts.
fn lifecycle(kind: u8, refunds: usize, settled: bool) -> Vec<Progress> {
    let p = |status: OrderStatus, refunds: usize| Progress { status, refunds };
    let mut out = vec![p(Pending, 0)];
    match kind % 5 {
        0 => out.push(p(Failed, 0)),
        1 => out.push(p(TimedOut, 0)),
        2 => out.push(p(PayoutPaid, 0)),
        3 => {
            // Time-out, then the money arrives anyway (late payment), maybe refunded.
            out.push(p(TimedOut, 0));
            out.push(p(Paid, 0));
        }
        _ => out.push(p(Paid, 0)),
    }
    if matches!(kind % 5, 3 | 4) {
        if settled {
            out.push(p(Settled, 0));
        }
        for n in 1..=refunds {
            out.push(p(Refunding, n));
            let last = n == refunds;
            out.push(p(
                if last && kind.is_multiple_of(2) {
                    Refunded
                } else {
                    PartiallyRefunded
                },
                n,
            ));
        }
    }
    out
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn shuffled_duplicated_callbacks_converge(seed in any::<u64>(), kinds in prop::collection::vec((0u8..10, 0usize..4, any::<bool>()), 100)) {
        let mut rng = seed;
        let lifecycles: Vec<Vec<Progress>> = kinds.iter().map(|&(k, r, s)| lifecycle(k, r, s)).collect();

        // 100 callbacks per order: every lifecycle event at least once, the rest duplicates.
        let mut callbacks: Vec<(usize, Progress)> = Vec::with_capacity(10_000);
        for (order, events) in lifecycles.iter().enumerate() {
            for e in &events[1..] {
                callbacks.push((order, *e));
            }
            while callbacks.len() < (order + 1) * 100 {
                let i = 1 + (splitmix(&mut rng) as usize) % (events.len() - 1);
                callbacks.push((order, events[i]));
            }
        }
        prop_assert_eq!(callbacks.len(), 10_000);
        for i in (1..callbacks.len()).rev() {
            let j = (splitmix(&mut rng) as usize) % (i + 1);
            callbacks.swap(i, j);
        }

        let mut state: Vec<Progress> = vec![Progress { status: Pending, refunds: 0 }; 100];
        for (order, incoming) in callbacks {
            let current = state[order];
            let t = apply_progress(current, incoming);
            if let Some(next) = t.new_status() {
                let next = Progress { status: next, refunds: incoming.refunds.max(current.refunds) };
                prop_assert!(key(next) >= key(current), "{:?} -> {:?} went backwards", current, next);
                state[order] = next;
            } else {
                prop_assert!(matches!(t, Transition::Same | Transition::Stale | Transition::Conflict), "{:?}", t);
            }
        }
        for (order, events) in lifecycles.iter().enumerate() {
            let expected = events.iter().copied().max_by_key(|&e| key(e)).map(|e| e.status);
            // Failed-then-timed-out can't both happen in one lifecycle, so the maximum is unique.
            prop_assert_eq!(Some(state[order].status), expected, "order {} lifecycle {:?}", order, events);
        }
    }
}

#[test]
fn a_late_refunding_does_not_undo_a_completed_refund() {
    let partial = Progress {
        status: PartiallyRefunded,
        refunds: 1,
    };
    assert_eq!(
        apply_progress(
            partial,
            Progress {
                status: Refunding,
                refunds: 1
            }
        ),
        Transition::Stale
    );
    assert_eq!(
        apply_progress(
            partial,
            Progress {
                status: Refunding,
                refunds: 2
            }
        ),
        Transition::Advance(Refunding)
    );
    let refunding = Progress {
        status: Refunding,
        refunds: 2,
    };
    assert_eq!(
        apply_progress(
            refunding,
            Progress {
                status: PartiallyRefunded,
                refunds: 1
            }
        ),
        Transition::Stale
    );
    assert_eq!(
        apply_progress(
            refunding,
            Progress {
                status: PartiallyRefunded,
                refunds: 2
            }
        ),
        Transition::Advance(PartiallyRefunded)
    );
}
