//! The VICIdial archive dialect on Leadline's own store: every documented response of the seed
//! page with its exact status and body, the dearchive call, office hours, the configurable limit,
//! and what archiving does to a lead (gone from lists and dialing, readable in the archive, back
//! whole with its history).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use leadline_app::conformance;
use leadline_app::testing::TestClock;
use leadline_core::archive::OfficeHours;
use leadline_core::schedule::Window;
use leadline_http::vicidial::VicidialSettings;
use leadline_http::HttpSettings;
use serde_json::{json, Value};

async fn call(t: &TestApp, path: &str, authorization: Option<&str>, body: &str) -> Reply {
    let mut request = Request::post(path).header("Content-Type", "application/json");
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    t.send(request.body(Body::from(body.to_string())).unwrap()).await
}

async fn archive(t: &TestApp, body: Value) -> Reply {
    call(t, "/vicidial/leads/archive", Some(&format!("Key={}", t.admin)), &body.to_string()).await
}

async fn dearchive(t: &TestApp, body: Value) -> Reply {
    call(t, "/vicidial/leads/dearchive", Some(&format!("Key={}", t.admin)), &body.to_string()).await
}

fn all_steps(ids: Value) -> Value {
    json!({"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": ids})
}

#[track_caller]
fn assert_reply(reply: &Reply, status: StatusCode, body: Value) {
    assert_eq!((reply.status, &reply.body), (status, &body), "{}", reply.text);
    assert!(reply.content_type().starts_with("application/json"), "{}", reply.content_type());
}

async fn lead(t: &TestApp, name: &str, phone: &str) -> i64 {
    let reply = t.post("/v1/leads", json!({"name": name, "last_name": "Smith", "phones": [phone]})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

fn ok(select: u64, insert: u64, update: u64, delete: u64) -> Value {
    json!({"message": "lead_ids batch was successfully processed", "select_count": select,
           "insert_count": insert, "update_count": update, "delete_count": delete})
}

conformance! {
    async fn the_seed_example_archives_two_leads_and_reports_its_counts(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let b = lead(&t, "Bob", "0299990001").await;
        let before = t.get(&format!("/v1/leads/{a}")).await.body;
        let reply = archive(&t, all_steps(json!([a, b]))).await;
        assert_reply(&reply, StatusCode::OK, ok(2, 2, 0, 2));
        assert_eq!(t.get(&format!("/v1/leads/{a}")).await.status, StatusCode::NOT_FOUND);
        let listed = t.get("/v1/leads").await;
        assert_eq!(listed.body["items"], json!([]), "archived leads leave the lead lists");
        let archived = t.get(&format!("/v1/archive/leads/{a}")).await;
        assert_eq!((archived.status, &archived.body), (StatusCode::OK, &before), "archived as it was");
        assert_eq!(t.get("/v1/archive/leads/999").await.status, StatusCode::NOT_FOUND);
    }

    async fn the_steps_run_insert_then_update_then_delete_and_each_can_be_left_out(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let copy = json!({"insert_leads": true, "update_leads": false, "delete_leads": false, "lead_ids": [a]});
        assert_reply(&archive(&t, copy.clone()).await, StatusCode::OK, ok(1, 1, 0, 0));
        // Present already: not inserted again, and an update with nothing to change is not made.
        assert_reply(&archive(&t, all_steps(json!([a]))).await, StatusCode::OK, ok(1, 0, 0, 1));
        let b = lead(&t, "Bob", "0299990001").await;
        assert_reply(&archive(&t, copy.clone()).await, StatusCode::BAD_REQUEST,
            json!({"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [a]}));
        let copy_b = json!({"insert_leads": true, "update_leads": false, "delete_leads": false, "lead_ids": [b]});
        assert_reply(&archive(&t, copy_b).await, StatusCode::OK, ok(1, 1, 0, 0));
        let changed = t.patch(&format!("/v1/leads/{b}"), json!({"city": "Perth"})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        // Without the update the archive copy is stale, so the live row stays.
        let no_update = json!({"insert_leads": true, "update_leads": false, "delete_leads": true, "lead_ids": [b]});
        assert_reply(&archive(&t, no_update).await, StatusCode::OK, ok(1, 0, 0, 0));
        assert_eq!(t.get(&format!("/v1/leads/{b}")).await.status, StatusCode::OK);
        // The update refreshes the copy first, then the delete finds it equal.
        assert_reply(&archive(&t, all_steps(json!([b]))).await, StatusCode::OK, ok(1, 0, 1, 1));
        assert_eq!(t.get(&format!("/v1/archive/leads/{b}")).await.body["city"], "Perth");
    }

    async fn a_key_that_cannot_be_validated_gets_401_and_its_message(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let body = all_steps(json!([a])).to_string();
        let readonly = t.key("readonly").await;
        let archiver = t.key("archiver").await;
        let unauthorized = json!({"message": "unable to validate api user"});
        for header in [None, Some(format!("Bearer {}", t.admin)), Some("Key=ll_nope".to_string()),
                       Some("Key=".to_string()), Some(format!("Key={readonly}")), Some(t.admin.clone())] {
            for path in ["/vicidial/leads/archive", "/vicidial/leads/dearchive"] {
                let reply = call(&t, path, header.as_deref(), &body).await;
                assert_reply(&reply, StatusCode::UNAUTHORIZED, unauthorized.clone());
            }
        }
        let reply = call(&t, "/vicidial/leads/archive", Some(&format!("Key={archiver}")), &body).await;
        assert_reply(&reply, StatusCode::OK, ok(1, 1, 0, 1));
    }

    async fn inside_office_hours_archive_gets_403_and_dearchive_is_allowed(app) {
        let clock = TestClock::at("2026-12-17T22:00:00Z"); // Friday 09:00 in Sydney
        let app = leadline_app::App { clock: clock.clone(), ..app };
        let windows = vec![Window { day: "fri".into(), start: "08:00".into(), end: "18:00".into() }];
        let hours = OfficeHours::new("Australia/Sydney", &windows, &["2026-12-25".into()]).unwrap();
        let settings = HttpSettings {
            vicidial: VicidialSettings { office_hours: Some(hours), ..VicidialSettings::default() },
            ..HttpSettings::default()
        };
        let t = TestApp::with_settings(app, settings).await;
        let a = lead(&t, "Ann", "0299990000").await;
        assert_reply(&archive(&t, all_steps(json!([a]))).await, StatusCode::FORBIDDEN,
            json!({"message": "api cannot be executed during office hours time condition"}));
        assert_eq!(t.get(&format!("/v1/leads/{a}")).await.status, StatusCode::OK, "nothing moved");
        // Office hours are checked after the key: a bad key still gets 401.
        let reply = call(&t, "/vicidial/leads/archive", Some("Key=nope"), &all_steps(json!([a])).to_string()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        clock.advance(jiff::SignedDuration::from_hours(10)); // 19:00 local: after hours
        assert_reply(&archive(&t, all_steps(json!([a]))).await, StatusCode::OK, ok(1, 1, 0, 1));
        clock.advance(jiff::SignedDuration::from_hours(-10)); // back inside
        let back = dearchive(&t, json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a]})).await;
        assert_reply(&back, StatusCode::OK,
            json!({"message": "lead_ids batch was successfully processed", "select_count": 1, "insert_count": 1, "delete_count": 1}));
        clock.advance(jiff::SignedDuration::from_hours(7 * 24)); // Friday 2026-12-25, 09:00: a holiday
        assert_reply(&archive(&t, all_steps(json!([a]))).await, StatusCode::OK, ok(1, 1, 0, 1));
    }

    async fn each_bad_field_gets_the_seed_400_with_its_message_and_ids(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let plain = |message: &str| json!({"message": message, "lead_errors": 0, "lead_ids": []});
        let cases = [
            (json!({"update_leads": true, "delete_leads": true, "lead_ids": [a]}), plain("insert_leads must be a boolean value")),
            (json!({"insert_leads": "true", "update_leads": true, "delete_leads": true, "lead_ids": [a]}), plain("insert_leads must be a boolean value")),
            (json!({"insert_leads": true, "update_leads": 1, "delete_leads": true, "lead_ids": [a]}), plain("update_leads must be a boolean value")),
            (json!({"insert_leads": true, "update_leads": true, "lead_ids": [a]}), plain("delete_leads must be a boolean value")),
            (all_steps(json!(["0"])), json!({"message": "lead_ids must only contain integer values", "lead_errors": 1, "lead_ids": ["0"]})),
            (all_steps(json!([a, "2", 3.5])), json!({"message": "lead_ids must only contain integer values", "lead_errors": 2, "lead_ids": ["2", 3.5]})),
            (all_steps(json!([])), plain("lead_ids must contain atleast 1 value")),
            (json!({"insert_leads": true, "update_leads": true, "delete_leads": true}), plain("lead_ids must contain atleast 1 value")),
            (all_steps(json!((1..=501).collect::<Vec<i64>>())), plain("lead_ids cannot exceed 500 values")),
            (all_steps(json!([0, 0])), json!({"message": "lead_ids cannot contain duplicate values", "lead_errors": 1, "lead_ids": [0]})),
            (all_steps(json!([0])), json!({"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [0]})),
            (all_steps(json!([a, 0, 77])), json!({"message": "lead_ids does not exist", "lead_errors": 2, "lead_ids": [0, 77]})),
        ];
        for (body, expected) in cases {
            assert_reply(&archive(&t, body).await, StatusCode::BAD_REQUEST, expected);
        }
        assert_eq!(t.get(&format!("/v1/leads/{a}")).await.status, StatusCode::OK, "a refused batch moves nothing");
        assert_eq!(t.get(&format!("/v1/archive/leads/{a}")).await.status, StatusCode::NOT_FOUND);
        let missing = dearchive(&t, json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a]})).await;
        assert_reply(&missing, StatusCode::BAD_REQUEST,
            json!({"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [a]}));
        let no_flag = dearchive(&t, json!({"insert_leads": true, "lead_ids": [a]})).await;
        assert_reply(&no_flag, StatusCode::BAD_REQUEST, plain("delete_leads must be a boolean value"));
    }

    async fn a_body_that_does_not_parse_gets_the_seed_500_shape(app) {
        let t = TestApp::new(app).await;
        let body = "{\n  \"insert_leads\": true,\n  \"lead_ids\": [\n    1,\n    s\n  ]\n}";
        let reply = call(&t, "/vicidial/leads/archive", Some(&format!("Key={}", t.admin)), body).await;
        assert_reply(&reply, StatusCode::INTERNAL_SERVER_ERROR, json!({
            "message": "expected value. Path 'lead_ids[1]', line 5, position 5.", "lead_errors": 0, "lead_ids": []}));
        let reply = call(&t, "/vicidial/leads/archive", Some(&format!("Key={}", t.admin)), "").await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!((&reply.body["lead_errors"], &reply.body["lead_ids"]), (&json!(0), &json!([])));
        assert!(reply.body["message"].as_str().unwrap().starts_with("EOF while parsing"), "{}", reply.text);
    }

    async fn the_id_limit_is_a_setting(app) {
        let settings = HttpSettings {
            vicidial: VicidialSettings { max_lead_ids: 2, ..VicidialSettings::default() },
            ..HttpSettings::default()
        };
        let t = TestApp::with_settings(app, settings).await;
        assert_reply(&archive(&t, all_steps(json!([1, 2, 3]))).await, StatusCode::BAD_REQUEST,
            json!({"message": "lead_ids cannot exceed 2 values", "lead_errors": 0, "lead_ids": []}));
    }

    async fn a_dearchived_lead_comes_back_whole_with_its_history_and_dials_again(app) {
        let t = TestApp::new(app).await;
        let (_, _, campaign, allocation) = t.campaign().await;
        let created = t.post("/v1/leads", json!({"name": "Ann", "phones": ["0299990000", "0299990009"],
            "campaign_id": campaign, "allocation_id": allocation, "fields": {"Colour": "blue"}})).await;
        let id = created.body["id"].as_i64().unwrap();
        t.patch(&format!("/v1/leads/{id}"), json!({"city": "Perth"})).await;
        let before = t.get(&format!("/v1/leads/{id}")).await.body;
        let history_before = t.get(&format!("/v1/leads/{id}/history")).await.body["items"].as_array().unwrap().len();
        assert_reply(&archive(&t, all_steps(json!([id]))).await, StatusCode::OK, ok(1, 1, 0, 1));
        let next = t.post(&format!("/v1/allocations/{allocation}/next-lead"), json!({"holder": "agent-1"})).await;
        assert_ne!(next.body["id"], json!(id), "an archived lead is not dialed: {}", next.text);
        let by_phone = t.get("/v1/leads?phone=0299990009").await;
        assert_eq!(by_phone.body["items"], json!([]));
        let back = dearchive(&t, json!({"insert_leads": true, "delete_leads": true, "lead_ids": [id]})).await;
        assert_reply(&back, StatusCode::OK,
            json!({"message": "lead_ids batch was successfully processed", "select_count": 1, "insert_count": 1, "delete_count": 1}));
        assert_eq!(t.get(&format!("/v1/leads/{id}")).await.body, before, "every field as it was");
        assert_eq!(t.get("/v1/leads?phone=0299990009").await.body["items"][0]["id"], json!(id), "phones indexed again");
        let history = t.get(&format!("/v1/leads/{id}/history")).await.body;
        let actions: Vec<&str> = history["items"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
        assert_eq!(actions.len(), history_before + 2, "{actions:?}");
        assert_eq!(&actions[history_before..], ["archived", "dearchived"]);
        assert_eq!(t.get(&format!("/v1/archive/leads/{id}")).await.status, StatusCode::NOT_FOUND);
        let next = t.post(&format!("/v1/allocations/{allocation}/next-lead"), json!({"holder": "agent-1"})).await;
        assert_eq!(next.body["id"], json!(id), "dialable again: {}", next.text);
    }

    async fn dearchive_copies_back_unless_present_and_deletes_only_matching_archive_rows(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let copy = json!({"insert_leads": true, "update_leads": false, "delete_leads": false, "lead_ids": [a]});
        assert_reply(&archive(&t, copy).await, StatusCode::OK, ok(1, 1, 0, 0));
        t.patch(&format!("/v1/leads/{a}"), json!({"city": "Perth"})).await;
        // Live and archived both: nothing copied back, and the stale archive row is kept.
        let reply = dearchive(&t, json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a]})).await;
        assert_reply(&reply, StatusCode::OK,
            json!({"message": "lead_ids batch was successfully processed", "select_count": 1, "insert_count": 0, "delete_count": 0}));
        assert_eq!(t.get(&format!("/v1/leads/{a}")).await.body["city"], "Perth", "the live row wins");
        assert_eq!(t.get(&format!("/v1/archive/leads/{a}")).await.status, StatusCode::OK);
    }

    async fn a_new_lead_never_takes_an_archived_leads_id(app) {
        let t = TestApp::new(app).await;
        lead(&t, "Ann", "0299990000").await;
        let top = lead(&t, "Bob", "0299990001").await;
        assert_reply(&archive(&t, all_steps(json!([top]))).await, StatusCode::OK, ok(1, 1, 0, 1));
        let next = lead(&t, "Cy", "0299990002").await;
        assert!(next > top, "new id {next} must lie above archived {top}");
        let taken = t.post("/v1/leads", json!({"id": top, "name": "Dee", "phones": ["0299990003"]})).await;
        assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
        let chosen = t.post("/v1/leads", json!({"id": top + 100, "name": "Eve", "phones": ["0299990004"]})).await;
        assert_eq!(chosen.status, StatusCode::CREATED, "{}", chosen.text);
        assert_reply(&archive(&t, all_steps(json!([top + 100]))).await, StatusCode::OK, ok(1, 1, 0, 1));
        let after = lead(&t, "Fay", "0299990005").await;
        assert!(after > top + 100, "new id {after} must lie above archived {}", top + 100);
    }

    async fn sold_and_leased_leads_stay_live(app) {
        let t = TestApp::new(app).await;
        let (vertical, _, campaign, allocation) = t.campaign().await;
        let buyer = t.create("buyers", json!({"name": "B"})).await;
        let contract = t.create("buyer-contracts", json!({"name": "K", "buyer_id": buyer, "vertical_id": vertical, "price": "10.00"})).await;
        let sold = t.post("/v1/leads", json!({"name": "S", "phones": ["0299990000"], "vertical_id": vertical})).await.body["id"].as_i64().unwrap();
        let sale = t.post("/v1/sales", json!({"lead_id": sold, "buyer_contract_id": contract})).await;
        assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.text);
        let leased = t.post("/v1/leads", json!({"name": "L", "phones": ["0299990001"], "campaign_id": campaign, "allocation_id": allocation})).await.body["id"].as_i64().unwrap();
        let next = t.post(&format!("/v1/allocations/{allocation}/next-lead"), json!({"holder": "agent-1"})).await;
        assert_eq!(next.body["id"], json!(leased), "{}", next.text);
        assert_reply(&archive(&t, all_steps(json!([sold, leased]))).await, StatusCode::OK, ok(2, 2, 0, 0));
        assert_eq!(t.get(&format!("/v1/leads/{sold}")).await.status, StatusCode::OK);
        assert_eq!(t.get(&format!("/v1/leads/{leased}")).await.status, StatusCode::OK);
    }
    async fn two_batches_over_the_same_leads_at_once_archive_each_lead_once(app) {
        let t = TestApp::new(app).await;
        let mut ids = Vec::new();
        for i in 0..40 {
            ids.push(lead(&t, "Ann", &format!("02999900{i:02}")).await);
        }
        let (first, second) = tokio::join!(archive(&t, all_steps(json!(ids))), archive(&t, all_steps(json!(ids))));
        let mut statuses = [first.status, second.status];
        statuses.sort();
        // One runs first and moves everything; the other then finds no live lead left.
        assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST], "{} / {}", first.text, second.text);
        let done = if first.status == StatusCode::OK { &first } else { &second };
        assert_eq!(done.body, ok(40, 40, 0, 40));
        for id in ids {
            assert_eq!(t.get(&format!("/v1/archive/leads/{id}")).await.status, StatusCode::OK);
        }
    }
    async fn any_json_body_gets_200_or_a_400_with_a_message_never_a_5xx(app) {
        let t = TestApp::new(app).await;
        let a = lead(&t, "Ann", "0299990000").await;
        let flags = [json!(true), json!(false), json!("true"), json!(1), json!(null), json!({})];
        let id_lists = [json!([]), json!([a]), json!([a.to_string()]), json!([1.5]), json!("x"), json!({}), json!([a, a]),
            json!(null), json!([-1]), json!([u64::MAX]), json!([[a]]), json!((0..600).collect::<Vec<i64>>())];
        let mut bodies = vec![json!(null), json!([]), json!("text"), json!(7), json!({})];
        for flag in &flags {
            for ids in &id_lists {
                bodies.push(json!({"insert_leads": flag, "update_leads": true, "delete_leads": false, "lead_ids": ids}));
            }
            for other in &flags {
                bodies.push(json!({"insert_leads": true, "update_leads": flag, "delete_leads": other, "lead_ids": [a]}));
            }
        }
        for body in bodies {
            for path in ["/vicidial/leads/archive", "/vicidial/leads/dearchive"] {
                let reply = call(&t, path, Some(&format!("Key={}", t.admin)), &body.to_string()).await;
                assert!(matches!(reply.status, StatusCode::OK | StatusCode::BAD_REQUEST), "{path} {body}: {}", reply.text);
                assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}: {}", reply.text);
                if reply.status == StatusCode::BAD_REQUEST {
                    assert!(reply.body["lead_errors"].is_u64() && reply.body["lead_ids"].is_array(), "{}", reply.text);
                }
            }
        }
    }
}
