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
use leadline_store::{Backend, Cells, Exec, Sql};

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

        // Sign-in: a wrong key is refused on the page; the right one opens the dashboard.
        b.goto(&format!("{base}/console/sign-in")).await;
        b.type_into("#api_key", "ll_wrong").await;
        b.click("form.signin button").await;
        wait_for(&b, ".flash.failed").await;
        assert_eq!(b.text(".flash.failed").await, "Not signed in: unknown API key.");
        b.screenshot(&shot("sign-in")).await;
        sign_in(&b, &base, &key).await;
        assert!(b.url().await.ends_with("/console/dashboard"), "an admin key starts on the dashboard");
        assert_eq!(sessions(&app).await, 1);
        assert_eq!(b.text("header.top .who").await, "Night shift (admin)");
        b.click("header.top nav a[href='/console/dialer']").await;
        wait_for(&b, "#allocations").await;
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

/// The UTC day of a stored time, as the charts name it.
fn day_of(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).unwrap().to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

/// The chart's series a lead's first history row puts it in, written out here apart from the
/// use case's own mapping.
fn source_key(api: &str, action: &str) -> &'static str {
    match (action, api) {
        ("import", _) => "import",
        ("create", "native") => "api",
        ("create", "noojee") => "noojee",
        ("create", "ivvy") => "ivvy",
        ("create", "cake") => "cake",
        ("create", "vicidial") => "vicidial",
        _ => "other",
    }
}

/// What each chart should show, worked out in Rust from the database's rows (not from its
/// sums), keyed by (series, day) or (row, series).
async fn figures_from_the_database(app: &App) -> std::collections::HashMap<(String, String, String), i64> {
    let mut truth = std::collections::HashMap::new();
    let mut add = |chart: &str, series: &str, day: String, value: i64| {
        *truth.entry((chart.to_string(), series.to_string(), day)).or_insert(0) += value;
    };
    let mut conn = app.store.read().await.unwrap();
    let sales = conn.all_rows(&Sql::new("SELECT s.id, s.lead_id, s.sold_at, s.price_minor, bc.buyer_id FROM sales s JOIN buyer_contracts bc ON bc.id = s.buyer_contract_id")).await.unwrap();
    let sold_leads: std::collections::HashSet<i64> = sales.iter().map(|r| r.int("lead_id").unwrap()).collect();
    let arrivals = conn
        .all_rows(&Sql::new(
            "SELECT lead_id, at, api, action FROM lead_history WHERE action IN ('create', 'import', 'copy')",
        ))
        .await
        .unwrap();
    for r in &arrivals {
        let day = day_of(r.int("at").unwrap());
        add("leads-in", source_key(&r.text("api").unwrap(), &r.text("action").unwrap()), day.clone(), 1);
        let sold = sold_leads.contains(&r.int("lead_id").unwrap());
        add("sold", if sold { "sold" } else { "unsold" }, day, 1);
    }
    let returned: std::collections::HashSet<i64> = conn
        .all_rows(&Sql::new("SELECT sale_id FROM returns"))
        .await
        .unwrap()
        .iter()
        .map(|r| r.int("sale_id").unwrap())
        .collect();
    let week_start = jiff::Timestamp::from_microsecond(
        app.now().as_microsecond() - app.now().as_microsecond() % 86_400_000_000 - 6 * 86_400_000_000,
    )
    .unwrap();
    for r in &sales {
        add("money", "revenue", day_of(r.int("sold_at").unwrap()), r.int("price_minor").unwrap());
        if r.int("sold_at").unwrap() >= week_start.as_microsecond() {
            let buyer = r.int("buyer_id").unwrap().to_string();
            add("sales-of", "", buyer.clone(), 1);
            add("returns-of", "", buyer, i64::from(returned.contains(&r.int("id").unwrap())));
        }
    }
    for r in conn.all_rows(&Sql::new("SELECT at, kind, amount_minor FROM ledger")).await.unwrap() {
        let series = if r.text("kind").unwrap() == "buyer_credit" { "credits" } else { "fees" };
        add("money", series, day_of(r.int("at").unwrap()), r.int("amount_minor").unwrap());
    }
    for r in conn
        .all_rows(&Sql::new(
            "SELECT created_at, loaded, rejected_dnc + rejected_duplicate + rejected_invalid AS rejected FROM imports",
        ))
        .await
        .unwrap()
    {
        add("imports", "imported", day_of(r.int("created_at").unwrap()), r.int("loaded").unwrap());
        add("imports", "rejected", day_of(r.int("created_at").unwrap()), r.int("rejected").unwrap());
    }
    for r in conn.all_rows(&Sql::new("SELECT at, direction, outcome FROM console_archive_runs")).await.unwrap() {
        let series = match (r.text("outcome").unwrap().as_str(), r.text("direction").unwrap().as_str()) {
            ("done", "archive") => "archived",
            ("done", _) => "dearchived",
            _ => "not-run",
        };
        add("archive-runs", series, day_of(r.int("at").unwrap()), 1);
    }
    let now = app.now().as_microsecond();
    let leads = conn.all_rows(&Sql::new("SELECT allocation_id, CAST(CASE WHEN closed THEN 1 ELSE 0 END AS BIGINT) AS closed, lock_until, callback_at \
         FROM leads WHERE allocation_id IS NOT NULL")).await
    .unwrap();
    for r in &leads {
        let (closed, lock, callback): (i64, Option<i64>, Option<i64>) =
            (r.int("closed").unwrap(), r.opt_int("lock_until").unwrap(), r.opt_int("callback_at").unwrap());
        let state = if closed == 1 {
            "closed"
        } else if lock.is_some_and(|l| l > now) {
            "leased"
        } else if callback.is_some_and(|c| c > now) {
            "callbacks"
        } else {
            "dialable"
        };
        add("dialer-progress", state, r.int("allocation_id").unwrap().to_string(), 1);
    }
    truth
}

/// The marks of a chart as drawn: (row, series, day, value, height, width) of each.
async fn drawn(b: &Browser, chart: &str) -> Vec<(i64, String, String, i64, f64, f64)> {
    let marks = b.script(&format!(
        "return Array.from(document.querySelectorAll('#{chart} [data-series]')).map(e => {{ \
           const row = e.closest('[data-row]'); const box = e.getBBox(); \
           return [row ? Number(row.dataset.row) : 0, e.dataset.series, e.dataset.day || '', Number(e.dataset.value), box.height, box.width]; }})"
    ))
    .await;
    marks
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m[0].as_i64().unwrap(),
                m[1].as_str().unwrap().to_string(),
                m[2].as_str().unwrap().to_string(),
                m[3].as_i64().unwrap(),
                m[4].as_f64().unwrap(),
                m[5].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Each bar's length is its value on the chart's one scale: `size / value` is the same for
/// every mark, and a zero is drawn as nothing.
fn drawn_to_scale(chart: &str, sizes: &[(i64, f64)]) {
    let scales: Vec<f64> = sizes.iter().filter(|(v, _)| *v > 0).map(|(v, size)| size / *v as f64).collect();
    assert!(!scales.is_empty(), "{chart} draws something");
    for scale in &scales {
        assert!((scale - scales[0]).abs() < 0.01, "{chart}: bars drawn on different scales: {scales:?}");
    }
    assert!(sizes.iter().filter(|(v, _)| *v == 0).all(|(_, size)| *size < 0.01), "{chart}: a zero drawn as a bar");
}

conformance! {
    async fn the_dashboard_charts_show_the_databases_figures(app) {
        let app = console_fixture::dashboard(&app).await;
        let key = admin_key(&app).await;
        let base = serve(&app).await;
        let Some(b) = Browser::start().await else { return };
        let shot = |name: &str| format!("{}-{name}", prefix(&app));
        b.set_size(1280, 3000).await;
        sign_in(&b, &base, &key).await;
        b.goto(&format!("{base}/console")).await;
        wait_for(&b, "#leads-in").await;
        assert!(b.url().await.ends_with("/console/dashboard"));
        assert_eq!(b.text("#period a.active").await, "30 days");
        b.screenshot(&shot("dashboard-30")).await;
        b.click("#period a[href='/console/dashboard?days=7']").await;
        wait_for_text(&b, "#period a.active", "7 days").await;
        b.screenshot(&shot("dashboard-7")).await;

        // Every mark of every per-day chart against the database's rows, on the week shown.
        let truth = figures_from_the_database(&app).await;
        let expected = |chart: &str, series: &str, key: &str| {
            truth.get(&(chart.to_string(), series.to_string(), key.to_string())).copied().unwrap_or(0)
        };
        let week: Vec<String> = (24..=30).map(|d| format!("2026-11-{d}")).collect();
        for (chart, series) in [
            ("leads-in", &["api", "noojee", "ivvy", "cake", "vicidial", "import", "other"][..]),
            ("sold", &["sold", "unsold"][..]),
            ("money", &["revenue", "credits", "fees"][..]),
            ("imports", &["imported", "rejected"][..]),
            ("archive-runs", &["archived", "dearchived", "not-run"][..]),
        ] {
            let marks = drawn(&b, chart).await;
            assert_eq!(marks.len(), week.len() * series.len(), "{chart}: a mark per day and series");
            for (_, s, day, value, _, _) in &marks {
                assert!(week.contains(day), "{chart}: {day} is outside the week");
                assert_eq!(*value, expected(chart, s, day), "{chart} {s} {day}");
            }
            if chart != "money" {
                drawn_to_scale(chart, &marks.iter().map(|m| (m.3, m.4)).collect::<Vec<_>>());
            }
        }
        let total: i64 = drawn(&b, "leads-in").await.iter().map(|m| m.3).sum();
        assert_eq!(b.text("#leads-in-total").await, format!("{total} leads"));
        assert!(total > 0);

        // Return rates: per mille of each buyer's week of sales returned.
        let rates = drawn(&b, "return-rates").await;
        assert_eq!(rates.len(), 2, "both buyers sold this week");
        for (buyer, _, _, value, _, width) in &rates {
            let (sold, returned) = (expected("sales-of", "", &buyer.to_string()), expected("returns-of", "", &buyer.to_string()));
            assert_eq!(*value, returned * 1000 / sold, "buyer {buyer}");
            assert!((width - 410.0 * returned as f64 / sold as f64).abs() < 0.5, "buyer {buyer}'s bar is {width} wide");
        }
        // Dialer progress now, per allocation.
        let progress = drawn(&b, "dialer-progress").await;
        assert_eq!(progress.len(), 2 * 4);
        for (allocation, series, _, value, _, _) in &progress {
            assert_eq!(*value, expected("dialer-progress", series, &allocation.to_string()), "allocation {allocation} {series}");
        }
        drawn_to_scale("dialer-progress", &progress.iter().map(|m| (m.3, m.5)).collect::<Vec<_>>());

        // The stylesheet colours the series (the page may not carry inline styles).
        let fill = b.script("return getComputedStyle(document.querySelector('#leads-in rect.s-api')).fill").await;
        assert_eq!(fill, "rgb(31, 95, 191)");

        // Ninety days: 5 November is in, and the days still add up.
        b.click("#period a[href='/console/dashboard?days=90']").await;
        wait_for_text(&b, "#period a.active", "90 days").await;
        let marks = drawn(&b, "leads-in").await;
        assert_eq!(marks.len(), 90 * 7);
        for (_, s, day, value, _, _) in &marks {
            assert_eq!(*value, expected("leads-in", s, day), "leads-in {s} {day}");
        }
        b.screenshot(&shot("dashboard-90")).await;

        // On a phone the charts shrink to the screen.
        b.set_size(390, 2400).await;
        b.goto(&format!("{base}/console/dashboard?days=7")).await;
        let overflow = b.script("return document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
        assert!(overflow.as_i64().unwrap() <= 0, "the dashboard is wider than a phone screen by {overflow} px");
        b.screenshot(&shot("dashboard-phone")).await;
        b.quit().await;
    }
}
