//! Getting the shopper to TrustPay's cashier page and back.
//!
//! TrustPay documents no return URL for the cashier page, so the default is a popup: an
//! empty window opened synchronously inside the click (a popup opened after an `await` is
//! blocked by every browser), pointed at `pay_url` once the order exists. If that fails, a
//! new tab; if that fails too, the view shows a "reopen payment page" link (a real link
//! click is never blocked). Redirect mode navigates the page and keeps
//! `{order_no, client_secret}` in sessionStorage so tracking resumes on return.

use wasm_bindgen::JsValue;
use web_sys::Window;

use crate::Slot as _;
use crate::reducer::OrderRef;

const POPUP_FEATURES: &str = "popup=yes,width=480,height=760";

/// Opens an empty popup inside the user gesture. `None` when blocked.
pub(crate) fn prepare_window() -> Option<Window> {
    let window = crate::window()?;
    let popup = window
        .open_with_url_and_target_and_features("about:blank", "_blank", POPUP_FEATURES)
        .ok()
        .flatten()?;
    // The cashier page must not be able to reach back into the merchant page.
    let _ = popup.set_opener(&JsValue::NULL);
    Some(popup)
}

/// Shows `url` in the prepared popup, else in a new tab. `None` when both are blocked.
pub(crate) fn show(prepared: Option<Window>, url: &str) -> Option<Window> {
    if let Some(popup) = prepared.filter(|p| !p.closed().unwrap_or(true))
        && popup.location().set_href(url).is_ok()
    {
        return Some(popup);
    }
    let window = crate::window()?;
    let tab = window
        .open_with_url_and_target(url, "_blank")
        .ok()
        .flatten()?;
    let _ = tab.set_opener(&JsValue::NULL);
    Some(tab)
}

/// Closes a window we opened (ignored if the shopper already closed it). Chromium refuses
/// once the window shows another origin's page and its `opener` was cut (measured: `closed`
/// stays `false`), so the caller checks `closed` afterwards and tells the shopper instead.
pub(crate) fn close(popup: &Window) {
    if !popup.closed().unwrap_or(true) {
        let _ = popup.close();
    }
}

/// The intent's payload (`v1.<base64url JSON>.<mac>`), parsed; `None` when it isn't one. Read
/// for the button label and the session slot only: the edge verifies the intent.
pub(crate) fn intent_payload(intent: &str) -> Option<JsValue> {
    // Exactly three dot-separated parts, by byte positions (`str::split` with a char pattern
    // is generic code the wasm would carry for this; `.` is one byte, a char boundary).
    let dot = |from: usize| {
        intent
            .get(from..)?
            .bytes()
            .position(|b| b == b'.')
            .map(|at| at + from)
    };
    let first = dot(0)?;
    let second = dot(first + 1)?;
    if dot(second + 1).is_some() || intent.get(..first)? != "v1" {
        return None;
    }
    let payload = intent.get(first + 1..second)?;
    let mac = intent.get(second + 1..)?;
    if mac.is_empty() {
        return None;
    }
    let mut b64: String = payload
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !b64.len().is_multiple_of(4) {
        b64.push('=');
    }
    let json = crate::window()?.atob(&b64).ok()?;
    js_sys::JSON::parse(&json).ok().filter(JsValue::is_object)
}

/// A string field of a parsed JSON object.
pub(crate) fn field(obj: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(obj, &key.into())
        .ok()
        .and_then(|v| v.as_string())
}

/// Redirect mode: leave for the pay page.
pub(crate) fn navigate(url: &str) {
    if let Some(window) = crate::window() {
        let _ = window.location().assign(url);
    }
}

/// How long a stored order may be resumed: longer than any cashier session.
const RESUME_MAX_AGE_MS: f64 = 60.0 * 60.0 * 1000.0;

/// sessionStorage for redirect mode and popup-mode reloads: one slot per mounted widget,
/// keyed by edge, host element id and the intent's order number, so two widgets on one page
/// keep their own orders. The entry stays at a final state (a reload or Back shows the
/// outcome); it goes when the order is unknown at the edge, or after [`RESUME_MAX_AGE_MS`].
#[derive(Debug)]
pub(crate) struct Session {
    key: String,
    /// Which intent the order belongs to (its MAC tail), so a new intent never resumes an
    /// old order. Empty until known (`fetchIntent` fills it on the first click).
    tag: std::cell::RefCell<String>,
}

fn intent_tag(intent: &str) -> String {
    intent
        .get(intent.len().saturating_sub(24)..)
        .unwrap_or(intent)
        .to_owned()
}

impl Session {
    /// `slot`: the host element's id (empty without one).
    pub(crate) fn new(edge: &str, slot: &str, intent: Option<&str>) -> Session {
        let order_no = intent
            .and_then(intent_payload)
            .and_then(|p| field(&p, "order_no"))
            .unwrap_or_default();
        Session {
            key: crate::cat(&["trustpay.checkout:", edge, "|", slot, "|", &order_no]),
            tag: std::cell::RefCell::new(intent.map(intent_tag).unwrap_or_default()),
        }
    }

    /// The intent became known (from `fetchIntent`).
    pub(crate) fn set_intent(&self, intent: &str) {
        *self.tag.write() = intent_tag(intent);
    }

    fn storage() -> Option<web_sys::Storage> {
        crate::window()?.session_storage().ok().flatten()
    }

    pub(crate) fn save(&self, order: &OrderRef) {
        let Some(storage) = Self::storage() else {
            return;
        };
        let obj = js_sys::Object::new();
        let tag = self.tag.read();
        for (k, v) in [
            ("order_no", order.order_no.as_str()),
            ("client_secret", &order.client_secret),
            ("tag", &tag),
        ] {
            let _ = js_sys::Reflect::set(&obj, &k.into(), &v.into());
        }
        let _ = js_sys::Reflect::set(&obj, &"at".into(), &js_sys::Date::now().into());
        let _ = js_sys::Reflect::set(&obj, &"win".into(), &self.window().into());
        if let Some(url) = &order.pay_url {
            let _ = js_sys::Reflect::set(&obj, &"pay_url".into(), &url.into());
        }
        if let Ok(text) = js_sys::JSON::stringify(&obj) {
            let _ = storage.set_item(&self.key, &String::from(text));
        }
    }

    /// The stored order, if it is recent and belongs to this intent. A mount without an
    /// intent yet (`fetchIntent`, or a return page) resumes only when `untagged_ok`
    /// (redirect mode: coming back from the pay page is the point).
    pub(crate) fn load(&self, untagged_ok: bool) -> Option<OrderRef> {
        let obj = self.entry()?;
        let get = |k: &str| field(&obj, k);
        let stored_tag = get("tag").unwrap_or_default();
        let tag = self.tag.read();
        let belongs = if tag.is_empty() {
            untagged_ok
        } else {
            *tag == stored_tag
        };
        let at = js_sys::Reflect::get(&obj, &"at".into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        if !belongs || js_sys::Date::now() - at > RESUME_MAX_AGE_MS {
            return None;
        }
        Some(OrderRef {
            order_no: get("order_no")?,
            client_secret: get("client_secret")?,
            pay_url: get("pay_url"),
        })
    }

    /// The stored entry, parsed.
    fn entry(&self) -> Option<JsValue> {
        let text = Self::storage()?.get_item(&self.key).ok().flatten()?;
        js_sys::JSON::parse(&text).ok().filter(JsValue::is_object)
    }

    /// Whether a payment window of this order may still be open (kept across reloads: a
    /// reloaded page has no handle to close it with, so it shows the "close it" hint).
    pub(crate) fn window(&self) -> bool {
        self.entry()
            .and_then(|e| js_sys::Reflect::get(&e, &"win".into()).ok())
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// Records whether a payment window may be open.
    pub(crate) fn set_window(&self, open: bool) {
        let (Some(storage), Some(entry)) = (Self::storage(), self.entry()) else {
            return;
        };
        let _ = js_sys::Reflect::set(&entry, &"win".into(), &open.into());
        if let Ok(text) = js_sys::JSON::stringify(&entry) {
            let _ = storage.set_item(&self.key, &String::from(text));
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(storage) = Self::storage() {
            let _ = storage.remove_item(&self.key);
        }
    }
}
