//! Checkout intents (next).
