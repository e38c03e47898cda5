//! `TestApp`: the HTTP router over a fresh database, with an admin key and one method per verb.

#![allow(dead_code)]

pub mod logs;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use leadline_app::keys::{self, KeyRequest};
use leadline_app::{App, Principal};
use leadline_http::{router, HttpSettings};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub app: App,
    pub router: Router,
    pub admin: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl TestApp {
    pub async fn new(app: App) -> TestApp {
        TestApp::with_settings(app, HttpSettings::default()).await
    }

    pub async fn with_settings(app: App, settings: HttpSettings) -> TestApp {
        let admin = TestApp::make_key(&app, "admin", None, vec![], None).await;
        TestApp { router: router(app.clone(), settings), app, admin }
    }

    async fn make_key(app: &App, role: &str, buyer: Option<i64>, campaigns: Vec<i64>, expires: Option<&str>) -> String {
        let request = KeyRequest {
            role: role.into(),
            name: None,
            buyer_id: buyer,
            campaign_ids: campaigns,
            expires_in: expires.map(str::to_string),
        };
        keys::create(app, &Principal::operator(), &request).await.expect("a test key is created").secret
    }

    pub async fn key(&self, role: &str) -> String {
        TestApp::make_key(&self.app, role, None, vec![], None).await
    }

    pub async fn buyer_key(&self, buyer: i64) -> String {
        TestApp::make_key(&self.app, "buyer", Some(buyer), vec![], None).await
    }

    pub async fn dialer_key(&self, campaigns: Vec<i64>) -> String {
        TestApp::make_key(&self.app, "dialer", None, campaigns, None).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router always answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("the body is readable").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, text, body }
    }

    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match body {
            Some(value) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, Some(&self.admin.clone()), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(&self.admin.clone()), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(&self.admin.clone()), Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, Some(&self.admin.clone()), None).await
    }

    /// Creates a catalog object through the API and returns its id.
    pub async fn create(&self, collection: &str, body: Value) -> i64 {
        let reply = self.post(&format!("/v1/{collection}"), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "creating in {collection}: {}", reply.text);
        reply.body["id"].as_i64().unwrap()
    }

    /// A vertical, a template, a campaign and an allocation: ids in that order.
    pub async fn campaign(&self) -> (i64, i64, i64, i64) {
        let vertical = self.create("verticals", serde_json::json!({"name": "Solar"})).await;
        let template = self.create("campaign-templates", serde_json::json!({"name": "T"})).await;
        let campaign = self.create("campaigns", serde_json::json!({"name": "C", "template_id": template})).await;
        let allocation = self.create("allocations", serde_json::json!({"name": "A", "campaign_id": campaign})).await;
        (vertical, template, campaign, allocation)
    }
}

/// Asserts a problem+json reply with this status, and that the field is named when given.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: StatusCode, field: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json", "{}", reply.text);
    assert_eq!(reply.body["status"], status.as_u16(), "{}", reply.text);
    assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", reply.text);
    if let Some(field) = field {
        assert_eq!(reply.body["field"], field, "{}", reply.text);
    }
}
