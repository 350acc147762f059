//! The TrustPay checkout widget: a pay button, the hosted cashier page in a popup (or a
//! redirect), and live order status, in 15 locales, from one script tag.
//!
//! Pure modules (build and test natively, no browser types):
//! - [`amount`]: money as each locale writes it (the pay button's label), without `Intl`.
//! - [`i18n`]: compile-time message tables, `Msg` → `Phrase` → text per locale.
//! - [`negotiate`]: `navigator.languages` → locale, with the zh-HK → zh-TW → zh-CN → en chain.
//! - [`reducer`]: the UI state machine; events in, state + effects out.
//! - [`backoff`]: bounded exponential backoff with injected jitter.
//! - [`tracker`]: the order-tracking trait and the pure polling schedule.
//! - [`style`]: the stylesheet (the boot glue constructs it and draws with it; the wasm adopts it).
//! - [`wire`]: the edge's JSON answers → `checkout-core` contract types (no serde).
//!
//! Browser shell (wasm32 only): `dom` (Shadow DOM rendering, DOM listeners), `api` (edge
//! client), `exec` (the async tasks),
//! `flow` (popup / new tab / redirect + sessionStorage), `polling` (the polling tracker),
//! `push` (the Server-Sent Events tracker, polling as its fallback),
//! `mount` (script tag, `TrustPayCheckout.mount`, `<trustpay-checkout>`), and `widget`
//! (wiring: runs the reducer's effects).
#![forbid(unsafe_code)]

pub mod amount;
pub mod backoff;
pub mod i18n;
pub mod negotiate;
pub mod reducer;
pub mod style;
pub mod tracker;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod exec;
#[cfg(target_arch = "wasm32")]
mod flow;
#[cfg(target_arch = "wasm32")]
pub mod mount;
#[cfg(target_arch = "wasm32")]
mod polling;
#[cfg(target_arch = "wasm32")]
mod push;
#[cfg(target_arch = "wasm32")]
mod widget;

/// std's dlmalloc is ~7 KB of wasm; lol_alloc's coalescing free list is ~1 KB, and the widget
/// allocates little (strings, a few Rc's). The spin-lock wrapper is the crate's safe constructor
/// (wasm here is single-threaded, so the lock is never contended).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// Concatenates strings. Used instead of `format!` on the wasm side: every `format!` call
/// site costs its own formatting code, and the widget is paid for in bytes.
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Decimal digits of an integer (no `core::fmt`, see [`cat`]).
pub fn decimal(n: i64) -> String {
    let mut digits = Vec::with_capacity(20);
    let mut rest = n.unsigned_abs();
    loop {
        digits.push(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.iter().rev().map(|&b| char::from(b)).collect()
}

/// The widget's version, as shown in diagnostics (the build hands it to the boot glue, which
/// sets `TrustPayCheckout.version` once the wasm is in).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(target_arch = "wasm32")]
pub use js_api::{destroy, mount, state};

/// The JavaScript API the boot glue calls (`wasm_bindgen.*` inside `checkout.js`; the page's
/// `TrustPayCheckout.*` is the glue's, typed in `widget/js/checkout.d.ts`).
#[cfg(target_arch = "wasm32")]
mod js_api {
    use wasm_bindgen::prelude::*;
    use web_sys::Element;

    use crate::widget::{Inner, find};

    /// Mounts on `target` with the options the boot glue has settled (`TrustPayCheckout.mount`,
    /// the script tag's `data-*` and `<trustpay-checkout>`'s attributes all end here): `edge`,
    /// `intent` or `fetchIntent`, `locale` (an exact tag; the glue negotiates it) and `texts`
    /// (that locale's file, which the glue fetched and checked against its manifest), `mode`,
    /// `theme`, `messages`, `money`, `sheet`. Events go to the host as `trustpay:*` DOM events,
    /// which the glue's handle (`on`, `onEvent`) listens to. Returns the widget's id for
    /// [`destroy`] and [`state`] (a number, not a wasm-bindgen class: no finalizer, no glue).
    #[wasm_bindgen]
    pub fn mount(target: Element, opts: JsValue) -> Result<u32, JsValue> {
        let cfg = crate::mount::from_options(&opts)?;
        Inner::mount(target, cfg).map(|w| w.id)
    }

    /// Removes the widget: listeners, timers, tracking and requests in flight stop (nothing
    /// if it is gone already).
    #[wasm_bindgen]
    pub fn destroy(id: u32) {
        if let Some(w) = find(id) {
            w.destroy();
        }
    }

    /// The widget's state name (`idle`, `waiting`, `final`, ..., or `destroyed`), as a JS string
    /// made from the static name (no `String` to allocate, return and free).
    #[wasm_bindgen]
    pub fn state(id: u32) -> JsValue {
        JsValue::from_str(find(id).map_or("destroyed", |w| w.state_name()))
    }
}

/// The page's `window` (`None` outside a window, e.g. in a worker): one import, where
/// `web_sys::window()` looks for the global object four ways and checks that it is a `Window`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn window() -> Option<web_sys::Window> {
    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(thread_local_v2, js_name = window)]
        static WINDOW: Option<web_sys::Window>;
    }
    WINDOW.with(Clone::clone)
}

/// `RefCell` borrows without the panic machinery. A borrow conflict is a bug, and with
/// `panic = "abort"` it ends in the same trap either way; aborting directly spares each of the
/// ~70 call sites its `#[track_caller]` location and the message formatting (−666 B gzip).
#[cfg(target_arch = "wasm32")]
pub(crate) trait Slot<T> {
    /// `RefCell::borrow`, aborting on a conflict.
    fn read(&self) -> std::cell::Ref<'_, T>;
    /// `RefCell::borrow_mut`, aborting on a conflict.
    fn write(&self) -> std::cell::RefMut<'_, T>;
}

#[cfg(target_arch = "wasm32")]
impl<T> Slot<T> for std::cell::RefCell<T> {
    #[inline]
    fn read(&self) -> std::cell::Ref<'_, T> {
        match self.try_borrow() {
            Ok(r) => r,
            Err(_) => std::process::abort(),
        }
    }

    #[inline]
    fn write(&self) -> std::cell::RefMut<'_, T> {
        match self.try_borrow_mut() {
            Ok(r) => r,
            Err(_) => std::process::abort(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_and_cat() {
        for n in [0, 7, 10, 880_017, -42, i64::MAX, i64::MIN] {
            assert_eq!(super::decimal(n), n.to_string());
        }
        assert_eq!(super::cat(&["a", "", "bc"]), "abc");
    }
}
