//! [`Ctx`]: what every handler, the queue consumer and the cron get: the environment, the
//! request's logger, the request time and the configuration, read once.

use std::cell::OnceCell;

use worker::{Context, Date, Env};

use crate::config::{Config, ConfigError, D1_BINDINGS};
use crate::error::EdgeError;
use crate::log::Log;
use crate::store::{RoundTrips, Store};

/// What every handler gets: the environment, the request's logger and the request time.
#[derive(Debug)]
pub struct Ctx {
    env: Env,
    /// The request's logger.
    pub log: Log,
    /// Request time, Unix milliseconds.
    pub now_ms: i64,
    /// The configuration, read once per request on first use.
    config: OnceCell<Result<Config, ConfigError>>,
    /// The invocation's context, for work that must outlive the response.
    context: Option<Context>,
    /// D1 round trips and Durable Object calls made so far (logged with the request).
    pub trips: RoundTrips,
}

impl Ctx {
    /// A context for one request.
    pub fn new(env: Env, log: Log) -> Self {
        let now_ms = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
        Self {
            env,
            log,
            now_ms,
            config: OnceCell::new(),
            context: None,
            trips: RoundTrips::default(),
        }
    }

    /// The same context, able to run work after the response ([`Ctx::wait_until`]).
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Runs `future` after the response is sent (`ctx.waitUntil`); without a context, it
    /// is dropped (logged).
    pub fn wait_until(&self, future: impl std::future::Future<Output = ()> + 'static) {
        match &self.context {
            Some(context) => context.wait_until(future),
            None => self.log.warn("background_work_dropped", &[]),
        }
    }

    /// The environment (bindings beyond `DB`, e.g. queues).
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Request time, Unix seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms / 1000
    }

    /// The configuration, read and validated on first use. A failure is logged once, naming
    /// the variable at fault (never a value).
    pub fn config(&self) -> Result<&Config, EdgeError> {
        let loaded = self.config.get_or_init(|| {
            let loaded = Config::from_lookup(|name| self.env.var(name).ok().map(|v| v.to_string()));
            if let Err(e) = &loaded {
                self.log.error(
                    "misconfigured",
                    &[
                        ("variable", e.variable().into()),
                        ("reason", e.to_string().into()),
                    ],
                );
            }
            loaded
        });
        loaded
            .as_ref()
            .map_err(|e| EdgeError::Misconfigured(e.clone()))
    }

    /// The D1 store: `D1_SHARDS` databases, bindings `DB`, `DB_1` .. ([`D1_BINDINGS`]). A
    /// missing binding is a configuration error naming it.
    pub fn store(&self) -> Result<Store, EdgeError> {
        let shards = usize::try_from(self.config()?.d1_shards).unwrap_or(usize::MAX);
        let mut databases = Vec::with_capacity(shards);
        for name in D1_BINDINGS.iter().take(shards) {
            let db = self.env.d1(name).map_err(|_| {
                self.log.error(
                    "misconfigured",
                    &[
                        ("variable", (*name).into()),
                        (
                            "reason",
                            format!("D1_SHARDS is {shards}: no D1 binding named {name}").into(),
                        ),
                    ],
                );
                EdgeError::Misconfigured(ConfigError::Missing { name })
            })?;
            databases.push(db);
        }
        Store::new(databases, self.trips.clone())
    }
}
