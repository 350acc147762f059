//! D1 storage of orders, client-secret hashes, refunds and the order event log.
//!
//! Every state change is one conditional statement (`... WHERE order_no = ? AND status_seq = ?`,
//! `INSERT ... ON CONFLICT DO NOTHING`, a refund reserved by `INSERT ... SELECT ... WHERE` the
//! amount is still available), and the caller learns from the changed-row count whether it
//! won. Two concurrent callbacks, creates or refunds can therefore never both win.
//! Schema: `migrations/*.sql`.

use checkout_core::codes::OrderStatus;
use checkout_core::money::{Amount, Currency};
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

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

/// The D1 store.
#[derive(Debug)]
pub struct Store {
    db: D1Database,
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

impl Store {
    /// Wraps the `DB` binding.
    pub fn new(db: D1Database) -> Self {
        Self { db }
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, EdgeError> {
        self.db.prepare(sql).bind(args).map_err(db_err("bind"))
    }

    async fn changes(&self, what: &str, sql: &str, args: &[JsValue]) -> Result<usize, EdgeError> {
        let result = self.stmt(sql, args)?.run().await.map_err(db_err(what))?;
        Ok(result
            .meta()
            .map_err(db_err(what))?
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// Inserts a new order in phase "creating" (lease until `lease_until`). `false` when the
    /// order number exists already.
    pub async fn insert_creating(
        &self,
        order_no: &str,
        amount: Amount,
        currency: Currency,
        merchant_id: i64,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, EdgeError> {
        let n = self
            .changes(
                "insert order",
                "INSERT INTO orders (order_no, amount_minor, currency, merchant_id, status, creating_until, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?6) ON CONFLICT(order_no) DO NOTHING",
                &[text(order_no), num(amount.minor()), text(currency.code()), num(merchant_id), num(lease_until), num(now)],
            )
            .await?;
        Ok(n == 1)
    }

    /// One order.
    pub async fn order(&self, order_no: &str) -> Result<Option<OrderRow>, EdgeError> {
        self.stmt(
            "SELECT * FROM orders WHERE order_no = ?1",
            &[text(order_no)],
        )?
        .first::<OrderRow>(None)
        .await
        .map_err(db_err("select order"))
    }

    /// Takes over creation of an order nobody is creating (lease expired or released).
    pub async fn claim_creation(
        &self,
        order_no: &str,
        seen_until: i64,
        lease_until: i64,
    ) -> Result<bool, EdgeError> {
        let n = self
            .changes(
                "claim creation",
                "UPDATE orders SET creating_until = ?3 WHERE order_no = ?1 AND pay_url IS NULL AND creating_until = ?2",
                &[text(order_no), num(seen_until), num(lease_until)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Gives up the creation lease (TrustPay failed) so a retry can take over at once.
    pub async fn release_creation(&self, order_no: &str, now: i64) -> Result<(), EdgeError> {
        self.changes(
            "release creation",
            "UPDATE orders SET creating_until = 0, updated_at = ?2 WHERE order_no = ?1 AND pay_url IS NULL",
            &[text(order_no), num(now)],
        )
        .await
        .map(|_| ())
    }

    /// Records TrustPay's pay page (creation done).
    pub async fn set_created(
        &self,
        order_no: &str,
        pay_url: &str,
        platform_order_no: Option<&str>,
        now: i64,
    ) -> Result<(), EdgeError> {
        self.changes(
            "set created",
            "UPDATE orders SET pay_url = ?2, platform_order_no = COALESCE(?3, platform_order_no), creating_until = 0, updated_at = ?4 WHERE order_no = ?1",
            &[text(order_no), text(pay_url), opt_text(platform_order_no), num(now)],
        )
        .await
        .map(|_| ())
    }

    /// Stores a client-secret hash for the order.
    pub async fn add_client_secret(
        &self,
        order_no: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<(), EdgeError> {
        self.changes(
            "add client secret",
            "INSERT INTO client_secrets (order_no, secret_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            &[text(order_no), text(secret_hash), num(now)],
        )
        .await
        .map(|_| ())
    }

    /// Every client-secret hash of the order.
    pub async fn client_secret_hashes(&self, order_no: &str) -> Result<Vec<String>, EdgeError> {
        #[derive(Deserialize)]
        struct Row {
            secret_hash: String,
        }
        let result = self
            .stmt(
                "SELECT secret_hash FROM client_secrets WHERE order_no = ?1",
                &[text(order_no)],
            )?
            .all()
            .await
            .map_err(db_err("select secrets"))?;
        let rows: Vec<Row> = result.results().map_err(db_err("read secrets"))?;
        Ok(rows.into_iter().map(|r| r.secret_hash).collect())
    }

    /// Applies a status change if the row is still at `change.seq`: `Some(seq)` (the order's
    /// new `status_seq`) when it won, `None` when someone else changed the row first (re-read
    /// and decide again).
    pub async fn change_status_numbered(
        &self,
        order_no: &str,
        change: StatusChange,
        now: i64,
    ) -> Result<Option<i64>, EdgeError> {
        #[derive(Deserialize)]
        struct Seq {
            status_seq: i64,
        }
        let row = self
            .stmt(
                "UPDATE orders SET status = ?3, paid_amount_minor = COALESCE(?4, paid_amount_minor), \
                 refund_amount_minor = COALESCE(?5, refund_amount_minor), fee_minor = COALESCE(?6, fee_minor), \
                 late_payment = MAX(late_payment, ?7), updated_at = ?8, status_seq = status_seq + 1, \
                 refund_count = COALESCE(?9, refund_count) \
                 WHERE order_no = ?1 AND status_seq = ?2 RETURNING status_seq",
                &[
                    text(order_no),
                    num(change.seq),
                    num(change.to),
                    opt_num(change.paid_minor),
                    opt_num(change.refund_minor),
                    opt_num(change.fee_minor),
                    num(i64::from(change.late_payment)),
                    num(now),
                    opt_num(change.refund_count),
                ],
            )?
            .first::<Seq>(None)
            .await
            .map_err(db_err("change status"))?;
        Ok(row.map(|r| r.status_seq))
    }

    /// The order whose `order_no` or TrustPay `platform_order_no` is `id` (ours first).
    pub async fn order_by_any_no(&self, id: &str) -> Result<Option<OrderRow>, EdgeError> {
        self.stmt(
            "SELECT * FROM orders WHERE order_no = ?1 OR platform_order_no = ?1 \
             ORDER BY (order_no = ?1) DESC LIMIT 1",
            &[text(id)],
        )?
        .first::<OrderRow>(None)
        .await
        .map_err(db_err("select order by any number"))
    }

    /// How many events of `source` (and, when given, whose detail starts with `detail_prefix`)
    /// the order has.
    pub async fn count_events(
        &self,
        order_no: &str,
        source: Source,
        detail_prefix: Option<&str>,
    ) -> Result<i64, EdgeError> {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let row = self
            .stmt(
                "SELECT COUNT(*) AS n FROM order_events WHERE order_no = ?1 AND source = ?2 \
                 AND (?3 IS NULL OR substr(detail, 1, length(?3)) = ?3)",
                &[
                    text(order_no),
                    text(source.as_str()),
                    opt_text(detail_prefix),
                ],
            )?
            .first::<Count>(None)
            .await
            .map_err(db_err("count events"))?;
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
        self.stmt(
            "SELECT * FROM orders WHERE status IN (1, 9) AND pay_url IS NOT NULL AND updated_at <= ?1 \
             AND (last_query_at IS NULL OR last_query_at <= ?1) \
             ORDER BY COALESCE(last_query_at, 0), updated_at LIMIT ?2",
            &[num(older_than), num(i64::from(limit))],
        )?
        .all()
        .await
        .map_err(db_err("select reconcile candidates"))?
        .results::<OrderRow>()
        .map_err(db_err("read reconcile candidates"))
    }

    /// Claims the right to query TrustPay for this order now: at most once per period.
    pub async fn claim_query(
        &self,
        order_no: &str,
        now: i64,
        not_after: i64,
    ) -> Result<bool, EdgeError> {
        let n = self
            .changes(
                "claim query",
                "UPDATE orders SET last_query_at = ?2 WHERE order_no = ?1 AND (last_query_at IS NULL OR last_query_at <= ?3)",
                &[text(order_no), num(now), num(not_after)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Appends an event.
    pub async fn append_event(&self, event: NewEvent<'_>, now: i64) -> Result<(), EdgeError> {
        self.changes(
            "append event",
            "INSERT INTO order_events (order_no, at, source, outcome, status_from, status_to, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                opt_text(event.order_no),
                num(now),
                text(event.source.as_str()),
                text(event.outcome.as_str()),
                opt_num(event.status_from),
                opt_num(event.status_to),
                opt_text(event.detail.as_deref()),
            ],
        )
        .await
        .map(|_| ())
    }

    /// The order's events, oldest first.
    pub async fn events(&self, order_no: &str) -> Result<Vec<EventRow>, EdgeError> {
        let result = self
            .stmt("SELECT id, at, source, outcome, status_from, status_to, detail FROM order_events WHERE order_no = ?1 ORDER BY id", &[text(order_no)])?
            .all()
            .await
            .map_err(db_err("select events"))?;
        result.results().map_err(db_err("read events"))
    }

    /// Reserves a refund of `amount` atomically: the row is inserted only if the order can
    /// still give that much back (its paid amount, or its amount when TrustPay reported none,
    /// minus the larger of TrustPay's refunded total and every refund reserved so far). One
    /// statement, so two concurrent refunds can't both pass the check.
    pub async fn reserve_refund(
        &self,
        refund: NewRefund<'_>,
        now: i64,
    ) -> Result<Reserved, EdgeError> {
        let n = self
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
        Ok(match self.refund(refund.merchant_refund_no).await? {
            Some(existing) => Reserved::Exists(existing),
            None => Reserved::Exceeds,
        })
    }

    /// One refund by its number.
    pub async fn refund(
        &self,
        merchant_refund_no: &str,
    ) -> Result<Option<StoredRefund>, EdgeError> {
        self.stmt(
            "SELECT merchant_refund_no, order_no, amount_minor, idempotency_key, answer FROM refunds WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no)],
        )?
        .first::<StoredRefund>(None)
        .await
        .map_err(db_err("select refund"))
    }

    /// Stores the answer a refund request got, for retries with the same key.
    pub async fn set_refund_answer(
        &self,
        merchant_refund_no: &str,
        answer: &str,
    ) -> Result<(), EdgeError> {
        self.changes(
            "refund answer",
            "UPDATE refunds SET answer = ?2 WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no), text(answer)],
        )
        .await
        .map(|_| ())
    }

    /// Marks an order TrustPay will never create for us (`why`, e.g. `order_number_taken`):
    /// later creates answer that at once, and nothing about it is ever applied.
    pub async fn refuse_creation(
        &self,
        order_no: &str,
        why: &str,
        now: i64,
    ) -> Result<(), EdgeError> {
        self.changes(
            "refuse creation",
            "UPDATE orders SET create_refused = ?2, creating_until = 0, updated_at = ?3 WHERE order_no = ?1 AND pay_url IS NULL",
            &[text(order_no), text(why), num(now)],
        )
        .await
        .map(|_| ())
    }

    /// Stores TrustPay's answer to a refund.
    pub async fn set_refund_status(
        &self,
        merchant_refund_no: &str,
        status: Option<i64>,
    ) -> Result<(), EdgeError> {
        self.changes(
            "refund status",
            "UPDATE refunds SET gateway_status = ?2 WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no), opt_num(status)],
        )
        .await
        .map(|_| ())
    }

    /// Forgets a refund TrustPay refused, so the number can be reused.
    pub async fn delete_refund(&self, merchant_refund_no: &str) -> Result<(), EdgeError> {
        self.changes(
            "delete refund",
            "DELETE FROM refunds WHERE merchant_refund_no = ?1",
            &[text(merchant_refund_no)],
        )
        .await
        .map(|_| ())
    }

    /// Total of the order's requested refunds, minor units.
    pub async fn refunds(&self, order_no: &str) -> Result<Vec<RefundRow>, EdgeError> {
        let result = self
            .stmt(
                "SELECT merchant_refund_no, amount_minor, reason, gateway_status, created_at FROM refunds WHERE order_no = ?1 ORDER BY created_at",
                &[text(order_no)],
            )?
            .all()
            .await
            .map_err(db_err("select refunds"))?;
        result.results().map_err(db_err("read refunds"))
    }
}
