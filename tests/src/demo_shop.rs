//! The demo merchant shop: serves `www/` under a strict Content-Security-Policy and plays the
//! merchant backend, minting checkout intents at the edge (`POST /v1/intents`) with the
//! merchant bearer token, the way a real shop's server would.
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
}

/// Starts the shop on `addr` (use port 0 for any free port); returns the bound address.
pub async fn serve(
    config: ShopConfig,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let shop = Arc::new(Shop {
        config,
        http: reqwest::Client::new(),
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
) -> Result<Response, ShopError> {
    let intent = shop.mint_intent().await?;
    let template = shop.template("index.html").await?;
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
    Ok(shop.page(html))
}

async fn custom(State(shop): State<Arc<Shop>>) -> Result<Response, ShopError> {
    let template = shop.template("custom.html").await?;
    let price = format!("{} {}", shop.config.price, shop.config.currency);
    Ok(shop.page(render(
        &template,
        &[("EDGE", &shop.config.edge), ("PRICE_TEXT", &price)],
    )))
}

/// The time-to-ready baseline: the same shop page with a plain HTML button.
async fn baseline(State(shop): State<Arc<Shop>>) -> Result<Response, ShopError> {
    let template = shop.template("baseline.html").await?;
    Ok(shop.page(render(&template, &[("EDGE", &shop.config.edge)])))
}

async fn api_intent(State(shop): State<Arc<Shop>>) -> Result<Response, ShopError> {
    let intent = shop.mint_intent().await?;
    let body =
        serde_json::json!({ "intent": intent.intent, "order_no": intent.order_no }).to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
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
    fn placeholders_are_escaped() {
        let html = render(
            "<a data-x=\"{{X}}\">{{Y}}</a>",
            &[("X", "\"><script>"), ("Y", "a&b")],
        );
        assert_eq!(html, "<a data-x=\"&quot;&gt;&lt;script&gt;\">a&amp;b</a>");
    }

    #[test]
    fn unknown_locales_and_modes_fall_back() {
        assert_eq!(pick(Some("ar"), LOCALES, "auto"), "ar");
        assert_eq!(pick(Some("\"><x"), LOCALES, "auto"), "auto");
        assert_eq!(pick(None, &["popup"], "popup"), "popup");
    }
}
