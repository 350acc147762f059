//! The demo merchant shop: serves `www/` under a strict Content-Security-Policy and plays the
//! merchant backend, minting checkout intents at the edge (`POST /v1/intents`) with the
//! merchant bearer token, the way a real shop's server would.
//!
//! One order per cart: the cart's intent lives in a cookie (`tp_cart`) until the order is paid
//! (the shop asks the edge's admin API) or the intent expires, so a reload, Back, or a failed
//! payment's "Try again" stay on the same order. `?new=1` starts a new cart.
//!
//! A shop mints the checkout intent when the cart is made, not while it renders the checkout
//! page (which would then wait for a round trip to the edge before its first byte). This shop
//! has no add-to-cart step, so it keeps the next cart's intent minted ahead: a new visitor gets
//! it at once, and the one after that is minted in the background.
//!
//! Dev and test only: it is never part of the deployed edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use checkout_core::contract::{CreateIntentRequest, CreateIntentResponse};
use serde::Deserialize;

/// How the shop is set up.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The edge's public base URL, e.g. `http://127.0.0.1:8787`.
    pub edge: String,
    /// The merchant bearer token (`MERCHANT_API_TOKEN`) used to mint intents.
    pub merchant_token: String,
    /// The folder with `index.html`, `custom.html` and assets.
    pub www_dir: PathBuf,
    /// The product price, decimal text.
    pub price: String,
    /// The currency.
    pub currency: String,
}

/// Why the shop could not serve a page.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// The edge refused or could not be reached.
    #[error("could not mint a checkout intent at the edge: {0}")]
    Intent(String),
    /// A page template is missing.
    #[error("could not read {0}")]
    Template(String),
    /// `index.html` lacks a `<!--checkout:NAME-->…<!--/checkout:NAME-->` region `/baseline` swaps.
    #[error(
        "www/index.html has no checkout region `{0}` (<!--checkout:{0}-->…<!--/checkout:{0}-->)"
    )]
    Region(String),
}

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

struct Shop {
    config: ShopConfig,
    http: reqwest::Client,
    /// The next new cart, minted ahead, and when.
    next: std::sync::Mutex<Option<(Cart, std::time::Instant)>>,
}

/// How long a cart minted ahead stays the next one (its intent lives an hour).
const NEXT_CART_FRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// Starts the shop on `addr` (use port 0 for any free port); returns the bound address.
pub async fn serve(
    config: ShopConfig,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let shop = Arc::new(Shop {
        config,
        http: reqwest::Client::new(),
        next: std::sync::Mutex::new(None),
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/custom", get(custom))
        .route("/baseline", get(baseline))
        .route("/api/intent", post(api_intent))
        .route("/assets/{file}", get(asset))
        .with_state(shop);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("demo-shop: server stopped: {e}");
        }
    });
    Ok((bound, handle))
}

impl Shop {
    /// The CSP every page is served with: the widget must work under exactly this.
    fn csp(&self) -> String {
        let edge = &self.config.edge;
        format!(
            "default-src 'self'; script-src 'self' {edge} 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self' {edge}; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
    }

    async fn mint_intent(&self) -> Result<CreateIntentResponse, ShopError> {
        let body = CreateIntentRequest {
            order_no: None,
            amount: self.config.price.clone(),
            currency: self.config.currency.clone(),
            expires_in: None,
        };
        let body = serde_json::to_vec(&body).map_err(|e| ShopError::Intent(e.to_string()))?;
        let response = self
            .http
            .post(format!("{}/v1/intents", self.config.edge))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.config.merchant_token),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ShopError::Intent(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ShopError::Intent(e.to_string()))?;
        if !status.is_success() {
            return Err(ShopError::Intent(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| ShopError::Intent(e.to_string()))
    }

    fn page(&self, html: String) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(csp) = HeaderValue::from_str(&self.csp()) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        (headers, html).into_response()
    }

    async fn template(&self, name: &str) -> Result<String, ShopError> {
        tokio::fs::read_to_string(self.config.www_dir.join(name))
            .await
            .map_err(|_| ShopError::Template(name.to_owned()))
    }
}

/// Query options of the demo pages.
#[derive(Debug, Deserialize)]
struct PageQuery {
    locale: Option<String>,
    mode: Option<String>,
    /// `1`: start a new cart (a new order) instead of the one in the cookie.
    new: Option<String>,
}

/// The cart cookie's name.
const CART_COOKIE: &str = "tp_cart";

/// The shopper's cart: one merchant order, carried in the [`CART_COOKIE`] as
/// `{order_no}~{expires_at}~{intent}` (all three cookie-safe: intents are base64url and dots).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cart {
    order_no: String,
    expires_at: i64,
    intent: String,
}

impl Cart {
    fn from(intent: CreateIntentResponse) -> Cart {
        Cart {
            order_no: intent.order_no,
            expires_at: intent.expires_at,
            intent: intent.intent,
        }
    }

    /// The cart in the request's cookies, if it is well-formed and its intent still has a
    /// minute to live (`now`: Unix seconds).
    fn from_cookies(headers: &HeaderMap, now: i64) -> Option<Cart> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(CART_COOKIE)?.strip_prefix('='))?;
        let mut parts = value.splitn(3, '~');
        let (order_no, expires_at, intent) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_at: i64 = expires_at.parse().ok()?;
        let safe = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        (safe(order_no) && safe(intent) && expires_at - now > 60).then(|| Cart {
            order_no: order_no.to_owned(),
            expires_at,
            intent: intent.to_owned(),
        })
    }

    /// `Set-Cookie` keeping this cart until its intent expires.
    fn cookie(&self, now: i64) -> Option<HeaderValue> {
        let max_age = (self.expires_at - now).max(0);
        HeaderValue::from_str(&format!(
            "{CART_COOKIE}={}~{}~{}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax",
            self.order_no, self.expires_at, self.intent
        ))
        .ok()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Order states after which a cart is done (money moved): the next page load starts a new one.
const DONE_STATES: &[&str] = &[
    "paid",
    "settled",
    "underpaid",
    "refunding",
    "partially_refunded",
    "refunded",
];

impl Shop {
    /// The cart from the cookie while its order is unpaid, else a new one (a new intent).
    async fn cart(self: &Arc<Self>, headers: &HeaderMap, fresh: bool) -> Result<Cart, ShopError> {
        let now = unix_now();
        if !fresh
            && let Some(cart) = Cart::from_cookies(headers, now)
            && !self.paid(&cart.order_no).await
        {
            return Ok(cart);
        }
        self.new_cart().await
    }

    /// A new cart: the one minted ahead if it is fresh, else one minted now; either way the
    /// next one is minted in the background.
    async fn new_cart(self: &Arc<Self>) -> Result<Cart, ShopError> {
        let ahead = self
            .next
            .lock()
            .ok()
            .and_then(|mut next| next.take())
            .filter(|(_, minted)| minted.elapsed() < NEXT_CART_FRESH)
            .map(|(cart, _)| cart);
        let cart = match ahead {
            Some(cart) => cart,
            None => Cart::from(self.mint_intent().await?),
        };
        let shop = Arc::clone(self);
        tokio::spawn(async move {
            if let Ok(intent) = shop.mint_intent().await
                && let Ok(mut next) = shop.next.lock()
            {
                *next = Some((Cart::from(intent), std::time::Instant::now()));
            }
        });
        Ok(cart)
    }

    /// Whether the edge reports money on this order. No order yet (404) or no answer: not paid,
    /// so the cart stays (the widget shows the order's real state either way).
    async fn paid(&self, order_no: &str) -> bool {
        let response = self
            .http
            .get(format!("{}/v1/admin/orders/{order_no}", self.config.edge))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.config.merchant_token),
            )
            .send()
            .await;
        let Ok(response) = response else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        let Ok(bytes) = response.bytes().await else {
            return false;
        };
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return false;
        };
        body.get("state")
            .and_then(|s| s.as_str())
            .is_some_and(|state| DONE_STATES.contains(&state))
    }
}

/// Adds the cart cookie to a response.
fn with_cart(mut response: Response, cart: &Cart) -> Response {
    if let Some(cookie) = cart.cookie(unix_now()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Replaces `{{NAME}}` placeholders with HTML-escaped values.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape_html(value));
    }
    out
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Only the locales and modes the widget knows; anything else falls back.
fn pick<'a>(value: Option<&'a str>, allowed: &[&'a str], default: &'a str) -> &'a str {
    value.filter(|v| allowed.contains(v)).unwrap_or(default)
}

const LOCALES: &[&str] = &[
    "auto", "en", "zh-CN", "zh-TW", "es", "fr", "de", "pt-BR", "ja", "ko", "hi", "ar", "ru", "id",
    "tr", "vi",
];

async fn index(
    State(shop): State<Arc<Shop>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    shop_page(&shop, &q, &headers, Page::Checkout).await
}

/// The shop page with the checkout, or the same page with a plain button in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Checkout,
    /// The time-to-ready baseline (`/baseline`).
    PlainButton,
}

/// What `/baseline` puts in each `<!--checkout:NAME-->…<!--/checkout:NAME-->` region of
/// `index.html`: no preload, a plain button instead of the widget's host, and a same-origin
/// script that marks the button ready instead of the widget's tag, loaded the same way
/// (`defer`: it runs when the page is parsed, as the widget's does).
const PLAIN_BUTTON: &[(&str, &str)] = &[
    ("head", ""),
    (
        "pay",
        r#"<div id="pay"><button type="button" id="baseline-pay">Pay</button></div>"#,
    ),
    (
        "script",
        r#"<script src="/assets/baseline.js" defer></script>"#,
    ),
];

/// `template` with each checkout region replaced by `regions`' text for it; a region the
/// template lacks (or leaves open) is an error, so the two pages cannot drift apart silently.
fn swap_regions(template: &str, regions: &[(&str, &str)]) -> Result<String, ShopError> {
    let mut out = template.to_owned();
    for (name, text) in regions {
        let open = format!("<!--checkout:{name}-->");
        let close = format!("<!--/checkout:{name}-->");
        let (Some(start), Some(end)) = (out.find(&open), out.find(&close)) else {
            return Err(ShopError::Region((*name).to_owned()));
        };
        if end < start {
            return Err(ShopError::Region((*name).to_owned()));
        }
        out.replace_range(start..end + close.len(), text);
    }
    Ok(out)
}

async fn shop_page(
    shop: &Arc<Shop>,
    q: &PageQuery,
    headers: &HeaderMap,
    page: Page,
) -> Result<Response, ShopError> {
    let intent = shop.cart(headers, q.new.as_deref() == Some("1")).await?;
    let mut template = shop.template("index.html").await?;
    if page == Page::PlainButton {
        template = swap_regions(&template, PLAIN_BUTTON)?;
    }
    let price = format!("{} {}", shop.config.price, shop.config.currency);
    let html = render(
        &template,
        &[
            ("EDGE", &shop.config.edge),
            ("INTENT", &intent.intent),
            ("ORDER_NO", &intent.order_no),
            ("PRICE_TEXT", &price),
            ("LOCALE", pick(q.locale.as_deref(), LOCALES, "auto")),
            (
                "MODE",
                pick(q.mode.as_deref(), &["popup", "redirect"], "popup"),
            ),
        ],
    );
    Ok(with_cart(shop.page(html), &intent))
}

async fn custom(State(shop): State<Arc<Shop>>) -> Result<Response, ShopError> {
    let template = shop.template("custom.html").await?;
    let price = format!("{} {}", shop.config.price, shop.config.currency);
    Ok(shop.page(render(
        &template,
        &[("EDGE", &shop.config.edge), ("PRICE_TEXT", &price)],
    )))
}

/// The time-to-ready baseline: the same shop page, built from the same template with the same
/// server work (the cart), with a plain HTML button where the checkout would be.
async fn baseline(
    State(shop): State<Arc<Shop>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    shop_page(&shop, &q, &headers, Page::PlainButton).await
}

/// The custom page's `fetchIntent`: the cart's intent (one order per cart here too).
async fn api_intent(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    let cart = shop.cart(&headers, false).await?;
    let body = serde_json::json!({ "intent": cart.intent, "order_no": cart.order_no }).to_string();
    let response = (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    Ok(with_cart(response, &cart))
}

async fn asset(
    State(shop): State<Arc<Shop>>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    // One flat folder of assets; no path separators, no dot-files.
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some(_) | None => return StatusCode::NOT_FOUND.into_response(),
    };
    if file.starts_with('.') || file.contains(['/', '\\']) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(shop.config.www_dir.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_is_the_shop_page_with_a_plain_button() {
        let www = crate::edge_harness::workspace_root().join("www");
        let template = std::fs::read_to_string(www.join("index.html")).expect("index.html");
        let plain = swap_regions(&template, PLAIN_BUTTON).expect("every region present");
        for gone in ["<script src=\"{{EDGE}}", "rel=\"preload\"", "<!--checkout:"] {
            assert!(!plain.contains(gone), "{gone} in {plain}");
        }
        assert!(plain.contains(r#"<button type="button" id="baseline-pay">Pay</button>"#));
        assert!(plain.contains(r#"<script src="/assets/baseline.js" defer></script>"#));
        // Everything outside the regions is the same page.
        let empty: Vec<(&str, &str)> = PLAIN_BUTTON.iter().map(|(name, _)| (*name, "")).collect();
        let mut outside = plain.clone();
        for (_, text) in PLAIN_BUTTON.iter().filter(|(_, text)| !text.is_empty()) {
            assert_eq!(outside.matches(text).count(), 1, "{text}");
            outside = outside.replacen(text, "", 1);
        }
        assert_eq!(outside, swap_regions(&template, &empty).expect("regions"));
        assert!(matches!(
            swap_regions("<p>no regions</p>", PLAIN_BUTTON),
            Err(ShopError::Region(name)) if name == "head"
        ));
        assert!(matches!(
            swap_regions("<!--/checkout:head--><!--checkout:head-->", PLAIN_BUTTON),
            Err(ShopError::Region(_))
        ));
    }

    #[test]
    fn placeholders_are_escaped() {
        let html = render(
            "<a data-x=\"{{X}}\">{{Y}}</a>",
            &[("X", "\"><script>"), ("Y", "a&b")],
        );
        assert_eq!(html, "<a data-x=\"&quot;&gt;&lt;script&gt;\">a&amp;b</a>");
    }

    #[test]
    fn the_cart_cookie_round_trips_and_expires() {
        let cart = Cart {
            order_no: "ord_123".into(),
            expires_at: 10_000,
            intent: "v1.eyJhIjoxfQ.c2ln-_".into(),
        };
        let cookie = cart.cookie(9_000).expect("header");
        let text = cookie.to_str().expect("ascii");
        assert!(
            text.starts_with("tp_cart=ord_123~10000~v1.eyJhIjoxfQ.c2ln-_;"),
            "{text}"
        );
        assert!(
            text.contains("Max-Age=1000") && text.contains("HttpOnly"),
            "{text}"
        );
        let mut headers = HeaderMap::new();
        let pair = text.split(';').next().expect("pair");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {pair}")).expect("header"),
        );
        assert_eq!(Cart::from_cookies(&headers, 9_000), Some(cart.clone()));
        assert_eq!(
            Cart::from_cookies(&headers, 9_950),
            None,
            "less than a minute left: a new cart"
        );
        for bad in [
            "tp_cart=a~x~v1.b.c",
            "tp_cart=a~10000~<script>",
            "tp_cart=~10000~v1",
            "other=1",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_static(bad));
            assert_eq!(Cart::from_cookies(&headers, 9_000), None, "{bad}");
        }
    }

    #[test]
    fn unknown_locales_and_modes_fall_back() {
        assert_eq!(pick(Some("ar"), LOCALES, "auto"), "ar");
        assert_eq!(pick(Some("\"><x"), LOCALES, "auto"), "auto");
        assert_eq!(pick(None, &["popup"], "popup"), "popup");
    }
}
