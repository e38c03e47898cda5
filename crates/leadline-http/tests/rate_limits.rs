//! Rate limits per key and, for requests without a valid key, per client address: each dialect
//! answers past its limit in its own shape.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::{assert_problem, Reply, TestApp};
use leadline_app::conformance;
use leadline_http::ivvy::IvvySettings;
use leadline_http::rate_limit::{GroupLimits, RateLimits};
use leadline_http::HttpSettings;

/// Two requests a minute per key and two keyless requests a minute per address, in every group.
fn settings() -> HttpSettings {
    let two = GroupLimits { per_key_per_minute: 2, per_address_per_minute: 2 };
    HttpSettings {
        rate_limits: RateLimits { native: two, cake: two, noojee: two, ivvy: two },
        ivvy: IvvySettings { server_key: None, allow_bearer: true },
        ..HttpSettings::default()
    }
}

/// A request as if it came over a socket from `from`.
fn from(address: &str, mut request: Request<Body>) -> Request<Body> {
    request.extensions_mut().insert(ConnectInfo(address.parse::<SocketAddr>().unwrap()));
    request
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    builder.body(Body::empty()).unwrap()
}

fn retry_after(reply: &Reply) -> u64 {
    reply.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap()
}

conformance! {
    async fn the_native_api_answers_429_problem_details_with_retry_after(app) {
        let t = TestApp::with_settings(app, settings()).await;
        let key = t.key("readonly").await;
        for _ in 0..2 {
            assert_eq!(t.send(get("/v1/verticals", Some(&key))).await.status, StatusCode::OK);
        }
        let limited = t.send(get("/v1/verticals", Some(&key))).await;
        assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, None);
        assert!((29..=30).contains(&retry_after(&limited)), "{:?}", limited.headers);
        assert!(limited.body["detail"].as_str().unwrap().contains("2 requests a minute for this key"), "{}", limited.text);
        let other = t.key("readonly").await;
        assert_eq!(t.send(get("/v1/verticals", Some(&other))).await.status, StatusCode::OK, "each key has its own allowance");

        for _ in 0..2 {
            let refused = t.send(from("192.0.2.7:5000", get("/v1/verticals", Some("wrong")))).await;
            assert_problem(&refused, StatusCode::UNAUTHORIZED, None);
        }
        let limited = t.send(from("192.0.2.7:5001", get("/v1/verticals", None))).await;
        assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, None);
        assert!(limited.body["detail"].as_str().unwrap().contains("without a valid key from this address"), "{}", limited.text);
        assert!(retry_after(&limited) >= 1);
        let elsewhere = t.send(from("192.0.2.8:5000", get("/v1/verticals", Some("wrong")))).await;
        assert_problem(&elsewhere, StatusCode::UNAUTHORIZED, None);
        let valid = t.send(from("192.0.2.7:5002", get("/v1/verticals", Some(&other)))).await;
        assert_eq!(valid.status, StatusCode::OK, "a valid key is counted as a key, not as the address");
    }

    async fn cake_answers_restricted_on_every_transport(app) {
        let t = TestApp::with_settings(app, settings()).await;
        let key = t.key("admin").await;
        let verticals = |key: &str| get(&format!("/api/1/get.asmx/Verticals?api_key={key}"), None);
        for _ in 0..2 {
            assert!(t.send(verticals(&key)).await.text.contains("<success>true</success>"));
        }
        let restricted = "<success>false</success><message>Restricted</message>";
        let limited = t.send(verticals(&key)).await;
        assert_eq!(limited.status, StatusCode::OK);
        assert!(limited.text.contains(restricted), "{}", limited.text);
        let json = Request::post("/api/1/get.asmx/Verticals")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!("{{\"api_key\":\"{key}\"}}")))
            .unwrap();
        let limited = t.send(json).await;
        assert_eq!(limited.body, serde_json::json!({"d": {"success": false, "message": "Restricted"}}), "{}", limited.text);
        let soap = Request::post("/api/1/get.asmx")
            .header(header::CONTENT_TYPE, "application/soap+xml; charset=utf-8")
            .body(Body::from(format!("<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><Verticals xmlns=\"http://cakemarketing.com/api/1/\"><api_key>{key}</api_key></Verticals></soap:Body></soap:Envelope>")))
            .unwrap();
        let limited = t.send(soap).await;
        assert!(limited.text.contains(&format!("<VerticalsResult>{restricted}</VerticalsResult>")), "{}", limited.text);

        for _ in 0..2 {
            assert!(t.send(from("192.0.2.7:1", verticals("wrong"))).await.text.contains("Invalid API Key"));
        }
        let limited = t.send(from("192.0.2.7:1", verticals("wrong"))).await;
        assert!(limited.text.contains(restricted), "{}", limited.text);
    }

    async fn noojee_answers_109(app) {
        let t = TestApp::with_settings(app, settings()).await;
        let key = t.key("admin").await;
        let update = |key: &str| {
            Request::post(format!("/servicemanager/rest/CampaignAPI/updateLeadFast?apiKey={key}&fTemplateId=1&fCampaignId=1&fAllocationId=1"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"njExternalLeadId":"1"}"#))
                .unwrap()
        };
        for _ in 0..2 {
            assert_ne!(t.send(update(&key)).await.body["code"], 109);
        }
        let limited = t.send(update(&key)).await;
        assert_eq!((limited.status, limited.body["code"].as_i64(), limited.body["message"].as_str()), (StatusCode::BAD_REQUEST, Some(109), Some("TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS")), "{}", limited.text);
        assert!(limited.body["detail"].as_str().unwrap().contains("2 requests a minute for this key"), "{}", limited.text);

        for _ in 0..2 {
            assert_eq!(t.send(from("[2001:db8::1]:1", update("wrong"))).await.status, StatusCode::UNAUTHORIZED);
        }
        let limited = t.send(from("[2001:db8::2]:1", update("wrong"))).await;
        assert_eq!(limited.body["code"], 109, "the same /64 network: {}", limited.text);
    }

    async fn ivvy_answers_its_error_body_with_429(app) {
        let t = TestApp::with_settings(app, settings()).await;
        let key = t.key("admin").await;
        let ping = |key: &str| {
            Request::post("/api/1.0/test?action=ping")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap()
        };
        for _ in 0..2 {
            assert_eq!(t.send(ping(&key)).await.body["success"], true);
        }
        let limited = t.send(ping(&key)).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!((limited.body["errorCode"].as_i64(), limited.body["message"].as_str(), limited.body["specificCode"].as_i64()), (Some(429), Some("Too many requests"), Some(0)), "{}", limited.text);
        assert!(limited.body["additionalMessages"][0].as_str().unwrap().contains("for this key"), "{}", limited.text);
        assert!(retry_after(&limited) >= 1);

        for _ in 0..2 {
            assert_eq!(t.send(from("192.0.2.9:1", ping("wrong"))).await.status, StatusCode::UNAUTHORIZED);
        }
        let limited = t.send(from("192.0.2.9:1", ping("wrong"))).await;
        assert_eq!((limited.status, limited.body["errorCode"].as_i64()), (StatusCode::TOO_MANY_REQUESTS, Some(429)), "{}", limited.text);
    }

    async fn without_configured_key_limits_keys_are_not_limited(app) {
        let t = TestApp::new(app).await;
        for _ in 0..200 {
            assert_eq!(t.send(get("/v1/verticals", Some(&t.admin))).await.status, StatusCode::OK);
        }
    }
}
