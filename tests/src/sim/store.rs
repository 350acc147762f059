//! The simulator's in-memory gateway: orders, refunds, balances, and the order lifecycle.
//!
//! Every change of an order's status that TrustPay announces produces a [`CallbackEvent`];
//! the caller hands it to [`super::callbacks::dispatch`] after releasing the lock. Timers
//! (order time-out, automatic outcomes, refund completion) are returned as [`Effect`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use checkout_core::codes::{CurrencyCode, NotifyStatus, OrderStatus, TransactionType};
use checkout_core::money::{Amount, Currency};
use checkout_core::wire::{BalanceData, CashierPayinData, OrderQueryData, RefundData};
use serde::{Deserialize, Serialize};

use super::callbacks::{AttemptResult, CallbackEvent, callback_body};
use super::clock;
use super::config::SimConfig;
use super::faults::Faults;
use super::log::{CallbackRecord, Log, RequestRecord};

/// What happens to a pending order: the three buttons of the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The shopper pays: status 5.
    Pay,
    /// The payment is declined: status 3.
    Decline,
    /// The order times out: status 4.
    Timeout,
}

impl Outcome {
    /// The status the outcome leads to.
    pub fn status(self) -> OrderStatus {
        match self {
            Outcome::Pay => OrderStatus::Paid,
            Outcome::Decline => OrderStatus::Failed,
            Outcome::Timeout => OrderStatus::TimedOut,
        }
    }

    /// The callback `reason` text.
    fn reason(self) -> &'static str {
        match self {
            Outcome::Pay => "success",
            Outcome::Decline => "payment declined",
            Outcome::Timeout => "order timed out",
        }
    }
}

/// An outcome applied automatically some time after an order is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct AutoOutcome {
    /// What happens.
    pub(crate) outcome: Outcome,
    /// How long after creation (or after being set, for an existing order).
    #[serde(rename = "after_ms", serialize_with = "millis")]
    pub(crate) after: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Work to do later, outside the state lock.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Deliver a callback.
    Callback(CallbackEvent),
    /// Apply an outcome to the order after a delay, if it is still pending then.
    Outcome {
        /// Merchant order number.
        order_no: String,
        /// What to apply.
        outcome: Outcome,
        /// When.
        after: Duration,
    },
    /// Complete a refund after a delay.
    FinishRefund {
        /// Merchant order number.
        order_no: String,
        /// The refund.
        refund_no: String,
        /// When.
        after: Duration,
    },
}

/// One refund of an order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Refund {
    /// The merchant's refund number.
    pub(crate) merchant_refund_no: String,
    /// The amount.
    pub(crate) amount: Amount,
    /// The merchant's reason.
    pub(crate) reason: String,
    /// Whether it has completed (order left status 9).
    pub(crate) done: bool,
}

/// One payin order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub(crate) order_no: String,
    pub(crate) platform_order_no: String,
    pub(crate) merchant_id: i64,
    pub(crate) currency: Currency,
    pub(crate) order_amount: Amount,
    pub(crate) fee: Amount,
    pub(crate) notify_url: String,
    #[serde(serialize_with = "status_code")]
    pub(crate) status: OrderStatus,
    pub(crate) reason: String,
    pub(crate) paid_amount: Amount,
    #[serde(serialize_with = "opt_time")]
    pub(crate) pay_time: Option<SystemTime>,
    pub(crate) refunds: Vec<Refund>,
    #[serde(serialize_with = "notify_code")]
    pub(crate) notify_status: NotifyStatus,
    #[serde(serialize_with = "opt_time")]
    pub(crate) notify_time: Option<SystemTime>,
    #[serde(serialize_with = "time")]
    pub(crate) create_time: SystemTime,
    /// The newest callback event of this order: its delivery decides `notify_status`.
    pub(crate) latest_event: u64,
    /// The `type` its callbacks carry: 0 (pay-in), or 1 after a test control made it report a
    /// payout (`{"payout": true}` on pay).
    pub(crate) callback_type: i64,
}

fn status_code<S: serde::Serializer>(s: &OrderStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_i64(s.code())
}
fn notify_code<S: serde::Serializer>(s: &NotifyStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_i64(s.code())
}
fn time<S: serde::Serializer>(t: &SystemTime, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&clock::rfc3339(*t))
}
fn opt_time<S: serde::Serializer>(t: &Option<SystemTime>, ser: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser.serialize_str(&clock::rfc3339(*t)),
        None => ser.serialize_none(),
    }
}

impl Order {
    /// Sum of every refund, completed or in progress.
    pub(crate) fn refunded_total(&self) -> Amount {
        self.refunds.iter().fold(Amount::ZERO, |sum, r| {
            sum.checked_add(r.amount).unwrap_or(sum)
        })
    }

    /// The order query `data` (`docs/protocol.md`, §Order query).
    pub(crate) fn query_data(&self) -> OrderQueryData {
        OrderQueryData {
            order_no: self.order_no.clone(),
            platform_order_no: Some(self.platform_order_no.clone()),
            type_id: Some(TransactionType::Payin),
            merchant_id: Some(self.merchant_id),
            currency: Some(CurrencyCode::from(self.currency)),
            order_amount: Some(self.order_amount),
            paid_amount: Some(self.paid_amount),
            refund_amount: Some(self.refunded_total()),
            fee: Some(self.fee),
            status: Some(self.status),
            reason: Some(self.reason.clone()),
            notify_status: Some(self.notify_status),
            notify_time: self.notify_time.map(clock::rfc3339),
            create_time: Some(clock::rfc3339(self.create_time)),
            pay_url: None,
        }
    }
}

/// A validated cashier payin request.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder {
    pub(crate) order_no: String,
    pub(crate) order_amount: Amount,
    pub(crate) currency: Currency,
    pub(crate) notify_url: String,
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub(crate) struct NewRefund {
    pub(crate) order_no: String,
    pub(crate) merchant_refund_no: String,
    pub(crate) refund_amount: Amount,
    pub(crate) reason: String,
}

/// Why an order could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CreateError {
    /// The `order_no` is taken.
    #[error("order_no already exists")]
    Exists,
}

/// Why a refund was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RefundError {
    /// No such order.
    #[error("order_not_found")]
    OrderNotFound,
    /// The order is not paid (5, 6 or 8).
    #[error("the order is not refundable in status {}", .0.code())]
    NotRefundable(OrderStatus),
    /// Another refund of the order is in progress (status 9).
    #[error("a refund of this order is in progress")]
    InProgress,
    /// The `merchant_refund_no` is taken.
    #[error("merchant_refund_no already exists")]
    Exists,
    /// More than what is left to refund.
    #[error("refund_amount is above the refundable remainder {0}")]
    AboveRemainder(Amount),
    /// More than the merchant's available balance.
    #[error("insufficient balance: {0} available")]
    InsufficientBalance(Amount),
}

/// Why an outcome could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OutcomeError {
    /// No such order.
    #[error("order_not_found")]
    NotFound,
    /// The order is not pending (or, for `settle`, not paid).
    #[error("the order is in status {}", .0.code())]
    WrongStatus(OrderStatus),
}

/// SplitMix64: a tiny, seeded, deterministic generator (fine for test ids, not for secrets).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a `platform_order_no` (24 alphanumeric characters; `docs/protocol.md`,
/// §Cashier payin).
pub(crate) const PLATFORM_ORDER_NO_LEN: usize = 24;

/// The whole simulated gateway state. Guarded by one mutex, never held across an await.
#[derive(Debug)]
pub(crate) struct State {
    /// Bumped by reset and shutdown; background tasks of an older epoch stop.
    pub(crate) epoch: u64,
    rng: SplitMix64,
    orders: BTreeMap<String, Order>,
    by_platform: HashMap<String, String>,
    refund_nos: HashSet<String>,
    next_event: u64,
    pub(crate) requests: Log<RequestRecord>,
    pub(crate) callbacks: Log<CallbackRecord>,
    pub(crate) faults: Faults,
    /// Outcome applied to every new order.
    pub(crate) auto_all: Option<AutoOutcome>,
    /// Outcomes waiting for an order number not created yet.
    pub(crate) auto_orders: HashMap<String, AutoOutcome>,
}

impl State {
    /// A fresh gateway.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            epoch: 1,
            rng: SplitMix64::new(seed),
            orders: BTreeMap::new(),
            by_platform: HashMap::new(),
            refund_nos: HashSet::new(),
            next_event: 1,
            requests: Log::default(),
            callbacks: Log::default(),
            faults: Faults::default(),
            auto_all: None,
            auto_orders: HashMap::new(),
        }
    }

    /// Forgets everything (orders, logs, faults, holds, automatic outcomes), reseeds the
    /// generator and stops every background task of the previous epoch.
    pub(crate) fn reset(&mut self, seed: u64) {
        let epoch = self.epoch + 1;
        *self = State::new(seed);
        self.epoch = epoch;
    }

    fn platform_order_no(&mut self) -> String {
        loop {
            let id: String = (0..PLATFORM_ORDER_NO_LEN)
                .map(|_| {
                    char::from(
                        ALPHANUMERIC[(self.rng.next_u64() % ALPHANUMERIC.len() as u64) as usize],
                    )
                })
                .collect();
            if !self.by_platform.contains_key(&id) {
                return id;
            }
        }
    }

    /// An order by merchant order number.
    pub(crate) fn order(&self, order_no: &str) -> Option<&Order> {
        self.orders.get(order_no)
    }

    /// An order by platform order number (the hosted page's id).
    pub(crate) fn order_by_platform(&self, platform_order_no: &str) -> Option<&Order> {
        self.by_platform
            .get(platform_order_no)
            .and_then(|no| self.orders.get(no))
    }

    /// Every order, by merchant order number.
    pub(crate) fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Creates a pending order; returns the cashier payin `data` and its timers.
    pub(crate) fn create_order(
        &mut self,
        cfg: &SimConfig,
        base_url: &str,
        new: NewOrder,
    ) -> Result<(CashierPayinData, Vec<Effect>), CreateError> {
        if self.orders.contains_key(&new.order_no) {
            return Err(CreateError::Exists);
        }
        let platform_order_no = self.platform_order_no();
        let fee = cfg.fee.fee_for(new.order_amount);
        let order = Order {
            order_no: new.order_no.clone(),
            platform_order_no: platform_order_no.clone(),
            merchant_id: cfg.merchant_id,
            currency: new.currency,
            order_amount: new.order_amount,
            fee,
            notify_url: new.notify_url,
            status: OrderStatus::Pending,
            reason: String::new(),
            paid_amount: Amount::ZERO,
            pay_time: None,
            refunds: Vec::new(),
            notify_status: NotifyStatus::Pending,
            notify_time: None,
            create_time: SystemTime::now(),
            latest_event: 0,
            callback_type: TransactionType::Payin.code(),
        };
        let data = CashierPayinData {
            order_no: order.order_no.clone(),
            platform_order_no: Some(platform_order_no.clone()),
            merchant_id: Some(order.merchant_id),
            currency: Some(CurrencyCode::from(order.currency)),
            amount: Some(order.order_amount),
            fee: Some(fee),
            pay_url: Some(format!("{base_url}/pay/{platform_order_no}")),
            pay_url_v3: None,
        };
        let mut effects = vec![Effect::Outcome {
            order_no: new.order_no.clone(),
            outcome: Outcome::Timeout,
            after: cfg.order_timeout,
        }];
        if let Some(auto) = self.auto_orders.remove(&new.order_no).or(self.auto_all) {
            effects.push(Effect::Outcome {
                order_no: new.order_no.clone(),
                outcome: auto.outcome,
                after: auto.after,
            });
        }
        self.by_platform
            .insert(platform_order_no, new.order_no.clone());
        self.orders.insert(new.order_no, order);
        Ok((data, effects))
    }

    /// Sets the automatic outcome of one order: a timer now if it exists and is pending,
    /// otherwise remembered for when an order with that number is created.
    pub(crate) fn set_auto_for(&mut self, order_no: &str, auto: AutoOutcome) -> Option<Effect> {
        match self.orders.get(order_no) {
            Some(_) => Some(Effect::Outcome {
                order_no: order_no.to_owned(),
                outcome: auto.outcome,
                after: auto.after,
            }),
            None => {
                self.auto_orders.insert(order_no.to_owned(), auto);
                None
            }
        }
    }

    fn next_event(&mut self, cfg: &SimConfig, order_no: &str) -> Option<CallbackEvent> {
        let seq = self.next_event;
        let epoch = self.epoch;
        let order = self.orders.get_mut(order_no)?;
        self.next_event += 1;
        order.latest_event = seq;
        order.notify_status = NotifyStatus::Pending;
        Some(CallbackEvent {
            seq,
            epoch,
            order_no: order.order_no.clone(),
            status: order.status,
            url: order.notify_url.clone(),
            body: callback_body(order, cfg.callback_amounts, &cfg.secret),
        })
    }

    /// Applies an outcome to a pending order (with `force`, also pays a failed or timed-out
    /// order: a late payment) and returns its callback.
    pub(crate) fn apply_outcome(
        &mut self,
        cfg: &SimConfig,
        order_no: &str,
        outcome: Outcome,
        force: bool,
    ) -> Result<CallbackEvent, OutcomeError> {
        let order = self
            .orders
            .get_mut(order_no)
            .ok_or(OutcomeError::NotFound)?;
        let allowed = match order.status {
            OrderStatus::Pending => true,
            OrderStatus::Failed | OrderStatus::TimedOut => force && outcome == Outcome::Pay,
            OrderStatus::PayoutPaid
            | OrderStatus::Paid
            | OrderStatus::Settled
            | OrderStatus::Refunded
            | OrderStatus::PartiallyRefunded
            | OrderStatus::Refunding
            | OrderStatus::Unknown(_) => false,
        };
        if !allowed {
            return Err(OutcomeError::WrongStatus(order.status));
        }
        order.status = outcome.status();
        order.reason = outcome.reason().to_owned();
        if outcome == Outcome::Pay {
            order.paid_amount = order.order_amount;
            order.pay_time = Some(SystemTime::now());
        }
        self.next_event(cfg, order_no).ok_or(OutcomeError::NotFound)
    }

    /// [`State::apply_outcome`] for a payment the test shapes: another `paid_amount` (short or
    /// over), or reported as a payout (`type` 1, status 2) instead of a pay-in.
    pub(crate) fn pay_with(
        &mut self,
        cfg: &SimConfig,
        order_no: &str,
        paid_amount: Option<Amount>,
        payout: bool,
        force: bool,
    ) -> Result<CallbackEvent, OutcomeError> {
        self.apply_outcome(cfg, order_no, Outcome::Pay, force)?;
        let order = self
            .orders
            .get_mut(order_no)
            .ok_or(OutcomeError::NotFound)?;
        if let Some(paid) = paid_amount {
            order.paid_amount = paid;
        }
        if payout {
            order.status = OrderStatus::PayoutPaid;
            order.callback_type = TransactionType::Payout.code();
        }
        // The event built by apply_outcome is superseded by this one (its delivery is dropped
        // by the caller).
        self.next_event(cfg, order_no).ok_or(OutcomeError::NotFound)
    }

    /// Settles a paid order (5 → 6). TrustPay's docs don't say whether 6 is announced, so
    /// no callback is sent.
    pub(crate) fn settle(&mut self, order_no: &str) -> Result<(), OutcomeError> {
        let order = self
            .orders
            .get_mut(order_no)
            .ok_or(OutcomeError::NotFound)?;
        if order.status != OrderStatus::Paid {
            return Err(OutcomeError::WrongStatus(order.status));
        }
        order.status = OrderStatus::Settled;
        Ok(())
    }

    /// Balance of one currency: opening + Σ(paid − fee) − Σ refunds; refunds in progress
    /// are also reported as frozen.
    pub(crate) fn balance(&self, cfg: &SimConfig, currency: Currency) -> BalanceData {
        let (available, frozen) = self.balance_minor(cfg, currency);
        BalanceData {
            balance: Amount::from_minor(available).unwrap_or(Amount::ZERO),
            frozen: Amount::from_minor(frozen).unwrap_or(Amount::ZERO),
            reserve: Amount::ZERO,
        }
    }

    fn balance_minor(&self, cfg: &SimConfig, currency: Currency) -> (i64, i64) {
        let mut available = cfg.opening_balance.minor();
        let mut frozen = 0;
        for order in self
            .orders
            .values()
            .filter(|o| o.currency == currency && !o.paid_amount.is_zero())
        {
            available += order.paid_amount.minor() - order.fee.minor();
            for refund in &order.refunds {
                available -= refund.amount.minor();
                if !refund.done {
                    frozen += refund.amount.minor();
                }
            }
        }
        (available, frozen)
    }

    /// Starts a refund: the order goes to 9 (refunding) with a callback, and completes after
    /// the configured delay.
    pub(crate) fn start_refund(
        &mut self,
        cfg: &SimConfig,
        new: NewRefund,
    ) -> Result<(RefundData, Vec<Effect>), RefundError> {
        let order = self
            .orders
            .get(&new.order_no)
            .ok_or(RefundError::OrderNotFound)?;
        match order.status {
            OrderStatus::Paid | OrderStatus::Settled | OrderStatus::PartiallyRefunded => {}
            OrderStatus::Refunding => return Err(RefundError::InProgress),
            other @ (OrderStatus::Pending
            | OrderStatus::PayoutPaid
            | OrderStatus::Failed
            | OrderStatus::TimedOut
            | OrderStatus::Refunded
            | OrderStatus::Unknown(_)) => return Err(RefundError::NotRefundable(other)),
        }
        if self.refund_nos.contains(&new.merchant_refund_no) {
            return Err(RefundError::Exists);
        }
        let remainder = order
            .paid_amount
            .checked_sub(order.refunded_total())
            .unwrap_or(Amount::ZERO);
        if new.refund_amount > remainder {
            return Err(RefundError::AboveRemainder(remainder));
        }
        let (available, _) = self.balance_minor(cfg, order.currency);
        if new.refund_amount.minor() > available {
            return Err(RefundError::InsufficientBalance(
                Amount::from_minor(available).unwrap_or(Amount::ZERO),
            ));
        }
        let currency = order.currency;
        let order = self
            .orders
            .get_mut(&new.order_no)
            .ok_or(RefundError::OrderNotFound)?;
        order.refunds.push(Refund {
            merchant_refund_no: new.merchant_refund_no.clone(),
            amount: new.refund_amount,
            reason: new.reason,
            done: false,
        });
        order.status = OrderStatus::Refunding;
        order.reason = "refunding".to_owned();
        self.refund_nos.insert(new.merchant_refund_no.clone());
        let event = self
            .next_event(cfg, &new.order_no)
            .ok_or(RefundError::OrderNotFound)?;
        let data = RefundData {
            merchant_refund_no: new.merchant_refund_no.clone(),
            refund_amount: Some(new.refund_amount),
            currency: Some(CurrencyCode::from(currency)),
            status: Some(OrderStatus::Refunding.code()),
            failed_reason: None,
        };
        let effects = vec![
            Effect::Callback(event),
            Effect::FinishRefund {
                order_no: new.order_no,
                refund_no: new.merchant_refund_no,
                after: cfg.refund_delay,
            },
        ];
        Ok((data, effects))
    }

    /// Completes a refund: 7 when everything paid is refunded, else 8; returns the callback.
    pub(crate) fn finish_refund(
        &mut self,
        cfg: &SimConfig,
        order_no: &str,
        refund_no: &str,
    ) -> Option<CallbackEvent> {
        let order = self.orders.get_mut(order_no)?;
        let refund = order
            .refunds
            .iter_mut()
            .find(|r| r.merchant_refund_no == refund_no && !r.done)?;
        refund.done = true;
        let fully = order.refunded_total() >= order.paid_amount;
        order.status = if fully {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        };
        order.reason = if fully {
            "refunded"
        } else {
            "partially refunded"
        }
        .to_owned();
        self.next_event(cfg, order_no)
    }

    /// Records a delivery attempt's time on the order.
    pub(crate) fn notify_attempted(&mut self, order_no: &str) {
        if let Some(order) = self.orders.get_mut(order_no) {
            order.notify_time = Some(SystemTime::now());
        }
    }

    /// Records the end of an event's delivery. Only the order's newest event decides its
    /// `notify_status`.
    pub(crate) fn notify_finished(&mut self, order_no: &str, event: u64, delivered: bool) {
        if let Some(order) = self
            .orders
            .get_mut(order_no)
            .filter(|o| o.latest_event == event)
        {
            order.notify_status = if delivered {
                NotifyStatus::Sent
            } else {
                NotifyStatus::Failed
            };
        }
    }

    /// Logs a callback record.
    pub(crate) fn log_callback(&mut self, event: &CallbackEvent, result: AttemptResult) {
        self.callbacks
            .push_with(|seq| result.into_record(seq, event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_order_numbers_are_24_alphanumerics_and_seeded() {
        let mut a = State::new(7);
        let mut b = State::new(7);
        let mut c = State::new(8);
        let (x, y, z) = (
            a.platform_order_no(),
            b.platform_order_no(),
            c.platform_order_no(),
        );
        assert_eq!(x, y, "same seed, same number");
        assert_ne!(x, z, "another seed, another number");
        assert_eq!(x.len(), PLATFORM_ORDER_NO_LEN);
        assert!(x.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a.platform_order_no(), x, "the sequence moves on");
    }
}
