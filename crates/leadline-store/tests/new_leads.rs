//! The direct writer's bulk insert of new leads (`sqlite::new_leads::NewLeads`, the list import's):
//! leads written many to a statement, a taken ref drawn again whether it was taken before the
//! statement or by another lead of the same statement, and every phone and history row kept.

use std::sync::atomic::{AtomicU64, Ordering};

use common::Scratch;
use jiff::Timestamp;
use leadline_core::history::{Actor, Api};
use leadline_core::lead::{Lead, LeadInput};
use leadline_store::sqlite::new_leads::{self as direct, NewLeads};
use leadline_store::sqlite::writer::Bulk;
use leadline_store::{args, Cells, Constraint, Exec, Row, Sql, Store, StoreError};

mod common;

/// A fresh, migrated SQLite file.
async fn scratch() -> Scratch {
    let scratch = Scratch::new("new-leads").await;
    scratch.store.migrate().await.unwrap();
    scratch
}

fn lead(lead_ref: &str, n: usize) -> Lead {
    let input: LeadInput = serde_json::from_value(serde_json::json!({
        "name": format!("lead {n}"),
        "phones": [format!("+6140{n:07}"), format!("+6130{n:07}")],
        "fields": {"row": n},
    }))
    .unwrap();
    Lead::create(lead_ref.into(), input, Timestamp::from_second(1_700_000_000).unwrap()).unwrap()
}

/// Refs drawn again: `Z` and a count, never drawn before in this process.
fn redraw() -> String {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    format!("Z{:07}", DRAWN.fetch_add(1, Ordering::Relaxed))
}

/// Writes `leads` as one bulk unit, as the import does, ids from the next free one on; returns
/// them with their ids.
async fn write(store: &Store, mut leads: Vec<Lead>) -> Result<Vec<(i64, Lead)>, StoreError> {
    let actor = Actor { key_id: None, api: Api::Native };
    store
        .writer()
        .expect("a SQLite file has a direct writer")
        .run_bulk(move |bulk: Bulk<'_>| {
            let first = direct::next_id(bulk.conn())?;
            let mut new = NewLeads::new(bulk, Timestamp::from_second(1_700_000_000).unwrap(), actor, "import", redraw)?;
            for (id, lead) in (first..).zip(leads.iter_mut()) {
                let head = new.history(id, format!(r#"{{"row":{id}}}"#))?;
                new.lead(id, head, lead)?;
            }
            new.finish()?;
            Ok((first..).zip(leads).collect())
        })
        .await
}

#[tokio::test]
async fn taken_refs_are_drawn_again_and_every_lead_keeps_its_phones_and_history() {
    let scratch = scratch().await;
    let store = &scratch.store;
    let earlier: Vec<Lead> = (0..40).map(|n| lead(&format!("R{n:07}"), n)).collect();
    write(store, earlier).await.unwrap();

    // 70 leads: two full statements and six written one by one. Taken refs: one from the
    // earlier unit in the first statement, two leads of the second statement sharing one,
    // and one from the earlier unit among the six.
    let mut leads: Vec<Lead> = (100..170).map(|n| lead(&format!("N{n:07}"), n)).collect();
    leads[3].lead_ref = "R0000005".into();
    leads[40].lead_ref = "SHARED00".into();
    leads[41].lead_ref = "SHARED00".into();
    leads[66].lead_ref = "R0000001".into();
    let written = write(store, leads).await.unwrap();

    let mut conn = store.read().await.unwrap();
    let stored: Vec<(i64, String, String)> =
        rows(&mut conn, Sql::fixed("SELECT id, ref, name FROM leads WHERE id >= $1 ORDER BY id", args![written[0].0]))
            .await
            .iter()
            .map(|r| (r.int("id").unwrap(), r.text("ref").unwrap(), r.text("name").unwrap()))
            .collect();
    assert_eq!(stored.len(), 70, "every lead is written");
    for ((id, lead), (stored_id, stored_ref, name)) in written.iter().zip(&stored) {
        assert_eq!(id, stored_id);
        assert_eq!(&lead.lead_ref, stored_ref, "the caller's lead carries the ref it was written under");
        assert_eq!(Some(name), lead.name.as_ref());
    }
    let redrawn: Vec<usize> =
        written.iter().enumerate().filter(|(_, (_, l))| l.lead_ref.starts_with('Z')).map(|(i, _)| i).collect();
    assert!(redrawn.contains(&3) && redrawn.contains(&66), "{redrawn:?}");
    assert_eq!(redrawn.iter().filter(|i| [40, 41].contains(i)).count(), 1, "one of the two sharing a ref keeps it");
    assert_eq!(redrawn.len(), 3, "{redrawn:?}");

    let refs = conn.one_row(&Sql::new("SELECT COUNT(DISTINCT ref) AS n FROM leads")).await.unwrap().int("n").unwrap();
    assert_eq!(refs, 110);
    let phones: Vec<(i64, i64, String)> = rows(
        &mut conn,
        Sql::fixed(
            "SELECT lead_id, position, phone FROM lead_phones WHERE lead_id >= $1 ORDER BY lead_id, position",
            args![written[0].0],
        ),
    )
    .await
    .iter()
    .map(|r| (r.int("lead_id").unwrap(), r.int("position").unwrap(), r.text("phone").unwrap()))
    .collect();
    let expected: Vec<(i64, i64, String)> = written
        .iter()
        .flat_map(|(id, lead)| {
            lead.phones.iter().enumerate().map(move |(i, p)| (*id, i as i64, p.as_str().to_string()))
        })
        .collect();
    assert_eq!(phones, expected);
    let heads: Vec<(i64, i64)> = rows(
        &mut conn,
        Sql::fixed(
            "SELECT l.id, h.lead_id FROM leads l JOIN lead_history h ON h.id = l.history_head WHERE l.id >= $1 \
             ORDER BY l.id",
            args![written[0].0],
        ),
    )
    .await
    .iter()
    .map(|r| (r.int("id").unwrap(), r.int("lead_id").unwrap()))
    .collect();
    assert_eq!(heads.len(), 70);
    assert!(heads.iter().all(|(id, owner)| id == owner), "each lead's history head is its own row");
}

/// A template, campaign 1 on it, and allocation 1 in that campaign.
async fn campaign(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    tx.run(&Sql::new(
        "INSERT INTO campaign_templates (id, name, fields) VALUES (1, 'template', '[]'); \
         INSERT INTO campaigns (id, template_id, name) VALUES (1, 1, 'campaign'); \
         INSERT INTO allocations (id, campaign_id, name, active) VALUES (1, 1, 'allocation', 1);",
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The lead's field behind a column of `leads` that refers to another table.
fn reference<'a>(lead: &'a mut Lead, column: &str) -> &'a mut Option<i64> {
    match column {
        "vertical_id" => &mut lead.vertical_id,
        "campaign_id" => &mut lead.campaign_id,
        "allocation_id" => &mut lead.allocation_id,
        "contact_hours_id" => &mut lead.contact_hours_id,
        "queue_id" => &mut lead.queue_id,
        "queue_status_id" => &mut lead.queue_status_id,
        "quality_id" => &mut lead.quality_id,
        "industry_id" => &mut lead.industry_id,
        "source_id" => &mut lead.source_id,
        "company_id" => &mut lead.company_id,
        "contact_id" => &mut lead.contact_id,
        "company_lead_contact_id" => &mut lead.company_lead_contact_id,
        "owner_user_id" => &mut lead.owner_user_id,
        "type_id" => &mut lead.type_id,
        "subtype_id" => &mut lead.subtype_id,
        "stage_id" => &mut lead.stage_id,
        "stage_reason_id" => &mut lead.stage_reason_id,
        "channel_id" => &mut lead.channel_id,
        other => panic!("leads.{other} is a foreign key this test does not know: add it here"),
    }
}

async fn rows_in(store: &Store, table: &str) -> i64 {
    let mut conn = store.read().await.unwrap();
    conn.one_row(&Sql::new(format!("SELECT COUNT(*) AS n FROM {table}"))).await.unwrap().int("n").unwrap()
}

async fn rows(conn: &mut impl Exec, sql: Sql) -> Vec<Row> {
    conn.all_rows(&sql).await.unwrap()
}

#[tokio::test]
async fn a_lead_referring_to_anything_missing_fails_the_unit_naming_it_though_foreign_keys_are_off() {
    let scratch = scratch().await;
    let store = &scratch.store;
    campaign(store).await;
    let in_campaign = |n: usize| {
        let mut lead = lead(&format!("P{n:07}"), n);
        lead.campaign_id = Some(1);
        lead.allocation_id = Some(1);
        lead
    };
    // Every foreign key the schema declares on leads, each given a missing value on one lead
    // of a full statement.
    let mut conn = store.read().await.unwrap();
    let keys: Vec<(String, String)> =
        rows(&mut conn, Sql::new(r#"SELECT "from", "table" FROM pragma_foreign_key_list('leads')"#))
            .await
            .iter()
            .map(|r| (r.text("from").unwrap(), r.text("table").unwrap()))
            .collect();
    drop(conn);
    assert!(keys.len() >= 3, "{keys:?}");
    for (column, table) in &keys {
        let mut leads: Vec<Lead> = (0..40).map(in_campaign).collect();
        let missing = 999;
        *reference(&mut leads[9], column) = Some(missing);
        let error = write(store, leads).await.unwrap_err();
        let StoreError::ForeignKey(detail) = &error else { panic!("{column}: {error:?}") };
        assert_eq!(detail, &format!("leads.{column} refers to {table} {missing}, which does not exist"));
        for table in ["leads", "lead_phones", "lead_history"] {
            assert_eq!(rows_in(store, table).await, 0, "{table} keeps nothing of the failed unit ({column})");
        }
    }
    // Parents that exist pass.
    let written = write(store, (0..40).map(in_campaign).collect()).await.unwrap();
    assert_eq!((written.len() as i64, rows_in(store, "leads").await), (40, 40));
}

#[tokio::test]
async fn an_external_id_taken_in_a_full_statement_fails_the_unit_and_writes_nothing() {
    let scratch = scratch().await;
    let store = &scratch.store;
    // External ids are unique within a campaign.
    let mut tx = store.begin().await.unwrap();
    tx.run(&Sql::new(
        "INSERT INTO campaign_templates (id, name, fields) VALUES (1, 'template', '[]'); \
         INSERT INTO campaigns (id, template_id, name) VALUES (1, 1, 'campaign');",
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut leads: Vec<Lead> = (0..40).map(|n| lead(&format!("E{n:07}"), n)).collect();
    for lead in &mut leads {
        lead.campaign_id = Some(1);
    }
    leads[7].external_id = Some("twice".into());
    leads[20].external_id = Some("twice".into());
    let error = write(store, leads).await.unwrap_err();
    assert!(matches!(error, StoreError::Unique { constraint: Constraint::LeadExternalId, .. }), "{error:?}");
    let mut conn = store.read().await.unwrap();
    for table in ["leads", "lead_phones", "lead_history"] {
        let rows =
            conn.one_row(&Sql::new(format!("SELECT COUNT(*) AS n FROM {table}"))).await.unwrap().int("n").unwrap();
        assert_eq!(rows, 0, "{table} keeps nothing of the failed unit");
    }
    drop(conn);
    // The refusal ended the unit's transaction (`OR ROLLBACK`); the writer goes on with the next.
    let mut leads: Vec<Lead> = (0..40).map(|n| lead(&format!("F{n:07}"), n)).collect();
    leads.iter_mut().for_each(|lead| lead.campaign_id = Some(1));
    assert_eq!(write(store, leads).await.unwrap().len(), 40);
    assert_eq!(rows_in(store, "lead_phones").await, 80);
}
