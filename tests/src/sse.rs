//! A minimal `text/event-stream` reader over a `reqwest` response, for the live order-event
//! channel (`GET /v1/orders/{order_no}/events`).

use std::time::Duration;

/// What the stream yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// An event: its `id` and its `data` lines joined.
    Event {
        /// The `id:` field (empty when absent).
        id: String,
        /// The `data:` fields, concatenated.
        data: String,
    },
    /// A comment line only (a heartbeat).
    Comment,
    /// The server ended the stream, or reading it failed.
    End,
    /// Nothing within the wait.
    Quiet,
}

/// Reads server-sent events from an open response.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    buf: String,
}

impl EventStream {
    /// Reads events from `response` (already checked to be a 200 event stream).
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: String::new(),
        }
    }

    /// The next event, comment or end, waiting at most `wait`.
    pub async fn next(&mut self, wait: Duration) -> Sse {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data, mut comment) = (String::new(), String::new(), false);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    } else if line.starts_with(':') {
                        comment = true;
                    }
                }
                if data.is_empty() && comment {
                    return Sse::Comment;
                }
                return Sse::Event { id, data };
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Sse::Quiet,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None) | Err(_)) => return Sse::End,
            }
        }
    }
}
