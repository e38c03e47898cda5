//! The iVvy CRM dialect through the router: signed requests, addOrUpdateLead and its codes,
//! getLeadList filters and paging, the look-up lists.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use http_body_util::BodyExt;
use jiff::SignedDuration;
use leadline_app::conformance;
use leadline_app::signing::{self, ServerKey};
use leadline_app::testing::{Backend, TestClock, TestDb};
use leadline_app::{App, Principal};
use leadline_http::ivvy::signature::{body_md5, sign};
use leadline_http::ivvy::IvvySettings;
use leadline_http::HttpSettings;
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: &str = "2026-11-22T10:00:00Z";
const IVVY_NOW: &str = "2026-11-22 10:00:00";
const DOTNET_CONTENT_TYPE: &str = "application/json; charset=utf-8";

fn server_key() -> ServerKey {
    ServerKey::new("a server signing key of at least 32 characters").unwrap()
}

fn settings(allow_bearer: bool) -> HttpSettings {
    HttpSettings { ivvy: IvvySettings { server_key: Some(server_key()), allow_bearer }, ..HttpSettings::default() }
}

struct Ivvy {
    t: TestApp,
    clock: Arc<TestClock>,
    access_key: String,
    secret: String,
}

/// How to spoil a request, for the refusal tests.
#[derive(Default, Clone, Copy)]
struct Spoil {
    signature: bool,
    md5: bool,
}

impl Ivvy {
    async fn new(app: App) -> Ivvy {
        Ivvy::with(app, false).await
    }

    async fn with(app: App, allow_bearer: bool) -> Ivvy {
        let clock = TestClock::at(NOW);
        let app = App { clock: clock.clone(), ..App::new(app.store.clone()) };
        let server_key = server_key();
        let settings = settings(allow_bearer);
        let t = TestApp::with_settings(app.clone(), settings).await;
        let keys = leadline_app::keys::list(&app, &Principal::operator()).await.unwrap();
        let credential = signing::issue(&app, &Principal::operator(), &server_key, keys[0].id).await.unwrap();
        Ivvy { t, clock, access_key: credential.access_key, secret: credential.secret }
    }

    fn request(&self, uri: &str, body: &str, content_type: &str, date: &str, spoil: Spoil) -> Request<Body> {
        let md5 = if spoil.md5 { body_md5(b"something else") } else { body_md5(body.as_bytes()) };
        let to_sign = format!("POST{md5}{content_type}{uri}1.0ivvydate={date}").to_lowercase();
        let mut signature = sign(&self.secret, &to_sign);
        if spoil.signature {
            signature = sign("not the secret", &to_sign);
        }
        Request::builder()
            .method("POST")
            .uri(uri)
            .header("Content-Type", content_type)
            .header("Content-MD5", md5)
            .header("IVVY-Date", date)
            .header("X-Api-Version", "1.0")
            .header("X-Api-Authorization", format!("IWS {}:{signature}", self.access_key))
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// A signed call, as the .NET SDK sends it.
    async fn call(&self, namespace: &str, action: &str, body: Value) -> Reply {
        self.call_text(namespace, action, &body.to_string()).await
    }

    async fn call_text(&self, namespace: &str, action: &str, body: &str) -> Reply {
        // Each request is signed anew, and two within one second would look like a replay.
        self.clock.advance(SignedDuration::from_secs(1));
        let date = leadline_core::crm::format_time(self.t.app.now());
        let uri = format!("/api/1.0/{namespace}?action={action}");
        self.t.send(self.request(&uri, body, DOTNET_CONTENT_TYPE, &date, Spoil::default())).await
    }

    async fn ok(&self, namespace: &str, action: &str, body: Value) -> Value {
        let reply = self.call(namespace, action, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body
    }

    /// One of each look-up: quality 1, industry 2, source 3, type 4 (subtypes 41, 42), type 5
    /// (no subtypes), stage 6 (reason 61), channel 7, company 8 with contact 9, contact 10
    /// without a company, user 11.
    async fn catalog(&self) {
        let reply = self
            .t
            .call(
                "PUT",
                "/v1/catalog",
                Some(&self.t.admin.clone()),
                Some(&json!({
                    "lead-qualities": [{"id": 1, "name": "Hot"}],
                    "industries": [{"id": 2, "name": "Events"}],
                    "lead-sources": [{"id": 3, "name": "Web"}],
                    "lead-types": [
                        {"id": 4, "name": "Conference", "subtypes": [{"id": 41, "name": "Small"}, {"id": 42, "name": "Large"}]},
                        {"id": 5, "name": "Wedding"}
                    ],
                    "lead-stages": [{"id": 6, "name": "Lost", "reasons": [{"id": 61, "name": "Price"}]}],
                    "lead-channels": [{"id": 7, "name": "Phone"}],
                    "companies": [{"id": 8, "name": "Acme"}],
                    "contacts": [{"id": 9, "name": "Ann", "company_id": 8}, {"id": 10, "name": "Bob"}],
                    "users": [{"id": 11, "name": "Sal"}]
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }

    async fn add(&self, lead: Value) -> i64 {
        let body = self.ok("contact", "addOrUpdateLead", lead).await;
        assert_eq!(body["success"], true);
        body["id"].as_i64().unwrap()
    }
}

fn company_lead() -> Value {
    json!({"name": "Gala", "sourceId": 3, "typeId": 5, "stageId": 6, "companyId": 8, "companyLeadContactId": 9})
}

#[track_caller]
fn assert_exact(reply: &Reply, status: StatusCode, body: Value) {
    assert_eq!((reply.status, &reply.body), (status, &body), "{}", reply.text);
}

fn refused(message: &str) -> Value {
    json!({"errorCode": 401, "message": message, "specificCode": 0, "additionalMessages": []})
}

conformance! {
    async fn a_request_signed_like_the_dotnet_sdk_verifies(app) {
        let i = Ivvy::new(app).await;
        let reply = i.t.send(i.request("/api/1.0/test?action=ping", "", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await;
        assert_exact(&reply, StatusCode::OK, json!({"success": true}));
        assert_eq!(reply.text, r#"{"success":true}"#);
        let reply = i.call("test", "ping", json!({"example": "body"})).await;
        assert_exact(&reply, StatusCode::OK, json!({"success": true}));
    }

    async fn a_wrong_signature_a_wrong_md5_and_a_stale_date_are_refused(app) {
        let i = Ivvy::new(app).await;
        let uri = "/api/1.0/test?action=ping";
        let body = r#"{"example":"body"}"#;
        let wrong_signature = i.t.send(i.request(uri, body, DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil { signature: true, md5: false })).await;
        assert_exact(&wrong_signature, StatusCode::UNAUTHORIZED, refused(
            "the request signature does not match; sign method, Content-MD5, Content-Type, date, URI, X-Api-Version and IVVY headers as sent",
        ));
        let wrong_md5 = i.t.send(i.request(uri, body, DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil { signature: false, md5: true })).await;
        assert_exact(&wrong_md5, StatusCode::UNAUTHORIZED, refused("the Content-MD5 header does not match the request body"));
        let stale = i.t.send(i.request(uri, body, DOTNET_CONTENT_TYPE, "2026-11-22 09:54:59", Spoil::default())).await;
        assert_exact(&stale, StatusCode::UNAUTHORIZED, refused("the request is more than 5 minutes old; sign it again with the current time"));
        let ahead = i.t.send(i.request(uri, body, DOTNET_CONTENT_TYPE, "2026-11-22 10:05:01", Spoil::default())).await;
        assert_exact(&ahead, StatusCode::UNAUTHORIZED, refused("the request is dated more than 5 minutes ahead; check the client's clock"));
        // Signed with a Content-Type other than the one that arrived.
        let mut other_type = i.request(uri, body, "application/json", IVVY_NOW, Spoil::default());
        other_type.headers_mut().insert("content-type", DOTNET_CONTENT_TYPE.parse().unwrap());
        assert_eq!(i.t.send(other_type).await.status, StatusCode::UNAUTHORIZED);
        let fresh = i.t.send(i.request(uri, body, DOTNET_CONTENT_TYPE, "2026-11-22 09:55:01", Spoil::default())).await;
        assert_exact(&fresh, StatusCode::OK, json!({"success": true}));
    }

    async fn a_replayed_request_is_refused_now_and_later(app) {
        let i = Ivvy::new(app).await;
        let uri = "/api/1.0/test?action=ping";
        let first = i.t.send(i.request(uri, "{}", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await;
        assert_exact(&first, StatusCode::OK, json!({"success": true}));
        let again = i.t.send(i.request(uri, "{}", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await;
        assert_exact(&again, StatusCode::UNAUTHORIZED, refused("this signed request was already received; sign each request anew"));
        i.clock.advance(SignedDuration::from_mins(6));
        let old = i.t.send(i.request(uri, "{}", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await;
        assert_exact(&old, StatusCode::UNAUTHORIZED, refused("the request is more than 5 minutes old; sign it again with the current time"));
    }

    async fn unknown_revoked_and_unsigned_callers_are_refused(app) {
        let i = Ivvy::new(app).await;
        let mut unknown = i.request("/api/1.0/test?action=ping", "", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default());
        unknown.headers_mut().insert("x-api-authorization", "IWS ivk_000000000000000000000000:abc".parse().unwrap());
        assert_exact(&i.t.send(unknown).await, StatusCode::UNAUTHORIZED, refused("unknown API key"));
        let bearer = i.t.call("POST", "/api/1.0/test?action=ping", Some(&i.t.admin.clone()), None).await;
        assert_exact(&bearer, StatusCode::UNAUTHORIZED, refused(
            "this server accepts only signed iVvy requests (X-Api-Authorization: IWS <key>:<signature>)",
        ));
        let keys = leadline_app::keys::list(&i.t.app, &Principal::operator()).await.unwrap();
        leadline_app::keys::revoke(&i.t.app, &Principal::operator(), keys[0].id).await.unwrap();
        let revoked = i.call("test", "ping", json!({})).await;
        assert_exact(&revoked, StatusCode::UNAUTHORIZED, refused("this API key has been revoked"));
    }

    async fn a_plain_key_works_when_the_operator_turns_it_on(app) {
        let i = Ivvy::with(app, true).await;
        let reply = i.t.call("POST", "/api/1.0/test?action=ping", Some(&i.t.admin.clone()), None).await;
        assert_exact(&reply, StatusCode::OK, json!({"success": true}));
    }

    async fn an_empty_request_is_24215(app) {
        let i = Ivvy::new(app).await;
        let expected = json!({"errorCode": 400, "message": "The request is empty", "specificCode": 24215, "additionalMessages": []});
        for body in ["", "{}", "null", r#"{"name": null}"#] {
            let reply = i.call_text("contact", "addOrUpdateLead", body).await;
            assert_exact(&reply, StatusCode::BAD_REQUEST, expected.clone());
        }
    }

    async fn updating_a_lead_that_does_not_exist_is_24216(app) {
        let i = Ivvy::new(app).await;
        let reply = i.call("contact", "addOrUpdateLead", json!({"id": 999, "name": "Nobody"})).await;
        assert_exact(&reply, StatusCode::BAD_REQUEST, json!({
            "errorCode": 400, "message": "The lead does not exist", "specificCode": 24216,
            "additionalMessages": ["no lead with id 999"]
        }));
    }

    async fn invalid_details_are_24218_naming_every_field(app) {
        let i = Ivvy::new(app).await;
        i.catalog().await;
        let reply = i.call("contact", "addOrUpdateLead", json!({"description": "no name", "qualityId": 99})).await;
        assert_exact(&reply, StatusCode::BAD_REQUEST, json!({
            "errorCode": 400, "message": "The lead details are invalid", "specificCode": 24218,
            "additionalMessages": [
                "name: is required when adding a lead",
                "sourceId: is required when adding a lead",
                "typeId: is required when adding a lead",
                "stageId: is required when adding a lead",
                "companyId: a lead belongs to a company (companyId and companyLeadContactId) or to a contact (contactId and industryId); give one of them",
                "qualityId: no lead quality with id 99"
            ]
        }));
        let reply = i.call("contact", "addOrUpdateLead", json!({"name": "X", "colour": "red", "sourceId": "three"})).await;
        assert_eq!(reply.body["specificCode"], 24218);
        assert_eq!(reply.body["additionalMessages"][0], "colour: unknown field of a lead");
        assert_eq!(reply.body["additionalMessages"][1], "sourceId: must be a whole number");
    }

    async fn every_required_on_add_rule_is_enforced(app) {
        let i = Ivvy::new(app).await;
        i.catalog().await;
        let contact_lead = json!({"name": "Gala", "sourceId": 3, "typeId": 5, "stageId": 6, "contactId": 10, "industryId": 2});
        let without = |lead: &Value, field: &str| {
            let mut lead = lead.clone();
            lead.as_object_mut().unwrap().remove(field);
            lead
        };
        let with = |lead: &Value, field: &str, value: Value| {
            let mut lead = lead.clone();
            lead[field] = value;
            lead
        };
        let cases = [
            (without(&company_lead(), "name"), "name: is required when adding a lead"),
            (without(&company_lead(), "sourceId"), "sourceId: is required when adding a lead"),
            (without(&company_lead(), "typeId"), "typeId: is required when adding a lead"),
            (without(&company_lead(), "stageId"), "stageId: is required when adding a lead"),
            (without(&company_lead(), "companyLeadContactId"), "companyLeadContactId: is required when adding a company lead"),
            (without(&contact_lead, "industryId"), "industryId: is required when adding a contact lead"),
            (with(&company_lead(), "companyLeadContactId", json!(10)), "companyLeadContactId: contact 10 does not belong to company 8"),
            (with(&company_lead(), "typeId", json!(4)), "subtypeId: is required: lead type 4 has subtypes"),
            (with(&with(&company_lead(), "typeId", json!(4)), "subtypeId", json!(99)), "subtypeId: lead type 4 has no subtype 99"),
            (with(&company_lead(), "stageReasonId", json!(62)), "stageReasonId: lead stage 6 has no reason 62"),
            (with(&contact_lead, "companyId", json!(8)), "contactId: a lead belongs to a company (companyId) or to a contact (contactId), not to both"),
        ];
        for (lead, message) in cases {
            let reply = i.call("contact", "addOrUpdateLead", lead.clone()).await;
            assert_exact(&reply, StatusCode::BAD_REQUEST, json!({
                "errorCode": 400, "message": "The lead details are invalid", "specificCode": 24218,
                "additionalMessages": [message]
            }));
        }
        assert!(i.add(company_lead()).await > 0);
        assert!(i.add(contact_lead).await > 0);
        assert!(i.add(json!({"name": "Conf", "sourceId": 3, "typeId": 4, "subtypeId": 42, "stageId": 6,
            "stageReasonId": 61, "companyId": 8, "companyLeadContactId": 9})).await > 0);
    }

    async fn an_update_changes_only_the_given_fields(app) {
        let i = Ivvy::new(app).await;
        i.catalog().await;
        let mut lead = company_lead();
        lead["description"] = json!("Dinner for 200");
        lead["qualityId"] = json!(1);
        lead["customFields"] = json!([{"fieldId": 12, "fieldValue": "vegan"}]);
        let id = i.add(lead).await;
        let body = i.ok("contact", "addOrUpdateLead", json!({"id": id, "stageId": "6", "ownerUserId": 11,
            "customFields": [{"fieldId": 13, "fieldValue": 4}]})).await;
        assert_eq!(body, json!({"success": true, "id": id}));
        let stored = i.t.get(&format!("/v1/leads/{id}")).await.body;
        assert_eq!(stored["name"], "Gala");
        assert_eq!(stored["description"], "Dinner for 200");
        assert_eq!((stored["quality_id"].as_i64(), stored["owner_user_id"].as_i64()), (Some(1), Some(11)));
        assert_eq!(stored["fields"], json!({"12": "vegan", "13": 4}));
        assert_eq!(stored["version"], 2);
        let history = i.t.get(&format!("/v1/leads/{id}/history")).await.body;
        assert_eq!(history["items"][1]["api"], "ivvy");
        // An update is checked only by the rules its fields touch.
        let retype = i.call("contact", "addOrUpdateLead", json!({"id": id, "typeId": 4})).await;
        assert_eq!(retype.body["additionalMessages"], json!(["subtypeId: is required: lead type 4 has subtypes"]));
    }
}

conformance! {
    async fn a_lead_can_bring_its_new_company_and_contact_in_one_transaction(app) {
        let i = Ivvy::new(app).await;
        i.catalog().await;
        let id = i.add(json!({"name": "Launch", "sourceId": 3, "typeId": 5, "stageId": 6,
            "company": {"name": "Globex"}, "contact": {"name": "Hank", "email": "hank@globex.example"}})).await;
        let lead = i.t.get(&format!("/v1/leads/{id}")).await.body;
        let (company, contact) = (lead["company_id"].as_i64().unwrap(), lead["company_lead_contact_id"].as_i64().unwrap());
        assert_eq!(i.t.get(&format!("/v1/companies/{company}")).await.body, json!({"id": company, "name": "Globex"}));
        assert_eq!(i.t.get(&format!("/v1/contacts/{contact}")).await.body,
            json!({"id": contact, "name": "Hank", "email": "hank@globex.example", "company_id": company}));

        let id = i.add(json!({"name": "Party", "sourceId": 3, "typeId": 5, "stageId": 6, "industryId": 2,
            "contact": {"name": "Ivy"}})).await;
        let lead = i.t.get(&format!("/v1/leads/{id}")).await.body;
        assert_eq!((lead["company_id"].is_null(), lead["contact_id"].is_i64()), (true, true), "{lead}");

        let bad = i.call("contact", "addOrUpdateLead", json!({"name": "X", "sourceId": 3, "typeId": 5, "stageId": 6,
            "company": {"colour": "red"}, "contact": {"name": "Y", "email": "nope"}})).await;
        assert_exact(&bad, StatusCode::BAD_REQUEST, json!({
            "errorCode": 400, "message": "The lead details are invalid", "specificCode": 24218,
            "additionalMessages": [
                "company.colour: unknown field; a company has id, name",
                "contact.email: `nope` is not an email address"
            ]
        }));
        // The contact's id is taken, so the whole add is undone, the new company with it.
        let taken = i.call("contact", "addOrUpdateLead", json!({"name": "X", "sourceId": 3, "typeId": 5, "stageId": 6,
            "company": {"name": "Initech"}, "contact": {"id": 9, "name": "Again"}})).await;
        assert_exact(&taken, StatusCode::CONFLICT, json!({
            "errorCode": 409, "message": "a contact with this id already exists", "specificCode": 0, "additionalMessages": []
        }));
        let companies = i.t.get("/v1/companies").await.body;
        assert_eq!(companies["items"].as_array().unwrap().len(), 2, "{companies}");

        let update = i.call("contact", "addOrUpdateLead", json!({"id": id, "company": {"name": "Later"}})).await;
        assert_eq!(update.body["additionalMessages"],
            json!(["company: can only be sent when adding a lead; create the company first and send its id"]));
    }
}

/// Three leads to filter: Gala (company, hot), Garden party (contact), Board meeting (company,
/// owned by user 11, no description).
async fn three_leads(i: &Ivvy) -> [i64; 3] {
    i.catalog().await;
    let mut gala = company_lead();
    gala["qualityId"] = json!(1);
    gala["description"] = json!("Dinner for 200 VIPs");
    let a = i.add(gala).await;
    let b = i
        .add(json!({"name": "Garden party", "sourceId": 3, "typeId": 5, "stageId": 6, "contactId": 10,
        "industryId": 2, "description": "Lawn, 50 guests"}))
        .await;
    i.clock.advance(SignedDuration::from_hours(1));
    let mut board = company_lead();
    board["name"] = json!("Board meeting");
    board["ownerUserId"] = json!(11);
    let c = i.add(board).await;
    [a, b, c]
}

fn ids(body: &Value) -> Vec<i64> {
    body["results"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect()
}

conformance! {
    async fn lead_list_filters_apply_each_modifier(app) {
        let i = Ivvy::new(app).await;
        let [a, b, c] = three_leads(&i).await;
        let cases: Vec<(Value, Vec<i64>)> = vec![
            (json!({}), vec![a, b, c]),
            (json!({"name": "Gala"}), vec![a]),
            (json!({"name__BEGINS": "ga"}), vec![a, b]),
            (json!({"name__CONTAINS": "MEET"}), vec![c]),
            (json!({"description__CONTAINS": "50%"}), vec![]),
            (json!({"description__CONTAINS": "50 guests"}), vec![b]),
            (json!({"companyId": 8}), vec![a, c]),
            (json!({"companyId__NOT": "8"}), vec![b]),
            (json!({"id__GREATERTHAN": a}), vec![b, c]),
            (json!({"id__LESSTHAN": c}), vec![a, b]),
            (json!({"ownerUserId__EMPTY": true}), vec![a, b]),
            (json!({"ownerUserId__EMPTY": false}), vec![c]),
            (json!({"description__EMPTY": 1}), vec![c]),
            (json!({"qualityId": 1, "name__BEGINS": "G"}), vec![a]),
            (json!({"createdDate__GREATERTHAN": "2026-11-22 10:30:00"}), vec![c]),
            (json!({"modifiedDate__LESSTHAN": "2026-11-22 10:30:00"}), vec![a, b]),
        ];
        for (filter, expected) in cases {
            let body = i.ok("crm", "getLeadList", json!({"filter": filter})).await;
            assert_eq!(ids(&body), expected, "{filter}");
            assert_eq!(body["meta"]["totalResults"], expected.len(), "{filter}");
        }
        let body = i.ok("crm", "getLeadList", json!({"filter": {"id": a}})).await;
        assert_eq!(body["results"][0], json!({
            "id": a, "name": "Gala", "qualityId": 1, "industryId": null, "sourceId": 3, "companyId": 8,
            "companyLeadContactId": 9, "contactId": null, "ownerUserId": null, "typeId": 5, "subtypeId": null,
            "stageId": 6, "stageReasonId": null, "channelId": null, "description": "Dinner for 200 VIPs",
            "customFields": [], "createdDate": "2026-11-22 10:00:01", "modifiedDate": "2026-11-22 10:00:01"
        }));
    }

    async fn lead_list_pages_by_start_and_per_page(app) {
        let i = Ivvy::new(app).await;
        let [a, b, c] = three_leads(&i).await;
        let cases: Vec<(Value, Vec<i64>, Value)> = vec![
            (json!({}), vec![a, b, c], json!({"totalResults": 3, "start": 0, "perPage": 100, "count": 3})),
            (json!({"perPage": 2}), vec![a, b], json!({"totalResults": 3, "start": 0, "perPage": 2, "count": 2})),
            (json!({"perPage": 2, "start": 2}), vec![c], json!({"totalResults": 3, "start": 2, "perPage": 2, "count": 1})),
            (json!({"perPage": "1", "start": "1"}), vec![b], json!({"totalResults": 3, "start": 1, "perPage": 1, "count": 1})),
            (json!({"start": 5}), vec![], json!({"totalResults": 3, "start": 5, "perPage": 100, "count": 0})),
            (json!({"perPage": 1, "filter": {"companyId": 8}}), vec![a], json!({"totalResults": 2, "start": 0, "perPage": 1, "count": 1})),
        ];
        for (request, expected, meta) in cases {
            let body = i.ok("crm", "getLeadList", request.clone()).await;
            assert_eq!((ids(&body), &body["meta"]), (expected, &meta), "{request}");
        }
        let bad: Vec<(Value, &str)> = vec![
            (json!({"perPage": 0}), "perPage: must be between 1 and 100"),
            (json!({"perPage": 101}), "perPage: must be between 1 and 100"),
            (json!({"start": -1}), "start: must be 0 or more"),
            (json!({"page": 2}), "page: unknown parameter; a list takes start, perPage, filter"),
            (json!({"filter": {"colour": "red"}}), "filter.colour: leads cannot be filtered by `colour`; filter by one of id, name, description, qualityId, industryId, sourceId, companyId, companyLeadContactId, contactId, ownerUserId, typeId, subtypeId, stageId, stageReasonId, channelId, createdDate, modifiedDate"),
            (json!({"filter": {"name__STARTS": "G"}}), "filter.name__STARTS: `STARTS` is not one of BEGINS, CONTAINS, LESSTHAN, GREATERTHAN, NOT, EMPTY"),
        ];
        for (request, message) in bad {
            let reply = i.call("crm", "getLeadList", request).await;
            assert_exact(&reply, StatusCode::BAD_REQUEST, json!({
                "errorCode": 400, "message": "The request is invalid", "specificCode": 0, "additionalMessages": [message]
            }));
        }
    }

    async fn look_up_lists_show_subtypes_and_reasons_and_take_add_or_update(app) {
        let i = Ivvy::new(app).await;
        i.catalog().await;
        let types = i.ok("crm", "getLeadTypeList", json!({})).await;
        assert_eq!(types, json!({
            "meta": {"totalResults": 2, "start": 0, "perPage": 100, "count": 2},
            "results": [
                {"id": 4, "name": "Conference", "subtypes": [{"id": 41, "name": "Small"}, {"id": 42, "name": "Large"}]},
                {"id": 5, "name": "Wedding", "subtypes": []}
            ]
        }));
        let stages = i.ok("crm", "getLeadStageList", json!({"perPage": 1})).await;
        assert_eq!(stages["results"], json!([{"id": 6, "name": "Lost", "reasons": [{"id": 61, "name": "Price"}]}]));
        for (namespace, list, add) in [
            ("crm", "getLeadQualityList", "addOrUpdateLeadQuality"),
            ("account", "getIndustryList", "addOrUpdateIndustry"),
            ("crm", "getLeadSourceList", "addOrUpdateLeadSource"),
            ("crm", "getLeadChannelList", "addOrUpdateLeadChannel"),
        ] {
            let added = i.ok(namespace, add, json!({"name": "New"})).await;
            let id = added["id"].as_i64().unwrap();
            assert_eq!(added, json!({"success": true, "id": id}));
            assert_eq!(i.ok(namespace, add, json!({"id": id, "name": "Renamed"})).await, added);
            let listed = i.ok(namespace, list, json!({})).await;
            assert_eq!(listed["results"][1], json!({"id": id, "name": "Renamed"}), "{list}");
        }
        let chosen = i.ok("crm", "addOrUpdateLeadType", json!({"id": 70, "name": "Launch", "subtypes": [{"id": 71, "name": "Product"}]})).await;
        assert_eq!(chosen, json!({"success": true, "id": 70}));
        let bad = i.call("crm", "addOrUpdateLeadStage", json!({"name": "X", "colour": "red"})).await;
        assert_exact(&bad, StatusCode::BAD_REQUEST, json!({
            "errorCode": 400, "message": "The request is invalid", "specificCode": 0,
            "additionalMessages": ["colour: unknown field; a lead stage has id, name, reasons"]
        }));
        let unknown = i.call("crm", "getLeadColourList", json!({})).await;
        assert_exact(&unknown, StatusCode::NOT_FOUND, json!({
            "errorCode": 404, "message": "there is no action `getLeadColourList` in namespace `crm`",
            "specificCode": 0, "additionalMessages": []
        }));
    }
}

/// A signed request captured on one node and replayed to another is refused there: the seen
/// signatures live in the shared database, not in a node's memory.
async fn a_replay_to_another_node_is_refused(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let one = Ivvy::new(db.app.clone()).await;
    let second = db.second_node().await;
    let two =
        leadline_http::router(App { clock: one.clock.clone(), ..App::new(second.store.clone()) }, settings(false));
    let uri = "/api/1.0/test?action=ping";
    let first = one.t.send(one.request(uri, "{}", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await;
    assert_exact(&first, StatusCode::OK, json!({"success": true}));
    let replay = two.oneshot(one.request(uri, "{}", DOTNET_CONTENT_TYPE, IVVY_NOW, Spoil::default())).await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let bytes = replay.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body, refused("this signed request was already received; sign each request anew"));
    second.store.close().await;
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_to_another_node_is_refused_on_sqlite() {
    a_replay_to_another_node_is_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_to_another_node_is_refused_on_postgres() {
    a_replay_to_another_node_is_refused(Backend::Postgres).await;
}
