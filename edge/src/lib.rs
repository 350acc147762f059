//! The TrustPay checkout edge Worker (placeholder until the edge issue lands).
#![forbid(unsafe_code)]

/// The edge's version, as reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
