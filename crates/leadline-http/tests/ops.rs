//! Ops endpoints, the OpenAPI document, and a few requests over a real socket.

mod common;

use axum::http::StatusCode;
use common::{assert_problem, TestApp};
use leadline_app::conformance;
use leadline_core::catalog::COLLECTIONS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request and returns the whole response text.
async fn raw_request(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

conformance! {
    async fn health_readiness_and_metrics_answer(app) {
        let t = TestApp::new(app).await;
        let health = t.call("GET", "/healthz", None, None).await;
        assert_eq!((health.status, health.text.as_str()), (StatusCode::OK, "{\"status\":\"ok\"}"));
        let ready = t.call("GET", "/readyz", None, None).await;
        assert_eq!((ready.status, ready.text.as_str()), (StatusCode::OK, "{\"status\":\"ready\"}"));
        t.get("/v1/leads").await;
        t.get("/v1/leads/77").await;
        let metrics = t.call("GET", "/metrics", None, None).await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(metrics.content_type().starts_with("application/openmetrics-text"));
        for line in [
            "leadline_http_requests_total{method=\"GET\",route=\"/v1/leads\",status=\"200\"} 1",
            "leadline_http_requests_total{method=\"GET\",route=\"/v1/leads/{id}\",status=\"404\"} 1",
            "leadline_http_request_duration_seconds_count{route=\"/v1/leads\"} 1",
            "leadline_db_pool_connections{state=\"idle\"}",
        ] {
            assert!(metrics.text.contains(line), "missing `{line}` in\n{}", metrics.text);
        }
    }

    async fn readiness_fails_when_the_database_is_gone(app) {
        let t = TestApp::new(app).await;
        t.app.store.close().await;
        let ready = t.call("GET", "/readyz", None, None).await;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    async fn the_openapi_document_lists_every_route_and_collection(app) {
        let t = TestApp::new(app).await;
        let doc = t.call("GET", "/openapi.json", None, None).await;
        assert_eq!(doc.status, StatusCode::OK);
        assert_eq!(doc.body["openapi"], "3.1.0");
        let paths = doc.body["paths"].as_object().unwrap();
        for path in [
            "/v1/leads", "/v1/leads/{id}", "/v1/leads/{id}/history", "/v1/keys", "/v1/keys/{id}", "/v1/sales", "/v1/catalog",
            "/v1/returns", "/v1/returns/{id}", "/v1/returns/{id}/approve", "/v1/returns/{id}/reject",
            "/v1/buyers/{id}/ledger", "/v1/replacement-requests", "/v1/replacement-requests/{id}/fulfil",
            "/v1/leads/{id}/queue-actions", "/v1/leads/{id}/ledger", "/v1/archive/leads/{id}",
            "/v1/imports", "/v1/imports/{id}", "/v1/imports/{id}/rejects", "/v1/leads/export",
            "/v1/allocations/{id}/next-lead", "/v1/leads/{id}/release", "/v1/leads/{id}/disposition",
        ] {
            assert!(paths.contains_key(path), "{path}");
        }
        for c in COLLECTIONS {
            let item = &paths[&format!("/v1/{}/{{id}}", c.name)];
            for method in ["get", "patch", "delete"] {
                assert!(item.get(method).is_some(), "{} {method}", c.name);
            }
            assert!(paths[&format!("/v1/{}", c.name)].get("post").is_some());
        }
        assert!(doc.body["components"]["schemas"].get("Lead").is_some());
        assert!(doc.body["components"]["securitySchemes"].get("bearer").is_some());
        let docs = t.call("GET", "/docs", None, None).await;
        assert_eq!(docs.status, StatusCode::OK);
        assert!(docs.text.contains("/openapi.json") && !docs.text.contains("https://"), "self-contained");
        assert_problem(&t.call("GET", "/nowhere", None, None).await, StatusCode::NOT_FOUND, None);
    }

    async fn the_server_answers_over_a_real_socket_and_shuts_down_gracefully(app) {
        let t = TestApp::new(app).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(leadline_http::serve(listener, t.router.clone(), async { let _ = stopped.await; }));
        let health = raw_request(address, "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
        assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
        let body = "{\"name\":\"Over the wire\"}";
        let create = format!(
            "POST /v1/leads HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            t.admin,
            body.len()
        );
        let created = raw_request(address, &create).await;
        assert!(created.starts_with("HTTP/1.1 201 Created"), "{created}");
        let garbage = raw_request(address, "NOT-HTTP\r\n\r\n").await;
        assert!(garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"), "{garbage}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
