//! `GET /healthz`: liveness, version, and whether the configuration loads.

use serde_json::json;
use worker::Response;

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::http;

/// Always 200 while the Worker runs; `config` says whether requests can be served.
pub fn get(ctx: &Ctx) -> Result<Response, EdgeError> {
    let config = match ctx.config() {
        Ok(_) => "ok",
        Err(_) => "misconfigured",
    };
    http::json(
        200,
        &json!({ "ok": true, "version": crate::VERSION, "config": config }),
    )
}
