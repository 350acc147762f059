//! Order tracking behind a small trait, so polling can be swapped for a push channel.
//!
//! A [`Tracker`] watches one order and reports [`Report`]s to the widget; the widget only
//! starts, pauses, pokes and stops it. [`PollPlan`] is the pure schedule of the polling
//! implementation: bounded backoff with jitter, paused while the tab is hidden, a fresh
//! check on "poke" (tab visible again, back online, popup closed), stop at a final state.

use crate::backoff::Backoff;
use crate::reducer::{Failure, Update};

/// What a tracker tells the widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The order's current status and state (sent on every answer; the reducer ignores
    /// repeats), and the edge's signed client result once the order is final.
    Status(Update, Option<String>),
    /// One check failed (network, edge error); tracking continues unless it was fatal.
    Failed(Failure),
    /// The schedule is spent without a final state.
    GaveUp,
}

/// Watches one order. Implementations: polling (`polling.rs`, timers + fetch) and push
/// (`push.rs`: the edge's Server-Sent Events via `EventSource`, falling back to polling).
pub trait Tracker {
    /// Starts watching (idempotent).
    fn start(&mut self);
    /// The tab became hidden (`true`) or visible again (`false`).
    fn set_hidden(&mut self, hidden: bool);
    /// Check as soon as possible (tab back, online again, popup closed).
    fn poke(&mut self);
    /// Stops for good; drops every timer and request.
    fn stop(&mut self);
}

/// The push tracker's channel (pure; `push.rs` performs it). Push while the edge's event
/// stream works; on its first failure, polling for good (the shopper sees only the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `EventSource` on `/v1/orders/{order_no}/events`.
    Push,
    /// The polling tracker.
    Polling,
}

impl Channel {
    /// Push when the edge sent an events token and the browser has `EventSource`.
    pub fn choose(token: bool, event_source: bool) -> Channel {
        if token && event_source {
            Channel::Push
        } else {
            Channel::Polling
        }
    }

    /// The stream failed (error event, unreadable message): fall back. `true` if this is the
    /// switch, i.e. polling must start now.
    pub fn fail(&mut self) -> bool {
        let switch = *self == Channel::Push;
        *self = Channel::Polling;
        switch
    }
}

/// What the polling tracker should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send a status request now.
    Fetch,
    /// Send one after this many milliseconds.
    Wait(u32),
    /// Nothing to do (paused, stopped, or a request is in flight).
    Idle,
    /// Give up: report [`Report::GaveUp`].
    GiveUp,
}

/// The polling schedule as a pure state machine.
#[derive(Debug, Clone)]
pub struct PollPlan {
    policy: Backoff,
    attempt: u32,
    hidden: bool,
    in_flight: bool,
    done: bool,
}

impl PollPlan {
    /// A plan with the given policy.
    pub fn new(policy: Backoff) -> Self {
        PollPlan {
            policy,
            attempt: 0,
            hidden: false,
            in_flight: false,
            done: false,
        }
    }

    /// Polls sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Start: fetch at once (unless hidden).
    pub fn start(&mut self) -> Step {
        self.fetch_unless_paused()
    }

    fn fetch_unless_paused(&mut self) -> Step {
        if self.done || self.hidden || self.in_flight {
            return Step::Idle;
        }
        self.in_flight = true;
        Step::Fetch
    }

    /// A status answer (or a failure) arrived. `final_status`: stop for good.
    pub fn on_answer(&mut self, final_status: bool, unit: f64) -> Step {
        self.in_flight = false;
        if self.done {
            return Step::Idle;
        }
        if final_status {
            self.done = true;
            return Step::Idle;
        }
        match self.policy.delay(self.attempt, unit) {
            Some(ms) => {
                self.attempt += 1;
                if self.hidden {
                    Step::Idle
                } else {
                    Step::Wait(ms)
                }
            }
            None => {
                self.done = true;
                Step::GiveUp
            }
        }
    }

    /// The timer fired.
    pub fn on_timer(&mut self) -> Step {
        self.fetch_unless_paused()
    }

    /// Visibility changed. Hidden: the caller cancels its timer. Visible: check now.
    pub fn set_hidden(&mut self, hidden: bool) -> Step {
        self.hidden = hidden;
        if hidden {
            Step::Idle
        } else {
            self.fetch_unless_paused()
        }
    }

    /// Check now (cancel the pending timer first).
    pub fn poke(&mut self) -> Step {
        self.fetch_unless_paused()
    }

    /// Stop for good.
    pub fn stop(&mut self) {
        self.done = true;
    }

    /// Whether the plan has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_until_final() {
        let mut plan = PollPlan::new(Backoff::POLL);
        assert_eq!(plan.start(), Step::Fetch);
        assert_eq!(
            plan.start(),
            Step::Idle,
            "no second request while one is in flight"
        );
        assert!(matches!(plan.on_answer(false, 0.0), Step::Wait(750)));
        assert_eq!(plan.on_timer(), Step::Fetch);
        assert_eq!(plan.on_answer(true, 0.0), Step::Idle);
        assert!(plan.is_done());
        assert_eq!(plan.on_timer(), Step::Idle);
        assert_eq!(plan.poke(), Step::Idle);
    }

    #[test]
    fn pauses_while_hidden_and_checks_when_visible() {
        let mut plan = PollPlan::new(Backoff::POLL);
        assert_eq!(plan.set_hidden(true), Step::Idle);
        assert_eq!(
            plan.start(),
            Step::Idle,
            "hidden at start: wait for visibility"
        );
        assert_eq!(plan.set_hidden(false), Step::Fetch);
        assert_eq!(plan.set_hidden(true), Step::Idle);
        assert_eq!(
            plan.on_answer(false, 0.5),
            Step::Idle,
            "answer while hidden schedules nothing"
        );
        assert_eq!(plan.on_timer(), Step::Idle);
        assert_eq!(plan.set_hidden(false), Step::Fetch);
    }

    #[test]
    fn gives_up_after_the_budget() {
        let policy = Backoff {
            base_ms: 10,
            max_ms: 40,
            max_attempts: 3,
        };
        let mut plan = PollPlan::new(policy);
        assert_eq!(plan.start(), Step::Fetch);
        for _ in 0..3 {
            assert!(matches!(plan.on_answer(false, 0.5), Step::Wait(_)));
            assert_eq!(plan.on_timer(), Step::Fetch);
        }
        assert_eq!(plan.on_answer(false, 0.5), Step::GiveUp);
        assert_eq!(plan.attempts(), 3);
        assert!(plan.is_done());
    }

    #[test]
    fn push_when_possible_then_polling_for_good() {
        assert_eq!(Channel::choose(true, true), Channel::Push);
        assert_eq!(
            Channel::choose(false, true),
            Channel::Polling,
            "no token (resumed order)"
        );
        assert_eq!(
            Channel::choose(true, false),
            Channel::Polling,
            "no EventSource"
        );
        let mut channel = Channel::Push;
        assert!(channel.fail(), "the first failure switches to polling");
        assert_eq!(channel, Channel::Polling);
        assert!(!channel.fail(), "later failures change nothing");
        assert_eq!(channel, Channel::Polling);
    }

    #[test]
    fn stop_is_final() {
        let mut plan = PollPlan::new(Backoff::POLL);
        assert_eq!(plan.start(), Step::Fetch);
        plan.stop();
        assert_eq!(plan.on_answer(false, 0.5), Step::Idle);
        assert_eq!(plan.set_hidden(false), Step::Idle);
    }
}
