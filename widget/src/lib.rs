//! The TrustPay checkout widget (placeholder until the widget issue lands).
#![forbid(unsafe_code)]

/// The widget's version, as shown in diagnostics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
