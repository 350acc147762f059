//! One mounted widget: owns its DOM, reducer, tracker, timers and listeners, and performs
//! the reducer's effects. Every callback holds a `Weak` to it, and every listener and timer
//! is a handle stored here (`dom::Listener`, `exec::Timer`), so `destroy()` (dropping them)
//! leaves nothing running.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use checkout_core::contract::{ApiErrorCode, AttemptResponse, CreateOrderResponse};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, CustomEvent, CustomEventInit, Element, Window};

use crate::Slot as _;
use crate::api::Edge;
use crate::dom::{Dom, Listener, TextCtx};
use crate::exec::Timer;
use crate::flow::{self, Session};
use crate::i18n::{Msg, Phrase, Texts};
use crate::push::PushTracker;
use crate::reducer::{
    Button, Effect, Emit, Event, Failure, Machine, Mode, OrderRef, State, Update, view,
};
use crate::tracker::{Report, Tracker};

/// Everything a mount needs, whichever way it was embedded.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) edge: String,
    pub(crate) intent: Option<String>,
    pub(crate) fetch_intent: Option<js_sys::Function>,
    /// The texts it shows (and so its locale).
    pub(crate) texts: Texts,
    pub(crate) mode: Mode,
    pub(crate) theme: String,
    /// The merchant's `messages` (key → text).
    pub(crate) messages: Option<js_sys::Object>,
    /// The glue's money formatter (see `dom::TextCtx::money`).
    pub(crate) money: Option<js_sys::Function>,
    /// The glue's constructed stylesheet (see `Dom::build`).
    pub(crate) sheet: JsValue,
}

pub(crate) struct Inner {
    /// What the boot glue's handle names it by (`destroy(id)`, `state(id)`): from 1 up.
    pub(crate) id: u32,
    host: Element,
    edge: Edge,
    fetch_intent: Option<js_sys::Function>,
    session: Session,
    machine: RefCell<Machine>,
    dom: Dom,
    text: RefCell<TextCtx>,
    intent: RefCell<Option<String>>,
    popup: RefCell<Option<Window>>,
    tracker: RefCell<Option<Box<dyn Tracker>>>,
    /// The events token of the order just created (for the push tracker).
    events_token: RefCell<Option<String>>,
    retry: RefCell<Option<Timer>>,
    popup_watch: RefCell<Option<Timer>>,
    /// Checks, after closing it, whether the payment window really closed.
    close_check: RefCell<Option<Timer>>,
    create_abort: RefCell<Option<AbortController>>,
    listeners: RefCell<Vec<Listener>>,
    destroyed: Cell<bool>,
    /// The boot glue drew the button and announced `ready` already (`dom::Early::drawn`).
    announced: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Widget")
            .field("state", &self.machine.read().state().name())
            .finish()
    }
}

thread_local! {
    /// Live widgets. The widget's life is `mount` → `destroy()`, not the JS handle's: a
    /// handle the page drops (and the GC collects) must not stop a checkout in progress.
    static LIVE: RefCell<Vec<Rc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// The id of the next widget mounted.
static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// The live widget with this id (`None` once destroyed).
pub(crate) fn find(id: u32) -> Option<Rc<Inner>> {
    LIVE.with(|live| live.read().iter().find(|w| w.id == id).cloned())
}

/// Destroys a widget already mounted on `host` (re-mount, element re-connect).
pub(crate) fn destroy_on(host: &Element) {
    let existing = LIVE.with(|live| live.read().iter().find(|w| &w.host == host).cloned());
    if let Some(w) = existing {
        w.destroy();
    }
}

impl Inner {
    pub(crate) fn mount(host: Element, cfg: Config) -> Result<Rc<Inner>, JsValue> {
        destroy_on(&host);
        let (dom, early) = Dom::build(&host, cfg.texts.locale(), &cfg.theme, &cfg.sheet)?;
        let mut text = TextCtx {
            texts: cfg.texts,
            messages: cfg.messages,
            money: cfg.money,
            amount: None,
        };
        let amount = cfg.intent.as_deref().and_then(peek_amount);
        text.amount = amount.and_then(|(minor, currency)| text.money(minor, currency));
        let amount = amount.is_some();
        let session = Session::new(&cfg.edge, &host.id(), cfg.intent.as_deref());
        // A mount that can never work says so at once (not on the first click).
        let misconfigured = match (&cfg.intent, amount, &cfg.fetch_intent) {
            (Some(_), false, _) => Some(ApiErrorCode::IntentMalformed),
            (None, _, None) => Some(ApiErrorCode::IntentMissing),
            (Some(_), true, _) | (None, _, Some(_)) => None,
        };
        let inner = Rc::new(Inner {
            edge: Edge::new(&cfg.edge),
            fetch_intent: cfg.fetch_intent,
            session,
            machine: RefCell::new(Machine::new(cfg.mode)),
            dom,
            text: RefCell::new(text),
            intent: RefCell::new(cfg.intent),
            popup: RefCell::new(None),
            tracker: RefCell::new(None),
            events_token: RefCell::new(None),
            retry: RefCell::new(None),
            popup_watch: RefCell::new(None),
            close_check: RefCell::new(None),
            create_abort: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            destroyed: Cell::new(false),
            announced: early.drawn,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            host,
        });
        inner.listen();
        inner.render();
        LIVE.with(|live| live.write().push(inner.clone()));

        // Start after the caller got its handle, so `handle.on("ready", ..)` sees `ready`.
        let weak = Rc::downgrade(&inner);
        crate::exec::spawn(async move {
            let Some(w) = weak.upgrade() else { return };
            if w.destroyed.get() {
                return;
            }
            if !crate::window()
                .map(|win| win.navigator().on_line())
                .unwrap_or(true)
            {
                w.dispatch(Event::Online(false));
            }
            if let Some(code) = misconfigured {
                w.dispatch(Event::Misconfigured(Failure::Api {
                    code,
                    trustpay: None,
                }));
                return;
            }
            let redirect = w.machine.read().mode() == Mode::Redirect;
            match w.session.load(redirect) {
                Some(order) => w.dispatch(Event::Resume(order)),
                None => w.dispatch(Event::Ready),
            }
            // A click on the glue's button while the wasm loaded: once, now, if paying is
            // still what the button offers (a resumed order shows no pay button).
            if early.queued && view(&w.machine.read()).button == Some(Button::Pay) {
                w.dispatch(Event::PayClicked);
            }
        });
        Ok(inner)
    }

    fn weak(self: &Rc<Self>) -> Weak<Inner> {
        Rc::downgrade(self)
    }

    /// DOM listeners: the button, the reopen link, visibility, online/offline.
    fn listen(self: &Rc<Self>) {
        let mut listeners = Vec::with_capacity(6);
        let weak = self.weak();
        listeners.push(Listener::new(&self.dom.button, "click", move |_| {
            if let Some(w) = weak.upgrade() {
                let event = match view(&w.machine.read()).button {
                    Some(Button::Retry) => Event::RetryClicked,
                    Some(Button::Pay) | None => Event::PayClicked,
                };
                w.dispatch(event);
            }
        }));
        let weak = self.weak();
        listeners.push(Listener::new(&self.dom.reopen, "click", move |_| {
            if let Some(w) = weak.upgrade() {
                // The link opens a tab we hold no handle to: it can't be closed for the shopper.
                w.session.set_window(true);
                w.dispatch(Event::ReopenClicked);
            }
        }));
        if let Some(window) = crate::window() {
            if let Some(document) = window.document() {
                let weak = self.weak();
                let doc = document.clone();
                listeners.push(Listener::new(&document, "visibilitychange", move |_| {
                    if let Some(w) = weak.upgrade()
                        && let Some(t) = w.tracker.write().as_mut()
                    {
                        t.set_hidden(doc.hidden());
                    }
                }));
            }
            // Back from the pay page out of the back/forward cache: this page's machine is
            // frozen mid-redirect; pick the order up again.
            let weak = self.weak();
            listeners.push(Listener::new(&window, "pageshow", move |event| {
                let persisted = js_sys::Reflect::get(event, &"persisted".into())
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                if let Some(w) = weak.upgrade()
                    && persisted
                    && let Some(order) = w.session.load(true)
                {
                    w.dispatch(Event::Resume(order));
                }
            }));
            for (name, online) in [("online", true), ("offline", false)] {
                let weak = self.weak();
                listeners.push(Listener::new(&window, name, move |_| {
                    if let Some(w) = weak.upgrade() {
                        w.dispatch(Event::Online(online));
                    }
                }));
            }
        }
        self.listeners.write().extend(listeners);
    }

    /// `handle.on(name, fn)`: a listener for `trustpay:<name>` on the host, dropped on destroy.
    pub(crate) fn state_name(&self) -> &'static str {
        if self.destroyed.get() {
            "destroyed"
        } else {
            self.machine.read().state().name()
        }
    }

    /// Feeds an event to the reducer, renders, then performs the effects.
    pub(crate) fn dispatch(self: &Rc<Self>, event: Event) {
        if self.destroyed.get() {
            return;
        }
        let effects = self.machine.write().handle(event, js_sys::Math::random());
        self.render();
        for effect in effects {
            if self.destroyed.get() {
                return;
            }
            self.perform(effect);
        }
    }

    fn render(&self) {
        let view = view(&self.machine.read());
        self.dom.render(&view, &self.text.read());
    }

    fn perform(self: &Rc<Self>, effect: Effect) {
        match effect {
            Effect::PrepareWindow => *self.popup.write() = flow::prepare_window(),
            Effect::CreateOrder => self.create_order(),
            Effect::NewAttempt(order) => self.new_attempt(order),
            Effect::ScheduleRetry(ms) => {
                let weak = self.weak();
                *self.retry.write() = Some(Timer::once(ms, move || {
                    if let Some(w) = weak.upgrade() {
                        w.retry.write().take();
                        w.dispatch(Event::RetryDue);
                    }
                }));
            }
            Effect::OpenPopup(url) => {
                let prepared = self.popup.write().take();
                match flow::show(prepared, &url) {
                    Some(win) => {
                        *self.popup.write() = Some(win);
                        self.session.set_window(true);
                        self.watch_popup();
                        self.dispatch(Event::PopupOpened);
                    }
                    None => self.dispatch(Event::PopupBlocked),
                }
            }
            Effect::Navigate(url) => flow::navigate(&url),
            Effect::ClosePopup => {
                self.popup_watch.write().take();
                let popup = self.popup.write().take();
                match popup {
                    Some(popup) => {
                        flow::close(&popup);
                        // `close()` sets `closed` at once; still open means the browser
                        // refused (see `flow::close`). Look once more shortly, then say so.
                        if popup.closed().unwrap_or(true) {
                            self.session.set_window(false);
                        } else {
                            let weak = self.weak();
                            *self.close_check.write() = Some(Timer::once(300, move || {
                                let Some(w) = weak.upgrade() else { return };
                                let open = !popup.closed().unwrap_or(true);
                                w.session.set_window(open);
                                if open {
                                    w.dispatch(Event::WindowLeftOpen);
                                }
                            }));
                        }
                    }
                    // Opened before a reload, or through the link: no handle to close it with.
                    None if self.session.window() => self.dispatch(Event::WindowLeftOpen),
                    None => {}
                }
            }
            Effect::SaveSession(order) => self.session.save(&order),
            Effect::ClearSession => self.session.clear(),
            Effect::Track(order) => self.track(order),
            Effect::Poke => {
                if let Some(t) = self.tracker.write().as_mut() {
                    t.poke();
                }
            }
            Effect::StopTracking => drop(self.tracker.write().take()),
            Effect::Emit(emit) => self.emit(emit),
        }
    }

    fn track(self: &Rc<Self>, order: OrderRef) {
        let weak = self.weak();
        let token = self.events_token.write().take();
        let mut tracker: Box<dyn Tracker> = Box::new(PushTracker::new(
            self.edge.clone(),
            order,
            token,
            move |report| {
                if let Some(w) = weak.upgrade() {
                    w.dispatch(match report {
                        Report::Status(status, token) => Event::Status(status, token),
                        Report::Failed(failure) => Event::TrackFailed(failure),
                        Report::GaveUp => Event::TrackGaveUp,
                    });
                }
            },
        ));
        if crate::window()
            .and_then(|w| w.document())
            .map(|d| d.hidden())
            .unwrap_or(false)
        {
            tracker.set_hidden(true);
        }
        // Replace (and so stop) any previous tracker before starting the new one.
        *self.tracker.write() = None;
        tracker.start();
        *self.tracker.write() = Some(tracker);
    }

    /// Checks once a second whether the shopper closed the popup.
    fn watch_popup(self: &Rc<Self>) {
        let weak = self.weak();
        *self.popup_watch.write() = Some(Timer::every(1_000, move || {
            let Some(w) = weak.upgrade() else { return };
            let closed = w
                .popup
                .read()
                .as_ref()
                .map(|p| p.closed().unwrap_or(true))
                .unwrap_or(true);
            if closed {
                w.popup.write().take();
                w.session.set_window(false);
                // Dropping the timer from inside its own callback is fine (see `exec::Timer`).
                w.popup_watch.write().take();
                w.dispatch(Event::PopupClosed);
            }
        }));
    }

    fn create_order(self: &Rc<Self>) {
        let Ok(controller) = AbortController::new() else {
            return;
        };
        let signal = controller.signal();
        if let Some(previous) = self.create_abort.write().replace(controller) {
            previous.abort();
        }
        let weak = self.weak();
        crate::exec::spawn(async move {
            let Some(w) = weak.upgrade() else { return };
            let intent = w.intent().await;
            let result = match intent {
                Ok(intent) => {
                    let edge = w.edge.clone();
                    drop(w);
                    edge.create_order(&intent, &signal).await
                }
                Err(failure) => {
                    drop(w);
                    Err(failure)
                }
            };
            if signal.aborted() {
                return;
            }
            let Some(w) = weak.upgrade() else { return };
            w.create_abort.write().take();
            match result {
                Ok(created) => w.created(created),
                Err(failure) => w.dispatch(Event::CreateFailed(failure)),
            }
        });
    }

    /// `POST .../attempts` for the current order: a new attempt, the same client secret.
    fn new_attempt(self: &Rc<Self>, order: OrderRef) {
        let Ok(controller) = AbortController::new() else {
            return;
        };
        let signal = controller.signal();
        if let Some(previous) = self.create_abort.write().replace(controller) {
            previous.abort();
        }
        let edge = self.edge.clone();
        let weak = self.weak();
        crate::exec::spawn(async move {
            let result = edge
                .new_attempt(&order.order_no, &order.client_secret, &signal)
                .await;
            if signal.aborted() {
                return;
            }
            let Some(w) = weak.upgrade() else { return };
            w.create_abort.write().take();
            match result {
                Ok(attempt) => w.attempt_created(order.client_secret, attempt),
                Err(failure) => w.dispatch(Event::CreateFailed(failure)),
            }
        });
    }

    fn attempt_created(self: &Rc<Self>, client_secret: String, attempt: AttemptResponse) {
        let amount = self
            .text
            .read()
            .money(attempt.amount.minor(), attempt.currency.code());
        self.text.write().amount = amount;
        *self.events_token.write() = attempt.events_token;
        let order = OrderRef {
            order_no: attempt.order_no,
            client_secret,
            pay_url: Some(attempt.pay_url),
        };
        // The new attempt's own status (pending): the attempt exists because the order's last
        // state allowed one, so an older state name must not end it at once.
        self.dispatch(Event::Created(order, Update::of(attempt.status)));
    }

    /// The intent: given, or from `fetchIntent()` (once; cached after success).
    async fn intent(&self) -> Result<String, Failure> {
        if let Some(intent) = self.intent.read().clone() {
            return Ok(intent);
        }
        let missing = Failure::Api {
            code: ApiErrorCode::IntentMissing,
            trustpay: None,
        };
        let Some(fetch) = &self.fetch_intent else {
            return Err(missing);
        };
        let value = fetch.call0(&JsValue::NULL).map_err(|_| Failure::Network)?;
        // A promise or a plain string: `Promise.resolve` takes both.
        let value = JsFuture::from(js_sys::Promise::resolve(&value))
            .await
            .map_err(|_| Failure::Network)?;
        let intent = value.as_string().filter(|s| !s.is_empty()).ok_or(missing)?;
        let text = self.text.read();
        let amount = peek_amount(&intent).and_then(|(minor, currency)| text.money(minor, currency));
        drop(text);
        if amount.is_some() {
            self.text.write().amount = amount;
        }
        self.session.set_intent(&intent);
        *self.intent.write() = Some(intent.clone());
        Ok(intent)
    }

    fn created(self: &Rc<Self>, created: CreateOrderResponse) {
        let amount = self
            .text
            .read()
            .money(created.amount.minor(), created.currency.code());
        self.text.write().amount = amount;
        *self.events_token.write() = created.events_token;
        let order = OrderRef {
            order_no: created.order_no,
            client_secret: created.client_secret,
            pay_url: Some(created.pay_url),
        };
        self.dispatch(Event::Created(
            order,
            Update::new(created.status, &created.state),
        ));
    }

    /// Dispatches `trustpay:<type>` on the host (bubbles, crosses shadow roots).
    fn emit(&self, emit: Emit) {
        let detail = js_sys::Object::new();
        let set = |k: &str, v: &str| {
            let _ = js_sys::Reflect::set(&detail, &k.into(), &v.into());
        };
        let machine = self.machine.read();
        let state = machine.state();
        let state_name = state.name();
        set("state", state_name);
        if let Some(status) = state.status_name() {
            set("status", status);
        }
        if let State::Final {
            order_no,
            result_token,
            ..
        } = state
        {
            set("order_no", order_no);
            if let Some(token) = result_token {
                set("result_token", token);
            }
        }
        drop(machine);
        let name = match &emit {
            // The glue announced `ready` (state idle) when it drew the button; only a
            // different state (a resumed order) is news.
            Emit::Ready if self.announced && state_name == "idle" => return,
            Emit::Ready if self.announced => "state",
            Emit::Ready => "ready",
            Emit::State => "state",
            Emit::Error(code) => {
                set("code", code);
                report_setup(code);
                "error"
            }
            Emit::Redirect(url) => {
                set("url", url);
                "redirect"
            }
            Emit::Close => "close",
        };
        set("type", name);
        let init = CustomEventInit::new();
        crate::api::set(&init, "bubbles", &JsValue::TRUE);
        crate::api::set(&init, "composed", &JsValue::TRUE);
        crate::api::set(&init, "detail", &detail);
        if let Ok(event) =
            CustomEvent::new_with_event_init_dict(&crate::cat(&["trustpay:", name]), &init)
        {
            let _ = self.host.dispatch_event(&event);
        }
    }

    /// Stops everything: listeners, timers, tracker, request in flight; empties the DOM.
    pub(crate) fn destroy(self: &Rc<Self>) {
        if self.destroyed.replace(true) {
            return;
        }
        self.listeners.write().clear();
        self.retry.write().take();
        self.popup_watch.write().take();
        self.close_check.write().take();
        self.tracker.write().take();
        if let Some(controller) = self.create_abort.write().take() {
            controller.abort();
        }
        // A popup still blank (the order was being created) would stay empty forever; one
        // showing the cashier page is the shopper's, and stays.
        let blank = matches!(self.machine.read().state(), State::Creating { .. });
        if let Some(popup) = self.popup.write().take()
            && blank
        {
            flow::close(&popup);
        }
        self.dom.clear();
        LIVE.with(|live| live.write().retain(|w| !Rc::ptr_eq(w, self)));
    }
}

/// The amount inside an intent (minor units, currency code), for the button label only (the
/// edge verifies the intent; nothing here trusts it). `None`: not an intent
/// (`v1.<base64url payload>.<mac>` with an amount and a currency), which the mount reports as
/// `intent_malformed`.
fn peek_amount(intent: &str) -> Option<(i64, &'static str)> {
    let obj = flow::intent_payload(intent)?;
    let amount = checkout_core::Amount::parse_decimal(&flow::field(&obj, "amount")?).ok()?;
    let currency = crate::wire::currency(&flow::field(&obj, "currency")?)?;
    Some((amount.minor(), currency.code()))
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
}

/// Tells the merchant's developer console about a setup error (the shopper reads "Checkout
/// isn't set up correctly"; the `error` event carries the same code).
fn report_setup(code: &str) {
    if crate::i18n::phrase(&Msg::Api(crate::wire::api_code(code))) == Phrase::MerchantSetup {
        console_error(&crate::cat(&[
            "TrustPayCheckout: ",
            code,
            ": this checkout is not set up for this page (its intent, its edge URL, or the edge's ALLOWED_ORIGINS).",
        ]));
    }
}
