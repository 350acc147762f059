//! Reconciliation of missed callbacks: the cron trigger (`[triggers] crons` in wrangler.toml).
//!
//! Each run asks TrustPay (`/v4/query/order`, [`crate::gateway`]) about at most
//! `RECONCILE_BATCH` pending or refunding orders whose last change and last query are older than
//! `RECONCILE_MIN_AGE_SECONDS`, least recently queried first (so a backlog larger than one
//! batch rotates instead of starving). Every order is claimed with the same conditional
//! `last_query_at` update as the status route's refresh, so overlapping runs and refreshes
//! never query one order twice in a period. Each answer goes through
//! [`crate::transition::apply`] with `source = reconcile`, i.e. core's state machine and the
//! conditional status update: a run racing a callback can't move an order backwards, and a
//! repeated run records `duplicate` and changes nothing (idempotent).
//!
//! Each run also sends the merchant notifications whose queue message never went out or was
//! lost ([`notify::sweep`]: outbox rows overdue and unclaimed for a while).

use checkout_core::codes::OrderStatus;
use checkout_core::wire::OrderQueryRequest;
use worker::{Env, ScheduleContext, ScheduledEvent, event};

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::event::Source;
use crate::gateway::Gateway;
use crate::http;
use crate::log::Log;
use crate::notify;
use crate::transition::{self, Incoming};

/// What one run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Orders selected.
    pub candidates: usize,
    /// Orders queried at TrustPay (claimed and answered).
    pub queried: usize,
    /// Orders whose status changed.
    pub changed: usize,
    /// Queries that failed (the next run tries again).
    pub failed: usize,
}

/// One reconciliation run (the cron handler's body; also callable from tests).
pub async fn run(ctx: &Ctx) -> Result<Summary, EdgeError> {
    let config = ctx.config()?;
    let store = ctx.store()?;
    let now = ctx.now_ms;
    let older_than = now - i64::from(config.reconcile_min_age_seconds) * 1000;
    let rows = store
        .reconcile_candidates(older_than, config.reconcile_batch)
        .await?;
    let gateway = Gateway::new(config, &ctx.log);
    let mut summary = Summary {
        candidates: rows.len(),
        ..Summary::default()
    };
    for row in rows {
        // Lost claim: a refresh or another run is on it.
        if !store.claim_query(&row.order_no, now, older_than).await? {
            continue;
        }
        let query = OrderQueryRequest {
            order_no: row.order_no.clone(),
        };
        let data = match gateway.call(&query).await {
            Ok(data) => data,
            Err(e) => {
                summary.failed += 1;
                ctx.log.warn(
                    "reconcile_query_failed",
                    &[
                        ("order_no", row.order_no.as_str().into()),
                        ("code", e.code().as_str().into()),
                    ],
                );
                continue;
            }
        };
        summary.queried += 1;
        let Some(incoming) = Incoming::from_query(&data) else {
            continue;
        };
        if !transition::query_is_ours(ctx, &store, &row, &data, Source::Reconcile).await? {
            continue;
        }
        let status = incoming.status;
        let order_no = row.order_no.clone();
        let applied =
            transition::apply(ctx, &store, row, &incoming, Source::Reconcile, now).await?;
        if applied.changed && status != OrderStatus::Pending {
            summary.changed += 1;
            ctx.log.info(
                "reconciled",
                &[
                    ("order_no", order_no.as_str().into()),
                    ("status", status.code().into()),
                ],
            );
        }
    }
    Ok(summary)
}

/// The cron trigger.
#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _context: ScheduleContext) {
    let ctx = Ctx::new(env, Log::new(http::new_request_id()));
    let resent = match ctx.store() {
        Ok(store) => notify::sweep(&ctx, &store).await,
        Err(e) => Err(e),
    };
    match resent {
        Ok(0) => {}
        Ok(n) => ctx.log.info("webhook_sweep", &[("resent", n.into())]),
        Err(e) => ctx
            .log
            .error("webhook_sweep_failed", &[("detail", e.to_string().into())]),
    }
    match run(&ctx).await {
        Ok(s) => ctx.log.info(
            "reconcile_run",
            &[
                ("cron", event.cron().into()),
                ("candidates", s.candidates.into()),
                ("queried", s.queried.into()),
                ("changed", s.changed.into()),
                ("failed", s.failed.into()),
            ],
        ),
        Err(e) => ctx.log.error(
            "reconcile_run_failed",
            &[
                ("cron", event.cron().into()),
                ("detail", e.to_string().into()),
            ],
        ),
    }
}
