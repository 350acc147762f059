//! The hosted cashier page at `pay_url` (`/pay/<platform_order_no>`).
//!
//! Plain HTML with one form and three submit buttons, no scripts: it works without
//! JavaScript and under a strict Content-Security-Policy (styles come from `/cashier.css`).
//! Submitting applies the outcome (Pay → 5, Decline → 3, Let it time out → 4) and redirects
//! back to the page (POST-redirect-GET), which then shows the result.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use checkout_core::codes::OrderStatus;
use serde::Deserialize;

use super::Sim;
use super::callbacks;
use super::config::format_duration;
use super::store::{Order, Outcome};

/// The page's Content-Security-Policy: nothing but our own stylesheet and form posts.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24;line-height:1.5}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0003}
.banner{margin:0 0 1rem;padding:.5rem .75rem;background:#fff4ce;border-radius:.25rem;font-size:.9rem}
h1{font-size:1.4rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:0 0 1.5rem}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
form{display:flex;flex-direction:column;gap:.5rem}
button{font:inherit;padding:.65rem 1rem;border-radius:.35rem;border:2px solid #1b1f24;background:#fff;cursor:pointer}
button[value=pay]{background:#0b5cad;border-color:#0b5cad;color:#fff}
button:focus-visible{outline:3px solid #f1a80a;outline-offset:2px}
.note{font-size:.9rem;color:#4a515a}
";

/// The cashier routes.
pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/pay/{id}", get(page).post(act))
        .route("/cashier.css", get(stylesheet))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "no-referrer"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CSS,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/cashier.css\">\n</head>\n<body>\n<main>\n\
         <p class=\"banner\">TrustPay simulator: a test payment page. No money moves.</p>\n{main}</main>\n</body>\n</html>\n",
        title = escape(title)
    )
}

fn details(order: &Order) -> String {
    format!(
        "<dl>\n<dt>Amount</dt><dd>{amount}</dd>\n<dt>Currency</dt><dd>{currency}</dd>\n<dt>Merchant order</dt><dd>{order_no}</dd>\n</dl>\n",
        amount = order.order_amount,
        currency = order.currency,
        order_no = escape(&order.order_no),
    )
}

/// The headline and explanation of a finished order.
fn result_text(status: OrderStatus) -> (&'static str, &'static str) {
    match status {
        OrderStatus::Paid | OrderStatus::Settled => {
            ("Payment successful", "The payment went through.")
        }
        OrderStatus::Failed => (
            "Payment declined",
            "The payment was declined. No money was taken.",
        ),
        OrderStatus::TimedOut => (
            "Payment timed out",
            "The payment window closed before the payment was made. No money was taken.",
        ),
        OrderStatus::Refunding | OrderStatus::Refunded | OrderStatus::PartiallyRefunded => (
            "Payment refunded",
            "This payment has been refunded in full or in part.",
        ),
        OrderStatus::Pending | OrderStatus::PayoutPaid | OrderStatus::Unknown(_) => (
            "Payment status unknown",
            "This order is in a state the page cannot show.",
        ),
    }
}

fn render(sim: &Sim, order: &Order) -> String {
    if order.status == OrderStatus::Pending {
        let title = format!("Pay {} {}", order.currency, order.order_amount);
        let main = format!(
            "<h1>{title}</h1>\n{details}<form method=\"post\">\n\
             <button type=\"submit\" name=\"action\" value=\"pay\">Pay {currency} {amount}</button>\n\
             <button type=\"submit\" name=\"action\" value=\"decline\">Decline</button>\n\
             <button type=\"submit\" name=\"action\" value=\"timeout\">Let it time out</button>\n</form>\n\
             <p class=\"note\">If nothing is chosen, the order times out after {timeout}.</p>\n",
            title = escape(&title),
            details = details(order),
            currency = order.currency,
            amount = order.order_amount,
            timeout = format_duration(sim.config.order_timeout),
        );
        return document(&title, &main);
    }
    let (headline, explanation) = result_text(order.status);
    let main = format!(
        "<h1>{headline}</h1>\n{details}<p role=\"status\">{explanation}</p>\n\
         <p>You can close this tab and return to the shop.</p>\n",
        details = details(order),
    );
    document(headline, &main)
}

fn not_found() -> Response {
    let main =
        "<h1>Payment page not found</h1>\n<p>This payment link is unknown or has been reset.</p>\n";
    html(
        StatusCode::NOT_FOUND,
        document("Payment page not found", main),
    )
}

async fn page(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let state = sim.lock();
    match state.order_by_platform(&id) {
        Some(order) => html(StatusCode::OK, render(&sim, order)),
        None => not_found(),
    }
}

/// The submitted button.
#[derive(Debug, Deserialize)]
struct ActionForm {
    action: Outcome,
}

async fn act(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some(order_no) = sim
        .lock()
        .order_by_platform(&id)
        .map(|o| o.order_no.clone())
    else {
        return not_found();
    };
    let action = super::risk::screen(&sim, &order_no, form.action, None).await;
    // A second click (or a stale tab) on a finished order just shows the result.
    let applied = sim
        .lock()
        .apply_outcome(&sim.config, &order_no, action, false)
        .ok();
    if let Some(event) = applied {
        sim.say(format_args!(
            "cashier page: {} -> status {}",
            event.order_no,
            event.status.code()
        ));
        callbacks::dispatch(&sim, event);
    }
    // Relative to /pay/<id>, `<id>` is the page itself: back to it with a GET.
    (StatusCode::SEE_OTHER, [(LOCATION, id)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
