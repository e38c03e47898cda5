//! The VICIdial dialect pointed at a VICIdial database (MariaDB/MySQL, `LEADLINE_TEST_MYSQL_URL`):
//! `vicidial_list` with its 35 columns plus a custom one, MyISAM, a case-insensitive collation.
//! Each test gets its own database; without the variable the tests report themselves skipped.

mod common;

use std::future::Future;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use leadline_app::archive::Target;
use leadline_app::testing::{Backend, TestDb};
use leadline_app::vicidial_testing::VicidialTestDb;
use leadline_http::vicidial::VicidialSettings;
use leadline_http::HttpSettings;
use leadline_store::vicidial::VicidialDb;
use serde_json::{json, Value};
use sqlx::Row;

/// Runs a test on a fresh VICIdial database and a fresh Leadline store (for the keys).
async fn on_vicidial<F, Fut>(test: F)
where
    F: FnOnce(TestApp, VicidialDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(vicidial) = VicidialTestDb::fresh().await else {
        eprintln!("skipped: set LEADLINE_TEST_MYSQL_URL to run the VICIdial connector tests");
        return;
    };
    let leadline = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let settings = HttpSettings {
        vicidial: VicidialSettings { target: Target::Vicidial(vicidial.db.clone()), ..VicidialSettings::default() },
        ..HttpSettings::default()
    };
    let t = TestApp::with_settings(leadline.app.clone(), settings).await;
    let outcome = tokio::spawn(test(t, vicidial.db.clone())).await;
    vicidial.remove().await;
    leadline.remove().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn exec(db: &VicidialDb, sql: &str) {
    sqlx::query(sql).execute(db.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Adds a lead with every column set (the custom one too) and an old modify_date; returns its id.
async fn add(db: &VicidialDb, last_name: Option<&str>) -> i64 {
    let done = sqlx::query(
        "INSERT INTO vicidial_list (entry_date, modify_date, status, user, vendor_lead_code, source_id, list_id, \
         gmt_offset_now, called_since_last_reset, phone_code, phone_number, title, first_name, middle_initial, \
         last_name, address1, address2, address3, city, state, province, postal_code, country_code, gender, \
         date_of_birth, alt_phone, email, security_phrase, comments, called_count, last_local_call_time, `rank`, \
         owner, entry_list_id, preferred_colour) VALUES ('2020-01-02 03:04:05', '2020-01-02 03:04:05', 'NEW', \
         'agent1', 'V1', 'S1', 101, -5.00, 'Y3', '1', '3125550100', 'Ms', 'Ann', 'Q', ?, '1 Main St', '', NULL, \
         'Springfield', 'IL', NULL, '62701', 'USA', 'F', '0000-00-00', '3125550199', 'ann@example.com', 'x', \
         'likes mornings', 3, '2020-01-01 09:00:00', -2, 'team', 101, 'teal')",
    )
    .bind(last_name)
    .execute(db.pool())
    .await
    .expect("a lead is added");
    done.last_insert_id() as i64
}

/// Every column of a row, quoted (NULL as NULL), so two rows compare byte for byte.
async fn fingerprint(db: &VicidialDb, table: &str, id: i64) -> Option<String> {
    let columns: Vec<String> = sqlx::query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vicidial_list' ORDER BY ORDINAL_POSITION",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let list = columns.iter().map(|c| format!("QUOTE(`{c}`)")).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT CAST(CONCAT_WS(',', {list}) AS CHAR) FROM {table} WHERE lead_id = ?");
    sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await.unwrap().map(|r| r.get::<String, _>(0))
}

async fn post(t: &TestApp, path: &str, body: Value) -> Reply {
    let request = Request::post(path)
        .header("Authorization", format!("Key={}", t.admin))
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    t.send(request).await
}

fn steps(insert: bool, update: bool, delete: bool, ids: &[i64]) -> Value {
    json!({"insert_leads": insert, "update_leads": update, "delete_leads": delete, "lead_ids": ids})
}

#[track_caller]
fn assert_counts(reply: &Reply, counts: [u64; 4]) {
    let expected = json!({"message": "lead_ids batch was successfully processed", "select_count": counts[0],
        "insert_count": counts[1], "update_count": counts[2], "delete_count": counts[3]});
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &expected), "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_moves_every_column_custom_ones_and_modify_date_included() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        let b = add(&db, None).await;
        let before = (fingerprint(&db, "vicidial_list", a).await, fingerprint(&db, "vicidial_list", b).await);
        assert!(before.0.as_ref().unwrap().contains("'teal'"), "{before:?}");
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a, b])).await, [2, 2, 0, 2]);
        assert_eq!(fingerprint(&db, "vicidial_list", a).await, None);
        let after =
            (fingerprint(&db, "vicidial_list_archive", a).await, fingerprint(&db, "vicidial_list_archive", b).await);
        assert_eq!(after, before, "byte-equal, modify_date and the custom column carried over");
        let missing = post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a])).await;
        assert_eq!(
            (missing.status, &missing.body),
            (
                StatusCode::BAD_REQUEST,
                &json!({"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [a]})
            )
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_step_refreshes_the_copy_and_keeps_the_live_modify_date() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, false, false, &[a])).await, [1, 1, 0, 0]);
        // The dialer works the lead: MySQL stamps modify_date with the time of the change.
        exec(&db, &format!("UPDATE vicidial_list SET city = 'Shelbyville', called_count = 4 WHERE lead_id = {a}"))
            .await;
        let live = fingerprint(&db, "vicidial_list", a).await;
        assert!(!live.as_ref().unwrap().contains("2020-01-02 03:04:05','NEW"), "modify_date moved: {live:?}");
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, false, true, &[a])).await, [1, 0, 0, 0]);
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a])).await, [1, 0, 1, 1]);
        assert_eq!(
            fingerprint(&db, "vicidial_list_archive", a).await,
            live,
            "the archive holds the live row as it was"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_delete_is_byte_exact_and_null_safe() {
    on_vicidial(|t, db| async move {
        // (stored last_name, then changed on the live row to) → deleted?
        let cases: [(Option<&str>, Option<&str>, bool); 7] = [
            (Some("Smith"), Some("Smith"), true),
            (Some("Smith"), Some("SMITH"), false),
            (Some("Smith"), Some("Smith "), false),
            (Some("Smith "), Some("Smith"), false),
            (None, None, true),
            (None, Some(""), false),
            (Some(""), None, false),
        ];
        for (stored, changed, deleted) in cases {
            let id = add(&db, stored).await;
            assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, false, &[id])).await, [1, 1, 0, 0]);
            // Change the live row without moving modify_date, so only last_name differs.
            sqlx::query("UPDATE vicidial_list SET last_name = ?, modify_date = modify_date WHERE lead_id = ?")
                .bind(changed)
                .bind(id)
                .execute(db.pool())
                .await
                .unwrap();
            let reply = post(&t, "/vicidial/leads/archive", steps(false, false, true, &[id])).await;
            assert_counts(&reply, [1, 0, 0, u64::from(deleted)]);
            assert_eq!(fingerprint(&db, "vicidial_list", id).await.is_none(), deleted, "{stored:?} → {changed:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dearchive_brings_rows_back_byte_for_byte_and_keeps_differing_archive_rows() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        let b = add(&db, Some("Jones")).await;
        let before = fingerprint(&db, "vicidial_list", a).await;
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a, b])).await, [2, 2, 0, 2]);
        exec(
            &db,
            &format!(
                "UPDATE vicidial_list_archive SET comments = 'edited', modify_date = modify_date WHERE lead_id = {b}"
            ),
        )
        .await;
        let back = post(
            &t,
            "/vicidial/leads/dearchive",
            json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a, b]}),
        )
        .await;
        assert_eq!(
            (back.status, &back.body),
            (
                StatusCode::OK,
                &json!({"message": "lead_ids batch was successfully processed",
            "select_count": 2, "insert_count": 2, "delete_count": 2})
            ),
            "{}",
            back.text
        );
        assert_eq!(fingerprint(&db, "vicidial_list", a).await, before);
        // A live row that differs from its archive copy keeps the copy.
        let c = add(&db, Some("Brown")).await;
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, false, &[c])).await, [1, 1, 0, 0]);
        exec(&db, &format!("UPDATE vicidial_list SET comments = 'live edit' WHERE lead_id = {c}")).await;
        let kept =
            post(&t, "/vicidial/leads/dearchive", json!({"insert_leads": true, "delete_leads": true, "lead_ids": [c]}))
                .await;
        assert_eq!(kept.body["delete_count"], json!(0), "{}", kept.text);
        assert!(fingerprint(&db, "vicidial_list_archive", c).await.is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_table_missing_a_custom_column_stops_the_batch_before_any_write() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        exec(&db, "ALTER TABLE vicidial_list_archive DROP COLUMN preferred_colour").await;
        let reply = post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a])).await;
        assert_eq!((reply.status, &reply.body), (StatusCode::INTERNAL_SERVER_ERROR, &json!({
            "message": "vicidial_list_archive has no column preferred_colour, which vicidial_list has; add it to the archive first",
            "lead_errors": 0, "lead_ids": []})), "{}", reply.text);
        assert!(fingerprint(&db, "vicidial_list", a).await.is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dearchive_refuses_an_archive_only_column_before_any_write_so_its_values_are_not_lost() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a])).await, [1, 1, 0, 1]);
        exec(&db, "ALTER TABLE vicidial_list_archive ADD COLUMN archived_by VARCHAR(20) NULL").await;
        exec(&db, &format!("UPDATE vicidial_list_archive SET archived_by = 'night job' WHERE lead_id = {a}")).await;
        let reply =
            post(&t, "/vicidial/leads/dearchive", json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a]}))
                .await;
        assert_eq!(
            (reply.status, &reply.body),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({
            "message": "vicidial_list has no column archived_by, which vicidial_list_archive has; dearchiving would \
                        lose its values, so add it to vicidial_list first",
            "lead_errors": 0, "lead_ids": []})
            ),
            "{}",
            reply.text
        );
        assert!(fingerprint(&db, "vicidial_list", a).await.is_none(), "nothing was copied back");
        let kept: Option<String> = sqlx::query("SELECT archived_by FROM vicidial_list_archive WHERE lead_id = ?")
            .bind(a)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(kept.as_deref(), Some("night job"));
        // With the column added to the live table too, the lead comes back with its value.
        exec(&db, "ALTER TABLE vicidial_list ADD COLUMN archived_by VARCHAR(20) NULL").await;
        let back =
            post(&t, "/vicidial/leads/dearchive", json!({"insert_leads": true, "delete_leads": true, "lead_ids": [a]}))
                .await;
        assert_eq!(back.body["delete_count"], json!(1), "{}", back.text);
        let live: Option<String> = sqlx::query("SELECT archived_by FROM vicidial_list WHERE lead_id = ?")
            .bind(a)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(live.as_deref(), Some("night job"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_in_the_hopper_in_a_call_or_on_an_agents_screen_is_copied_but_stays_live() {
    on_vicidial(|t, db| async move {
        let queued = add(&db, Some("Hopper")).await;
        let ringing = add(&db, Some("Ringing")).await;
        let on_screen = add(&db, Some("Agent")).await;
        let idle = add(&db, Some("Idle")).await;
        exec(
            &db,
            &format!("INSERT INTO vicidial_hopper (lead_id, campaign_id, status) VALUES ({queued}, 'C1', 'READY')"),
        )
        .await;
        exec(
            &db,
            &format!("INSERT INTO vicidial_auto_calls (lead_id, campaign_id, status) VALUES ({ringing}, 'C1', 'LIVE')"),
        )
        .await;
        exec(
            &db,
            &format!(
                "INSERT INTO vicidial_live_agents (user, lead_id, status) VALUES ('agent1', {on_screen}, 'INCALL')"
            ),
        )
        .await;
        // An agent waiting for a call has lead_id 0, which is no lead.
        exec(&db, "INSERT INTO vicidial_live_agents (user, lead_id, status) VALUES ('agent2', 0, 'READY')").await;
        let all = [queued, ringing, on_screen, idle];
        let before: Vec<_> = fingerprints(&db, &all).await;
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &all)).await, [4, 4, 0, 1]);
        for (id, row) in all.iter().zip(&before) {
            assert_eq!(&fingerprint(&db, "vicidial_list_archive", *id).await, row, "lead {id} is copied");
        }
        for id in [queued, ringing, on_screen] {
            assert_eq!(fingerprint(&db, "vicidial_list", id).await, before[all.iter().position(|i| *i == id).unwrap()]);
        }
        assert!(fingerprint(&db, "vicidial_list", idle).await.is_none());
        // Once VICIdial is done with them, the next run moves them.
        for table in ["vicidial_hopper", "vicidial_auto_calls", "vicidial_live_agents"] {
            exec(&db, &format!("DELETE FROM {table}")).await;
        }
        let rest = [queued, ringing, on_screen];
        assert_counts(&post(&t, "/vicidial/leads/archive", steps(true, true, true, &rest)).await, [3, 0, 0, 3]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_on_a_database_without_the_hopper_is_refused_before_any_write() {
    on_vicidial(|t, db| async move {
        let a = add(&db, Some("Smith")).await;
        exec(&db, "DROP TABLE vicidial_hopper").await;
        let reply = post(&t, "/vicidial/leads/archive", steps(true, true, true, &[a])).await;
        assert_eq!(
            (reply.status, &reply.body),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({
            "message": "the VICIdial database has no vicidial_hopper table with a lead_id column; Leadline reads it \
                        so as not to archive a lead that is being dialed",
            "lead_errors": 0, "lead_ids": []})
            ),
            "{}",
            reply.text
        );
        assert!(fingerprint(&db, "vicidial_list_archive", a).await.is_none());
        assert!(fingerprint(&db, "vicidial_list", a).await.is_some());
    })
    .await;
}

/// Each lead's fingerprint, in order.
async fn fingerprints(db: &VicidialDb, ids: &[i64]) -> Vec<Option<String>> {
    let mut rows = Vec::new();
    for id in ids {
        rows.push(fingerprint(db, "vicidial_list", *id).await);
    }
    rows
}
