//! The CAKE dialect: ASP.NET-style `.asmx` web services, each a table of operations answered over
//! five transports (see docs/dialects/cake.md):
//!
//! * `GET  <service>/<Op>?api_key=…` and `POST <service>/<Op>` with a form body: an XML document;
//! * `POST <service>/<Op>` with a JSON object: the same answer as JSON, wrapped in `{"d": …}`;
//! * `POST <service>` with a SOAP 1.1 (`text/xml`) or 1.2 (`application/soap+xml`) envelope: the
//!   answer in `<{Op}Response><{Op}Result>`, unreadable envelopes as SOAP faults;
//! * `GET <service>?WSDL` describes the service, `GET <service>?op=<Op>` one operation.
//!
//! Each transport only extracts the parameters and wraps the answer; one service path
//! ([`answer`]) authenticates the key, reads the declared parameters and runs the operation's
//! handler. An operation is one [`Operation`] entry in a [`Service`]'s table.

mod get;
mod pages;
mod returns;
mod track;
pub mod xml;

use std::future::Future;
use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get as get_route;
use axum::Router;
use leadline_app::{keys, AppError, Principal};
use leadline_core::access::Role;
use serde_json::{Map, Value};

use crate::rate_limit::{ClientAddr, Group};
use crate::AppState;
use xml::{FaultCode, SoapVersion};

/// Largest CAKE request body read, in bytes. Real requests are a few hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Bool(bool),
    Int(i64),
    Text(String),
    /// Repeated `<item>` elements (a JSON array of objects).
    List {
        item: &'static str,
        rows: Vec<Fields>,
    },
}

/// An answer's elements in order.
pub type Fields = Vec<(&'static str, Node)>;

/// The answer CAKE gives for a refused call: `success` false and the message.
pub fn failure(message: impl Into<String>) -> Fields {
    vec![("success", Node::Bool(false)), ("message", Node::Text(message.into()))]
}

/// How a handler's call ended, besides an answer.
#[derive(Debug)]
pub enum Outcome {
    Answer(Fields),
    /// A store failure: HTTP 500 / a `Server` fault, the cause in the log.
    Internal,
}

/// The kind of a declared parameter, which decides how its text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// A parameter an operation declares: its name, kind, the message when its value cannot be read,
/// and a line for the WSDL and `?op=` page.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub invalid: &'static str,
    pub doc: &'static str,
}

/// An answer's element as the WSDL describes it.
#[derive(Debug)]
pub enum ResultType {
    Bool,
    Int,
    Text,
    List { item: &'static str, fields: &'static [(&'static str, ResultType)] },
}

/// Which keys may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Admin,
    Buyer,
    /// Admin and buyer keys (look-ups both sides need).
    AdminOrBuyer,
}

/// The parameters a call carried, read by their declared kinds (absent and empty both `None`).
#[derive(Debug, Default)]
pub struct Args(Vec<(&'static str, Arg)>);

#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

impl Args {
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.iter().find_map(|(n, a)| match a {
            Arg::Text(t) if *n == name => Some(t.clone()),
            _ => None,
        })
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.iter().find_map(|(n, a)| match a {
            Arg::Int(i) if *n == name => Some(*i),
            _ => None,
        })
    }
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
pub type Handler = fn(AppState, Principal, Args) -> HandlerFuture;

/// One operation of a service.
#[derive(Debug)]
pub struct Operation {
    pub name: &'static str,
    /// The root element of the plain-XML answer (GET and form POST).
    pub root: &'static str,
    pub doc: &'static str,
    pub access: Access,
    /// Declared parameters besides `api_key`, which every operation takes first.
    pub params: &'static [Param],
    pub result: &'static [(&'static str, ResultType)],
    pub handler: Handler,
}

/// One `.asmx` service: its path, XML namespace and operations.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub path: &'static str,
    pub namespace: &'static str,
    pub operations: &'static [&'static Operation],
}

impl Service {
    pub fn operation(&self, name: &str) -> Option<&'static Operation> {
        self.operations.iter().copied().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    fn names(&self) -> String {
        self.operations.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
    }
}

/// Every CAKE service Leadline answers; an operation CAKE documents at several versions is in the
/// service of each (docs/dialects/cake.md lists them).
pub const SERVICES: &[&Service] =
    &[&track::TRACK_V1, &returns::TRACK_V2, &get::GET_V1, &get::GET_V2, &returns::BUYERS_LEADS_V1];

pub const API_KEY: Param =
    Param { name: "api_key", kind: Kind::Text, invalid: "Invalid API Key", doc: "an API key (at most 50 characters)" };

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for service in SERVICES.iter().copied() {
        router = router
            .route(
                service.path,
                get_route(move |q: RawQuery, h: HeaderMap| pages::service_page(service, q, h))
                    .post(move |s: State<AppState>, c: ClientAddr, h: HeaderMap, b: Body| soap(service, s, c, h, b)),
            )
            .route(
                &format!("{}/{{operation}}", service.path),
                get_route(move |s: State<AppState>, c: ClientAddr, p: Path<String>, q: RawQuery| {
                    by_query(service, s, c, p, q)
                })
                .post(
                    move |s: State<AppState>, c: ClientAddr, p: Path<String>, h: HeaderMap, b: Body| {
                        by_body(service, s, c, p, h, b)
                    },
                ),
            );
    }
    router
}

/// Raw parameters as a transport found them; `None` is an explicit null.
type RawParams = Vec<(String, Option<String>)>;

/// CAKE's answer past a rate limit, which its clients recognise and back off from.
pub const RESTRICTED: &str = "Restricted";

/// The one service path: checks the key and its rate limit (without a valid key, the client
/// address's), reads the declared parameters, runs the handler.
async fn answer(state: &AppState, client: ClientAddr, operation: &'static Operation, raw: RawParams) -> Outcome {
    let limiter = &state.rate_limiter;
    let keyless = || match limiter.check_address(Group::Cake, client.0) {
        Ok(()) => Outcome::Answer(failure(API_KEY.invalid)),
        Err(_) => Outcome::Answer(failure(RESTRICTED)),
    };
    let find = |name: &str| -> Result<Option<String>, String> {
        let mut found = raw.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.clone().filter(|v| !v.trim().is_empty()));
        if found.next().is_some() {
            return Err(format!("Parameter {name} is given more than once"));
        }
        Ok(first.flatten())
    };
    let key = match find(API_KEY.name) {
        Ok(Some(key)) => key,
        Ok(None) => return keyless(),
        Err(message) => return Outcome::Answer(failure(message)),
    };
    let principal = match keys::authenticate(&state.app, key.trim()).await {
        Ok(p) => p,
        Err(AppError::Store(cause)) => {
            tracing::error!(error = %cause, "cake: key look-up failed");
            return Outcome::Internal;
        }
        Err(_) => return keyless(),
    };
    if limiter.check_key(Group::Cake, principal.key_id).is_err() {
        return Outcome::Answer(failure(RESTRICTED));
    }
    let allowed = match operation.access {
        Access::Admin => principal.role == Role::Admin,
        Access::Buyer => matches!(principal.role, Role::Buyer { .. }),
        Access::AdminOrBuyer => matches!(principal.role, Role::Admin | Role::Buyer { .. }),
    };
    if !allowed {
        return Outcome::Answer(failure(API_KEY.invalid));
    }
    let mut args = Args::default();
    for param in operation.params {
        let value = match find(param.name) {
            Ok(value) => value,
            Err(message) => return Outcome::Answer(failure(message)),
        };
        let Some(value) = value else { continue };
        let value = value.trim();
        let arg = match param.kind {
            Kind::Text => Arg::Text(value.to_string()),
            Kind::Int => match value.parse::<i64>() {
                Ok(n) => Arg::Int(n),
                Err(_) => return Outcome::Answer(failure(param.invalid)),
            },
        };
        args.0.push((param.name, arg));
    }
    (operation.handler)(state.clone(), principal, args).await
}

fn xml_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

const XML: &str = "text/xml; charset=utf-8";

/// A transport's wrapping of an outcome.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Xml,
    Json,
}

fn wrap(service: &Service, operation: &Operation, how: Wrap, status: StatusCode, outcome: Outcome) -> Response {
    let (status, fields) = match outcome {
        Outcome::Answer(fields) => (status, fields),
        Outcome::Internal => (StatusCode::INTERNAL_SERVER_ERROR, failure("Internal error")),
    };
    match how {
        Wrap::Xml => xml_response(status, XML, xml::document(operation.root, service.namespace, &fields)),
        Wrap::Json => {
            let body = serde_json::json!({ "d": Value::Object(json_fields(&fields)) });
            (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
        }
    }
}

fn json_fields(fields: &Fields) -> Map<String, Value> {
    fields
        .iter()
        .map(|(name, node)| {
            let value = match node {
                Node::Bool(b) => Value::Bool(*b),
                Node::Int(n) => Value::from(*n),
                Node::Text(t) => Value::String(t.clone()),
                Node::List { rows, .. } => Value::Array(rows.iter().map(|r| Value::Object(json_fields(r))).collect()),
            };
            (name.to_string(), value)
        })
        .collect()
}

fn unknown_operation(service: &Service, name: &str) -> Response {
    let text = format!("{} has no operation `{name}`; it has {}", service.path, service.names());
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Splits a query string or form body into pairs (`+` and `%XX` decoded, bad UTF-8 replaced).
pub fn parse_form(bytes: &[u8]) -> RawParams {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), Some(v.into_owned()))).collect()
}

/// Reads a JSON body: an object whose values are strings, numbers, booleans or null.
pub fn parse_json(bytes: &[u8]) -> Result<RawParams, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(object) = value else { return Err("the body must be a JSON object of parameters".into()) };
    object
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Null => None,
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => return Err(format!("parameter {k} must be a string, a number or null")),
            };
            Ok((k, text))
        })
        .collect()
}

async fn by_query(
    service: &'static Service,
    State(state): State<AppState>,
    client: ClientAddr,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(operation) = service.operation(&name) else { return unknown_operation(service, &name) };
    let raw = parse_form(query.unwrap_or_default().as_bytes());
    let outcome = answer(&state, client, operation, raw).await;
    wrap(service, operation, Wrap::Xml, StatusCode::OK, outcome)
}

/// Reads at most [`BODY_LIMIT`] bytes; when it cannot, the status and message to refuse with.
async fn read_body(body: Body) -> Result<Bytes, (StatusCode, String)> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|error| {
        let too_large =
            std::error::Error::source(&error).is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if too_large {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {BODY_LIMIT} bytes"))
        } else {
            (StatusCode::BAD_REQUEST, format!("the request body could not be read: {error}"))
        }
    })
}

/// CAKE's messages start with a capital.
fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

async fn by_body(
    service: &'static Service,
    State(state): State<AppState>,
    client: ClientAddr,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(operation) = service.operation(&name) else { return unknown_operation(service, &name) };
    let media = media_type(&headers);
    let how = if media == "application/json" { Wrap::Json } else { Wrap::Xml };
    let refuse =
        |status: StatusCode, message: String| wrap(service, operation, how, status, Outcome::Answer(failure(message)));
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err((StatusCode::PAYLOAD_TOO_LARGE, _)) => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("Request body is larger than {BODY_LIMIT} bytes"))
        }
        Err((status, message)) => return refuse(status, upper_first(&message)),
    };
    let raw = match media.as_str() {
        "application/json" => match parse_json(&bytes) {
            Ok(raw) => raw,
            Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
        },
        "application/x-www-form-urlencoded" | "" => parse_form(&bytes),
        other => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {other} is not read here; post a form or JSON, or a SOAP envelope to {}",
                    service.path
                ),
            )
        }
    };
    let outcome = answer(&state, client, operation, raw).await;
    wrap(service, operation, how, StatusCode::OK, outcome)
}

/// The SOAP version and action a request's headers name.
fn soap_headers(headers: &HeaderMap) -> Result<(SoapVersion, Option<String>), String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let version = match media.as_str() {
        "text/xml" => SoapVersion::V11,
        "application/soap+xml" => SoapVersion::V12,
        _ => {
            return Err(format!(
                "Content-Type `{content_type}` is not SOAP; use text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)"
            ))
        }
    };
    let action = match version {
        SoapVersion::V11 => headers.get("soapaction").and_then(|v| v.to_str().ok()).map(str::to_string),
        SoapVersion::V12 => parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("action").then(|| v.trim().to_string())
        }),
    };
    let action = action.map(|a| a.trim().trim_matches('"').to_string()).filter(|a| !a.is_empty());
    Ok((version, action))
}

async fn soap(
    service: &'static Service,
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fault = |version: SoapVersion, status: StatusCode, code: FaultCode, reason: &str| {
        xml_response(status, version.content_type(), xml::fault(version, code, reason))
    };
    let (version, action) = match soap_headers(&headers) {
        Ok(found) => found,
        Err(reason) => return fault(SoapVersion::V11, StatusCode::UNSUPPORTED_MEDIA_TYPE, FaultCode::Client, &reason),
    };
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err((status, reason)) => return fault(version, status, FaultCode::Client, &reason),
    };
    let request = match xml::read_soap(&bytes, Some(version)) {
        Ok(request) => request,
        Err(error) => return fault(version, StatusCode::BAD_REQUEST, error.code, &error.reason),
    };
    let Some(operation) = service.operation(&request.operation) else {
        let reason = format!("{} has no operation `{}`; it has {}", service.path, request.operation, service.names());
        return fault(version, StatusCode::BAD_REQUEST, FaultCode::Client, &reason);
    };
    if let Some(action) = action {
        let named = action.rsplit('/').next().unwrap_or("");
        if !named.eq_ignore_ascii_case(operation.name) {
            let reason = format!("the SOAP action `{action}` does not name the body's operation {}", operation.name);
            return fault(version, StatusCode::BAD_REQUEST, FaultCode::Client, &reason);
        }
    }
    match answer(&state, client, operation, request.params).await {
        Outcome::Answer(fields) => xml_response(
            StatusCode::OK,
            version.content_type(),
            xml::soap_answer(version, operation.name, service.namespace, &fields),
        ),
        Outcome::Internal => fault(version, StatusCode::INTERNAL_SERVER_ERROR, FaultCode::Server, "internal error"),
    }
}

/// Maps a use-case error to a CAKE outcome: a store failure is internal (logged), anything else
/// becomes `success` false with the message `message_of` picks.
pub fn refused(error: AppError, message_of: impl FnOnce(&AppError) -> String) -> Outcome {
    if let AppError::Store(cause) = &error {
        tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "cake request failed");
        return Outcome::Internal;
    }
    Outcome::Answer(failure(message_of(&error)))
}
