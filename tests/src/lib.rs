//! # tests
//!
//! Test support for the TrustPay checkout: [`sim`], a local TrustPay v4 gateway simulator
//! that integration tests start in-process (`tests::sim::serve`) and `cargo xtask dev` runs
//! as the `trustpay-sim` binary. The simulator's own integration tests live in
//! `tests/tests/sim_*.rs`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demo_shop;
pub mod edge_harness;
pub mod http;
pub mod sim;
pub mod webhook_receiver;
