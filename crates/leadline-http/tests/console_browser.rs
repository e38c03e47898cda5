//! The operator console in a real browser: headless Chromium, driven over WebDriver, against a
//! server on a loopback port. Each test signs in through the form, works the pages as an operator
//! would, checks the database afterwards, and saves a screenshot of each page under
//! `target/console-screenshots/`. Without Chromium the tests print why and pass as skipped.

mod browser;
mod console_fixture;

use std::time::{Duration, Instant};

use browser::Browser;
use console_fixture::{return_status, HOSTILE_FIELD, HOSTILE_NAME};
use leadline_app::keys::{self, KeyRequest};
use leadline_app::{conformance, App, Principal};
use leadline_http::{router, HttpSettings};
use leadline_store::Backend;

/// Serves the whole router on a loopback port; returns its base URL.
async fn serve(app: &App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = router(app.clone(), HttpSettings::default());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

async fn admin_key(app: &App) -> String {
    let request = KeyRequest { role: "admin".into(), name: Some("Night shift".into()), ..KeyRequest::default() };
    keys::create(app, &Principal::operator(), &request).await.unwrap().secret
}

fn prefix(app: &App) -> &'static str {
    match app.store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Waits (bounded) until an element matching `css` is on the page, after a form post.
async fn wait_for(b: &Browser, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.find_all(css).await.is_empty() {
        assert!(Instant::now() < deadline, "`{css}` did not appear; the page is {}", b.url().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until the element matching `css` reads `expected`: a form post's new page,
/// not the page it was posted from.
async fn wait_for_text(b: &Browser, css: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if b.text_now(css).await.as_deref() == Some(expected) {
            return;
        }
        assert!(Instant::now() < deadline, "`{css}` never read {expected:?}; the page is {}", b.url().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(b: &Browser, base: &str, key: &str) {
    b.goto(&format!("{base}/console/dialer")).await;
    assert!(b.url().await.ends_with("/console/sign-in"), "signed-out visitors are sent to sign in");
    b.type_into("#api_key", key).await;
    b.click("form.signin button").await;
    wait_for(b, "header.top").await;
}

/// A lead's queue, queue status and thrown-out flag, read from the store.
async fn queue_state(app: &App, id: i64) -> (Option<i64>, Option<i64>, bool) {
    let mut conn = app.store.read().await.unwrap();
    let lead = leadline_store::leads::get(&mut conn, id).await.unwrap().unwrap();
    (lead.queue_id, lead.queue_status_id, lead.thrown_out)
}

async fn sessions(app: &App) -> i64 {
    let mut conn = app.store.read().await.unwrap();
    leadline_store::console::count_sessions(&mut conn).await.unwrap()
}

conformance! {
    async fn an_operator_signs_in_works_the_grid_dialer_lead_returns_and_archive_pages_and_signs_out(app) {
        let f = console_fixture::build(&app).await;
        let key = admin_key(&app).await;
        let base = serve(&app).await;
        let Some(b) = Browser::start().await else { return };
        let shot = |name: &str| format!("{}-{name}", prefix(&app));

        // Sign-in: a wrong key is refused on the page; the right one opens the dialer view.
        b.goto(&format!("{base}/console/sign-in")).await;
        b.type_into("#api_key", "ll_wrong").await;
        b.click("form.signin button").await;
        wait_for(&b, ".flash.failed").await;
        assert_eq!(b.text(".flash.failed").await, "Not signed in: unknown API key.");
        b.screenshot(&shot("sign-in")).await;
        sign_in(&b, &base, &key).await;
        assert!(b.url().await.ends_with("/console/dialer"));
        assert_eq!(sessions(&app).await, 1);
        assert_eq!(b.text("header.top .who").await, "Night shift (admin)");
        let row = "#allocations tr[data-allocation='1']";
        for (class, count) in [("dialable", "2"), ("callbacks", "1"), ("leased", "1"), ("closed", "1")] {
            assert_eq!(b.text(&format!("{row} td.{class}")).await, count, "{class}");
        }
        b.screenshot(&shot("dialer")).await;

        // The grid: pick a queue and a status in the filters; the rows and count follow.
        b.click("header.top nav a[href='/console/grid']").await;
        wait_for(&b, "#grid-filters").await;
        b.select("#grid-filters select[name='queue_id']", "1").await;
        b.select("#grid-filters select[name='status']", "2").await;
        b.click("#grid-filters button").await;
        wait_for(&b, "#grid").await;
        assert!(b.url().await.contains("status=2"));
        assert_eq!(b.text("#grid-total").await, "8 leads");
        assert_eq!(b.find_all("#grid tbody tr").await.len(), 8);
        for cell in b.find_all("#grid td.queue-status").await {
            assert_eq!(b.text_of(&cell).await, "No answer");
        }
        b.screenshot(&shot("grid")).await;
        // Tick two rows, set their status; then throw one lead out with its row's button.
        let ticked: Vec<i64> = f.queued.iter().copied().skip(1).step_by(3).take(2).collect();
        for id in &ticked {
            b.click(&format!("#grid tr[data-lead='{id}'] input[name='lead']")).await;
        }
        b.select("#grid-actions select[name='action']", "change_status_only").await;
        b.select("#grid-actions select[name='queue_status_id']", "3").await;
        b.click("#apply").await;
        wait_for_text(&b, ".flash.done", "Set status: done for 2 leads.").await;
        assert!(b.url().await.contains("status=2"), "back on the same view");
        assert_eq!(b.text("#grid-total").await, "6 leads");
        for id in &ticked {
            assert_eq!(queue_state(&app, *id).await, (Some(1), Some(3), false));
        }
        let out = f.queued[7];
        b.click(&format!("#grid tr[data-lead='{out}'] button[value='{out}:throw_out']")).await;
        wait_for_text(&b, ".flash.done", "Throw out: done for 1 lead.").await;
        assert_eq!(queue_state(&app, out).await, (None, Some(2), true));
        assert!(b.find_all(&format!("#grid tr[data-lead='{out}']")).await.is_empty());
        b.screenshot(&shot("grid-after-actions")).await;

        // The other actions, each on a lead still in the view: review (row button), a custom
        // move, a fee and a referral (ticked), then back from review to the call-center queue.
        let rows = b.script("return Array.from(document.querySelectorAll('#grid tbody tr')).map(r => Number(r.dataset.lead))").await;
        let rows: Vec<i64> = rows.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert!(rows.len() >= 4, "{rows:?}");
        let (reviewed, moved, charged, referred) = (rows[0], rows[1], rows[2], rows[3]);
        b.click(&format!("#grid tr[data-lead='{reviewed}'] button[value='{reviewed}:move_to_review_queue']")).await;
        wait_for_text(&b, ".flash.done", "Send to review: done for 1 lead.").await;
        assert_eq!(queue_state(&app, reviewed).await.0, Some(2));
        let bulk = |lead: i64, action: &'static str| {
            let b = &b;
            async move {
                b.click(&format!("#grid tr[data-lead='{lead}'] input[name='lead']")).await;
                b.select("#grid-actions select[name='action']", action).await;
            }
        };
        bulk(moved, "move_to_custom_queue").await;
        b.select("#grid-actions select[name='queue_id']", "3").await;
        b.click("#apply").await;
        wait_for_text(&b, ".flash.done", "Move to custom queue: done for 1 lead.").await;
        assert_eq!(queue_state(&app, moved).await.0, Some(3));
        bulk(charged, "add_call_center_fee").await;
        b.type_into("#grid-actions input[name='fee']", "2.50").await;
        b.click("#apply").await;
        wait_for_text(&b, ".flash.done", "Charge call-center fee: done for 1 lead.").await;
        let fees = {
            let mut conn = app.store.read().await.unwrap();
            leadline_store::ledger::lead_ledger(&mut conn, charged).await.unwrap()
        };
        assert_eq!(fees.iter().map(|r| (r.entry.kind, r.entry.amount_minor)).collect::<Vec<_>>(), [("call_center_fee", 250)]);
        bulk(referred, "refer_to_buyer").await;
        b.select("#grid-actions select[name='buyer_contract_id']", "1").await;
        b.click("#apply").await;
        wait_for_text(&b, ".flash.done", "Refer to buyer: done for 1 lead.").await;
        let sales = {
            let mut conn = app.store.read().await.unwrap();
            let filter = leadline_store::sales::SaleFilter { lead_id: Some(referred), limit: 10, ..Default::default() };
            leadline_store::sales::list(&mut conn, &filter).await.unwrap()
        };
        assert_eq!(sales.iter().map(|s| (s.buyer_contract_id, s.price.minor())).collect::<Vec<_>>(), [(1, 1250)]);
        b.goto(&format!("{base}/console/grid?queue_id=2")).await;
        wait_for(&b, &format!("#grid tr[data-lead='{reviewed}']")).await;
        bulk(reviewed, "move_to_queue").await;
        b.click("#apply").await;
        wait_for_text(&b, ".flash.done", "Move to call-center queue: done for 1 lead.").await;
        assert_eq!(queue_state(&app, reviewed).await.0, Some(1));
        b.click("header.top nav a[href='/console/dialer']").await;
        wait_for(&b, "#allocations").await;

        // The allocation's leads, and a lead whose fields hold markup: shown as text, never run.
        b.click(&format!("{row} a")).await;
        wait_for(&b, "#leads").await;
        let names: Vec<String> = {
            let mut names = Vec::new();
            for cell in b.find_all("#leads td.lead-name").await { names.push(b.text_of(&cell).await); }
            names
        };
        assert!(names.contains(&HOSTILE_NAME.to_string()), "{names:?}");
        assert_eq!(b.title().await, "Leads · Leadline console", "no script from a lead ran");
        b.screenshot(&shot("leads")).await;
        b.goto(&format!("{base}/console/leads/{}", f.hostile_lead)).await;
        assert_eq!(b.text("h1 .lead-name").await, HOSTILE_NAME);
        let notes = b.script("return [...document.querySelectorAll('dt')].find(d => d.textContent === 'notes').nextElementSibling.textContent").await;
        assert_eq!(notes, HOSTILE_FIELD);
        assert_eq!(b.script("return document.querySelectorAll('main script, main img, main b').length").await, 0);
        assert!(b.title().await.ends_with("· Leadline console"));
        assert!(!b.find_all("ol.timeline > li").await.is_empty(), "the history is shown");
        b.screenshot(&shot("lead")).await;

        // Returns: approve one for credit, one for replacement, reject one with a denied reason.
        b.goto(&format!("{base}/console/returns")).await;
        assert_eq!(b.find_all("#returns-queue tbody tr").await.len(), 3);
        b.screenshot(&shot("returns")).await;
        let button = |id: i64, decision: &str| format!("tr[data-return='{id}'] button[value='{decision}']");
        b.click(&button(f.returns[0], "approve_for_credit")).await;
        wait_for_text(&b, ".flash.done", &format!("Return #{} approved for credit.", f.returns[0])).await;
        b.click(&button(f.returns[1], "approve_to_replace")).await;
        wait_for_text(&b, ".flash.done", &format!("Return #{} approved for replacement.", f.returns[1])).await;
        // Reject without a denied reason: the page asks for one and nothing is posted.
        b.click(&button(f.returns[2], "reject")).await;
        let focused = b.script("return document.activeElement.getAttribute('name')").await;
        assert_eq!(focused, "denied_reason_id", "the denied reason is asked for");
        assert_eq!(b.text(".flash.done").await, format!("Return #{} approved for replacement.", f.returns[1]), "no post");
        assert_eq!(return_status(&app, f.returns[2]).await, "pending");
        b.select(&format!("tr[data-return='{}'] select", f.returns[2]), &f.denied_reason.to_string()).await;
        b.click(&button(f.returns[2], "reject")).await;
        wait_for_text(&b, ".flash.done", &format!("Return #{} rejected.", f.returns[2])).await;
        assert!(b.find_all("#returns-queue").await.is_empty(), "the queue is empty");
        b.screenshot(&shot("returns-decided")).await;

        // The database holds each decision and its effect.
        assert_eq!(return_status(&app, f.returns[0]).await, "approved_credit");
        assert_eq!(return_status(&app, f.returns[1]).await, "approved_replace");
        assert_eq!(return_status(&app, f.returns[2]).await, "rejected");
        let mut conn = app.store.read().await.unwrap();
        let rejected = leadline_store::returns::get_return(&mut conn, f.returns[2]).await.unwrap().unwrap();
        assert_eq!(rejected.denied_reason_id, Some(f.denied_reason));
        let (entries, balance) = leadline_store::ledger::buyer_ledger(&mut conn, f.buyer, None, 10).await.unwrap();
        assert_eq!((entries.len(), balance), (1, 1250));
        let replacements = leadline_store::returns::replacement_requests(&mut conn, None, None, None, 10).await.unwrap();
        assert_eq!(replacements.len(), 1);
        assert_eq!(replacements[0].return_id, f.returns[1]);
        let history = leadline_store::leads::history(&mut conn, f.sold_leads[0], None, 10).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!((last.action.as_str(), last.api.as_str()), ("return:approved_credit", "console"));
        drop(conn);

        // The buyer's ledger shows the credit.
        b.goto(&format!("{base}/console/ledger")).await;
        b.select("#buyer_id", &f.buyer.to_string()).await;
        b.click("form.find button").await;
        wait_for(&b, "#balance").await;
        assert_eq!(b.text("#balance").await, "12.50");
        assert_eq!(b.find_all("#ledger tbody tr").await.len(), 1);
        b.screenshot(&shot("ledger")).await;

        // Archive: two leads by id, then one back; the page lists both runs' counts.
        b.click("header.top nav a[href='/console/archive']").await;
        wait_for(&b, "#archive-run").await;
        assert!(b.text("#office-hours").await.starts_with("No office hours are configured"));
        let (first, second) = (f.queued[10], f.queued[11]);
        b.type_into("#lead_ids", &format!("{first}, {second}")).await;
        b.click("#archive-run button[value='archive']").await;
        wait_for_text(&b, ".flash.done", "The archive run is done: 2 selected, 2 inserted, 0 updated, 2 deleted.").await;
        let mut conn = app.store.read().await.unwrap();
        assert!(leadline_store::leads::get(&mut conn, first).await.unwrap().is_none());
        assert!(leadline_store::archive::get(&mut conn, second).await.unwrap().is_some());
        drop(conn);
        b.type_into("#lead_ids", &second.to_string()).await;
        b.click("#archive-run button[value='dearchive']").await;
        wait_for_text(&b, ".flash.done", "The dearchive run is done: 1 selected, 1 inserted, 0 updated, 1 deleted.").await;
        assert_eq!(queue_state(&app, second).await.0, Some(1), "back in its queue");
        assert_eq!(b.find_all("#archive-runs tbody tr").await.len(), 2);
        b.screenshot(&shot("archive")).await;

        // On a phone-sized window the pages fit the screen; wide tables scroll inside their box.
        b.set_size(390, 844).await;
        for (page, name) in [("/console/dialer", "dialer-phone"), ("/console/returns?status=approved_credit", "returns-phone"),
                             ("/console/grid?queue_id=1", "grid-phone"), ("/console/archive", "archive-phone"),
                             (&*format!("/console/leads/{}", f.sold_leads[0]), "lead-phone")] {
            b.goto(&format!("{base}{page}")).await;
            let overflow = b.script("return document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
            assert!(overflow.as_i64().unwrap() <= 0, "{page} is wider than a phone screen by {overflow} px");
            b.screenshot(&shot(name)).await;
        }
        b.set_size(1280, 900).await;

        // Signing out ends the session in the database; the pages ask to sign in again.
        b.goto(&format!("{base}/console/dialer")).await;
        b.click("form.signout button").await;
        wait_for(&b, "form.signin").await;
        assert_eq!(b.text(".flash.done").await, "You have signed out.");
        assert_eq!(sessions(&app).await, 0);
        b.goto(&format!("{base}/console/returns")).await;
        assert!(b.url().await.ends_with("/console/sign-in"));
        b.quit().await;
    }
}
