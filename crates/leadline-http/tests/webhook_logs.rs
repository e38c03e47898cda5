//! What the webhook worker logs of a failed delivery. Alone in its test binary: it reads log
//! lines through a subscriber set for this thread, which tests running beside it on other
//! threads would otherwise race for tracing's per-call-site interest.

mod common;

use axum::http::StatusCode;
use common::logs::Buffer;
use common::TestApp;
use leadline_app::outbound::OutboundPolicy;
use leadline_app::outbox::{WebhookSettings, Worker};
use leadline_app::testing::{Backend, TestDb};
use serde_json::json;

#[tokio::test]
async fn a_failed_delivery_is_logged_with_the_receivers_origin_only() {
    let db = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let t = TestApp::new(db.app.clone()).await;
    // A webhook URL may carry a lead's phone or name in its path or query. Port 9: nothing listens.
    let hook = "http://127.0.0.1:9/hook/0412345678?name=Ann";
    let catalog = json!({
        "campaign-templates": [{"id": 1, "name": "T"}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "C"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "A"}],
        "dispositions": [{"id": 1, "template_id": 1, "code": "Hook", "closes_lead": true,
                          "actions": [{"type": "url", "url": hook}]}]
    });
    assert_eq!(t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await.status, StatusCode::OK);
    let created = t.post("/v1/leads", json!({"name": "x", "campaign_id": 1, "allocation_id": 1})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "Hook"})).await;
    let policy = OutboundPolicy::allowing(&["127.0.0.1"]).unwrap();
    let settings = WebhookSettings { secret: Some("k".into()), policy, ..Default::default() };
    let worker = Worker::new(db.app.clone(), settings).await.unwrap();

    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).finish();
    let delivered = {
        let _logging = tracing::subscriber::set_default(subscriber);
        worker.deliver_due().await.unwrap()
    };
    assert_eq!(delivered, 0);
    let lines = logs.take_lines();
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("webhook delivery failed")).collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert!(failed[0].contains("http://127.0.0.1:9"), "{}", failed[0]);
    assert!(!failed[0].contains("0412345678") && !failed[0].contains("Ann"), "{}", failed[0]);
    db.remove().await;
}
