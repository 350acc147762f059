//! A merchant backend stand-in for the edge's notifications: an axum server on
//! `127.0.0.1:0` that records every POST (the three `webhook-*` headers and the raw body) and
//! answers 500 to the first N deliveries (or to all of them), 204 otherwise.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let receiver = tests::webhook_receiver::WebhookReceiver::start().await?;
//! receiver.fail_next(2);                     // the next two deliveries get HTTP 500
//! // MERCHANT_WEBHOOK_URL = receiver.url()
//! let seen = receiver.deliveries();          // every request, in arrival order
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One received request.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Debug, Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    fail_next: usize,
    fail_always: bool,
}

/// The running receiver; stops when dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
    let fail = inner.fail_always || inner.fail_next > 0;
    inner.fail_next = inner.fail_next.saturating_sub(1);
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    inner.deliveries.push(Delivery {
        id: header(&headers, "webhook-id"),
        timestamp: header(&headers, "webhook-timestamp"),
        signature: header(&headers, "webhook-signature"),
        body: body.to_vec(),
        answered: status.as_u16(),
    });
    status
}

impl WebhookReceiver {
    /// Binds `127.0.0.1:0` and serves `POST /hook`.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&inner));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next `n` deliveries are answered 500.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Every delivery is answered 500 (`true`) or as usual (`false`).
    pub fn fail_always(&self, on: bool) {
        self.lock().fail_always = on;
    }

    /// Every request so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
