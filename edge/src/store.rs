//! D1 storage of orders, client-secret hashes, refunds and the order event log.
//!
//! Every state change is one conditional statement (`... WHERE order_no = ? AND status = ?`,
//! `INSERT ... ON CONFLICT DO NOTHING`), and the caller learns from the changed-row count
//! whether it won. Two concurrent callbacks or creates can therefore never both win.
//! Schema: `migrations/0001_init.sql`, `migrations/0002_merchant_integrations.sql`.

use checkout_core::codes::OrderStatus;
use checkout_core::money::{Amount, Currency};
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use crate::error::EdgeError;

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
    /// Number of status changes so far (`migrations/0002`).
    #[serde(default)]
    pub status_seq: i64,
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

/// A new event.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The order, when known.
    pub order_no: Option<&'a str>,
    /// Source.
    pub source: &'a str,
    /// Outcome.
    pub outcome: &'a str,
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
    /// The status the row must still have.
    pub from: i64,
    /// The new status.
    pub to: i64,
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

    /// Applies a status change if the row still has `change.from`. `false`: someone else
    /// changed it first (re-read and decide again).
    pub async fn change_status(
        &self,
        order_no: &str,
        change: StatusChange,
        now: i64,
    ) -> Result<bool, EdgeError> {
        let n = self
            .changes(
                "change status",
                "UPDATE orders SET status = ?3, paid_amount_minor = COALESCE(?4, paid_amount_minor), \
                 refund_amount_minor = COALESCE(?5, refund_amount_minor), fee_minor = COALESCE(?6, fee_minor), \
                 late_payment = MAX(late_payment, ?7), updated_at = ?8 WHERE order_no = ?1 AND status = ?2",
                &[
                    text(order_no),
                    num(change.from),
                    num(change.to),
                    opt_num(change.paid_minor),
                    opt_num(change.refund_minor),
                    opt_num(change.fee_minor),
                    num(i64::from(change.late_payment)),
                    num(now),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// [`Store::change_status`] that also numbers the change: `Some(seq)` (the order's new
    /// `status_seq`) when it won, `None` when someone else changed the row first.
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
                 late_payment = MAX(late_payment, ?7), updated_at = ?8, status_seq = status_seq + 1 \
                 WHERE order_no = ?1 AND status = ?2 RETURNING status_seq",
                &[
                    text(order_no),
                    num(change.from),
                    num(change.to),
                    opt_num(change.paid_minor),
                    opt_num(change.refund_minor),
                    opt_num(change.fee_minor),
                    num(i64::from(change.late_payment)),
                    num(now),
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
        source: &str,
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
                &[text(order_no), text(source), opt_text(detail_prefix)],
            )?
            .first::<Count>(None)
            .await
            .map_err(db_err("count events"))?;
        Ok(row.map_or(0, |r| r.n))
    }

    /// Pending orders with a pay page whose last change and last TrustPay query are both at
    /// or before `older_than` (ms), least recently queried first, at most `limit`: the
    /// reconciliation cron's work list. Each is still claimed ([`Store::claim_query`]) before
    /// it is queried, so overlapping runs and status refreshes never query one order twice.
    pub async fn reconcile_candidates(
        &self,
        older_than: i64,
        limit: u32,
    ) -> Result<Vec<OrderRow>, EdgeError> {
        self.stmt(
            "SELECT * FROM orders WHERE status = 1 AND pay_url IS NOT NULL AND updated_at <= ?1 \
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
                text(event.source),
                text(event.outcome),
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

    /// Records a refund request. `false` when the refund number exists already.
    pub async fn insert_refund(
        &self,
        merchant_refund_no: &str,
        order_no: &str,
        amount: Amount,
        reason: &str,
        now: i64,
    ) -> Result<bool, EdgeError> {
        let n = self
            .changes(
                "insert refund",
                "INSERT INTO refunds (merchant_refund_no, order_no, amount_minor, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                &[text(merchant_refund_no), text(order_no), num(amount.minor()), text(reason), num(now)],
            )
            .await?;
        Ok(n == 1)
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
