//! The mount options, as the boot glue (`widget/js/boot.js`) hands them over: it reads the
//! three embeddings (the script tag's `data-*`, `TrustPayCheckout.mount(target, opts)`,
//! `<trustpay-checkout>`'s attributes), fills in the default edge and negotiates the locale
//! with the shopper's languages, then calls the wasm's `mount` with one options object.

use wasm_bindgen::{JsCast, JsValue};

use crate::i18n::{Locale, Overrides};
use crate::reducer::Mode;
use crate::widget::Config;

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The options object: `edge` (required), `intent` or `fetchIntent`, `locale` (an exact tag;
/// English when its texts aren't here), `mode`, `theme`, `messages`.
pub(crate) fn from_options(opts: &JsValue) -> Result<Config, JsValue> {
    let s = |k: &str| get(opts, k).as_string();
    let edge = non_empty(s("edge"))
        .ok_or_else(|| js_sys::Error::new("TrustPayCheckout.mount: `edge` is required"))?;
    let locale = s("locale")
        .as_deref()
        .and_then(Locale::from_tag)
        .unwrap_or(Locale::En)
        .usable();
    let mut cfg = Config {
        edge,
        intent: non_empty(s("intent")),
        fetch_intent: get(opts, "fetchIntent").dyn_into().ok(),
        locale,
        mode: s("mode").as_deref().map(Mode::parse).unwrap_or_default(),
        theme: non_empty(s("theme")).unwrap_or_else(|| "auto".to_owned()),
        overrides: Overrides::default(),
    };
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
    Ok(cfg)
}
