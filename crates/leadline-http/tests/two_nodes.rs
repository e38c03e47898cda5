//! Two Leadline nodes on one database behave as one service: what one writes the other reads,
//! and concurrent conditional updates of one lead through both never both win. This is the
//! production set-up on PostgreSQL; on SQLite the same test runs two pools on one file.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::TestApp;
use leadline_app::testing::{Backend, TestDb};
use serde_json::{json, Value};

async fn two_nodes_behave_as_one(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let one = TestApp::new(db.app.clone()).await;
    let two = TestApp::new(db.second_node().await).await;

    // A key made on node one works on node two; a lead made on one is read on two.
    let created = one.post("/v1/leads", json!({"name": "Shared"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let seen = two.call("GET", &format!("/v1/leads/{id}"), Some(&one.admin), None).await;
    assert_eq!((seen.status, seen.body["name"].as_str()), (StatusCode::OK, Some("Shared")));
    let changed =
        two.call("PATCH", &format!("/v1/leads/{id}"), Some(&one.admin), Some(&json!({"city": "Perth"}))).await;
    assert_eq!(changed.body["version"], 2);
    assert_eq!(one.get(&format!("/v1/leads/{id}")).await.body["city"], "Perth");

    // Revoking on one node is enforced there at once, and by the other within a second (the
    // longest a node trusts a key it found live without reading it again).
    let key = one.post("/v1/keys", json!({"role": "readonly"})).await;
    let secret = key.body["secret"].as_str().unwrap().to_string();
    assert_eq!(one.call("GET", "/v1/leads", Some(&secret), None).await.status, StatusCode::OK);
    assert_eq!(two.call("GET", "/v1/leads", Some(&secret), None).await.status, StatusCode::OK);
    one.delete(&format!("/v1/keys/{}", key.body["id"])).await;
    assert_eq!(one.call("GET", "/v1/leads", Some(&secret), None).await.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(two.call("GET", "/v1/leads", Some(&secret), None).await.status, StatusCode::UNAUTHORIZED);

    // Races: the same If-Match through both nodes at once; exactly one wins every time.
    for round in 0..20 {
        let lead = one.post("/v1/leads", json!({"name": format!("race {round}")})).await.body["id"].as_i64().unwrap();
        let request = |city: &str| {
            Request::patch(format!("/v1/leads/{lead}"))
                .header(header::AUTHORIZATION, format!("Bearer {}", one.admin))
                .header(header::IF_MATCH, "\"1\"")
                .body(Body::from(json!({"city": city}).to_string()))
                .unwrap()
        };
        let (a, b) = tokio::join!(one.send(request("A")), two.send(request("B")));
        let statuses = [a.status, b.status];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::PRECONDITION_FAILED),
            "round {round}: {statuses:?} {} {}",
            a.text,
            b.text
        );
        let winner = if a.status == StatusCode::OK { "A" } else { "B" };
        let now = one.get(&format!("/v1/leads/{lead}")).await;
        assert_eq!((now.body["version"].as_i64(), now.body["city"].as_str()), (Some(2), Some(winner)));
        let history = two.get(&format!("/v1/leads/{lead}/history")).await;
        assert_eq!(history.body["items"].as_array().unwrap().len(), 2, "one create and one update");
    }
    two.app.store.close().await;
    db.remove().await;
}

/// Each node keeps the dialer set-up in memory; a change made on the other node must still be
/// what the next dialer write uses.
async fn a_set_up_change_on_one_node_is_used_by_the_others_next_dialer_write(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let one = TestApp::new(db.app.clone()).await;
    let two = TestApp::new(db.second_node().await).await;
    let catalog = |sale_closes: bool| {
        json!({
            "contact-hours": [{"id": 1, "name": "Anytime", "timezone": "UTC", "schedule": []}],
            "campaign-templates": [{"id": 7, "name": "T", "contact_hours_id": 1, "phone_country": "AU",
                "fields": [{"name": "Name", "kind": "text"}, {"name": "Phone", "kind": "phone"}]}],
            "campaigns": [{"id": 7, "template_id": 7, "name": "C"}],
            "allocations": [{"id": 7, "campaign_id": 7, "name": "A"}],
            "dispositions": [{"id": 1, "template_id": 7, "code": "Sale", "closes_lead": sale_closes, "actions": []}]
        })
    };
    async fn noojee(t: &TestApp, operation: &str, body: Value) -> common::Reply {
        let uri = format!(
            "/servicemanager/rest/CampaignAPI/{operation}?fTemplateId=7&fCampaignId=7&fAllocationId=7&apiKey={}",
            t.admin
        );
        t.send(Request::post(uri).body(Body::from(body.to_string())).unwrap()).await
    }
    assert_eq!(one.call("PUT", "/v1/catalog", Some(&one.admin), Some(&catalog(true))).await.status, StatusCode::OK);
    for (n, phone) in [(1, "0412000001"), (2, "0412000002")] {
        let loaded = noojee(&two, "insertLeadFast", json!({"njExternalLeadId": format!("E{n}"), "Phone": phone})).await;
        assert_eq!(loaded.body["code"], 0, "{}", loaded.text);
    }
    let sale = |n: i64| json!({"njExternalLeadId": format!("E{n}"), "njDisposition": "Sale", "Phone": "<No Change>"});
    let sold = noojee(&two, "updateLeadFast", sale(1)).await;
    assert_eq!(sold.body["code"], 0, "{}", sold.text);
    async fn closed(t: &TestApp, id: &Value) -> Value {
        t.get(&format!("/v1/leads/{id}")).await.body["closed"].clone()
    }
    assert_eq!(closed(&one, &sold.body["id"]).await, true);

    // Node one changes the disposition; node two (holding the old set-up) follows it at once.
    assert_eq!(one.call("PUT", "/v1/catalog", Some(&one.admin), Some(&catalog(false))).await.status, StatusCode::OK);
    let sold = noojee(&two, "updateLeadFast", sale(2)).await;
    assert_eq!(sold.body["code"], 0, "{}", sold.text);
    assert_eq!(closed(&one, &sold.body["id"]).await, false, "node two used its stale copy of the disposition");

    // A campaign made on node one is known to node two's next load.
    let mut more = catalog(false);
    more["campaigns"] = json!([{"id": 7, "template_id": 7, "name": "C"}, {"id": 8, "template_id": 7, "name": "D"}]);
    more["allocations"] = json!([{"id": 7, "campaign_id": 7, "name": "A"}, {"id": 8, "campaign_id": 8, "name": "B"}]);
    assert_eq!(one.call("PUT", "/v1/catalog", Some(&one.admin), Some(&more)).await.status, StatusCode::OK);
    let uri = format!(
        "/servicemanager/rest/CampaignAPI/insertLeadFast?fTemplateId=7&fCampaignId=8&fAllocationId=8&apiKey={}",
        two.admin
    );
    let body = json!({"njExternalLeadId": "E3", "Phone": "0412000003"}).to_string();
    let loaded = two.send(Request::post(uri).body(Body::from(body)).unwrap()).await;
    assert_eq!(loaded.body["code"], 0, "{}", loaded.text);
    two.app.store.close().await;
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_up_change_on_one_postgresql_node_is_used_by_the_other() {
    a_set_up_change_on_one_node_is_used_by_the_others_next_dialer_write(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_up_change_on_one_sqlite_node_is_used_by_the_other() {
    a_set_up_change_on_one_node_is_used_by_the_others_next_dialer_write(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgresql_database_behave_as_one_service() {
    two_nodes_behave_as_one(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_sqlite_file_behave_as_one_service() {
    two_nodes_behave_as_one(Backend::Sqlite).await;
}
