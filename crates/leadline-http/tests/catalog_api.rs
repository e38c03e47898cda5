//! `/v1/<collection>` for every collection in the data model, and `PUT /v1/catalog`.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use common::{assert_problem, TestApp};
use leadline_app::conformance;
use leadline_core::catalog::{Kind, COLLECTIONS};
use serde_json::{json, Map, Value};

/// A valid object for a collection, built from its description, pointing at earlier objects.
fn sample(name: &str, ids: &HashMap<&str, i64>, n: usize) -> Value {
    let c = leadline_core::catalog::collection(name).unwrap();
    let mut object = Map::new();
    for f in c.fields {
        let value = match f.kind {
            Kind::Name => json!(format!("Sample {} {n}", c.noun)),
            Kind::Text => json!("some text"),
            Kind::Ref(target) => json!(ids[target]),
            Kind::Bool => json!(true),
            Kind::Money => json!("12.50"),
            Kind::Count => json!(7),
            Kind::Timezone => json!("Australia/Sydney"),
            Kind::OneOf(options) => json!(options[0]),
            Kind::Phone => json!(format!("02 9999 {n:04}")),
            Kind::Email => json!(format!("person{n}@example.com")),
            Kind::Schedule => json!([{"day": "mon", "start": "09:00", "end": "17:00"}]),
            Kind::TemplateFields => json!([{"name": "FirstPhone", "kind": "phone"}]),
            Kind::DispositionActions => json!([{"type": "callback", "after_minutes": 30}]),
            Kind::IdNameList => json!([{"id": 1, "name": "One"}]),
        };
        object.insert(f.name.into(), value);
    }
    Value::Object(object)
}

/// A bad value for the first field of a collection, to see the error name it.
fn bad_value(kind: Kind) -> Value {
    match kind {
        Kind::Bool => json!("yes"),
        Kind::Ref(_) | Kind::Count => json!(-4),
        Kind::Name => json!(""),
        _ => json!(12),
    }
}

conformance! {
    async fn every_collection_supports_create_get_list_change_and_delete(app) {
        let t = TestApp::new(app).await;
        let mut ids: HashMap<&str, i64> = HashMap::new();
        for (i, c) in COLLECTIONS.iter().enumerate() {
            let path = format!("/v1/{}", c.name);
            let mut body = sample(c.name, &ids, i);
            body["id"] = json!(1000 + i as i64);
            let created = t.post(&path, body.clone()).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}: {}", c.name, created.text);
            assert_eq!(created.body["id"], 1000 + i as i64, "{}", c.name);

            // The same id again is a conflict; an assigned id follows the chosen one.
            assert_problem(&t.post(&path, body.clone()).await, StatusCode::CONFLICT, None);
            let mut second = sample(c.name, &ids, i + 100);
            second.as_object_mut().unwrap().remove("id");
            let assigned = t.post(&path, second).await;
            assert_eq!(assigned.status, StatusCode::CREATED, "{}: {}", c.name, assigned.text);
            assert!(assigned.body["id"].as_i64().unwrap() > 1000 + i as i64, "{}", c.name);

            let read = t.get(&format!("{path}/{}", 1000 + i)).await;
            assert_eq!(read.status, StatusCode::OK);
            assert_eq!(read.body, created.body, "{}", c.name);

            let page = t.get(&format!("{path}?limit=1")).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
            let next = page.body["next_cursor"].as_str().expect("a full page has a cursor").to_string();
            let rest = t.get(&format!("{path}?limit=10&cursor={next}")).await;
            assert_eq!(rest.body["items"].as_array().unwrap().len(), 1, "{}: {}", c.name, rest.text);
            assert!(rest.body["next_cursor"].is_null());

            let first = &c.fields[0];
            if matches!(first.kind, Kind::Name) {
                let filtered = t.get(&format!("{path}?{}=Sample%20{}%20{i}", first.name, c.noun.replace(' ', "%20"))).await;
                assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1, "{}: {}", c.name, filtered.text);
                let changed = t.patch(&format!("{path}/{}", 1000 + i), json!({first.name: "Renamed"})).await;
                assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
                assert_eq!(changed.body[first.name], "Renamed");
            }
            let refused = t.patch(&format!("{path}/{}", 1000 + i), json!({first.name: bad_value(first.kind)})).await;
            assert_problem(&refused, StatusCode::BAD_REQUEST, Some(first.name));
            assert_problem(&t.get(&format!("{path}/999999")).await, StatusCode::NOT_FOUND, None);
            ids.insert(c.name, 1000 + i as i64);
        }
        // Children first, so each delete is of something nothing refers to any more.
        for c in COLLECTIONS.iter().rev() {
            let mut filter = String::new();
            if let Some(f) = c.fields.iter().find(|f| matches!(f.kind, Kind::Ref(_))) {
                filter = format!("?{}={}", f.name, ids[match f.kind { Kind::Ref(t) => t, _ => unreachable!() }]);
            }
            let page = t.get(&format!("/v1/{}{filter}", c.name)).await;
            for item in page.body["items"].as_array().unwrap() {
                let reply = t.delete(&format!("/v1/{}/{}", c.name, item["id"])).await;
                assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}: {}", c.name, reply.text);
            }
            assert_problem(&t.get(&format!("/v1/{}/{}", c.name, ids[c.name])).await, StatusCode::NOT_FOUND, None);
        }
    }

    async fn a_delete_is_refused_while_something_refers_to_the_object(app) {
        let t = TestApp::new(app).await;
        let vertical = t.create("verticals", json!({"name": "Solar"})).await;
        let queue = t.create("queues", json!({"name": "Q", "kind": "custom", "vertical_id": vertical})).await;
        let lead = t.post("/v1/leads", json!({"vertical_id": vertical})).await;
        assert_eq!(lead.status, StatusCode::CREATED);
        let refused = t.delete(&format!("/v1/verticals/{vertical}")).await;
        assert_problem(&refused, StatusCode::CONFLICT, None);
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(detail.contains("1 queues") && detail.contains("1 leads"), "{detail}");
        assert_eq!(t.delete(&format!("/v1/queues/{queue}")).await.status, StatusCode::NO_CONTENT);
        assert_eq!(t.get(&format!("/v1/verticals/{vertical}")).await.status, StatusCode::OK, "the refused delete changed nothing");
    }

    async fn bad_catalog_input_is_refused_with_the_field_named(app) {
        let t = TestApp::new(app).await;
        assert_problem(&t.post("/v1/queues", json!({"name": "Q", "kind": "sideways"})).await, StatusCode::BAD_REQUEST, Some("kind"));
        assert_problem(&t.post("/v1/queues", json!({"name": "Q", "kind": "custom", "vertical_id": 42})).await, StatusCode::BAD_REQUEST, Some("vertical_id"));
        assert_problem(&t.post("/v1/queues", json!({"kind": "custom"})).await, StatusCode::BAD_REQUEST, Some("name"));
        assert_problem(&t.post("/v1/queues", json!({"name": "Q", "kind": "custom", "colour": "red"})).await, StatusCode::BAD_REQUEST, Some("colour"));
        assert_problem(&t.post("/v1/queues", json!(["not", "an", "object"])).await, StatusCode::BAD_REQUEST, None);
        assert_problem(&t.post("/v1/contact-hours", json!({"name": "H", "timezone": "Mars/Base"})).await, StatusCode::BAD_REQUEST, Some("timezone"));
        assert_problem(&t.post("/v1/buyer-contracts", json!({"name": "C", "buyer_id": 1, "vertical_id": 1, "price": "1.234"})).await, StatusCode::BAD_REQUEST, Some("price"));
        let too_large = t.post("/v1/buyer-contracts", json!({"name": "C", "buyer_id": 1, "vertical_id": 1, "price": "1000000.01"})).await;
        assert_problem(&too_large, StatusCode::BAD_REQUEST, Some("price"));
        assert!(too_large.body["detail"].as_str().unwrap().contains("is beyond 1000000.00, the largest amount taken"), "{}", too_large.text);
        assert_problem(&t.get("/v1/queues?colour=red").await, StatusCode::BAD_REQUEST, Some("colour"));
        assert_problem(&t.get("/v1/queues?limit=0").await, StatusCode::BAD_REQUEST, Some("limit"));
        assert_problem(&t.get("/v1/queues?cursor=abc").await, StatusCode::BAD_REQUEST, Some("cursor"));
        assert_problem(&t.get("/v1/planets").await, StatusCode::NOT_FOUND, None);
        assert_problem(&t.get("/v1/queues/abc").await, StatusCode::NOT_FOUND, None);
        assert_problem(&t.patch("/v1/queues/77", json!({"name": "x"})).await, StatusCode::NOT_FOUND, None);
        assert_problem(&t.delete("/v1/queues/77").await, StatusCode::NOT_FOUND, None);
    }

    async fn applying_a_catalog_twice_changes_nothing_and_a_bad_file_applies_nothing(app) {
        let t = TestApp::new(app).await;
        let file = json!({
            "queues": [{"id": 5, "name": "Hot", "kind": "custom", "vertical_id": 3}],
            "verticals": [{"id": 3, "name": "Solar"}],
            "buyers": [{"id": 9, "name": "Bright"}],
            "buyer-contracts": [{"id": 2, "buyer_id": 9, "vertical_id": 3, "name": "Excl", "price": "35"}]
        });
        let first = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&file)).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        assert_eq!(first.body, json!({"created": 4, "updated": 0, "unchanged": 0}));
        let second = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&file)).await;
        assert_eq!(second.body, json!({"created": 0, "updated": 0, "unchanged": 4}));
        assert_eq!(t.get("/v1/buyer-contracts/2").await.body["price"], "35.00");

        let bad = json!({
            "verticals": [{"id": 4, "name": "Loans"}],
            "queues": [{"id": 6, "name": "Ok", "kind": "review"}, {"id": 7, "name": "Bad", "kind": "sideways"}]
        });
        let refused = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&bad)).await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, Some("queues[1].kind"));
        assert_problem(&t.get("/v1/verticals/4").await, StatusCode::NOT_FOUND, None);
        assert_problem(&t.get("/v1/queues/6").await, StatusCode::NOT_FOUND, None);
        let unknown = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&json!({"planets": []}))).await;
        assert_problem(&unknown, StatusCode::BAD_REQUEST, Some("planets"));
        let no_id = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&json!({"verticals": [{"name": "x"}]}))).await;
        assert_problem(&no_id, StatusCode::BAD_REQUEST, Some("verticals[0].id"));
    }
}
