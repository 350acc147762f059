//! The three embeddings, all ending in the same [`Config`]:
//!
//! 1. the script tag: `<script src=".../checkout.js" data-edge data-intent data-target
//!    data-locale data-mode data-theme async>` ([`from_script`]),
//! 2. `TrustPayCheckout.mount(target, {edge, intent | fetchIntent, locale, mode, theme,
//!    messages, onEvent})` ([`from_options`]),
//! 3. `<trustpay-checkout intent=".." locale="..">` (attributes without `data-`; the
//!    element class itself is 30 lines of JS in `widget/js/element.js`).

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use crate::i18n::Overrides;
use crate::negotiate;
use crate::reducer::Mode;
use crate::widget::Config;

thread_local! {
    /// The edge the script was loaded from: the default for mounts that don't name one.
    static DEFAULT_EDGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets the default edge (the boot glue passes the script's `data-edge` or origin).
pub fn set_default_edge(edge: &str) {
    DEFAULT_EDGE.with(|d| *d.borrow_mut() = edge.to_owned());
}

fn default_edge() -> String {
    DEFAULT_EDGE.with(|d| d.borrow().clone())
}

/// The browser's preferred languages, most preferred first.
fn browser_languages() -> Vec<String> {
    let Some(navigator) = web_sys::window().map(|w| w.navigator()) else {
        return Vec::new();
    };
    // `navigator.languages` starts with `navigator.language` in every current browser.
    let langs: Vec<String> = navigator
        .languages()
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    langs
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn config(
    edge: Option<String>,
    intent: Option<String>,
    locale: Option<String>,
    mode: Option<String>,
    theme: Option<String>,
) -> Config {
    Config {
        edge: non_empty(edge).unwrap_or_else(default_edge),
        intent: non_empty(intent),
        fetch_intent: None,
        // English when the shopper's locale file didn't load (the glue fetches it first).
        locale: negotiate::resolve(locale.as_deref(), &browser_languages()).usable(),
        mode: mode.as_deref().map(Mode::parse).unwrap_or_default(),
        theme: non_empty(theme).unwrap_or_else(|| "auto".to_owned()),
        overrides: Overrides::default(),
        on_event: None,
    }
}

/// Reads attributes named `{prefix}edge`, `{prefix}intent`, ... from an element.
pub(crate) fn from_attributes(el: &Element, prefix: &str) -> Config {
    let attr = |name: &str| el.get_attribute(&crate::cat(&[prefix, name]));
    config(
        attr("edge"),
        attr("intent"),
        attr("locale"),
        attr("mode"),
        attr("theme"),
    )
}

/// The script tag: its `data-*` attributes, and where to mount (`data-target`, a selector).
/// `None` when it has no `data-target` (the page will call `mount` itself).
pub(crate) fn from_script(script: &Element) -> Option<(Element, Config)> {
    let selector = non_empty(script.get_attribute("data-target"))?;
    let document = script.owner_document()?;
    let target = document.query_selector(&selector).ok().flatten()?;
    Some((target, from_attributes(script, "data-")))
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `mount(target, opts)`: `target` is an element or a selector.
pub(crate) fn from_options(target: &JsValue, opts: &JsValue) -> Result<(Element, Config), JsValue> {
    let target: Element = match target.as_string() {
        Some(selector) => web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(&selector).ok().flatten())
            .ok_or_else(|| {
                js_sys::Error::new(&crate::cat(&[
                    "TrustPayCheckout.mount: no element matches `",
                    &selector,
                    "`",
                ]))
            })?,
        None => target.clone().dyn_into().map_err(|_| {
            js_sys::Error::new("TrustPayCheckout.mount: target must be an element or a selector")
        })?,
    };
    let s = |k: &str| get(opts, k).as_string();
    let mut cfg = config(s("edge"), s("intent"), s("locale"), s("mode"), s("theme"));
    cfg.fetch_intent = get(opts, "fetchIntent").dyn_into().ok();
    cfg.on_event = get(opts, "onEvent").dyn_into().ok();
    let messages = get(opts, "messages");
    if messages.is_object() {
        let entries = js_sys::Object::entries(messages.unchecked_ref());
        let pairs: Vec<(String, String)> = entries
            .iter()
            .filter_map(|entry| {
                let entry: js_sys::Array = entry.unchecked_into();
                Some((entry.get(0).as_string()?, entry.get(1).as_string()?))
            })
            .collect();
        cfg.overrides = Overrides::new(pairs);
    }
    if cfg.edge.is_empty() {
        return Err(js_sys::Error::new("TrustPayCheckout.mount: `edge` is required").into());
    }
    Ok((target, cfg))
}
