//! The multi-row lead insert of the sqlx path (PostgreSQL's, here run on a SQLite file through
//! sqlx) never hands out an archived lead's id again; and a store is never in memory.

use common::Scratch;
use jiff::Timestamp;
use leadline_core::lead::{Lead, LeadInput};
use leadline_store::{imports, Cells, Exec, PoolConfig, Sql, Store, StoreError};

mod common;

fn lead(lead_ref: &str) -> Lead {
    let input: LeadInput = serde_json::from_value(serde_json::json!({"name": lead_ref})).unwrap();
    Lead::create(lead_ref.into(), input, Timestamp::from_second(1_700_000_000).unwrap()).unwrap()
}

#[tokio::test]
async fn bulk_inserted_leads_through_sqlx_take_ids_past_the_archive() {
    let scratch = Scratch::new("bulk-ids").await;
    let store = &scratch.store;
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let first = imports::insert_leads(&mut tx, &[lead("AAAAAAAA")]).await.unwrap();
    // The newest lead goes to the archive, as an archive run moves it: copied, then deleted.
    let newest = first[0].unwrap();
    let columns: Vec<String> = tx
        .all_rows(&Sql::new("SELECT name FROM pragma_table_info('leads_archive')"))
        .await
        .unwrap()
        .iter()
        .map(|row| row.text("name").unwrap())
        .collect();
    let columns = columns.join(", ");
    tx.run(&Sql::new(format!(
        "INSERT INTO leads_archive ({columns}) SELECT {columns} FROM leads WHERE id = {newest}; \
         DELETE FROM leads WHERE id = {newest};"
    )))
    .await
    .unwrap();
    let next = imports::insert_leads(&mut tx, &[lead("BBBBBBBB"), lead("CCCCCCCC")]).await.unwrap();
    tx.commit().await.unwrap();
    for id in next {
        assert!(id.unwrap() > newest, "lead {id:?} takes an id at or below archived lead {newest}");
    }
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused_naming_the_url() {
    // Every SQLite write runs on the writer thread's own connection to the file, which a
    // memory database (private to one connection) cannot share.
    for url in ["sqlite::memory:", "sqlite:file:leads?mode=memory&cache=shared"] {
        match Store::connect(url, &PoolConfig::default()).await {
            Err(StoreError::Url(message)) => {
                assert!(message.contains(url) && message.contains("in-memory"), "{message}")
            }
            other => panic!("{url}: expected a refused URL, got {other:?}"),
        }
    }
}
