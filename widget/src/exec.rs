//! The widget's async tasks (a create, a new attempt, a status poll, the start after mount):
//! a few futures polled from microtasks, as `wasm_bindgen_futures::spawn_local` does, without
//! its general run queue and the JS Promise Integration paths it checks on every spawn
//! (measured: ~3 KB of wasm for the widget's handful of tasks).
//!
//! A task is polled first in a microtask after [`spawn`] (never inside the caller), then in a
//! microtask after each wake-up ([`JsFuture`](wasm_bindgen_futures::JsFuture) wakes it when its
//! promise settles; a wake-up during its own poll polls it again once that poll is over). A
//! wake-up for a finished task polls nothing (or, if its slot was reused, the new task once
//! more: futures allow spurious polls).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use wasm_bindgen::prelude::*;

use crate::Slot as _;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// One place in the task list.
enum Slot {
    /// Free for the next [`spawn`].
    Free,
    /// Its task is being polled (taken out): not free, a task it spawns goes elsewhere.
    Polling,
    /// A task waiting to be polled.
    Ready(Task),
}

thread_local! {
    static TASKS: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &JsValue);
}

/// Runs `future` to completion, from microtasks.
pub(crate) fn spawn(future: impl Future<Output = ()> + 'static) {
    let task: Task = Box::pin(future);
    let slot = TASKS.with(|tasks| {
        let mut tasks = tasks.write();
        match tasks.iter().position(|slot| matches!(slot, Slot::Free)) {
            Some(free) => {
                tasks[free] = Slot::Ready(task);
                free
            }
            None => {
                tasks.push(Slot::Ready(task));
                tasks.len() - 1
            }
        }
    });
    schedule(slot);
}

fn schedule(slot: usize) {
    queue_microtask(&Closure::once_into_js(move || poll(slot)));
}

fn poll(slot: usize) {
    let taken = TASKS.with(|tasks| match tasks.write().get_mut(slot) {
        Some(entry @ Slot::Ready(_)) => match std::mem::replace(entry, Slot::Polling) {
            Slot::Ready(task) => Some(task),
            Slot::Free | Slot::Polling => None,
        },
        Some(Slot::Free | Slot::Polling) | None => None,
    });
    let Some(mut task) = taken else {
        return;
    };
    let waker = Waker::from(Arc::new(WakeUp(slot)));
    let pending = task
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending();
    TASKS.with(|tasks| {
        if let Some(entry) = tasks.write().get_mut(slot) {
            *entry = if pending {
                Slot::Ready(task)
            } else {
                Slot::Free
            };
        }
    });
}

/// Wakes the task in one slot.
struct WakeUp(usize);

impl Wake for WakeUp {
    fn wake(self: Arc<Self>) {
        schedule(self.0);
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &JsValue, ms: u32) -> i32;
    #[wasm_bindgen(js_name = setInterval)]
    fn set_interval(callback: &JsValue, ms: u32) -> i32;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: i32);
    #[wasm_bindgen(js_name = clearInterval)]
    fn clear_interval(id: i32);
}

/// A `setTimeout` or `setInterval`, cleared when dropped (so `destroy()` leaves none behind;
/// dropping it from inside its own callback is fine). gloo-timers' `Timeout` and `Interval`,
/// without their `catch` wrappers: neither call throws.
#[derive(Debug)]
pub(crate) struct Timer {
    id: i32,
    repeats: bool,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `callback` once, after `ms` milliseconds.
    pub(crate) fn once(ms: u32, callback: impl FnOnce() + 'static) -> Timer {
        let callback = Closure::once(callback);
        Timer {
            id: set_timeout(callback.as_ref(), ms),
            repeats: false,
            _callback: callback,
        }
    }

    /// Calls `callback` every `ms` milliseconds.
    pub(crate) fn every(ms: u32, callback: impl FnMut() + 'static) -> Timer {
        let callback = Closure::<dyn FnMut()>::new(callback);
        Timer {
            id: set_interval(callback.as_ref(), ms),
            repeats: true,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if self.repeats {
            clear_interval(self.id);
        } else {
            clear_timeout(self.id);
        }
    }
}
