//! The CAKE dialect: UpdateLeadInQueue and the get.asmx look-ups over GET, form POST, JSON POST,
//! SOAP 1.1 and SOAP 1.2, with exact bodies; what each queue action does; keys; envelopes that
//! must be refused; the WSDL and `?op=` pages; and arbitrary bytes at every parser.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use leadline_app::conformance;
use leadline_app::testing::TestClock;
use leadline_app::{App, Principal};
use serde_json::{json, Value};

const NS: &str = "http://cakemarketing.com/api/1/";
const TRACK: &str = "/api/1/track.asmx";
const GET: &str = "/api/1/get.asmx";
const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
const XSI_XSD: &str =
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"";

/// Verticals 32 and 33, queue statuses 235 and 236, queues (call center 10 for vertical 32, a
/// review queue 11 for every vertical, custom 1234 in vertical 32, custom 1235 in vertical 33,
/// call center 12 for vertical 33), buyer 1 with contract 7 (vertical 32, 12.50) and contract 8
/// (vertical 33). Returns the ref and id of a lead in vertical 32, sitting in queue 10.
async fn fixture(t: &TestApp) -> (String, i64) {
    let catalog = json!({
        "verticals": [{"id": 32, "name": "Solar"}, {"id": 33, "name": "Roofing & Gutters"}],
        "queue-statuses": [{"id": 235, "name": "Called"}, {"id": 236, "name": "Voicemail"}],
        "queues": [
            {"id": 10, "name": "Solar calls", "kind": "call_center", "vertical_id": 32},
            {"id": 11, "name": "Review", "kind": "review"},
            {"id": 12, "name": "Roofing calls", "kind": "call_center", "vertical_id": 33},
            {"id": 1234, "name": "Hot", "kind": "custom", "vertical_id": 32},
            {"id": 1235, "name": "Roof hot", "kind": "custom", "vertical_id": 33}
        ],
        "buyers": [{"id": 1, "name": "Acme"}],
        "buyer-contracts": [
            {"id": 7, "buyer_id": 1, "vertical_id": 32, "name": "Solar A", "price": "12.50", "replace_returns": false},
            {"id": 8, "buyer_id": 1, "vertical_id": 33, "name": "Roof A", "price": "9.99", "replace_returns": false}
        ]
    });
    let applied = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    lead(t, 32).await
}

async fn lead(t: &TestApp, vertical: i64) -> (String, i64) {
    let created = t.post("/v1/leads", json!({"vertical_id": vertical, "phones": ["0299990001"], "queue_id": 10})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    (created.body["ref"].as_str().unwrap().to_string(), created.body["id"].as_i64().unwrap())
}

fn encode(params: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        out.append_pair(k, v);
    }
    out.finish()
}

/// The five transports, each sending the same parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    Get,
    Form,
    Json,
    Soap11,
    Soap12,
}

const TRANSPORTS: [Transport; 5] =
    [Transport::Get, Transport::Form, Transport::Json, Transport::Soap11, Transport::Soap12];

fn soap_body(version: Transport, op: &str, params: &[(&str, &str)]) -> String {
    let env = if version == Transport::Soap11 {
        "http://schemas.xmlsoap.org/soap/envelope/"
    } else {
        "http://www.w3.org/2003/05/soap-envelope"
    };
    let mut inner = String::new();
    for (k, v) in params {
        let v = v.replace('&', "&amp;").replace('<', "&lt;");
        inner.push_str(&format!("<{k}>{v}</{k}>"));
    }
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{env}\"><soap:Body><{op} xmlns=\"{NS}\">{inner}</{op}></soap:Body></soap:Envelope>")
}

async fn send(t: &TestApp, how: Transport, service: &str, op: &str, params: &[(&str, &str)]) -> Reply {
    let request = match how {
        Transport::Get => Request::get(format!("{service}/{op}?{}", encode(params))).body(Body::empty()),
        Transport::Form => Request::post(format!("{service}/{op}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(Body::from(encode(params))),
        Transport::Json => {
            let object: serde_json::Map<String, Value> =
                params.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
            Request::post(format!("{service}/{op}"))
                .header("Content-Type", "application/json; charset=utf-8")
                .body(Body::from(Value::Object(object).to_string()))
        }
        Transport::Soap11 => Request::post(service)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{NS}{op}\""))
            .body(Body::from(soap_body(how, op, params))),
        Transport::Soap12 => Request::post(service)
            .header("Content-Type", "application/soap+xml; charset=utf-8")
            .body(Body::from(soap_body(how, op, params))),
    };
    t.send(request.unwrap()).await
}

/// The exact body a transport gives for an answer whose inner XML is `inner` (and JSON `json`).
fn expected(how: Transport, root: &str, op: &str, inner: &str, json: &Value) -> String {
    match how {
        Transport::Get | Transport::Form => format!("{XML_HEAD}<{root} {XSI_XSD} xmlns=\"{NS}\">{inner}</{root}>"),
        Transport::Json => json!({"d": json}).to_string(),
        Transport::Soap11 | Transport::Soap12 => {
            let env = if how == Transport::Soap11 {
                "http://schemas.xmlsoap.org/soap/envelope/"
            } else {
                "http://www.w3.org/2003/05/soap-envelope"
            };
            format!("{XML_HEAD}<soap:Envelope xmlns:soap=\"{env}\" {XSI_XSD}><soap:Body><{op}Response xmlns=\"{NS}\"><{op}Result>{inner}</{op}Result></{op}Response></soap:Body></soap:Envelope>")
        }
    }
}

fn content_type(how: Transport) -> &'static str {
    match how {
        Transport::Get | Transport::Form | Transport::Soap11 => "text/xml; charset=utf-8",
        Transport::Json => "application/json; charset=utf-8",
        Transport::Soap12 => "application/soap+xml; charset=utf-8",
    }
}

#[track_caller]
fn assert_update_answer(reply: &Reply, how: Transport, success: bool, message: &str, lead_id: Option<&str>) {
    let mut inner = format!("<success>{success}</success><message>{message}</message>");
    let mut json = json!({"success": success, "message": message});
    if let Some(id) = lead_id {
        inner.push_str(&format!("<lead_id>{id}</lead_id>"));
        json["lead_id"] = Value::from(id);
    }
    let want = expected(how, "update_lead_response", "UpdateLeadInQueue", &inner, &json);
    assert_eq!(
        (reply.status, reply.content_type(), reply.text.as_str()),
        (StatusCode::OK, content_type(how), want.as_str()),
        "{how:?}"
    );
}

async fn lead_state(t: &TestApp, id: i64) -> Value {
    t.get(&format!("/v1/leads/{id}")).await.body
}

async fn history_actions(t: &TestApp, id: i64) -> Vec<String> {
    let history = t.get(&format!("/v1/leads/{id}/history")).await.body;
    history["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

conformance! {
    async fn every_published_message_has_an_exact_body_on_every_transport(app) {
        let t = TestApp::new(app).await;
        let (lead_ref, id) = fixture(&t).await;
        let (other_ref, _) = lead(&t, 33).await;
        let key = t.admin.clone();
        let k = key.as_str();
        let r = lead_ref.as_str();
        let refused: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("api_key", k), ("lead_id", "ZZZZZZZZ"), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Lead ID"),
            (vec![("api_key", k), ("lead_id", ""), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Lead ID"),
            (vec![("api_key", k), ("lead_id", other_ref.as_str()), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Can not find Lead ID in this vertical"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "99"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Vertical ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "thirty-two"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Vertical ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "999"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Queue Status ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", ""), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid Queue Status ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "move_to_custom_queue"), ("custom_queue_id", "77")], "Invalid Custom Queue ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "move_to_custom_queue"), ("custom_queue_id", "1235")], "Invalid Custom Queue ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "move_to_custom_queue"), ("custom_queue_id", "10")], "Invalid Custom Queue ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "move_to_custom_queue"), ("custom_queue_id", "")], "Invalid Custom Queue ID"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "fly_to_the_moon"), ("custom_queue_id", "")], "Invalid Action"),
            (vec![("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", ""), ("custom_queue_id", "")], "Invalid Action"),
            (vec![("api_key", "not-a-key"), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid API Key"),
            (vec![("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "change_status_only"), ("custom_queue_id", "")], "Invalid API Key"),
            (vec![("api_key", k), ("lead_id", r), ("action", "add_call_center_fee"), ("call_center_fee", "1.005")], "Invalid Call Center Fee"),
            (vec![("api_key", k), ("lead_id", r), ("action", "add_call_center_fee"), ("call_center_fee", "1000000.01")], "Invalid Call Center Fee"),
            (vec![("api_key", k), ("lead_id", r), ("action", "refer_to_buyer"), ("buyer_contract_id", "8")], "Invalid Buyer Contract ID"),
        ];
        for how in TRANSPORTS {
            let before = lead_state(&t, id).await;
            let history = history_actions(&t, id).await;
            for (params, message) in &refused {
                let reply = send(&t, how, TRACK, "UpdateLeadInQueue", params).await;
                assert_update_answer(&reply, how, false, message, None);
            }
            assert_eq!(lead_state(&t, id).await, before, "{how:?}: a refused call changed the lead");
            assert_eq!(history_actions(&t, id).await, history, "{how:?}: a refused call wrote history");
            let status = if before["queue_status_id"] == 235 { "236" } else { "235" };
            let ok = [("api_key", k), ("lead_id", r), ("vertical_id", "32"), ("custom_queue_status_id", status), ("action", "change_status_only"), ("custom_queue_id", "")];
            let reply = send(&t, how, TRACK, "UpdateLeadInQueue", &ok).await;
            assert_update_answer(&reply, how, true, "Lead updated", Some(r));
            assert_eq!(lead_state(&t, id).await["queue_status_id"].to_string(), status, "{how:?}");
        }
    }
}

conformance! {
    async fn each_action_moves_the_lead_as_documented_and_writes_history(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let k = t.admin.clone();
        let call = |action: &'static str, extra: Vec<(&'static str, String)>| {
            let mut params = vec![("api_key", k.clone()), ("lead_id", r.clone()), ("vertical_id", "32".to_string()), ("action", action.to_string())];
            params.extend(extra);
            params
        };
        let go = |params: Vec<(&'static str, String)>| {
            let t = &t;
            async move {
                let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                send(t, Transport::Get, TRACK, "UpdateLeadInQueue", &borrowed).await
            }
        };
        let ok = |reply: &Reply| assert!(reply.text.contains("<success>true</success><message>Lead updated</message>"), "{}", reply.text);

        ok(&go(call("move_to_custom_queue", vec![("custom_queue_id", "1234".into()), ("custom_queue_status_id", "235".into())])).await);
        let lead = lead_state(&t, id).await;
        assert_eq!((lead["queue_id"].as_i64(), lead["queue_status_id"].as_i64()), (Some(1234), Some(235)));

        ok(&go(call("move_to_review_queue", vec![])).await);
        assert_eq!(lead_state(&t, id).await["queue_id"], 11);

        ok(&go(call("move_to_queue", vec![("custom_queue_id", "1235".into())])).await);
        assert_eq!(lead_state(&t, id).await["queue_id"], 10, "move_to_queue goes to the vertical's call-center queue; custom_queue_id is ignored");

        ok(&go(call("change_status_only", vec![("custom_queue_status_id", "236".into())])).await);
        let lead = lead_state(&t, id).await;
        assert_eq!((lead["queue_id"].as_i64(), lead["queue_status_id"].as_i64()), (Some(10), Some(236)));

        ok(&go(call("throw_out", vec![])).await);
        let lead = lead_state(&t, id).await;
        assert_eq!((lead["queue_id"].clone(), lead["thrown_out"].clone()), (Value::Null, Value::Bool(true)));
        for queue in [10, 11, 1234] {
            let listed = t.get(&format!("/v1/leads?queue_id={queue}")).await.body;
            assert_eq!(listed["items"], json!([]), "a thrown-out lead is in no queue ({queue})");
        }

        ok(&go(call("move_to_custom_queue", vec![("custom_queue_id", "1234".into())])).await);
        let lead = lead_state(&t, id).await;
        assert_eq!((lead["queue_id"].as_i64(), lead["thrown_out"].as_bool()), (Some(1234), Some(false)), "a move brings a thrown-out lead back");

        let actions = history_actions(&t, id).await;
        assert_eq!(
            actions,
            ["create", "queue:move_to_custom_queue", "queue:move_to_review_queue", "queue:move_to_queue", "queue:change_status_only", "queue:throw_out", "queue:move_to_custom_queue"]
        );
        let history = t.get(&format!("/v1/leads/{id}/history")).await.body;
        assert_eq!(history["items"][5]["api"], "cake");
        assert_eq!(history["items"][5]["changes"]["thrown_out"], json!({"old": false, "new": true}));
        assert_eq!(history["items"][5]["changes"]["queue_id"], json!({"old": 10, "new": null}));
    }

    async fn a_fee_is_an_exact_ledger_entry_and_every_fee_is_history(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        for (fee, action) in [("0.10", "add_call_center_fee"), ("0.20", "add_call_center_fee"), ("12", "change_status_only")] {
            let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("vertical_id", ""), ("custom_queue_status_id", "235"), ("action", action), ("custom_queue_id", ""), ("call_center_fee", fee)];
            let reply = send(&t, Transport::Form, TRACK, "UpdateLeadInQueue", &params).await;
            assert_update_answer(&reply, Transport::Form, true, "Lead updated", Some(&r));
        }
        let ledger = t.get(&format!("/v1/leads/{id}/ledger")).await;
        assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.text);
        assert_eq!(ledger.body["total"], "12.30");
        let amounts: Vec<&str> = ledger.body["entries"].as_array().unwrap().iter().map(|e| e["amount"].as_str().unwrap()).collect();
        assert_eq!(amounts, ["0.10", "0.20", "12.00"]);
        assert!(ledger.body["entries"].as_array().unwrap().iter().all(|e| e["kind"] == "call_center_fee" && e["lead_id"] == id));
        let history = t.get(&format!("/v1/leads/{id}/history")).await.body;
        assert_eq!(history["items"][1]["action"], "queue:add_call_center_fee");
        assert_eq!(history["items"][1]["changes"]["call_center_fee"]["new"]["amount"], "0.10");
        // A fee without an amount, or a zero one, is refused and writes nothing.
        for fee in ["", "0", "-5", "abc"] {
            let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("action", "add_call_center_fee"), ("call_center_fee", fee)];
            let reply = send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await;
            assert_update_answer(&reply, Transport::Get, false, "Invalid Call Center Fee", None);
        }
        assert_eq!(t.get(&format!("/v1/leads/{id}/ledger")).await.body["entries"].as_array().unwrap().len(), 3);
        // Only keys that see every lead read a lead's ledger.
        let buyer = t.buyer_key(1).await;
        assert_eq!(t.call("GET", &format!("/v1/leads/{id}/ledger"), Some(&buyer), None).await.status, StatusCode::FORBIDDEN);
    }

    async fn referring_to_a_buyer_sells_at_the_contract_price_once(app) {
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("vertical_id", "32"), ("custom_queue_status_id", ""), ("action", "refer_to_buyer"), ("custom_queue_id", ""), ("buyer_contract_id", "7")];
        let reply = send(&t, Transport::Soap11, TRACK, "UpdateLeadInQueue", &params).await;
        assert_update_answer(&reply, Transport::Soap11, true, "Lead updated", Some(&r));
        let sales = t.get(&format!("/v1/sales?lead_id={id}")).await.body;
        assert_eq!(sales["items"].as_array().unwrap().len(), 1);
        assert_eq!((sales["items"][0]["buyer_contract_id"].as_i64(), sales["items"][0]["price"].as_str()), (Some(7), Some("12.50")));
        let lead = lead_state(&t, id).await;
        assert_eq!(lead["queue_id"], Value::Null, "a sold lead leaves the pre-sale queue");
        assert_eq!(history_actions(&t, id).await, ["create", "sell", "queue:refer_to_buyer"]);
        // The same contract cannot buy it twice; nothing changes.
        let again = send(&t, Transport::Soap11, TRACK, "UpdateLeadInQueue", &params).await;
        assert_update_answer(&again, Transport::Soap11, false, "Lead is already sold to this buyer contract", None);
        assert_eq!(t.get(&format!("/v1/sales?lead_id={id}")).await.body["items"].as_array().unwrap().len(), 1);
        // No contract, an unknown one, or one of another vertical.
        for contract in ["", "99", "8"] {
            let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("action", "refer_to_buyer"), ("buyer_contract_id", contract)];
            let reply = send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await;
            assert_update_answer(&reply, Transport::Get, false, "Invalid Buyer Contract ID", None);
        }
        assert_eq!(history_actions(&t, id).await.len(), 3);
    }

    async fn the_native_api_runs_the_same_queue_actions(app) {
        let t = TestApp::new(app).await;
        let (_, id) = fixture(&t).await;
        let reply = t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "move_to_custom_queue", "queue_id": 1234, "queue_status_id": 235, "call_center_fee": "4.75"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!((reply.body["lead"]["queue_id"].as_i64(), reply.body["fee"]["amount"].as_str()), (Some(1234), Some("4.75")));
        let reply = t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "refer_to_buyer", "buyer_contract_id": 7})).await;
        assert_eq!((reply.status, reply.body["sale"]["price"].as_str()), (StatusCode::OK, Some("12.50")), "{}", reply.text);
        let reply = t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "throw_out"})).await;
        assert_eq!(reply.body["lead"]["thrown_out"], true);
        common::assert_problem(&t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "sideways"})).await, StatusCode::BAD_REQUEST, Some("action"));
        common::assert_problem(&t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "move_to_custom_queue", "queue_id": 10})).await, StatusCode::BAD_REQUEST, Some("queue_id"));
        common::assert_problem(&t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "change_status_only"})).await, StatusCode::BAD_REQUEST, Some("queue_status_id"));
        common::assert_problem(&t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "change_status_only", "queue_status_id": 235, "colour": 1})).await, StatusCode::BAD_REQUEST, None);
        common::assert_problem(&t.post("/v1/leads/999/queue-actions", json!({"action": "throw_out"})).await, StatusCode::NOT_FOUND, None);
        let readonly = t.key("readonly").await;
        let refused = t.call("POST", &format!("/v1/leads/{id}/queue-actions"), Some(&readonly), Some(&json!({"action": "throw_out"}))).await;
        common::assert_problem(&refused, StatusCode::FORBIDDEN, None);
        let history = history_actions(&t, id).await;
        assert_eq!(history, ["create", "queue:move_to_custom_queue", "sell", "queue:refer_to_buyer", "queue:throw_out"]);
        let ledger = t.get(&format!("/v1/leads/{id}/ledger")).await.body;
        assert_eq!(ledger["total"], "4.75");
    }

    async fn expired_revoked_buyer_and_dialer_keys_are_refused_on_every_transport(app) {
        let clock = TestClock::at("2026-06-01T00:00:00Z");
        let app = App { clock: clock.clone(), ..app };
        let t = TestApp::new(app).await;
        let (r, id) = fixture(&t).await;
        let request = |expires: Option<&str>, role: &str, buyer: Option<i64>, campaigns: Vec<i64>| leadline_app::keys::KeyRequest {
            role: role.into(),
            name: None,
            buyer_id: buyer,
            campaign_ids: campaigns,
            expires_in: expires.map(str::to_string),
        };
        let expiring = leadline_app::keys::create(&t.app, &Principal::operator(), &request(Some("1h"), "admin", None, vec![])).await.unwrap();
        let revoked = leadline_app::keys::create(&t.app, &Principal::operator(), &request(None, "admin", None, vec![])).await.unwrap();
        leadline_app::keys::revoke(&t.app, &Principal::operator(), revoked.key.id).await.unwrap();
        clock.advance(jiff::SignedDuration::from_hours(2));
        let buyer = t.buyer_key(1).await;
        let (_, _, campaign, _) = t.campaign().await;
        let dialer = t.dialer_key(vec![campaign]).await;
        let long = "x".repeat(51);
        for key in [expiring.secret.as_str(), revoked.secret.as_str(), buyer.as_str(), dialer.as_str(), long.as_str(), " "] {
            for how in TRANSPORTS {
                let params = [("api_key", key), ("lead_id", r.as_str()), ("vertical_id", "32"), ("custom_queue_status_id", "235"), ("action", "throw_out"), ("custom_queue_id", "")];
                let reply = send(&t, how, TRACK, "UpdateLeadInQueue", &params).await;
                assert_update_answer(&reply, how, false, "Invalid API Key", None);
                let reply = send(&t, how, GET, "Verticals", &[("api_key", key)]).await;
                let inner = "<success>false</success><message>Invalid API Key</message>";
                let want = expected(how, "verticals_response", "Verticals", inner, &json!({"success": false, "message": "Invalid API Key"}));
                assert_eq!(reply.text, want, "{how:?}");
            }
        }
        assert_eq!(lead_state(&t, id).await["version"], 1);
    }

    async fn the_look_ups_list_verticals_and_queue_statuses_on_every_transport(app) {
        let t = TestApp::new(app).await;
        fixture(&t).await;
        for how in TRANSPORTS {
            let reply = send(&t, how, GET, "Verticals", &[("api_key", t.admin.as_str())]).await;
            let inner = "<success>true</success><message></message><row_count>2</row_count><verticals><vertical><vertical_id>32</vertical_id><vertical_name>Solar</vertical_name></vertical><vertical><vertical_id>33</vertical_id><vertical_name>Roofing &amp; Gutters</vertical_name></vertical></verticals>";
            let json = json!({"success": true, "message": "", "row_count": 2, "verticals": [{"vertical_id": 32, "vertical_name": "Solar"}, {"vertical_id": 33, "vertical_name": "Roofing & Gutters"}]});
            assert_eq!((reply.status, reply.text.clone()), (StatusCode::OK, expected(how, "verticals_response", "Verticals", inner, &json)), "{how:?}");
            let reply = send(&t, how, GET, "CustomQueueStatuses", &[("api_key", t.admin.as_str())]).await;
            let inner = "<success>true</success><message></message><row_count>2</row_count><custom_queue_statuses><custom_queue_status><custom_queue_status_id>235</custom_queue_status_id><custom_queue_status_name>Called</custom_queue_status_name></custom_queue_status><custom_queue_status><custom_queue_status_id>236</custom_queue_status_id><custom_queue_status_name>Voicemail</custom_queue_status_name></custom_queue_status></custom_queue_statuses>";
            let json = json!({"success": true, "message": "", "row_count": 2, "custom_queue_statuses": [{"custom_queue_status_id": 235, "custom_queue_status_name": "Called"}, {"custom_queue_status_id": 236, "custom_queue_status_name": "Voicemail"}]});
            assert_eq!((reply.status, reply.text.clone()), (StatusCode::OK, expected(how, "custom_queue_statuses_response", "CustomQueueStatuses", inner, &json)), "{how:?}");
        }
    }
}

/// Each operation at every version path CAKE documents for it (docs/dialects/cake.md).
const DOCUMENTED: &[(&str, &str)] = &[
    ("/api/1/track.asmx", "UpdateLeadInQueue"),
    ("/api/1/track.asmx", "ReturnLead"),
    ("/api/2/track.asmx", "ReturnLead"),
    ("/api/1/get.asmx", "Verticals"),
    ("/api/2/get.asmx", "Verticals"),
    ("/api/1/get.asmx", "CustomQueueStatuses"),
    ("/api/1/get.asmx", "GetRejectReasons"),
    ("/buyers/api/1/leads.asmx", "Return"),
    ("/buyers/api/1/leads.asmx", "GetReturnReasons"),
];

conformance! {
    async fn verticals_answers_at_version_2_as_at_version_1_on_every_transport(app) {
        let t = TestApp::new(app).await;
        fixture(&t).await;
        for how in TRANSPORTS {
            let v1 = send(&t, how, GET, "Verticals", &[("api_key", t.admin.as_str())]).await;
            let v2 = send(&t, how, "/api/2/get.asmx", "Verticals", &[("api_key", t.admin.as_str())]).await;
            assert_eq!(v1.status, StatusCode::OK, "{how:?}: {}", v1.text);
            assert!(v1.text.contains("<vertical_name>Solar</vertical_name>") || how == Transport::Json, "{}", v1.text);
            let in_v2 = v1.text.replace(NS, "http://cakemarketing.com/api/2/");
            assert_eq!((v2.status, v2.text.clone(), v2.content_type()), (StatusCode::OK, in_v2, v1.content_type()), "{how:?}");
        }
        let wsdl = t.call("GET", "/api/2/get.asmx?WSDL", None, None).await;
        assert_eq!(wsdl.status, StatusCode::OK);
        assert!(wsdl.text.contains("targetNamespace=\"http://cakemarketing.com/api/2/\""), "{}", wsdl.text);
        assert!(wsdl.text.contains("Verticals") && !wsdl.text.contains("CustomQueueStatuses"), "{}", wsdl.text);
    }

    async fn every_documented_version_path_of_every_operation_is_served(app) {
        let t = TestApp::new(app).await;
        for (service, op) in DOCUMENTED {
            for how in TRANSPORTS {
                let reply = send(&t, how, service, op, &[("api_key", "not-a-key")]).await;
                assert_eq!(reply.status, StatusCode::OK, "{how:?} {service}/{op}: {}", reply.text);
                assert!(reply.text.contains("Invalid API Key"), "{how:?} {service}/{op}: {}", reply.text);
            }
            let page = t.call("GET", &format!("{service}?op={op}"), None, None).await;
            assert_eq!(page.status, StatusCode::OK, "{service}?op={op}");
        }
        // What CAKE documents at version 1 only is not invented at version 2.
        let undocumented = send(&t, Transport::Get, "/api/2/get.asmx", "CustomQueueStatuses", &[("api_key", "x")]).await;
        assert!(undocumented.text.contains("/api/2/get.asmx has no operation `CustomQueueStatuses`; it has Verticals"), "{}", undocumented.text);
    }
}

conformance! {
    async fn concurrent_fees_all_land_and_concurrent_referrals_sell_once(app) {
        let t = std::sync::Arc::new(TestApp::new(app).await);
        let (r, id) = fixture(&t).await;
        let mut fees = Vec::new();
        for _ in 0..8 {
            let (t, r) = (t.clone(), r.clone());
            fees.push(tokio::spawn(async move {
                let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("action", "add_call_center_fee"), ("call_center_fee", "0.01")];
                send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await
            }));
        }
        for fee in fees {
            assert_update_answer(&fee.await.unwrap(), Transport::Get, true, "Lead updated", Some(&r));
        }
        assert_eq!(t.get(&format!("/v1/leads/{id}/ledger")).await.body["total"], "0.08");
        let mut referrals = Vec::new();
        for _ in 0..4 {
            let (t, r) = (t.clone(), r.clone());
            referrals.push(tokio::spawn(async move {
                let params = [("api_key", t.admin.as_str()), ("lead_id", r.as_str()), ("action", "refer_to_buyer"), ("buyer_contract_id", "7")];
                send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await.text
            }));
        }
        let mut sold = 0;
        for referral in referrals {
            let text = referral.await.unwrap();
            if text.contains("<success>true</success>") {
                sold += 1;
            } else {
                assert!(text.contains("<message>Lead is already sold to this buyer contract</message>"), "{text}");
            }
        }
        assert_eq!(sold, 1);
        assert_eq!(t.get(&format!("/v1/sales?lead_id={id}")).await.body["items"].as_array().unwrap().len(), 1);
        let history = history_actions(&t, id).await;
        assert_eq!(history.iter().filter(|a| *a == "queue:add_call_center_fee").count(), 8);
        assert_eq!(history.iter().filter(|a| *a == "queue:refer_to_buyer").count(), 1);
    }
}

conformance! {
    async fn queues_are_found_per_vertical_and_dialer_keys_only_move_their_own_leads(app) {
        let t = TestApp::new(app).await;
        fixture(&t).await;
        let vertical = t.create("verticals", json!({"name": "Pools"})).await;
        let (_, _, campaign, allocation) = t.campaign().await;
        let created = t.post("/v1/leads", json!({"vertical_id": vertical, "campaign_id": campaign, "allocation_id": allocation, "phones": ["0299990002"]})).await.body;
        let (id, lead_ref) = (created["id"].as_i64().unwrap(), created["ref"].as_str().unwrap().to_string());
        // No call-center queue for this vertical nor one for every vertical: refused, named.
        let reply = t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "move_to_queue"})).await;
        common::assert_problem(&reply, StatusCode::BAD_REQUEST, Some("queue_id"));
        assert!(reply.body["detail"].as_str().unwrap().contains(&format!("no call_center queue for vertical {vertical}")), "{}", reply.text);
        let params = [("api_key", t.admin.as_str()), ("lead_id", lead_ref.as_str()), ("action", "move_to_queue")];
        assert_update_answer(&send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await, Transport::Get, false, "Invalid Custom Queue ID", None);
        // The review queue belongs to every vertical, so it is found.
        let reply = t.post(&format!("/v1/leads/{id}/queue-actions"), json!({"action": "move_to_review_queue"})).await;
        assert_eq!(reply.body["lead"]["queue_id"], 11, "{}", reply.text);
        // A dialer key moves leads of its campaigns, but charges and sells nothing, and sees no other lead.
        let dialer = t.dialer_key(vec![campaign]).await;
        let act = |body: Value| {
            let (t, dialer) = (&t, dialer.clone());
            async move { t.call("POST", &format!("/v1/leads/{id}/queue-actions"), Some(&dialer), Some(&body)).await }
        };
        let reply = act(json!({"action": "change_status_only", "queue_status_id": 235})).await;
        assert_eq!((reply.status, reply.body["lead"]["queue_status_id"].as_i64()), (StatusCode::OK, Some(235)), "{}", reply.text);
        common::assert_problem(&act(json!({"action": "add_call_center_fee", "call_center_fee": "1.00"})).await, StatusCode::FORBIDDEN, None);
        common::assert_problem(&act(json!({"action": "refer_to_buyer", "buyer_contract_id": 7})).await, StatusCode::FORBIDDEN, None);
        let (_, other) = lead(&t, 32).await;
        let reply = t.call("POST", &format!("/v1/leads/{other}/queue-actions"), Some(&dialer), Some(&json!({"action": "throw_out"}))).await;
        common::assert_problem(&reply, StatusCode::NOT_FOUND, None);
        assert_eq!(lead_state(&t, other).await["thrown_out"], false);
        // The CAKE services take admin keys only, so the same dialer key is refused there.
        let params = [("api_key", dialer.as_str()), ("lead_id", lead_ref.as_str()), ("custom_queue_status_id", "236"), ("action", "change_status_only")];
        assert_update_answer(&send(&t, Transport::Get, TRACK, "UpdateLeadInQueue", &params).await, Transport::Get, false, "Invalid API Key", None);
        assert_eq!(t.get(&format!("/v1/leads/{id}/ledger")).await.body["entries"], json!([]));
    }
}
