//! The only module that talks to TrustPay.
//!
//! A request is a core [`TrustPayRequest`](checkout_core::wire::TrustPayRequest): core renders and signs the body; this module
//! POSTs it with `X-Api-Key`, races it against a timeout (aborting the fetch when the timer
//! wins), and classifies the answer with the pure [`classify`]:
//!
//! | answer | error | API code |
//! | --- | --- | --- |
//! | timeout, network error, HTTP 5xx | [`GatewayError::Unavailable`] | `gateway_unavailable` (503) |
//! | not a `{code,message,data}` envelope, success without `data` | [`GatewayError::Garbage`] | `gateway_error` (502) |
//! | envelope with a non-success `code` | [`GatewayError::Rejected`] | `gateway_rejected` (502) + `trustpay_code` |
//!
//! One log line per call: path, HTTP status, TrustPay code, duration. Never the body, the
//! sign, the key or the secret.

use checkout_core::codes::ErrorCode;
use checkout_core::contract::ApiErrorCode;
use checkout_core::wire::Envelope;
use serde::de::DeserializeOwned;

/// Why a TrustPay call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No usable answer in time: timeout, network failure, or HTTP 5xx. Worth retrying.
    #[error("TrustPay unavailable: {detail}")]
    Unavailable {
        /// What happened (for the log).
        detail: String,
    },
    /// An answer that is not a TrustPay envelope of the expected shape.
    #[error("TrustPay answered garbage: {detail}")]
    Garbage {
        /// The parse error (for the log; never the body).
        detail: String,
    },
    /// TrustPay refused the request with a non-success code.
    #[error("TrustPay refused: {code:?} ({message})")]
    Rejected {
        /// TrustPay's code, e.g. 880012.
        code: ErrorCode,
        /// TrustPay's message text (logged, never shown).
        message: String,
    },
}

impl GatewayError {
    /// The API code for the client.
    pub fn code(&self) -> ApiErrorCode {
        match self {
            GatewayError::Unavailable { .. } => ApiErrorCode::GatewayUnavailable,
            GatewayError::Garbage { .. } => ApiErrorCode::GatewayError,
            GatewayError::Rejected { .. } => ApiErrorCode::GatewayRejected,
        }
    }

    /// Whether TrustPay said the order number exists already (880012).
    pub fn is_order_already_exists(&self) -> bool {
        matches!(
            self,
            GatewayError::Rejected {
                code: ErrorCode::OrderAlreadyExists,
                ..
            }
        )
    }
}

/// Classifies an HTTP answer from TrustPay into `data` or an error.
pub fn classify<T: DeserializeOwned>(http_status: u16, body: &[u8]) -> Result<T, GatewayError> {
    if http_status >= 500 {
        return Err(GatewayError::Unavailable {
            detail: format!("HTTP {http_status}"),
        });
    }
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|e| GatewayError::Garbage {
            detail: format!("HTTP {http_status}: not an envelope: {e}"),
        })?;
    if !envelope.code.is_success() {
        return Err(GatewayError::Rejected {
            code: envelope.code,
            message: truncate(&envelope.message, 200),
        });
    }
    if !(200..300).contains(&http_status) {
        return Err(GatewayError::Garbage {
            detail: format!("HTTP {http_status} with a success code"),
        });
    }
    envelope.data.ok_or_else(|| GatewayError::Garbage {
        detail: "success without data".to_owned(),
    })
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(target_arch = "wasm32")]
pub use client::Gateway;

#[cfg(target_arch = "wasm32")]
mod client {
    use std::pin::pin;
    use std::time::Duration;

    use checkout_core::wire::{API_KEY_HEADER, TrustPayRequest};
    use futures_util::future::{Either, select};
    use worker::{AbortController, Date, Delay, Fetch, Headers, Method, Request, RequestInit};

    use super::{GatewayError, classify};
    use crate::config::Config;
    use crate::log::Log;

    /// A TrustPay client for one request's configuration.
    #[derive(Debug)]
    pub struct Gateway<'a> {
        config: &'a Config,
        log: &'a Log,
    }

    impl<'a> Gateway<'a> {
        /// A client using `config`'s base URL, key, secret, rendering and timeout.
        pub fn new(config: &'a Config, log: &'a Log) -> Self {
            Self { config, log }
        }

        /// Sends one signed request and returns its `data`.
        pub async fn call<R: TrustPayRequest>(&self, request: &R) -> Result<R::Data, GatewayError> {
            let body = request
                .fields(self.config.sign_amount_rendering)
                .signed_body(&self.config.trustpay_secret);
            let url = format!("{}{}", self.config.trustpay_base_url, R::PATH);
            let started = Date::now().as_millis();
            let outcome = self.send(&url, body).await;
            let took_ms = Date::now().as_millis().saturating_sub(started);
            let result = outcome.and_then(|(status, bytes)| {
                classify::<R::Data>(status, &bytes).map(|data| (status, data))
            });
            match &result {
                Ok((status, _)) => self.log.info(
                    "gateway",
                    &[
                        ("path", R::PATH.into()),
                        ("http_status", (*status).into()),
                        ("ms", took_ms.into()),
                    ],
                ),
                Err(e) => self.log.warn(
                    "gateway_failed",
                    &[
                        ("path", R::PATH.into()),
                        ("error", e.to_string().into()),
                        ("code", e.code().as_str().into()),
                        ("ms", took_ms.into()),
                    ],
                ),
            }
            result.map(|(_, data)| data)
        }

        async fn send(&self, url: &str, body: String) -> Result<(u16, Vec<u8>), GatewayError> {
            let unavailable = |what: &str, e: worker::Error| GatewayError::Unavailable {
                detail: format!("{what}: {e}"),
            };
            let headers = Headers::new();
            headers
                .set("Content-Type", "application/json")
                .map_err(|e| unavailable("headers", e))?;
            headers
                .set("Accept", "application/json")
                .map_err(|e| unavailable("headers", e))?;
            headers
                .set(API_KEY_HEADER, self.config.api_key.expose())
                .map_err(|e| unavailable("headers", e))?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_body(Some(body.into()));
            let request =
                Request::new_with_init(url, &init).map_err(|e| unavailable("request", e))?;

            let controller = AbortController::default();
            let signal = controller.signal();
            let exchange = async {
                let mut response = Fetch::Request(request)
                    .send_with_signal(&signal)
                    .await
                    .map_err(|e| unavailable("fetch", e))?;
                let status = response.status_code();
                let bytes = response.bytes().await.map_err(|e| unavailable("read", e))?;
                Ok::<_, GatewayError>((status, bytes))
            };
            let timeout = Delay::from(Duration::from_millis(u64::from(
                self.config.gateway_timeout_ms,
            )));
            match select(pin!(exchange), pin!(timeout)).await {
                Either::Left((outcome, _)) => outcome,
                Either::Right(((), _)) => {
                    controller.abort();
                    Err(GatewayError::Unavailable {
                        detail: format!("timeout after {} ms", self.config.gateway_timeout_ms),
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkout_core::wire::BalanceData;

    #[test]
    fn success() {
        let data: BalanceData = classify(200, br#"{"code":880001,"message":"success","data":{"balance":137.7,"frozen":13.15,"reserve":0}}"#).expect("ok");
        assert_eq!(data.balance.minor(), 13770);
    }

    #[test]
    fn server_errors_and_timeouts_are_unavailable() {
        assert!(matches!(
            classify::<BalanceData>(503, b"<html>"),
            Err(GatewayError::Unavailable { .. })
        ));
        assert!(matches!(
            classify::<BalanceData>(500, br#"{"code":880001,"data":{}}"#),
            Err(GatewayError::Unavailable { .. })
        ));
    }

    #[test]
    fn garbage() {
        for (status, body) in [
            (200, &b"<html>oops</html>"[..]),
            (200, b""),
            (200, br#"{"code":880001,"message":"success"}"#),
            (200, br#"{"code":880001,"data":{"balance":"lots"}}"#),
            (404, b"not found"),
            (302, br#"{"code":880001,"data":{"balance":1}}"#),
        ] {
            assert!(
                matches!(
                    classify::<BalanceData>(status, body),
                    Err(GatewayError::Garbage { .. })
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn rejections_keep_the_code() {
        let e =
            classify::<BalanceData>(200, br#"{"code":880012,"message":"order_already_exists"}"#)
                .expect_err("rejected");
        assert!(e.is_order_already_exists());
        assert_eq!(e.code(), ApiErrorCode::GatewayRejected);
        let e = classify::<BalanceData>(400, br#"{"code":880011,"message":"unauthorized"}"#)
            .expect_err("rejected");
        assert_eq!(
            e,
            GatewayError::Rejected {
                code: ErrorCode::Unauthorized,
                message: "unauthorized".into()
            }
        );
        assert!(!e.is_order_already_exists());
    }
}
