//! The operator console through the router: sign-in and sessions, CSRF refusals, escaping,
//! sessions shared by nodes, and pages that load nothing from elsewhere. The browser tests
//! (`console_browser.rs`) drive the same pages in headless Chromium.

mod common;
mod console_fixture;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{Reply, TestApp};
use console_fixture::{return_status, HOSTILE_FIELD, HOSTILE_NAME};
use leadline_app::conformance;
use leadline_app::testing::{Backend, TestDb};

/// A cookie jar over the router, as a browser would hold one.
struct Visitor<'a> {
    t: &'a TestApp,
    cookies: HashMap<String, String>,
}

impl<'a> Visitor<'a> {
    fn new(t: &'a TestApp) -> Visitor<'a> {
        Visitor { t, cookies: HashMap::new() }
    }

    async fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            builder = builder.header(header::COOKIE, jar.join("; "));
        }
        let body = match form {
            Some(fields) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let encoded: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
                Body::from(encoded.join("&"))
            }
            None => Body::empty(),
        };
        let reply = self.t.send(builder.body(body).unwrap()).await;
        for value in reply.headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        reply
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send("POST", path, Some(form)).await
    }

    async fn post_owned(&mut self, path: &str, form: &[(&'static str, String)]) -> Reply {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(path, &pairs).await
    }

    /// Signs in with `key` through the sign-in form; returns the reply to the form post.
    async fn sign_in(&mut self, key: &str) -> Reply {
        let page = self.get("/console/sign-in").await;
        assert_eq!(page.status, StatusCode::OK);
        let token = csrf_of(&page.text);
        self.post("/console/sign-in", &[("csrf", &token), ("api_key", key)]).await
    }

    /// The CSRF token on the page at `path`.
    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        csrf_of(&page.text)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page has a form with a CSRF token") + 19;
    html[at..at + 64].to_string()
}

fn location(reply: &Reply) -> &str {
    reply.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn lead(t: &TestApp, id: i64) -> leadline_core::lead::Lead {
    let mut conn = t.app.store.read().await.unwrap();
    leadline_store::leads::get(&mut conn, id).await.unwrap().unwrap()
}

/// The lead's last history entry.
async fn history(t: &TestApp, id: i64) -> leadline_core::history::HistoryEntry {
    let mut conn = t.app.store.read().await.unwrap();
    leadline_store::leads::history(&mut conn, id, None, 1000).await.unwrap().pop().unwrap()
}

async fn session_count(t: &TestApp) -> i64 {
    let mut conn = t.app.store.read().await.unwrap();
    leadline_store::console::count_sessions(&mut conn).await.unwrap()
}

conformance! {
    async fn signing_in_opens_a_strict_http_only_session_and_pages_need_it(app) {
        let t = TestApp::new(app).await;
        let mut v = Visitor::new(&t);
        let away = v.get("/console/dialer").await;
        assert_eq!((away.status, location(&away)), (StatusCode::SEE_OTHER, "/console/sign-in"));

        let signed = v.sign_in(&t.admin).await;
        assert_eq!((signed.status, location(&signed)), (StatusCode::SEE_OTHER, "/console"), "{}", signed.text);
        let cookie = signed.headers.get_all(header::SET_COOKIE).iter()
            .map(|c| c.to_str().unwrap().to_string())
            .find(|c| c.starts_with("leadline_console=")).expect("a session cookie is set");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert_eq!(session_count(&t).await, 1);
        // The stored token is a hash, not the cookie's value.
        let token = v.cookies["leadline_console"].clone();
        let mut conn = t.app.store.read().await.unwrap();
        let stored = leadline_store::console::find_session(&mut conn, &token).await.unwrap();
        assert!(stored.is_none(), "the raw token must not be the stored key");
        drop(conn);

        let home = v.get("/console").await;
        assert_eq!(location(&home), "/console/dashboard");
        let page = v.get("/console/dialer").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.content_type().starts_with("text/html"), "{}", page.content_type());
        let csp = page.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

        // Signing out ends the session everywhere: the old cookie opens nothing.
        let old_cookie = v.cookies["leadline_console"].clone();
        let token = csrf_of(&page.text);
        let out = v.post("/console/sign-out", &[("csrf", &token)]).await;
        assert_eq!((out.status, location(&out)), (StatusCode::SEE_OTHER, "/console/sign-in?signed_out=1"));
        assert_eq!(session_count(&t).await, 0);
        let mut replay = Visitor::new(&t);
        replay.cookies.insert("leadline_console".into(), old_cookie);
        assert_eq!(location(&replay.get("/console/dialer").await), "/console/sign-in");
    }

    async fn a_wrong_revoked_or_empty_key_opens_no_session(app) {
        let t = TestApp::new(app).await;
        let mut v = Visitor::new(&t);
        let wrong = v.sign_in("ll_notakey").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.text.contains("Not signed in: unknown API key."), "{}", wrong.text);
        let empty = v.sign_in("").await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.text.contains("Enter an API key."), "{}", empty.text);
        let key = leadline_app::keys::create(&t.app, &leadline_app::Principal::operator(),
            &leadline_app::keys::KeyRequest { role: "readonly".into(), ..Default::default() }).await.unwrap();
        leadline_app::keys::revoke(&t.app, &leadline_app::Principal::operator(), key.key.id).await.unwrap();
        let revoked = v.sign_in(&key.secret).await;
        assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
        assert!(revoked.text.contains("revoked"), "{}", revoked.text);
        assert_eq!(session_count(&t).await, 0);
        assert!(!v.cookies.contains_key("leadline_console"));
    }

    async fn the_sign_in_form_without_its_own_token_is_refused(app) {
        let t = TestApp::new(app).await;
        let mut v = Visitor::new(&t);
        v.get("/console/sign-in").await;
        let missing = v.post("/console/sign-in", &[("api_key", &t.admin)]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        assert!(missing.text.contains("carried no security token"), "{}", missing.text);
        // A token that is not this browser's (another visitor's page) is refused too.
        let mut other = Visitor::new(&t);
        let foreign = csrf_of(&other.get("/console/sign-in").await.text);
        let forged = v.post("/console/sign-in", &[("csrf", &foreign), ("api_key", &t.admin)]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.text.contains("does not belong to your session"), "{}", forged.text);
        assert_eq!(session_count(&t).await, 0);
    }

    async fn a_form_post_without_the_token_or_with_another_sessions_is_refused(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut alice = Visitor::new(&t);
        alice.sign_in(&t.admin).await;
        let mut bob = Visitor::new(&t);
        bob.sign_in(&t.admin).await;
        let alices = alice.csrf("/console/returns").await;
        let bobs = bob.csrf("/console/returns").await;
        assert_ne!(alices, bobs);
        let path = format!("/console/returns/{}/decide", f.returns[0]);

        let missing = alice.post(&path, &[("decision", "approve_for_credit")]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        assert!(missing.text.contains("carried no security token"), "{}", missing.text);
        let empty = alice.post(&path, &[("csrf", ""), ("decision", "approve_for_credit")]).await;
        assert_eq!(empty.status, StatusCode::FORBIDDEN);
        let crossed = alice.post(&path, &[("csrf", &bobs), ("decision", "approve_for_credit")]).await;
        assert_eq!(crossed.status, StatusCode::FORBIDDEN);
        assert!(crossed.text.contains("does not belong to your session"), "{}", crossed.text);
        assert_eq!(return_status(&t.app, f.returns[0]).await, "pending", "a refused form changes nothing");
        let out = alice.post("/console/sign-out", &[("csrf", &bobs)]).await;
        assert_eq!(out.status, StatusCode::FORBIDDEN);
        assert_eq!(session_count(&t).await, 2, "a refused sign-out ends no session");

        // Without a session at all, a form post is sent to sign in and changes nothing.
        let mut stranger = Visitor::new(&t);
        let anonymous = stranger.post(&path, &[("csrf", &alices), ("decision", "approve_for_credit")]).await;
        assert_eq!((anonymous.status, location(&anonymous)), (StatusCode::SEE_OTHER, "/console/sign-in"));
        assert_eq!(return_status(&t.app, f.returns[0]).await, "pending");

        // With its own token the same form goes through, and says so once.
        let done = alice.post(&path, &[("csrf", &alices), ("decision", "approve_for_credit")]).await;
        assert_eq!((done.status, location(&done)), (StatusCode::SEE_OTHER, "/console/returns"), "{}", done.text);
        assert_eq!(return_status(&t.app, f.returns[0]).await, "approved_credit");
        let page = alice.get("/console/returns").await;
        assert!(page.text.contains(&format!("Return #{} approved for credit.", f.returns[0])), "{}", page.text);
        assert!(!alice.get("/console/returns").await.text.contains("approved for credit."), "the message shows once");
    }

    async fn html_in_lead_fields_is_shown_as_text(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        for path in [format!("/console/leads/{}", f.hostile_lead), "/console/leads?allocation_id=1".to_string()] {
            let page = v.get(&path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
            assert!(page.text.contains("&lt;script&gt;document.title='owned'&lt;/script&gt;&lt;b&gt;Bold&lt;/b&gt; &amp; Co"), "{path}: {}", page.text);
            assert!(!page.text.contains("<script>document"), "{path}");
            assert!(!page.text.contains("<b>Bold"), "{path}");
        }
        let page = v.get(&format!("/console/leads/{}", f.hostile_lead)).await;
        assert!(page.text.contains("&lt;img src=x onerror=alert(1)&gt;"), "{}", page.text);
        assert!(!page.text.contains(HOSTILE_FIELD));
        assert!(!page.text.contains(HOSTILE_NAME));
    }

    async fn the_dialer_view_counts_each_allocations_leads_by_state(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        let page = v.get("/console/dialer").await;
        let row = |id: i64| {
            let at = page.text.find(&format!("data-allocation=\"{id}\"")).unwrap();
            let end = page.text[at..].find("</tr>").unwrap();
            page.text[at..at + end].to_string()
        };
        let morning = row(f.allocation);
        for (class, count) in [("dialable", 2), ("callbacks", 1), ("leased", 1), ("closed", 1)] {
            assert!(morning.contains(&format!("<td class=\"num {class}\">{count}</td>")), "{class} {count}: {morning}");
        }
        let empty = row(2);
        assert!(empty.contains("<td class=\"num dialable\">0</td>"), "{empty}");
        // A buyer key has no dialer view; its home is the returns queue.
        let buyer = t.buyer_key(f.buyer).await;
        let mut b = Visitor::new(&t);
        b.sign_in(&buyer).await;
        assert_eq!(location(&b.get("/console").await), "/console/returns");
        assert_eq!(b.get("/console/dialer").await.status, StatusCode::FORBIDDEN);
    }

    async fn a_read_only_key_sees_the_queue_but_cannot_decide(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let readonly = t.key("readonly").await;
        let mut v = Visitor::new(&t);
        v.sign_in(&readonly).await;
        let page = v.get("/console/returns").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("Approve for credit"), "no decision buttons for a read-only key");
        let token = csrf_of(&page.text);
        let tried = v.post(&format!("/console/returns/{}/decide", f.returns[1]), &[("csrf", &token), ("decision", "reject"), ("denied_reason_id", "1")]).await;
        assert_eq!(tried.status, StatusCode::SEE_OTHER);
        let shown = v.get("/console/returns").await;
        assert!(shown.text.contains("was not decided: a readonly key cannot do this"), "{}", shown.text);
        assert_eq!(return_status(&t.app, f.returns[1]).await, "pending");
    }

    async fn a_rejection_without_a_denied_reason_is_refused_with_a_message(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        let token = v.csrf("/console/returns").await;
        let path = format!("/console/returns/{}/decide", f.returns[2]);
        v.post(&path, &[("csrf", &token), ("decision", "reject"), ("denied_reason_id", "")]).await;
        assert!(v.get("/console/returns").await.text.contains("pick a denied reason first"));
        v.post(&path, &[("csrf", &token), ("decision", "reject"), ("denied_reason_id", "77")]).await;
        assert!(v.get("/console/returns").await.text.contains("no reject (denied) reason with id 77"));
        v.post(&path, &[("csrf", &token), ("decision", "keep")]).await;
        assert!(v.get("/console/returns").await.text.contains("`keep` is not a decision"));
        assert_eq!(return_status(&t.app, f.returns[2]).await, "pending");
        v.post(&path, &[("csrf", &token), ("decision", "reject"), ("denied_reason_id", "2")]).await;
        assert_eq!(return_status(&t.app, f.returns[2]).await, "rejected");
        let rejected = v.get("/console/returns?status=rejected").await;
        assert!(rejected.text.contains("denied: Lead was valid"), "{}", rejected.text);
        // Deciding again is refused: the return is no longer pending.
        v.post(&path, &[("csrf", &token), ("decision", "approve_for_credit")]).await;
        assert!(v.get("/console/returns").await.text.contains("already decided"));
    }

    async fn the_grid_filters_sorts_and_pages_a_queue_in_the_database(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        let rows = |page: &Reply| -> Vec<i64> {
            page.text.match_indices("<tr data-lead=\"").map(|(at, _)| {
                let rest = &page.text[at + 15..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            }).collect()
        };
        let total = |page: &Reply| -> String {
            let at = page.text.find("id=\"grid-total\">").unwrap() + 16;
            page.text[at..].split(" leads").next().unwrap().to_string()
        };
        // Newest first by default; oldest first when asked; one status.
        let first = v.get("/console/grid?queue_id=1&limit=25").await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let mut newest = f.queued.clone();
        newest.reverse();
        assert_eq!(rows(&first), newest);
        assert_eq!(total(&first), "24");
        let page1 = v.get("/console/grid?queue_id=1&limit=25&sort=id&dir=asc").await;
        assert_eq!(rows(&page1), f.queued);
        let small = v.get("/console/grid?queue_id=1&dir=asc&limit=25&status=2").await;
        let no_answer: Vec<i64> = f.queued.iter().copied().skip(1).step_by(3).collect();
        assert_eq!(rows(&small), no_answer);
        assert_eq!(total(&small), "8");
        // Paging: 5 a page by last change; the pages join up with nothing missed or repeated.
        let mut seen = Vec::new();
        let mut path = "/console/grid?queue_id=1&sort=updated&dir=asc&limit=5".to_string();
        loop {
            let page = v.get(&path).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            seen.extend(rows(&page));
            let Some(at) = page.text.find("id=\"next-page\" href=\"") else { break };
            let rest = &page.text[at + 21..];
            path = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
        }
        assert_eq!(seen, f.queued, "creation order is change order here");
        // Search by name text, email, id or phone.
        assert_eq!(rows(&v.get("/console/grid?q=queued+07").await), vec![f.queued[6]]);
        assert_eq!(rows(&v.get("/console/grid?q=Q12%40example").await), vec![f.queued[11]]);
        assert_eq!(rows(&v.get(&format!("/console/grid?q={}", f.queued[3])).await), vec![f.queued[3]]);
        assert_eq!(rows(&v.get("/console/grid?q=0400000005").await), vec![f.queued[4]]);
        assert_eq!(rows(&v.get("/console/grid?q=a%25b").await), Vec::<i64>::new(), "LIKE wildcards are literal");
        // The status filter lists each status with its count in the queue.
        assert!(first.text.contains("No answer (8)"), "{}", first.text);
        // Bad parameters are named.
        for (query, named) in [("queue_id=x", "queue_id must be a whole number"), ("sort=name", "sort must be id, updated or created"),
                               ("dir=up", "dir must be asc or desc"), ("after=3", "is not a page this grid handed out"),
                               ("limit=500", "limit: must be between 1 and 200"), ("thrown_out=maybe", "thrown_out must be yes or no")] {
            let page = v.get(&format!("/console/grid?{query}")).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(page.text.contains(named), "{query}: {}", page.text);
        }
        // A buyer has no grid; a dialer key sees only its campaigns' leads.
        let mut buyer = Visitor::new(&t);
        buyer.sign_in(&t.buyer_key(f.buyer).await).await;
        assert_eq!(buyer.get("/console/grid").await.status, StatusCode::FORBIDDEN);
        let mut dialer = Visitor::new(&t);
        dialer.sign_in(&t.dialer_key(vec![1]).await).await;
        assert_eq!(total(&dialer.get("/console/grid?queue_id=1").await), "24");
    }

    async fn grid_actions_go_through_the_queue_use_case_per_row_and_in_bulk(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        let page = v.get("/console/grid?queue_id=1&limit=25").await;
        assert!(page.text.contains("id=\"grid-actions\""), "an admin gets the action toolbar");
        let token = csrf_of(&page.text);
        let q = &f.queued;
        let (a, b, c) = (q[0].to_string(), q[1].to_string(), q[2].to_string());
        let back = "/console/grid?queue_id=1&status=2";
        let message = |page: &Reply| -> String {
            let at = page.text.find("class=\"flash").expect("a message is shown");
            let rest = &page.text[at..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..rest.find("</p>").unwrap()].to_string()
        };

        // Bulk: set a status on the ticked leads; back to the view it was posted from.
        let done = v.post("/console/grid/act", &[("csrf", &token), ("back", back), ("action", "change_status_only"),
            ("queue_status_id", "3"), ("lead", &a), ("lead", &b), ("fee", "")]).await;
        assert_eq!((done.status, location(&done)), (StatusCode::SEE_OTHER, back));
        assert_eq!(message(&v.get(back).await), "Set status: done for 2 leads.");
        assert_eq!(lead(&t, q[0]).await.queue_status_id, Some(3));
        assert_eq!(lead(&t, q[1]).await.queue_status_id, Some(3));
        assert_eq!(lead(&t, q[2]).await.queue_status_id, Some(3), "untouched: it was Qualified already");
        let history = history(&t, q[0]).await;
        assert_eq!((history.action.as_str(), history.api.as_str()), ("queue:change_status_only", "console"));

        // A row's buttons: review, throw out.
        v.post("/console/grid/act", &[("csrf", &token), ("row", &format!("{}:move_to_review_queue", q[3])), ("action", "throw_out")]).await;
        assert_eq!(lead(&t, q[3]).await.queue_id, Some(2), "the row's own action wins over the toolbar's");
        v.post("/console/grid/act", &[("csrf", &token), ("row", &format!("{}:throw_out", q[4]))]).await;
        let out = lead(&t, q[4]).await;
        assert_eq!((out.queue_id, out.thrown_out), (None, true));

        // Moves, a fee, a referral.
        v.post("/console/grid/act", &[("csrf", &token), ("action", "move_to_custom_queue"), ("queue_id", "3"), ("lead", &c)]).await;
        assert_eq!(lead(&t, q[2]).await.queue_id, Some(3));
        v.post("/console/grid/act", &[("csrf", &token), ("action", "move_to_queue"), ("lead", &c)]).await;
        assert_eq!(lead(&t, q[2]).await.queue_id, Some(1));
        v.post("/console/grid/act", &[("csrf", &token), ("action", "add_call_center_fee"), ("fee", "2.50"), ("lead", &a), ("lead", &b)]).await;
        assert_eq!(message(&v.get("/console/grid").await), "Charge call-center fee: done for 2 leads.");
        let ledger = leadline_app::queues::lead_ledger(&t.app, &leadline_app::Principal::operator(), q[0]).await.unwrap();
        assert_eq!(ledger.total, "2.50");
        v.post("/console/grid/act", &[("csrf", &token), ("action", "refer_to_buyer"), ("buyer_contract_id", "1"), ("lead", &a)]).await;
        assert_eq!(message(&v.get("/console/grid").await), "Refer to buyer: done for 1 lead.");
        let mut conn = t.app.store.read().await.unwrap();
        let sales = leadline_store::sales::list(&mut conn, &leadline_store::sales::SaleFilter { lead_id: Some(q[0]), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(sales.len(), 1);
        drop(conn);

        // Refusals are reported per lead and change nothing for those leads.
        v.post("/console/grid/act", &[("csrf", &token), ("action", "change_status_only"), ("lead", &b), ("lead", &c)]).await;
        let shown = message(&v.get("/console/grid").await);
        assert!(shown.starts_with("Set status: done for 0 of 2 leads; lead #"), "{shown}");
        assert!(shown.contains("change_status_only needs a queue status"), "{shown}");
        v.post("/console/grid/act", &[("csrf", &token), ("action", "move_to_custom_queue"), ("queue_id", "2"), ("lead", &c)]).await;
        assert!(message(&v.get("/console/grid").await).contains("is a review queue, not a custom one"));
        v.post("/console/grid/act", &[("csrf", &token), ("action", "add_call_center_fee"), ("fee", "-1"), ("lead", &c)]).await;
        assert!(message(&v.get("/console/grid").await).starts_with("Nothing was done: "));
        v.post("/console/grid/act", &[("csrf", &token), ("action", "throw_out")]).await;
        assert_eq!(message(&v.get("/console/grid").await), "Tick at least one lead first.");
        v.post("/console/grid/act", &[("csrf", &token), ("action", "explode"), ("lead", &c)]).await;
        assert!(message(&v.get("/console/grid").await).contains("`explode` is not one of"));
        assert_eq!(lead(&t, q[2]).await.queue_id, Some(1));
        // Going back never leaves the grid.
        let away = v.post("/console/grid/act", &[("csrf", &token), ("back", "//elsewhere.test/x"), ("action", "throw_out")]).await;
        assert_eq!(location(&away), "/console/grid");
        // Without this session's token: refused, nothing thrown out.
        let refused = v.post("/console/grid/act", &[("action", "throw_out"), ("lead", &c)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(!lead(&t, q[2]).await.thrown_out);

        // A read-only key sees the grid without the toolbar; a forged post is refused by the use case.
        let mut reader = Visitor::new(&t);
        reader.sign_in(&t.key("readonly").await).await;
        let page = reader.get("/console/grid").await;
        assert!(!page.text.contains("grid-actions") && page.text.contains("id=\"grid\""));
        let token = csrf_of(&page.text);
        reader.post("/console/grid/act", &[("csrf", &token), ("action", "throw_out"), ("lead", &c)]).await;
        assert!(message(&reader.get("/console/grid").await).contains("cannot act on this lead's queue"));
        assert!(!lead(&t, q[2]).await.thrown_out);
    }

    async fn the_archive_page_runs_batches_by_id_outside_office_hours_and_lists_their_counts(app) {
        let clock = leadline_app::testing::TestClock::at("2026-11-23T10:00:00Z"); // a Monday
        let mut app = app;
        app.clock = clock.clone();
        let hours = leadline_core::archive::OfficeHours::new(
            "UTC",
            &[leadline_core::schedule::Window { day: "mon".into(), start: "09:00".into(), end: "17:00".into() }],
            &[],
        )
        .unwrap();
        let mut settings = leadline_http::HttpSettings::default();
        settings.vicidial.office_hours = Some(hours);
        let t = TestApp::with_settings(app, settings).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        let message = |page: &Reply| -> String {
            let at = page.text.find("class=\"flash").expect("a message is shown");
            let rest = &page.text[at..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..rest.find("</p>").unwrap()].to_string()
        };
        let live = |id: i64| {
            let app = t.app.clone();
            async move { leadline_store::leads::get(&mut app.store.read().await.unwrap(), id).await.unwrap().is_some() }
        };
        let (a, b) = (f.queued[0].to_string(), f.queued[1].to_string());
        let ids = format!("{a}, {b}");

        // Office hours: the page says so, and an archive run is refused; nothing moves.
        let page = v.get("/console/archive").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("It is office hours now."), "{}", page.text);
        let token = csrf_of(&page.text);
        let form = |direction: &'static str, ids: String| {
            vec![("csrf", token.clone()), ("direction", direction.to_string()), ("lead_ids", ids),
                 ("insert_leads", "true".into()), ("update_leads", "true".into()), ("delete_leads", "true".into())]
        };
        let refused = v.post_owned("/console/archive/run", &form("archive", ids.clone())).await;
        assert_eq!((refused.status, location(&refused)), (StatusCode::SEE_OTHER, "/console/archive"));
        assert_eq!(message(&v.get("/console/archive").await),
                   "The archive run did not run: it is office hours; archiving waits until they end.");
        assert!(live(f.queued[0]).await);

        // After hours: the run moves both leads and the page lists its counts.
        clock.advance(jiff::SignedDuration::from_hours(8));
        let page = v.get("/console/archive").await;
        assert!(page.text.contains("Outside office hours now"), "{}", page.text);
        v.post_owned("/console/archive/run", &form("archive", ids.clone())).await;
        let page = v.get("/console/archive").await;
        assert_eq!(message(&page), "The archive run is done: 2 selected, 2 inserted, 0 updated, 2 deleted.");
        assert!(!live(f.queued[0]).await && !live(f.queued[1]).await);
        let archived = leadline_app::archive::get(&t.app, &leadline_app::Principal::operator(), f.queued[0]).await.unwrap();
        assert_eq!(archived.name.as_deref(), Some("Queued 01"));
        let runs_at = page.text.find("id=\"archive-runs\"").expect("the runs are listed");
        let runs = &page.text[runs_at..];
        assert!(runs.contains("<td>archive</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">2</td><td>done</td>"), "{runs}");
        assert!(runs.contains("it is office hours; archiving waits until they end."), "the refused run is listed too");

        // Refusals name what was wrong; nothing moves.
        v.post_owned("/console/archive/run", &form("archive", format!("{}, x", f.queued[2]))).await;
        assert_eq!(message(&v.get("/console/archive").await), "The archive run did not run: `x` is not a lead id");
        v.post_owned("/console/archive/run", &form("archive", format!("{} 999999", f.queued[2]))).await;
        assert_eq!(message(&v.get("/console/archive").await), "The archive run did not run: lead_ids does not exist: 999999");
        v.post_owned("/console/archive/run", &form("archive", String::new())).await;
        assert!(message(&v.get("/console/archive").await).starts_with("The archive run did not run: "));
        assert!(live(f.queued[2]).await);

        // Dearchive brings one back.
        v.post_owned("/console/archive/run", &form("dearchive", a.clone())).await;
        assert_eq!(message(&v.get("/console/archive").await), "The dearchive run is done: 1 selected, 1 inserted, 0 updated, 1 deleted.");
        assert!(live(f.queued[0]).await);

        // Without the session's token: refused. Keys that may not archive have no archive page.
        let missing = v.post("/console/archive/run", &[("direction", "archive"), ("lead_ids", &b)]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        let mut reader = Visitor::new(&t);
        reader.sign_in(&t.key("readonly").await).await;
        assert_eq!(reader.get("/console/archive").await.status, StatusCode::FORBIDDEN);
        let token = reader.csrf("/console/returns").await;
        reader.post("/console/archive/run", &[("csrf", &token), ("direction", "dearchive"), ("lead_ids", &b)]).await;
        assert!(!live(f.queued[1]).await, "a read-only key archives nothing");
        let mut archiver = Visitor::new(&t);
        archiver.sign_in(&t.key("archiver").await).await;
        assert_eq!(archiver.get("/console/archive").await.status, StatusCode::OK);
    }

    async fn console_pages_load_nothing_from_other_hosts(app) {
        let t = TestApp::new(app).await;
        let f = console_fixture::build(&t.app).await;
        let mut v = Visitor::new(&t);
        let sign_in = v.get("/console/sign-in").await;
        v.sign_in(&t.admin).await;
        let mut pages = vec![sign_in];
        for path in ["/console/grid", "/console/leads?allocation_id=1", "/console/returns", "/console/ledger?buyer_id=1",
                     "/console/assets/console.css", "/console/assets/console.js"] {
            pages.push(v.get(path).await);
        }
        pages.push(v.get(&format!("/console/leads/{}", f.sold_leads[0])).await);
        pages.push(v.get("/console/dialer").await);
        for page in &pages {
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            for outside in ["http://", "https://", "src=\"//", "href=\"//", "@import"] {
                assert!(!page.text.contains(outside), "{outside} in {}", page.text);
            }
        }
        assert_eq!(pages[5].content_type(), "text/css; charset=utf-8");
        assert_eq!(pages[6].content_type(), "text/javascript; charset=utf-8");
    }
}

async fn sessions_are_shared_by_nodes_and_end_with_their_key(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let one = TestApp::new(db.app.clone()).await;
    let two = TestApp::new(db.second_node().await).await;
    let key = one.key("admin").await;
    let mut on_one = Visitor::new(&one);
    on_one.sign_in(&key).await;
    let mut on_two = Visitor::new(&two);
    on_two.cookies = on_one.cookies.clone();
    let page = on_two.get("/console/dialer").await;
    assert_eq!(page.status, StatusCode::OK, "a session opened on node one serves on node two");
    // A form rendered by node one posts to node two.
    let token = on_one.csrf("/console/dialer").await;
    let keys = leadline_app::keys::list(&one.app, &leadline_app::Principal::operator()).await.unwrap();
    let key_id = keys.iter().find(|k| key.starts_with(&k.prefix)).unwrap().id;
    leadline_app::keys::revoke(&one.app, &leadline_app::Principal::operator(), key_id).await.unwrap();
    let after = on_two.post("/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(location(&after), "/console/sign-in", "a revoked key's session is over");
    assert_eq!(location(&on_one.get("/console/dialer").await), "/console/sign-in");
    assert_eq!(session_count(&one).await, 0, "the dead session is removed");
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_by_nodes_and_end_with_their_key_sqlite() {
    sessions_are_shared_by_nodes_and_end_with_their_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_by_nodes_and_end_with_their_key_postgres() {
    sessions_are_shared_by_nodes_and_end_with_their_key(Backend::Postgres).await;
}

/// The marks of the chart `svg#id` on a page: (series, day or "", value), read from the
/// `data-` attributes each bar, point or row segment carries.
fn chart(html: &str, id: &str) -> Vec<(String, String, i64)> {
    let start = html.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    let attribute = |mark: &str, name: &str| -> Option<String> {
        let at = mark.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(mark[at..at + mark[at..].find('"')?].to_string())
    };
    svg.split('<')
        .filter_map(|mark| {
            let series = attribute(mark, "data-series")?;
            let day = attribute(mark, "data-day").unwrap_or_default();
            Some((series, day, attribute(mark, "data-value")?.parse().unwrap()))
        })
        .collect()
}

/// The value the chart shows for a series on a day (0 for a day the chart has no mark for would
/// hide a missing day, so a missing mark fails).
fn mark(marks: &[(String, String, i64)], series: &str, day: &str) -> i64 {
    marks.iter().find(|(s, d, _)| s == series && d == day).unwrap_or_else(|| panic!("no mark {series} {day}")).2
}

conformance! {
    async fn the_dashboard_draws_each_days_figures_for_the_period_picked(app) {
        let app = console_fixture::dashboard(&app).await;
        let t = TestApp::new(app).await;
        let mut v = Visitor::new(&t);
        v.sign_in(&t.admin).await;
        assert_eq!(location(&v.get("/console").await), "/console/dashboard");
        let week = v.get("/console/dashboard?days=7").await;
        assert_eq!(week.status, StatusCode::OK, "{}", week.text);
        assert!(week.text.contains("2026-11-24 to 2026-11-30"), "the period ends today");

        // Leads in by source: one mark per day and source, seven days.
        let leads_in = chart(&week.text, "leads-in");
        assert_eq!(leads_in.len(), 7 * 7);
        let on = |series: &str, day: &str| mark(&leads_in, series, day);
        assert_eq!([on("api", "2026-11-25"), on("cake", "2026-11-25"), on("noojee", "2026-11-25"), on("ivvy", "2026-11-25")], [3, 2, 1, 1]);
        assert_eq!([on("import", "2026-11-28"), on("noojee", "2026-11-28"), on("api", "2026-11-30")], [3, 1, 2]);
        assert_eq!(leads_in.iter().map(|m| m.2).sum::<i64>(), 13, "the 5 November leads are outside the week");
        assert!(week.text.contains("<span class=\"total\" id=\"leads-in-total\">13 leads</span>"));

        let sold = chart(&week.text, "sold");
        assert_eq!([mark(&sold, "sold", "2026-11-25"), mark(&sold, "unsold", "2026-11-25")], [3, 4]);
        assert_eq!([mark(&sold, "sold", "2026-11-28"), mark(&sold, "unsold", "2026-11-28")], [0, 4]);
        assert_eq!([mark(&sold, "sold", "2026-11-30"), mark(&sold, "unsold", "2026-11-30")], [1, 1]);

        // Money in minor units: sales on their day, the credit and the fee on the decision's day.
        let money = chart(&week.text, "money");
        assert_eq!(mark(&money, "revenue", "2026-11-25"), 4500);
        assert_eq!(mark(&money, "revenue", "2026-11-30"), 2000);
        assert_eq!([mark(&money, "credits", "2026-11-27"), mark(&money, "fees", "2026-11-27")], [1250, 350]);
        assert_eq!(money.iter().filter(|m| m.0 == "credits").map(|m| m.2).sum::<i64>(), 1250);
        assert!(week.text.contains("65.00 revenue · 12.50 credited · 3.50 fees"), "totals");

        // Return rates (per mille) for the week's sales: both Acme sales returned, no Bright one.
        let rates = chart(&week.text, "return-rates");
        assert_eq!(rates.iter().map(|m| m.2).collect::<Vec<_>>(), [1000, 0]);
        assert!(week.text.contains("100.0 % (2 of 2 sales)") && week.text.contains("0.0 % (0 of 2 sales)"));

        // Dialer progress now: the morning list and the imported one.
        let dialer = chart(&week.text, "dialer-progress");
        let parts: Vec<i64> = dialer.iter().map(|m| m.2).collect();
        assert_eq!(parts, [10, 1, 0, 1, 3, 0, 0, 0], "dialable, callbacks, leased, closed of each allocation");

        let imports = chart(&week.text, "imports");
        assert_eq!([mark(&imports, "imported", "2026-11-28"), mark(&imports, "rejected", "2026-11-28")], [3, 1]);
        let runs = chart(&week.text, "archive-runs");
        assert_eq!([mark(&runs, "archived", "2026-11-30"), mark(&runs, "not-run", "2026-11-30")], [1, 1]);
        assert!(week.text.contains("2 leads moved"));

        // Thirty days take in 5 November: two API leads, one sold, and Acme's third sale.
        let month = v.get("/console/dashboard?days=30").await;
        assert!(month.text.contains("2026-11-01 to 2026-11-30"));
        let leads_in = chart(&month.text, "leads-in");
        assert_eq!(leads_in.len(), 30 * 7);
        assert_eq!(mark(&leads_in, "api", "2026-11-05"), 2);
        assert_eq!(mark(&chart(&month.text, "money"), "revenue", "2026-11-05"), 1250);
        assert!(month.text.contains("66.7 % (2 of 3 sales)"));
        assert_eq!(chart(&v.get("/console/dashboard").await.text, "leads-in").len(), 30 * 7, "30 days unless asked");
        assert_eq!(chart(&v.get("/console/dashboard?days=90").await.text, "leads-in").len(), 90 * 7);

        // Only 7, 30 and 90 days.
        for (days, message) in [("14", "must be 7, 30 or 90"), ("week", "`week` is not a number of days")] {
            let refused = v.get(&format!("/console/dashboard?days={days}")).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{days}");
            assert!(refused.text.contains(message), "{days}: {}", refused.text);
        }
    }

    async fn the_dashboard_is_for_admin_and_read_only_keys(app) {
        let app = console_fixture::dashboard(&app).await;
        let t = TestApp::new(app).await;
        let readonly = t.key("readonly").await;
        let mut r = Visitor::new(&t);
        r.sign_in(&readonly).await;
        assert_eq!(location(&r.get("/console").await), "/console/dashboard");
        let page = r.get("/console/dashboard?days=7").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("href=\"/console/dashboard\""), "in the navigation");
        // Buyer and dialer keys keep their own home pages and have no dashboard.
        for (key, home) in [(t.buyer_key(1).await, "/console/returns"), (t.dialer_key(vec![1]).await, "/console/dialer")] {
            let mut v = Visitor::new(&t);
            v.sign_in(&key).await;
            assert_eq!(location(&v.get("/console").await), home);
            let refused = v.get("/console/dashboard").await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{home}");
            assert!(!v.get(home).await.text.contains("href=\"/console/dashboard\""), "not in the navigation");
        }
    }
}
