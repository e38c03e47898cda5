//! Safe delete on Leadline's store: a live lead leaves only when its archive copy is equal in
//! every column, byte for byte, with NULL equal only to NULL; and archiving needs an archiver.

#[macro_use]
mod common;

use common::*;
use leadline_app::archive::{self, ArchiveError, Target};
use leadline_app::{leads, App, AppError, Principal};
use leadline_core::access::Role;
use leadline_core::archive::{Batch, BatchError, Counts, Direction};
use leadline_core::history::Api;
use leadline_store::{Exec, Sql};
use serde_json::json;

fn batch(direction: Direction, ids: &[i64], steps: (bool, bool, bool)) -> Batch {
    Batch { direction, insert: steps.0, update: steps.1, delete: steps.2, lead_ids: ids.to_vec() }
}

async fn run(app: &App, b: Batch) -> Counts {
    archive::run(app, &Target::Leadline, &admin(), Api::Cli, &b).await.expect("the batch runs")
}

async fn sql(app: &App, text: &str) {
    let mut tx = app.store.begin().await.unwrap();
    tx.run(&Sql::new(text)).await.unwrap_or_else(|e| panic!("{text}: {e}"));
    tx.commit().await.unwrap();
}

async fn live(app: &App, id: i64) -> bool {
    leads::get(app, &admin(), id).await.is_ok()
}

/// A lead copied to the archive (not deleted), whose live row then gets `change`; returns
/// whether a delete-only batch removed it.
async fn deleted_after(app: &App, last_name: Option<&str>, change: &str) -> bool {
    let lead = new_lead(app, json!({"name": "Ann"})).await;
    let set = match last_name {
        Some(name) => format!("'{name}'"),
        None => "NULL".into(),
    };
    sql(app, &format!("UPDATE leads SET last_name = {set} WHERE id = {}", lead.id)).await;
    let copied = run(app, batch(Direction::Archive, &[lead.id], (true, false, false))).await;
    assert_eq!(copied.insert_count, 1);
    if !change.is_empty() {
        sql(app, &format!("UPDATE leads SET last_name = {change} WHERE id = {}", lead.id)).await;
    }
    let counts = run(app, batch(Direction::Archive, &[lead.id], (false, false, true))).await;
    assert_eq!(counts.delete_count == 1, !live(app, lead.id).await);
    counts.delete_count == 1
}

conformance! {
    async fn a_live_row_changed_after_it_was_archived_is_not_deleted(app) {
        assert!(deleted_after(&app, Some("Smith"), "").await, "an unchanged copy is deleted");
        assert!(!deleted_after(&app, Some("Smith"), "'Smyth'").await);
        let lead = new_lead(&app, json!({"name": "Ann"})).await;
        run(&app, batch(Direction::Archive, &[lead.id], (true, false, false))).await;
        leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"city": "Perth"})), None).await.unwrap();
        assert_eq!(run(&app, batch(Direction::Archive, &[lead.id], (false, false, true))).await.delete_count, 0);
        assert!(live(&app, lead.id).await);
    }

    async fn case_only_and_trailing_space_differences_count(app) {
        assert!(!deleted_after(&app, Some("Smith"), "'SMITH'").await, "case differs");
        assert!(!deleted_after(&app, Some("Smith"), "'Smith '").await, "a trailing space differs");
        assert!(!deleted_after(&app, Some("Smith "), "'Smith'").await, "a trailing space removed differs");
    }

    async fn nulls_equal_only_nulls(app) {
        assert!(deleted_after(&app, None, "").await, "NULL and NULL are equal");
        assert!(!deleted_after(&app, None, "''").await, "NULL and '' differ");
        assert!(!deleted_after(&app, Some(""), "NULL").await, "'' and NULL differ");
        assert!(!deleted_after(&app, Some("x"), "NULL").await, "a value and NULL differ");
    }

    async fn an_archive_row_that_differs_is_not_deleted_by_dearchive(app) {
        let lead = new_lead(&app, json!({"name": "Ann", "last_name": "Lee"})).await;
        run(&app, batch(Direction::Archive, &[lead.id], (true, true, true))).await;
        // Copy back without deleting, then make the archive copy differ.
        let back = run(&app, batch(Direction::Dearchive, &[lead.id], (true, false, false))).await;
        assert_eq!((back.insert_count, back.delete_count), (1, 0));
        sql(&app, &format!("UPDATE leads_archive SET last_name = 'LEE' WHERE id = {}", lead.id)).await;
        let again = run(&app, batch(Direction::Dearchive, &[lead.id], (true, false, true))).await;
        assert_eq!((again.insert_count, again.delete_count), (0, 0));
        sql(&app, &format!("UPDATE leads_archive SET last_name = 'Lee' WHERE id = {}", lead.id)).await;
        assert_eq!(run(&app, batch(Direction::Dearchive, &[lead.id], (true, false, true))).await.delete_count, 1);
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), lead, "back exactly as it was");
    }

    async fn only_admin_and_archiver_keys_archive(app) {
        let lead = new_lead(&app, json!({"name": "Ann"})).await;
        let b = batch(Direction::Archive, &[lead.id], (true, true, true));
        for role in [Role::ReadOnly, Role::Dialer { campaign_ids: vec![1] }, Role::Buyer { buyer_id: 1 }] {
            let by = Principal { key_id: None, role };
            let refused = archive::run(&app, &Target::Leadline, &by, Api::Vicidial, &b).await;
            assert!(matches!(refused, Err(ArchiveError::App(AppError::Forbidden(_)))), "{refused:?}");
        }
        assert!(live(&app, lead.id).await);
        let archiver = Principal { key_id: None, role: Role::Archiver };
        let done = archive::run(&app, &Target::Leadline, &archiver, Api::Vicidial, &b).await.unwrap();
        assert_eq!(done, Counts { select_count: 1, insert_count: 1, update_count: 0, delete_count: 1 });
        assert_eq!(archive::get(&app, &archiver, lead.id).await.unwrap(), lead);
        let dialer = Principal { key_id: None, role: Role::Dialer { campaign_ids: vec![1] } };
        assert!(matches!(archive::get(&app, &dialer, lead.id).await, Err(AppError::NotFound { .. })));
    }

    async fn a_missing_id_refuses_the_whole_batch(app) {
        let lead = new_lead(&app, json!({"name": "Ann"})).await;
        let b = batch(Direction::Archive, &[lead.id, lead.id + 50], (true, true, true));
        match archive::run(&app, &Target::Leadline, &admin(), Api::Cli, &b).await {
            Err(ArchiveError::Refused(e)) => assert_eq!(e, BatchError::MissingIds(vec![lead.id + 50])),
            other => panic!("{other:?}"),
        }
        assert!(live(&app, lead.id).await, "nothing moved");
    }
}
