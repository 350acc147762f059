//! The request log (`/_sim/requests`) and callback delivery log (`/_sim/callbacks`).
//!
//! Neither log ever holds the API key or the secret: the `X-Api-Key` header is replaced by
//! whether it matched, and sign strings are logged without their `&secret=` suffix.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// Each log keeps at most this many entries, dropping the oldest.
pub(crate) const LOG_CAPACITY: usize = 2_000;

/// A bounded, numbered log.
#[derive(Debug)]
pub(crate) struct Log<T> {
    entries: VecDeque<T>,
    next_seq: u64,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
        }
    }
}

impl<T: Clone> Log<T> {
    /// Appends the entry `make` builds from its sequence number (1, 2, ...).
    pub(crate) fn push_with(&mut self, make: impl FnOnce(u64) -> T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(make(seq));
    }

    /// The entries `keep` accepts, oldest first.
    pub(crate) fn filtered(&self, keep: impl Fn(&T) -> bool) -> Vec<T> {
        self.entries.iter().filter(|e| keep(e)).cloned().collect()
    }
}

/// Whether the request's `X-Api-Key` matched (the value itself is never logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiKeyCheck {
    /// The header was present and equal to the configured key.
    Matched,
    /// The header was present and different.
    Mismatched,
    /// No header.
    Missing,
}

/// One API request as the simulator saw and judged it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    /// 1, 2, ... in arrival order (reset by `/_sim/reset`).
    pub(crate) seq: u64,
    /// RFC 3339 arrival time.
    pub(crate) time: String,
    /// HTTP method.
    pub(crate) method: String,
    /// Request path.
    pub(crate) path: String,
    /// Headers, lower-case names; `x-api-key` replaced by `[redacted: matched]` etc.
    pub(crate) headers: BTreeMap<String, String>,
    /// Whether `X-Api-Key` matched.
    pub(crate) api_key: ApiKeyCheck,
    /// The body as received (lossy UTF-8).
    pub(crate) body: String,
    /// The canonical string the simulator signed (configured amount rendering), no secret.
    pub(crate) canonical: Option<String>,
    /// The canonical string with numbers exactly as sent, when it differs from `canonical`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) canonical_as_sent: Option<String>,
    /// The sign the simulator expected.
    pub(crate) expected_sign: Option<String>,
    /// The sign the request carried.
    pub(crate) received_sign: Option<String>,
    /// `ok`, or why the request was refused (`bad_sign`, `wrong_api_key`, ...), or `fault`.
    pub(crate) verdict: String,
    /// The injected fault that answered this request, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fault: Option<String>,
    /// The envelope code answered (absent for HTTP and garbage faults).
    pub(crate) code: Option<i64>,
    /// The HTTP status answered.
    pub(crate) http_status: u16,
    /// The response body sent.
    pub(crate) response: String,
}

/// What became of one callback delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Non-2xx, connection error or timeout.
    Failed,
    /// Dropped by a fault: never sent.
    Dropped,
    /// Held back by `/_sim/callbacks/hold`; sent on release.
    Held,
}

/// One callback delivery attempt (or a callback dropped or held).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallbackRecord {
    /// 1, 2, ... in log order.
    pub(crate) seq: u64,
    /// RFC 3339 time of the attempt.
    pub(crate) time: String,
    /// The callback event (one per status change; duplicates and retries share it).
    pub(crate) event: u64,
    /// Merchant order number.
    pub(crate) order_no: String,
    /// The status the callback announces.
    pub(crate) status: i64,
    /// Where it was sent.
    pub(crate) url: String,
    /// The exact body sent.
    pub(crate) body: String,
    /// 1 for the first try, 2 for the first retry, ...
    pub(crate) attempt: u32,
    /// 1, or 2 for the second copy of a duplicated callback.
    pub(crate) copy: u32,
    /// What happened.
    pub(crate) outcome: DeliveryOutcome,
    /// The receiver's HTTP status.
    pub(crate) response_status: Option<u16>,
    /// The receiver's body (first 1 KiB).
    pub(crate) response_body: Option<String>,
    /// Connection error or timeout text.
    pub(crate) error: Option<String>,
}
