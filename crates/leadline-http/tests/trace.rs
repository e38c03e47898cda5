//! Request tracing: one request's id is in its response header and in every log line written
//! while it is served, whether the caller sent the id or the server made it.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::logs::Buffer;
use common::TestApp;
use leadline_app::testing::{Backend, TestDb};
use leadline_http::trace;
use tracing_subscriber::fmt::format::FmtSpan;

async fn create_lead(t: &TestApp, request_id: Option<&str>) -> (axum::http::StatusCode, String) {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/leads")
        .header("authorization", format!("Bearer {}", t.admin))
        .header("content-type", "application/json");
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let reply = t.send(request.body(Body::from(r#"{"name":"Ann Lee","phones":["02 9999 0000"]}"#)).unwrap()).await;
    let id = reply.headers.get("x-request-id").expect("every response names its request").to_str().unwrap();
    (reply.status, id.to_string())
}

#[tokio::test]
async fn each_log_line_of_a_request_carries_the_id_its_response_names() {
    let db = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let t = TestApp::new(db.app.clone()).await;
    // Every request is slow past a zero threshold, so each writes a warn line of its own too.
    trace::set_slow_request_threshold(Duration::ZERO);
    for json in [false, true] {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG);
        // In text, a line at each span's close shows the use case's span inside the request's (the
        // JSON formatter leaves the enclosing spans out of those lines, so it gets events only).
        let _logging = if json {
            tracing::subscriber::set_default(builder.json().finish())
        } else {
            tracing::subscriber::set_default(builder.with_span_events(FmtSpan::CLOSE).finish())
        };
        for (caller, sent) in [("a caller's id", Some("lb-7f3a.9:2")), ("an id made by the server", None)] {
            buffer.take_lines();
            let (status, id) = create_lead(&t, sent).await;
            assert_eq!(status, 201);
            match sent {
                Some(sent) => assert_eq!(id, sent, "{caller}"),
                None => assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{caller}: {id}"),
            }
            // A span's close line may come a moment after the response: wait for the use case's.
            // (The request's own may come much later: sqlx's SQLite worker thread runs each
            // statement in its caller's span and holds the last one until its next statement.)
            let mut lines = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !json && !lines.iter().any(|l: &String| l.contains("leadline_app::leads: close")) {
                assert!(tokio::time::Instant::now() < deadline, "no close line for the use case's span: {lines:#?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                lines.extend(buffer.take_lines());
            }
            lines.extend(buffer.take_lines());
            let tagged = if json { format!("\"request_id\":\"{id}\"") } else { format!("request_id={id}") };
            for line in &lines {
                assert!(line.contains(&tagged), "{caller}, json {json}: a line without {tagged}: {line}");
            }
            let has = |words: &[&str]| lines.iter().any(|l| words.iter().all(|w| l.contains(w)));
            assert!(has(&["slow request", "201"]), "{caller}, json {json}: {lines:#?}");
            assert!(has(&["request", "metrics", "route=/v1/leads", "201"]) || json, "{lines:#?}");
            if !json {
                let use_case = format!("request{{request_id={id} method=POST path=\"/v1/leads\"}}:leads.create{{");
                assert!(has(&[&use_case, "key=1 ", "api=\"native\"", "close"]), "{lines:#?}");
            }
            assert!(lines.len() >= if json { 2 } else { 3 }, "{lines:#?}");
        }
        // A caller's id that is not safe to log and send back is replaced.
        let (_, id) = create_lead(&t, Some("bad id; with spaces")).await;
        assert_eq!(id.len(), 16, "{id}");
    }
    trace::set_slow_request_threshold(Duration::from_secs(1));
    db.remove().await;
}
