//! The widget's UI state machine: events in, state + effects out. Pure; the browser shell
//! (`lib.rs`) performs the effects and feeds their outcomes back as events.
//!
//! ```text
//! Loading ─► Idle ─click─► Creating ─created─► Waiting ─final─► Final
//!              ▲             │   ▲ (network / in-progress: retry with the SAME intent)
//!              │             │   └──────────┘
//!              │             └─error─► Error ─retry─► Creating
//!              │ (redirect mode) created ─► Redirecting ─(page unloads; on return: Resume)─► Waiting
//!              Waiting ─tracking budget spent─► StillProcessing
//!  Final (failed / expired), Waiting (popup closed), Error ─try again─► Creating (new attempt:
//!              POST /v1/orders/{order_no}/attempts, same mode) ─created─► Waiting / Redirecting
//! ```
//!
//! Double clicks are harmless: a click where the view shows no enabled button does nothing.
//! The order stays in sessionStorage at a final state too, so a reload or Back shows its
//! outcome (and its Try again) instead of a fresh pay button.

use checkout_core::codes::{ErrorCode, OrderStatus};
use checkout_core::contract::ApiErrorCode;
use checkout_core::state::OrderState;

use crate::backoff::Backoff;
use crate::i18n::{Msg, Ui};

/// How the pay page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A popup window (new tab if popups are blocked); the merchant page keeps tracking.
    #[default]
    Popup,
    /// Navigate the whole page; tracking resumes from sessionStorage on return.
    Redirect,
}

impl Mode {
    /// `"popup"` / `"redirect"`; anything else is popup.
    pub fn parse(text: &str) -> Mode {
        if text.trim().eq_ignore_ascii_case("redirect") {
            Mode::Redirect
        } else {
            Mode::Popup
        }
    }
}

/// An order the widget is tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// The order number.
    pub order_no: String,
    /// The per-order secret for status requests.
    pub client_secret: String,
    /// TrustPay's cashier page (absent when resumed from storage).
    pub pay_url: Option<String>,
}

/// An order as the edge reports it (status answer, create answer, push event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// TrustPay's status: orders the updates (forward only, `checkout_core::state::apply`).
    pub status: OrderStatus,
    /// The edge's `state`: what the order means for the money. It decides the message, the
    /// tone, whether tracking ends and the reported name: a status 5 whose paid amount is
    /// short is `underpaid`, never paid.
    pub state: OrderState,
}

impl Update {
    /// A new order, before any answer.
    pub const PENDING: Update = Update {
        status: OrderStatus::Pending,
        state: OrderState::Pending,
    };

    /// From the edge's `status` and `state` (`wire` fills an absent `state` from the status;
    /// a name this build doesn't know is [`OrderState::Unknown`]: not final, never paid).
    pub fn new(status: OrderStatus, state: &str) -> Self {
        Update {
            status,
            state: OrderState::parse(state),
        }
    }

    /// When only the status is known ([`OrderState::from_status`]).
    pub fn of(status: OrderStatus) -> Self {
        Update {
            status,
            state: OrderState::from_status(status),
        }
    }
}

/// Why a request failed, as the widget sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer: offline, DNS, CORS, aborted, timeout.
    Network,
    /// The edge answered with an error body.
    Api {
        /// The edge's stable code.
        code: ApiErrorCode,
        /// The TrustPay code behind it, if any.
        trustpay: Option<ErrorCode>,
    },
    /// The edge answered something we can't read.
    BadResponse,
}

impl Failure {
    /// The message shoppers see: the TrustPay code when there is one, else the edge code.
    pub fn msg(&self) -> Msg {
        match self {
            Failure::Network => Msg::Ui(Ui::NetworkError),
            Failure::Api {
                trustpay: Some(code),
                ..
            } => Msg::Gateway(*code),
            Failure::Api {
                code,
                trustpay: None,
            } => Msg::Api(code.clone()),
            Failure::BadResponse => Msg::Api(ApiErrorCode::Internal),
        }
    }

    /// The stable code of the `error` event: `network`, `bad_response`, or the edge code.
    pub fn code(&self) -> String {
        match self {
            Failure::Network => "network".to_owned(),
            Failure::Api { code, .. } => code.as_str().to_owned(),
            Failure::BadResponse => "bad_response".to_owned(),
        }
    }

    /// Whether repeating the same request may succeed (so retrying is worth it).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Network | Failure::BadResponse => true,
            Failure::Api { code, .. } => matches!(
                code,
                ApiErrorCode::OrderInProgress
                    | ApiErrorCode::RateLimited
                    | ApiErrorCode::GatewayUnavailable
                    | ApiErrorCode::Internal
            ),
        }
    }
}

/// The UI state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting for the intent (fetchIntent) or the page to settle.
    Loading,
    /// The pay button.
    Idle,
    /// Creating the order; `attempt` counts automatic retries.
    Creating {
        /// Retries so far.
        attempt: u32,
        /// A new payment attempt of the current order (`POST .../attempts`), not a create.
        again: bool,
    },
    /// Redirect mode: leaving for the pay page.
    Redirecting {
        /// The order.
        order: OrderRef,
    },
    /// The pay page is (or should be) open; tracking.
    Waiting {
        /// The order.
        order: OrderRef,
        /// Popup and new tab were both blocked: show the reopen link prominently.
        blocked: bool,
        /// The popup was closed before a final state.
        closed: bool,
        /// Still asking for the first status after a resume.
        checking: bool,
        /// Last known status and state.
        last: Update,
    },
    /// A final state (the shopper's attempt has an outcome).
    Final {
        /// The order.
        order_no: String,
        /// The state.
        state: OrderState,
        /// The edge-signed client result, when the edge sent one (passed on in `state`
        /// events for the merchant's backend to verify).
        result_token: Option<String>,
    },
    /// Tracking gave up without a final state.
    StillProcessing {
        /// The order.
        order: OrderRef,
    },
    /// Something failed.
    Error {
        /// The failure.
        failure: Failure,
    },
}

impl State {
    /// The name in `state` events: `loading`, `idle`, `creating`, `redirecting`,
    /// `waiting`, `final`, `still_processing`, `error`.
    pub fn name(&self) -> &'static str {
        match self {
            State::Loading => "loading",
            State::Idle => "idle",
            State::Creating { .. } => "creating",
            State::Redirecting { .. } => "redirecting",
            State::Waiting { .. } => "waiting",
            State::Final { .. } => "final",
            State::StillProcessing { .. } => "still_processing",
            State::Error { .. } => "error",
        }
    }

    /// The order's state name (`pending`, `paid`, `underpaid`, ...) when one is known.
    pub fn status_name(&self) -> Option<&'static str> {
        match self {
            State::Waiting { last, .. } => Some(last.state.as_str()),
            State::Final { state, .. } => Some(state.as_str()),
            State::Loading
            | State::Idle
            | State::Creating { .. }
            | State::Redirecting { .. }
            | State::StillProcessing { .. }
            | State::Error { .. } => None,
        }
    }
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The widget can take payments (intent known).
    Ready,
    /// The intent couldn't be obtained (`fetchIntent` failed).
    IntentFailed,
    /// An order found in sessionStorage (the shopper came back from the pay page).
    Resume(OrderRef),
    /// The pay button.
    PayClicked,
    /// The edge created (or replayed) the order.
    Created(OrderRef, Update),
    /// Creating failed.
    CreateFailed(Failure),
    /// A create retry timer fired.
    RetryDue,
    /// The popup or a new tab opened.
    PopupOpened,
    /// Both were blocked.
    PopupBlocked,
    /// The shopper closed the popup.
    PopupClosed,
    /// The reopen link was used.
    ReopenClicked,
    /// An update from the tracker, with the edge's signed client result if it sent one.
    Status(Update, Option<String>),
    /// A tracker check failed.
    TrackFailed(Failure),
    /// The tracker gave up.
    TrackGaveUp,
    /// navigator.onLine changed.
    Online(bool),
    /// The retry button.
    RetryClicked,
    /// The mount's configuration can never work (no intent, a malformed intent): shown at
    /// once, with a disabled pay button, instead of failing on the first click.
    Misconfigured(Failure),
    /// At a final state the payment window could not be closed (the browser refused, or a
    /// reload lost its handle): tell the shopper they may close it.
    WindowLeftOpen,
}

/// Events the widget emits to the merchant page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit {
    /// Mounted and interactive.
    Ready,
    /// The state changed (name from [`State::name`]).
    State,
    /// An error with a stable code.
    Error(String),
    /// Leaving for (or opening) the pay page.
    Redirect(String),
    /// The popup was closed by the shopper.
    Close,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Open an empty popup now, inside the click (a popup opened after `await` is blocked).
    PrepareWindow,
    /// POST /v1/orders with the intent (the same intent on every retry).
    CreateOrder,
    /// POST /v1/orders/{order_no}/attempts with the order's client secret: a new payment
    /// attempt of the same merchant order.
    NewAttempt(OrderRef),
    /// Fire [`Event::RetryDue`] after this many ms.
    ScheduleRetry(u32),
    /// Show the pay page in the prepared popup, else a new tab; report opened/blocked.
    OpenPopup(String),
    /// Navigate the page to the pay page.
    Navigate(String),
    /// Close the popup (creating failed, or a final state); at a final state the shell reports
    /// [`Event::WindowLeftOpen`] when the window stays open.
    ClosePopup,
    /// Store `{order_no, client_secret}` in sessionStorage.
    SaveSession(OrderRef),
    /// Remove it.
    ClearSession,
    /// Start tracking this order.
    Track(OrderRef),
    /// Ask the tracker to check now.
    Poke,
    /// Stop tracking.
    StopTracking,
    /// Tell the merchant page.
    Emit(Emit),
}

/// The state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    state: State,
    mode: Mode,
    offline: bool,
    create_policy: Backoff,
    /// The merchant order this widget created or resumed (kept at a final state: a new
    /// attempt needs its number and client secret).
    order: Option<OrderRef>,
    /// The payment window stayed open at the final state (show the "close it" hint).
    window_open: bool,
}

impl Machine {
    /// A machine in `Loading`.
    pub fn new(mode: Mode) -> Self {
        Machine {
            state: State::Loading,
            mode,
            offline: false,
            create_policy: Backoff::CREATE,
            order: None,
            window_open: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the browser reported being offline.
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the button offers a new payment attempt now ("Try again" after a failed,
    /// expired or abandoned attempt): never after a payment.
    fn may_try_again(&self) -> bool {
        self.order.is_some()
            && match &self.state {
                State::Final { state, .. } => {
                    matches!(state, OrderState::Failed | OrderState::Expired)
                }
                State::Waiting { closed, .. } => *closed,
                State::Loading
                | State::Idle
                | State::Creating { .. }
                | State::Redirecting { .. }
                | State::StillProcessing { .. }
                | State::Error { .. } => false,
            }
    }

    /// Starts creating: a new attempt of the current order when `again`, else the order.
    fn start(&mut self, again: bool) -> Vec<Effect> {
        let leaving_waiting = matches!(self.state, State::Waiting { .. });
        self.state = State::Creating { attempt: 0, again };
        self.window_open = false;
        let mut fx = Vec::with_capacity(3);
        if leaving_waiting {
            fx.push(Effect::StopTracking);
        }
        if self.mode == Mode::Popup {
            fx.push(Effect::PrepareWindow);
        }
        fx.push(match (&self.order, again) {
            (Some(order), true) => Effect::NewAttempt(order.clone()),
            (Some(_) | None, _) => Effect::CreateOrder,
        });
        fx
    }

    /// Applies an event. `unit` is a random number in `[0, 1)` for jitter.
    pub fn handle(&mut self, event: Event, unit: f64) -> Vec<Effect> {
        let before = self.state.name();
        let before_status = self.state.status_name();
        let mut fx = self.step(event, unit);
        if self.state.name() != before || self.state.status_name() != before_status {
            fx.push(Effect::Emit(Emit::State));
        }
        fx
    }

    // Events that don't apply to the current state change nothing; each arm says which
    // states it acts in (`let .. else` / `if`), so a new state needs no catch-all `_` arm.
    fn step(&mut self, event: Event, unit: f64) -> Vec<Effect> {
        use Effect as F;
        match event {
            Event::Ready => {
                if self.state != State::Loading {
                    return vec![];
                }
                self.state = State::Idle;
                vec![F::Emit(Emit::Ready)]
            }
            Event::IntentFailed => {
                if !matches!(self.state, State::Loading | State::Idle) {
                    return vec![];
                }
                self.fail(Failure::Network)
            }
            Event::Resume(order) => {
                // Redirecting: the page came back from the back/forward cache (Back from the
                // pay page) with this machine frozen mid-redirect.
                let back = matches!(self.state, State::Redirecting { .. });
                if !back && !matches!(self.state, State::Loading | State::Idle) {
                    return vec![];
                }
                self.order = Some(order.clone());
                self.state = State::Waiting {
                    order: order.clone(),
                    blocked: false,
                    closed: false,
                    checking: true,
                    last: Update::PENDING,
                };
                if back {
                    vec![F::Track(order)]
                } else {
                    vec![F::Emit(Emit::Ready), F::Track(order)]
                }
            }
            Event::Misconfigured(failure) => {
                if self.state != State::Loading {
                    return vec![];
                }
                self.fail(failure)
            }
            Event::WindowLeftOpen => {
                self.window_open = matches!(self.state, State::Final { .. });
                vec![]
            }
            Event::PayClicked | Event::RetryClicked => match &self.state {
                State::Idle => self.start(false),
                // Only where the view offers the button: a setup error has none to click.
                State::Error { failure } if failure.is_transient() => {
                    self.start(self.order.is_some())
                }
                State::Final { .. } | State::Waiting { .. } if self.may_try_again() => {
                    self.start(true)
                }
                State::StillProcessing { order } => {
                    // "Check again": one more round of tracking.
                    let order = order.clone();
                    self.state = State::Waiting {
                        order: order.clone(),
                        blocked: false,
                        closed: true,
                        checking: true,
                        last: Update::PENDING,
                    };
                    vec![F::Track(order)]
                }
                // Double click, or clicks while busy: nothing.
                State::Loading
                | State::Creating { .. }
                | State::Redirecting { .. }
                | State::Waiting { .. }
                | State::Final { .. }
                | State::Error { .. } => vec![],
            },
            Event::Created(order, update) => {
                if !matches!(self.state, State::Creating { .. }) {
                    return vec![];
                }
                self.created(order, update)
            }
            Event::CreateFailed(failure) => {
                let State::Creating { attempt, again } = self.state else {
                    return vec![];
                };
                if again
                    && let (
                        Some(order),
                        Failure::Api {
                            code: ApiErrorCode::AttemptNotAllowed,
                            ..
                        },
                    ) = (&self.order, &failure)
                {
                    // Paid meanwhile, or the current attempt still runs: the order's own
                    // state says which (and the reopen link leads back to its pay page).
                    let order = order.clone();
                    self.state = State::Waiting {
                        order: order.clone(),
                        blocked: false,
                        closed: true,
                        checking: true,
                        last: Update::PENDING,
                    };
                    return vec![F::ClosePopup, F::Track(order)];
                }
                // A new attempt is not repeated blindly: a lost answer would start a third.
                if failure.is_transient()
                    && !again
                    && let Some(ms) = self.create_policy.delay(attempt, unit)
                {
                    self.state = State::Creating {
                        attempt: attempt + 1,
                        again,
                    };
                    return vec![F::ScheduleRetry(ms)];
                }
                let mut fx = vec![F::ClosePopup];
                fx.extend(self.fail(failure));
                fx
            }
            Event::RetryDue => {
                if !matches!(self.state, State::Creating { again: false, .. }) {
                    return vec![];
                }
                vec![F::CreateOrder]
            }
            Event::PopupOpened => {
                let State::Waiting {
                    blocked, closed, ..
                } = &mut self.state
                else {
                    return vec![];
                };
                *blocked = false;
                *closed = false;
                vec![]
            }
            Event::PopupBlocked => {
                let State::Waiting { blocked, .. } = &mut self.state else {
                    return vec![];
                };
                *blocked = true;
                vec![]
            }
            Event::PopupClosed => {
                let State::Waiting { closed, .. } = &mut self.state else {
                    return vec![F::Emit(Emit::Close)];
                };
                *closed = true;
                vec![F::Emit(Emit::Close), F::Poke]
            }
            Event::ReopenClicked => {
                let State::Waiting {
                    order,
                    closed,
                    blocked,
                    ..
                } = &mut self.state
                else {
                    return vec![];
                };
                *closed = false;
                *blocked = false;
                match order.pay_url.clone().filter(|u| is_pay_page(u)) {
                    Some(url) => vec![F::Emit(Emit::Redirect(url))],
                    None => vec![],
                }
            }
            Event::Status(update, token) => self.status(update, token),
            Event::TrackFailed(failure) => {
                let gone = matches!(
                    &failure,
                    Failure::Api {
                        code: ApiErrorCode::OrderNotFound | ApiErrorCode::ClientSecretInvalid,
                        ..
                    }
                );
                // Anything else is transient: the tracker keeps going on its schedule.
                if !gone || !matches!(self.state, State::Waiting { .. }) {
                    return vec![];
                }
                // The order or its secret is gone: tracking can't succeed.
                self.order = None;
                let mut fx = vec![F::StopTracking, F::ClearSession];
                fx.extend(self.fail(failure));
                fx
            }
            Event::TrackGaveUp => {
                let State::Waiting { order, .. } = &self.state else {
                    return vec![];
                };
                self.state = State::StillProcessing {
                    order: order.clone(),
                };
                vec![]
            }
            Event::Online(online) => {
                let was_offline = self.offline;
                self.offline = !online;
                if online && was_offline && matches!(self.state, State::Waiting { .. }) {
                    vec![F::Poke]
                } else {
                    vec![]
                }
            }
        }
    }

    fn created(&mut self, order: OrderRef, update: Update) -> Vec<Effect> {
        use Effect as F;
        self.order = Some(order.clone());
        if update.state.is_final() {
            // The same intent again after the order ended: show the outcome, open nothing.
            // Kept in the session, so a reload shows it too.
            self.state = State::Final {
                order_no: order.order_no.clone(),
                state: update.state,
                result_token: None,
            };
            return vec![F::ClosePopup, F::SaveSession(order)];
        }
        // Only http(s): a `javascript:` pay URL would run in the merchant's page.
        let Some(url) = order.pay_url.clone().filter(|u| is_pay_page(u)) else {
            return self.fail(Failure::BadResponse);
        };
        match self.mode {
            Mode::Popup => {
                self.state = State::Waiting {
                    order: order.clone(),
                    blocked: false,
                    closed: false,
                    checking: false,
                    last: update,
                };
                vec![
                    F::SaveSession(order.clone()),
                    F::OpenPopup(url.clone()),
                    F::Emit(Emit::Redirect(url)),
                    F::Track(order),
                ]
            }
            Mode::Redirect => {
                self.state = State::Redirecting {
                    order: order.clone(),
                };
                vec![
                    F::SaveSession(order),
                    F::Emit(Emit::Redirect(url.clone())),
                    F::Navigate(url),
                ]
            }
        }
    }

    fn status(&mut self, new: Update, result_token: Option<String>) -> Vec<Effect> {
        use Effect as F;
        let State::Waiting {
            order,
            last,
            checking,
            ..
        } = &mut self.state
        else {
            return vec![];
        };
        *checking = false;
        // Forward-only by status: never let a late "pending" undo something newer. The same
        // status with another state is the edge's newer reading of it.
        let advances = checkout_core::state::apply(last.status, new.status)
            .new_status()
            .is_some();
        if !advances && (new.status != last.status || new.state == last.state) {
            return vec![];
        }
        *last = new;
        if new.state.is_final() {
            let order_no = order.order_no.clone();
            self.state = State::Final {
                order_no,
                state: new.state,
                result_token,
            };
            // The session stays: a reload or Back shows this outcome, not a new pay button.
            return vec![F::StopTracking, F::ClosePopup];
        }
        vec![]
    }

    fn fail(&mut self, failure: Failure) -> Vec<Effect> {
        let code = failure.code();
        self.state = State::Error { failure };
        vec![Effect::Emit(Emit::Error(code))]
    }
}

/// Whether `url` is a pay page we may open, navigate to or link: `https://`, or `http://` on
/// loopback only (core's `check_pay_url`, the same check the edge makes before storing it).
pub fn is_pay_page(url: &str) -> bool {
    checkout_core::contract::check_pay_url(url).is_ok()
}

/// Which button the view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// "Pay {amount}" / "Pay now".
    Pay,
    /// "Try again".
    Retry,
}

/// What to render, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The live-region text.
    pub status: Option<Msg>,
    /// The button, if any.
    pub button: Option<Button>,
    /// The button is shown but busy (disabled, aria-busy).
    pub busy: bool,
    /// The "reopen payment page" link target.
    pub reopen: Option<String>,
    /// Nothing was opened yet (popup and tab blocked): the link says "Open payment page".
    pub first_open: bool,
    /// The button is shown disabled (the mount can never work: merchant setup).
    pub disabled: bool,
    /// The payment window stayed open at the final state: "You can close the payment window."
    pub close_hint: bool,
    /// The final status, for styling (`data-status`).
    pub tone: Tone,
}

/// The visual tone of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Neutral / in progress.
    Info,
    /// Paid.
    Success,
    /// Failed, expired, error.
    Error,
}

/// The view for a state.
pub fn view(machine: &Machine) -> View {
    let offline = machine.offline();
    let mut v = View {
        status: None,
        button: None,
        busy: false,
        reopen: None,
        first_open: false,
        disabled: false,
        close_hint: false,
        tone: Tone::Info,
    };
    if machine.may_try_again() {
        v.button = Some(Button::Retry);
    }
    match machine.state() {
        State::Loading => v.status = Some(Msg::Ui(Ui::Loading)),
        State::Idle => {
            v.button = Some(Button::Pay);
            if offline {
                v.status = Some(Msg::Ui(Ui::Offline));
            }
        }
        State::Creating { .. } => {
            v.button = Some(Button::Pay);
            v.busy = true;
            v.status = Some(Msg::Ui(if offline { Ui::Offline } else { Ui::Creating }));
        }
        State::Redirecting { .. } => {
            v.busy = true;
            v.button = Some(Button::Pay);
            v.status = Some(Msg::Ui(Ui::Opening));
        }
        State::Waiting {
            order,
            blocked,
            closed,
            checking,
            last,
        } => {
            v.reopen = order.pay_url.clone();
            v.first_open = *blocked;
            let ui = if offline {
                Ui::Offline
            } else if *blocked {
                Ui::PopupBlocked
            } else if *closed {
                Ui::WindowClosed
            } else if *checking {
                Ui::Checking
            } else {
                Ui::Waiting
            };
            // A non-final state other than pending (unknown) is shown instead of "waiting".
            v.status = Some(
                if last.state == OrderState::Pending || offline || *blocked || *closed || *checking
                {
                    Msg::Ui(ui)
                } else {
                    Msg::State(last.state)
                },
            );
        }
        State::Final { state, .. } => {
            v.status = Some(Msg::State(*state));
            v.close_hint = machine.window_open;
            v.tone = match state {
                OrderState::Paid | OrderState::Settled => Tone::Success,
                OrderState::Failed | OrderState::Expired => Tone::Error,
                // Part of the money arrived: not paid, and not the shopper's failure either.
                OrderState::Underpaid
                | OrderState::Pending
                | OrderState::Refunding
                | OrderState::PartiallyRefunded
                | OrderState::Refunded
                | OrderState::Unknown => Tone::Info,
            };
        }
        State::StillProcessing { order } => {
            v.status = Some(Msg::Ui(Ui::StillProcessing));
            v.reopen = order.pay_url.clone();
            v.button = Some(Button::Retry);
        }
        State::Error { failure } => {
            v.status = Some(failure.msg());
            v.tone = Tone::Error;
            if failure.is_transient() {
                v.button = Some(Button::Retry);
            } else if crate::i18n::phrase(&failure.msg()) == crate::i18n::Phrase::MerchantSetup {
                // The checkout can't work on this page: say so, and show why nothing happens.
                v.button = Some(Button::Pay);
                v.disabled = true;
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Phrase;

    fn order(url: bool) -> OrderRef {
        OrderRef {
            order_no: "A-1".into(),
            client_secret: "cs".into(),
            pay_url: url.then(|| "https://pay.example/c/1".to_owned()),
        }
    }

    fn ready(mode: Mode) -> Machine {
        let mut m = Machine::new(mode);
        let fx = m.handle(Event::Ready, 0.5);
        assert_eq!(
            fx,
            vec![Effect::Emit(Emit::Ready), Effect::Emit(Emit::State)]
        );
        m
    }

    #[test]
    fn happy_path_popup() {
        let mut m = ready(Mode::Popup);
        assert_eq!(view(&m).button, Some(Button::Pay));
        let fx = m.handle(Event::PayClicked, 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::PrepareWindow,
                Effect::CreateOrder,
                Effect::Emit(Emit::State)
            ]
        );
        assert!(view(&m).busy);
        // Double click: nothing at all.
        assert_eq!(m.handle(Event::PayClicked, 0.5), vec![]);
        let fx = m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::SaveSession(order(true)),
                Effect::OpenPopup("https://pay.example/c/1".into()),
                Effect::Emit(Emit::Redirect("https://pay.example/c/1".into())),
                Effect::Track(order(true)),
                Effect::Emit(Emit::State),
            ]
        );
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::Waiting)));
        assert_eq!(
            m.handle(Event::Status(Update::of(OrderStatus::Pending), None), 0.5),
            vec![]
        );
        let fx = m.handle(Event::Status(Update::of(OrderStatus::Paid), None), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::StopTracking,
                Effect::ClosePopup,
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(m.state().status_name(), Some("paid"));
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::State(OrderState::Paid)));
        assert_eq!(v.tone, Tone::Success);
        assert_eq!(v.button, None);
        // A late status after the end changes nothing.
        assert_eq!(
            m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5),
            vec![]
        );
    }

    #[test]
    fn network_failure_retries_the_same_create_then_errors() {
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        for attempt in 0..Backoff::CREATE.max_attempts {
            let fx = m.handle(Event::CreateFailed(Failure::Network), 0.0);
            let cap = Backoff::CREATE.cap(attempt);
            assert_eq!(
                fx,
                vec![Effect::ScheduleRetry(cap / 2)],
                "attempt {attempt}"
            );
            assert_eq!(m.handle(Event::RetryDue, 0.5), vec![Effect::CreateOrder]);
        }
        let fx = m.handle(Event::CreateFailed(Failure::Network), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::ClosePopup,
                Effect::Emit(Emit::Error("network".into())),
                Effect::Emit(Emit::State)
            ]
        );
        let v = view(&m);
        assert_eq!(v.button, Some(Button::Retry));
        assert_eq!(v.status, Some(Msg::Ui(Ui::NetworkError)));
        // Retry starts a fresh create.
        let fx = m.handle(Event::RetryClicked, 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::PrepareWindow,
                Effect::CreateOrder,
                Effect::Emit(Emit::State)
            ]
        );
    }

    #[test]
    fn order_in_progress_is_retried_but_intent_expired_is_not() {
        let mut m = ready(Mode::Redirect);
        assert_eq!(
            m.handle(Event::PayClicked, 0.5),
            vec![Effect::CreateOrder, Effect::Emit(Emit::State)]
        );
        let busy = Failure::Api {
            code: ApiErrorCode::OrderInProgress,
            trustpay: None,
        };
        assert!(matches!(
            m.handle(Event::CreateFailed(busy), 0.5).as_slice(),
            [Effect::ScheduleRetry(_)]
        ));
        let expired = Failure::Api {
            code: ApiErrorCode::IntentExpired,
            trustpay: None,
        };
        let fx = m.handle(Event::CreateFailed(expired), 0.5);
        assert!(fx.contains(&Effect::Emit(Emit::Error("intent_expired".into()))));
        let v = view(&m);
        assert_eq!(v.button, None, "retrying an expired intent can't help");
        assert_eq!(v.status, Some(Msg::Api(ApiErrorCode::IntentExpired)));
    }

    #[test]
    fn gateway_code_wins_over_edge_code_for_the_message() {
        let f = Failure::Api {
            code: ApiErrorCode::GatewayRejected,
            trustpay: Some(ErrorCode::UserRiskControlFailed),
        };
        assert_eq!(f.msg(), Msg::Gateway(ErrorCode::UserRiskControlFailed));
        assert_eq!(f.code(), "gateway_rejected");
        assert!(!f.is_transient());
    }

    #[test]
    fn redirect_mode_saves_then_navigates_and_resumes() {
        let mut m = ready(Mode::Redirect);
        m.handle(Event::PayClicked, 0.5);
        let fx = m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::SaveSession(order(true)),
                Effect::Emit(Emit::Redirect("https://pay.example/c/1".into())),
                Effect::Navigate("https://pay.example/c/1".into()),
                Effect::Emit(Emit::State),
            ]
        );
        assert_eq!(m.state().name(), "redirecting");
        // The shopper comes back: a new page, a new machine.
        let mut back = Machine::new(Mode::Redirect);
        let fx = back.handle(Event::Resume(order(false)), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::Emit(Emit::Ready),
                Effect::Track(order(false)),
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(view(&back).status, Some(Msg::Ui(Ui::Checking)));
        let fx = back.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        assert!(
            !fx.contains(&Effect::ClearSession),
            "a reload shows this outcome again"
        );
        assert_eq!(view(&back).tone, Tone::Error);
    }

    #[test]
    fn popup_blocked_shows_reopen_link_and_close_pokes() {
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        assert_eq!(m.handle(Event::PopupBlocked, 0.5), vec![]);
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::Ui(Ui::PopupBlocked)));
        assert_eq!(v.reopen.as_deref(), Some("https://pay.example/c/1"));
        assert_eq!(
            m.handle(Event::ReopenClicked, 0.5),
            vec![Effect::Emit(Emit::Redirect(
                "https://pay.example/c/1".into()
            ))]
        );
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::Waiting)));
        assert_eq!(
            m.handle(Event::PopupClosed, 0.5),
            vec![Effect::Emit(Emit::Close), Effect::Poke]
        );
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::WindowClosed)));
    }

    #[test]
    fn tracking_gives_up_to_still_processing_and_can_check_again() {
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        // Transient tracking errors keep waiting.
        assert_eq!(m.handle(Event::TrackFailed(Failure::Network), 0.5), vec![]);
        assert_eq!(m.state().name(), "waiting");
        assert_eq!(
            m.handle(Event::TrackGaveUp, 0.5),
            vec![Effect::Emit(Emit::State)]
        );
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::StillProcessing)));
        let fx = m.handle(Event::RetryClicked, 0.5);
        assert_eq!(
            fx,
            vec![Effect::Track(order(true)), Effect::Emit(Emit::State)]
        );
    }

    #[test]
    fn lost_order_stops_tracking_with_an_error() {
        let mut m = Machine::new(Mode::Popup);
        m.handle(Event::Resume(order(false)), 0.5);
        let gone = Failure::Api {
            code: ApiErrorCode::ClientSecretInvalid,
            trustpay: None,
        };
        let fx = m.handle(Event::TrackFailed(gone), 0.5);
        assert_eq!(fx[..2], [Effect::StopTracking, Effect::ClearSession]);
        assert_eq!(m.state().name(), "error");
    }

    #[test]
    fn offline_then_online_pokes_tracker() {
        let mut m = Machine::new(Mode::Popup);
        m.handle(Event::Resume(order(true)), 0.5);
        assert_eq!(m.handle(Event::Online(false), 0.5), vec![]);
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::Offline)));
        assert_eq!(m.handle(Event::Online(true), 0.5), vec![Effect::Poke]);
        assert_eq!(m.handle(Event::Online(true), 0.5), vec![]);
    }

    #[test]
    fn replayed_final_order_shows_outcome_without_opening() {
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        let fx = m.handle(
            Event::Created(order(true), Update::of(OrderStatus::Paid)),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::ClosePopup,
                Effect::SaveSession(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(view(&m).status, Some(Msg::State(OrderState::Paid)));
    }

    #[test]
    fn statuses_only_move_forward_and_unknown_is_ignored() {
        let mut m = Machine::new(Mode::Popup);
        m.handle(Event::Resume(order(true)), 0.5);
        assert_eq!(
            m.handle(
                Event::Status(Update::of(OrderStatus::Unknown(77)), None),
                0.5
            ),
            vec![]
        );
        assert_eq!(m.state().name(), "waiting");
        assert_eq!(
            view(&m).status,
            Some(Msg::Ui(Ui::Waiting)),
            "first answer ends 'checking'"
        );
    }

    #[test]
    fn intent_failure_is_an_error() {
        let mut m = Machine::new(Mode::Popup);
        let fx = m.handle(Event::IntentFailed, 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::Emit(Emit::Error("network".into())),
                Effect::Emit(Emit::State)
            ]
        );
    }

    #[test]
    fn non_http_pay_urls_are_refused() {
        for url in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,x",
            "//evil.example",
            "http://cashier.example/plain-http",
            "https://user@cashier.example/x",
            "",
        ] {
            let mut m = ready(Mode::Redirect);
            m.handle(Event::PayClicked, 0.5);
            let bad = OrderRef {
                pay_url: Some(url.to_owned()),
                ..order(true)
            };
            let fx = m.handle(Event::Created(bad, Update::PENDING), 0.5);
            assert!(
                !fx.iter()
                    .any(|f| matches!(f, Effect::Navigate(_) | Effect::OpenPopup(_))),
                "{url}"
            );
            assert_eq!(m.state().name(), "error", "{url}");
        }
        assert!(is_pay_page("HTTPS://cashier.example/x"));
        assert!(is_pay_page("http://127.0.0.1:8787/x"));
        assert!(!is_pay_page("http://cashier.example/x"));
    }

    #[test]
    fn final_status_keeps_the_signed_client_result() {
        let mut m = Machine::new(Mode::Popup);
        m.handle(Event::Resume(order(true)), 0.5);
        m.handle(Event::Status(Update::of(OrderStatus::Pending), None), 0.5);
        m.handle(
            Event::Status(Update::of(OrderStatus::Paid), Some("v1.p.s".into())),
            0.5,
        );
        assert_eq!(
            m.state(),
            &State::Final {
                order_no: "A-1".into(),
                state: OrderState::Paid,
                result_token: Some("v1.p.s".into())
            }
        );
    }

    fn waiting() -> Machine {
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        m
    }

    #[test]
    fn a_short_status_5_is_underpaid_final_and_never_paid() {
        let mut m = waiting();
        let short = Update::new(OrderStatus::Paid, "underpaid");
        assert_eq!(short.state, OrderState::Underpaid);
        let fx = m.handle(Event::Status(short, Some("v1.p.s".into())), 0.5);
        // Final: tracking stops, the popup goes, the page hears of it (the session stays).
        assert_eq!(
            fx,
            vec![
                Effect::StopTracking,
                Effect::ClosePopup,
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(m.state().name(), "final");
        assert_eq!(m.state().status_name(), Some("underpaid"));
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::State(OrderState::Underpaid)));
        assert_eq!(
            v.status.as_ref().map(crate::i18n::phrase),
            Some(Phrase::Underpaid)
        );
        assert_ne!(v.tone, Tone::Success, "no paid styling");
        assert_eq!(v.button, None);
        // Nothing later turns it into "paid" on screen.
        assert_eq!(
            m.handle(
                Event::Status(Update::new(OrderStatus::Settled, "paid"), None),
                0.5
            ),
            vec![]
        );
        assert_eq!(m.state().status_name(), Some("underpaid"));
    }

    #[test]
    fn the_edge_state_decides_paid_and_its_absence_falls_back_to_the_status() {
        let mut m = waiting();
        m.handle(
            Event::Status(Update::new(OrderStatus::Paid, "paid"), None),
            0.5,
        );
        assert_eq!(m.state().status_name(), Some("paid"));
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::State(OrderState::Paid)));
        assert_eq!(v.tone, Tone::Success);

        // An answer without `state` (`wire` fills it from the status) reads as the status.
        let json = serde_json::json!({"order_no":"A-1","status":5,"amount":"5.00","currency":"USD","updated_at":1});
        let answer = crate::wire::order_view(&json).expect("reads");
        assert_eq!(
            Update::new(answer.status, &answer.state),
            Update::of(OrderStatus::Paid)
        );
        // A state name this build doesn't know is not paid, and not final.
        let odd = Update::new(OrderStatus::Paid, "paid_twice");
        assert_eq!(odd.state, OrderState::Unknown);
        let mut m = waiting();
        assert_eq!(
            m.handle(Event::Status(odd, None), 0.5),
            vec![Effect::Emit(Emit::State)]
        );
        assert_eq!(m.state().name(), "waiting");
        assert_eq!(view(&m).status, Some(Msg::State(OrderState::Unknown)));
        // The edge's newer reading of the same status is taken.
        m.handle(
            Event::Status(Update::new(OrderStatus::Paid, "underpaid"), None),
            0.5,
        );
        assert_eq!(m.state().status_name(), Some("underpaid"));
        assert_eq!(m.state().name(), "final");
    }

    #[test]
    fn a_replayed_underpaid_order_opens_nothing() {
        let mut m = ready(Mode::Redirect);
        m.handle(Event::PayClicked, 0.5);
        let fx = m.handle(
            Event::Created(order(true), Update::new(OrderStatus::Paid, "underpaid")),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::ClosePopup,
                Effect::SaveSession(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(view(&m).status, Some(Msg::State(OrderState::Underpaid)));
    }

    fn attempt_api(code: ApiErrorCode) -> Failure {
        Failure::Api {
            code,
            trustpay: None,
        }
    }

    fn second(url: &str) -> OrderRef {
        OrderRef {
            pay_url: Some(url.to_owned()),
            ..order(true)
        }
    }

    #[test]
    fn a_failed_payment_offers_try_again_as_a_new_attempt_in_the_popup() {
        let mut m = waiting();
        let fx = m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::StopTracking,
                Effect::ClosePopup,
                Effect::Emit(Emit::State)
            ]
        );
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::State(OrderState::Failed)));
        assert_eq!(v.button, Some(Button::Retry));
        assert!(!v.disabled);
        // Try again: a window inside the click, then the attempts route with the order's secret.
        let fx = m.handle(Event::RetryClicked, 0.5);
        assert_eq!(
            fx,
            vec![
                Effect::PrepareWindow,
                Effect::NewAttempt(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(m.state().name(), "creating");
        assert_eq!(m.handle(Event::RetryClicked, 0.5), vec![], "double click");
        let fx = m.handle(
            Event::Created(second("https://pay.example/c/2"), Update::PENDING),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::SaveSession(second("https://pay.example/c/2")),
                Effect::OpenPopup("https://pay.example/c/2".into()),
                Effect::Emit(Emit::Redirect("https://pay.example/c/2".into())),
                Effect::Track(second("https://pay.example/c/2")),
                Effect::Emit(Emit::State),
            ]
        );
        m.handle(Event::Status(Update::of(OrderStatus::Paid), None), 0.5);
        let v = view(&m);
        assert_eq!(v.status, Some(Msg::State(OrderState::Paid)));
        assert_eq!(v.button, None, "never after paid");
        assert_eq!(m.handle(Event::RetryClicked, 0.5), vec![]);
        assert_eq!(m.handle(Event::PayClicked, 0.5), vec![]);
    }

    #[test]
    fn an_expired_redirect_payment_tries_again_by_redirect() {
        let mut back = Machine::new(Mode::Redirect);
        back.handle(Event::Resume(order(false)), 0.5);
        back.handle(Event::Status(Update::of(OrderStatus::TimedOut), None), 0.5);
        assert_eq!(view(&back).button, Some(Button::Retry));
        assert_eq!(
            back.handle(Event::RetryClicked, 0.5),
            vec![Effect::NewAttempt(order(false)), Effect::Emit(Emit::State)]
        );
        let fx = back.handle(
            Event::Created(second("https://pay.example/c/2"), Update::PENDING),
            0.5,
        );
        assert!(fx.contains(&Effect::Navigate("https://pay.example/c/2".into())));
        assert_eq!(back.state().name(), "redirecting");
    }

    #[test]
    fn underpaid_and_refunded_offer_no_try_again() {
        for update in [
            Update::new(OrderStatus::Paid, "underpaid"),
            Update::of(OrderStatus::Settled),
            Update::of(OrderStatus::Refunded),
        ] {
            let mut m = waiting();
            m.handle(Event::Status(update, None), 0.5);
            assert_eq!(m.state().name(), "final");
            assert_eq!(view(&m).button, None, "{update:?}");
            assert_eq!(m.handle(Event::RetryClicked, 0.5), vec![], "{update:?}");
        }
    }

    #[test]
    fn attempt_limit_says_too_many_attempts_without_a_button() {
        let mut m = waiting();
        m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        m.handle(Event::RetryClicked, 0.5);
        let fx = m.handle(
            Event::CreateFailed(attempt_api(ApiErrorCode::AttemptLimit)),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::ClosePopup,
                Effect::Emit(Emit::Error("attempt_limit".into())),
                Effect::Emit(Emit::State)
            ]
        );
        let v = view(&m);
        assert_eq!(
            v.status.as_ref().map(crate::i18n::phrase),
            Some(Phrase::TooManyAttempts)
        );
        assert_eq!(v.button, None);
        assert_eq!(m.handle(Event::RetryClicked, 0.5), vec![]);
    }

    #[test]
    fn attempt_not_allowed_goes_back_to_the_order_state() {
        let mut m = waiting();
        m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        m.handle(Event::RetryClicked, 0.5);
        let fx = m.handle(
            Event::CreateFailed(attempt_api(ApiErrorCode::AttemptNotAllowed)),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::ClosePopup,
                Effect::Track(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
        assert_eq!(view(&m).status, Some(Msg::Ui(Ui::WindowClosed)));
        // Paid in the meantime (another tab): shown as such.
        m.handle(Event::Status(Update::of(OrderStatus::Paid), None), 0.5);
        assert_eq!(m.state().status_name(), Some("paid"));
    }

    #[test]
    fn a_lost_attempt_answer_is_not_repeated_automatically() {
        let mut m = waiting();
        m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        m.handle(Event::RetryClicked, 0.5);
        let fx = m.handle(Event::CreateFailed(Failure::Network), 0.5);
        assert_eq!(fx[0], Effect::ClosePopup);
        assert_eq!(m.state().name(), "error");
        assert_eq!(m.handle(Event::RetryDue, 0.5), vec![]);
        assert_eq!(view(&m).button, Some(Button::Retry));
        assert_eq!(
            m.handle(Event::RetryClicked, 0.5),
            vec![
                Effect::PrepareWindow,
                Effect::NewAttempt(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
    }

    #[test]
    fn a_closed_popup_offers_try_again_next_to_the_reopen_link() {
        let mut m = waiting();
        m.handle(Event::PopupClosed, 0.5);
        let v = view(&m);
        assert_eq!(v.button, Some(Button::Retry));
        assert_eq!(v.reopen.as_deref(), Some("https://pay.example/c/1"));
        assert_eq!(
            m.handle(Event::RetryClicked, 0.5),
            vec![
                Effect::StopTracking,
                Effect::PrepareWindow,
                Effect::NewAttempt(order(true)),
                Effect::Emit(Emit::State)
            ]
        );
    }

    #[test]
    fn a_misconfigured_mount_shows_merchant_setup_and_a_disabled_button() {
        let mut m = Machine::new(Mode::Popup);
        let fx = m.handle(
            Event::Misconfigured(attempt_api(ApiErrorCode::IntentMalformed)),
            0.5,
        );
        assert_eq!(
            fx,
            vec![
                Effect::Emit(Emit::Error("intent_malformed".into())),
                Effect::Emit(Emit::State)
            ]
        );
        let v = view(&m);
        assert_eq!(
            v.status.as_ref().map(crate::i18n::phrase),
            Some(Phrase::MerchantSetup)
        );
        assert_eq!(v.button, Some(Button::Pay));
        assert!(v.disabled);
        assert_eq!(m.handle(Event::PayClicked, 0.5), vec![]);
        // Only at mount.
        let mut idle = ready(Mode::Popup);
        assert_eq!(
            idle.handle(
                Event::Misconfigured(attempt_api(ApiErrorCode::IntentMissing)),
                0.5
            ),
            vec![]
        );
        // The edge refusing the page's origin reads the same, also without a button to retry.
        let mut m = ready(Mode::Popup);
        m.handle(Event::PayClicked, 0.5);
        let fx = m.handle(
            Event::CreateFailed(attempt_api(ApiErrorCode::OriginNotAllowed)),
            0.5,
        );
        assert!(fx.contains(&Effect::Emit(Emit::Error("origin_not_allowed".into()))));
        assert!(view(&m).disabled);
    }

    #[test]
    fn a_window_left_open_at_the_end_shows_the_close_hint() {
        let mut m = waiting();
        assert_eq!(m.handle(Event::WindowLeftOpen, 0.5), vec![]);
        assert!(!view(&m).close_hint, "only at a final state");
        m.handle(Event::Status(Update::of(OrderStatus::Failed), None), 0.5);
        m.handle(Event::WindowLeftOpen, 0.5);
        assert!(view(&m).close_hint);
        m.handle(Event::RetryClicked, 0.5);
        assert!(!view(&m).close_hint, "a new attempt starts without it");
    }

    #[test]
    fn back_from_the_pay_page_resumes_a_frozen_redirect() {
        let mut m = ready(Mode::Redirect);
        m.handle(Event::PayClicked, 0.5);
        m.handle(Event::Created(order(true), Update::PENDING), 0.5);
        assert_eq!(m.state().name(), "redirecting");
        // The back/forward cache restores the page with this machine as it was.
        assert_eq!(
            m.handle(Event::Resume(order(true)), 0.5),
            vec![Effect::Track(order(true)), Effect::Emit(Emit::State)]
        );
        m.handle(Event::Status(Update::of(OrderStatus::Paid), None), 0.5);
        assert_eq!(m.state().status_name(), Some("paid"));
    }

    #[test]
    fn a_blocked_popup_link_opens_rather_than_reopens() {
        let mut m = waiting();
        assert!(!view(&m).first_open);
        m.handle(Event::PopupBlocked, 0.5);
        assert!(view(&m).first_open);
        m.handle(Event::ReopenClicked, 0.5);
        assert!(!view(&m).first_open);
    }

    #[test]
    fn mode_parsing() {
        assert_eq!(Mode::parse("redirect"), Mode::Redirect);
        assert_eq!(Mode::parse(" REDIRECT "), Mode::Redirect);
        assert_eq!(Mode::parse("popup"), Mode::Popup);
        assert_eq!(Mode::parse("weird"), Mode::Popup);
    }
}
