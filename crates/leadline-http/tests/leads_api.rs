//! `/v1/leads`, `/v1/leads/{id}/history` and `/v1/sales` through the router.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{assert_problem, TestApp};
use leadline_app::conformance;
use leadline_http::HttpSettings;
use serde_json::json;

conformance! {
    async fn a_created_lead_has_an_id_a_ref_and_version_one(app) {
        let t = TestApp::new(app).await;
        let (vertical, _, campaign, allocation) = t.campaign().await;
        let reply = t.post("/v1/leads", json!({
            "vertical_id": vertical, "campaign_id": campaign, "allocation_id": allocation, "external_id": "X-1",
            "name": "Ann Lee", "phones": ["+61 2 9999 0000"], "fields": {"Colour": "blue"}
        })).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(reply.headers[header::ETAG], "\"1\"");
        let lead = &reply.body;
        assert!(lead["id"].as_i64().unwrap() > 0);
        assert_eq!(lead["ref"].as_str().unwrap().len(), 8);
        assert_eq!((lead["version"].as_i64(), lead["priority"].as_i64()), (Some(1), Some(10)));
        assert_eq!(lead["phones"], json!(["61299990000"]));
        let read = t.get(&format!("/v1/leads/{}", lead["id"])).await;
        assert_eq!(read.body, reply.body);

        let chosen = t.post("/v1/leads", json!({"id": 500, "name": "Chosen"})).await;
        assert_eq!(chosen.body["id"], 500);
        assert_problem(&t.post("/v1/leads", json!({"id": 500})).await, StatusCode::CONFLICT, None);
        let after = t.post("/v1/leads", json!({"name": "Next"})).await;
        assert!(after.body["id"].as_i64().unwrap() > 500, "{}", after.text);
        let duplicate = t.post("/v1/leads", json!({"campaign_id": campaign, "external_id": "X-1"})).await;
        assert_problem(&duplicate, StatusCode::CONFLICT, None);
    }

    async fn bad_lead_input_is_refused_with_the_field_named(app) {
        let t = TestApp::new(app).await;
        let (_, _, campaign, _) = t.campaign().await;
        let other_campaign = t.create("campaigns", json!({"name": "Other", "template_id": 1})).await;
        let foreign_allocation = t.create("allocations", json!({"name": "B", "campaign_id": other_campaign})).await;
        for (body, field) in [
            (json!({"priority": 101}), "priority"),
            (json!({"phones": ["call me"]}), "phones[0]"),
            (json!({"email": "nobody"}), "email"),
            (json!({"vertical_id": 99}), "vertical_id"),
            (json!({"name": 5}), "name"),
            (json!({"version": 3}), "version"),
            (json!({"campaign_id": campaign, "allocation_id": foreign_allocation}), "allocation_id"),
            (json!({"callback_at": "tomorrow"}), "callback_at"),
        ] {
            let reply = t.post("/v1/leads", body.clone()).await;
            assert_problem(&reply, StatusCode::BAD_REQUEST, Some(field));
        }
        assert_problem(&t.call("POST", "/v1/leads", Some(&t.admin), None).await, StatusCode::BAD_REQUEST, None);
        let malformed = Request::post("/v1/leads")
            .header(header::AUTHORIZATION, format!("Bearer {}", t.admin))
            .body(Body::from("{\"name\": "))
            .unwrap();
        assert_problem(&t.send(malformed).await, StatusCode::BAD_REQUEST, None);
        assert_eq!(t.get("/v1/leads?limit=1000").await.body["items"], json!([]), "nothing was written");
    }

    async fn a_body_over_the_limit_is_refused_with_413(app) {
        let t = TestApp::with_settings(app, HttpSettings { body_limit: 1024, ..HttpSettings::default() }).await;
        let big = json!({"description": "x".repeat(2000)});
        assert_problem(&t.post("/v1/leads", big).await, StatusCode::PAYLOAD_TOO_LARGE, None);
    }

    async fn a_change_with_the_current_version_applies_and_a_stale_one_changes_nothing(app) {
        let t = TestApp::new(app).await;
        let id = t.post("/v1/leads", json!({"name": "Ann", "city": "Perth"})).await.body["id"].as_i64().unwrap();
        let path = format!("/v1/leads/{id}");
        let change = |version: &'static str, body: serde_json::Value| {
            Request::patch(path.clone())
                .header(header::AUTHORIZATION, format!("Bearer {}", t.admin))
                .header(header::IF_MATCH, version)
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let applied = t.send(change("\"1\"", json!({"city": "Sydney", "priority": 3}))).await;
        assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
        assert_eq!((applied.body["version"].as_i64(), applied.body["city"].as_str()), (Some(2), Some("Sydney")));
        assert_eq!(applied.headers[header::ETAG], "\"2\"");

        let stale = t.send(change("\"1\"", json!({"city": "Hobart"}))).await;
        assert_problem(&stale, StatusCode::PRECONDITION_FAILED, None);
        let bad = t.send(change("soon", json!({"city": "Hobart"}))).await;
        assert_problem(&bad, StatusCode::BAD_REQUEST, Some("If-Match"));
        let now = t.get(&path).await;
        assert_eq!((now.body["version"].as_i64(), now.body["city"].as_str()), (Some(2), Some("Sydney")));

        // No If-Match: applied on top of whatever is current.
        let unconditional = t.patch(&path, json!({"city": null})).await;
        assert_eq!((unconditional.body["version"].as_i64(), unconditional.body["city"].clone()), (Some(3), json!(null)));
        assert_problem(&t.patch(&path, json!({"id": 9})).await, StatusCode::BAD_REQUEST, Some("id"));
        assert_problem(&t.patch("/v1/leads/424242", json!({"city": "x"})).await, StatusCode::NOT_FOUND, None);
    }

    async fn every_change_is_in_the_history_with_key_api_and_values(app) {
        let t = TestApp::new(app).await;
        let id = t.post("/v1/leads", json!({"name": "Ann"})).await.body["id"].as_i64().unwrap();
        t.patch(&format!("/v1/leads/{id}"), json!({"name": "Anne", "city": "Perth"})).await;
        t.patch(&format!("/v1/leads/{id}"), json!({"name": "Anne"})).await; // no change, no row
        let history = t.get(&format!("/v1/leads/{id}/history")).await;
        assert_eq!(history.status, StatusCode::OK, "{}", history.text);
        let items = history.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{}", history.text);
        assert_eq!((items[0]["action"].as_str(), items[0]["api"].as_str()), (Some("create"), Some("native")));
        assert_eq!(items[0]["changes"]["name"], json!({"old": null, "new": "Ann"}));
        assert_eq!(items[1]["changes"], json!({"name": {"old": "Ann", "new": "Anne"}, "city": {"old": null, "new": "Perth"}}));
        assert!(items[1]["key_id"].as_i64().is_some());
        let paged = t.get(&format!("/v1/leads/{id}/history?limit=1")).await;
        let cursor = paged.body["next_cursor"].as_str().unwrap().to_string();
        let rest = t.get(&format!("/v1/leads/{id}/history?cursor={cursor}")).await;
        assert_eq!(rest.body["items"][0]["action"], "update");
        assert_problem(&t.get("/v1/leads/9999/history").await, StatusCode::NOT_FOUND, None);
    }

    async fn leads_are_listed_by_each_filter_and_paged_by_cursor(app) {
        let t = TestApp::new(app).await;
        let (vertical, _, campaign, allocation) = t.campaign().await;
        let queue = t.create("queues", json!({"name": "Q", "kind": "call_center"})).await;
        let a = t.post("/v1/leads", json!({"vertical_id": vertical, "campaign_id": campaign, "allocation_id": allocation, "external_id": "E1", "phones": ["0299990001"], "queue_id": queue})).await.body;
        let b = t.post("/v1/leads", json!({"vertical_id": vertical, "phones": ["0299990002"]})).await.body;
        let c = t.post("/v1/leads", json!({"name": "no filters"})).await.body;
        let ids = |reply: &common::Reply| reply.body["items"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>();
        let id = |lead: &serde_json::Value| lead["id"].as_i64().unwrap();
        for (query, expected) in [
            (format!("campaign_id={campaign}"), vec![id(&a)]),
            (format!("allocation_id={allocation}"), vec![id(&a)]),
            (format!("vertical_id={vertical}"), vec![id(&a), id(&b)]),
            (format!("queue_id={queue}"), vec![id(&a)]),
            ("phone=02%209999%200002".to_string(), vec![id(&b)]),
            ("external_id=E1".to_string(), vec![id(&a)]),
            ("updated_since=2000-01-01T00:00:00Z".to_string(), vec![id(&a), id(&b), id(&c)]),
            ("updated_since=2999-01-01T00:00:00Z".to_string(), vec![]),
        ] {
            let reply = t.get(&format!("/v1/leads?{query}")).await;
            assert_eq!(ids(&reply), expected, "{query}: {}", reply.text);
        }
        let first = t.get("/v1/leads?limit=2").await;
        assert_eq!(ids(&first), vec![id(&a), id(&b)]);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
        assert_eq!(ids(&t.get(&format!("/v1/leads?limit=2&cursor={cursor}")).await), vec![id(&c)]);
        assert_problem(&t.get("/v1/leads?colour=red").await, StatusCode::BAD_REQUEST, Some("colour"));
        assert_problem(&t.get("/v1/leads?campaign_id=x").await, StatusCode::BAD_REQUEST, Some("campaign_id"));
        assert_problem(&t.get("/v1/leads?updated_since=yesterday").await, StatusCode::BAD_REQUEST, Some("updated_since"));
        assert_problem(&t.get("/v1/leads?limit=5000").await, StatusCode::BAD_REQUEST, Some("limit"));
    }

    async fn a_sale_is_made_at_the_contract_price_and_buyers_see_only_their_own(app) {
        let t = TestApp::new(app).await;
        let vertical = t.create("verticals", json!({"name": "Solar"})).await;
        let other_vertical = t.create("verticals", json!({"name": "Loans"})).await;
        let mine = t.create("buyers", json!({"name": "Mine"})).await;
        let theirs = t.create("buyers", json!({"name": "Theirs"})).await;
        let my_contract = t.create("buyer-contracts", json!({"buyer_id": mine, "vertical_id": vertical, "name": "M", "price": "35.10"})).await;
        let their_contract = t.create("buyer-contracts", json!({"buyer_id": theirs, "vertical_id": vertical, "name": "T", "price": "20"})).await;
        let sold_to_me = t.post("/v1/leads", json!({"vertical_id": vertical})).await.body["id"].as_i64().unwrap();
        let sold_to_them = t.post("/v1/leads", json!({"vertical_id": vertical})).await.body["id"].as_i64().unwrap();
        let wrong_vertical = t.post("/v1/leads", json!({"vertical_id": other_vertical})).await.body["id"].as_i64().unwrap();

        let sale = t.post("/v1/sales", json!({"lead_id": sold_to_me, "buyer_contract_id": my_contract})).await;
        assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.text);
        assert_eq!((sale.body["price"].as_str(), sale.body["buyer_id"].as_i64()), (Some("35.10"), Some(mine)));
        t.post("/v1/sales", json!({"lead_id": sold_to_them, "buyer_contract_id": their_contract})).await;
        assert_problem(&t.post("/v1/sales", json!({"lead_id": sold_to_me, "buyer_contract_id": my_contract})).await, StatusCode::CONFLICT, None);
        assert_problem(&t.post("/v1/sales", json!({"lead_id": wrong_vertical, "buyer_contract_id": my_contract})).await, StatusCode::BAD_REQUEST, Some("buyer_contract_id"));
        assert_problem(&t.post("/v1/sales", json!({"lead_id": 999, "buyer_contract_id": my_contract})).await, StatusCode::BAD_REQUEST, Some("lead_id"));

        let buyer = t.buyer_key(mine).await;
        let sales = t.call("GET", "/v1/sales", Some(&buyer), None).await;
        assert_eq!(sales.body["items"].as_array().unwrap().len(), 1, "{}", sales.text);
        let leads = t.call("GET", "/v1/leads", Some(&buyer), None).await;
        let seen: Vec<i64> = leads.body["items"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, vec![sold_to_me]);
        assert_eq!(t.call("GET", &format!("/v1/leads/{sold_to_me}"), Some(&buyer), None).await.status, StatusCode::OK);
        assert_problem(&t.call("GET", &format!("/v1/leads/{sold_to_them}"), Some(&buyer), None).await, StatusCode::NOT_FOUND, None);
        assert_problem(&t.call("GET", &format!("/v1/leads/{sold_to_them}/history"), Some(&buyer), None).await, StatusCode::NOT_FOUND, None);
        let history = t.get(&format!("/v1/leads/{sold_to_me}/history")).await;
        assert_eq!(history.body["items"][1]["action"], "sell");
    }

    async fn a_dialer_key_works_only_inside_its_campaigns(app) {
        let t = TestApp::new(app).await;
        let (_, template, campaign, _) = t.campaign().await;
        let other = t.create("campaigns", json!({"name": "Other", "template_id": template})).await;
        let dialer = t.dialer_key(vec![campaign]).await;
        let inside = t.call("POST", "/v1/leads", Some(&dialer), Some(&json!({"campaign_id": campaign}))).await;
        assert_eq!(inside.status, StatusCode::CREATED, "{}", inside.text);
        assert_problem(&t.call("POST", "/v1/leads", Some(&dialer), Some(&json!({"campaign_id": other}))).await, StatusCode::FORBIDDEN, None);
        let id = inside.body["id"].as_i64().unwrap();
        let moved = t.call("PATCH", &format!("/v1/leads/{id}"), Some(&dialer), Some(&json!({"campaign_id": other}))).await;
        assert_problem(&moved, StatusCode::FORBIDDEN, None);
        let outside = t.post("/v1/leads", json!({"campaign_id": other})).await.body["id"].as_i64().unwrap();
        assert_problem(&t.call("GET", &format!("/v1/leads/{outside}"), Some(&dialer), None).await, StatusCode::NOT_FOUND, None);
        let listed = t.call("GET", "/v1/leads", Some(&dialer), None).await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    }
}
