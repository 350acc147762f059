//! D1 storage of orders, client-secret hashes, refunds and the order event log.
//!
//! Every state change is one conditional statement (`... WHERE order_no = ? AND status_seq = ?`,
//! `INSERT ... ON CONFLICT DO NOTHING`, a refund reserved by `INSERT ... SELECT ... WHERE` the
//! amount is still available), and the caller learns from the changed-row count whether it
//! won. Two concurrent callbacks, creates or refunds can therefore never both win.
//!
//! Writes that belong together go in one `batch()` (one D1 round trip, one transaction): a
//! statement that must only take effect when the one before it did is an
//! `INSERT ... SELECT ... WHERE changes() = 1` (`changes()` is the row count of the previous
//! statement on the same connection, which a batch keeps). So a status change, its event and
//! its merchant-notification outbox row are written together or not at all, and a lost
//! conditional update writes nothing. Every round trip is counted ([`RoundTrips`]) and logged
//! with the request.
//!
//! Sharding (`D1_SHARDS`, default 1): orders are spread over N databases by a fixed hash of
//! their merchant order number ([`shard_of`]). A merchant order's attempts, client secrets,
//! events, refunds and outbox rows all live on its shard, so each method about one order runs
//! on that shard alone and every batch above stays one transaction. Reads across orders (the
//! reconciliation scan, the outbox sweep and list, lookups by TrustPay's number, by refund
//! number or outbox id without the order) ask every shard at once and merge: one round trip
//! per shard. With one shard everything is as without sharding.
//! Schema: `migrations/*.sql`, applied to every shard.

use std::cell::Cell;
use std::rc::Rc;

use checkout_core::attempt;
use checkout_core::codes::OrderStatus;
use checkout_core::money::{Amount, Currency};
use checkout_core::order_no::OrderNo;
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::error::EdgeError;
use crate::event::{Outcome, Source};

/// An order row.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderRow {
    /// Our order number.
    pub order_no: String,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// `USD` / `INR`.
    pub currency: String,
    /// Merchant id at creation.
    pub merchant_id: i64,
    /// TrustPay status code.
    pub status: i64,
    /// Hosted pay page, once created at TrustPay.
    pub pay_url: Option<String>,
    /// TrustPay's order number.
    pub platform_order_no: Option<String>,
    /// Creation lease expiry (ms); 0 when no request is creating it.
    pub creating_until: i64,
    /// Paid amount, minor units.
    pub paid_amount_minor: Option<i64>,
    /// Refunded total, minor units.
    pub refund_amount_minor: Option<i64>,
    /// Fee, minor units.
    pub fee_minor: Option<i64>,
    /// 1 when money arrived after failure / expiry.
    pub late_payment: i64,
    /// Last TrustPay query (ms).
    pub last_query_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// Number of status changes so far: the row's version for conditional updates.
    #[serde(default)]
    pub status_seq: i64,
    /// Refunds TrustPay listed in the message the refund position came from.
    #[serde(default)]
    pub refund_count: Option<i64>,
    /// Why creating the order at TrustPay can never succeed (`order_number_taken`).
    #[serde(default)]
    pub create_refused: Option<String>,
    /// The merchant order this attempt belongs to; `None` = `order_no` itself (attempt 1).
    #[serde(default)]
    pub merchant_order_no: Option<String>,
    /// The attempt's number (1-based).
    #[serde(default = "first_attempt")]
    pub attempt: i64,
    /// On attempt 1: how many attempts the merchant order has.
    #[serde(default = "first_attempt")]
    pub attempts: i64,
    /// On attempt 1: the merchant order's version, raised by every status change of any of
    /// its attempts and by every new attempt ([`MerchantSeq`]).
    #[serde(default)]
    pub merchant_seq: i64,
    /// On attempt 1: until when (ms) a live-events stream of the merchant order may be open.
    #[serde(default)]
    pub live_until: i64,
}

fn first_attempt() -> i64 {
    1
}

impl OrderRow {
    /// The typed status.
    pub fn status(&self) -> OrderStatus {
        OrderStatus::from_code(self.status)
    }

    /// The amount.
    pub fn amount(&self) -> Result<Amount, EdgeError> {
        Amount::from_minor(self.amount_minor)
            .ok_or_else(|| EdgeError::Storage(format!("negative amount in {}", self.order_no)))
    }

    /// The merchant order number this row is an attempt of.
    pub fn merchant_no(&self) -> &str {
        self.merchant_order_no.as_deref().unwrap_or(&self.order_no)
    }

    /// The attempt number as core counts it.
    pub fn attempt_no(&self) -> u32 {
        u32::try_from(self.attempt).unwrap_or(1)
    }

    /// The currency.
    pub fn currency(&self) -> Result<Currency, EdgeError> {
        Currency::parse(&self.currency)
            .map_err(|e| EdgeError::Storage(format!("currency of {}: {e}", self.order_no)))
    }
}

/// An order event row, as shown to admins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRow {
    /// Sequence number.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// `callback`, `query`, `create`, `admin`.
    pub source: String,
    /// What happened (`accepted`, `duplicate`, `stale`, ...).
    pub outcome: String,
    /// Status before.
    pub status_from: Option<i64>,
    /// Status after (for callbacks: the status the callback carried).
    pub status_to: Option<i64>,
    /// Short free text (never a secret or a full body).
    pub detail: Option<String>,
}

/// A refund row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundRow {
    /// Our refund number.
    pub merchant_refund_no: String,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Reason given.
    pub reason: String,
    /// TrustPay's (undocumented) refund status.
    pub gateway_status: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
}

/// A refund to reserve ([`Store::reserve_refund`]).
#[derive(Debug, Clone, Copy)]
pub struct NewRefund<'a> {
    /// Our refund number.
    pub merchant_refund_no: &'a str,
    /// The order.
    pub order_no: &'a str,
    /// Amount.
    pub amount: Amount,
    /// Reason given.
    pub reason: &'a str,
    /// The request's `Idempotency-Key`, if it had one.
    pub idempotency_key: Option<&'a str>,
}

/// A new order ([`Store::insert_creating`]).
#[derive(Debug, Clone, Copy)]
pub struct NewOrder<'a> {
    /// Our order number.
    pub order_no: &'a str,
    /// Amount.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// Merchant id.
    pub merchant_id: i64,
    /// The hash of the creating page's client secret.
    pub secret_hash: &'a str,
}

/// A stored refund as a retry needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredRefund {
    /// Our refund number.
    pub merchant_refund_no: String,
    /// The order.
    pub order_no: String,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// The key of the request that reserved it.
    pub idempotency_key: Option<String>,
    /// The answer that request got (`None` while it is still running, or after a timeout).
    pub answer: Option<String>,
}

/// What [`Store::reserve_refund`] did.
#[derive(Debug, Clone)]
pub enum Reserved {
    /// The refund is reserved: send it to TrustPay.
    Reserved,
    /// A refund with this number exists already (a retry, or a reused number).
    Exists(StoredRefund),
    /// With shards: the number is claimed for another order, whose refund may be on another
    /// shard and still being reserved (a reused number; nothing written).
    Taken,
    /// The order can't give this much back (or doesn't exist).
    Exceeds,
}

/// A new event.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The order, when known.
    pub order_no: Option<&'a str>,
    /// Source.
    pub source: Source,
    /// Outcome.
    pub outcome: Outcome,
    /// Status before.
    pub status_from: Option<i64>,
    /// Status after / carried.
    pub status_to: Option<i64>,
    /// Detail.
    pub detail: Option<String>,
}

/// A status change with the amounts it brings.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange {
    /// The `status_seq` the row must still have (nobody changed it since it was read).
    pub seq: i64,
    /// The new status.
    pub to: i64,
    /// Refunds listed, if reported.
    pub refund_count: Option<i64>,
    /// Paid amount, if reported.
    pub paid_minor: Option<i64>,
    /// Refunded total, if reported.
    pub refund_minor: Option<i64>,
    /// Fee, if reported.
    pub fee_minor: Option<i64>,
    /// Money after failure / expiry.
    pub late_payment: bool,
}

/// The merchant order's version a change was decided on: `seq` as read on its first attempt's
/// row `first`. [`Store::change_status_numbered`] writes only while it is unchanged (and
/// raises it), so a decision that looked at every attempt can't miss a concurrent change of
/// another one.
#[derive(Debug, Clone, Copy)]
pub struct MerchantSeq<'a> {
    /// The first attempt's order number (the merchant order number).
    pub first: &'a str,
    /// Its `merchant_seq` when the attempts were read.
    pub seq: i64,
}

/// The merchant notification of a change decided on an assumed row
/// ([`Store::change_if_fresh`]): the body for each currency the order could be in (the
/// notification body carries the currency, which a callback doesn't), the row picks one.
#[derive(Debug, Clone)]
pub struct FreshOutbox {
    /// The event id (`webhook-id`).
    pub id: String,
    /// `order.<state>`.
    pub kind: String,
    /// `(currency code, body)` for every supported currency.
    pub bodies: Vec<(&'static str, String)>,
}

/// What [`Store::change_if_fresh`] found.
#[derive(Debug, Clone)]
pub enum Fresh {
    /// The order was as assumed, and is now changed: the row after the change.
    Changed(Box<OrderRow>),
    /// It was not (or doesn't exist): nothing was written; every attempt of its merchant
    /// order as they are (empty for an unknown order), read in the same round trip.
    Read(Vec<OrderRow>),
}

/// D1 round trips and Durable Object calls of one request (or queue batch, or cron run),
/// shared by every [`Store`] the request opens; its `request` log line reports them.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    d1: Rc<Cell<u32>>,
    durable_objects: Rc<Cell<u32>>,
}

impl RoundTrips {
    /// D1 round trips so far (a `batch()` is one).
    pub fn d1(&self) -> u32 {
        self.d1.get()
    }

    /// Durable Object calls so far.
    pub fn durable_objects(&self) -> u32 {
        self.durable_objects.get()
    }

    /// Counts one Durable Object call.
    pub fn count_durable_object(&self) {
        self.durable_objects
            .set(self.durable_objects.get().saturating_add(1));
    }

    fn count_d1(&self) {
        self.d1.set(self.d1.get().saturating_add(1));
    }
}

/// A merchant-notification outbox row to write with a status change
/// ([`Store::change_status_numbered`]).
#[derive(Debug, Clone)]
pub struct NewOutbox {
    /// The event id (`webhook-id`).
    pub id: String,
    /// `order.<state>`.
    pub kind: String,
    /// The exact JSON body to sign and send.
    pub body: String,
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not delivered yet: a queue message is (believed to be) on its way, or the cron resends.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt of the retry schedule failed (or no endpoint is configured): an admin
    /// can replay it.
    Dead,
}

impl OutboxState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(OutboxState::Pending),
            "delivered" => Some(OutboxState::Delivered),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// An outbox row, as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxRow {
    /// The event id.
    pub id: String,
    /// The order.
    pub order_no: String,
    /// `order.<state>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered`, `dead`.
    pub state: OutboxState,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (ms).
    pub next_attempt_at: i64,
    /// The last attempt's result (`http=500`, `error=...`).
    pub last_result: Option<String>,
    /// Written (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A delivery attempt the consumer claimed ([`Store::claim_delivery`]).
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimedDelivery {
    /// The order.
    pub order_no: String,
    /// `order.<state>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The body to sign and send.
    pub body: String,
    /// This attempt's number (1 = first).
    pub attempts: i64,
}

/// How a delivery attempt ended ([`Store::finish_delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Delivered.
    Delivered,
    /// Failed; the next attempt is due at this time (ms).
    RetryAt(i64),
    /// Failed for the last time (or nowhere to deliver): dead.
    Dead,
}

impl StatusChange {
    /// The row as [`Store::change_status_numbered`] leaves it when it wins (same `COALESCE` /
    /// `MAX` rules as its `UPDATE`): what the outbox body is built from, before the batch.
    pub fn applied_to(&self, row: &OrderRow, now: i64) -> OrderRow {
        OrderRow {
            status: self.to,
            paid_amount_minor: self.paid_minor.or(row.paid_amount_minor),
            refund_amount_minor: self.refund_minor.or(row.refund_amount_minor),
            fee_minor: self.fee_minor.or(row.fee_minor),
            late_payment: row.late_payment.max(i64::from(self.late_payment)),
            updated_at: now,
            status_seq: row.status_seq + 1,
            refund_count: self.refund_count.or(row.refund_count),
            merchant_seq: row.merchant_seq + i64::from(row.merchant_order_no.is_none()),
            ..row.clone()
        }
    }
}

/// The D1 store.
#[derive(Debug)]
pub struct Store {
    /// Shard 0 first; never empty.
    shards: Vec<D1Database>,
    trips: RoundTrips,
}

fn num(v: i64) -> JsValue {
    // D1 binds JS numbers; every value here (ms times, minor units) is far below 2^53.
    JsValue::from_f64(v as f64)
}

fn opt_num(v: Option<i64>) -> JsValue {
    v.map_or(JsValue::NULL, num)
}

fn text(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn opt_text(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn db_err(what: &str) -> impl Fn(worker::Error) -> EdgeError + '_ {
    move |e| EdgeError::Storage(format!("{what}: {e}"))
}

/// Every attempt of the merchant order `?1`, by attempt number.
const ATTEMPTS: &str =
    "SELECT * FROM orders WHERE order_no = ?1 OR merchant_order_no = ?1 ORDER BY attempt";
/// Every attempt of the merchant order that the attempt `?1` belongs to, by attempt number
/// (empty when `?1` doesn't exist). `{only}` is a further condition on reading at all.
macro_rules! family {
    ($only:literal) => {
        concat!(
            "SELECT o.* FROM orders o, (SELECT COALESCE(merchant_order_no, order_no) AS no FROM orders WHERE order_no = ?1",
            $only,
            ") m WHERE o.order_no = m.no OR o.merchant_order_no = m.no ORDER BY o.attempt"
        )
    };
}
/// A status change of the row `?1` (`?3`..`?9`, see [`status_args`]; `status_seq` raised),
/// without its `WHERE`.
const SET_STATUS: &str = "UPDATE orders SET status = ?3, paid_amount_minor = COALESCE(?4, paid_amount_minor), \
     refund_amount_minor = COALESCE(?5, refund_amount_minor), fee_minor = COALESCE(?6, fee_minor), \
     late_payment = MAX(late_payment, ?7), updated_at = ?8, status_seq = status_seq + 1, \
     refund_count = COALESCE(?9, refund_count)";
/// Raises the merchant order's version along with a status change of its first attempt.
const AND_MERCHANT_SEQ: &str = ", merchant_seq = merchant_seq + 1";

/// `?1`..`?9` of [`SET_STATUS`]: the order, the `status_seq` it must have, the change.
fn status_args(order_no: &str, change: &StatusChange, now: i64) -> Vec<JsValue> {
    vec![
        text(order_no),
        num(change.seq),
        num(change.to),
        opt_num(change.paid_minor),
        opt_num(change.refund_minor),
        opt_num(change.fee_minor),
        num(i64::from(change.late_payment)),
        num(now),
        opt_num(change.refund_count),
    ]
}
/// Inserts an event only when the statement before it (in the same batch) changed a row.
const EVENT_IF_CHANGED: &str = "INSERT INTO order_events (order_no, at, source, outcome, status_from, status_to, detail) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE changes() = 1";
/// Inserts an event.
const EVENT: &str = "INSERT INTO order_events (order_no, at, source, outcome, status_from, status_to, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn event_args(event: &NewEvent<'_>, now: i64) -> [JsValue; 7] {
    [
        opt_text(event.order_no),
        num(now),
        text(event.source.as_str()),
        text(event.outcome.as_str()),
        opt_num(event.status_from),
        opt_num(event.status_to),
        opt_text(event.detail.as_deref()),
    ]
}

/// The `webhook`/`enqueued` event of an outbox row written with a change to `status`.
fn enqueued<'a>(order_no: &'a str, status: i64, id: &str, kind: &str) -> NewEvent<'a> {
    NewEvent {
        order_no: Some(order_no),
        source: Source::Webhook,
        outcome: Outcome::Enqueued,
        status_from: None,
        status_to: Some(status),
        detail: Some(format!("{id} {kind}")),
    }
}

fn changed(result: &D1Result, what: &str) -> Result<usize, EdgeError> {
    Ok(result
        .meta()
        .map_err(db_err(what))?
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// The shard (`0..shards`) of the order `order_no`: every attempt of a merchant order, and
/// everything written about it, lives on the shard of its merchant order number (attempt 1's
/// number; a derived `<no>__<n>` counts as `<no>`). The shard is the first 8 bytes of the
/// SHA-256 of that number (UTF-8), read big-endian, modulo `shards`. Fixed: the same `shards`
/// always gives the same shard, and a different `shards` moves most orders (resharding is not
/// supported: `D1_SHARDS` is chosen once).
pub fn shard_of(order_no: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let merchant = match OrderNo::parse(order_no) {
        Ok(no) => attempt::split(&no).0,
        // Never stored (numbers are checked before anything is written): any shard will do,
        // the lookup finds nothing there.
        Err(_) => return 0,
    };
    let digest = Sha256::digest(merchant.as_str().as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    // `shards` is at most 16, so both conversions are exact.
    (u64::from_be_bytes(head) % shards as u64) as usize
}

/// One shard's database, counting its round trips in the request's [`RoundTrips`].
#[derive(Debug, Clone, Copy)]
struct Db<'a> {
    db: &'a D1Database,
    trips: &'a RoundTrips,
}

impl Db<'_> {
    fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, EdgeError> {
        self.db.prepare(sql).bind(args).map_err(db_err("bind"))
    }

    async fn run(&self, what: &str, statement: D1PreparedStatement) -> Result<D1Result, EdgeError> {
        self.trips.count_d1();
        statement.run().await.map_err(db_err(what))
    }

    async fn first<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        statement: D1PreparedStatement,
    ) -> Result<Option<T>, EdgeError> {
        self.trips.count_d1();
        statement.first::<T>(None).await.map_err(db_err(what))
    }

    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        statement: D1PreparedStatement,
    ) -> Result<Vec<T>, EdgeError> {
        self.trips.count_d1();
        statement
            .all()
            .await
            .map_err(db_err(what))?
            .results::<T>()
            .map_err(db_err(what))
    }

    /// One round trip, one transaction: every statement or none.
    async fn batch(
        &self,
        what: &str,
        statements: Vec<D1PreparedStatement>,
    ) -> Result<Vec<D1Result>, EdgeError> {
        self.trips.count_d1();
        self.db.batch(statements).await.map_err(db_err(what))
    }

    async fn changes(&self, what: &str, sql: &str, args: &[JsValue]) -> Result<usize, EdgeError> {
        let result = self.run(what, self.stmt(sql, args)?).await?;
        changed(&result, what)
    }
}

impl Store {
    /// Wraps the shard databases (shard 0 = binding `DB`, then `DB_1` ..; at least one); their
    /// round trips are counted in `trips`.
    pub fn new(shards: Vec<D1Database>, trips: RoundTrips) -> Result<Self, EdgeError> {
        if shards.is_empty() {
            return Err(EdgeError::Storage("no D1 database".into()));
        }
        Ok(Self { shards, trips })
    }

    fn db(&self, shard: usize) -> Db<'_> {
        Db {
            db: &self.shards[shard],
            trips: &self.trips,
        }
    }

    /// The shard holding the order `order_no` (see [`shard_of`]).
    fn on(&self, order_no: &str) -> Db<'_> {
        self.db(shard_of(order_no, self.shards.len()))
    }

    /// Runs `read` on every shard at once (one round trip each); the answers in shard order.
    async fn each_shard<'s, R, F, Fut>(&'s self, read: F) -> Result<Vec<R>, EdgeError>
    where
        F: Fn(Db<'s>) -> Fut,
        Fut: std::future::Future<Output = Result<R, EdgeError>>,
    {
        try_join_all((0..self.shards.len()).map(|shard| read(self.db(shard)))).await
    }

    /// [`Store::each_shard`] for rows: every shard's, concatenated in shard order.
    async fn on_every<'s, T, F, Fut>(&'s self, read: F) -> Result<Vec<T>, EdgeError>
    where
        F: Fn(Db<'s>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, EdgeError>>,
    {
        Ok(self.each_shard(read).await?.into_iter().flatten().collect())
    }

    /// [`Store::each_shard`] for a lookup at most one shard can answer (a unique key that says
    /// nothing about its shard): that answer.
    async fn on_any<'s, T, F, Fut>(&'s self, read: F) -> Result<Option<T>, EdgeError>
    where
        F: Fn(Db<'s>) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, EdgeError>>,
    {
        Ok(self.each_shard(read).await?.into_iter().flatten().next())
    }

    /// Inserts a new order in phase "creating" (lease until `lease_until`) with its first
    /// client-secret hash and its `create`/`inserted` event, in one batch. `false` (and nothing
    /// written) when the order number exists already.
    pub async fn insert_creating(
        &self,
        order: NewOrder<'_>,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, EdgeError> {
        let db = self.on(order.order_no);
        let event = NewEvent {
            order_no: Some(order.order_no),
            source: Source::Create,
            outcome: Outcome::Inserted,
            status_from: None,
            status_to: Some(OrderStatus::Pending.code()),
            detail: None,
        };
        let results = db
            .batch(
                "insert order",
                vec![
                    db.stmt(
                        "INSERT INTO orders (order_no, amount_minor, currency, merchant_id, status, creating_until, created_at, updated_at, live_until) \
                         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?6, 0) ON CONFLICT(order_no) DO NOTHING",
                        &[
                            text(order.order_no),
                            num(order.amount.minor()),
                            text(order.currency.code()),
                            num(order.merchant_id),
                            num(lease_until),
                            num(now),
                        ],
                    )?,
                    db.stmt(
                        "INSERT INTO client_secrets (order_no, secret_hash, created_at) SELECT ?1, ?2, ?3 WHERE changes() = 1",
                        &[text(order.order_no), text(order.secret_hash), num(now)],
                    )?,
                    db.stmt(EVENT_IF_CHANGED, &event_args(&event, now))?,
                ],
            )
            .await?;
        match results.first() {
            Some(result) => Ok(changed(result, "insert order")? == 1),
            None => Err(EdgeError::Storage("insert order: no result".into())),
        }
    }

    /// One order.
    pub async fn order(&self, order_no: &str) -> Result<Option<OrderRow>, EdgeError> {
        let db = self.on(order_no);
        db.first(
            "select order",
            db.stmt(
                "SELECT * FROM orders WHERE order_no = ?1",
                &[text(order_no)],
            )?,
        )
        .await
    }

    /// Every attempt of a merchant order (by attempt number; empty when it doesn't exist) and
    /// every client-secret hash it has, in one round trip.
    pub async fn attempts_and_secrets(
        &self,
        order_no: &str,
    ) -> Result<(Vec<OrderRow>, Vec<String>), EdgeError> {
        let db = self.on(order_no);
        #[derive(Deserialize)]
        struct Hash {
            secret_hash: String,
        }
        let results = db
            .batch(
                "select order and secrets",
                vec![
                    db.stmt(ATTEMPTS, &[text(order_no)])?,
                    db.stmt(
                        "SELECT secret_hash FROM client_secrets WHERE order_no = ?1",
                        &[text(order_no)],
                    )?,
                ],
            )
            .await?;
        let [orders, hashes] = results.as_slice() else {
            return Err(EdgeError::Storage(
                "select order and secrets: wrong result count".into(),
            ));
        };
        let rows = orders.results::<OrderRow>().map_err(db_err("read order"))?;
        let hashes: Vec<Hash> = hashes.results().map_err(db_err("read secrets"))?;
        Ok((rows, hashes.into_iter().map(|h| h.secret_hash).collect()))
    }

    /// Every attempt of the merchant order `order_no` (as [`Store::attempts`]), after noting
    /// on its row that a live-events stream may be open until `until_ms`, in one round trip.
    /// A change reads it back from its own `UPDATE … RETURNING` (see `live::notify`): either
    /// that change came first and this read sees it, or it sees the stream.
    pub async fn attempts_for_stream(
        &self,
        order_no: &str,
        until_ms: i64,
    ) -> Result<Vec<OrderRow>, EdgeError> {
        let db = self.on(order_no);
        let results = db
            .batch(
                "open stream",
                vec![
                    db.stmt(
                        "UPDATE orders SET live_until = MAX(live_until, ?2) WHERE order_no = ?1",
                        &[text(order_no), num(until_ms)],
                    )?,
                    db.stmt(ATTEMPTS, &[text(order_no)])?,
                ],
            )
            .await?;
        match results.get(1) {
            Some(result) => result
                .results::<OrderRow>()
                .map_err(db_err("read attempts")),
            None => Err(EdgeError::Storage("open stream: no result".into())),
        }
    }

    /// Every attempt of a merchant order, by attempt number (empty when it doesn't exist).
    pub async fn attempts(&self, merchant_order_no: &str) -> Result<Vec<OrderRow>, EdgeError> {
        let db = self.on(merchant_order_no);
        db.all(
            "select attempts",
            db.stmt(ATTEMPTS, &[text(merchant_order_no)])?,
        )
        .await
    }

    /// The merchant order of `row` as its attempts make it: `row` alone when it is the only
    /// attempt (no round trip), else every attempt read again.
    pub async fn siblings(&self, row: &OrderRow) -> Result<Vec<OrderRow>, EdgeError> {
        if row.merchant_order_no.is_none() && row.attempts <= 1 {
            return Ok(vec![row.clone()]);
        }
        self.attempts(row.merchant_no()).await
    }

    /// Inserts attempt `attempt` (its TrustPay number `order_no`) of the merchant order whose
    /// first attempt is `first`, in phase "creating" (lease until `lease_until`), with its
    /// `create`/`inserted` event, and raises the first attempt's counter, in one batch.
    /// `false` (and nothing written) when that attempt exists already: a concurrent request
    /// won.
    pub async fn insert_attempt(
        &self,
        first: &OrderRow,
        order_no: &str,
        attempt: u32,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, EdgeError> {
        let db = self.on(&first.order_no);
        let event = NewEvent {
            order_no: Some(order_no),
            source: Source::Create,
            outcome: Outcome::Inserted,
            status_from: None,
            status_to: Some(OrderStatus::Pending.code()),
            detail: Some(format!("attempt {attempt} of {}", first.order_no)),
        };
        let results = db
            .batch(
                "insert attempt",
                vec![
                    db.stmt(
                        // Never once money arrived on any attempt (a late callback may have
                        // landed since the caller decided): checked in the insert itself.
                        "INSERT INTO orders (order_no, amount_minor, currency, merchant_id, status, creating_until, created_at, updated_at, merchant_order_no, attempt, live_until) \
                         SELECT ?1, ?2, ?3, ?4, 1, ?5, ?6, ?6, ?7, ?8, 0 WHERE NOT EXISTS \
                         (SELECT 1 FROM orders WHERE (order_no = ?7 OR merchant_order_no = ?7) AND status IN (5, 6, 7, 8, 9)) \
                         ON CONFLICT DO NOTHING",
                        &[
                            text(order_no),
                            num(first.amount_minor),
                            text(&first.currency),
                            num(first.merchant_id),
                            num(lease_until),
                            num(now),
                            text(&first.order_no),
                            num(i64::from(attempt)),
                        ],
                    )?,
                    db.stmt(EVENT_IF_CHANGED, &event_args(&event, now))?,
                    db.stmt(
                        // A new attempt changes the merchant order: its version goes up.
                        "UPDATE orders SET attempts = MAX(attempts, ?2), merchant_seq = merchant_seq + 1 WHERE order_no = ?1 AND changes() = 1",
                        &[text(&first.order_no), num(i64::from(attempt))],
                    )?,
                ],
            )
            .await?;
        match results.first() {
            Some(result) => Ok(changed(result, "insert attempt")? == 1),
            None => Err(EdgeError::Storage("insert attempt: no result".into())),
        }
    }

    /// Takes over creation of an order nobody is creating (lease expired or released).
    pub async fn claim_creation(
        &self,
        order_no: &str,
        seen_until: i64,
        lease_until: i64,
    ) -> Result<bool, EdgeError> {
        let db = self.on(order_no);
        let n = db
            .changes(
                "claim creation",
                "UPDATE orders SET creating_until = ?3 WHERE order_no = ?1 AND pay_url IS NULL AND creating_until = ?2",
                &[text(order_no), num(seen_until), num(lease_until)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Gives up the creation lease `lease_until` (TrustPay failed) so a retry can take over at
    /// once; nothing when another request holds the lease by now.
    pub async fn release_creation(
        &self,
        order_no: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        db.changes(
            "release creation",
            "UPDATE orders SET creating_until = 0, updated_at = ?2 WHERE order_no = ?1 AND pay_url IS NULL AND creating_until = ?3",
            &[text(order_no), num(now), num(lease_until)],
        )
        .await
        .map(|_| ())
    }

    /// Records TrustPay's pay page (creation done) and the `create`/`created` event in one
    /// batch, if this request still holds the creation lease `lease_until` (and the number
    /// wasn't refused meanwhile); the order as it is now, `None` when the lease had passed to
    /// another request (that one finishes the creation).
    pub async fn set_created(
        &self,
        order_no: &str,
        pay_url: &str,
        platform_order_no: Option<&str>,
        lease_until: i64,
        now: i64,
    ) -> Result<Option<OrderRow>, EdgeError> {
        let db = self.on(order_no);
        let event = NewEvent {
            order_no: Some(order_no),
            source: Source::Create,
            outcome: Outcome::Created,
            status_from: None,
            status_to: Some(OrderStatus::Pending.code()),
            detail: None,
        };
        let results = db
            .batch(
                "set created",
                vec![
                    db.stmt(
                        "UPDATE orders SET pay_url = ?2, platform_order_no = COALESCE(?3, platform_order_no), creating_until = 0, updated_at = ?4 \
                         WHERE order_no = ?1 AND creating_until = ?5 AND create_refused IS NULL RETURNING *",
                        &[
                            text(order_no),
                            text(pay_url),
                            opt_text(platform_order_no),
                            num(now),
                            num(lease_until),
                        ],
                    )?,
                    db.stmt(EVENT_IF_CHANGED, &event_args(&event, now))?,
                ],
            )
            .await?;
        match results.first() {
            Some(result) => Ok(result
                .results::<OrderRow>()
                .map_err(db_err("read created order"))?
                .into_iter()
                .next()),
            None => Err(EdgeError::Storage("set created: no result".into())),
        }
    }

    /// Stores a client-secret hash for the order.
    pub async fn add_client_secret(
        &self,
        order_no: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        db.changes(
            "add client secret",
            "INSERT INTO client_secrets (order_no, secret_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            &[text(order_no), text(secret_hash), num(now)],
        )
        .await
        .map(|_| ())
    }

    /// Every client-secret hash of the order.
    pub async fn client_secret_hashes(&self, order_no: &str) -> Result<Vec<String>, EdgeError> {
        let db = self.on(order_no);
        #[derive(Deserialize)]
        struct Row {
            secret_hash: String,
        }
        let rows: Vec<Row> = db
            .all(
                "select secrets",
                db.stmt(
                    "SELECT secret_hash FROM client_secrets WHERE order_no = ?1",
                    &[text(order_no)],
                )?,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.secret_hash).collect())
    }

    /// Applies a status change if the row is still at `change.seq` and its merchant order
    /// still at `merchant.seq` (raising both), in one batch with its event and (when given)
    /// the merchant notification's outbox row and `webhook`/`enqueued` event: all of them when
    /// the conditional update won, none when it lost. `Some(row)` (the order after the change)
    /// when it won, `None` when someone else changed the row or another attempt of its merchant
    /// order first (re-read and decide again).
    pub async fn change_status_numbered(
        &self,
        order_no: &str,
        change: StatusChange,
        merchant: MerchantSeq<'_>,
        event: &NewEvent<'_>,
        outbox: Option<&NewOutbox>,
        now: i64,
    ) -> Result<Option<OrderRow>, EdgeError> {
        let db = self.on(order_no);
        let mut args = status_args(order_no, &change, now);
        let mut statements = Vec::new();
        if merchant.first == order_no {
            // The merchant order's own row: one statement checks and raises both versions.
            args.push(num(merchant.seq));
            statements.push(db.stmt(
                &format!(
                    "{SET_STATUS}{AND_MERCHANT_SEQ} WHERE order_no = ?1 AND status_seq = ?2 AND merchant_seq = ?10 AND create_refused IS NULL RETURNING *"
                ),
                &args,
            )?);
        } else {
            // Another attempt: its merchant order's version first; the change only if that
            // still held. (A raised version whose change then lost costs others a re-read.)
            statements.push(db.stmt(
                "UPDATE orders SET merchant_seq = merchant_seq + 1 WHERE order_no = ?1 AND merchant_seq = ?2",
                &[text(merchant.first), num(merchant.seq)],
            )?);
            statements.push(db.stmt(
                &format!(
                    "{SET_STATUS} WHERE order_no = ?1 AND status_seq = ?2 AND create_refused IS NULL AND changes() = 1 RETURNING *"
                ),
                &args,
            )?);
        }
        let changed_at = statements.len() - 1;
        statements.push(db.stmt(EVENT_IF_CHANGED, &event_args(event, now))?);
        if let Some(outbox) = outbox {
            statements.push(db.stmt(
                "INSERT INTO webhook_outbox (id, order_no, kind, body, state, attempts, next_attempt_at, created_at, updated_at) \
                 SELECT ?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5 WHERE changes() = 1",
                &[
                    text(&outbox.id),
                    text(order_no),
                    text(&outbox.kind),
                    text(&outbox.body),
                    num(now),
                ],
            )?);
            statements.push(db.stmt(
                EVENT_IF_CHANGED,
                &event_args(
                    &enqueued(order_no, change.to, &outbox.id, &outbox.kind),
                    now,
                ),
            )?);
        }
        let results = db.batch("change status", statements).await?;
        match results.get(changed_at) {
            Some(result) => Ok(result
                .results::<OrderRow>()
                .map_err(db_err("read changed order"))?
                .into_iter()
                .next()),
            None => Err(EdgeError::Storage("change status: no result".into())),
        }
    }

    /// A status change decided on an assumed row: the order as creating it left it (pending,
    /// `status_seq` 0, nothing paid or refunded, created at TrustPay with its pay page stored
    /// and not refused, the only attempt of its
    /// merchant order) with this merchant and amount. One batch: the change, conditional on
    /// every one of those facts, with its event and outbox row, as
    /// [`Store::change_status_numbered`] writes them; and, only when the order was not as
    /// assumed, a read of every attempt of its merchant order. So a first callback for a fresh
    /// order costs one round trip, and anything else one round trip more than deciding on
    /// what it read.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_if_fresh(
        &self,
        order_no: &str,
        merchant_id: i64,
        amount_minor: i64,
        change: StatusChange,
        event: &NewEvent<'_>,
        outbox: Option<&FreshOutbox>,
        now: i64,
    ) -> Result<Fresh, EdgeError> {
        let db = self.on(order_no);
        let fresh = StatusChange { seq: 0, ..change };
        let mut args = status_args(order_no, &fresh, now);
        args.extend([
            num(merchant_id),
            num(amount_minor),
            num(OrderStatus::Pending.code()),
        ]);
        // Only rows in a currency there is a body for (all supported ones): any other
        // misses and is decided on what is read.
        let currencies = outbox.map_or_else(String::new, |outbox| {
            let codes: Vec<String> = outbox
                .bodies
                .iter()
                .map(|(code, _)| format!("'{code}'"))
                .collect();
            format!(" AND currency IN ({})", codes.join(", "))
        });
        let mut statements = vec![db.stmt(
            &format!(
                "{SET_STATUS}{AND_MERCHANT_SEQ} WHERE order_no = ?1 AND status_seq = ?2 \
                 AND merchant_id = ?10 AND amount_minor = ?11 AND status = ?12{currencies} \
                 AND paid_amount_minor IS NULL AND refund_amount_minor IS NULL AND refund_count IS NULL \
                 AND create_refused IS NULL AND pay_url IS NOT NULL AND merchant_order_no IS NULL AND attempts = 1 RETURNING *"
            ),
            &args,
        )?];
        statements.push(db.stmt(EVENT_IF_CHANGED, &event_args(event, now))?);
        if let Some(outbox) = outbox {
            // The body for the row's currency.
            let mut choose = String::from("CASE currency");
            let mut args = vec![
                text(&outbox.id),
                text(order_no),
                text(&outbox.kind),
                num(now),
            ];
            for (code, body) in &outbox.bodies {
                let n = args.len();
                choose.push_str(&format!(" WHEN ?{} THEN ?{}", n + 1, n + 2));
                args.extend([text(code), text(body)]);
            }
            choose.push_str(" END");
            statements.push(db.stmt(
                &format!(
                    "INSERT INTO webhook_outbox (id, order_no, kind, body, state, attempts, next_attempt_at, created_at, updated_at) \
                     SELECT ?1, ?2, ?3, {choose}, 'pending', 0, ?4, ?4, ?4 FROM orders WHERE order_no = ?2 AND changes() = 1"
                ),
                &args,
            )?);
            statements.push(db.stmt(
                EVENT_IF_CHANGED,
                &event_args(
                    &enqueued(order_no, change.to, &outbox.id, &outbox.kind),
                    now,
                ),
            )?);
        }
        // The last statement wrote a row exactly when the change won.
        statements.push(db.stmt(family!(" AND changes() = 0"), &[text(order_no)])?);
        let results = db.batch("change if fresh", statements).await?;
        let (Some(first), Some(last)) = (results.first(), results.last()) else {
            return Err(EdgeError::Storage("change if fresh: no result".into()));
        };
        let changed = first
            .results::<OrderRow>()
            .map_err(db_err("read changed order"))?
            .into_iter()
            .next();
        Ok(match changed {
            Some(row) => Fresh::Changed(Box::new(row)),
            None => Fresh::Read(
                last.results::<OrderRow>()
                    .map_err(db_err("read attempts"))?,
            ),
        })
    }

    /// Every attempt of the merchant order that the attempt `order_no` belongs to, by attempt
    /// number, in one statement (empty when `order_no` doesn't exist).
    pub async fn order_with_attempts(&self, order_no: &str) -> Result<Vec<OrderRow>, EdgeError> {
        let db = self.on(order_no);
        db.all("select attempts", db.stmt(family!(""), &[text(order_no)])?)
            .await
    }

    /// The order whose `order_no` or TrustPay `platform_order_no` is `id` (ours first), from
    /// every shard (TrustPay's number says nothing about the shard).
    pub async fn order_by_any_no(&self, id: &str) -> Result<Option<OrderRow>, EdgeError> {
        let found = self
            .on_every(|db| async move {
                let row: Option<OrderRow> = db
                    .first(
                        "select order by any number",
                        db.stmt(
                            "SELECT * FROM orders WHERE order_no = ?1 OR platform_order_no = ?1 \
                             ORDER BY (order_no = ?1) DESC LIMIT 1",
                            &[text(id)],
                        )?,
                    )
                    .await?;
                Ok(Vec::from_iter(row))
            })
            .await?;
        let ours = found.iter().position(|row| row.order_no == id);
        Ok(found.into_iter().nth(ours.unwrap_or(0)))
    }

    /// How many events of `source` (and, when given, whose detail starts with `detail_prefix`)
    /// the order has.
    pub async fn count_events(
        &self,
        order_no: &str,
        source: Source,
        detail_prefix: Option<&str>,
    ) -> Result<i64, EdgeError> {
        let db = self.on(order_no);
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let row: Option<Count> = db
            .first(
                "count events",
                db.stmt(
                    "SELECT COUNT(*) AS n FROM order_events WHERE order_no = ?1 AND source = ?2 \
                     AND (?3 IS NULL OR substr(detail, 1, length(?3)) = ?3)",
                    &[
                        text(order_no),
                        text(source.as_str()),
                        opt_text(detail_prefix),
                    ],
                )?,
            )
            .await?;
        Ok(row.map_or(0, |r| r.n))
    }

    /// Pending and refunding orders with a pay page whose last change and last TrustPay query
    /// are both at or before `older_than` (ms), least recently queried first, at most
    /// `limit`: the
    /// reconciliation cron's work list. Each is still claimed ([`Store::claim_query`]) before
    /// it is queried, so overlapping runs and status refreshes never query one order twice.
    pub async fn reconcile_candidates(
        &self,
        older_than: i64,
        limit: u32,
    ) -> Result<Vec<OrderRow>, EdgeError> {
        let mut rows: Vec<OrderRow> = self
            .on_every(|db| async move {
                db.all(
                    "select reconcile candidates",
                    db.stmt(
                        "SELECT * FROM orders WHERE status IN (1, 9) AND pay_url IS NOT NULL AND updated_at <= ?1 \
                         AND (last_query_at IS NULL OR last_query_at <= ?1) \
                         ORDER BY COALESCE(last_query_at, 0), updated_at LIMIT ?2",
                        &[num(older_than), num(i64::from(limit))],
                    )?,
                )
                .await
            })
            .await?;
        // Each shard's list is in this order already; merged, the same order over all.
        rows.sort_by_key(|row| (row.last_query_at.unwrap_or(0), row.updated_at));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Claims the right to query TrustPay for this order now: at most once per period.
    pub async fn claim_query(
        &self,
        order_no: &str,
        now: i64,
        not_after: i64,
    ) -> Result<bool, EdgeError> {
        let db = self.on(order_no);
        let n = db
            .changes(
                "claim query",
                "UPDATE orders SET last_query_at = ?2 WHERE order_no = ?1 AND (last_query_at IS NULL OR last_query_at <= ?3)",
                &[text(order_no), num(now), num(not_after)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Appends an event (on its order's shard; one without an order on shard 0).
    pub async fn append_event(&self, event: NewEvent<'_>, now: i64) -> Result<(), EdgeError> {
        let db = event.order_no.map_or_else(|| self.db(0), |no| self.on(no));
        db.changes("append event", EVENT, &event_args(&event, now))
            .await
            .map(|_| ())
    }

    /// The order's events, oldest first.
    pub async fn events(&self, order_no: &str) -> Result<Vec<EventRow>, EdgeError> {
        let db = self.on(order_no);
        db.all(
            "select events",
            db.stmt(
                "SELECT id, at, source, outcome, status_from, status_to, detail FROM order_events WHERE order_no = ?1 ORDER BY id",
                &[text(order_no)],
            )?,
        )
        .await
    }

    /// Reserves a refund of `amount` atomically: the row is inserted only if the order can
    /// still give that much back (its paid amount, or its amount when TrustPay reported none,
    /// minus the larger of TrustPay's refunded total and every refund reserved so far). One
    /// statement, so two concurrent refunds can't both pass the check.
    ///
    /// With shards, the refund number's key on the order's shard can't keep a number unique
    /// (another order's refund may be on another shard), so the number is first claimed for
    /// the order on the shard the number itself hashes to ([`shard_of`]; table
    /// `refund_numbers`): one statement, so of two orders reserving one number at once only
    /// one gets it, the other [`Reserved::Taken`]. Claims are never deleted (a delete could
    /// drop the claim a concurrent retry of the same order relies on); a claim older than
    /// [`REFUND_CLAIM_LEASE_MS`] whose order has no refund under the number (TrustPay refused
    /// it, the amount was too high, the request died in between) is taken over by the next
    /// order that asks, as one database would then accept it.
    pub async fn reserve_refund(
        &self,
        refund: NewRefund<'_>,
        now: i64,
    ) -> Result<Reserved, EdgeError> {
        if let Some(claims) = self.refund_claims(refund.merchant_refund_no) {
            let claim: Option<Claim> = claims
                .first(
                    "claim refund number",
                    claims.stmt(
                        "INSERT INTO refund_numbers (merchant_refund_no, order_no, created_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (merchant_refund_no) DO UPDATE SET order_no = refund_numbers.order_no \
                         RETURNING order_no, created_at",
                        &[
                            text(refund.merchant_refund_no),
                            text(refund.order_no),
                            num(now),
                        ],
                    )?,
                )
                .await?;
            let ours = match claim {
                Some(claim) if claim.order_no == refund.order_no => true,
                Some(claim) => self.take_over(claims, &refund, &claim, now).await?,
                None => false,
            };
            if !ours {
                return Ok(Reserved::Taken);
            }
        }
        let db = self.on(refund.order_no);
        let n = db
            .changes(
                "reserve refund",
                "INSERT INTO refunds (merchant_refund_no, order_no, amount_minor, reason, created_at, idempotency_key) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 FROM orders o WHERE o.order_no = ?2 \
                 AND COALESCE(o.paid_amount_minor, o.amount_minor) - MAX(COALESCE(o.refund_amount_minor, 0), \
                     (SELECT COALESCE(SUM(r.amount_minor), 0) FROM refunds r WHERE r.order_no = ?2)) >= ?3 \
                 ON CONFLICT DO NOTHING",
                &[
                    text(refund.merchant_refund_no),
                    text(refund.order_no),
                    num(refund.amount.minor()),
                    text(refund.reason),
                    num(now),
                    opt_text(refund.idempotency_key),
                ],
            )
            .await?;
        if n == 1 {
            return Ok(Reserved::Reserved);
        }
        Ok(match refund_on(db, refund.merchant_refund_no).await? {
            Some(existing) => Reserved::Exists(existing),
            None => Reserved::Exceeds,
        })
    }

    /// Takes another order's claim on a refund number over when it is only a leftover: older
    /// than [`REFUND_CLAIM_LEASE_MS`] (so no request of that order is between its claim and its
    /// reservation any more) and with no refund of that order under the number. One
    /// conditional statement, so of two orders taking it over at once only one gets it.
    async fn take_over(
        &self,
        claims: Db<'_>,
        refund: &NewRefund<'_>,
        claim: &Claim,
        now: i64,
    ) -> Result<bool, EdgeError> {
        if now - claim.created_at < REFUND_CLAIM_LEASE_MS
            || refund_on(self.on(&claim.order_no), refund.merchant_refund_no)
                .await?
                .is_some()
        {
            return Ok(false);
        }
        let n = claims
            .changes(
                "take over refund number",
                "UPDATE refund_numbers SET order_no = ?2, created_at = ?3 \
                 WHERE merchant_refund_no = ?1 AND order_no = ?4 AND created_at = ?5",
                &[
                    text(refund.merchant_refund_no),
                    text(refund.order_no),
                    num(now),
                    text(&claim.order_no),
                    num(claim.created_at),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// The shard holding refund-number claims for `merchant_refund_no`; `None` with one shard
    /// (the refunds table's key decides there).
    fn refund_claims(&self, merchant_refund_no: &str) -> Option<Db<'_>> {
        (self.shards.len() > 1).then(|| self.db(shard_of(merchant_refund_no, self.shards.len())))
    }

    /// One refund by its number, whichever order (and shard) it belongs to. A number is
    /// unique per shard by its key, and across shards by its claim ([`Store::reserve_refund`]).
    pub async fn refund(
        &self,
        merchant_refund_no: &str,
    ) -> Result<Option<StoredRefund>, EdgeError> {
        self.on_any(|db| refund_on(db, merchant_refund_no)).await
    }

    /// Stores the answer a refund request got, for retries with the same key.
    pub async fn set_refund_answer(
        &self,
        order_no: &str,
        merchant_refund_no: &str,
        answer: &str,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        db.changes(
            "refund answer",
            "UPDATE refunds SET answer = ?2 WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no), text(answer)],
        )
        .await
        .map(|_| ())
    }

    /// Marks an order TrustPay will never create for us (`why`, e.g. `order_number_taken`):
    /// later creates answer that at once, and nothing about it is ever applied. Only by the
    /// holder of the creation lease `lease_until`: `false` (nothing written) when it had passed
    /// to another request of ours, whose own create is then what TrustPay found.
    pub async fn refuse_creation(
        &self,
        order_no: &str,
        why: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, EdgeError> {
        let db = self.on(order_no);
        let n = db
            .changes(
                "refuse creation",
                "UPDATE orders SET create_refused = ?2, creating_until = 0, updated_at = ?3 \
                 WHERE order_no = ?1 AND pay_url IS NULL AND creating_until = ?4",
                &[text(order_no), text(why), num(now), num(lease_until)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Stores TrustPay's answer to a refund of the order.
    pub async fn set_refund_status(
        &self,
        order_no: &str,
        merchant_refund_no: &str,
        status: Option<i64>,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        db.changes(
            "refund status",
            "UPDATE refunds SET gateway_status = ?2 WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no), opt_num(status)],
        )
        .await
        .map(|_| ())
    }

    /// Forgets a refund of the order TrustPay refused, so the number can be reused (with
    /// shards, its claim stays the order's until another order takes it over: see
    /// [`Store::reserve_refund`]).
    pub async fn delete_refund(
        &self,
        order_no: &str,
        merchant_refund_no: &str,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        db.changes(
            "delete refund",
            "DELETE FROM refunds WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no)],
        )
        .await
        .map(|_| ())
    }

    /// Total of the order's requested refunds, minor units.
    pub async fn refunds(&self, order_no: &str) -> Result<Vec<RefundRow>, EdgeError> {
        let db = self.on(order_no);
        db.all(
            "select refunds",
            db.stmt(
                "SELECT merchant_refund_no, amount_minor, reason, gateway_status, created_at FROM refunds WHERE order_no = ?1 ORDER BY created_at",
                &[text(order_no)],
            )?,
        )
        .await
    }

    /// Claims the next delivery attempt of an outbox row: only a pending row whose attempt is
    /// due (`next_attempt_at <= now + slack`) is claimed, its attempt count raised and its next
    /// attempt pushed to `lease_until` (so a duplicate message does not post it concurrently,
    /// and a consumer that dies mid-attempt leaves it to the cron). `None`: not due, not
    /// pending, or unknown.
    pub async fn claim_delivery(
        &self,
        order_no: &str,
        id: &str,
        due_by: i64,
        lease_until: i64,
        now: i64,
    ) -> Result<Option<ClaimedDelivery>, EdgeError> {
        let db = self.on(order_no);
        db.first(
            "claim delivery",
            db.stmt(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?3, updated_at = ?4 \
                 WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?2 \
                 RETURNING order_no, kind AS type, body, attempts",
                &[text(id), num(due_by), num(lease_until), num(now)],
            )?,
        )
        .await
    }

    /// One outbox row of the order.
    pub async fn outbox_row(
        &self,
        order_no: &str,
        id: &str,
    ) -> Result<Option<OutboxRow>, EdgeError> {
        outbox_row_on(self.on(order_no), id).await
    }

    /// One outbox row, whichever order (and shard) it belongs to.
    pub async fn find_outbox_row(&self, id: &str) -> Result<Option<OutboxRow>, EdgeError> {
        self.on_any(|db| outbox_row_on(db, id)).await
    }

    /// Records how a claimed attempt ended, with its events (about the same order), in one
    /// batch.
    pub async fn finish_delivery(
        &self,
        order_no: &str,
        id: &str,
        finished: Finished,
        result: &str,
        events: &[NewEvent<'_>],
        now: i64,
    ) -> Result<(), EdgeError> {
        let db = self.on(order_no);
        let (state, next) = match finished {
            Finished::Delivered => (OutboxState::Delivered, None),
            Finished::RetryAt(at) => (OutboxState::Pending, Some(at)),
            Finished::Dead => (OutboxState::Dead, None),
        };
        let mut statements = vec![db.stmt(
            "UPDATE webhook_outbox SET state = ?2, next_attempt_at = COALESCE(?3, next_attempt_at), \
             last_result = ?4, updated_at = ?5 WHERE id = ?1",
            &[
                text(id),
                text(state.as_str()),
                opt_num(next),
                text(result),
                num(now),
            ],
        )?];
        for event in events {
            statements.push(db.stmt(EVENT, &event_args(event, now))?);
        }
        db.batch("finish delivery", statements).await.map(|_| ())
    }

    /// The cron's pick-up: the pending rows whose attempt was due at or before `stuck_before`
    /// and that no consumer has claimed since (the message was never sent, or was lost), at
    /// most `limit`, the longest overdue first, over every shard: the same rows one database
    /// holding them all would give, however unevenly the shards hold them. Each is marked due
    /// `now` in the statement that takes it, so the next run leaves it alone for as long again;
    /// the caller sends their messages. One shard: one statement. More: each shard lists its
    /// `limit` longest overdue, the oldest `limit` of all are chosen, and each shard holding
    /// some takes those (two round trips of latency).
    pub async fn take_stuck_outbox(
        &self,
        stuck_before: i64,
        now: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>, EdgeError> {
        if let [only] = self.shards.as_slice() {
            let db = Db {
                db: only,
                trips: &self.trips,
            };
            return take_stuck_on(db, stuck_before, now, limit, None).await;
        }
        #[derive(Deserialize)]
        struct Overdue {
            id: String,
            next_attempt_at: i64,
        }
        let listed: Vec<Vec<Overdue>> = self
            .each_shard(|db| async move {
                db.all(
                    "list stuck outbox rows",
                    db.stmt(
                        "SELECT id, next_attempt_at FROM webhook_outbox \
                         WHERE state = 'pending' AND next_attempt_at <= ?1 \
                         ORDER BY next_attempt_at LIMIT ?2",
                        &[num(stuck_before), num(i64::from(limit))],
                    )?,
                )
                .await
            })
            .await?;
        // Each row is taken on the shard that listed it.
        let mut overdue: Vec<(usize, Overdue)> = listed
            .into_iter()
            .enumerate()
            .flat_map(|(shard, rows)| rows.into_iter().map(move |row| (shard, row)))
            .collect();
        overdue.sort_by_key(|(_, row)| row.next_attempt_at);
        overdue.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut by_shard: Vec<Vec<String>> = vec![Vec::new(); self.shards.len()];
        for (shard, row) in overdue {
            if let Some(ids) = by_shard.get_mut(shard) {
                ids.push(row.id);
            }
        }
        let taken = try_join_all(
            by_shard
                .iter()
                .enumerate()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(shard, ids)| {
                    take_stuck_on(
                        self.db(shard),
                        stuck_before,
                        now,
                        limit,
                        Some(ids.as_slice()),
                    )
                }),
        )
        .await?;
        Ok(taken.into_iter().flatten().collect())
    }

    /// Outbox rows in `state`, newest first, at most `limit`, from every shard.
    pub async fn outbox(
        &self,
        state: OutboxState,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, EdgeError> {
        let mut rows: Vec<OutboxRow> = self
            .on_every(|db| async move {
                db.all(
                    "select outbox",
                    db.stmt(
                        "SELECT id, order_no, kind AS type, state, attempts, next_attempt_at, last_result, created_at, updated_at \
                         FROM webhook_outbox WHERE state = ?1 ORDER BY updated_at DESC LIMIT ?2",
                        &[text(state.as_str()), num(i64::from(limit))],
                    )?,
                )
                .await
            })
            .await?;
        // Stable: one shard's rows keep their order among equal times.
        rows.sort_by_key(|row| std::cmp::Reverse(row.updated_at));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Makes an outbox row of the order pending and due now again (an admin's replay), with
    /// its event, in one batch; the row as it is now (`None`: unknown id).
    pub async fn replay_outbox(
        &self,
        order_no: &str,
        id: &str,
        event: &NewEvent<'_>,
        now: i64,
    ) -> Result<Option<OutboxRow>, EdgeError> {
        let db = self.on(order_no);
        let results = db
            .batch(
                "replay outbox row",
                vec![
                    db.stmt(
                        "UPDATE webhook_outbox SET state = 'pending', next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1 \
                         RETURNING id, order_no, kind AS type, state, attempts, next_attempt_at, last_result, created_at, updated_at",
                        &[text(id), num(now)],
                    )?,
                    db.stmt(EVENT_IF_CHANGED, &event_args(event, now))?,
                ],
            )
            .await?;
        match results.first() {
            Some(result) => Ok(result
                .results::<OutboxRow>()
                .map_err(db_err("read replayed row"))?
                .into_iter()
                .next()),
            None => Err(EdgeError::Storage("replay outbox row: no result".into())),
        }
    }
}

/// A refund number's claim (`refund_numbers`): for which order, since when (ms).
#[derive(Deserialize)]
struct Claim {
    order_no: String,
    created_at: i64,
}

/// How long a claim on a refund number holds it for its order against every other order when
/// that order has no refund under it: the moment between a claim and its reservation (two
/// statements in a row), with a wide margin. A refund number freed by TrustPay's refusal can be
/// used by another order after this.
const REFUND_CLAIM_LEASE_MS: i64 = 120_000;

/// One refund by its number, on one shard.
async fn refund_on(
    db: Db<'_>,
    merchant_refund_no: &str,
) -> Result<Option<StoredRefund>, EdgeError> {
    db.first(
        "select refund",
        db.stmt(
            "SELECT merchant_refund_no, order_no, amount_minor, idempotency_key, answer FROM refunds WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no)],
        )?,
    )
    .await
}

/// [`Store::take_stuck_outbox`] on one shard: its stuck rows (of `only` alone, when given),
/// at most `limit`, longest overdue first, each marked due `now`; (id, order number) each.
/// The condition is checked again as each row is taken, so a row a consumer claimed since it
/// was listed is left to the consumer.
async fn take_stuck_on(
    db: Db<'_>,
    stuck_before: i64,
    now: i64,
    limit: u32,
    only: Option<&[String]>,
) -> Result<Vec<(String, String)>, EdgeError> {
    #[derive(Deserialize)]
    struct Stuck {
        id: String,
        order_no: String,
    }
    let only = only
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| EdgeError::Internal(format!("stuck outbox ids: {e}")))?;
    let rows: Vec<Stuck> = db
        .all(
            "take stuck outbox rows",
            db.stmt(
                "UPDATE webhook_outbox SET next_attempt_at = ?2, updated_at = ?2 WHERE id IN \
                 (SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
                  AND (?4 IS NULL OR id IN (SELECT value FROM json_each(?4))) \
                  ORDER BY next_attempt_at LIMIT ?3) RETURNING id, order_no",
                &[
                    num(stuck_before),
                    num(now),
                    num(i64::from(limit)),
                    opt_text(only.as_deref()),
                ],
            )?,
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.order_no)).collect())
}

/// One outbox row, on one shard.
async fn outbox_row_on(db: Db<'_>, id: &str) -> Result<Option<OutboxRow>, EdgeError> {
    db.first(
        "select outbox row",
        db.stmt(
            "SELECT id, order_no, kind AS type, state, attempts, next_attempt_at, last_result, created_at, updated_at \
             FROM webhook_outbox WHERE id = ?1",
            &[text(id)],
        )?,
    )
    .await
}
