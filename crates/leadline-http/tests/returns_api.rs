//! `/v1/returns`, `/v1/buyers/{id}/ledger` and `/v1/replacement-requests` through the router.

mod common;

use axum::http::StatusCode;
use common::{assert_problem, TestApp};
use leadline_app::conformance;
use serde_json::json;

/// A vertical, two buyers with a contract each, reasons, and a lead sold to the first buyer.
struct World {
    buyer: i64,
    other_buyer: i64,
    contract: i64,
    vertical: i64,
    reason: i64,
    denied: i64,
    lead: i64,
}

async fn world(t: &TestApp) -> World {
    let vertical = t.create("verticals", json!({"name": "Solar"})).await;
    let buyer = t.create("buyers", json!({"name": "Acme"})).await;
    let other_buyer = t.create("buyers", json!({"name": "Globex"})).await;
    let contract = t
        .create("buyer-contracts", json!({"buyer_id": buyer, "vertical_id": vertical, "name": "A", "price": "19.99"}))
        .await;
    t.create("buyer-contracts", json!({"buyer_id": other_buyer, "vertical_id": vertical, "name": "G", "price": "5"}))
        .await;
    let reason = t.create("return-reasons", json!({"name": "Disconnected"})).await;
    let denied = t.create("reject-reasons", json!({"name": "Contacted"})).await;
    let lead = t.post("/v1/leads", json!({"vertical_id": vertical})).await.body["id"].as_i64().unwrap();
    let sale = t.post("/v1/sales", json!({"lead_id": lead, "buyer_contract_id": contract})).await;
    assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.text);
    World { buyer, other_buyer, contract, vertical, reason, denied, lead }
}

conformance! {
    async fn a_buyer_submits_and_an_admin_approves_for_credit(app) {
        let t = TestApp::new(app).await;
        let w = world(&t).await;
        let buyer = t.buyer_key(w.buyer).await;

        let submitted = t.call("POST", "/v1/returns", Some(&buyer), Some(&json!({"lead_id": w.lead, "return_reason_id": w.reason}))).await;
        assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.text);
        let id = submitted.body["id"].as_i64().unwrap();
        assert_eq!(submitted.body["status"], "pending");
        assert_eq!((submitted.body["buyer_id"].as_i64(), submitted.body["buyer_contract_id"].as_i64()), (Some(w.buyer), Some(w.contract)));

        let again = t.call("POST", "/v1/returns", Some(&buyer), Some(&json!({"lead_id": w.lead, "return_reason_id": w.reason}))).await;
        assert_problem(&again, StatusCode::CONFLICT, None);
        assert_eq!(again.body["detail"], "the lead is already in the return list");

        let pending = t.get("/v1/returns?status=pending").await;
        assert_eq!(pending.body["items"].as_array().unwrap().len(), 1);
        assert_problem(&t.get("/v1/returns?status=open").await, StatusCode::BAD_REQUEST, Some("status"));

        // A buyer key cannot decide, not even its own return.
        let by_buyer = t.call("POST", &format!("/v1/returns/{id}/approve"), Some(&buyer), Some(&json!({"for": "credit"}))).await;
        assert_problem(&by_buyer, StatusCode::FORBIDDEN, None);
        assert_problem(&t.post(&format!("/v1/returns/{id}/approve"), json!({"for": "cash"})).await, StatusCode::BAD_REQUEST, Some("for"));

        let approved = t.post(&format!("/v1/returns/{id}/approve"), json!({"for": "credit"})).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
        assert_eq!(approved.body["status"], "approved_credit");
        let rejected = t.post(&format!("/v1/returns/{id}/reject"), json!({"denied_reason_id": w.denied})).await;
        assert_problem(&rejected, StatusCode::CONFLICT, None);
        assert_eq!(rejected.body["detail"], "the return was already decided (approved_credit)");

        let ledger = t.call("GET", &format!("/v1/buyers/{}/ledger", w.buyer), Some(&buyer), None).await;
        assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.text);
        assert_eq!(ledger.body["balance"], "19.99");
        let entry = &ledger.body["entries"]["items"][0];
        assert_eq!((entry["kind"].as_str(), entry["amount"].as_str(), entry["return_id"].as_i64()), (Some("buyer_credit"), Some("19.99"), Some(id)));
        // Another buyer's ledger is not there for this key.
        assert_problem(&t.call("GET", &format!("/v1/buyers/{}/ledger", w.other_buyer), Some(&buyer), None).await, StatusCode::NOT_FOUND, None);
        assert_eq!(t.get(&format!("/v1/buyers/{}/ledger", w.other_buyer)).await.body["balance"], "0.00");
    }

    async fn a_buyer_hears_the_same_about_a_missing_lead_and_one_it_did_not_buy(app) {
        let t = TestApp::new(app).await;
        let w = world(&t).await;
        let other = t.buyer_key(w.other_buyer).await;
        let unsold = t.post("/v1/leads", json!({"vertical_id": w.vertical})).await.body["id"].as_i64().unwrap();
        let missing = t.call("POST", "/v1/returns", Some(&other), Some(&json!({"lead_id": 987654, "return_reason_id": w.reason}))).await;
        assert_problem(&missing, StatusCode::BAD_REQUEST, Some("lead_id"));
        for (what, body) in [
            ("sold to another buyer", json!({"lead_id": w.lead, "return_reason_id": w.reason})),
            ("never sold", json!({"lead_id": unsold, "return_reason_id": w.reason})),
            ("sold to another buyer, asked for by a contract", json!({"lead_id": w.lead, "buyer_contract_id": w.contract, "return_reason_id": w.reason})),
            ("missing, asked for by a contract", json!({"lead_id": 987654, "buyer_contract_id": w.contract, "return_reason_id": w.reason})),
        ] {
            let reply = t.call("POST", "/v1/returns", Some(&other), Some(&body)).await;
            assert_eq!((reply.status, &reply.text), (missing.status, &missing.text), "{what}");
        }
        // An admin key is still told what is wrong.
        assert_eq!(t.post("/v1/returns", json!({"lead_id": 987654, "return_reason_id": w.reason})).await.body["detail"], "no lead has this id or ref");
        assert_eq!(t.post("/v1/returns", json!({"lead_id": unsold, "return_reason_id": w.reason})).await.body["detail"], "the lead was never sold");
    }

    async fn replacement_and_rejection_through_the_api(app) {
        let t = TestApp::new(app).await;
        let w = world(&t).await;
        let reject = t.post("/v1/returns", json!({"lead_id": w.lead, "return_reason_id": w.reason, "decision": "reject"})).await;
        assert_problem(&reject, StatusCode::BAD_REQUEST, None);
        assert_eq!(reject.body["detail"], "a rejection needs a denied (reject) reason");
        assert_problem(&t.post("/v1/returns", json!({"lead_id": w.lead, "return_reason_id": w.reason, "decision": "maybe"})).await, StatusCode::BAD_REQUEST, None);
        assert_problem(&t.post("/v1/returns", json!({"lead_id": w.lead, "return_reason_id": 77})).await, StatusCode::BAD_REQUEST, Some("return_reason_id"));

        let replace = t.post("/v1/returns", json!({"lead_id": w.lead, "return_reason_id": w.reason, "decision": "approve_to_replace"})).await;
        assert_eq!(replace.status, StatusCode::CREATED, "{}", replace.text);
        let requests = t.get("/v1/replacement-requests?status=pending").await;
        let request = requests.body["items"][0].clone();
        assert_eq!((request["return_id"].clone(), request["buyer_id"].as_i64()), (replace.body["id"].clone(), Some(w.buyer)));

        let substitute = t.post("/v1/leads", json!({"vertical_id": w.vertical})).await.body["id"].as_i64().unwrap();
        let fulfilled = t.post(&format!("/v1/replacement-requests/{}/fulfil", request["id"]), json!({"lead_id": substitute})).await;
        assert_eq!(fulfilled.status, StatusCode::CREATED, "{}", fulfilled.text);
        assert_eq!((fulfilled.body["price"].as_str(), fulfilled.body["lead_id"].as_i64()), (Some("0.00"), Some(substitute)));
        assert!(t.get("/v1/replacement-requests?status=pending").await.body["items"].as_array().unwrap().is_empty());
        let fulfilled_requests = t.get("/v1/replacement-requests?status=fulfilled").await;
        assert_eq!(fulfilled_requests.body["items"][0]["fulfilled_sale_id"], fulfilled.body["id"]);
        assert_problem(&t.get("/v1/replacement-requests?status=late").await, StatusCode::BAD_REQUEST, Some("status"));
        assert_problem(&t.post("/v1/returns/999/reject", json!({"denied_reason_id": w.denied})).await, StatusCode::NOT_FOUND, None);
        assert_eq!(t.get(&format!("/v1/buyers/{}/ledger", w.buyer)).await.body["balance"], "0.00");
    }
}
