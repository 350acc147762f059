//! The edge client: `POST {edge}/v1/orders` with `{intent}`,
//! `POST {edge}/v1/orders/{order_no}/attempts` and `GET {edge}/v1/orders/{order_no}`, both
//! with `X-Client-Secret`. Raw `fetch` through web-sys;
//! the browser parses the JSON and [`crate::wire`] reads it into the contract types.
//!
//! Every request takes an `AbortSignal`, so `destroy()` cancels what is in flight.

use checkout_core::contract::{
    AttemptResponse, CLIENT_SECRET_HEADER, CreateOrderResponse, OrderView,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestInit, Response};

use crate::reducer::Failure;
use crate::wire::{self, Json};

impl Json for JsValue {
    fn field(&self, key: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        js_sys::Reflect::get(self, &key.into())
            .ok()
            .filter(|v| !v.is_null() && !v.is_undefined())
    }
    fn string(&self) -> Option<String> {
        self.as_string()
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
}

/// Sets a property of a plain JS object (one `Reflect.set` import instead of a typed setter
/// per property).
pub(crate) fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

/// [`wire::order_view`] over a browser-parsed value: one copy for the status answer and the
/// push tracker's events (measured: inlined into both it cost ~1 KB of wasm).
#[inline(never)]
pub(crate) fn order_view(json: &JsValue) -> Option<OrderView> {
    wire::order_view(json)
}

/// An edge base URL, without a trailing slash.
#[derive(Debug, Clone)]
pub(crate) struct Edge(String);

impl Edge {
    pub(crate) fn new(base: &str) -> Edge {
        Edge(base.trim().trim_end_matches('/').to_owned())
    }

    /// Creates (or, for the same intent, replays) the order.
    pub(crate) async fn create_order(
        &self,
        intent: &str,
        signal: &AbortSignal,
    ) -> Result<CreateOrderResponse, Failure> {
        // `CreateOrderRequest { intent: Some(..), .. }` as JSON: `{"intent":"..."}`.
        let body = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&body, &"intent".into(), &intent.into());
        let body = js_sys::JSON::stringify(&body).map_err(|_| Failure::BadResponse)?;
        let headers = Headers::new().map_err(|_| Failure::Network)?;
        let _ = headers.set("Content-Type", "application/json");
        let init = RequestInit::new();
        set(&init, "method", &"POST".into());
        set(&init, "headers", &headers);
        set(&init, "body", &body);
        let json = self
            .send(&crate::cat(&[&self.0, "/v1/orders"]), &init, signal)
            .await?;
        wire::create_order_response(&json).ok_or(Failure::BadResponse)
    }

    /// A new payment attempt of the merchant order (after a failed, expired or abandoned one).
    pub(crate) async fn new_attempt(
        &self,
        order_no: &str,
        client_secret: &str,
        signal: &AbortSignal,
    ) -> Result<AttemptResponse, Failure> {
        let headers = Headers::new().map_err(|_| Failure::Network)?;
        let _ = headers.set("Content-Type", "application/json");
        let _ = headers.set(CLIENT_SECRET_HEADER, client_secret);
        let init = RequestInit::new();
        set(&init, "method", &"POST".into());
        set(&init, "headers", &headers);
        set(&init, "body", &"{}".into());
        let json = self
            .send(
                &crate::cat(&[&self.order_url(order_no), "/attempts"]),
                &init,
                signal,
            )
            .await?;
        wire::attempt_response(&json).ok_or(Failure::BadResponse)
    }

    /// `{edge}/v1/orders/{order_no}`.
    fn order_url(&self, order_no: &str) -> String {
        crate::cat(&[
            &self.0,
            "/v1/orders/",
            &String::from(js_sys::encode_uri_component(order_no)),
        ])
    }

    /// The order's current view.
    pub(crate) async fn order(
        &self,
        order_no: &str,
        client_secret: &str,
        signal: &AbortSignal,
    ) -> Result<OrderView, Failure> {
        let headers = Headers::new().map_err(|_| Failure::Network)?;
        let _ = headers.set(CLIENT_SECRET_HEADER, client_secret);
        let init = RequestInit::new();
        set(&init, "headers", &headers);
        let json = self.send(&self.order_url(order_no), &init, signal).await?;
        order_view(&json).ok_or(Failure::BadResponse)
    }

    /// The order's live-events URL (`EventSource` can't send headers: the token is in it).
    /// The token is `ev1.` + base64url: URL-safe as it is.
    pub(crate) fn events_url(&self, order_no: &str, token: &str) -> String {
        crate::cat(&[&self.order_url(order_no), "/events?token=", token])
    }

    /// Sends; a 2xx gives its JSON, anything else a [`Failure`].
    async fn send(
        &self,
        url: &str,
        init: &RequestInit,
        signal: &AbortSignal,
    ) -> Result<JsValue, Failure> {
        set(init, "signal", signal);
        set(init, "cache", &"no-store".into());
        let window = crate::window().ok_or(Failure::Network)?;
        let response = JsFuture::from(window.fetch_with_str_and_init(url, init))
            .await
            .map_err(|_| Failure::Network)?;
        // `fetch` resolves to a Response or rejects: no instanceof check needed.
        let response: Response = response.unchecked_into();
        let json = match response.json() {
            Ok(promise) => JsFuture::from(promise).await.ok(),
            Err(_) => None,
        };
        if response.ok() {
            return json.ok_or(Failure::BadResponse);
        }
        Err(wire::error_failure(json.as_ref()))
    }
}
