//! The simulator's integration tests, one module per area, with a signing API client and a
//! verifying callback listener in [`support`]. Native and fast: `cargo test -p tests --test sim`.

mod support;

mod api;
mod faults;
mod flows;
mod risk;
