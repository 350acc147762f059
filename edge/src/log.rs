//! Structured JSON log lines, one object per line, each with the request id.
//!
//! Fields are values the caller chooses; by convention nothing secret is ever passed (no
//! keys, tokens, client secrets, signs or TrustPay bodies). `wrangler tail` and Workers Logs
//! index the JSON.

use serde_json::{Map, Value};

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal operation.
    Info,
    /// A client or upstream problem worth seeing.
    Warn,
    /// Our problem: misconfiguration, storage failure, a bug.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The logger of one request.
#[derive(Debug, Clone)]
pub struct Log {
    request_id: String,
}

impl Log {
    /// A logger tagging every line with `request_id`.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
        }
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The JSON text of one line.
    pub fn line(&self, level: Level, event: &str, fields: &[(&str, Value)]) -> String {
        let mut map = Map::new();
        map.insert("level".into(), level.as_str().into());
        map.insert("event".into(), event.into());
        map.insert("request_id".into(), self.request_id.clone().into());
        for (key, value) in fields {
            map.insert((*key).to_owned(), value.clone());
        }
        Value::Object(map).to_string()
    }

    /// Logs at info level.
    pub fn info(&self, event: &str, fields: &[(&str, Value)]) {
        emit(Level::Info, &self.line(Level::Info, event, fields));
    }

    /// Logs at warn level.
    pub fn warn(&self, event: &str, fields: &[(&str, Value)]) {
        emit(Level::Warn, &self.line(Level::Warn, event, fields));
    }

    /// Logs at error level.
    pub fn error(&self, event: &str, fields: &[(&str, Value)]) {
        emit(Level::Error, &self.line(Level::Error, event, fields));
    }
}

#[cfg(target_arch = "wasm32")]
fn emit(level: Level, line: &str) {
    match level {
        Level::Info => worker::console_log!("{line}"),
        Level::Warn => worker::console_warn!("{line}"),
        Level::Error => worker::console_error!("{line}"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn emit(_level: Level, line: &str) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_object_per_line() {
        let log = Log::new("req-1");
        let line = log.line(
            Level::Warn,
            "callback_rejected",
            &[("order_no", "A-1".into()), ("status", 401.into())],
        );
        let value: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["level"], "warn");
        assert_eq!(value["event"], "callback_rejected");
        assert_eq!(value["request_id"], "req-1");
        assert_eq!(value["status"], 401);
        assert!(!line.contains('\n'));
    }
}
