//! DOM behaviour in headless Chromium (wasm-bindgen-test):
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p widget --target wasm32-unknown-unknown`
//! (or `cargo xtask test widget-browser`).
//!
//! The edge is a `fetch` stub installed from JS (it counts calls and answers like the real
//! edge), so the tests are deterministic and need no server. Each test uses its own edge URL
//! so sessionStorage entries never leak between tests.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};
use widget::i18n::{Locale, Phrase};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
let calls = [];
let statuses = [1];
// The edge's order view for a status; 50 stands for a status 5 whose paid amount is short
// (the edge's state "underpaid").
const STATES = { 1: 'pending', 3: 'failed', 4: 'expired', 5: 'paid', 6: 'settled',
  7: 'refunded', 8: 'partially_refunded', 9: 'refunding' };
function orderView(s, token) {
  const short = s === 50;
  return { order_no: 'T-1', status: short ? 5 : s, state: short ? 'underpaid' : (STATES[s] || 'unknown'),
    amount: '5.00', currency: 'USD', paid_amount: short ? '2.00' : undefined, updated_at: 1,
    result_token: s === 5 || short ? token : undefined };
}
let createAnswer = null;
let failCreates = 0;
let bodies = [];
export function install_stub(statusList, create, fail) {
  calls = [];
  bodies = [];
  failCreates = fail || 0;
  statuses = Array.from(statusList);
  createAnswer = create || null;
  attemptAnswer = null;
  attemptSecrets = [];
  if (!window.__tpRealFetch) window.__tpRealFetch = window.fetch;
  if (!window.__tpRealOpen) window.__tpRealOpen = window.open;
  window.open = window.__tpRealOpen;
  const json = (status, body) => Promise.resolve(new Response(JSON.stringify(body),
    { status, headers: { 'Content-Type': 'application/json' } }));
  window.fetch = function (url, init) {
    url = String(url);
    calls.push((init && init.method || 'GET') + ' ' + url);
    if (init && init.method === 'POST' && url.endsWith('/v1/orders')) {
      bodies.push(String(init.body));
      if (failCreates > 0) { failCreates -= 1; return Promise.reject(new TypeError('Failed to fetch')); }
      if (createAnswer) return json(createAnswer[0], createAnswer[1]);
      return json(201, { order_no: 'T-1', pay_url: 'http://127.0.0.1:9/pay/T-1', status: 1,
        state: 'pending', amount: '5.00', currency: 'USD', client_secret: 'cs_test' });
    }
    if (init && init.method === 'POST' && url.endsWith('/attempts')) {
      attemptSecrets.push(init.headers && init.headers.get('X-Client-Secret'));
      if (attemptAnswer) return json(attemptAnswer[0], attemptAnswer[1]);
      const n = attemptSecrets.length + 1;
      return json(201, { order_no: 'T-1', attempt: n, pay_url: 'http://127.0.0.1:9/pay/T-1__' + n, status: 1,
        state: 'pending', amount: '5.00', currency: 'USD', events_token: 'ev1.tok' + n + '.sig' });
    }
    if (url.indexOf('/v1/orders/') >= 0) {
      const secret = init && init.headers && init.headers.get('X-Client-Secret');
      if (secret !== 'cs_test') return json(401, { error: { code: 'client_secret_invalid', message: 'x' } });
      const s = statuses.length > 1 ? statuses.shift() : statuses[0];
      return json(200, orderView(s, 'v1.tok.sig'));
    }
    return json(404, { error: { code: 'not_found', message: 'x' } });
  };
}
let attemptAnswer = null;
let attemptSecrets = [];
export function set_attempt_answer(answer) { attemptAnswer = answer || null; attemptSecrets = []; }
export function attempt_secrets() { return attemptSecrets.slice(); }
// Fake popups: `closable` ones close when asked (a browser that allows it); the others stay
// open, as Chromium's do once they show another origin's page with `opener` cut.
let popups = [];
export function fake_popups(closable) {
  popups = [];
  window.open = function (url) {
    const w = { opener: 'shop', closed: false, url: String(url), location: { href: String(url) },
      close() { if (closable) this.closed = true; } };
    popups.push(w);
    return w;
  };
}
export function popup_count() { return popups.length; }
export function popup_url(i) { return popups[i].location.href; }
export function popup_closed(i) { return popups[i].closed; }
export function popup_opener_cut(i) { return popups[i].opener === null; }
let consoleErrors = [];
export function capture_console() {
  consoleErrors = [];
  if (!window.__tpRealError) window.__tpRealError = console.error;
  console.error = function (m) { consoleErrors.push(String(m)); };
}
export function console_errors() { return consoleErrors.slice(); }
export function active_tag() { const a = document.activeElement; return a ? a.tagName : ''; }
export function block_popups() { window.open = function () { return null; }; }
export function fetch_calls() { return calls.length; }
export function create_bodies() { return bodies.slice(); }
export function save_session(key, value) { sessionStorage.setItem(key, value); }
export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
export function b64url(s) { return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }
// A fake EventSource (the edge's /events stream): tests push messages and errors into it.
let sources = [];
export function install_event_source() {
  sources = [];
  if (!window.__tpRealES) window.__tpRealES = window.EventSource;
  window.EventSource = class extends EventTarget {
    constructor(url) { super(); this.url = String(url); this.closed = false; sources.push(this); }
    close() { this.closed = true; }
  };
}
export function restore_event_source() { if (window.__tpRealES) window.EventSource = window.__tpRealES; }
export function es_count() { return sources.length; }
export function es_url(i) { return sources[i].url; }
export function es_closed(i) { return sources[i].closed; }
export function es_send(i, s) {
  sources[i].dispatchEvent(new MessageEvent('message', { data: JSON.stringify(orderView(s, 'v1.push.sig')) }));
}
export function es_fail(i) { sources[i].dispatchEvent(new Event('error')); }
export function created_with_events_token() {
  return [201, { order_no: 'T-1', pay_url: 'http://127.0.0.1:9/pay/T-1', status: 1, state: 'pending',
    amount: '5.00', currency: 'USD', client_secret: 'cs_test', events_token: 'ev1.tok.sig' }];
}
"#)]
extern "C" {
    fn install_stub(statuses: Vec<u32>, create: JsValue, fail_creates: u32);
    fn create_bodies() -> Vec<String>;
    fn save_session(key: &str, value: &str);
    fn block_popups();
    fn fetch_calls() -> u32;
    fn sleep(ms: u32) -> js_sys::Promise;
    fn b64url(s: &str) -> String;
    fn install_event_source();
    fn restore_event_source();
    fn es_count() -> u32;
    fn es_url(i: u32) -> String;
    fn es_closed(i: u32) -> bool;
    fn es_send(i: u32, status: u32);
    fn es_fail(i: u32);
    fn created_with_events_token() -> JsValue;
    fn set_attempt_answer(answer: JsValue);
    fn attempt_secrets() -> Vec<String>;
    fn fake_popups(closable: bool);
    fn popup_count() -> u32;
    fn popup_url(i: u32) -> String;
    fn popup_closed(i: u32) -> bool;
    fn popup_opener_cut(i: u32) -> bool;
    fn capture_console();
    fn console_errors() -> Vec<String>;
    fn active_tag() -> String;
}

/// The real `<trustpay-checkout>` glue, imported as a module (the build appends it to
/// checkout.js as a classic script).
#[wasm_bindgen(module = "/js/element.js")]
extern "C" {
    #[wasm_bindgen(js_name = defineElement)]
    fn define_element(mount_element: &js_sys::Function);
}

async fn wait(ms: u32) {
    wasm_bindgen_futures::JsFuture::from(sleep(ms))
        .await
        .expect("sleep");
}

/// Polls until `cond` holds (up to `ms`).
async fn until(ms: u32, cond: impl Fn() -> bool) -> bool {
    let mut waited = 0;
    while waited < ms {
        if cond() {
            return true;
        }
        wait(20).await;
        waited += 20;
    }
    cond()
}

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("document")
}

thread_local! {
    /// The boot glue's one stylesheet for every widget (`sheet` in the mount options).
    static SHEET: web_sys::CssStyleSheet = {
        let sheet = web_sys::CssStyleSheet::new().expect("stylesheet");
        sheet.replace_sync(widget::style::CSS).expect("css");
        sheet
    };
}

/// What the boot glue does before it mounts anything (nothing left: the stylesheet and the
/// locale's table go with each mount, see [`set_glue`]).
fn prepare() {}

/// A mounted widget as the boot glue's handle holds it: its id, with the handle's `destroy`
/// and `state` (what `<trustpay-checkout>` calls on it too).
#[wasm_bindgen]
#[derive(Debug)]
pub struct Handle(u32);

#[wasm_bindgen]
impl Handle {
    pub fn destroy(&self) {
        widget::destroy(self.0);
    }

    pub fn state(&self) -> String {
        widget::state(self.0).as_string().unwrap_or_default()
    }
}

fn mount_on(el: Element, opts: JsValue) -> Result<Handle, JsValue> {
    widget::mount(el, opts).map(Handle)
}

fn host(id: &str) -> Element {
    prepare();
    let el = document().create_element("div").expect("div");
    el.set_id(id);
    document()
        .body()
        .expect("body")
        .append_child(&el)
        .expect("append");
    el
}

fn intent(amount: &str, currency: &str) -> String {
    let payload = format!(
        r#"{{"order_no":"T-1","amount":"{amount}","currency":"{currency}","exp":4102444800}}"#
    );
    format!("v1.{}.c2lnbmF0dXJl", b64url(&payload))
}

fn shadow_q(host: &Element, selector: &str) -> Option<Element> {
    host.shadow_root()?.query_selector(selector).ok().flatten()
}

fn text(host: &Element, selector: &str) -> String {
    shadow_q(host, selector)
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

fn is_hidden(host: &Element, selector: &str) -> bool {
    shadow_q(host, selector)
        .map(|e| e.has_attribute("hidden"))
        .unwrap_or(true)
}

fn click(host: &Element, selector: &str) {
    shadow_q(host, selector)
        .expect("element")
        .unchecked_into::<HtmlElement>()
        .click();
}

fn opts(edge: &str, intent: &str, locale: &str) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in [("edge", edge), ("intent", intent), ("locale", locale)] {
        js_sys::Reflect::set(&o, &k.into(), &v.into()).expect("set");
    }
    set_glue(&o, locale);
    o.into()
}

/// The options the boot glue adds to every mount: `texts`, the locale's table (as if its file
/// had loaded), `money`, formatting with `amount.rs`'s table as the glue's copy of it does
/// (the bundle smoke test checks that copy against `Intl`), and `sheet`, the stylesheet.
fn set_glue(o: &js_sys::Object, locale: &str) {
    SHEET.with(|sheet| js_sys::Reflect::set(o, &"sheet".into(), sheet).expect("set"));
    if let Some(locale) = Locale::from_tag(locale).filter(|l| *l != Locale::En) {
        js_sys::Reflect::set(o, &"texts".into(), &locale.table().into()).expect("set");
    }
    let money = Closure::<dyn Fn(String, f64, String) -> String>::new(
        |tag: String, minor: f64, cur: String| {
            let locale = Locale::from_tag(&tag).expect("the wasm passes its locale's tag");
            widget::amount::format(locale, minor as i64, &cur)
        },
    );
    js_sys::Reflect::set(o, &"money".into(), money.as_ref()).expect("set");
    money.forget();
}

type Log = Rc<RefCell<Vec<String>>>;

/// Records `type:state[:status|code]` for every `trustpay:*` event on the host (what the
/// boot glue's `handle.on` and `onEvent` pass on).
fn record(host: &Element) -> Log {
    let log: Log = Rc::default();
    for name in ["ready", "state", "error", "redirect", "close"] {
        let log = log.clone();
        let f = Closure::<dyn Fn(web_sys::CustomEvent)>::new(move |event: web_sys::CustomEvent| {
            let detail = event.detail();
            let get = |k: &str| {
                js_sys::Reflect::get(&detail, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
            };
            let extra = get("code")
                .or_else(|| get("status"))
                .map(|x| format!(":{x}"))
                .unwrap_or_default();
            let token = get("result_token")
                .map(|t| format!("#{t}"))
                .unwrap_or_default();
            log.borrow_mut().push(format!(
                "{}:{}{}{}",
                get("type").unwrap_or_default(),
                get("state").unwrap_or_default(),
                extra,
                token
            ));
        });
        host.add_event_listener_with_callback(
            &format!("trustpay:{name}"),
            f.as_ref().unchecked_ref(),
        )
        .expect("listen");
        f.forget();
    }
    log
}

const EN_WAITING: &str = "Finish paying in the payment window. This page updates by itself.";
const EN_PAID: &str = "Payment received. Thank you!";
const EN_UNDERPAID: &str =
    "We received part of your payment. The merchant will contact you about the rest.";
/// The stub's code for a status 5 whose paid amount is short (state `underpaid`).
const UNDERPAID: u32 = 50;

#[wasm_bindgen_test]
async fn mount_renders_accessibly_and_tracks_to_paid() {
    install_stub(vec![1, 5], JsValue::UNDEFINED, 0);
    let el = host("pay-1");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-1.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    assert!(
        until(1000, || log.borrow().iter().any(|e| e == "ready:idle")).await,
        "{:?}",
        log.borrow()
    );

    // Shadow DOM, constructed stylesheet, live region, lang/dir, the amount (`amount.rs`).
    let shadow = el.shadow_root().expect("shadow root");
    assert_eq!(shadow.adopted_style_sheets().length(), 1);
    assert!(shadow.query_selector("style").expect("query").is_none());
    assert!(
        shadow.query_selector("[style]").expect("query").is_none(),
        "no inline style attributes"
    );
    let status = shadow_q(&el, "[role=status]").expect("live region");
    assert_eq!(status.get_attribute("aria-live").as_deref(), Some("polite"));
    let root = shadow_q(&el, ".tp").expect("root");
    assert_eq!(root.get_attribute("dir").as_deref(), Some("ltr"));
    assert_eq!(root.get_attribute("lang").as_deref(), Some("en"));
    assert_eq!(text(&el, "button"), "Pay \u{2068}$5.00\u{2069}");
    assert_eq!(handle.state(), "idle");

    click(&el, "button");
    // Double click: still exactly one create request.
    click(&el, "button");
    // Keyboard users keep their place: focus on the button now, on the status once it goes.
    shadow_q(&el, "button")
        .expect("button")
        .unchecked_into::<HtmlElement>()
        .focus()
        .expect("focus");
    assert!(
        until(2000, || text(&el, "[role=status]") == EN_WAITING).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(
        until(4000, || text(&el, "[role=status]") == EN_PAID).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert_eq!(
        shadow_q(&el, ".tp")
            .and_then(|r| r.get_attribute("data-tone"))
            .as_deref(),
        Some("success")
    );
    assert!(is_hidden(&el, "button"), "no button after payment");
    let focused = el
        .shadow_root()
        .and_then(|s| s.active_element())
        .and_then(|e| e.get_attribute("role"));
    assert_eq!(
        focused.as_deref(),
        Some("status"),
        "focus moved to the status"
    );
    let log = log.borrow().clone();
    assert!(log.contains(&"state:creating".to_owned()), "{log:?}");
    assert!(
        log.contains(&"redirect:waiting:pending".to_owned()),
        "{log:?}"
    );
    // The edge's signed client result reaches the page with the final state.
    assert!(
        log.contains(&"state:final:paid#v1.tok.sig".to_owned()),
        "{log:?}"
    );
    // One POST, then GETs until paid: 1 + 2.
    assert_eq!(fetch_calls(), 3);
    handle.destroy();
}

#[wasm_bindgen_test]
async fn destroy_removes_listeners_and_stops_polling() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-2");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-2.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(
        until(2000, || fetch_calls() >= 2).await,
        "create + first poll"
    );
    assert_eq!(handle.state(), "waiting");
    handle.destroy();
    assert_eq!(handle.state(), "destroyed");
    let calls = fetch_calls();
    assert_eq!(
        el.shadow_root().expect("shadow").child_element_count(),
        0,
        "DOM removed"
    );
    // Window listeners are gone too: online/offline and visibility do nothing now.
    for name in ["online", "offline"] {
        let _ = web_sys::window()
            .expect("window")
            .dispatch_event(&web_sys::Event::new(name).expect("event"));
    }
    let _ = document().dispatch_event(&web_sys::Event::new("visibilitychange").expect("event"));
    // The next poll would have come within 1.5 s.
    wait(2_500).await;
    assert_eq!(fetch_calls(), calls, "no network calls after destroy()");
}

#[wasm_bindgen_test]
async fn custom_element_mounts_in_arabic_rtl_and_unmounts_on_removal() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    // What the boot glue's mountElement does: the element's attributes as the mount options.
    let mount = Closure::<dyn Fn(Element) -> Result<Handle, JsValue>>::new(|el: Element| {
        let o = js_sys::Object::new();
        for name in ["edge", "intent", "locale"] {
            let value = el
                .get_attribute(name)
                .map(JsValue::from)
                .unwrap_or_default();
            js_sys::Reflect::set(&o, &name.into(), &value).expect("set");
        }
        set_glue(&o, &el.get_attribute("locale").unwrap_or_default());
        mount_on(el, o.into())
    });
    prepare();
    define_element(mount.as_ref().unchecked_ref());
    mount.forget();
    let el = document()
        .create_element("trustpay-checkout")
        .expect("element");
    el.set_attribute("edge", "https://edge-4.test")
        .expect("attr");
    el.set_attribute("locale", "ar").expect("attr");
    el.set_attribute("intent", &intent("5.00", "USD"))
        .expect("attr");
    document()
        .body()
        .expect("body")
        .append_child(&el)
        .expect("append");
    assert!(
        until(1000, || !text(&el, "button").is_empty()).await,
        "upgraded and mounted"
    );
    let root = shadow_q(&el, ".tp").expect("root");
    assert_eq!(root.get_attribute("dir").as_deref(), Some("rtl"));
    assert_eq!(root.get_attribute("lang").as_deref(), Some("ar"));
    assert!(
        text(&el, "button").starts_with("ادفع"),
        "{}",
        text(&el, "button")
    );

    // Live region announces the next state in Arabic.
    click(&el, "button");
    assert!(
        until(2000, || text(&el, "[role=status]")
            == "أكمل الدفع في نافذة الدفع. سيتم تحديث هذه الصفحة تلقائيًا.")
        .await,
        "{}",
        text(&el, "[role=status]")
    );

    // Removing the element destroys the widget (disconnectedCallback).
    el.remove();
    assert_eq!(el.shadow_root().expect("shadow").child_element_count(), 0);
    let calls = fetch_calls();
    wait(2_000).await;
    assert_eq!(fetch_calls(), calls);
}

#[wasm_bindgen_test]
async fn popup_blocked_shows_reopen_link() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    block_popups();
    let el = host("pay-5");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-5.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    assert!(is_hidden(&el, "a"), "no link before the order exists");
    click(&el, "button");
    assert!(
        until(2000, || !is_hidden(&el, "a")).await,
        "reopen link shown"
    );
    assert_eq!(
        text(&el, "[role=status]"),
        "The payment window was blocked. Use the link to open it."
    );
    assert_eq!(
        text(&el, "a"),
        "Open payment page",
        "nothing was opened yet"
    );
    let link = shadow_q(&el, "a").expect("link");
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("http://127.0.0.1:9/pay/T-1")
    );
    assert_eq!(link.get_attribute("rel").as_deref(), Some("noopener"));
    handle.destroy();
}

#[wasm_bindgen_test]
async fn edge_errors_become_shopper_messages_and_stable_codes() {
    let body = js_sys::JSON::parse(
        r#"{"error":{"code":"intent_expired","message":"The checkout intent has expired."}}"#,
    )
    .expect("json");
    install_stub(vec![1], js_sys::Array::of2(&410.into(), &body).into(), 0);
    let el = host("pay-6");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-6.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(until(2000, || handle.state() == "error").await);
    assert_eq!(
        text(&el, "[role=status]"),
        "This checkout has expired. Reload the page to start again."
    );
    assert!(
        log.borrow()
            .contains(&"error:error:intent_expired".to_owned()),
        "{:?}",
        log.borrow()
    );
    assert_eq!(
        shadow_q(&el, ".tp")
            .and_then(|r| r.get_attribute("data-tone"))
            .as_deref(),
        Some("error")
    );
    handle.destroy();
}

#[wasm_bindgen_test]
async fn messages_option_overrides_text() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-7");
    let o = opts("https://edge-7.test", &intent("5.00", "USD"), "en");
    let messages = js_sys::Object::new();
    js_sys::Reflect::set(
        &messages,
        &"pay_amount".into(),
        &"Buy now for {amount}".into(),
    )
    .expect("set");
    js_sys::Reflect::set(&o, &"messages".into(), &messages).expect("set");
    let handle = mount_on(el.clone(), o).expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    assert_eq!(text(&el, "button"), "Buy now for \u{2068}$5.00\u{2069}");
    handle.destroy();
}

#[wasm_bindgen_test]
async fn network_failures_retry_the_same_intent_without_duplicates() {
    install_stub(vec![1], JsValue::UNDEFINED, 2);
    let el = host("pay-8");
    let the_intent = intent("5.00", "USD");
    let handle =
        mount_on(el.clone(), opts("https://edge-8.test", &the_intent, "en")).expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    // Two failures (retried after ≤ 0.6 s and ≤ 1.2 s), then the order.
    assert!(
        until(4000, || handle.state() == "waiting").await,
        "{}",
        handle.state()
    );
    let bodies = create_bodies();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    let expected = format!(r#"{{"intent":"{the_intent}"}}"#);
    assert!(bodies.iter().all(|b| *b == expected), "{bodies:?}");
    handle.destroy();
}

#[wasm_bindgen_test]
async fn redirect_mode_resumes_tracking_from_session_storage() {
    install_stub(vec![5], JsValue::UNDEFINED, 0);
    let the_intent = intent("5.00", "USD");
    let tag = &the_intent[the_intent.len() - 24..];
    let now = js_sys::Date::now();
    let saved =
        format!(r#"{{"order_no":"T-1","client_secret":"cs_test","tag":"{tag}","at":{now}}}"#);
    save_session("trustpay.checkout:https://edge-9.test|pay-9|T-1", &saved);
    // Stale (2 h old) or for another intent: never resumed.
    let stale = format!(
        r#"{{"order_no":"T-1","client_secret":"cs_test","tag":"{tag}","at":{}}}"#,
        now - 7.2e6
    );
    save_session("trustpay.checkout:https://edge-9b.test|pay-9b|T-1", &stale);
    let other = format!(
        r#"{{"order_no":"T-1","client_secret":"cs_test","tag":"another-intent-tail","at":{now}}}"#
    );
    save_session("trustpay.checkout:https://edge-9c.test|pay-9c|T-1", &other);
    for (id, edge) in [
        ("pay-9b", "https://edge-9b.test"),
        ("pay-9c", "https://edge-9c.test"),
    ] {
        let o = opts(edge, &the_intent, "en");
        js_sys::Reflect::set(&o, &"mode".into(), &"redirect".into()).expect("set");
        let h = mount_on(host(id), o).expect("mount");
        assert!(
            until(1000, || h.state() == "idle").await,
            "{edge}: {}",
            h.state()
        );
        h.destroy();
    }
    assert_eq!(fetch_calls(), 0);
    let el = host("pay-9");
    let o = opts("https://edge-9.test", &the_intent, "en");
    js_sys::Reflect::set(&o, &"mode".into(), &"redirect".into()).expect("set");
    let handle = mount_on(el.clone(), o).expect("mount");
    let log = record(&el);
    assert!(
        until(3000, || text(&el, "[role=status]") == EN_PAID).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(
        log.borrow().contains(&"ready:waiting:pending".to_owned()),
        "{:?}",
        log.borrow()
    );
    assert_eq!(fetch_calls(), 1, "no create: one status request");
    // The finished order stays: a reload (or Back) shows this outcome, not a new pay button.
    let stored = web_sys::window()
        .and_then(|w| w.session_storage().ok().flatten())
        .and_then(|s| {
            s.get_item("trustpay.checkout:https://edge-9.test|pay-9|T-1")
                .ok()
                .flatten()
        });
    assert!(stored.is_some_and(|s| s.contains("cs_test")));
    handle.destroy();
}

#[wasm_bindgen_test]
async fn offline_is_announced() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-10");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-10.test", &intent("5.00", "USD"), "es"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    let _ = web_sys::window()
        .expect("window")
        .dispatch_event(&web_sys::Event::new("offline").expect("event"));
    assert_eq!(
        text(&el, "[role=status]"),
        "Sin conexión. Volveremos a comprobar cuando te conectes."
    );
    let _ = web_sys::window()
        .expect("window")
        .dispatch_event(&web_sys::Event::new("online").expect("event"));
    assert_eq!(text(&el, "[role=status]"), "");
    handle.destroy();
}

#[wasm_bindgen_test]
async fn fetch_intent_is_called_on_click_and_its_intent_is_used() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-11");
    let the_intent = intent("250.00", "INR");
    let calls = Rc::new(RefCell::new(0));
    let fetch = {
        let (calls, the_intent) = (calls.clone(), the_intent.clone());
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            *calls.borrow_mut() += 1;
            js_sys::Promise::resolve(&JsValue::from(the_intent.as_str()))
        })
    };
    let o = js_sys::Object::new();
    js_sys::Reflect::set(&o, &"edge".into(), &"https://edge-11.test".into()).expect("set");
    js_sys::Reflect::set(&o, &"locale".into(), &"en".into()).expect("set");
    js_sys::Reflect::set(&o, &"fetchIntent".into(), fetch.as_ref()).expect("set");
    set_glue(&o, "en");
    fetch.forget();
    let handle = mount_on(el.clone(), o.into()).expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    assert_eq!(
        text(&el, "button"),
        "Pay now",
        "amount unknown until the intent exists"
    );
    assert_eq!(*calls.borrow(), 0, "no intent fetched before the click");
    click(&el, "button");
    assert!(
        until(2000, || handle.state() == "waiting").await,
        "{}",
        handle.state()
    );
    assert_eq!(*calls.borrow(), 1);
    assert_eq!(
        create_bodies(),
        vec![format!(r#"{{"intent":"{the_intent}"}}"#)]
    );
    handle.destroy();
}

#[wasm_bindgen_test]
async fn push_channel_tracks_to_paid_without_polling() {
    install_stub(vec![1], created_with_events_token(), 0);
    install_event_source();
    let el = host("pay-push");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-push.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(
        until(2000, || es_count() == 1).await,
        "an EventSource was opened"
    );
    assert_eq!(
        es_url(0),
        "https://edge-push.test/v1/orders/T-1/events?token=ev1.tok.sig"
    );
    es_send(0, 1);
    assert!(until(2000, || text(&el, "[role=status]") == EN_WAITING).await);
    es_send(0, 5);
    assert!(
        until(2000, || text(&el, "[role=status]") == EN_PAID).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(es_closed(0), "the stream is closed at the final state");
    assert_eq!(fetch_calls(), 1, "only the create: no polling while pushed");
    let log = log.borrow().clone();
    assert!(
        log.contains(&"state:final:paid#v1.push.sig".to_owned()),
        "{log:?}"
    );
    handle.destroy();
    restore_event_source();
}

#[wasm_bindgen_test]
async fn push_failure_falls_back_to_polling_silently() {
    install_stub(vec![1, 5], created_with_events_token(), 0);
    install_event_source();
    let el = host("pay-push-fail");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-push-fail.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(until(2000, || es_count() == 1).await);
    assert_eq!(fetch_calls(), 1, "no polling while the stream is up");
    es_fail(0);
    assert!(es_closed(0), "the failed stream is closed");
    assert!(
        until(4000, || text(&el, "[role=status]") == EN_PAID).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(fetch_calls() >= 2, "polling took over");
    let log = log.borrow().clone();
    assert!(
        !log.iter().any(|e| e.starts_with("error:")),
        "the fallback is invisible: {log:?}"
    );
    assert_eq!(es_count(), 1, "no second stream");
    handle.destroy();
    restore_event_source();
}

#[wasm_bindgen_test]
async fn underpaid_order_is_final_and_never_shown_as_paid() {
    install_stub(vec![1, UNDERPAID, 5], JsValue::UNDEFINED, 0);
    let el = host("pay-underpaid");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-underpaid.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(
        until(4000, || text(&el, "[role=status]") == EN_UNDERPAID).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert_eq!(handle.state(), "final");
    assert_eq!(
        shadow_q(&el, ".tp")
            .and_then(|r| r.get_attribute("data-tone"))
            .as_deref(),
        Some("info"),
        "no paid styling"
    );
    let events = log.borrow().clone();
    assert!(
        events.contains(&"state:final:underpaid#v1.tok.sig".to_owned()),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.contains(":paid")), "{events:?}");
    // Final: tracking stopped (the stub would answer "paid" next).
    let calls = fetch_calls();
    wait(2_000).await;
    assert_eq!(fetch_calls(), calls, "no status requests after underpaid");
    assert_eq!(text(&el, "[role=status]"), EN_UNDERPAID);
    handle.destroy();
}

#[wasm_bindgen_test]
async fn pushed_underpaid_closes_the_stream_in_zh_cn() {
    install_stub(vec![1], created_with_events_token(), 0);
    install_event_source();
    let el = host("pay-push-underpaid");
    let handle = mount_on(
        el.clone(),
        opts(
            "https://edge-push-underpaid.test",
            &intent("5.00", "USD"),
            "zh-CN",
        ),
    )
    .expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(until(2000, || es_count() == 1).await);
    es_send(0, UNDERPAID);
    assert!(
        until(2000, || text(&el, "[role=status]")
            == "我们已收到您的部分付款。商家会就剩余款项与您联系。")
        .await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(es_closed(0), "the stream is closed at the final state");
    assert!(
        log.borrow()
            .contains(&"state:final:underpaid#v1.push.sig".to_owned()),
        "{:?}",
        log.borrow()
    );
    handle.destroy();
    restore_event_source();
}

/// The shown text of a phrase: its entry in the locale's table, which `opts` hands over.
fn says(locale: Locale, phrase: Phrase) -> &'static str {
    locale
        .table()
        .split('\u{1f}')
        .nth(phrase as usize)
        .expect("an entry per phrase")
}

fn focused_in(host: &Element) -> Option<Element> {
    host.shadow_root()?.active_element()
}

fn root_busy(host: &Element) -> bool {
    shadow_q(host, ".tp").is_some_and(|r| r.get_attribute("aria-busy").as_deref() == Some("true"))
}

/// Declined → "Try again" (shown, focused, announced) → a new attempt in a new popup → paid.
async fn decline_try_again_pay(tag: &str, locale: Locale, n: &str) {
    // Pushed: attempt 1 fails, attempt 2 is paid. Polled (after the reload): paid.
    install_stub(vec![5], created_with_events_token(), 0);
    install_event_source();
    fake_popups(true);
    let el = host(&format!("pay-again-{n}"));
    let edge = format!("https://edge-again-{n}.test");
    let handle = mount_on(el.clone(), opts(&edge, &intent("24.00", "USD"), tag)).expect("mount");
    let log = record(&el);
    assert!(until(1000, || handle.state() == "idle").await);
    // A keyboard shopper: focus on the pay button (it moves to the status while paying).
    shadow_q(&el, "button")
        .expect("button")
        .unchecked_into::<HtmlElement>()
        .focus()
        .expect("focus");
    click(&el, "button");
    assert!(
        !root_busy(&el),
        "the live region is never inside an aria-busy root"
    );
    assert!(until(1000, || popup_count() == 1).await);
    assert!(popup_opener_cut(0), "the pay page can't reach the shop");
    assert!(until(1000, || es_count() == 1).await);
    es_send(0, 3);
    let failed = says(locale, Phrase::Failed);
    assert!(
        until(5000, || text(&el, "[role=status]") == failed).await,
        "{}",
        text(&el, "[role=status]")
    );
    // The final state closes the popup.
    assert!(
        until(1000, || popup_closed(0)).await,
        "popup closed at failed"
    );
    assert!(!is_hidden(&el, "button"), "Try again shown");
    assert_eq!(text(&el, "button"), says(locale, Phrase::Retry));
    assert!(
        focused_in(&el).is_some_and(|f| f.tag_name() == "BUTTON"),
        "Try again is focused"
    );
    assert_eq!(
        shadow_q(&el, "[role=status]")
            .and_then(|s| s.get_attribute("aria-live"))
            .as_deref(),
        Some("polite"),
        "the failure is announced"
    );
    assert!(
        log.borrow().contains(&"state:final:failed".to_owned()),
        "{:?}",
        log.borrow()
    );

    click(&el, "button");
    assert!(
        until(1000, || popup_count() == 2).await,
        "a new popup for the new attempt"
    );
    assert!(
        until(1000, || !attempt_secrets().is_empty()).await,
        "attempts route called"
    );
    assert_eq!(
        attempt_secrets(),
        vec!["cs_test".to_owned()],
        "one attempt, the order's secret"
    );
    assert!(
        until(1000, || popup_url(1) == "http://127.0.0.1:9/pay/T-1__2").await,
        "{}",
        popup_url(1)
    );
    assert!(
        until(1000, || es_count() == 2).await,
        "the new attempt's stream"
    );
    assert!(
        es_url(1).ends_with("/v1/orders/T-1/events?token=ev1.tok2.sig"),
        "{}",
        es_url(1)
    );
    es_send(1, 5);
    let paid = says(locale, Phrase::Paid);
    assert!(
        until(6000, || text(&el, "[role=status]") == paid).await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(is_hidden(&el, "button"), "never Try again after paid");
    assert!(
        until(1000, || popup_closed(1)).await,
        "popup closed at paid"
    );
    assert!(
        log.borrow()
            .iter()
            .any(|e| e.starts_with("state:final:paid")),
        "{:?}",
        log.borrow()
    );
    assert_ne!(active_tag(), "BODY", "focus did not fall to <body>");

    // A reload (a new mount on the same element) shows the payment, not a pay button.
    handle.destroy();
    let again = mount_on(el.clone(), opts(&edge, &intent("24.00", "USD"), tag)).expect("mount");
    assert!(
        until(3000, || text(&el, "[role=status]") == paid).await,
        "after a reload: {}",
        text(&el, "[role=status]")
    );
    assert!(is_hidden(&el, "button"));
    // Another element on the same page keeps its own slot: no order there.
    let other = host(&format!("pay-again-{n}-other"));
    let h2 = mount_on(other.clone(), opts(&edge, &intent("24.00", "USD"), tag)).expect("mount");
    assert!(until(1000, || h2.state() == "idle").await, "{}", h2.state());
    again.destroy();
    h2.destroy();
    restore_event_source();
}

#[wasm_bindgen_test]
async fn decline_then_try_again_then_paid_in_en() {
    decline_try_again_pay("en", Locale::En, "en").await;
}

#[wasm_bindgen_test]
async fn decline_then_try_again_then_paid_in_zh_cn() {
    decline_try_again_pay("zh-CN", Locale::ZhCn, "zh").await;
}

#[wasm_bindgen_test]
async fn decline_then_try_again_then_paid_in_ar() {
    decline_try_again_pay("ar", Locale::Ar, "ar").await;
}

#[wasm_bindgen_test]
async fn the_amount_is_one_isolated_unit_in_the_ar_button() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-ar-bidi");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-ar-bidi.test", &intent("24.00", "USD"), "ar"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    let label = text(&el, "button");
    let start = label.find('\u{2068}').expect("FSI");
    let end = label.find('\u{2069}').expect("PDI");
    let amount = &label[start + 3..end];
    assert!(amount.contains("24"), "{label}");
    assert!(
        !amount.contains('\u{2068}') && !label[end..].contains('\u{2068}'),
        "{label}"
    );
    // The phrase around it is the locale's, with the isolated amount where `{amount}` was.
    let phrase = says(Locale::Ar, Phrase::PayAmount);
    assert_eq!(label.replace(&label[start..end + 3], "{amount}"), phrase);
    handle.destroy();
}

#[wasm_bindgen_test]
async fn a_popup_the_browser_keeps_open_gets_the_close_hint() {
    install_stub(vec![1, 5], JsValue::UNDEFINED, 0);
    fake_popups(false);
    let el = host("pay-hint");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-hint.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    let hint = says(Locale::En, Phrase::CloseHint);
    assert!(
        until(5000, || text(&el, "[role=status]")
            == format!("{EN_PAID} {hint}"))
        .await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(!popup_closed(0));
    handle.destroy();
}

#[wasm_bindgen_test]
async fn attempt_limit_says_too_many_attempts_and_offers_nothing() {
    // Redirect mode, back from the pay page with a failed order.
    install_stub(vec![3], JsValue::UNDEFINED, 0);
    set_attempt_answer(
        js_sys::JSON::parse(r#"[409,{"error":{"code":"attempt_limit","message":"x"}}]"#)
            .expect("json"),
    );
    let the_intent = intent("5.00", "USD");
    let tag = &the_intent[the_intent.len() - 24..];
    let saved = format!(
        r#"{{"order_no":"T-1","client_secret":"cs_test","tag":"{tag}","at":{}}}"#,
        js_sys::Date::now()
    );
    save_session(
        "trustpay.checkout:https://edge-limit.test|pay-limit|T-1",
        &saved,
    );
    let el = host("pay-limit");
    let o = opts("https://edge-limit.test", &the_intent, "en");
    js_sys::Reflect::set(&o, &"mode".into(), &"redirect".into()).expect("set");
    let handle = mount_on(el.clone(), o).expect("mount");
    let log = record(&el);
    assert!(
        until(3000, || text(&el, "[role=status]")
            == says(Locale::En, Phrase::Failed))
        .await,
        "{}",
        text(&el, "[role=status]")
    );
    assert_eq!(text(&el, "button"), "Try again");
    click(&el, "button");
    assert!(
        until(2000, || text(&el, "[role=status]")
            == says(Locale::En, Phrase::TooManyAttempts))
        .await,
        "{}",
        text(&el, "[role=status]")
    );
    assert!(is_hidden(&el, "button"), "no button after attempt_limit");
    assert!(
        log.borrow()
            .contains(&"error:error:attempt_limit".to_owned()),
        "{:?}",
        log.borrow()
    );
    assert_ne!(active_tag(), "BODY");
    handle.destroy();
}

#[wasm_bindgen_test]
async fn a_disallowed_origin_is_reported_within_a_second() {
    install_stub(
        vec![1],
        js_sys::JSON::parse(r#"[403,{"error":{"code":"origin_not_allowed","message":"x"}}]"#)
            .expect("json"),
        0,
    );
    capture_console();
    let el = host("pay-origin");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-origin.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    let log = record(&el);
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let dom_log = seen.clone();
    let listener = Closure::<dyn Fn(web_sys::CustomEvent)>::new(move |e: web_sys::CustomEvent| {
        let code = js_sys::Reflect::get(&e.detail(), &"code".into())
            .ok()
            .and_then(|c| c.as_string());
        dom_log.borrow_mut().push(code.unwrap_or_default());
    });
    el.add_event_listener_with_callback("trustpay:error", listener.as_ref().unchecked_ref())
        .expect("listen");
    listener.forget();
    assert!(until(1000, || handle.state() == "idle").await);
    let started = js_sys::Date::now();
    click(&el, "button");
    assert!(
        until(1000, || handle.state() == "error").await,
        "{}",
        handle.state()
    );
    assert!(js_sys::Date::now() - started < 1000.0);
    assert_eq!(*seen.borrow(), vec!["origin_not_allowed".to_owned()]);
    assert!(
        log.borrow()
            .contains(&"error:error:origin_not_allowed".to_owned())
    );
    assert_eq!(
        text(&el, "[role=status]"),
        says(Locale::En, Phrase::MerchantSetup)
    );
    assert!(
        shadow_q(&el, "button").is_some_and(|b| b.has_attribute("disabled")),
        "no Try again that can never work"
    );
    assert!(
        console_errors()
            .iter()
            .any(|m| m.contains("origin_not_allowed")),
        "{:?}",
        console_errors()
    );
    handle.destroy();
}

#[wasm_bindgen_test]
async fn a_missing_or_malformed_intent_is_refused_at_mount() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    for (n, the_intent, code) in [
        ("a", "not-an-intent", "intent_malformed"),
        ("b", "v1.%%%.sig", "intent_malformed"),
        ("c", "", "intent_missing"),
    ] {
        let el = host(&format!("pay-bad-{n}"));
        let handle = mount_on(
            el.clone(),
            opts(&format!("https://edge-bad-{n}.test"), the_intent, "en"),
        )
        .expect("mount");
        let log = record(&el);
        assert!(
            until(1000, || handle.state() == "error").await,
            "{n}: {}",
            handle.state()
        );
        assert_eq!(
            text(&el, "[role=status]"),
            says(Locale::En, Phrase::MerchantSetup)
        );
        assert!(
            shadow_q(&el, "button").is_some_and(|b| b.has_attribute("disabled")),
            "{n}"
        );
        click(&el, "button");
        wait(100).await;
        assert_eq!(fetch_calls(), 0, "{n}: nothing sent");
        assert!(
            log.borrow().contains(&format!("error:error:{code}")),
            "{n}: {:?}",
            log.borrow()
        );
        handle.destroy();
    }
}

#[wasm_bindgen_test]
async fn focus_stays_in_the_widget_when_the_open_link_goes() {
    install_stub(vec![1, 1, 5], JsValue::UNDEFINED, 0);
    block_popups();
    let el = host("pay-focus");
    let handle = mount_on(
        el.clone(),
        opts("https://edge-focus.test", &intent("5.00", "USD"), "en"),
    )
    .expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    click(&el, "button");
    assert!(until(2000, || !is_hidden(&el, "a")).await);
    shadow_q(&el, "a")
        .expect("link")
        .unchecked_into::<HtmlElement>()
        .focus()
        .expect("focus");
    assert!(until(5000, || text(&el, "[role=status]") == EN_PAID).await);
    assert!(is_hidden(&el, "a"));
    assert_eq!(
        focused_in(&el)
            .and_then(|f| f.get_attribute("role"))
            .as_deref(),
        Some("status"),
        "focus moved to the message, not <body>"
    );
    handle.destroy();
}

#[wasm_bindgen_test]
async fn a_locale_table_that_does_not_fit_is_refused_for_english() {
    install_stub(vec![1], JsValue::UNDEFINED, 0);
    let el = host("pay-de-refused");
    let o = opts(
        "https://edge-de-refused.test",
        &intent("24.00", "USD"),
        "de",
    );
    // The German file with its pay-amount placeholder lost: the wasm must not show it.
    let broken = Locale::De.table().replacen("{amount}", "", 1);
    js_sys::Reflect::set(&o, &"texts".into(), &broken.into()).expect("set");
    let handle = mount_on(el.clone(), o).expect("mount");
    assert!(until(1000, || handle.state() == "idle").await);
    let root = shadow_q(&el, ".tp").expect("root");
    assert_eq!(root.get_attribute("lang").as_deref(), Some("en"));
    assert_eq!(root.get_attribute("dir").as_deref(), Some("ltr"));
    assert_eq!(text(&el, "button"), "Pay \u{2068}$24.00\u{2069}");
    handle.destroy();
}
