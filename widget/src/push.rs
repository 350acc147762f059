//! The push [`Tracker`]: the edge's Server-Sent Events (`GET /v1/orders/{order_no}/events`,
//! `EventSource`), each event an order view like the status answer. The first error (stream
//! refused, unreachable, dropped; a message that isn't an order view) closes it and hands over
//! to the [`PollingTracker`] for good ([`Channel`]); nothing is shown for that, the shopper
//! only ever sees the state. Without an events token (a resumed order) or without
//! `EventSource`, it polls from the start. `Cell`s only (no `RefCell`): every borrow check is
//! a panic path, and the widget is paid for in bytes.

use std::cell::Cell;
use std::rc::Rc;

use web_sys::EventSource;

use crate::api::{self, Edge};
use crate::dom::Listener;
use crate::polling::PollingTracker;
use crate::reducer::{OrderRef, Update};
use crate::tracker::{Channel, Report, Tracker};

struct Shared {
    channel: Cell<Channel>,
    hidden: Cell<bool>,
    source: Cell<Option<(EventSource, Listener, Listener)>>,
    poll: PollingTracker,
    report: Rc<dyn Fn(Report)>,
}

/// Push first, polling as the fallback.
pub(crate) struct PushTracker {
    shared: Rc<Shared>,
    url: Option<String>,
}

impl PushTracker {
    pub(crate) fn new(
        edge: Edge,
        order: OrderRef,
        events_token: Option<String>,
        report: impl Fn(Report) + 'static,
    ) -> Self {
        let report: Rc<dyn Fn(Report)> = Rc::new(report);
        let url = events_token.map(|token| edge.events_url(&order.order_no, &token));
        PushTracker {
            shared: Rc::new(Shared {
                channel: Cell::new(Channel::Polling),
                hidden: Cell::new(false),
                source: Cell::new(None),
                poll: PollingTracker::new(edge, order, report.clone()),
                report,
            }),
            url,
        }
    }
}

/// Closes the stream (dropping its listeners).
fn close(shared: &Shared) {
    if let Some((source, _, _)) = shared.source.take() {
        source.close();
    }
}

/// Push failed: close it and poll (once).
fn fall_back(shared: &Shared) {
    close(shared);
    let mut channel = shared.channel.get();
    if channel.fail() {
        shared.channel.set(channel);
        shared.poll.set_hidden(shared.hidden.get());
        shared.poll.start();
    }
}

impl Tracker for PushTracker {
    fn start(&mut self) {
        let source = self
            .url
            .as_deref()
            .and_then(|url| EventSource::new(url).ok());
        let shared = &self.shared;
        shared
            .channel
            .set(Channel::choose(self.url.is_some(), source.is_some()));
        let Some(source) = source else {
            shared.poll.set_hidden(shared.hidden.get());
            shared.poll.start();
            return;
        };
        let weak = Rc::downgrade(shared);
        let on_message = Listener::new(&source, "message", move |event| {
            let Some(shared) = weak.upgrade() else { return };
            let view = js_sys::Reflect::get(event, &"data".into())
                .ok()
                .and_then(|data| data.as_string())
                .and_then(|text| js_sys::JSON::parse(&text).ok())
                .and_then(|json| api::order_view(&json));
            match view {
                Some(view) => {
                    let update = Update::new(view.status, &view.state);
                    if update.state.is_final() {
                        close(&shared);
                    }
                    (shared.report)(Report::Status(update, view.result_token));
                }
                None => fall_back(&shared),
            }
        });
        let weak = Rc::downgrade(shared);
        let on_error = Listener::new(&source, "error", move |_| {
            if let Some(shared) = weak.upgrade() {
                fall_back(&shared);
            }
        });
        shared.source.set(Some((source, on_message, on_error)));
    }

    fn set_hidden(&mut self, hidden: bool) {
        // The stream stays open while hidden (no requests to save); only polling pauses.
        self.shared.hidden.set(hidden);
        if self.shared.channel.get() == Channel::Polling {
            self.shared.poll.set_hidden(hidden);
        }
    }

    fn poke(&mut self) {
        if self.shared.channel.get() == Channel::Polling {
            self.shared.poll.poke();
        }
    }

    fn stop(&mut self) {
        close(&self.shared);
        self.shared.poll.stop();
    }
}

impl Drop for PushTracker {
    fn drop(&mut self) {
        self.stop();
    }
}
