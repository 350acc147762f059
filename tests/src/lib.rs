//! # tests
//!
//! Test support for the TrustPay checkout: [`sim`], a local TrustPay v4 gateway simulator
//! that integration tests start in-process (`tests::sim::serve`) and `cargo xtask dev` runs
//! as the `trustpay-sim` binary; [`edge_harness`], the edge Worker under `wrangler dev`; and the
//! helpers the integration suites and the bench binaries share ([`http`], [`forge`], [`sse`],
//! [`wait`], [`load`], [`bench`]). The integration tests are two binaries: `tests/tests/sim/`
//! (the simulator, native and fast) and `tests/tests/edge/` (the Worker, `#[ignore]`d).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod demo_shop;
pub mod edge_harness;
pub mod forge;
pub mod http;
pub mod load;
pub mod sim;
pub mod sse;
pub mod wait;
pub mod webhook_receiver;
