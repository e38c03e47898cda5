//! The Noojee CampaignAPI dialect: every code of the vendor's table with its message and status,
//! the seed's curl example, batches, bounded waiting (109), conflicts (110), and dispositions.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use leadline_app::conformance;
use serde_json::{json, Value};

const QUERY: &str = "fTemplateId=41&fCampaignId=41&fAllocationId=38";

/// Template 41 (AU numbering, Melbourne hours all week), campaign 41, allocations 38 and 39,
/// campaign 42 with allocation 40, and dispositions with each kind of action.
async fn fixture(t: &TestApp, hook: &str) {
    let all_week: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"day": d, "start": "00:00", "end": "24:00"}))
        .collect();
    let catalog = json!({
        "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": all_week},
                          {"id": 2, "name": "Perth", "timezone": "Australia/Perth", "schedule": all_week}],
        "campaign-templates": [{"id": 41, "name": "Outbound", "contact_hours_id": 1, "phone_country": "AU", "fields": [
            {"name": "Name", "kind": "text"}, {"name": "StreetAddress", "kind": "text"}, {"name": "City", "kind": "text"},
            {"name": "State", "kind": "text"}, {"name": "PostCode", "kind": "text"},
            {"name": "FirstPhone", "kind": "phone"}, {"name": "SecondPhone", "kind": "phone"}]}],
        "campaigns": [{"id": 41, "template_id": 41, "name": "Spring"}, {"id": 42, "template_id": 41, "name": "Autumn"}],
        "allocations": [{"id": 38, "campaign_id": 41, "name": "List A"}, {"id": 39, "campaign_id": 41, "name": "List B"},
                        {"id": 40, "campaign_id": 42, "name": "List C"}],
        "dispositions": [
            {"id": 1, "template_id": 41, "code": "Sale", "closes_lead": true, "actions": [{"type": "close"}]},
            {"id": 2, "template_id": 41, "code": "Callback", "actions": [{"type": "callback", "after_minutes": 60}]},
            {"id": 3, "template_id": 41, "code": "DoNotCall", "closes_lead": true, "actions": [{"type": "dnc"}]},
            {"id": 4, "template_id": 41, "code": "Copy", "actions": [{"type": "copy_to_allocation", "allocation_id": 40}]},
            {"id": 5, "template_id": 41, "code": "Move", "actions": [{"type": "move_to_allocation", "allocation_id": 39}]},
            {"id": 6, "template_id": 41, "code": "Hook", "closes_lead": true, "actions": [{"type": "url", "url": format!("{hook}?who=${{name}}&ext=${{external_id}}")}]}
        ],
        "dnc": [{"id": 1, "phone": "03 9000 0000"}, {"id": 2, "phone": "03 9000 0001", "campaign_id": 41}]
    });
    let applied = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
}

async fn noojee(t: &TestApp, operation: &str, query: &str, body: &str) -> common::Reply {
    let uri = format!("/servicemanager/rest/CampaignAPI/{operation}?{query}&apiKey={}", t.admin);
    t.send(Request::post(uri).header("Content-Type", "application/json").body(Body::from(body.to_string())).unwrap())
        .await
}

#[track_caller]
fn assert_code(reply: &common::Reply, code: u16, message: &str, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        (reply.body["code"].as_u64(), reply.body["message"].as_str()),
        (Some(code as u64), Some(message)),
        "{}",
        reply.text
    );
}

async fn lead_by_external(t: &TestApp, campaign: i64, external: &str) -> Value {
    let page = t.get(&format!("/v1/leads?campaign_id={campaign}&external_id={external}")).await;
    page.body["items"][0].clone()
}

const JANE: &str = r#"{"Name":"Jane Smith","StreetAddress":"Suite 8/10 Hoddle St","City":"Abbotsford","State":"Vic","PostCode":"3064","FirstPhone":"0383218199","njExternalLeadId":"9856"}"#;

conformance! {
    async fn the_seed_example_inserts_then_updates_a_lead(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        let inserted = noojee(&t, "insertLeadFast", QUERY, JANE).await;
        assert_code(&inserted, 0, "OK", StatusCode::OK);
        // The seed's curl line, spaces in its query string and all.
        let update = r#"{"Name":"Jane Smith","StreetAddress":"Suite 8/10 Hoddle St", "City": "Abbotsford" , "State":"Vic", "PostCode":"3064", "FirstPhone":"0383218199", "SecondPhone":"<No Change>" , "njDisposition":"Sale"}"#;
        let updated = noojee(&t, "updateLeadFast", "fTemplateId=41&fCampaignId=41%20&fAllocationId=38&njExternalLeadId=9856&%20", update).await;
        assert_code(&updated, 0, "OK", StatusCode::OK);
        let lead = lead_by_external(&t, 41, "9856").await;
        assert_eq!((lead["disposition"].as_str(), lead["closed"].as_bool()), (Some("Sale"), Some(true)));
        assert_eq!((lead["name"].as_str(), lead["address1"].as_str(), lead["postal_code"].as_str()), (Some("Jane Smith"), Some("Suite 8/10 Hoddle St"), Some("3064")));
        assert_eq!(lead["phones"], json!(["61383218199"]));
        assert_eq!((lead["allocation_id"].as_i64(), lead["contact_hours_id"].as_i64(), lead["priority"].as_i64()), (Some(38), Some(1), Some(10)));
        let history = t.get(&format!("/v1/leads/{}/history", lead["id"])).await;
        assert_eq!(history.body["items"][1]["api"], "noojee");
        assert_eq!(history.body["items"][1]["action"], "disposition");
    }

    async fn every_code_of_the_table_is_reached_with_its_message_and_status(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        assert_code(&noojee(&t, "insertLeadFast", QUERY, JANE).await, 0, "OK", StatusCode::OK);
        let bad = StatusCode::BAD_REQUEST;
        let cases: Vec<(&str, &str, String, u16, &str)> = vec![
            ("updateLeadFast", QUERY, r#"{"njExternalLeadId":"nobody","FirstPhone":"0383218100"}"#.into(), 101, "COULDNT_FIND_THE_LEAD"),
            ("insertLeadFast", QUERY, r#"{"Name":"No Phone","njExternalLeadId":"n1"}"#.into(), 102, "NO_PHONE_FIELDS"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"not a phone"}"#.into(), 103, "EXCEPTION"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0390000000"}"#.into(), 104, "DNC"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"+61 3 9000 0001"}"#.into(), 104, "DNC"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"+61 3 8321 8199"}"#.into(), 105, "DUPLICATE"),
            ("updateLeadFast", QUERY, r#"{"njExternalLeadId":"9856","njDisposition":"Teleported"}"#.into(), 106, "INVALID_DISPOSTION"),
            ("updateLeadFast", QUERY, r#"{"njExternalLeadId":"9856","njDisposition":"<NO CHANGE>"}"#.into(), 107, "DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0383218000","SecondPhone":"<no change>"}"#.into(), 108, "IMPORT_BUT_NOCHANGE_SPECIFIED"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0383218001","njContactHours":"Mars"}"#.into(), 111, "INVALID_TIMEZONE_SPECIFIED"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0383218002","njExternalLeadId":"9856"}"#.into(), 112, "DUPLICATE_EXTERNAL_ID"),
            ("updateLeadFast", QUERY, r#"{"FirstPhone":"0383218003"}"#.into(), 113, "EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0383218004","njCallBackDate":"23-11-2026 10:00"}"#.into(), 114, "INVALID_CALLBACK_DATE_FORMAT"),
            ("insertLeadFast", "fTemplateId=41&fCampaignId=41", r#"{"FirstPhone":"0383218005"}"#.into(), 115, "ALLOCATIN_ID_REQUIRED"),
            ("insertLeadFast", "fTemplateId=41&fCampaignId=41&fAllocationId=40", r#"{"FirstPhone":"0383218005"}"#.into(), 115, "ALLOCATIN_ID_REQUIRED"),
            ("insertLeadFast", "fCampaignId=41&fAllocationId=38", r#"{"FirstPhone":"0383218006"}"#.into(), 116, "TEMPLATE_ID_REQUIRED"),
            ("insertLeadFast", "fTemplateId=99&fCampaignId=41&fAllocationId=38", r#"{"FirstPhone":"0383218006"}"#.into(), 116, "TEMPLATE_ID_REQUIRED"),
            ("insertLeadFast", "fTemplateId=41&fAllocationId=38", r#"{"FirstPhone":"0383218007"}"#.into(), 117, "CAMPAIGN_ID_REQUIRED"),
            ("insertLeadFast", "fTemplateId=41&fCampaignId=abc&fAllocationId=38", r#"{"FirstPhone":"0383218007"}"#.into(), 117, "CAMPAIGN_ID_REQUIRED"),
            ("insertLeadFast", QUERY, r#"{"FirstPhone":"0383218008","njPriority":101}"#.into(), 103, "EXCEPTION"),
            ("insertLeadFast", QUERY, "{\"FirstPhone\": ".into(), 103, "EXCEPTION"),
        ];
        for (operation, query, body, code, message) in cases {
            let reply = noojee(&t, operation, query, &body).await;
            assert_code(&reply, code, message, bad);
            assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", reply.text);
        }
        assert_eq!(t.get("/v1/leads").await.body["items"].as_array().unwrap().len(), 1, "no refused load wrote a lead");
        // Exact bodies, as clients compare them.
        let missing = noojee(&t, "updateLeadFast", QUERY, r#"{"njExternalLeadId":"nobody"}"#).await;
        assert_eq!(missing.text, r#"{"code":101,"message":"COULDNT_FIND_THE_LEAD","detail":"no lead in this campaign has that external id"}"#);
        let ok = noojee(&t, "updateLead", QUERY, r#"{"njExternalLeadId":"9856","City":"Richmond"}"#).await;
        let id = lead_by_external(&t, 41, "9856").await["id"].clone();
        assert_eq!(ok.text, format!(r#"{{"code":0,"message":"OK","id":{id},"ref":{},"njExternalLeadId":"9856"}}"#, lead_by_external(&t, 41, "9856").await["ref"]));
        // 110: an agent holds the lead.
        let leased = t.post("/v1/allocations/38/next-lead", json!({"holder": "agent-7"})).await;
        assert_eq!(leased.status, StatusCode::OK, "{}", leased.text);
        let conflict = noojee(&t, "updateLeadFast", QUERY, r#"{"njExternalLeadId":"9856","City":"Carlton"}"#).await;
        assert_code(&conflict, 110, "LEAD_NOT_UPDATED_DUE_TO_CONFLICT", bad);
        assert_eq!(lead_by_external(&t, 41, "9856").await["city"], "Richmond", "the held lead was left unchanged");
        // An unusable key and an unknown operation.
        let unauthorized = t.send(Request::post(format!("/servicemanager/rest/CampaignAPI/insertLeadFast?{QUERY}&apiKey=nope")).body(Body::from(JANE)).unwrap()).await;
        assert_eq!((unauthorized.status, unauthorized.body["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY")));
        let unknown = noojee(&t, "deleteLead", QUERY, "{}").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }

    async fn allow_duplicates_skips_the_duplicate_check_but_never_the_dnc_check(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        assert_code(&noojee(&t, "insertLeadFast", QUERY, r#"{"FirstPhone":"0383218199"}"#).await, 0, "OK", StatusCode::OK);
        assert_code(&noojee(&t, "insertLeadFast", &format!("{QUERY}&allowDuplicates=true"), r#"{"FirstPhone":"03 8321 8199"}"#).await, 0, "OK", StatusCode::OK);
        assert_code(&noojee(&t, "insertLeadFast", &format!("{QUERY}&allowDuplicates=true"), r#"{"FirstPhone":"0390000000"}"#).await, 104, "DNC", StatusCode::BAD_REQUEST);
        // Another campaign may hold the same number.
        assert_code(&noojee(&t, "insertLeadFast", "fTemplateId=41&fCampaignId=42&fAllocationId=40", r#"{"FirstPhone":"0383218199"}"#).await, 0, "OK", StatusCode::OK);
    }

    async fn a_batch_reports_each_lead_and_keeps_the_valid_ones(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        let body = r#"[{"FirstPhone":"0383218101","njExternalLeadId":"a"},{"FirstPhone":"0390000000","njExternalLeadId":"b"},{"Name":"none","njExternalLeadId":"c"},{"FirstPhone":"0383218102","njExternalLeadId":"d","njPriority":"3"}]"#;
        let reply = noojee(&t, "insertLeadFast", QUERY, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["message"], "Imported 2 Updated 0 Rejected 2 leads.");
        let codes: Vec<u64> = reply.body["results"].as_array().unwrap().iter().map(|r| r["code"].as_u64().unwrap()).collect();
        assert_eq!(codes, vec![0, 104, 102, 0]);
        assert_eq!(lead_by_external(&t, 41, "d").await["priority"], 3);
        assert!(lead_by_external(&t, 41, "b").await.is_null());
        let too_big = format!("[{}]", vec![r#"{"FirstPhone":"0383218103"}"#; 1001].join(","));
        assert_code(&noojee(&t, "insertLeadFast", QUERY, &too_big).await, 103, "EXCEPTION", StatusCode::BAD_REQUEST);
    }

    async fn callback_dates_are_read_in_the_leads_contact_hours_zone(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        noojee(&t, "insertLeadFast", QUERY, r#"{"FirstPhone":"0383218111","njExternalLeadId":"m","njCallBackDate":"2026/11/23 10:30"}"#).await;
        noojee(&t, "insertLeadFast", QUERY, r#"{"FirstPhone":"0383218112","njExternalLeadId":"p","njContactHours":"Perth","njCallBackDate":"2026/11/23 10:30"}"#).await;
        assert_eq!(lead_by_external(&t, 41, "m").await["callback_at"], "2026-11-22T23:30:00Z", "Melbourne is UTC+11 in November");
        let perth = lead_by_external(&t, 41, "p").await;
        assert_eq!((perth["callback_at"].as_str(), perth["contact_hours_id"].as_i64()), (Some("2026-11-23T02:30:00Z"), Some(2)));
        // A wall time skipped by daylight saving moves forward by the gap.
        noojee(&t, "updateLeadFast", QUERY, r#"{"njExternalLeadId":"m","njCallBackDate":"2026/10/04 02:30"}"#).await;
        assert_eq!(lead_by_external(&t, 41, "m").await["callback_at"], "2026-10-03T16:30:00Z");
    }

    async fn each_disposition_action_does_its_part(app) {
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        for (ext, phone) in [("cb", "0383218201"), ("dnc", "0383218202"), ("copy", "0383218203"), ("move", "0383218204"), ("hook", "0383218205")] {
            assert_code(&noojee(&t, "insertLeadFast", QUERY, &format!(r#"{{"Name":"Jo {ext}","FirstPhone":"{phone}","njExternalLeadId":"{ext}"}}"#)).await, 0, "OK", StatusCode::OK);
        }
        let dispose = |ext: &str, code: &str| format!(r#"{{"njExternalLeadId":"{ext}","njDisposition":"{code}"}}"#);
        assert_code(&noojee(&t, "updateLeadFast", QUERY, &dispose("cb", "Callback")).await, 0, "OK", StatusCode::OK);
        let cb = lead_by_external(&t, 41, "cb").await;
        assert_eq!((cb["closed"].as_bool(), cb["callback_at"].is_string()), (Some(false), true));

        noojee(&t, "updateLeadFast", QUERY, &dispose("dnc", "DoNotCall")).await;
        assert_eq!(lead_by_external(&t, 41, "dnc").await["closed"], true);
        assert_code(&noojee(&t, "insertLeadFast", "fTemplateId=41&fCampaignId=42&fAllocationId=40", r#"{"FirstPhone":"0383218202"}"#).await, 104, "DNC", StatusCode::BAD_REQUEST);

        noojee(&t, "updateLeadFast", QUERY, &dispose("copy", "Copy")).await;
        let copy = lead_by_external(&t, 42, "copy").await;
        assert_eq!((copy["allocation_id"].as_i64(), copy["name"].as_str(), copy["disposition"].clone()), (Some(40), Some("Jo copy"), json!(null)));
        assert_eq!(lead_by_external(&t, 41, "copy").await["disposition"], "Copy");

        noojee(&t, "updateLeadFast", QUERY, &dispose("move", "Move")).await;
        assert_eq!(lead_by_external(&t, 41, "move").await["allocation_id"], 39);

        noojee(&t, "updateLeadFast", QUERY, &dispose("hook", "Hook")).await;
        let hook = lead_by_external(&t, 41, "hook").await;
        let mut conn = t.app.store.read().await.unwrap();
        let deliveries = leadline_store::dialer::webhooks_of(&mut conn, hook["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(deliveries.len(), 1, "one webhook queued for one disposition change");
    }

    async fn a_request_that_waits_past_its_limit_gets_109_and_changes_nothing(app) {
        let settings = leadline_http::HttpSettings {
            noojee: leadline_http::noojee::Limits { concurrency: 1, update_wait: std::time::Duration::from_millis(50), ..Default::default() },
            ..Default::default()
        };
        let (router, state) = leadline_http::router_and_state(app.clone(), settings);
        let mut t = TestApp::new(app).await;
        t.router = router;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        noojee(&t, "insertLeadFast", QUERY, JANE).await;
        let held = state.noojee_limiter.acquire(leadline_http::noojee::Kind::Update).await.expect("the only turn");
        let reply = noojee(&t, "updateLeadFast", QUERY, r#"{"njExternalLeadId":"9856","City":"Carlton"}"#).await;
        assert_code(&reply, 109, "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS", StatusCode::BAD_REQUEST);
        assert_eq!(lead_by_external(&t, 41, "9856").await["city"], "Abbotsford");
        drop(held);
        assert_code(&noojee(&t, "updateLeadFast", QUERY, r#"{"njExternalLeadId":"9856","City":"Carlton"}"#).await, 0, "OK", StatusCode::OK);
    }

    async fn a_client_that_disconnects_while_waiting_gives_its_place_back(app) {
        let settings = leadline_http::HttpSettings {
            noojee: leadline_http::noojee::Limits {
                concurrency: 1,
                max_waiting: 1,
                update_wait: std::time::Duration::from_secs(10),
                ..Default::default()
            },
            ..Default::default()
        };
        let (router, state) = leadline_http::router_and_state(app.clone(), settings);
        let mut t = TestApp::new(app).await;
        t.router = router;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        noojee(&t, "insertLeadFast", QUERY, JANE).await;
        let held = state.noojee_limiter.acquire(leadline_http::noojee::Kind::Update).await.expect("the only turn");
        let update = r#"{"njExternalLeadId":"9856","City":"Carlton"}"#;
        // The client gives up while queued: its request future is dropped mid-wait, as when the
        // connection closes.
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(100), noojee(&t, "updateLeadFast", QUERY, update)).await;
        assert!(gave_up.is_err(), "the first update was still waiting for the held turn");
        // The one place in the queue is free again: the next update waits and gets the turn.
        let t = std::sync::Arc::new(t);
        let next = tokio::spawn({
            let t = t.clone();
            async move { noojee(&t, "updateLeadFast", QUERY, update).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(held);
        assert_code(&next.await.unwrap(), 0, "OK", StatusCode::OK);
        assert_eq!(lead_by_external(&t, 41, "9856").await["city"], "Carlton");
    }

    async fn a_key_outside_the_campaign_is_refused_before_it_queues(app) {
        let settings = leadline_http::HttpSettings {
            noojee: leadline_http::noojee::Limits { concurrency: 1, max_waiting: 0, ..Default::default() },
            ..Default::default()
        };
        let (router, state) = leadline_http::router_and_state(app.clone(), settings);
        let mut t = TestApp::new(app).await;
        t.router = router;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        let other_campaign = t.dialer_key(vec![42]).await;
        let _held = state.noojee_limiter.acquire(leadline_http::noojee::Kind::Insert).await.expect("the only turn");
        // With the queue full, a key queued before its campaign is checked would get 109.
        let uri = format!("/servicemanager/rest/CampaignAPI/insertLeadFast?{QUERY}&apiKey={other_campaign}");
        let reply = t
            .send(Request::post(uri).header("Content-Type", "application/json").body(Body::from(JANE.to_string())).unwrap())
            .await;
        assert_eq!((reply.status, reply.body["code"].as_i64()), (StatusCode::FORBIDDEN, Some(403)), "{}", reply.text);
    }

    async fn sixty_four_concurrent_updates_of_one_lead_lose_none(app) {
        let t = std::sync::Arc::new(TestApp::new(app).await);
        fixture(&t, "http://127.0.0.1:9/hook").await;
        noojee(&t, "insertLeadFast", QUERY, JANE).await;
        let mut tasks = Vec::new();
        for i in 0..64 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!(r#"{{"njExternalLeadId":"9856","field{i}":"{i}"}}"#);
                noojee(&t, "updateLeadFast", QUERY, &body).await
            }));
        }
        let mut applied = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            match reply.body["code"].as_u64() {
                Some(0) => applied += 1,
                Some(110) => {}
                _ => panic!("neither applied nor refused with 110: {}", reply.text),
            }
        }
        let lead = lead_by_external(&t, 41, "9856").await;
        let kept = (0..64).filter(|i| lead["fields"][format!("field{i}")] == json!(i.to_string())).count();
        assert_eq!(kept, applied, "every applied update is in the lead");
        assert_eq!(lead["version"].as_i64().unwrap(), 1 + applied as i64);
    }
}
