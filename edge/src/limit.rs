//! Throttling of the anonymous routes with Cloudflare's Rate Limiting bindings
//! (`[[ratelimits]]` in `wrangler.toml`).
//!
//! | binding | key | routes | shipped limit |
//! | --- | --- | --- | --- |
//! | `CREATE_BY_IP` | client IP (`CF-Connecting-IP`) | `POST /v1/orders` | 20 per 60 s |
//! | `CREATE_BY_ORDER` | order number (from the intent) | `POST /v1/orders` | 10 per 60 s |
//! | `READ_BY_IP` | client IP | `GET /v1/orders/{order_no}` and `/events` | 300 per 60 s |
//!
//! A refused request gets 429 `rate_limited` with `Retry-After` = the binding's period, before
//! any body is read (by IP) or any row is written (by order number). The limits are static
//! configuration (`simple = { limit, period }`), changed per deployment in `wrangler.toml`.
//!
//! TrustPay's own calls (callbacks, the risk hook) are not throttled by IP: they come from a
//! few TrustPay addresses for every order at once, and each is refused before any write unless
//! it is signed or carries the hook token.
//!
//! A binding that is missing is a deployment error (`misconfigured`, naming it). A limiter that
//! fails at run time lets the request through and logs `rate_limiter_failed`: throttling must
//! not stop payments. Cloudflare's counters are per location and eventually consistent, so the
//! limit is approximate under a distributed attack (Cloudflare documents this); it bounds one
//! client, not a botnet.

/// One rate limiter binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    /// Order creations per client IP.
    CreateByIp,
    /// Order creations (and reopenings) per order number.
    CreateByOrder,
    /// Status and live-events reads per client IP.
    ReadByIp,
}

/// The period of every binding in `wrangler.toml`, seconds (Cloudflare allows 10 or 60).
pub const PERIOD_SECS: u32 = 60;

impl Limiter {
    /// Every limiter.
    pub const ALL: [Limiter; 3] = [
        Limiter::CreateByIp,
        Limiter::CreateByOrder,
        Limiter::ReadByIp,
    ];

    /// The binding name in `wrangler.toml`.
    pub const fn binding(self) -> &'static str {
        match self {
            Limiter::CreateByIp => "CREATE_BY_IP",
            Limiter::CreateByOrder => "CREATE_BY_ORDER",
            Limiter::ReadByIp => "READ_BY_IP",
        }
    }

    /// The counter key of `subject` (an IP or an order number).
    pub fn key(self, subject: &str) -> String {
        match self {
            Limiter::CreateByIp | Limiter::ReadByIp => format!("ip:{subject}"),
            Limiter::CreateByOrder => format!("order:{subject}"),
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod check {
    use super::{Limiter, PERIOD_SECS};
    use crate::config::ConfigError;
    use crate::ctx::Ctx;
    use crate::error::EdgeError;

    /// Counts one request against `limiter` for `subject`; `Throttled` when over the limit.
    pub async fn check(ctx: &Ctx, limiter: Limiter, subject: &str) -> Result<(), EdgeError> {
        let binding = limiter.binding();
        let rate_limiter = ctx.env().rate_limiter(binding).map_err(|_| {
            ctx.log.error(
                "misconfigured",
                &[
                    ("variable", binding.into()),
                    ("reason", "no [[ratelimits]] binding of that name".into()),
                ],
            );
            EdgeError::Misconfigured(ConfigError::Missing { name: binding })
        })?;
        match rate_limiter.limit(limiter.key(subject)).await {
            Ok(outcome) if outcome.success => Ok(()),
            Ok(_) => {
                ctx.log.warn("rate_limited", &[("limiter", binding.into())]);
                Err(EdgeError::Throttled {
                    limiter: binding,
                    retry_after_secs: PERIOD_SECS,
                })
            }
            Err(e) => {
                ctx.log.error(
                    "rate_limiter_failed",
                    &[
                        ("limiter", binding.into()),
                        ("detail", e.to_string().into()),
                    ],
                );
                Ok(())
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use check::check;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each binding is declared in `wrangler.toml` with the period the code answers in
    /// `Retry-After`.
    #[test]
    fn bindings_match_wrangler_toml() {
        let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml"))
            .expect("wrangler.toml");
        for limiter in Limiter::ALL {
            let name = format!("name = \"{}\"", limiter.binding());
            let block = toml
                .split("[[ratelimits]]")
                .skip(1)
                .find(|block| block.contains(&name))
                .unwrap_or_else(|| panic!("no [[ratelimits]] {name} in wrangler.toml"));
            let simple = block
                .lines()
                .find(|l| l.trim_start().starts_with("simple = {"))
                .unwrap_or_else(|| panic!("{name}: no simple = {{ .. }}"));
            assert!(
                simple.contains(&format!("period = {PERIOD_SECS}")),
                "{name}: {simple}"
            );
        }
    }

    #[test]
    fn keys_are_namespaced() {
        assert_eq!(Limiter::CreateByIp.key("203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(Limiter::CreateByOrder.key("A-1"), "order:A-1");
    }
}
