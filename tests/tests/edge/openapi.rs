//! `edge/openapi.yaml` against the code. Three checks:
//!
//! * **routes** (native test): every method and path the router in `edge/src/lib.rs` dispatches
//!   is described in the spec, and the spec describes nothing the router doesn't route. The
//!   routes are read from the router's source, so a new route fails here until it is described.
//! * **error codes** (native test): the spec's `ErrorCode` enum is exactly
//!   `ApiErrorCode::KNOWN`, and every code's HTTP status is a response of some operation.
//! * **responses** ([`Spec::check`], run by [`crate::support::Stack`] when a suite ends): every
//!   edge response a suite received is a documented status of its operation, of a documented
//!   media type, and its JSON body validates against the schema.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock, PoisonError};

use checkout_core::contract::ApiErrorCode;
use serde_json::{Value, json};
use tests::edge_harness::workspace_root;

/// How to describe a route, for the failure messages.
const HOW_TO_ADD: &str = "Describe it in edge/openapi.yaml under `paths:` (path parameters in \
braces, e.g. `/v1/orders/{order_no}:` with a `parameters:` entry), with its `security` (`[]` \
when public), request body and every response it can give: success bodies with a schema, \
errors as `$ref: \"#/components/responses/...\"` (they share `#/components/schemas/Error`). \
Then `npx redocly lint --extends recommended-strict edge/openapi.yaml` and \
`cargo test -p tests --test edge openapi` must pass; the edge suites validate every response \
against it.";

/// The spec as JSON, read once.
pub(crate) fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = workspace_root().join("edge").join("openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let doc: Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        Spec {
            doc,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// `edge/openapi.yaml`, with its compiled response schemas.
pub(crate) struct Spec {
    doc: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

/// One response an edge suite received.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) method: String,
    /// The path, without the query.
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: String,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

impl Spec {
    /// `(method, path template with parameters as {})` of every operation.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS {
                if item.get(method).is_some() {
                    out.insert((method.to_owned(), normalize(path)));
                }
            }
        }
        out
    }

    /// The spec path whose template matches `path`.
    fn path_item(&self, path: &str) -> Option<&Value> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(template, _)| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        (part.starts_with('{') && !segment.is_empty()) || part == segment
                    })
            })
            .map(|(_, item)| item)
    }

    /// Follows a local `$ref` (`#/components/...`).
    fn deref<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(pointer) => self
                .doc
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("edge/openapi.yaml: dangling $ref {pointer}")),
            None => value,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(key.to_owned())
            .or_insert_with(|| {
                // The schema inside a copy of the components, so its `#/components/...` refs
                // resolve; OpenAPI 3.1 schemas are JSON Schema 2020-12.
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.doc["components"],
                    "allOf": [schema],
                });
                let validator = jsonschema::draft202012::new(&root)
                    .unwrap_or_else(|e| panic!("edge/openapi.yaml: schema {key}: {e}"));
                std::sync::Arc::new(validator)
            })
            .clone()
    }

    /// Why `exchange` does not match the spec, if it doesn't.
    pub(crate) fn check(&self, exchange: &Exchange) -> Result<(), String> {
        let method = exchange.method.to_ascii_lowercase();
        let operation = self
            .path_item(&exchange.path)
            .and_then(|item| item.get(method.as_str()));
        let (key, response) = match operation {
            Some(operation) => {
                let status = exchange.status.to_string();
                let response = operation["responses"]
                    .get(&status)
                    .or_else(|| operation["responses"].get("default"))
                    .ok_or_else(|| {
                        format!("status {status} is not a documented response of the operation")
                    })?;
                (
                    format!("{method} {} {status}", exchange.path),
                    self.deref(response),
                )
            }
            None if !matches!(exchange.status, 404 | 405) => {
                return Err(format!(
                    "edge/openapi.yaml describes no {} operation on this path (see \
                     openapi::every_route_is_described_and_nothing_else)",
                    exchange.method
                ));
            }
            // Not routed: the answer must be the error body (`not_found`, `method_not_allowed`).
            None => (
                "unrouted".to_owned(),
                &self.doc["components"]["responses"]["NotFound"],
            ),
        };
        let media = exchange
            .content_type
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned());
        let content = response.get("content").and_then(Value::as_object);
        let (media, schema) = match (content, media) {
            (None, None) => return Ok(()),
            (None, Some(_)) if exchange.body.is_empty() => return Ok(()),
            (None, Some(media)) => {
                return Err(format!("a {media} body where the spec documents none"));
            }
            (Some(_), None) => return Err("no Content-Type".to_owned()),
            (Some(content), Some(media)) => match content.get(&media) {
                Some(entry) => (media, &entry["schema"]),
                None => {
                    let documented: Vec<&String> = content.keys().collect();
                    return Err(format!("media type {media}, documented: {documented:?}"));
                }
            },
        };
        let instance = match media.as_str() {
            "application/json" => serde_json::from_str(&exchange.body)
                .map_err(|e| format!("the body is not JSON: {e}"))?,
            "text/plain" => Value::String(exchange.body.clone()),
            // A stream: what a client read of it depends on when it stopped.
            _ => return Ok(()),
        };
        let validator = self.validator(&format!("{key} {media}"), schema);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// `/v1/orders/{order_no}` → `/v1/orders/{}`.
fn normalize(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The handlers `widget` (the CORS-wrapped `/v1/orders...` routes) calls: method and path.
const WIDGET_HANDLERS: &[(&str, &str, &str)] = &[
    ("orders::create", "post", "/v1/orders"),
    ("orders::status", "get", "/v1/orders/{}"),
    ("orders::new_attempt", "post", "/v1/orders/{}/attempts"),
    ("live::events", "get", "/v1/orders/{}/events"),
];

/// The modules of `use crate::routes::{...}`, and `live`.
fn route_modules(source: &str) -> Vec<String> {
    let list = source
        .split("use crate::routes::{")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| {
            panic!("edge/src/lib.rs has no `use crate::routes::{{...}}`: update this parser")
        });
    list.split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .chain(["live".to_owned()])
        .collect()
}

/// Every `<module>::<function>(` in `code` whose module is one of `modules`.
fn handler_calls(code: &str, modules: &[String]) -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    for module in modules {
        let needle = format!("{module}::");
        for (at, _) in code.match_indices(&needle) {
            let boundary = code[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            let name: String = code[at + needle.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if boundary && code[at + needle.len() + name.len()..].starts_with('(') {
                calls.insert(format!("{module}::{name}"));
            }
        }
    }
    calls
}

/// `(method, path template)` of every route `edge/src/lib.rs` dispatches, read from its source:
/// the `(Method::X, [segments])` arms of `dispatch` (string literals are fixed segments,
/// identifiers parameters), and the handlers `widget` calls ([`WIDGET_HANDLERS`]), each also
/// answering OPTIONS (the CORS preflight).
fn router_routes() -> BTreeSet<(String, String)> {
    let path = workspace_root().join("edge").join("src").join("lib.rs");
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let body = |name: &str| -> &str {
        let start = source
            .find(&format!("fn {name}("))
            .unwrap_or_else(|| panic!("edge/src/lib.rs has no `fn {name}(`: update this parser"));
        let rest = &source[start..];
        // The router's functions sit in `mod entry`: each ends at its first `    }` line.
        let end = rest.find("\n    }\n").map_or(rest.len(), |i| i + 6);
        &rest[..end]
    };
    let mut routes = BTreeSet::new();
    for arm in body("dispatch").split("(Method::").skip(1) {
        let method = arm.split(',').next().unwrap_or_default().trim();
        let rest = arm[method.len()..].trim_start_matches([',', ' ', '\n']);
        let Some(inner) = rest.strip_prefix('[').and_then(|r| r.split(']').next()) else {
            panic!("edge/src/lib.rs dispatch: unreadable arm `(Method::{method}, {rest:.40}`");
        };
        let segments: Vec<String> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(literal) => literal.to_owned(),
                None if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => "{}".into(),
                None => panic!("edge/src/lib.rs dispatch: segment `{s}` is neither a literal nor a name: update this parser"),
            })
            .collect();
        routes.insert((
            method.to_ascii_lowercase(),
            format!("/{}", segments.join("/")),
        ));
    }
    // The widget routes: each handler `widget` calls, by the table below; all take OPTIONS.
    let widget = body("widget");
    let modules = route_modules(&source);
    for call in handler_calls(widget, &modules) {
        let Some((_, method, path)) = WIDGET_HANDLERS.iter().find(|(name, _, _)| *name == call)
        else {
            panic!(
                "edge/src/lib.rs `widget` calls {call}, which tests/tests/edge/openapi.rs does not \
                 know: add it to WIDGET_HANDLERS with its method and path. {HOW_TO_ADD}"
            );
        };
        routes.insert(((*method).to_owned(), (*path).to_owned()));
        if widget.contains("(Method::Options, _)") {
            routes.insert(("options".to_owned(), (*path).to_owned()));
        }
    }
    routes
}

#[test]
fn every_route_is_described_and_nothing_else() {
    let routed = router_routes();
    let described = spec().operations();
    // The parser found the routes known when it was written; fewer means it broke.
    for known in [
        ("post", "/v1/intents"),
        ("get", "/v1/orders/{}/events"),
        ("options", "/v1/orders"),
        ("get", "/v1/admin/orders/{}"),
        ("get", "/healthz"),
    ] {
        assert!(
            routed.contains(&(known.0.to_owned(), known.1.to_owned())),
            "the edge/src/lib.rs parser missed {known:?} (found {routed:?}): update it"
        );
    }
    let undescribed: Vec<String> = routed
        .difference(&described)
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        undescribed.is_empty(),
        "edge/src/lib.rs routes {undescribed:?}, which edge/openapi.yaml does not describe. {HOW_TO_ADD}"
    );
    let unrouted: Vec<String> = described
        .difference(&routed)
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        unrouted.is_empty(),
        "edge/openapi.yaml describes {unrouted:?}, which edge/src/lib.rs does not route: remove them from the spec"
    );
    eprintln!(
        "openapi: {} routes of edge/src/lib.rs, all described",
        routed.len()
    );
}

#[test]
fn every_error_code_is_described_with_its_status() {
    let spec = spec();
    let described: BTreeSet<&str> = spec.doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let known: BTreeSet<&str> = ApiErrorCode::KNOWN.iter().map(|c| c.as_str()).collect();
    let missing: Vec<&&str> = known.difference(&described).collect();
    let extra: Vec<&&str> = described.difference(&known).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "edge/openapi.yaml components.schemas.ErrorCode.enum differs from ApiErrorCode::KNOWN \
         (core/src/contract.rs): missing {missing:?}, not a code {extra:?}. Add each new code to \
         the enum and to its status in the enum's description"
    );
    let statuses: BTreeSet<String> = spec.doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, item)| METHODS.iter().filter_map(|m| item.get(*m)))
        .flat_map(|op| op["responses"].as_object().into_iter().flatten())
        .map(|(status, _)| status.clone())
        .collect();
    // The description lists the codes under their status: "409: `a`, `b`.".
    let description = spec.doc["components"]["schemas"]["ErrorCode"]["description"]
        .as_str()
        .unwrap_or_default();
    let mut listed = HashMap::new();
    let mut under = String::new();
    for word in description.split_whitespace() {
        match word.strip_suffix(':') {
            Some(status) if status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()) => {
                under = status.to_owned();
            }
            Some(_) | None => {
                let code = word.trim_end_matches([',', '.']).trim_matches('`');
                if word.starts_with('`') && !under.is_empty() {
                    listed.insert(code.to_owned(), under.clone());
                }
            }
        }
    }
    for code in ApiErrorCode::KNOWN {
        let status = code.http_status().to_string();
        assert!(
            statuses.contains(&status),
            "{} answers {status}, a status no operation in edge/openapi.yaml documents",
            code.as_str()
        );
        assert_eq!(
            listed.get(code.as_str()),
            Some(&status),
            "the ErrorCode description in edge/openapi.yaml must list `{}` under `{status}:`",
            code.as_str()
        );
    }
}

#[test]
fn the_response_check_refuses_what_the_spec_does_not_say() {
    let spec = spec();
    let exchange = |method: &str, path: &str, status: u16, body: &str| Exchange {
        method: method.to_owned(),
        path: path.to_owned(),
        status,
        content_type: Some("application/json".to_owned()),
        body: body.to_owned(),
    };
    let view = r#"{"order_no":"A-1","status":5,"state":"paid","amount":"5.00","currency":"USD","updated_at":1}"#;
    assert_eq!(
        spec.check(&exchange("GET", "/v1/orders/A-1", 200, view)),
        Ok(())
    );
    let error = r#"{"error":{"code":"not_found","message":"No such endpoint."}}"#;
    assert_eq!(spec.check(&exchange("GET", "/nope", 404, error)), Ok(()));
    for (what, bad) in [
        (
            "an undocumented status",
            exchange("GET", "/v1/orders/A-1", 418, view),
        ),
        (
            "an unknown field",
            exchange(
                "GET",
                "/v1/orders/A-1",
                200,
                &view.replace("\"updated_at\"", "\"extra\":1,\"updated_at\""),
            ),
        ),
        (
            "a wrong state",
            exchange("GET", "/v1/orders/A-1", 200, &view.replace("paid", "done")),
        ),
        (
            "an unknown error code",
            exchange("GET", "/nope", 404, &error.replace("not_found", "nope")),
        ),
        (
            "an error without a message",
            exchange(
                "POST",
                "/v1/intents",
                401,
                r#"{"error":{"code":"unauthorized"}}"#,
            ),
        ),
    ] {
        assert!(spec.check(&bad).is_err(), "accepted {what}");
    }
}
