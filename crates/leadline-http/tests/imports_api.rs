//! `/v1/imports` and `/v1/leads/export` through the router, on every backend.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use leadline_app::conformance;
use leadline_app::imports::{self, ImportRequest, Tuning, Upload, UploadLimits};
use leadline_app::{keys, App};
use serde_json::json;

async fn setup(t: &TestApp) -> (i64, i64) {
    let template = t
        .create(
            "campaign-templates",
            json!({"name": "T", "phone_country": "AU",
            "fields": [{"name": "Mobile", "kind": "phone"}, {"name": "First Name", "kind": "text"}]}),
        )
        .await;
    let campaign = t.create("campaigns", json!({"template_id": template, "name": "C"})).await;
    let allocation = t.create("allocations", json!({"campaign_id": campaign, "name": "A", "active": true})).await;
    (campaign, allocation)
}

fn upload(key: &str, query: &str, body: &'static [u8]) -> Request<Body> {
    Request::post(format!("/v1/imports?{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(body))
        .unwrap()
}

conformance! {
    async fn a_keys_upload_limits_are_refused_as_problems_naming_the_setting(app) {
        let app = App { upload_limits: UploadLimits { uploads_per_key: 1, bytes_per_key: 40 }, ..app };
        let t = TestApp::new(app.clone()).await;
        let (campaign, allocation) = setup(&t).await;
        let key = t.dialer_key(vec![campaign]).await;
        let query = format!("campaign_id={campaign}&allocation_id={allocation}");
        // 48 bytes, past the 40-byte quota: refused, and nothing of it is kept.
        let reply = t.send(upload(&key, &query, b"Mobile,First Name\n0412000001,Ann\n0412000002,Bob\n")).await;
        assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, None);
        assert!(reply.body["detail"].as_str().unwrap().contains("at most 40 bytes (import_quota_bytes_per_key), and 0 are held"), "{}", reply.text);
        assert!(!reply.headers.contains_key(header::RETRY_AFTER), "a byte quota frees only as jobs run");
        let first = t.send(upload(&key, &query, b"Mobile\n0412000001\n")).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
        // The pending job holds its 18 bytes until it has run: 29 more would pass the quota.
        let second: &'static [u8] = b"Mobile\n0412000002\n0412000003\n";
        let reply = t.send(upload(&key, &query, second)).await;
        assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, None);
        assert!(reply.body["detail"].as_str().unwrap().contains("and 18 are held already"), "{}", reply.text);
        // The admin key has a quota of its own.
        assert_eq!(t.send(upload(&t.admin, &query, second)).await.status, StatusCode::ACCEPTED);
        while imports::work_once(&app, Tuning::default()).await.unwrap() {}
        // While one upload of the key is arriving, another is refused at once.
        let by = keys::authenticate(&app, &key).await.unwrap();
        let request = ImportRequest { campaign_id: campaign, allocation_id: allocation, ..ImportRequest::default() };
        let arriving = Upload::begin(&app, &by, request, "slow.csv").await.unwrap();
        let reply = t.send(upload(&key, &query, second)).await;
        assert_problem(&reply, StatusCode::TOO_MANY_REQUESTS, None);
        assert!(reply.body["detail"].as_str().unwrap().contains("1 uploads arriving already, the most import_max_uploads_per_key allows"), "{}", reply.text);
        assert_eq!(reply.headers[header::RETRY_AFTER], "15", "a slot frees within a claim renewal period");
        arriving.abort().await.unwrap();
        // Its first job done and the slow upload gone, the key holds nothing: the body fits.
        assert_eq!(t.send(upload(&key, &query, second)).await.status, StatusCode::ACCEPTED);
    }

    async fn a_posted_csv_becomes_a_job_that_a_worker_loads(app) {
        let t = TestApp::new(app.clone()).await;
        let (campaign, allocation) = setup(&t).await;
        let query = format!("campaign_id={campaign}&allocation_id={allocation}&map=Tel%3DMobile");
        let body: &'static [u8] = b"Tel,First Name\n0412000001,Ann\n0412000001,Dup\n0412000002,Bob\n";
        let reply = t.send(upload(&t.admin, &query, body)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        let id = reply.body["id"].as_i64().unwrap();
        assert_eq!(reply.headers[header::LOCATION], format!("/v1/imports/{id}").as_str());
        assert_eq!(reply.body["status"], "pending");
        assert_eq!(reply.body["file_bytes"], body.len());
        assert!(imports::work_once(&app, Tuning::default()).await.unwrap());
        let reply = t.get(&format!("/v1/imports/{id}")).await;
        assert_eq!(reply.body["status"], "done");
        assert_eq!(reply.body["loaded"], 2);
        assert_eq!(reply.body["rejected"], json!({"dnc": 0, "duplicate": 1, "invalid": 0}));
        assert_eq!(reply.body["progress"]["percent"], 100.0);
        let rejects = t.get(&format!("/v1/imports/{id}/rejects")).await;
        assert_eq!(rejects.content_type(), "text/csv; charset=utf-8");
        assert_eq!(rejects.text, "line,reason,row\n3,phone 61412000001 is on an earlier row of this file,\"0412000001,Dup\"\n");
        let export = t.get(&format!("/v1/leads/export?campaign_id={campaign}&format=ndjson")).await;
        assert_eq!(export.content_type(), "application/x-ndjson");
        let lines: Vec<serde_json::Value> = export.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["first_name"], "Bob");
        let csv = t.get(&format!("/v1/leads/export?allocation_id={allocation}")).await;
        assert_eq!(csv.text.lines().count(), 3);
        assert!(csv.text.starts_with("id,ref,external_id,campaign_id,allocation_id,name,first_name"));
    }

    async fn formula_safe_exports_and_rejects_keep_spreadsheets_from_evaluating_cells(app) {
        let t = TestApp::new(app.clone()).await;
        let (campaign, allocation) = setup(&t).await;
        let query = format!("campaign_id={campaign}&allocation_id={allocation}&map=Tel%3DMobile");
        let body: &'static [u8] = b"First Name,Tel\n\"=HYPERLINK(\"\"http://evil\"\")\",0412000001\n-1+2,0412000001\n";
        let id = t.send(upload(&t.admin, &query, body)).await.body["id"].as_i64().unwrap();
        assert!(imports::work_once(&app, Tuning::default()).await.unwrap());
        let plain = t.get(&format!("/v1/leads/export?campaign_id={campaign}")).await;
        assert!(plain.text.contains(",\"=HYPERLINK(\"\"http://evil\"\")\","), "as stored by default: {}", plain.text);
        let safe = t.get(&format!("/v1/leads/export?campaign_id={campaign}&formula_safe=true")).await;
        assert_eq!(safe.status, StatusCode::OK);
        assert!(safe.text.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\","), "{}", safe.text);
        assert!(!safe.text.contains(",=") && !safe.text.contains(",\"="), "{}", safe.text);
        let rejects = t.get(&format!("/v1/imports/{id}/rejects?formula_safe=true")).await;
        assert_eq!(rejects.text, "line,reason,row\n3,phone 61412000001 is on an earlier row of this file,\"'-1+2,0412000001\"\n");
        let plain_rejects = t.get(&format!("/v1/imports/{id}/rejects")).await;
        assert_eq!(plain_rejects.text, "line,reason,row\n3,phone 61412000001 is on an earlier row of this file,\"-1+2,0412000001\"\n");
        let ndjson = t.get("/v1/leads/export?format=ndjson&formula_safe=true").await;
        assert_problem(&ndjson, StatusCode::BAD_REQUEST, Some("formula_safe"));
        let bad = t.get("/v1/leads/export?formula_safe=maybe").await;
        assert_problem(&bad, StatusCode::BAD_REQUEST, Some("formula_safe"));
    }

    async fn a_bad_csv_is_refused_with_its_line_and_bad_parameters_name_themselves(app) {
        let t = TestApp::new(app.clone()).await;
        let (campaign, allocation) = setup(&t).await;
        let query = format!("campaign_id={campaign}&allocation_id={allocation}");
        let reply = t.send(upload(&t.admin, &query, b"Mobile,First Name\n0412000001,Ann,extra\n")).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, Some("file"));
        assert_eq!(reply.body["detail"], "file: line 2: the row has 3 fields but the header has 2");
        let reply = t.send(upload(&t.admin, "allocation_id=1", b"Mobile\n0412000001\n")).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, Some("campaign_id"));
        let reply = t.send(upload(&t.admin, &format!("{query}&map=nothing"), b"Mobile\n")).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, Some("map"));
        let reply = t.get("/v1/leads/export?format=xml").await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, Some("format"));
        let reply = t.get("/v1/imports/999").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }

    async fn a_dialer_key_imports_only_into_its_campaigns_and_sees_only_its_own_jobs(app) {
        let t = TestApp::new(app.clone()).await;
        let (campaign, allocation) = setup(&t).await;
        let template = t.create("campaign-templates", json!({"name": "U"})).await;
        let elsewhere = t.create("campaigns", json!({"template_id": template, "name": "D"})).await;
        let other = t.dialer_key(vec![elsewhere]).await;
        let query = format!("campaign_id={campaign}&allocation_id={allocation}");
        let reply = t.send(upload(&other, &query, b"Mobile\n0412000001\n")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let own = t.dialer_key(vec![campaign]).await;
        let reply = t.send(upload(&own, &query, b"Mobile\n0412000001\n")).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        let id = reply.body["id"].as_i64().unwrap();
        let seen = t.call("GET", &format!("/v1/imports/{id}"), Some(&other), None).await;
        assert_eq!(seen.status, StatusCode::NOT_FOUND);
        let readonly = t.key("readonly").await;
        let reply = t.send(upload(&readonly, &query, b"Mobile\n0412000001\n")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
}
