//! A local TrustPay v4 payment-gateway simulator, run in-process by tests or as the
//! `trustpay-sim` binary.
//!
//! It speaks the API as `docs/protocol.md` describes it and checks requests strictly
//! (API key, sign, amount rendering, body shape, amount rules), hosts a cashier page, sends
//! signed callbacks with retries, and offers a control API under `/_sim/...` for faults,
//! automatic outcomes and logs (listed in `tests/README.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tests::sim::ServeError> {
//! use tests::sim::{SimConfig, serve};
//!
//! let (addr, sim) = serve(SimConfig::for_tests()).await?;
//! // Point the client at `sim.base_url()` (== format!("http://{addr}")) with
//! // X-Api-Key = tests::sim::DEFAULT_API_KEY and secret = tests::sim::DEFAULT_SECRET.
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`config`] (public), and internally `api` (v4 endpoints), `cashier` (hosted
//! page), `callbacks` (building and delivering callbacks), `faults`, `control` (`/_sim`),
//! `store` (orders, balances, lifecycle), `log` and `clock`.

mod api;
mod callbacks;
mod cashier;
mod clock;
pub mod config;
mod control;
mod faults;
mod log;
pub mod risk;
mod store;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    AmountRule, AmountRules, ConfigError, DEFAULT_API_KEY, DEFAULT_LISTEN, DEFAULT_MERCHANT_ID,
    DEFAULT_SECRET, FeeRule, SimArgs, SimConfig,
};
pub use store::Outcome;

use store::{Effect, State};

/// The running simulator's shared parts.
pub(crate) struct Sim {
    pub(crate) config: SimConfig,
    /// The base URL of pay pages, without a trailing slash.
    pub(crate) base_url: String,
    /// Client for callbacks (plain HTTP, per-attempt timeout, no proxy).
    pub(crate) http: reqwest::Client,
    state: Mutex<State>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// The state. A panic while it was held doesn't make it unusable: the data is plain.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One line on stderr when verbose. Never given keys or secrets.
    pub(crate) fn say(&self, line: fmt::Arguments<'_>) {
        if self.config.verbose {
            eprintln!("[trustpay-sim] {line}");
        }
    }
}

/// Carries out effects: callbacks now, timers later. Timers belong to the current epoch and
/// do nothing after a reset.
pub(crate) fn run_effects(sim: &Arc<Sim>, effects: Vec<Effect>) {
    let epoch = sim.lock().epoch;
    for effect in effects {
        match effect {
            Effect::Callback(event) => callbacks::dispatch(sim, event),
            Effect::Outcome {
                order_no,
                outcome,
                after,
            } => {
                let sim = Arc::clone(sim);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let outcome = risk::screen(&sim, &order_no, outcome, None).await;
                    let event = {
                        let mut state = sim.lock();
                        if state.epoch != epoch {
                            return;
                        }
                        // Only a still-pending order changes; anything else already happened.
                        state
                            .apply_outcome(&sim.config, &order_no, outcome, false)
                            .ok()
                    };
                    if let Some(event) = event {
                        sim.say(format_args!(
                            "{order_no}: automatic {outcome:?} -> status {}",
                            event.status.code()
                        ));
                        callbacks::dispatch(&sim, event);
                    }
                });
            }
            Effect::FinishRefund {
                order_no,
                refund_no,
                after,
            } => {
                let sim = Arc::clone(sim);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let event = {
                        let mut state = sim.lock();
                        if state.epoch != epoch {
                            return;
                        }
                        state.finish_refund(&sim.config, &order_no, &refund_no)
                    };
                    if let Some(event) = event {
                        callbacks::dispatch(&sim, event);
                    }
                });
            }
        }
    }
}

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP client for callbacks could not be built.
    #[error("cannot build the callback HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The server failed while running.
    #[error("the server failed: {0}")]
    Server(std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the server task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running simulator. Dropping it stops the server (without waiting); prefer
/// [`SimHandle::shutdown`].
pub struct SimHandle {
    addr: SocketAddr,
    sim: Arc<Sim>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("base_url", &self.sim.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL to give clients: `http://<addr>` (the configured public URL is only
    /// used for pay pages).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The base URL advertised in `pay_url`.
    pub fn public_url(&self) -> &str {
        &self.sim.base_url
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.sim.config
    }

    /// Stops accepting requests, finishes the ones in flight, abandons timers and callback
    /// deliveries, and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_background();
        if let Some(stop) = self.stop.take() {
            // The server may already have ended; then there is nobody to tell.
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?.map_err(ServeError::Server),
            None => Ok(()),
        }
    }

    /// Runs until `signal` completes (e.g. Ctrl-C) or the server fails, then shuts down.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            ended = &mut task => {
                self.stop_background();
                ended?.map_err(ServeError::Server)
            }
            () = signal => {
                self.task = Some(task);
                self.shutdown().await
            }
        }
    }

    fn stop_background(&self) {
        // A new epoch makes every timer and delivery of the old one stop at its next step.
        let mut state = self.sim.lock();
        state.epoch += 1;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            self.stop_background();
            let _ = stop.send(());
        }
    }
}

/// The whole HTTP surface: v4 API, cashier page, control API.
fn router(sim: Arc<Sim>) -> Router {
    api::routes()
        .merge(cashier::routes())
        .merge(control::routes())
        .with_state(sim)
}

/// Starts the simulator on `config.listen` and returns the bound address and a handle.
/// With port 0 a free port is chosen; `pay_url`s use `config.public_url` or
/// `http://<bound address>`.
pub async fn serve(config: SimConfig) -> Result<(SocketAddr, SimHandle), ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let base_url = config.public_url.clone().map_or_else(
        || format!("http://{addr}"),
        |url| url.trim_end_matches('/').to_owned(),
    );
    let http = reqwest::Client::builder()
        .timeout(config.callback_timeout)
        .no_proxy()
        .build()?;
    let state = Mutex::new(State::new(config.seed));
    let sim = Arc::new(Sim {
        config,
        base_url,
        http,
        state,
    });
    let app = router(Arc::clone(&sim));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means stop.
                let _ = stopped.await;
            })
            .await
    });
    Ok((
        addr,
        SimHandle {
            addr,
            sim,
            stop: Some(stop),
            task: Some(task),
        },
    ))
}
