//! CAKE returns: ReturnLead (v1, v2) on GET and SOAP with every message and return type, the
//! buyer's Return (own purchases only, tried every way), and the reason look-ups.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use leadline_app::conformance;
use leadline_app::testing::TestClock;
use leadline_app::{App, Principal};
use serde_json::json;

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
const XSI_XSD: &str =
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"";

#[derive(Debug, Clone, Copy, PartialEq)]
enum How {
    Get,
    Soap11,
    Soap12,
}

struct Svc {
    path: &'static str,
    ns: &'static str,
}

const V1: Svc = Svc { path: "/api/1/track.asmx", ns: "http://cakemarketing.com/api/1/" };
const V2: Svc = Svc { path: "/api/2/track.asmx", ns: "http://cakemarketing.com/api/2/" };
const BUYERS: Svc = Svc { path: "/buyers/api/1/leads.asmx", ns: "http://cakemarketing.com/buyers/api/1/" };
const GET_SVC: Svc = Svc { path: "/api/1/get.asmx", ns: "http://cakemarketing.com/api/1/" };

fn envelope_ns(how: How) -> &'static str {
    if how == How::Soap11 {
        "http://schemas.xmlsoap.org/soap/envelope/"
    } else {
        "http://www.w3.org/2003/05/soap-envelope"
    }
}

async fn send(t: &TestApp, how: How, svc: &Svc, op: &str, params: &[(&str, &str)]) -> Reply {
    let request = match how {
        How::Get => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                query.append_pair(k, v);
            }
            Request::get(format!("{}/{op}?{}", svc.path, query.finish())).body(Body::empty())
        }
        How::Soap11 | How::Soap12 => {
            let inner: String = params.iter().map(|(k, v)| format!("<c:{k}>{v}</c:{k}>")).collect();
            let body = format!(
                "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{}\" xmlns:c=\"{}\">\n <s:Body>\n  <c:{op}>{inner}</c:{op}>\n </s:Body>\n</s:Envelope>",
                envelope_ns(how),
                svc.ns
            );
            let builder = Request::post(svc.path);
            let builder = if how == How::Soap11 {
                builder
                    .header("Content-Type", "text/xml; charset=utf-8")
                    .header("SOAPAction", format!("\"{}{op}\"", svc.ns))
            } else {
                builder
                    .header("Content-Type", format!("application/soap+xml; charset=utf-8; action=\"{}{op}\"", svc.ns))
            };
            builder.body(Body::from(body))
        }
    };
    t.send(request.unwrap()).await
}

fn expected(how: How, svc: &Svc, root: &str, op: &str, inner: &str) -> String {
    match how {
        How::Get => format!("{XML_HEAD}<{root} {XSI_XSD} xmlns=\"{}\">{inner}</{root}>", svc.ns),
        How::Soap11 | How::Soap12 => format!(
            "{XML_HEAD}<soap:Envelope xmlns:soap=\"{}\" {XSI_XSD}><soap:Body><{op}Response xmlns=\"{}\"><{op}Result>{inner}</{op}Result></{op}Response></soap:Body></soap:Envelope>",
            envelope_ns(how),
            svc.ns
        ),
    }
}

#[track_caller]
fn assert_return(reply: &Reply, how: How, svc: &Svc, op: &str, success: bool, message: &str) {
    let inner = format!("<success>{success}</success><message>{message}</message>");
    let want = expected(how, svc, "lead_return_response", op, &inner);
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::OK, want.as_str()), "{how:?} {}", svc.path);
}

/// Verticals 32 and 33; buyers 1 and 2; contracts 7 (buyer 1, 12.50, returns within 30 days)
/// and 9 (buyer 2, 20.00), both vertical 32; return reason 3, reject reason 4.
async fn catalog(t: &TestApp) {
    let catalog = json!({
        "verticals": [{"id": 32, "name": "Solar"}, {"id": 33, "name": "Roofing"}],
        "buyers": [{"id": 1, "name": "Acme"}, {"id": 2, "name": "Beta"}],
        "buyer-contracts": [
            {"id": 7, "buyer_id": 1, "vertical_id": 32, "name": "Acme solar", "price": "12.50", "max_return_age_days": 30, "replace_returns": false},
            {"id": 9, "buyer_id": 2, "vertical_id": 32, "name": "Beta solar", "price": "20.00", "replace_returns": false}
        ],
        "return-reasons": [{"id": 3, "name": "Bad phone"}, {"id": 5, "name": "Duplicate"}],
        "reject-reasons": [{"id": 4, "name": "Lead was valid"}]
    });
    let applied = t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
}

/// A lead in vertical 32 sold to each of `contracts`: its ref and id.
async fn sold(t: &TestApp, contracts: &[i64]) -> (String, i64) {
    let lead = t.post("/v1/leads", json!({"vertical_id": 32, "phones": ["0299990001"]})).await;
    let id = lead.body["id"].as_i64().unwrap();
    for contract in contracts {
        let sale = t.post("/v1/sales", json!({"lead_id": id, "buyer_contract_id": contract})).await;
        assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.text);
    }
    (lead.body["ref"].as_str().unwrap().to_string(), id)
}

async fn statuses(t: &TestApp) -> Vec<(i64, i64, String)> {
    let page = leadline_app::returns::list(
        &t.app,
        &Principal::operator(),
        leadline_store::returns::ReturnFilter { limit: 100, ..Default::default() },
    )
    .await
    .unwrap();
    page.items.iter().map(|r| (r.lead_id, r.buyer_contract_id, r.status.as_str().to_string())).collect()
}

async fn balance(t: &TestApp, buyer: i64) -> String {
    leadline_app::returns::ledger(&t.app, &Principal::operator(), buyer, None, 100).await.unwrap().balance
}

async fn actions(t: &TestApp, id: i64) -> Vec<String> {
    let history = t.get(&format!("/v1/leads/{id}/history")).await.body;
    history["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

/// Runs every message and return type of ReturnLead on one transport and version.
async fn every_message(t: &TestApp, how: How, svc: &Svc, v2: bool) {
    let k = t.admin.clone();
    let k = k.as_str();
    let (a, a_id) = sold(t, &[7]).await;
    let (b, b_id) = sold(t, &[7, 9]).await;
    let (unsold, _) = sold(t, &[]).await;
    let buyer = t.buyer_key(1).await;
    let call = |lead: &str, extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, String)> =
            vec![("api_key", k.to_string()), ("lead_id", lead.to_string()), ("vertical_id", "32".into())];
        if v2 {
            p.push(("buyer_contract_id", String::new()));
        }
        p.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
        p
    };
    let run = |params: Vec<(&'static str, String)>| async move {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        send(t, how, svc, "ReturnLead", &borrowed).await
    };
    let check =
        |reply: Reply, success: bool, message: &str| assert_return(&reply, how, svc, "ReturnLead", success, message);
    let submit = [("return_type", "submit_for_approval"), ("return_reason_id", "3"), ("denied_reason_id", "")];

    // Keys: unknown, buyer (admin only), none.
    let mut p = call(&a, &submit);
    p[0].1 = "nope".into();
    check(run(p).await, false, "Invalid API Key");
    let mut p = call(&a, &submit);
    p[0].1 = buyer.clone();
    check(run(p).await, false, "Invalid API Key");
    let mut p = call(&a, &submit);
    p.remove(0);
    check(run(p).await, false, "Invalid API Key");
    // The lead and vertical.
    check(run(call("ZZZZZZZZ", &submit)).await, false, "Invalid Lead ID");
    check(run(call("", &submit)).await, false, "Invalid Lead ID");
    let mut p = call(&a, &submit);
    p[2].1 = "99".into();
    check(run(p).await, false, "Invalid Vertical ID");
    let mut p = call(&a, &submit);
    p[2].1 = "x".into();
    check(run(p).await, false, "Invalid Vertical ID");
    let mut p = call(&a, &submit);
    p[2].1 = "33".into();
    check(run(p).await, false, "Can not find Lead ID in this vertical");
    // Return type and reasons.
    check(run(call(&a, &[("return_type", "refund"), ("return_reason_id", "3")])).await, false, "Invalid Return Type");
    check(run(call(&a, &[("return_type", ""), ("return_reason_id", "3")])).await, false, "Invalid Return Type");
    check(
        run(call(&a, &[("return_type", "submit_for_approval"), ("return_reason_id", "")])).await,
        false,
        "Invalid Return Reason ID",
    );
    check(
        run(call(&a, &[("return_type", "submit_for_approval"), ("return_reason_id", "999")])).await,
        false,
        "Invalid Return Reason ID",
    );
    check(
        run(call(&a, &[("return_type", "reject"), ("return_reason_id", "3"), ("denied_reason_id", "999")])).await,
        false,
        "Invalid Denied Reason ID",
    );
    check(
        run(call(&a, &[("return_type", "reject"), ("return_reason_id", "3")])).await,
        false,
        "Denied Reason ID is Required to Reject a Return",
    );
    // Sales.
    check(run(call(&unsold, &submit)).await, false, "Lead has not been Sold");
    check(run(call(&b, &submit)).await, false, "Lead was Sold to More than One Buyer Contract; pass buyer_contract_id");
    assert!(
        statuses(t).await.iter().all(|(lead, _, _)| *lead != a_id && *lead != b_id),
        "no refused call made a return"
    );

    // The life of a return: submitted, listed once, rejected, then decided for good.
    check(run(call(&a, &submit)).await, true, "Lead Submitted for Return Approval");
    check(run(call(&a, &submit)).await, false, "Lead is Already in Return List");
    check(
        run(call(&a, &[("return_type", "reject"), ("return_reason_id", ""), ("denied_reason_id", "4")])).await,
        true,
        "Lead Return Rejected",
    );
    check(
        run(call(&a, &[("return_type", "approve_for_credit"), ("return_reason_id", "3")])).await,
        false,
        "Lead Return has Already been Decided",
    );
    check(run(call(&a, &submit)).await, false, "Lead Return has Already been Decided");
    assert_eq!(actions(t, a_id).await, ["create", "sell", "return:pending", "return:rejected"]);

    if v2 {
        // One sale of a multi-sale lead, picked by contract: credit to buyer 1, replacement to buyer 2.
        let before = balance(t, 1).await;
        let mut p = call(&b, &[("return_type", "approve_for_credit"), ("return_reason_id", "3")]);
        p[3].1 = "8".into();
        check(run(p).await, false, "Invalid Buyer Contract ID");
        let mut p = call(&b, &[("return_type", "approve_for_credit"), ("return_reason_id", "3")]);
        p[3].1 = "seven".into();
        check(run(p).await, false, "Invalid Buyer Contract ID");
        let mut p = call(&b, &[("return_type", "approve_for_credit"), ("return_reason_id", "3")]);
        p[3].1 = "7".into();
        check(run(p).await, true, "Lead Return Approved for Credit");
        let mut p = call(&b, &[("return_type", "approve_to_replace"), ("return_reason_id", "5")]);
        p[3].1 = "9".into();
        check(run(p).await, true, "Lead Return Approved for Replacement");
        let returns: Vec<(i64, String)> =
            statuses(t).await.into_iter().filter(|(l, _, _)| *l == b_id).map(|(_, c, s)| (c, s)).collect();
        assert_eq!(returns, [(7, "approved_credit".to_string()), (9, "approved_replace".to_string())]);
        let after: i64 = money(&balance(t, 1).await) - money(&before);
        assert_eq!(after, 1250, "buyer 1 is credited the sale price exactly");
        let replacements =
            leadline_app::returns::replacements(&t.app, &Principal::operator(), None, None, 100).await.unwrap();
        assert!(replacements.items.iter().any(|r| r.buyer_contract_id == 9 && r.buyer_id == 2));
    } else {
        // v1 has no buyer_contract_id: a multi-sale lead cannot be told apart, a single one can.
        let (c, _) = sold(t, &[9]).await;
        check(
            run(call(&c, &[("return_type", "approve_for_credit"), ("return_reason_id", "3")])).await,
            true,
            "Lead Return Approved for Credit",
        );
        let (d, _) = sold(t, &[9]).await;
        check(
            run(call(&d, &[("return_type", "approve_to_replace"), ("return_reason_id", "3")])).await,
            true,
            "Lead Return Approved for Replacement",
        );
    }
}

fn money(text: &str) -> i64 {
    leadline_core::money::Money::parse(text).unwrap().minor()
}

conformance! {
    async fn return_lead_v2_has_an_exact_body_for_every_message_and_type_on_get_and_soap(app) {
        let t = TestApp::new(app).await;
        catalog(&t).await;
        for how in [How::Get, How::Soap11, How::Soap12] {
            every_message(&t, how, &V2, true).await;
        }
    }

    async fn return_lead_v1_has_an_exact_body_for_every_message_and_type_on_get_and_soap(app) {
        let t = TestApp::new(app).await;
        catalog(&t).await;
        for how in [How::Get, How::Soap11] {
            every_message(&t, how, &V1, false).await;
        }
    }

    async fn a_sale_past_the_return_age_or_a_protected_replacement_cannot_be_returned(app) {
        let clock = TestClock::at("2026-03-01T09:00:00Z");
        let app = App { clock: clock.clone(), ..app };
        let t = TestApp::new(app).await;
        catalog(&t).await;
        let (old, _) = sold(&t, &[7]).await;
        clock.advance(jiff::SignedDuration::from_hours(24 * 31));
        for how in [How::Get, How::Soap11] {
            let params = [("api_key", t.admin.as_str()), ("lead_id", old.as_str()), ("vertical_id", "32"), ("buyer_contract_id", "7"), ("return_type", "approve_for_credit"), ("return_reason_id", "3"), ("denied_reason_id", "")];
            assert_return(&send(&t, how, &V2, "ReturnLead", &params).await, how, &V2, "ReturnLead", false, "Lead is Past the Maximum Return Age");
        }
        // A replacement sale under a contract that does not take replacements back.
        let (first, first_id) = sold(&t, &[7]).await;
        let params = [("api_key", t.admin.as_str()), ("lead_id", first.as_str()), ("return_type", "approve_to_replace"), ("return_reason_id", "3")];
        assert_return(&send(&t, How::Get, &V2, "ReturnLead", &params).await, How::Get, &V2, "ReturnLead", true, "Lead Return Approved for Replacement");
        let (replacement, replacement_id) = sold(&t, &[7]).await;
        let return_id: i64 = {
            let page = leadline_app::returns::list(&t.app, &Principal::operator(), leadline_store::returns::ReturnFilter { limit: 100, ..Default::default() }).await.unwrap();
            page.items.iter().find(|r| r.lead_id == first_id).unwrap().id
        };
        let mut tx = t.app.store.begin().await.unwrap();
        leadline_store::Exec::run(&mut tx, &leadline_store::Sql::fixed("UPDATE sales SET replaces_return_id = $1 WHERE lead_id = $2", leadline_store::args![return_id, replacement_id])).await.unwrap();
        tx.commit().await.unwrap();
        let params = [("api_key", t.admin.as_str()), ("lead_id", replacement.as_str()), ("return_type", "submit_for_approval"), ("return_reason_id", "3")];
        for how in [How::Get, How::Soap12] {
            assert_return(&send(&t, how, &V2, "ReturnLead", &params).await, how, &V2, "ReturnLead", false, "Replacement Leads are not Returnable under this Contract");
        }
    }

    async fn a_buyer_key_returns_only_its_own_purchases(app) {
        let t = TestApp::new(app).await;
        catalog(&t).await;
        let acme = t.buyer_key(1).await;
        let beta = t.buyer_key(2).await;
        let (mine, _) = sold(&t, &[7]).await;
        let (theirs, theirs_id) = sold(&t, &[9]).await;
        let (shared, shared_id) = sold(&t, &[7, 9]).await;
        let buyer_return = |key: &str, lead: &str, contract: &str, reason: &str| {
            [("api_key", key.to_string()), ("lead_id", lead.to_string()), ("return_reason_id", reason.to_string()), ("buyer_contract_id", contract.to_string())]
        };
        for how in [How::Get, How::Soap11] {
            let run = |p: [(&'static str, String); 4]| {
                let t = &t;
                async move {
                    let borrowed: Vec<(&str, &str)> = p.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    send(t, how, &BUYERS, "Return", &borrowed).await
                }
            };
            let check = |reply: Reply, success: bool, message: &str| assert_return(&reply, how, &BUYERS, "Return", success, message);
            // Another buyer's sale reads exactly like a lead that does not exist, with or without a contract.
            check(run(buyer_return(&acme, &theirs, "0", "3")).await, false, "Invalid Lead ID");
            check(run(buyer_return(&acme, &theirs, "9", "3")).await, false, "Invalid Lead ID");
            check(run(buyer_return(&acme, "ZZZZZZZZ", "", "3")).await, false, "Invalid Lead ID");
            // On a lead both bought, naming the other buyer's contract does not reach its sale.
            check(run(buyer_return(&acme, &shared, "9", "3")).await, false, "Invalid Buyer Contract ID");
            check(run(buyer_return(&acme, &shared, "", "")).await, false, "Invalid Return Reason ID");
            check(run(buyer_return(&acme, &shared, "", "77")).await, false, "Invalid Return Reason ID");
            // Admin, unknown and missing keys are refused on the buyer service.
            check(run(buyer_return(&t.admin, &mine, "", "3")).await, false, "Invalid API Key");
            check(run(buyer_return("nope", &mine, "", "3")).await, false, "Invalid API Key");
        }
        // Its own purchase: submitted for approval, once; then the admin decides.
        let check = |reply: Reply, success: bool, message: &str| assert_return(&reply, How::Get, &BUYERS, "Return", success, message);
        let run = |p: [(&'static str, String); 4]| {
            let t = &t;
            async move {
                let borrowed: Vec<(&str, &str)> = p.iter().map(|(n, v)| (*n, v.as_str())).collect();
                send(t, How::Get, &BUYERS, "Return", &borrowed).await
            }
        };
        check(run(buyer_return(&acme, &mine, "0", "3")).await, true, "Lead Submitted for Return Approval");
        check(run(buyer_return(&acme, &mine, "", "3")).await, false, "Lead is Already in Return List");
        // On the shared lead its own sale is the only one it can pick, so no contract is needed.
        check(run(buyer_return(&acme, &shared, "", "3")).await, true, "Lead Submitted for Return Approval");
        // A buyer key cannot decide, on either TRACK version.
        for svc in [&V1, &V2] {
            let params = [("api_key", acme.as_str()), ("lead_id", mine.as_str()), ("return_type", "approve_for_credit"), ("return_reason_id", "3")];
            assert_return(&send(&t, How::Get, svc, "ReturnLead", &params).await, How::Get, svc, "ReturnLead", false, "Invalid API Key");
        }
        // Beta's sales are untouched: no return on its sale of the shared lead, none on its own lead.
        let all = statuses(&t).await;
        assert!(all.iter().all(|(lead, contract, _)| *contract != 9 && *lead != theirs_id), "{all:?}");
        assert!(all.contains(&(shared_id, 7, "pending".to_string())));
        // Beta returning Acme's lead learns nothing either.
        let reply = run(buyer_return(&beta, &mine, "7", "3")).await;
        check(reply, false, "Invalid Lead ID");
        assert_eq!(balance(&t, 1).await, "0.00");
        // The admin decides the pending returns: pending -> approved for credit, pending -> approved to replace.
        let approve = [("api_key", t.admin.as_str()), ("lead_id", mine.as_str()), ("vertical_id", "32"), ("buyer_contract_id", ""), ("return_type", "approve_for_credit"), ("return_reason_id", ""), ("denied_reason_id", "")];
        assert_return(&send(&t, How::Get, &V2, "ReturnLead", &approve).await, How::Get, &V2, "ReturnLead", true, "Lead Return Approved for Credit");
        let replace = [("api_key", t.admin.as_str()), ("lead_id", shared.as_str()), ("vertical_id", "32"), ("buyer_contract_id", "7"), ("return_type", "approve_to_replace"), ("return_reason_id", ""), ("denied_reason_id", "")];
        assert_return(&send(&t, How::Soap11, &V2, "ReturnLead", &replace).await, How::Soap11, &V2, "ReturnLead", true, "Lead Return Approved for Replacement");
        assert_eq!((balance(&t, 1).await, balance(&t, 2).await), ("12.50".to_string(), "0.00".to_string()));
        let replacements = leadline_app::returns::replacements(&t.app, &Principal::operator(), None, None, 100).await.unwrap();
        let owed: Vec<(i64, i64)> = replacements.items.iter().map(|r| (r.buyer_id, r.buyer_contract_id)).collect();
        assert_eq!(owed, [(1, 7)]);
        // Once decided, the buyer cannot submit it again.
        check(run(buyer_return(&acme, &mine, "", "3")).await, false, "Lead Return has Already been Decided");
        let history = actions(&t, shared_id).await;
        assert_eq!(history, ["create", "sell", "sell", "return:pending", "return:approved_replace"]);
    }

    async fn the_reason_look_ups_list_ids_and_names_on_get_and_soap(app) {
        let t = TestApp::new(app).await;
        catalog(&t).await;
        let buyer = t.buyer_key(1).await;
        for how in [How::Get, How::Soap11, How::Soap12] {
            for key in [t.admin.as_str(), buyer.as_str()] {
                let reply = send(&t, how, &BUYERS, "GetReturnReasons", &[("api_key", key)]).await;
                let inner = "<success>true</success><message></message><row_count>2</row_count><return_reasons><return_reason><return_reason_id>3</return_reason_id><return_reason_name>Bad phone</return_reason_name></return_reason><return_reason><return_reason_id>5</return_reason_id><return_reason_name>Duplicate</return_reason_name></return_reason></return_reasons>";
                assert_eq!(reply.text, expected(how, &BUYERS, "return_reasons_response", "GetReturnReasons", inner), "{how:?}");
                let reply = send(&t, how, &GET_SVC, "GetRejectReasons", &[("api_key", key)]).await;
                let inner = "<success>true</success><message></message><row_count>1</row_count><reject_reasons><reject_reason><reject_reason_id>4</reject_reason_id><reject_reason_name>Lead was valid</reject_reason_name></reject_reason></reject_reasons>";
                assert_eq!(reply.text, expected(how, &GET_SVC, "reject_reasons_response", "GetRejectReasons", inner), "{how:?}");
            }
            let reply = send(&t, how, &BUYERS, "GetReturnReasons", &[("api_key", "nope")]).await;
            let inner = "<success>false</success><message>Invalid API Key</message>";
            assert_eq!(reply.text, expected(how, &BUYERS, "return_reasons_response", "GetReturnReasons", inner));
        }
        // The reject-reason page CAKE's ReturnLead page points at.
        let page = t.send(Request::get("/api/1/get.asmx?op=GetRejectReasons").body(Body::empty()).unwrap()).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("<h1>GetRejectReasons</h1>"));
    }
}
