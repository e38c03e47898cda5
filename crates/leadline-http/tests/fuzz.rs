//! Arbitrary input never gets a 5xx: random bodies, paths and headers against the native API and
//! the Noojee dialect, for a bounded number of cases.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use leadline_app::testing::{Backend, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("phones".to_string()),
                    Just("priority".to_string()),
                    Just("FirstPhone".to_string()),
                    Just("njExternalLeadId".to_string()),
                    Just("njDisposition".to_string()),
                    Just("njCallBackDate".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_requests_never_get_a_server_error() {
    let db = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let t = TestApp::new(db.app.clone()).await;
    t.post("/v1/verticals", serde_json::json!({"id": 1, "name": "V"})).await;
    let paths = [
        "/v1/leads",
        "/v1/leads/1",
        "/v1/leads/abc",
        "/v1/verticals",
        "/v1/verticals/1",
        "/v1/queues",
        "/v1/catalog",
        "/v1/keys",
        "/v1/sales",
        "/v1/allocations/1/next-lead",
        "/v1/leads/1/disposition",
        "/servicemanager/rest/CampaignAPI/insertLeadFast?fTemplateId=1&fCampaignId=1&fAllocationId=1",
        "/servicemanager/rest/CampaignAPI/updateLeadFast?fTemplateId=x",
    ];
    let methods = ["GET", "POST", "PATCH", "PUT", "DELETE"];
    let strategy = (
        0..paths.len(),
        0..methods.len(),
        prop_oneof![json_value().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..64)],
    );
    let mut runner = TestRunner::new(Config { cases: 400, ..Config::default() });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(path, method, body)| {
            let mut uri = paths[path].to_string();
            if uri.contains("CampaignAPI") {
                uri.push_str(&format!("&apiKey={}", t.admin));
            }
            let request = Request::builder()
                .method(methods[method])
                .uri(uri)
                .header("authorization", format!("Bearer {}", t.admin))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let reply = handle.block_on(t.send(request));
            prop_assert!(
                reply.status.as_u16() < 500,
                "{} {} -> {}: {}",
                methods[method],
                paths[path],
                reply.status,
                reply.text
            );
            Ok(())
        })
    });
    db.remove().await;
    result.unwrap();
}
