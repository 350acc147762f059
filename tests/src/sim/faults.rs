//! Fault injection: what the next requests or callbacks get instead of the normal behaviour,
//! and callbacks held back to be released later (in reverse to deliver them out of order).
//!
//! Faults are consumed first-in first-out: the oldest fault that matches a request (or a
//! callback) applies, one count at a time. Nothing here is random, so a test that installs
//! the same faults and sends the same requests sees the same results.

use serde::{Deserialize, Serialize};

use super::callbacks::CallbackEvent;

/// What a faulted API request gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RequestFaultKind {
    /// An error envelope with this `code` (e.g. 880007), at the configured error HTTP status.
    Code {
        /// The envelope code.
        code: i64,
    },
    /// This HTTP status (e.g. 503) with a short plain-text body.
    Http {
        /// 400..=599.
        status: u16,
    },
    /// HTTP 200, `Content-Type: application/json`, and a body that is not JSON.
    Garbage,
    /// Wait this long, then answer normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
}

/// A request fault and how many requests it still applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestFault {
    /// What to do.
    #[serde(flatten)]
    pub(crate) kind: RequestFaultKind,
    /// How many requests (default 1).
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// Only requests to this path (e.g. `/v4/query/order`); all API paths when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
}

/// What a faulted callback gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum CallbackFaultKind {
    /// Delivered twice (the second copy after the first one's delivery finished).
    Duplicate,
    /// Never sent; logged as `dropped`, and the order's `notify_status` becomes 3.
    Drop,
    /// Sent this long after it was due.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
}

/// A callback fault and how many callbacks it still applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackFault {
    /// What to do.
    #[serde(flatten)]
    pub(crate) kind: CallbackFaultKind,
    /// How many callbacks (default 1).
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// Only callbacks of this merchant order; all orders when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) order_no: Option<String>,
}

fn one() -> u32 {
    1
}

/// Why a fault specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FaultError {
    /// `count` is zero.
    #[error("count must be at least 1")]
    ZeroCount,
    /// An HTTP fault status outside 400..=599.
    #[error("an http fault needs a status in 400..=599, got {0}")]
    HttpStatus(u16),
}

impl RequestFault {
    /// Checks the specification.
    pub(crate) fn validate(&self) -> Result<(), FaultError> {
        if self.count == 0 {
            return Err(FaultError::ZeroCount);
        }
        match self.kind {
            RequestFaultKind::Http { status } if !(400..=599).contains(&status) => {
                Err(FaultError::HttpStatus(status))
            }
            RequestFaultKind::Http { .. }
            | RequestFaultKind::Code { .. }
            | RequestFaultKind::Garbage
            | RequestFaultKind::Delay { .. } => Ok(()),
        }
    }
}

impl CallbackFault {
    /// Checks the specification.
    pub(crate) fn validate(&self) -> Result<(), FaultError> {
        if self.count == 0 {
            return Err(FaultError::ZeroCount);
        }
        Ok(())
    }
}

/// Installed faults, holds and held callbacks.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    requests: Vec<RequestFault>,
    callbacks: Vec<CallbackFault>,
    /// Hold scopes: `None` holds every order's callbacks, `Some(order_no)` one order's.
    holds: Vec<Option<String>>,
    held: Vec<CallbackEvent>,
}

/// Takes one count of the first fault `matches` accepts.
fn take_first<F: Clone, K>(
    faults: &mut Vec<F>,
    matches: impl Fn(&F) -> bool,
    count: impl Fn(&mut F) -> &mut u32,
    kind: impl Fn(&F) -> K,
) -> Option<K> {
    let index = faults.iter().position(matches)?;
    let fault = faults.get_mut(index)?;
    let taken = kind(fault);
    let remaining = count(fault);
    *remaining = remaining.saturating_sub(1);
    if *remaining == 0 {
        faults.remove(index);
    }
    Some(taken)
}

impl Faults {
    /// Installs a request fault (after the ones already installed).
    pub(crate) fn add_request(&mut self, fault: RequestFault) {
        self.requests.push(fault);
    }

    /// Installs a callback fault (after the ones already installed).
    pub(crate) fn add_callback(&mut self, fault: CallbackFault) {
        self.callbacks.push(fault);
    }

    /// The fault the next request to `path` gets, if any; consumes one count.
    pub(crate) fn take_request(&mut self, path: &str) -> Option<RequestFaultKind> {
        take_first(
            &mut self.requests,
            |f| f.path.as_deref().is_none_or(|p| p == path),
            |f| &mut f.count,
            |f| f.kind.clone(),
        )
    }

    /// The fault the next callback of `order_no` gets, if any; consumes one count.
    pub(crate) fn take_callback(&mut self, order_no: &str) -> Option<CallbackFaultKind> {
        take_first(
            &mut self.callbacks,
            |f| f.order_no.as_deref().is_none_or(|o| o == order_no),
            |f| &mut f.count,
            |f| f.kind.clone(),
        )
    }

    /// The installed, not yet used faults.
    pub(crate) fn pending(&self) -> (&[RequestFault], &[CallbackFault]) {
        (&self.requests, &self.callbacks)
    }

    /// Removes every installed fault (holds and held callbacks stay).
    pub(crate) fn clear(&mut self) {
        self.requests.clear();
        self.callbacks.clear();
    }

    /// Starts holding the callbacks of `order_no` (or of every order).
    pub(crate) fn hold(&mut self, scope: Option<String>) {
        if !self.holds.contains(&scope) {
            self.holds.push(scope);
        }
    }

    /// Whether callbacks of `order_no` are held.
    pub(crate) fn is_held(&self, order_no: &str) -> bool {
        self.holds
            .iter()
            .any(|scope| scope.as_deref().is_none_or(|o| o == order_no))
    }

    /// Keeps a callback back until [`Faults::release`].
    pub(crate) fn keep(&mut self, event: CallbackEvent) {
        self.held.push(event);
    }

    /// Stops holding `scope` and returns its held callbacks, oldest first (all of them for
    /// `None`; one order's for `Some`).
    pub(crate) fn release(&mut self, scope: Option<&str>) -> Vec<CallbackEvent> {
        match scope {
            None => {
                self.holds.clear();
                std::mem::take(&mut self.held)
            }
            Some(order_no) => {
                self.holds.retain(|s| s.as_deref() != Some(order_no));
                let (released, kept) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|e| e.order_no == order_no);
                self.held = kept;
                released
            }
        }
    }

    /// The hold scopes (`None` = every order).
    pub(crate) fn holds(&self) -> &[Option<String>] {
        &self.holds
    }

    /// How many callbacks are held.
    pub(crate) fn held_count(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_faults_are_fifo_counted_and_scoped() {
        let mut f = Faults::default();
        f.add_request(RequestFault {
            kind: RequestFaultKind::Code { code: 880007 },
            count: 2,
            path: Some("/v4/balance".into()),
        });
        f.add_request(RequestFault {
            kind: RequestFaultKind::Garbage,
            count: 1,
            path: None,
        });
        assert_eq!(
            f.take_request("/v4/query/order"),
            Some(RequestFaultKind::Garbage)
        );
        assert_eq!(f.take_request("/v4/query/order"), None);
        assert_eq!(
            f.take_request("/v4/balance"),
            Some(RequestFaultKind::Code { code: 880007 })
        );
        assert_eq!(
            f.take_request("/v4/balance"),
            Some(RequestFaultKind::Code { code: 880007 })
        );
        assert_eq!(f.take_request("/v4/balance"), None);
    }

    #[test]
    fn specs_parse_from_json() {
        let f: RequestFault =
            serde_json::from_str(r#"{"kind":"http","status":503,"count":3}"#).expect("parses");
        assert_eq!(
            f,
            RequestFault {
                kind: RequestFaultKind::Http { status: 503 },
                count: 3,
                path: None
            }
        );
        assert_eq!(f.validate(), Ok(()));
        let f: RequestFault =
            serde_json::from_str(r#"{"kind":"http","status":200}"#).expect("parses");
        assert_eq!(f.validate(), Err(FaultError::HttpStatus(200)));
        let c: CallbackFault =
            serde_json::from_str(r#"{"kind":"delay","ms":5,"order_no":"A"}"#).expect("parses");
        assert_eq!(c.count, 1);
        assert!(serde_json::from_str::<CallbackFault>(r#"{"kind":"explode"}"#).is_err());
    }
}
