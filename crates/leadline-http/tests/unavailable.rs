//! A database that cannot serve for now: while it cannot be reached every request is a 503
//! with `Retry-After`, and while its disk is full writes are a 507 and reads go on.

mod common;

use axum::http::{header, StatusCode};
use common::{assert_problem, TestApp};
use leadline_app::conformance;
use leadline_app::testing::{run, Backend};
use leadline_store::{Cells, Exec, Sql};
use serde_json::json;

conformance! {
    async fn a_database_that_cannot_be_reached_is_a_503_with_retry_after(app) {
        let t = TestApp::new(app.clone()).await;
        assert_eq!(t.post("/v1/leads", json!({"name": "Ann"})).await.status, StatusCode::CREATED);
        // Its pools closed, the store can reach the database no more, as when PostgreSQL is down.
        app.store.close().await;
        for reply in [t.get("/v1/leads").await, t.post("/v1/leads", json!({"name": "Bob"})).await] {
            assert_problem(&reply, StatusCode::SERVICE_UNAVAILABLE, None);
            assert_eq!(reply.headers[header::RETRY_AFTER], "5", "{}", reply.text);
            assert!(reply.body["detail"].as_str().unwrap().contains("the database cannot be reached"), "{}", reply.text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_refuses_writes_with_507_and_reads_go_on() {
    run(Backend::Sqlite, |app| async move {
        let t = TestApp::new(app.clone()).await;
        let created = t.post("/v1/leads", json!({"name": "Ann"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        // The write connection may not grow the file any more, as on a full disk.
        let mut tx = app.store.begin().await.unwrap();
        let pages = tx.one_row(&Sql::new("PRAGMA page_count")).await.unwrap().int("page_count").unwrap();
        tx.run(&Sql::new(format!("PRAGMA max_page_count = {pages}"))).await.unwrap();
        tx.commit().await.unwrap();
        let long = "x".repeat(400);
        let mut refused = None;
        for n in 0..200 {
            let reply =
                t.post("/v1/leads", json!({"name": format!("{n} {long}"), "city": long, "address1": long})).await;
            if reply.status != StatusCode::CREATED {
                refused = Some(reply);
                break;
            }
        }
        let refused = refused.expect("the file filled within 200 leads");
        assert_problem(&refused, StatusCode::INSUFFICIENT_STORAGE, None);
        assert!(refused.body["detail"].as_str().unwrap().contains("storage is full"), "{}", refused.text);
        assert!(!refused.headers.contains_key(header::RETRY_AFTER), "only an operator frees a disk");
        // Reads go on.
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.status, StatusCode::OK);
        // Room again: writes go through.
        let mut tx = app.store.begin().await.unwrap();
        tx.run(&Sql::new("PRAGMA max_page_count = 1073741823")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(t.post("/v1/leads", json!({"name": "Cy"})).await.status, StatusCode::CREATED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noojee_names_a_database_that_cannot_be_reached_in_its_exception() {
    // On PostgreSQL the dialer's writes run in sqlx transactions, whose failures say what they
    // are (SQLite's writer thread reports a failed group in words only).
    run(Backend::Postgres, |app| async move {
        let t = TestApp::new(app.clone()).await;
        let catalog = json!({
            "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": []}],
            "campaign-templates": [{"id": 1, "name": "Outbound", "contact_hours_id": 1, "phone_country": "AU",
                "fields": [{"name": "City", "kind": "text"}, {"name": "FirstPhone", "kind": "phone"}]}],
            "campaigns": [{"id": 1, "template_id": 1, "name": "Spring"}],
            "allocations": [{"id": 1, "campaign_id": 1, "name": "List A"}]
        });
        assert_eq!(t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await.status, StatusCode::OK);
        let noojee = |operation: &str, body: serde_json::Value| {
            let uri = format!(
                "/servicemanager/rest/CampaignAPI/{operation}?fTemplateId=1&fCampaignId=1&fAllocationId=1&apiKey={}",
                t.admin
            );
            axum::http::Request::post(uri)
                .header("Content-Type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap()
        };
        let body = json!({"njExternalLeadId": "E1", "City": "Carlton", "FirstPhone": "0412000001"});
        let inserted = t.send(noojee("insertLeadFast", body)).await;
        assert_eq!(inserted.body["code"], 0, "{}", inserted.text);
        app.store.close().await;
        let body = json!({"njExternalLeadId": "E1", "City": "Fitzroy", "FirstPhone": "<No Change>"});
        let refused = t.send(noojee("updateLeadFast", body)).await;
        assert_eq!(
            (refused.body["code"].as_i64(), refused.body["message"].as_str()),
            (Some(103), Some("EXCEPTION")),
            "{}",
            refused.text
        );
        assert!(
            refused.body["detail"].as_str().unwrap().contains("the database cannot be reached"),
            "{}",
            refused.text
        );
    })
    .await;
}
