//! The risk-control call (`docs/protocol.md`, §Risk-control hook): with `--risk-control-url`
//! set, a payment about to succeed (cashier *Pay*, automatic pay, `/_sim/orders/{no}/pay`)
//! first POSTs `{orderId, cardPrefix, cardSuffix, cardHolderName}` (camelCase; `orderId` is
//! the `platform_order_no`, as in the docs' example) to the merchant's hook. Anything but
//! HTTP 200 with body `allow` (403, another status, a timeout, no answer) declines the
//! order instead (status 3, with its callback): TrustPay's behaviour on errors is not
//! documented, and failing closed is what a merchant would configure it to do.

use serde::{Deserialize, Serialize};

use super::Sim;
use super::store::Outcome;

/// The test card sent to the hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCard {
    /// First 6 digits.
    pub prefix: String,
    /// Last 4 digits.
    pub suffix: String,
    /// Cardholder name.
    pub holder: String,
}

impl Default for TestCard {
    fn default() -> Self {
        Self {
            prefix: "424242".into(),
            suffix: "4242".into(),
            holder: "Test Shopper".into(),
        }
    }
}

/// The merchant's risk-control hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskControl {
    /// Its URL.
    pub url: String,
    /// The card sent unless an action names another.
    pub card: TestCard,
}

/// `outcome`, or `Decline` when it is `Pay` and the hook does not answer `allow`.
pub(crate) async fn screen(
    sim: &Sim,
    order_no: &str,
    outcome: Outcome,
    card: Option<&TestCard>,
) -> Outcome {
    let Some(risk) = &sim.config.risk_control else {
        return outcome;
    };
    if outcome != Outcome::Pay {
        return outcome;
    }
    let order_id = sim
        .lock()
        .order(order_no)
        .map(|o| o.platform_order_no.clone());
    let Some(order_id) = order_id else {
        return outcome;
    };
    let card = card.unwrap_or(&risk.card);
    let body = serde_json::json!({
        "orderId": order_id,
        "cardPrefix": card.prefix,
        "cardSuffix": card.suffix,
        "cardHolderName": card.holder,
    });
    let answer = sim
        .http
        .post(&risk.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await;
    let verdict = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            if status == 200 && text.trim() == "allow" {
                None
            } else {
                Some(format!("HTTP {status} {}", text.trim()))
            }
        }
        Err(e) => Some(format!("no answer: {e}")),
    };
    match verdict {
        None => {
            sim.say(format_args!("{order_no}: risk control allows"));
            Outcome::Pay
        }
        Some(why) => {
            sim.say(format_args!(
                "{order_no}: risk control refuses ({why}): declining"
            ));
            Outcome::Decline
        }
    }
}
