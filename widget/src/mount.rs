//! The mount options, as the boot glue (`widget/js/boot.js`) hands them over: it reads the
//! three embeddings (the script tag's `data-*`, `TrustPayCheckout.mount(target, opts)`,
//! `<trustpay-checkout>`'s attributes), fills in the default edge and negotiates the locale
//! with the shopper's languages, then calls the wasm's `mount` with one options object.

use wasm_bindgen::{JsCast, JsValue};

use crate::i18n::{Locale, Texts};
use crate::reducer::Mode;
use crate::widget::Config;

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The options object: `edge` (required), `intent` or `fetchIntent`, `locale` (an exact tag)
/// and `texts` (its table, as fetched: English when it is absent or refused), `mode`,
/// `theme`, `messages` (looked up as it is: the glue hands over its own copy), `money` (the
/// glue's money formatter), `sheet` (the stylesheet).
pub(crate) fn from_options(opts: &JsValue) -> Result<Config, JsValue> {
    let s = |k: &str| get(opts, k).as_string();
    let edge = non_empty(s("edge"))
        .ok_or_else(|| js_sys::Error::new("TrustPayCheckout.mount: `edge` is required"))?;
    let locale = s("locale")
        .as_deref()
        .and_then(Locale::from_tag)
        .unwrap_or(Locale::En);
    let messages = get(opts, "messages");
    Ok(Config {
        edge,
        intent: non_empty(s("intent")),
        fetch_intent: get(opts, "fetchIntent").dyn_into().ok(),
        texts: Texts::new(locale, s("texts")),
        mode: s("mode").as_deref().map(Mode::parse).unwrap_or_default(),
        theme: non_empty(s("theme")).unwrap_or_else(|| "auto".to_owned()),
        messages: messages.is_object().then(|| messages.unchecked_into()),
        money: get(opts, "money").dyn_into().ok(),
        sheet: get(opts, "sheet"),
    })
}
