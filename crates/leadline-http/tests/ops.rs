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

    async fn invented_methods_share_one_metrics_label(app) {
        let t = TestApp::new(app).await;
        let request_lines = |text: &str| text.lines().filter(|l| l.starts_with("leadline_http_requests_total")).count();
        let invent = |n: usize| {
            let request = axum::http::Request::builder()
                .method(format!("FOO{n}").as_str())
                .uri("/v1/leads")
                .body(axum::body::Body::empty())
                .unwrap();
            t.send(request)
        };
        invent(0).await;
        let before = t.call("GET", "/metrics", None, None).await.text;
        for n in 1..=40 {
            invent(n).await;
        }
        let after = t.call("GET", "/metrics", None, None).await.text;
        assert!(!after.contains("FOO"), "{after}");
        assert!(after.contains("leadline_http_requests_total{method=\"other\",route=\"/v1/leads\",status=\"405\"} 41"), "{after}");
        // The only new series is the first /metrics request itself.
        assert_eq!(request_lines(&after), request_lines(&before) + 1, "{after}");
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

    async fn the_openapi_document_describes_every_refusal_and_what_reads_back(app) {
        let t = TestApp::new(app).await;
        let doc = t.call("GET", "/openapi.json", None, None).await.body;
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses.iter().filter(|(status, _)| !status.starts_with('2')) {
                    let types: Vec<&String> = response["content"].as_object().unwrap().keys().collect();
                    assert_eq!(types, ["application/problem+json"], "{method} {path} {status}");
                }
                let mut expected = vec![];
                if operation.get("security").is_some() {
                    expected.push("401");
                }
                if path.contains('{') || operation.get("parameters").is_some() || operation.get("requestBody").is_some() {
                    expected.push("400");
                }
                if operation.get("requestBody").is_some() {
                    expected.push("413");
                }
                for status in expected {
                    assert!(responses.contains_key(status), "{method} {path} does not list {status}");
                }
            }
        }
        assert!(operations > 100, "{operations}");

        // A catalog object reads back its unset fields as null, and a change sends any of them.
        let contacts = &doc["paths"]["/v1/contacts/{id}"];
        let read = &contacts["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(read["properties"]["company_id"]["type"], serde_json::json!(["integer", "null"]));
        let change = &contacts["patch"]["requestBody"]["content"]["application/json"]["schema"];
        assert!(change.get("required").is_none(), "{change}");
        let page = &doc["paths"]["/v1/contacts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(page["properties"]["next_cursor"]["type"], serde_json::json!(["string", "null"]));
        let contact = t.post("/v1/contacts", serde_json::json!({"name": "Ann"})).await;
        assert_eq!((contact.status, &contact.body["company_id"]), (StatusCode::CREATED, &serde_json::Value::Null));
        assert_eq!(t.get("/v1/contacts").await.body["next_cursor"], serde_json::Value::Null);
    }

    async fn unreadable_paths_and_bodies_are_refused_as_problems(app) {
        let t = TestApp::new(app).await;
        for path in ["/v1/returns/abc", "/v1/buyers/abc/ledger", "/v1/leads/abc"] {
            assert_problem(&t.get(path).await, StatusCode::NOT_FOUND, None);
        }
        // Percent-encoding that is not UTF-8, in typed and catalog paths.
        for path in ["/v1/leads/%FF", "/v1/returns/%FF", "/v1/verticals/%FF", "/v1/%FF"] {
            assert_problem(&t.get(path).await, StatusCode::BAD_REQUEST, None);
        }
        let fulfil = t.post("/v1/replacement-requests/x/fulfil", serde_json::json!({"lead_id": 1})).await;
        assert_problem(&fulfil, StatusCode::NOT_FOUND, None);
        // serde reads a struct from an array of its fields in order; a body must be an object.
        for body in [serde_json::json!([null, null]), serde_json::json!("Ann"), serde_json::json!(7)] {
            let reply = t.post("/v1/leads", body).await;
            assert_problem(&reply, StatusCode::BAD_REQUEST, None);
            assert!(reply.body["detail"].as_str().unwrap().contains("JSON object"), "{}", reply.text);
        }
        assert_eq!(t.get("/v1/leads").await.body["items"], serde_json::json!([]), "nothing was created");
    }

    async fn text_holding_nul_is_refused_as_bad_input_on_every_backend(app) {
        // PostgreSQL cannot store U+0000 in text; it had answered 500.
        let t = TestApp::new(app).await;
        let vertical = t.post("/v1/verticals", serde_json::json!({"name": "a\u{0}b"})).await;
        assert_problem(&vertical, StatusCode::BAD_REQUEST, Some("name"));
        let lead = t.post("/v1/leads", serde_json::json!({"name": "Ann", "city": "Bon\u{0}di"})).await;
        assert_problem(&lead, StatusCode::BAD_REQUEST, Some("city"));
        assert_problem(&t.get("/v1/verticals?name=a%00b").await, StatusCode::BAD_REQUEST, Some("name"));
        // Text no rule looks at (a key's name, a lead filter) meets the store's net on PostgreSQL
        // (SQLite stores it, or finds nothing).
        let key = t.post("/v1/keys", serde_json::json!({"role": "readonly", "name": "a\u{0}"})).await;
        let filter = t.get("/v1/leads?external_id=a%00").await;
        if t.app.store.backend() == leadline_store::Backend::Postgres {
            assert_problem(&key, StatusCode::BAD_REQUEST, None);
            assert!(key.body["detail"].as_str().unwrap().contains("U+0000"), "{}", key.text);
            assert_problem(&filter, StatusCode::BAD_REQUEST, None);
        } else {
            assert_eq!((key.status, filter.status), (StatusCode::CREATED, StatusCode::OK));
        }
        assert_eq!(t.get("/v1/leads").await.body["items"], serde_json::json!([]), "nothing was created");
        assert_eq!(t.get("/v1/verticals?name=ab").await.body["items"], serde_json::json!([]));
        let (_, _, campaign, allocation) = t.campaign().await;
        let lead = serde_json::json!({"name": "Ann", "campaign_id": campaign, "allocation_id": allocation});
        assert_eq!(t.post("/v1/leads", lead).await.status, StatusCode::CREATED);
        let lease = t.post(&format!("/v1/allocations/{allocation}/next-lead"), serde_json::json!({"holder": "a\u{0}"})).await;
        assert_problem(&lease, StatusCode::BAD_REQUEST, Some("holder"));
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
