//! Keys: every route group refuses missing, unknown, expired and revoked keys, and keys whose
//! role does not allow the call; `/v1/keys` manages keys; only a hash is stored.

mod common;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use common::{assert_problem, TestApp};
use jiff::SignedDuration;
use leadline_app::conformance;
use leadline_app::testing::TestClock;
use serde_json::{json, Value};

/// One call per route group: (method, path, body).
fn route_groups() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/v1/leads", None),
        ("POST", "/v1/leads", Some(json!({"name": "x"}))),
        ("GET", "/v1/leads/1", None),
        ("PATCH", "/v1/leads/1", Some(json!({"name": "y"}))),
        ("GET", "/v1/leads/1/history", None),
        ("GET", "/v1/verticals", None),
        ("POST", "/v1/verticals", Some(json!({"name": "v"}))),
        ("GET", "/v1/verticals/1", None),
        ("PATCH", "/v1/verticals/1", Some(json!({"name": "w"}))),
        ("DELETE", "/v1/queues/1", None),
        ("PUT", "/v1/catalog", Some(json!({"verticals": [{"id": 9, "name": "z"}]}))),
        ("GET", "/v1/sales", None),
        ("POST", "/v1/sales", Some(json!({"lead_id": 1, "buyer_contract_id": 1}))),
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", Some(json!({"role": "readonly"}))),
        ("DELETE", "/v1/keys/1", None),
        ("GET", "/v1/returns", None),
        ("POST", "/v1/returns", Some(json!({"lead_id": 1, "return_reason_id": 1}))),
        ("GET", "/v1/returns/1", None),
        ("POST", "/v1/returns/1/approve", Some(json!({"for": "credit"}))),
        ("POST", "/v1/returns/1/reject", Some(json!({"denied_reason_id": 1}))),
        ("GET", "/v1/buyers/1/ledger", None),
        ("GET", "/v1/replacement-requests", None),
        ("POST", "/v1/replacement-requests/1/fulfil", Some(json!({"lead_id": 1}))),
        ("POST", "/v1/leads/1/queue-actions", Some(json!({"action": "throw_out"}))),
        ("GET", "/v1/leads/1/ledger", None),
        ("GET", "/v1/leads/export", None),
        ("GET", "/v1/imports/1", None),
        ("GET", "/v1/archive/leads/1", None),
        ("POST", "/v1/allocations/1/next-lead", Some(json!({}))),
    ]
}

conformance! {
    async fn missing_unknown_expired_and_revoked_keys_are_refused_on_every_route_group(app) {
        let clock = TestClock::at("2026-11-22T10:00:00Z");
        let mut app = app;
        app.clock = clock.clone() as Arc<dyn leadline_app::Clock>;
        let t = TestApp::new(app).await;
        let created = t.post("/v1/keys", json!({"role": "admin", "expires_in": "1h"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let expiring = created.body["secret"].as_str().unwrap().to_string();
        let revoked_reply = t.post("/v1/keys", json!({"role": "admin"})).await;
        let revoked = revoked_reply.body["secret"].as_str().unwrap().to_string();
        let revoke = t.delete(&format!("/v1/keys/{}", revoked_reply.body["id"])).await;
        assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.text);
        assert!(revoke.body["revoked_at"].is_string());
        assert_eq!(t.call("GET", "/v1/leads", Some(&expiring), None).await.status, StatusCode::OK, "valid before expiry");
        clock.advance(SignedDuration::from_hours(2));

        for (method, path, body) in route_groups() {
            let cases: [(Option<&str>, &str); 5] = [
                (None, "no key"),
                (Some("ll_nosuchkeynosuchkeynosuchkeynosuchkey00"), "unknown"),
                (Some(expiring.as_str()), "expired"),
                (Some(revoked.as_str()), "revoked"),
                (Some("x".repeat(300).leak()), "oversized"),
            ];
            for (key, case) in cases {
                let reply = t.call(method, path, key, body.as_ref()).await;
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case} on {method} {path}: {}", reply.text);
                assert_problem(&reply, StatusCode::UNAUTHORIZED, None);
                assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
            }
        }
        let detail = |reply: common::Reply| reply.body["detail"].as_str().unwrap().to_string();
        assert!(detail(t.call("GET", "/v1/leads", Some(&expiring), None).await).contains("expired"));
        assert!(detail(t.call("GET", "/v1/leads", Some(&revoked), None).await).contains("revoked"));
    }

    async fn keys_whose_role_does_not_allow_a_call_get_403(app) {
        let t = TestApp::new(app).await;
        let vertical = t.create("verticals", json!({"name": "Solar"})).await;
        let buyer = t.create("buyers", json!({"name": "B"})).await;
        let (_, _, campaign, _) = t.campaign().await;
        let readonly = t.key("readonly").await;
        let archiver = t.key("archiver").await;
        let buyer_key = t.buyer_key(buyer).await;
        let dialer = t.dialer_key(vec![campaign]).await;
        let writes_or_admin = [
            ("POST", "/v1/leads", Some(json!({"vertical_id": vertical}))),
            ("POST", "/v1/verticals", Some(json!({"name": "v"}))),
            ("PATCH", &*format!("/v1/verticals/{vertical}").leak(), Some(json!({"name": "w"}))),
            ("DELETE", &*format!("/v1/verticals/{vertical}").leak(), None),
            ("PUT", "/v1/catalog", Some(json!({"verticals": [{"id": 9, "name": "z"}]}))),
            ("POST", "/v1/sales", Some(json!({"lead_id": 1, "buyer_contract_id": 1}))),
            ("GET", "/v1/keys", None),
            ("POST", "/v1/keys", Some(json!({"role": "admin"}))),
            ("DELETE", "/v1/keys/1", None),
            ("POST", "/v1/returns/1/approve", Some(json!({"for": "credit"}))),
            ("POST", "/v1/returns/1/reject", Some(json!({"denied_reason_id": 1}))),
            ("POST", "/v1/replacement-requests/1/fulfil", Some(json!({"lead_id": 1}))),
        ];
        for key in [&readonly, &archiver, &buyer_key] {
            for (method, path, body) in &writes_or_admin {
                let reply = t.call(method, path, Some(key), body.as_ref()).await;
                assert_problem(&reply, StatusCode::FORBIDDEN, None);
            }
        }
        for (method, path, body) in writes_or_admin.iter().skip(1) {
            assert_problem(&t.call(method, path, Some(&dialer), body.as_ref()).await, StatusCode::FORBIDDEN, None);
        }
        // Read-only keys read; buyers read only what returns need, and their own buyer.
        assert_eq!(t.call("GET", "/v1/leads", Some(&readonly), None).await.status, StatusCode::OK);
        assert_eq!(t.call("GET", "/v1/queues", Some(&readonly), None).await.status, StatusCode::OK);
        assert_eq!(t.call("GET", "/v1/return-reasons", Some(&buyer_key), None).await.status, StatusCode::OK);
        let other_buyer = t.create("buyers", json!({"name": "C"})).await;
        let own = t.call("GET", "/v1/buyers", Some(&buyer_key), None).await;
        assert_eq!((own.status, &own.body["items"]), (StatusCode::OK, &json!([{"id": buyer, "name": "B"}])));
        let other = t.call("GET", &format!("/v1/buyers/{other_buyer}"), Some(&buyer_key), None).await;
        assert_problem(&other, StatusCode::NOT_FOUND, None);
        assert_problem(&t.call("GET", "/v1/contacts", Some(&buyer_key), None).await, StatusCode::FORBIDDEN, None);
        assert_problem(&t.call("GET", "/v1/contacts", Some(&dialer), None).await, StatusCode::FORBIDDEN, None);
        assert_problem(&t.call("GET", "/v1/sales", Some(&dialer), None).await, StatusCode::FORBIDDEN, None);
        assert_eq!(t.get(&format!("/v1/verticals/{vertical}")).await.body["name"], "Solar", "refused writes changed nothing");
    }

    async fn an_admin_creates_lists_and_revokes_keys_and_only_a_hash_is_stored(app) {
        let t = TestApp::new(app).await;
        let buyer = t.create("buyers", json!({"name": "B"})).await;
        let created = t.post("/v1/keys", json!({"role": "buyer", "buyer_id": buyer, "name": "partner", "expires_in": "90d"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let secret = created.body["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("ll_") && secret.len() <= 50, "{secret}");
        assert_eq!(t.call("GET", "/v1/return-reasons", Some(&secret), None).await.status, StatusCode::OK);

        let listed = t.get("/v1/keys").await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(!listed.text.contains(&secret), "listings never show secrets");
        assert!(listed.body.as_array().unwrap().iter().any(|k| k["name"] == "partner" && k["buyer_id"] == buyer));

        let mut conn = t.app.store.read().await.unwrap();
        use leadline_store::{Cells, Exec};
        let stored = conn.all_rows(&leadline_store::Sql::new("SELECT prefix, secret_hash FROM api_keys")).await.unwrap();
        for row in &stored {
            let hash: String = row.text("secret_hash").unwrap();
            assert_eq!(hash.len(), 64, "a SHA-256 in hex");
            assert!(!secret.contains(&hash) && !hash.contains(&secret[3..]));
        }
        drop(conn);

        for (body, field) in [
            (json!({"role": "root"}), "role"),
            (json!({"role": "buyer"}), "buyer_id"),
            (json!({"role": "buyer", "buyer_id": 999}), "buyer_id"),
            (json!({"role": "dialer"}), "campaign_ids"),
            (json!({"role": "dialer", "campaign_ids": [999]}), "campaign_ids[0]"),
            (json!({"role": "admin", "expires_in": "soon"}), "expires_in"),
            (json!({"role": "admin", "colour": "red"}), "colour"),
        ] {
            assert_problem(&t.post("/v1/keys", body).await, StatusCode::BAD_REQUEST, Some(field));
        }
        assert_problem(&t.delete("/v1/keys/9999").await, StatusCode::NOT_FOUND, None);
        let id = created.body["id"].as_i64().unwrap();
        t.delete(&format!("/v1/keys/{id}")).await;
        assert_problem(&t.call("GET", "/v1/return-reasons", Some(&secret), None).await, StatusCode::UNAUTHORIZED, None);
    }
}
