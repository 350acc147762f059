//! The routes, one file per resource. Each handler parses, calls core, maybe calls the
//! gateway or the store, and returns a response or an [`crate::error::EdgeError`]. Only
//! `lib.rs` imports this module; everything the routes share lives below them
//! (`transition` → `live`/`notify` → `view` → `store`, with `ctx` at the bottom).

pub mod admin;
pub mod callback;
pub mod health;
pub mod intents;
pub mod orders;
pub mod risk;
pub mod webhooks;
