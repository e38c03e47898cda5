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
