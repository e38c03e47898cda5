//! Data for the console's tests: an allocation with leads in each dialer state, a lead whose
//! fields hold HTML, and three sold leads with pending returns. Built through the use cases.

#![allow(dead_code)]

use jiff::SignedDuration;
use leadline_app::returns::{self, LeadKey, ReturnCall};
use leadline_app::{catalog, leads, sales, App, Principal};
use leadline_core::history::Api;
use leadline_core::lead::LeadInput;
use leadline_core::returns::ReturnRequest;
use serde_json::{json, Value};

/// Text that would be markup if a page did not escape it.
pub const HOSTILE_NAME: &str = "<script>document.title='owned'</script><b>Bold</b> & Co";
pub const HOSTILE_FIELD: &str = "<img src=x onerror=alert(1)>";

pub struct Fixture {
    /// Leads in call-center queue 1, in the order made.
    pub queued: Vec<i64>,
    pub allocation: i64,
    pub hostile_lead: i64,
    /// Sold leads with a pending return each, and those returns.
    pub sold_leads: Vec<i64>,
    pub returns: Vec<i64>,
    pub buyer: i64,
    pub denied_reason: i64,
}

fn input(value: Value) -> LeadInput {
    serde_json::from_value(value).expect("a valid lead input")
}

pub async fn build(app: &App) -> Fixture {
    let admin = Principal::operator();
    let always: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"day": d, "start": "00:00", "end": "24:00"}))
        .collect();
    let file = json!({
        "verticals": [{"id": 1, "name": "Solar"}],
        "contact-hours": [{"id": 1, "name": "Always", "timezone": "UTC", "schedule": always}],
        "campaign-templates": [{"id": 1, "name": "Solar template"}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Solar outbound"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Morning list"}, {"id": 2, "campaign_id": 1, "name": "Empty list"}],
        "buyers": [{"id": 1, "name": "Acme Energy"}],
        "buyer-contracts": [{"id": 1, "buyer_id": 1, "vertical_id": 1, "name": "Acme solar", "price": "12.50"}],
        "return-reasons": [{"id": 1, "name": "Wrong number"}],
        "reject-reasons": [{"id": 1, "name": "Past the return window"}, {"id": 2, "name": "Lead was valid"}],
        "queues": [{"id": 1, "name": "Solar calls", "kind": "call_center", "vertical_id": 1},
                   {"id": 2, "name": "Solar review", "kind": "review", "vertical_id": 1},
                   {"id": 3, "name": "Hot leads", "kind": "custom", "vertical_id": 1}],
        "queue-statuses": [{"id": 1, "name": "New"}, {"id": 2, "name": "No answer"}, {"id": 3, "name": "Qualified"}]
    });
    catalog::apply(app, &admin, &file).await.expect("the fixture catalog applies");
    let now = app.now();
    let in_allocation = |extra: Value| {
        let mut body = json!({"vertical_id": 1, "campaign_id": 1, "allocation_id": 1, "contact_hours_id": 1});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        input(body)
    };
    // Dialable: two; a callback ahead: one; closed: one. One more is leased below.
    let hostile = leads::create(
        app,
        &admin,
        Api::Native,
        in_allocation(json!({"name": HOSTILE_NAME, "phones": ["0412345678"], "fields": {"notes": HOSTILE_FIELD}})),
    )
    .await
    .unwrap();
    leads::create(app, &admin, Api::Native, in_allocation(json!({"name": "Dana Dialable", "phones": ["0412345679"]})))
        .await
        .unwrap();
    let later = now.checked_add(SignedDuration::from_hours(3)).unwrap();
    leads::create(app, &admin, Api::Native, in_allocation(json!({"name": "Cal Later", "callback_at": later})))
        .await
        .unwrap();
    leads::create(app, &admin, Api::Native, in_allocation(json!({"name": "Clo Closed", "closed": true})))
        .await
        .unwrap();
    let leased = leads::create(app, &admin, Api::Native, in_allocation(json!({"name": "Lee Leased", "priority": 0})))
        .await
        .unwrap();
    let held = leadline_app::dialer::next_lead(app, &admin, 1, "agent-7", SignedDuration::from_mins(30))
        .await
        .unwrap()
        .expect("a lead is dialable");
    assert_eq!(held.id, leased.id, "the priority 0 lead is leased first");

    let mut sold_leads = Vec::new();
    let mut return_ids = Vec::new();
    for name in ["Ret One", "Ret Two", "Ret Three"] {
        let lead =
            leads::create(app, &admin, Api::Native, input(json!({"name": name, "vertical_id": 1}))).await.unwrap();
        sales::sell(app, &admin, Api::Native, lead.id, 1).await.unwrap();
        let call = ReturnCall {
            lead: LeadKey::Id(lead.id),
            vertical_id: None,
            buyer_contract_id: None,
            request: ReturnRequest::SubmitForApproval,
            return_reason_id: Some(1),
            denied_reason_id: None,
        };
        let submitted = returns::request(app, &admin, Api::Native, &call).await.unwrap();
        sold_leads.push(lead.id);
        return_ids.push(submitted.id);
    }
    // The call-center queue: 24 leads, statuses New, No answer, Qualified in turn.
    let mut queued = Vec::new();
    for i in 1..=24 {
        let lead = leads::create(
            app,
            &admin,
            Api::Native,
            input(json!({"name": format!("Queued {i:02}"), "vertical_id": 1, "campaign_id": 1, "queue_id": 1,
                         "queue_status_id": 1 + (i - 1) % 3, "phones": [format!("0400{i:06}")],
                         "email": format!("q{i}@example.test")})),
        )
        .await
        .unwrap();
        queued.push(lead.id);
    }
    Fixture {
        queued,
        allocation: 1,
        hostile_lead: hostile.id,
        sold_leads,
        returns: return_ids,
        buyer: 1,
        denied_reason: 2,
    }
}

/// The status of a return, read straight from the store.
pub async fn return_status(app: &App, id: i64) -> String {
    let mut conn = app.store.read().await.unwrap();
    leadline_store::returns::get_return(&mut conn, id).await.unwrap().unwrap().status.as_str().to_string()
}

/// "Today" for the dashboard's data: a Monday, midday UTC.
pub const DASHBOARD_TODAY: &str = "2026-11-30T12:00:00Z";

/// Data for the dashboard over three weeks, each write made at its own day by moving the
/// clock: leads through four edges and a list import, sales to two buyers, a return approved
/// for credit and one rejected, a call-center fee, and console archive runs. Returns the app
/// with its clock at [`DASHBOARD_TODAY`].
pub async fn dashboard(app: &App) -> App {
    use leadline_app::queues::{self, QueueCall};
    use leadline_app::testing::TestClock;
    use leadline_core::queues::QueueAction;

    let clock = TestClock::at("2026-11-05T09:00:00Z");
    let app = App { clock: clock.clone(), ..app.clone() };
    let admin = Principal::operator();
    let file = json!({
        "verticals": [{"id": 1, "name": "Solar"}],
        "campaign-templates": [{"id": 1, "name": "Solar list", "phone_country": "AU", "fields": [
            {"name": "First Name", "kind": "text"}, {"name": "Mobile", "kind": "phone"}]}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Solar outbound"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Morning list"}, {"id": 2, "campaign_id": 1, "name": "Imported list"}],
        "buyers": [{"id": 1, "name": "Acme Energy"}, {"id": 2, "name": "Bright Homes"}],
        "buyer-contracts": [{"id": 1, "buyer_id": 1, "vertical_id": 1, "name": "Acme solar", "price": "12.50"},
                            {"id": 2, "buyer_id": 2, "vertical_id": 1, "name": "Bright solar", "price": "20.00"}],
        "return-reasons": [{"id": 1, "name": "Wrong number"}],
        "reject-reasons": [{"id": 1, "name": "Lead was valid"}],
        "queues": [{"id": 1, "name": "Solar calls", "kind": "call_center", "vertical_id": 1}]
    });
    catalog::apply(&app, &admin, &file).await.expect("the dashboard catalog applies");
    let mut phone = 0;
    let mut lead = |api: Api, extra: Value| {
        phone += 1;
        let mut body = json!({"name": format!("Lead {phone}"), "vertical_id": 1, "campaign_id": 1, "allocation_id": 1,
                              "phones": [format!("0413{phone:06}")]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let app = app.clone();
        async move { leads::create(&app, &Principal::operator(), api, input(body)).await.unwrap() }
    };
    let sell = |lead: i64, contract: i64| {
        let app = app.clone();
        async move { sales::sell(&app, &Principal::operator(), Api::Native, lead, contract).await.unwrap() }
    };
    let ask_return = |lead: i64| {
        let app = app.clone();
        async move {
            let call = ReturnCall {
                lead: LeadKey::Id(lead),
                vertical_id: None,
                buyer_contract_id: None,
                request: ReturnRequest::SubmitForApproval,
                return_reason_id: Some(1),
                denied_reason_id: None,
            };
            returns::request(&app, &Principal::operator(), Api::Native, &call).await.unwrap()
        }
    };
    let day = |at: &str| {
        let target: jiff::Timestamp = at.parse().unwrap();
        clock.advance(clock.now().duration_until(target));
    };
    use leadline_app::Clock;

    // 2026-11-05, in the 30-day period only: two API leads, one sold to Acme.
    let early = lead(Api::Native, json!({})).await;
    lead(Api::Native, json!({})).await;
    sell(early.id, 1).await;

    // 2026-11-25: three API leads, two CAKE, one Noojee, one iVvy; two API leads sold to Acme,
    // one CAKE lead to Bright; both Acme sales are returned.
    day("2026-11-25T10:00:00Z");
    let mut api_leads = Vec::new();
    for _ in 0..3 {
        api_leads.push(lead(Api::Native, json!({})).await);
    }
    let cake = lead(Api::Cake, json!({})).await;
    lead(Api::Cake, json!({"closed": true})).await;
    lead(Api::Noojee, json!({})).await;
    lead(Api::Ivvy, json!({"callback_at": "2026-12-02T09:00:00Z"})).await;
    sell(api_leads[0].id, 1).await;
    sell(api_leads[1].id, 1).await;
    sell(cake.id, 2).await;
    let credited = ask_return(api_leads[0].id).await;
    let rejected = ask_return(api_leads[1].id).await;

    // 2026-11-27: one return approved for credit, the other rejected; a call-center fee.
    day("2026-11-27T15:30:00Z");
    returns::decide(&app, &admin, Api::Native, credited.id, ReturnRequest::ApproveForCredit, None).await.unwrap();
    returns::decide(&app, &admin, Api::Native, rejected.id, ReturnRequest::Reject, Some(1)).await.unwrap();
    let fee = QueueCall {
        lead: LeadKey::Id(api_leads[2].id),
        vertical_id: None,
        queue_status_id: None,
        action: QueueAction::AddCallCenterFee,
        queue_id: None,
        call_center_fee: Some(leadline_core::money::Money::from_minor(350)),
        buyer_contract_id: None,
    };
    queues::act(&app, &admin, Api::Native, &fee).await.unwrap();

    // 2026-11-28: a list import of four rows (one without a phone is rejected) and a Noojee lead.
    day("2026-11-28T08:00:00Z");
    let path = std::env::temp_dir().join(format!("leadline-dashboard-{}.csv", leadline_app::testing::random_hex(8)));
    std::fs::write(&path, "First Name,Mobile\nAnn,0414000001\nBob,0414000002\nCy,0414000003\nDee,\n").unwrap();
    let request = leadline_app::imports::ImportRequest { campaign_id: 1, allocation_id: 2, ..Default::default() };
    let imported = leadline_app::imports::import_file(
        &app,
        &admin,
        &request,
        path.clone(),
        leadline_app::imports::Tuning::default(),
        &mut (),
    )
    .await;
    std::fs::remove_file(&path).unwrap();
    imported.expect("the dashboard's list imports");
    lead(Api::Noojee, json!({})).await;

    // Today: two API leads, one sold to Bright; an archive run done and one refused.
    day(DASHBOARD_TODAY);
    let today = lead(Api::Native, json!({})).await;
    lead(Api::Native, json!({})).await;
    sell(today.id, 2).await;
    let by = Principal::operator();
    for (outcome, counts) in [("done", [2, 2, 2, 2]), ("it is office hours; archiving waits until they end.", [0; 4])] {
        let run = leadline_app::store::ArchiveRunRow {
            at: app.now(),
            key_id: None,
            direction: "archive".into(),
            lead_ids: 2,
            counts,
            outcome: outcome.into(),
        };
        leadline_app::console::record_archive_run(&app, &by, &run).await.unwrap();
    }
    app
}
