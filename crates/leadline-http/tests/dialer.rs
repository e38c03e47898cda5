//! The dial queue (next-lead, release, disposition on the native API) and webhook delivery.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use common::TestApp;
use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use leadline_app::conformance;
use leadline_app::outbound::OutboundPolicy;
use leadline_app::outbox::{signature, WebhookSettings, Worker};
use leadline_app::testing::{Backend, TestClock, TestDb};
use serde_json::{json, Value};
use sha2::Sha256;

/// The outbound policy of an installation that lets webhooks reach receivers on this machine,
/// as these tests' receivers are.
fn loopback() -> OutboundPolicy {
    OutboundPolicy::allowing(&["127.0.0.1", "::1"]).unwrap()
}

/// A loopback receiver that records every delivery's headers and body at `/hook`, and sends
/// whatever comes to `/moved` on to `/hook` with a redirect.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let seen: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push((headers, body));
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/moved",
            axum::routing::post(|| async {
                (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, "/hook")])
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Allocation 1 of campaign 1; contact hours 1 (Sydney, Mondays 09–17) and 2 (always open).
async fn fixture(t: &TestApp, hook: &str) {
    let always: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"day": d, "start": "00:00", "end": "24:00"}))
        .collect();
    let catalog = json!({
        "contact-hours": [{"id": 1, "name": "Sydney Mondays", "timezone": "Australia/Sydney", "schedule": [{"day": "mon", "start": "09:00", "end": "17:00"}]},
                          {"id": 2, "name": "Always", "timezone": "UTC", "schedule": always}],
        "campaign-templates": [{"id": 1, "name": "T"}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "C"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "A"}],
        "dispositions": [{"id": 1, "template_id": 1, "code": "Hook", "closes_lead": true, "actions": [{"type": "url", "url": format!("{hook}?lead=${{id}}")}]},
                         {"id": 2, "template_id": 1, "code": "NoAnswer", "actions": [{"type": "callback", "after_minutes": 30}]}]
    });
    assert_eq!(t.call("PUT", "/v1/catalog", Some(&t.admin), Some(&catalog)).await.status, StatusCode::OK);
}

async fn lead(t: &TestApp, body: Value) -> i64 {
    let mut body = body;
    body["campaign_id"] = json!(1);
    body["allocation_id"] = json!(1);
    let reply = t.post("/v1/leads", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

async fn next(t: &TestApp, holder: &str) -> Option<i64> {
    let reply = t.post("/v1/allocations/1/next-lead", json!({"holder": holder, "lease_seconds": 60})).await;
    match reply.status {
        StatusCode::OK => Some(reply.body["id"].as_i64().unwrap()),
        StatusCode::NO_CONTENT => None,
        other => panic!("next-lead answered {other}: {}", reply.text),
    }
}

conformance! {
    async fn leads_are_leased_in_dialing_order_within_their_contact_hours(app) {
        let clock = TestClock::at("2026-11-23T00:00:00Z"); // Monday 11:00 in Sydney
        let mut app = app;
        app.clock = clock.clone();
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        // (name, priority, callback, contact hours, closed)
        let plain = lead(&t, json!({"name": "plain", "contact_hours_id": 2})).await;
        let urgent = lead(&t, json!({"name": "urgent", "priority": 1, "contact_hours_id": 2})).await;
        let due = lead(&t, json!({"name": "due callback", "callback_at": "2026-11-22T23:00:00Z", "contact_hours_id": 2})).await;
        let later = lead(&t, json!({"name": "later callback", "callback_at": "2026-11-23T05:00:00Z", "contact_hours_id": 2})).await;
        let sydney = lead(&t, json!({"name": "sydney hours", "contact_hours_id": 1})).await;
        let closed = lead(&t, json!({"name": "closed", "closed": true})).await;
        let second = lead(&t, json!({"name": "second plain", "contact_hours_id": 2})).await;
        let mut order = Vec::new();
        while let Some(id) = next(&t, "agent").await {
            order.push(id);
        }
        assert_eq!(order, vec![urgent, due, plain, sydney, second]);
        assert!(!order.contains(&later) && !order.contains(&closed));
        let leased = t.get(&format!("/v1/leads/{urgent}")).await.body;
        assert_eq!((leased["lock_holder"].as_str(), leased["dial_count"].as_i64()), (Some("agent"), Some(1)));

        // Leases expire: a minute later the same leads are dialable again, the callback too once due.
        clock.advance(SignedDuration::from_hours(6)); // 17:00 in Sydney: its hours have closed
        let mut again = Vec::new();
        while let Some(id) = next(&t, "agent-2").await {
            again.push(id);
        }
        assert_eq!(again, vec![urgent, due, later, plain, second]);
        assert!(!again.contains(&sydney), "outside its contact hours");
    }

    async fn a_lease_is_released_by_its_holder_and_a_disposition_closes_or_reschedules(app) {
        let clock = TestClock::at("2026-11-23T00:00:00Z");
        let mut app = app;
        app.clock = clock.clone();
        let t = TestApp::new(app).await;
        fixture(&t, "http://127.0.0.1:9/hook").await;
        let id = lead(&t, json!({"name": "x"})).await;
        assert_eq!(next(&t, "a").await, Some(id));
        assert_eq!(next(&t, "b").await, None, "a held lead is not handed out twice");
        let refused = t.post(&format!("/v1/leads/{id}/release"), json!({"holder": "b"})).await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        let held = t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "NoAnswer", "holder": "b"})).await;
        assert_eq!(held.status, StatusCode::CONFLICT, "someone else holds it: {}", held.text);
        assert_eq!(t.post(&format!("/v1/leads/{id}/release"), json!({"holder": "a"})).await.status, StatusCode::OK);
        assert_eq!(next(&t, "b").await, Some(id));
        let done = t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "NoAnswer", "holder": "b"})).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert_eq!((done.body["callback_at"].as_str(), done.body["lock_holder"].clone()), (Some("2026-11-23T00:30:00Z"), json!(null)));
        assert_eq!(next(&t, "c").await, None, "the callback is not due yet");
        clock.advance(SignedDuration::from_mins(31));
        assert_eq!(next(&t, "c").await, Some(id));
        let unknown = t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "Teleported", "holder": "c"})).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        let bad = t.post("/v1/allocations/1/next-lead", json!({"holder": ""})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(t.post("/v1/allocations/99/next-lead", json!({"holder": "x"})).await.status, StatusCode::NOT_FOUND);
    }

    async fn each_disposition_change_is_delivered_once_signed_even_across_a_restart(app) {
        let (hook, seen) = receiver().await;
        let mut app = app;
        app.clock = TestClock::at("2026-11-23T00:00:00Z");
        let t = TestApp::new(app.clone()).await;
        fixture(&t, &hook).await;
        let first = lead(&t, json!({"name": "one"})).await;
        let second = lead(&t, json!({"name": "two"})).await;
        // Committed, not yet delivered: the node that made the change stops here.
        for id in [first, second] {
            assert_eq!(t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "Hook"})).await.status, StatusCode::OK);
        }
        assert!(seen.lock().unwrap().is_empty());
        // Another worker (a restarted node) delivers what is due, and a second pass finds nothing.
        let settings = WebhookSettings { secret: Some("s3cret".into()), policy: loopback(), ..Default::default() };
        let worker = Worker::new(app.clone(), settings.clone()).await.unwrap();
        assert_eq!(worker.deliver_due().await.unwrap(), 2);
        let again = Worker::new(app.clone(), settings).await.unwrap();
        assert_eq!(again.deliver_due().await.unwrap(), 0);
        assert_eq!(worker.deliver_due().await.unwrap(), 0);
        let deliveries = seen.lock().unwrap().clone();
        assert_eq!(deliveries.len(), 2);
        for (headers, body) in &deliveries {
            // What a receiver does: take the time and the MAC apart, and check the MAC over
            // "time.body" with the shared secret.
            let header = headers["x-leadline-signature"].to_str().unwrap();
            let (time, mac) = header.strip_prefix("t=").and_then(|rest| rest.split_once(",v1=")).expect("t=…,v1=…");
            assert_eq!(time, "1795392000", "the worker's clock at the time of sending");
            let mut expected = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
            expected.update(format!("{time}.{body}").as_bytes());
            let expected: String = expected.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(mac, expected);
            assert_eq!(header, signature("s3cret", 1_795_392_000, body));
            assert!(headers.contains_key("x-leadline-delivery"));
            let parsed: Value = serde_json::from_str(body).unwrap();
            assert_eq!((parsed["event"].as_str(), parsed["disposition"].as_str()), (Some("disposition"), Some("Hook")));
        }
    }
}

/// A receiver that is down gets retries with backoff, not a lost delivery.
#[tokio::test]
async fn a_failed_delivery_is_retried_later_and_not_lost() {
    let db = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let clock = TestClock::at("2026-11-23T00:00:00Z");
    let mut app = db.app.clone();
    app.clock = clock.clone();
    let t = TestApp::new(app.clone()).await;
    fixture(&t, "http://127.0.0.1:9/hook").await; // port 9: nothing listens
    let id = lead(&t, json!({"name": "x"})).await;
    t.post(&format!("/v1/leads/{id}/disposition"), json!({"code": "Hook"})).await;
    let settings = WebhookSettings { secret: Some("k".into()), policy: loopback(), ..Default::default() };
    let worker = Worker::new(app.clone(), settings).await.unwrap();
    assert_eq!(worker.deliver_due().await.unwrap(), 0);
    let mut conn = app.store.read().await.unwrap();
    let rows = leadline_store::dialer::webhooks_of(&mut conn, id).await.unwrap();
    assert_eq!((rows[0].1, rows[0].2, rows[0].3), (None, 1, false), "one failed attempt, waiting to retry");
    drop(conn);
    assert_eq!(worker.deliver_due().await.unwrap(), 0, "not due again before its backoff");
    db.remove().await;
}

/// Two nodes on one PostgreSQL database hand out 10,000 leases of one allocation at once, and
/// no lead is leased twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_hand_out_ten_thousand_leases_without_a_lead_leased_twice() {
    let Some(db) = TestDb::fresh(Backend::Postgres).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let one = Arc::new(TestApp::new(db.app.clone()).await);
    let two = Arc::new(TestApp::new(db.second_node().await).await);
    fixture(&one, "http://127.0.0.1:9/hook").await;
    // 10,000 leads, loaded set-wise so the test spends its time on the leases.
    let mut conn = db.app.store.read().await.unwrap();
    leadline_store::Exec::run(&mut conn, &leadline_store::Sql::new(
        "INSERT INTO leads (ref, campaign_id, allocation_id, phones, fields, priority, dial_count, closed, thrown_out, version, created_at, updated_at) \
         SELECT 'R' || lpad(g::text, 7, '0'), 1, 1, '[]', '{}', 10, 0, false, false, 1, 0, 0 FROM generate_series(1, 10000) g",
    ))
    .await
    .unwrap();
    drop(conn);
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let node = if worker % 2 == 0 { one.clone() } else { two.clone() };
        let admin = one.admin.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let reply = node
                    .call(
                        "POST",
                        "/v1/allocations/1/next-lead",
                        Some(&admin),
                        Some(&json!({"holder": format!("w{worker}"), "lease_seconds": 3600})),
                    )
                    .await;
                match reply.status {
                    StatusCode::OK => got.push(reply.body["id"].as_i64().unwrap()),
                    StatusCode::NO_CONTENT => return got,
                    other => panic!("{other}: {}", reply.text),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((total, all.len()), (10_000, 10_000), "every lead leased exactly once");
    two.app.store.close().await;
    db.remove().await;
}

/// A loopback receiver that hands each delivery's id to `answer`, which may act (move the
/// clock, run another node's worker) before it says what status to answer with.
async fn scripted_receiver<F, A>(answer: F) -> String
where
    F: Fn(i64) -> A + Clone + Send + Sync + 'static,
    A: std::future::Future<Output = StatusCode> + Send + 'static,
{
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let answer = answer.clone();
            async move {
                let id = headers["x-leadline-delivery"].to_str().unwrap().parse::<i64>().unwrap();
                answer(id).await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Two nodes on one database with one shared test clock, each with its own webhook worker.
async fn two_workers(db: &TestDb, settings: [WebhookSettings; 2]) -> (Arc<TestClock>, Worker, Worker) {
    let clock = TestClock::at("2026-11-23T00:00:00Z");
    let mut one = db.app.clone();
    one.clock = clock.clone();
    let mut two = db.second_node().await;
    two.clock = clock.clone();
    let [first, second] = settings;
    (clock, Worker::new(one, first).await.unwrap(), Worker::new(two, second).await.unwrap())
}

/// `count` deliveries to `hook` in the outbox: lead ids 1..=count, one delivery each.
async fn enqueue(db: &TestDb, hook: &str, count: i64) {
    let mut tx = db.app.store.begin().await.unwrap();
    let now = "2026-11-23T00:00:00Z".parse().unwrap();
    for lead in 1..=count {
        leadline_store::dialer::enqueue_webhook(&mut tx, lead, hook, "{}", now).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// (delivered, attempts, given up) of lead `lead`'s one delivery.
async fn delivery_state(db: &TestDb, lead: i64) -> (bool, i64, bool) {
    let mut conn = db.app.store.read().await.unwrap();
    let rows = leadline_store::dialer::webhooks_of(&mut conn, lead).await.unwrap();
    assert_eq!(rows.len(), 1);
    (rows[0].1.is_some(), rows[0].2, rows[0].3)
}

/// Every post of one node takes its full timeout; meanwhile the other node polls after each.
/// A claim covers what its node can post in that time, so nothing is posted twice.
async fn a_slow_receiver_does_not_get_a_delivery_twice_from_two_nodes(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let settings = WebhookSettings { secret: Some("k".into()), policy: loopback(), ..Default::default() };
    let timeout = SignedDuration::try_from(settings.timeout).unwrap();
    let (clock, first, second) = two_workers(&db, [settings.clone(), settings]).await;
    let second = Arc::new(second);
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let second_is_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = {
        let (seen, second) = (seen.clone(), second.clone());
        scripted_receiver(move |id| {
            let (seen, second, clock, polling) =
                (seen.clone(), second.clone(), clock.clone(), second_is_polling.clone());
            async move {
                seen.lock().unwrap().push(id);
                if !polling.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    // The first node's post: it takes the whole timeout, and the second node
                    // polls before it is answered.
                    clock.advance(timeout);
                    second.deliver_due().await.unwrap();
                    polling.store(false, std::sync::atomic::Ordering::SeqCst);
                }
                StatusCode::OK
            }
        })
        .await
    };
    enqueue(&db, &hook, 12).await;
    let mut rounds = 0;
    while first.deliver_due().await.unwrap() > 0 || second.deliver_due().await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 20, "the outbox drains");
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    let posted = seen.len();
    seen.dedup();
    assert_eq!((posted, seen.len()), (12, 12), "each delivery posted once: {seen:?}");
    for lead in 1..=12 {
        assert_eq!(delivery_state(&db, lead).await, (true, 1, false));
    }
    drop(second);
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_get_a_delivery_twice_from_two_nodes_on_sqlite() {
    a_slow_receiver_does_not_get_a_delivery_twice_from_two_nodes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_get_a_delivery_twice_from_two_nodes_on_postgres() {
    a_slow_receiver_does_not_get_a_delivery_twice_from_two_nodes(Backend::Postgres).await;
}

/// The first node's claim lapses while it posts (a stalled process); the second node takes the
/// delivery over and it succeeds. The first node's late failure, which would give the delivery
/// up, is not written over the second node's success.
async fn only_the_node_holding_the_claim_records_the_result(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let settings = WebhookSettings { secret: Some("k".into()), policy: loopback(), ..Default::default() };
    let last_try = WebhookSettings { max_attempts: 1, ..settings.clone() };
    let (clock, first, second) = two_workers(&db, [last_try, settings]).await;
    let second = Arc::new(second);
    let second_is_posting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = {
        let second = second.clone();
        scripted_receiver(move |_| {
            let (second, clock, posting) = (second.clone(), clock.clone(), second_is_posting.clone());
            async move {
                if posting.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return StatusCode::OK; // the second node's post
                }
                clock.advance(SignedDuration::from_mins(10)); // far past any claim
                assert_eq!(second.deliver_due().await.unwrap(), 1, "the lapsed claim is taken over");
                StatusCode::SERVICE_UNAVAILABLE // the first node's post, answered last
            }
        })
        .await
    };
    enqueue(&db, &hook, 1).await;
    assert_eq!(first.deliver_due().await.unwrap(), 0);
    assert_eq!(delivery_state(&db, 1).await, (true, 1, false), "delivered once, not given up");
    drop(second);
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_holding_the_claim_records_the_result_on_sqlite() {
    only_the_node_holding_the_claim_records_the_result(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_holding_the_claim_records_the_result_on_postgres() {
    only_the_node_holding_the_claim_records_the_result(Backend::Postgres).await;
}

/// The last error recorded for each delivery, in outbox order.
async fn last_errors(db: &TestDb) -> Vec<String> {
    use leadline_store::{Cells, Exec};
    let mut conn = db.app.store.read().await.unwrap();
    let rows =
        conn.all_rows(&leadline_store::Sql::new("SELECT last_error FROM webhook_outbox ORDER BY id")).await.unwrap();
    rows.iter().map(|row| row.opt_text("last_error").unwrap().unwrap_or_default()).collect()
}

/// Webhooks reach no internal address the operator did not allow: not through a name that
/// resolves to one (judged on the resolved address, at connect time), not through an address in
/// any spelling; and an allowed receiver cannot pass the call on with a redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_only_allowed_internal_addresses_and_follow_no_redirect() {
    let db = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let clock = TestClock::at("2026-11-23T00:00:00Z");
    let mut app = db.app.clone();
    app.clock = clock.clone();
    let (hook, seen) = receiver().await;
    let port = hook.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hook").to_string();
    let internal = [
        format!("http://localhost:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
    ];
    let mut tx = db.app.store.begin().await.unwrap();
    for (lead, url) in (1..).zip(&internal) {
        leadline_store::dialer::enqueue_webhook(&mut tx, lead, url, "{}", app.now()).await.unwrap();
    }
    tx.commit().await.unwrap();

    let settings = WebhookSettings { secret: Some("k".into()), batch: 10, ..Default::default() };
    let strict = Worker::new(app.clone(), settings.clone()).await.unwrap();
    assert_eq!(strict.deliver_due().await.unwrap(), 0);
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the loopback receiver");
    for lead in 1..=4 {
        assert_eq!(delivery_state(&db, lead).await, (false, 1, false), "lead {lead}: refused, to be retried");
    }
    let errors = last_errors(&db).await;
    assert!(errors[0].contains("localhost resolves only to internal addresses"), "{}", errors[0]);
    for error in &errors[1..] {
        assert!(error.contains("127.0.0.1 is a loopback address"), "{error}");
    }

    // An installation that allows loopback delivers them, the name included; a redirect from
    // the receiver is an answer, not a new destination.
    let mut tx = db.app.store.begin().await.unwrap();
    leadline_store::dialer::enqueue_webhook(&mut tx, 5, &format!("http://127.0.0.1:{port}/moved"), "{}", app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    clock.advance(SignedDuration::from_mins(1));
    let allowing = Worker::new(app.clone(), WebhookSettings { policy: loopback(), ..settings }).await.unwrap();
    assert_eq!(allowing.deliver_due().await.unwrap(), 4);
    assert_eq!(seen.lock().unwrap().len(), 4, "the redirect was not followed to /hook");
    assert_eq!(delivery_state(&db, 5).await, (false, 1, false));
    assert!(last_errors(&db).await[4].contains("307"));
    db.remove().await;
}
