//! # edge: the TrustPay checkout Worker
//!
//! The only place that knows the TrustPay API key and signing secret. The widget talks to it;
//! it talks to TrustPay. A thin shell around `checkout-core`: routes parse, call core, maybe
//! call the one outbound module ([`gateway`]) or D1 (`store`), and respond.
//!
//! | route | auth | what |
//! | --- | --- | --- |
//! | `POST /v1/intents` | Bearer `MERCHANT_API_TOKEN` | mint a checkout intent |
//! | `POST /v1/orders` | intent (CORS: `ALLOWED_ORIGINS`); throttled per IP and order | create the TrustPay cashier order, idempotent per intent |
//! | `GET /v1/orders/{order_no}` | `X-Client-Secret` (CORS); throttled per IP | status, refreshed from TrustPay when pending and stale |
//! | `POST /v1/orders/{order_no}/attempts` | `X-Client-Secret` (CORS); throttled per IP | a new payment attempt after a failed, expired or abandoned one |
//! | `GET /v1/orders/{order_no}/events?token=` | events token (CORS); throttled per IP | live state, Server-Sent Events ([`live`]) until the token expires |
//! | `POST /v1/trustpay/callback` | TrustPay `sign` | callbacks |
//! | `POST /v1/trustpay/risk-control/{token}` | `RISK_HOOK_TOKEN` in the path (TrustPay documents no signature) | risk-control veto: `allow` / 403 `deny` |
//! | `POST /v1/admin/refunds` | Bearer `MERCHANT_REFUND_TOKEN` | refund |
//! | `GET /v1/admin/balance?currency=USD` | Bearer `MERCHANT_API_TOKEN` | balance |
//! | `GET /v1/admin/fees` | Bearer `MERCHANT_API_TOKEN` | fee overview |
//! | `GET /v1/admin/orders/{order_no}` | Bearer `MERCHANT_API_TOKEN` | order + refunds + event log |
//! | `GET /v1/admin/webhooks?state=dead` | Bearer `MERCHANT_API_TOKEN` | merchant notifications by state ([`notify`]) |
//! | `POST /v1/admin/webhooks/{id}/replay` | Bearer `MERCHANT_API_TOKEN` | send a notification again |
//! | `GET /healthz` | none | liveness |
//!
//! The cron trigger ([`reconcile`], `[triggers] crons`) queries TrustPay about pending orders
//! whose callback may have been lost and applies the answers with `source = reconcile`.
//!
//! Routing is a plain `match` on method and path segments rather than `worker::Router`, so
//! unknown routes and methods get the API's JSON errors and CORS wraps exactly the widget
//! routes. Modules that need the Workers runtime are compiled for wasm32 only; the pure ones
//! ([`config`], [`error`], [`gateway`]'s classification, [`log`]) are unit-tested natively.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod event;
pub mod gateway;
pub mod log;

#[cfg(target_arch = "wasm32")]
pub mod cors;
#[cfg(target_arch = "wasm32")]
pub mod ctx;
#[cfg(target_arch = "wasm32")]
pub mod http;
pub mod limit;
#[cfg(target_arch = "wasm32")]
pub mod live;
#[cfg(target_arch = "wasm32")]
pub mod notify;
#[cfg(target_arch = "wasm32")]
pub mod reconcile;
#[cfg(target_arch = "wasm32")]
pub mod routes;
#[cfg(target_arch = "wasm32")]
pub mod store;
#[cfg(target_arch = "wasm32")]
pub mod transition;
#[cfg(target_arch = "wasm32")]
pub mod view;

/// The edge's version, as reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{Context, Date, Env, Method, Request, Response, event};

    use crate::cors;
    use crate::ctx::Ctx;
    use crate::error::EdgeError;
    use crate::http::{self, REQUEST_ID_HEADER};
    use crate::limit::{self, Limiter};
    use crate::live;
    use crate::log::Log;
    use crate::routes::{admin, callback, health, intents, orders, risk, webhooks};

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, context: Context) -> worker::Result<Response> {
        let ctx = Ctx::new(env, Log::new(http::new_request_id())).with_context(context);
        let method = req.method();
        let path = req.path();
        let mut response = match dispatch(req, &ctx, &method, &path).await {
            Ok(response) => response,
            Err(error) => refuse(&ctx, &method, &logged_path(&path), &error),
        };
        let path = logged_path(&path);
        http::set_header(&mut response, REQUEST_ID_HEADER, ctx.log.request_id());
        let took_ms = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX) - ctx.now_ms;
        ctx.log.info(
            "request",
            &[
                ("method", method.to_string().into()),
                ("path", path.as_str().into()),
                ("status", response.status_code().into()),
                ("ms", took_ms.into()),
                ("d1", ctx.trips.d1().into()),
                ("do", ctx.trips.durable_objects().into()),
            ],
        );
        Ok(response)
    }

    /// The path as logged: the risk hook's token segment is replaced (query strings, which
    /// hold the events token, are never part of `path`).
    fn logged_path(path: &str) -> String {
        // By segments, as routing reads them: `//v1/trustpay/risk-control/<token>` (a base URL
        // with a trailing slash) is routed too and must be masked as well.
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let hook = ["v1", "trustpay", "risk-control"]
            .iter()
            .all(|want| segments.next() == Some(*want));
        if hook && segments.next().is_some() {
            format!("{RISK_HOOK_PREFIX}<token>")
        } else {
            path.to_owned()
        }
    }

    const RISK_HOOK_PREFIX: &str = "/v1/trustpay/risk-control/";

    /// Logs an error (detail included; it never holds a secret) and answers its code.
    fn refuse(ctx: &Ctx, method: &Method, path: &str, error: &EdgeError) -> Response {
        let fields = [
            ("method", method.to_string().into()),
            ("path", path.into()),
            ("code", error.code().as_str().into()),
            ("detail", error.to_string().into()),
        ];
        if error.is_server_side() {
            ctx.log.error("request_failed", &fields);
        } else {
            ctx.log.warn("request_refused", &fields);
        }
        http::error_response(error)
    }

    /// The route table. Widget routes (`/v1/orders...`) go through CORS first.
    async fn dispatch(
        req: Request,
        ctx: &Ctx,
        method: &Method,
        path: &str,
    ) -> Result<Response, EdgeError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let ["v1", "orders", rest @ ..] = segments.as_slice()
            && (rest.len() <= 1 || matches!(rest, [_, "events" | "attempts"]))
        {
            let sub = match rest {
                [_, "events"] => Sub::Events,
                [_, "attempts"] => Sub::Attempts,
                _ => Sub::Order,
            };
            return widget(req, ctx, method, rest.first().copied(), sub).await;
        }
        match (method, segments.as_slice()) {
            (Method::Get, ["healthz"]) => health::get(ctx),
            (Method::Post, ["v1", "intents"]) => intents::create(req, ctx).await,
            (Method::Post, ["v1", "trustpay", "callback"]) => callback::receive(req, ctx).await,
            // The hook's URL ends with its token; without one there is no such route.
            (Method::Post, ["v1", "trustpay", "risk-control", token]) => {
                risk::decide(req, ctx, token).await
            }
            (Method::Post, ["v1", "admin", "refunds"]) => admin::refund(req, ctx).await,
            (Method::Get, ["v1", "admin", "balance"]) => admin::balance(req, ctx).await,
            (Method::Get, ["v1", "admin", "fees"]) => admin::fees(req, ctx).await,
            (Method::Get, ["v1", "admin", "orders", order_no]) => {
                admin::order(req, ctx, order_no).await
            }
            (Method::Get, ["v1", "admin", "webhooks"]) => webhooks::list(req, ctx).await,
            (Method::Post, ["v1", "admin", "webhooks", id, "replay"]) => {
                webhooks::replay(req, ctx, id).await
            }
            (
                _,
                ["healthz"]
                | ["v1", "intents"]
                | ["v1", "trustpay", "callback"]
                | ["v1", "trustpay", "risk-control", _]
                | ["v1", "admin", "refunds" | "balance" | "fees"]
                | ["v1", "admin", "orders", _]
                | ["v1", "admin", "webhooks"]
                | ["v1", "admin", "webhooks", _, "replay"],
            ) => Err(EdgeError::MethodNotAllowed),
            _ => Err(EdgeError::NotFound),
        }
    }

    /// Which widget route under `/v1/orders/{order_no}`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Sub {
        /// The order itself (or `/v1/orders`).
        Order,
        /// `.../events`.
        Events,
        /// `.../attempts`.
        Attempts,
    }

    /// `/v1/orders`, `/v1/orders/{order_no}` and below: origin check, preflight, then the route.
    async fn widget(
        req: Request,
        ctx: &Ctx,
        method: &Method,
        order_no: Option<&str>,
        sub: Sub,
    ) -> Result<Response, EdgeError> {
        let origin = http::header(&req, "Origin");
        let allowed = match &origin {
            Some(from) => match cors::check(Some(from), &ctx.config()?.allowed_origins) {
                Ok(allowed) => allowed,
                // The page must be able to read why (`origin_not_allowed`).
                Err(error) => {
                    let path = req_path(order_no, sub);
                    let refusal = refuse(ctx, method, &path, &error);
                    return Ok(cors::refused(from, *method == Method::Options, refusal));
                }
            },
            None => None,
        };
        let ip = http::client_ip(&req);
        let result = match (method, order_no) {
            (Method::Options, _) => match &allowed {
                Some(origin) => return Ok(cors::preflight(origin)),
                None => Err(EdgeError::MethodNotAllowed),
            },
            (Method::Post, None) => match limit::check(ctx, Limiter::CreateByIp, &ip).await {
                Ok(()) => orders::create(req, ctx).await,
                Err(e) => Err(e),
            },
            (Method::Post, Some(order_no)) if sub == Sub::Attempts => {
                match limit::check(ctx, Limiter::CreateByIp, &ip).await {
                    Ok(()) => orders::new_attempt(req, ctx, order_no).await,
                    Err(e) => Err(e),
                }
            }
            (Method::Get, Some(order_no)) if sub != Sub::Attempts => {
                match limit::check(ctx, Limiter::ReadByIp, &ip).await {
                    Ok(()) if sub == Sub::Events => live::events(req, ctx, order_no).await,
                    Ok(()) => orders::status(req, ctx, order_no).await,
                    Err(e) => Err(e),
                }
            }
            _ => Err(EdgeError::MethodNotAllowed),
        };
        // Errors are decorated too, so the widget can read their codes.
        let mut response = match result {
            Ok(response) => response,
            Err(error) => refuse(ctx, method, &req_path(order_no, sub), &error),
        };
        if let Some(origin) = &allowed {
            cors::decorate(&mut response, origin);
        }
        Ok(response)
    }

    fn req_path(order_no: Option<&str>, sub: Sub) -> String {
        match (order_no, sub) {
            (Some(no), Sub::Events) => format!("/v1/orders/{no}/events"),
            (Some(no), Sub::Attempts) => format!("/v1/orders/{no}/attempts"),
            (Some(no), Sub::Order) => format!("/v1/orders/{no}"),
            (None, Sub::Order | Sub::Events | Sub::Attempts) => "/v1/orders".to_owned(),
        }
    }
}
