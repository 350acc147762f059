//! Bounded exponential backoff with jitter, as a pure policy.
//!
//! "Equal jitter": the ceiling doubles per attempt up to `max_ms`, and the delay is drawn
//! from the upper half of it, `[cap/2, cap]`. Half the ceiling is guaranteed (no thundering
//! retries at 0 ms), the other half spreads many shoppers apart. The random number is an
//! argument (`Math.random()` in the browser, a fixed value in tests).

/// A retry/poll schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first delay.
    pub base_ms: u32,
    /// Largest ceiling.
    pub max_ms: u32,
    /// How many delays before giving up.
    pub max_attempts: u32,
}

impl Backoff {
    /// Order tracking: 1.5 s, 3 s, 6 s, 12 s, then ≤ 15 s; 45 polls ≈ 10 minutes at most.
    pub const POLL: Backoff = Backoff {
        base_ms: 1_500,
        max_ms: 15_000,
        max_attempts: 45,
    };

    /// Creating an order after a network failure or `order_in_progress`: 4 quick retries.
    /// Safe because the edge answers the same intent with the same order.
    pub const CREATE: Backoff = Backoff {
        base_ms: 600,
        max_ms: 5_000,
        max_attempts: 4,
    };

    /// The ceiling for `attempt` (0-based).
    pub fn cap(&self, attempt: u32) -> u32 {
        let factor = 1u64 << attempt.min(31);
        (u64::from(self.base_ms) * factor).min(u64::from(self.max_ms)) as u32
    }

    /// The delay before retry number `attempt` (0-based), or `None` once the budget is
    /// spent. `unit` is a random number in `[0, 1)`; values outside are clamped.
    pub fn delay(&self, attempt: u32, unit: f64) -> Option<u32> {
        if attempt >= self.max_attempts {
            return None;
        }
        let cap = self.cap(attempt);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let half = cap / 2;
        Some(half + ((cap - half) as f64 * unit) as u32)
    }

    /// The longest total wait the schedule can produce.
    pub fn worst_case_total_ms(&self) -> u64 {
        (0..self.max_attempts).map(|a| u64::from(self.cap(a))).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_half_cap_and_cap() {
        for policy in [Backoff::POLL, Backoff::CREATE] {
            for attempt in 0..policy.max_attempts {
                let cap = policy.cap(attempt);
                assert!(cap <= policy.max_ms);
                for unit in [0.0, 0.25, 0.5, 0.999_999, 1.0, -3.0, 7.0, f64::NAN] {
                    let d = policy.delay(attempt, unit).expect("within budget");
                    assert!(
                        d >= cap / 2 && d <= cap,
                        "{attempt} {unit} -> {d} (cap {cap})"
                    );
                }
            }
        }
    }

    #[test]
    fn grows_then_plateaus_then_stops() {
        let p = Backoff::POLL;
        assert_eq!(p.cap(0), 1_500);
        assert_eq!(p.cap(1), 3_000);
        assert_eq!(p.cap(3), 12_000);
        assert_eq!(p.cap(4), 15_000);
        assert_eq!(p.cap(40), 15_000);
        assert_eq!(p.cap(u32::MAX), 15_000);
        assert_eq!(p.delay(p.max_attempts, 0.5), None);
        assert_eq!(p.delay(u32::MAX, 0.5), None);
        assert_eq!(p.delay(0, 0.0), Some(750));
        assert_eq!(p.delay(0, 1.0), Some(1_500));
    }

    #[test]
    fn budgets_are_bounded() {
        // Tracking gives up within ~11 minutes; create retries within ~15 s.
        assert!(
            Backoff::POLL.worst_case_total_ms() <= 11 * 60 * 1000,
            "{}",
            Backoff::POLL.worst_case_total_ms()
        );
        assert!(Backoff::CREATE.worst_case_total_ms() <= 15_000);
    }
}
