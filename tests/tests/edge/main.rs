//! The edge Worker end to end: `trustpay-sim` in-process + the built Worker under `wrangler
//! dev` (real workerd, local D1 and Queues), over loopback HTTP. One module per suite, each one
//! `#[ignore]`d test that starts its own [`support::Stack`] (they use different Worker
//! variables), so a plain `cargo test` stays native and fast. The Worker must be built first.
//!
//! `cargo xtask test` runs each suite as its own stage:
//!
//! | stage | filter |
//! | --- | --- |
//! | `edge-e2e` | `e2e:: attempts::payment_attempts` |
//! | `edge-hardening` | `bad_inputs:: callback_attacks:: upstream_faults:: abuse::` (one at a time) |
//! | `edge-merchant` | `merchant:: integrity:: attempts::attempt_notifications` |
//! | `edge-live` | `live::` |
//! | `edge-sharded` | `sharding:: e2e:: attempts:: integrity:: callback_attacks:: merchant:: live:: bad_inputs:: upstream_faults:: abuse::edge_abuse` with `EDGE_D1_SHARDS=4` (every Worker on 4 D1 shards) |
//! | `merchant-kit` | `merchant_kit::` |
//!
//! By hand: `cargo test -p tests --test edge -- e2e:: --include-ignored`.
//!
//! Every suite's responses are checked against `edge/openapi.yaml` when its stack is dropped;
//! `openapi::` also has native tests (routes and error codes against the spec), run by
//! `cargo test --workspace`.

mod support;

mod abuse;
mod attempts;
mod bad_inputs;
mod callback_attacks;
mod e2e;
mod integrity;
mod live;
mod merchant;
mod merchant_kit;
mod openapi;
mod sharding;
mod upstream_faults;
