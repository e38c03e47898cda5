//! OpenTelemetry export as an operator turns it on: the real `leadline serve` with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small OTLP/HTTP receiver on loopback, one request
//! with a known `X-Request-Id`, then SIGTERM; the receiver must hold that request's trace, flushed
//! at shutdown, with the request span at its root and the use case beneath it. Without the
//! variable no exporter is built.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

mod common;

use common::{startup_lines, Scratch};

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("otlp-{name}"))
}

impl Scratch {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.0.join("stderr.log")).unwrap_or_default()
    }
}

/// What a receiver was sent: each export request decoded, and any body that did not decode.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<(Vec<ExportTraceServiceRequest>, Vec<String>)>>);

impl Received {
    fn exports(&self) -> Vec<ExportTraceServiceRequest> {
        self.0.lock().unwrap().0.clone()
    }

    fn undecodable(&self) -> Vec<String> {
        self.0.lock().unwrap().1.clone()
    }
}

async fn accept_traces(State(received): State<Received>, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            received.0.lock().unwrap().0.push(request);
            // An empty ExportTraceServiceResponse: everything accepted.
            (StatusCode::OK, Vec::new())
        }
        Err(error) => {
            received.0.lock().unwrap().1.push(error.to_string());
            (StatusCode::BAD_REQUEST, Vec::new())
        }
    }
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf) on `listener`, served on `runtime`.
fn receiver(runtime: &tokio::runtime::Runtime, listener: std::net::TcpListener) -> Received {
    let received = Received::default();
    let router =
        axum::Router::new().route("/v1/traces", axum::routing::post(accept_traces)).with_state(received.clone());
    listener.set_nonblocking(true).unwrap();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, router).await.unwrap();
    });
    received
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// `leadline serve` on a fresh database with no `LEADLINE_*` or `OTEL_*` variables but `otel`;
/// stderr goes to a file in the scratch directory. Returns the server, its address and the
/// admin key it printed.
fn serve(scratch: &Scratch, otel: &[(&str, &str)]) -> (Child, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LEADLINE_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    let database = format!("sqlite://{}", scratch.0.join("otlp.db").display());
    let mut server = command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database])
        .envs(otel.iter().copied())
        .current_dir(&scratch.0)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(scratch.0.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let printed = startup_lines(&mut BufReader::new(server.stdout.take().unwrap()).lines());
    let text = printed.join("\n");
    let secret = text.split_whitespace().find(|w| w.starts_with("ll_")).expect("a first key is printed").to_string();
    let listening = printed.iter().find(|l| l.starts_with("Leadline is listening on")).expect("the address");
    let address = listening.split_whitespace().nth(4).unwrap().trim_start_matches("http://").to_string();
    (server, address, secret)
}

fn create_lead(address: &str, secret: &str, request_id: &str) -> String {
    send(address, secret, request_id, "POST /v1/leads", r#"{"name":"Ann Lee","phones":["02 9999 0000"]}"#)
}

/// One request on a fresh connection; `line` is the method and the path.
fn send(address: &str, secret: &str, request_id: &str, line: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{line} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret}\r\nX-Request-Id: {request_id}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// SIGTERM, as systemd sends it, and the exit within 30 seconds.
fn stop(mut server: Child) {
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            server.kill().unwrap();
            panic!("the server did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text.as_str()),
        _ => None,
    })
}

fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::IntValue(number) => Some(*number),
        _ => None,
    })
}

fn spans(exports: &[ExportTraceServiceRequest]) -> Vec<&Span> {
    exports.iter().flat_map(|e| &e.resource_spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect()
}

#[test]
fn with_the_endpoint_set_a_request_is_exported_as_one_trace_rooted_at_its_request_span() {
    let scratch = scratch("on");
    let runtime = runtime();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let received = receiver(&runtime, listener);
    let (server, address, secret) = serve(
        &scratch,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20collector-token-not-to-be-logged"),
            ("OTEL_SERVICE_NAME", "leadline-otlp-test"),
        ],
    );
    let response = create_lead(&address, &secret, "otlp-test-42");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id: otlp-test-42"), "{response}");
    let listed = send(&address, &secret, "otlp-test-43", "GET /v1/leads?limit=1", "");
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    // Nothing has to arrive before the stop: the batch waits up to 5 s, and the shutdown flushes it.
    stop(server);

    let stderr = scratch.stderr();
    assert!(stderr.contains("OpenTelemetry trace export on"), "{stderr}");
    assert!(stderr.contains(&format!("{endpoint}/v1/traces")), "{stderr}");
    assert!(stderr.contains("authorization") && !stderr.contains("collector-token"), "{stderr}");
    assert_eq!(received.undecodable(), Vec::<String>::new());
    let exports = received.exports();
    assert!(!exports.is_empty(), "nothing was exported; the server said:\n{stderr}");
    for resource in exports.iter().flat_map(|e| &e.resource_spans) {
        let attributes = &resource.resource.as_ref().expect("a resource").attributes;
        assert_eq!(text_attribute(attributes, "service.name"), Some("leadline-otlp-test"));
    }
    let spans = spans(&exports);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let request = spans
        .iter()
        .find(|s| s.name == "request" && text_attribute(&s.attributes, "request_id") == Some("otlp-test-42"))
        .unwrap_or_else(|| panic!("no request span with the request's id among {names:?}"));
    assert!(request.parent_span_id.is_empty(), "the request span is the root of its trace");
    assert_eq!(text_attribute(&request.attributes, "method"), Some("POST"));
    assert_eq!(text_attribute(&request.attributes, "path"), Some("/v1/leads"));
    let use_case = spans.iter().find(|s| s.name == "leads.create").expect("the use case's span");
    assert_eq!(use_case.trace_id, request.trace_id, "one trace for the request");
    assert_eq!(use_case.parent_span_id, request.span_id, "the use case runs beneath the request");
    assert_eq!(text_attribute(&use_case.attributes, "api"), Some("native"));
    assert_eq!(int_attribute(&use_case.attributes, "key"), Some(1), "the first admin key's id, as a number");
    let body = &response[response.find("\r\n\r\n").unwrap()..];
    let created: i64 = body.split("\"id\":").nth(1).and_then(|rest| rest.split(',').next()?.parse().ok()).unwrap();
    assert_eq!(int_attribute(&use_case.attributes, "lead"), Some(created), "the new lead's id, recorded once known");
    let list_request = spans
        .iter()
        .find(|s| s.name == "request" && text_attribute(&s.attributes, "request_id") == Some("otlp-test-43"))
        .unwrap_or_else(|| panic!("no span for the second request among {names:?}"));
    assert_ne!(list_request.trace_id, request.trace_id, "each request is a trace of its own");
    let listing = spans.iter().find(|s| s.name == "leads.list").expect("the listing's span");
    assert_eq!((&listing.trace_id, &listing.parent_span_id), (&list_request.trace_id, &list_request.span_id));
    // What a span carries is ids: never the key's secret or the lead's name and phone.
    let sent = format!("{exports:?}");
    for private in [secret.as_str(), "Ann Lee", "9999"] {
        assert!(!sent.contains(private), "{private:?} was exported");
    }
}

#[test]
fn without_the_endpoint_no_exporter_is_built_and_the_log_says_so() {
    let scratch = scratch("off");
    let runtime = runtime();
    // An exporter built anyway would post to the default endpoint, localhost:4318: listen there
    // too when the port is free, so such a stray export would be seen.
    let default_port: Vec<Received> = ["127.0.0.1:4318", "[::1]:4318"]
        .into_iter()
        .filter_map(|address| std::net::TcpListener::bind(address).ok())
        .map(|listener| receiver(&runtime, listener))
        .collect();
    let (server, address, secret) = serve(
        &scratch,
        &[("OTEL_SERVICE_NAME", "leadline-otlp-test"), ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x")],
    );
    let response = create_lead(&address, &secret, "otlp-off-1");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    stop(server);
    let stderr = scratch.stderr();
    assert!(stderr.contains("OpenTelemetry trace export off"), "{stderr}");
    assert!(!stderr.contains("export on"), "{stderr}");
    for received in default_port {
        assert!(received.exports().is_empty() && received.undecodable().is_empty(), "spans were exported");
    }
}

fn config_check(dir: &Path, otel: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LEADLINE_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command.args(["config", "check"]).envs(otel.iter().copied()).current_dir(dir).output().unwrap()
}

#[test]
fn config_check_names_the_trace_endpoint_without_header_values_and_refuses_a_bad_one() {
    let scratch = scratch("check");
    let off = config_check(&scratch.0, &[]);
    assert!(off.status.success());
    assert!(String::from_utf8_lossy(&off.stdout).contains("OpenTelemetry trace export off"));
    let on = config_check(
        &scratch.0,
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector.example:4318/v1/traces"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k3y"),
        ],
    );
    let stdout = String::from_utf8_lossy(&on.stdout);
    assert!(on.status.success(), "{}", String::from_utf8_lossy(&on.stderr));
    assert!(
        stdout.contains("OpenTelemetry trace export to https://collector.example:4318/v1/traces (headers: x-api-key)"),
        "{stdout}"
    );
    assert!(!stdout.contains("k3y"), "{stdout}");
    let bad = config_check(&scratch.0, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "leadline: OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL with a host, not \"collector:4318\""
    );
}
