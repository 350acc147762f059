//! The polling [`Tracker`]: `GET /v1/orders/{order_no}` on the [`PollPlan`] schedule, with
//! an `exec::Timer` for the wait and an `AbortController` for the request in flight. Both
//! are dropped/aborted by `stop()`, so nothing fires after `destroy()`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use web_sys::AbortController;

use crate::Slot as _;
use crate::api::Edge;
use crate::backoff::Backoff;
use crate::exec::Timer;
use crate::reducer::{OrderRef, Update};
use crate::tracker::{PollPlan, Report, Step, Tracker};

struct Shared {
    edge: Edge,
    order: OrderRef,
    plan: RefCell<PollPlan>,
    timer: RefCell<Option<Timer>>,
    abort: RefCell<Option<AbortController>>,
    report: Rc<dyn Fn(Report)>,
}

/// Polls the edge for one order.
pub(crate) struct PollingTracker(Rc<Shared>);

impl std::fmt::Debug for PollingTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingTracker")
            .field("order_no", &self.0.order.order_no)
            .finish()
    }
}

impl PollingTracker {
    pub(crate) fn new(edge: Edge, order: OrderRef, report: Rc<dyn Fn(Report)>) -> Self {
        PollingTracker(Rc::new(Shared {
            edge,
            order,
            plan: RefCell::new(PollPlan::new(Backoff::POLL)),
            timer: RefCell::new(None),
            abort: RefCell::new(None),
            report,
        }))
    }
}

fn run(shared: &Rc<Shared>, step: Step) {
    match step {
        Step::Idle => {}
        Step::GiveUp => (shared.report)(Report::GaveUp),
        Step::Wait(ms) => {
            let weak: Weak<Shared> = Rc::downgrade(shared);
            let timer = Timer::once(ms, move || {
                if let Some(shared) = weak.upgrade() {
                    shared.timer.write().take();
                    let step = shared.plan.write().on_timer();
                    run(&shared, step);
                }
            });
            *shared.timer.write() = Some(timer);
        }
        Step::Fetch => {
            let Ok(controller) = AbortController::new() else {
                return;
            };
            let signal = controller.signal();
            *shared.abort.write() = Some(controller);
            let weak = Rc::downgrade(shared);
            crate::exec::spawn(async move {
                let result = {
                    let Some(shared) = weak.upgrade() else { return };
                    let (edge, order) = (shared.edge.clone(), shared.order.clone());
                    drop(shared);
                    edge.order(&order.order_no, &order.client_secret, &signal)
                        .await
                };
                if signal.aborted() {
                    return;
                }
                let Some(shared) = weak.upgrade() else { return };
                shared.abort.write().take();
                let done = match result {
                    Ok(view) => {
                        let update = Update::new(view.status, &view.state);
                        (shared.report)(Report::Status(update, view.result_token));
                        update.state.is_final()
                    }
                    Err(failure) => {
                        (shared.report)(Report::Failed(failure));
                        false
                    }
                };
                let step = shared.plan.write().on_answer(done, js_sys::Math::random());
                run(&shared, step);
            });
        }
    }
}

// The [`Tracker`] methods on `&self`, so the push tracker can own one behind an `Rc`.
impl PollingTracker {
    pub(crate) fn start(&self) {
        let step = self.0.plan.write().start();
        run(&self.0, step);
    }

    pub(crate) fn set_hidden(&self, hidden: bool) {
        if hidden {
            self.0.timer.write().take();
        }
        let step = self.0.plan.write().set_hidden(hidden);
        run(&self.0, step);
    }

    pub(crate) fn poke(&self) {
        self.0.timer.write().take();
        let step = self.0.plan.write().poke();
        run(&self.0, step);
    }

    pub(crate) fn stop(&self) {
        self.0.plan.write().stop();
        self.0.timer.write().take();
        if let Some(controller) = self.0.abort.write().take() {
            controller.abort();
        }
    }
}

impl Tracker for PollingTracker {
    fn start(&mut self) {
        PollingTracker::start(self);
    }

    fn set_hidden(&mut self, hidden: bool) {
        PollingTracker::set_hidden(self, hidden);
    }

    fn poke(&mut self) {
        PollingTracker::poke(self);
    }

    fn stop(&mut self) {
        PollingTracker::stop(self);
    }
}

impl Drop for PollingTracker {
    fn drop(&mut self) {
        self.stop();
    }
}
