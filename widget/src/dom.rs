//! Rendering into a Shadow DOM: a constructed stylesheet (no `<style>`, no `style=""`, so
//! `style-src 'self'` holds), text through `set_text_content` only, a `role="status"`
//! `aria-live="polite"` region for every state change, `dir="rtl"` for Arabic.
//!
//! Theming: `--tp-*` custom properties set on the host element (they inherit into the
//! shadow tree), and `theme: light | dark | auto` (`auto` follows `prefers-color-scheme`).

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Document, Element, HtmlAnchorElement, HtmlButtonElement, ShadowRoot, ShadowRootInit,
    ShadowRootMode,
};

use crate::i18n::{Locale, Msg, Texts, Ui, phrase, text_with, with_amount};
use crate::reducer::{Button, Tone, View, is_pay_page};

/// The widget's elements inside its shadow root.
#[derive(Debug)]
pub(crate) struct Dom {
    pub(crate) shadow: ShadowRoot,
    pub(crate) root: Element,
    pub(crate) button: HtmlButtonElement,
    pub(crate) status: Element,
    pub(crate) reopen: HtmlAnchorElement,
}

/// What the boot glue did before the wasm took over (see `widget/js/boot.js`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Early {
    /// It drew the pay button and announced `ready` (the button worked from then on).
    pub(crate) drawn: bool,
    /// The shopper clicked it: the click is the widget's first event once it is idle.
    pub(crate) queued: bool,
}

/// Everything the text of the view depends on besides the state.
#[derive(Debug, Clone)]
pub(crate) struct TextCtx {
    pub(crate) texts: Texts,
    /// The merchant's `messages` option (key → text), looked up by [`text_with`]'s rules.
    pub(crate) messages: Option<js_sys::Object>,
    /// The boot glue's money formatter (`money(tag, minor, currency)`, with the table of
    /// `widget::amount`), so the formatting code is in the page once, in JS.
    pub(crate) money: Option<js_sys::Function>,
    /// The formatted amount (`$5.00`, `₹100.00`) once known.
    pub(crate) amount: Option<String>,
}

impl TextCtx {
    pub(crate) fn text(&self, msg: &Msg) -> String {
        match &self.messages {
            Some(messages) => text_with(&self.texts, msg, |key| {
                js_sys::Reflect::get(messages, &key.into())
                    .ok()?
                    .as_string()
            }),
            None => self.texts.phrase(phrase(msg)).to_owned(),
        }
    }

    /// `minor` units of `currency` as the shopper's locale writes them (`None` if the glue
    /// gave no formatter or it can't write that currency: the button then says "Pay now").
    pub(crate) fn money(&self, minor: i64, currency: &str) -> Option<String> {
        self.money
            .as_ref()?
            .call3(
                &wasm_bindgen::JsValue::NULL,
                &self.texts.locale().tag().into(),
                &(minor as f64).into(),
                &currency.into(),
            )
            .ok()?
            .as_string()
    }
}

/// A new element with its attributes (one loop, not a call site per attribute: bytes).
fn make(doc: &Document, tag: &str, attrs: &[(&str, &str)]) -> Result<Element, JsValue> {
    let el = doc.create_element(tag)?;
    for (name, value) in attrs {
        el.set_attribute(name, value)?;
    }
    Ok(el)
}

impl Dom {
    /// Attaches (or reuses) the host's shadow root and builds the widget in it, or takes over
    /// the button the boot glue drew there ([`Early`]). `sheet`: the stylesheet every widget
    /// adopts, [`crate::style::CSS`], which the glue constructs once (it draws with it before
    /// the wasm is in) and hands to each mount, so the CSS text is not in the wasm too.
    pub(crate) fn build(
        host: &Element,
        locale: Locale,
        theme: &str,
        sheet: &JsValue,
    ) -> Result<(Dom, Early), JsValue> {
        let doc = host
            .owner_document()
            .ok_or_else(|| JsValue::from_str("no document"))?;
        let theme = match theme {
            "light" | "dark" => theme,
            _ => "auto",
        };
        let shadow = match host.shadow_root() {
            Some(shadow) => {
                if let Some(adopted) = Dom::adopt(&shadow, locale, theme) {
                    return Ok(adopted);
                }
                shadow
            }
            None => host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))?,
        };
        shadow.set_text_content(None);
        if sheet.is_undefined() {
            return Err(JsValue::from_str(
                "TrustPayCheckout: no stylesheet (`sheet`)",
            ));
        }
        shadow.set_adopted_style_sheets(&js_sys::Array::of1(sheet));

        let dir = if locale.is_rtl() { "rtl" } else { "ltr" };
        let root = make(
            &doc,
            "div",
            &[
                ("class", "tp"),
                ("part", "root"),
                ("lang", locale.tag()),
                ("dir", dir),
                ("data-theme", theme),
            ],
        )?;
        let button: HtmlButtonElement =
            make(&doc, "button", &[("type", "button"), ("part", "button")])?.unchecked_into();
        // tabindex=-1: focus lands here when the focused button goes away (payment done).
        let status = make(
            &doc,
            "p",
            &[
                ("role", "status"),
                ("aria-live", "polite"),
                ("part", "status"),
                ("tabindex", "-1"),
            ],
        )?;
        let reopen: HtmlAnchorElement = make(
            &doc,
            "a",
            &[
                ("target", "_blank"),
                ("rel", "noopener"),
                ("part", "reopen"),
                ("hidden", ""),
            ],
        )?
        .unchecked_into();

        root.append_child(&button)?;
        root.append_child(&status)?;
        root.append_child(&reopen)?;
        shadow.append_child(&root)?;
        Ok((
            Dom {
                shadow,
                root,
                button,
                status,
                reopen,
            },
            Early::default(),
        ))
    }

    /// Takes over what the boot glue drew while the wasm loaded (`data-early` on the root,
    /// then the button, the status and the reopen link, as [`Dom::build`] makes them): the
    /// same elements stay, so focus and layout do too.
    fn adopt(shadow: &ShadowRoot, locale: Locale, theme: &str) -> Option<(Dom, Early)> {
        let root = shadow.first_element_child()?;
        if !root.has_attribute("data-early") {
            return None;
        }
        // Only the glue's `draw()` marks a root `data-early`, and it draws exactly these three
        // elements in this order: no `instanceof` checks (an import and a shim each).
        let first = root.first_element_child()?;
        let status = first.next_element_sibling()?;
        let reopen: HtmlAnchorElement = status.next_element_sibling()?.unchecked_into();
        let button: HtmlButtonElement = first.unchecked_into();
        let _ = root.remove_attribute("data-early");
        // The wasm's negotiation and fallback decide; the glue's guess is replaced if it differs.
        let _ = root.set_attribute("lang", locale.tag());
        let _ = root.set_attribute("dir", if locale.is_rtl() { "rtl" } else { "ltr" });
        let _ = root.set_attribute("data-theme", theme);
        let queued = button.has_attribute("data-queued");
        let _ = button.remove_attribute("data-queued");
        Some((
            Dom {
                shadow: shadow.clone(),
                root,
                button,
                status,
                reopen,
            },
            Early {
                drawn: true,
                queued,
            },
        ))
    }

    /// Shows a view. Only changed text is written, so screen readers announce real changes.
    ///
    /// Focus never falls to `<body>`: when the focused button or link goes away it moves to the
    /// button if one is shown, else to the status. A "Try again" button that appears takes focus
    /// when focus was in the widget or nowhere (the shopper paid in the popup), so the keyboard
    /// and the screen reader are on the next step at once.
    pub(crate) fn render(&self, view: &View, ctx: &TextCtx) {
        let mut status = view
            .status
            .as_ref()
            .map(|m| ctx.text(m))
            .unwrap_or_default();
        if view.close_hint {
            status = crate::cat(&[&status, " ", &ctx.text(&Msg::Ui(Ui::CloseHint))]);
        }
        if self.status.text_content().unwrap_or_default() != status {
            self.status.set_text_content(Some(&status));
        }
        let tone = match view.tone {
            Tone::Info => "info",
            Tone::Success => "success",
            Tone::Error => "error",
        };
        let _ = self.root.set_attribute("data-tone", tone);
        // No `aria-busy` on the root: it holds the live region, and some screen readers skip
        // what a busy region announces ("Preparing your payment…"). The button says it.

        let active = self.shadow.active_element();
        let had = |el: &Element| active.as_ref() == Some(el);
        let was_hidden = self.button.has_attribute("hidden");
        let mut new_retry = false;
        match view.button {
            Some(kind) => {
                let label = match (kind, &ctx.amount) {
                    // The amount isolated (FSI … PDI), so RTL text reads it as one unit.
                    (Button::Pay, Some(amount)) => with_amount(
                        &ctx.text(&Msg::Ui(Ui::PayAmount)),
                        &crate::cat(&["\u{2068}", amount, "\u{2069}"]),
                    ),
                    (Button::Pay, None) => ctx.text(&Msg::Ui(Ui::PayNow)),
                    (Button::Retry, _) => ctx.text(&Msg::Ui(Ui::Retry)),
                };
                if self.button.text_content().unwrap_or_default() != label {
                    new_retry = kind == Button::Retry;
                    self.button.set_text_content(Some(&label));
                }
                new_retry |= kind == Button::Retry && was_hidden;
                let _ = self
                    .button
                    .set_attribute("aria-disabled", if view.busy { "true" } else { "false" });
                let _ = self
                    .button
                    .toggle_attribute_with_force("disabled", view.disabled);
                hide(&self.button, false);
            }
            None => hide(&self.button, true),
        }

        match &view.reopen {
            Some(url) if is_pay_page(url) => {
                let _ = self.reopen.set_attribute("href", url);
                let label = ctx.text(&Msg::Ui(if view.first_open {
                    Ui::OpenPage
                } else {
                    Ui::Reopen
                }));
                if self.reopen.text_content().unwrap_or_default() != label {
                    self.reopen.set_text_content(Some(&label));
                }
                hide(&self.reopen, false);
            }
            Some(_) | None => hide(&self.reopen, true),
        }

        let shown = !self.button.has_attribute("hidden");
        let lost = (had(&self.button) && !shown)
            || (had(&self.reopen) && self.reopen.has_attribute("hidden"));
        let page_focus_free = active.is_some()
            || self
                .root
                .owner_document()
                .and_then(|d| {
                    d.active_element()
                        .map(|a| Some(a) == d.body().map(Into::into))
                })
                .unwrap_or(true);
        if shown && (lost || (new_retry && page_focus_free)) {
            let _ = self.button.focus();
        } else if lost {
            // A <p> we created: always an HTMLElement.
            let _ = self.status.unchecked_ref::<web_sys::HtmlElement>().focus();
        }
    }

    /// Empties the shadow root (destroy).
    pub(crate) fn clear(&self) {
        self.shadow.set_text_content(None);
        self.shadow.set_adopted_style_sheets(&js_sys::Array::new());
    }
}

/// A DOM event listener, removed when dropped (so `destroy()` leaves none behind). What
/// gloo-events' `EventListener` does for the widget, without the options object it builds on
/// every add (`passive`, `once`, `capture` setters: imports and glue the widget never needs,
/// its listeners neither cancel events nor capture).
#[derive(Debug)]
pub(crate) struct Listener {
    target: web_sys::EventTarget,
    kind: &'static str,
    callback: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Listens for `kind` events on `target` until dropped.
    pub(crate) fn new(
        target: &web_sys::EventTarget,
        kind: &'static str,
        mut on: impl FnMut(&web_sys::Event) + 'static,
    ) -> Listener {
        let callback = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(
            move |event: web_sys::Event| on(&event),
        );
        let _ = target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// Shows or hides an element with the `hidden` attribute (no inline styles).
fn hide(el: &Element, hidden: bool) {
    let _ = el.toggle_attribute_with_force("hidden", hidden);
}
