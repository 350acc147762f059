//! The widget/edge contract (next).
