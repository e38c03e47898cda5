//! The multi-row lead insert of the sqlx path (PostgreSQL, and SQLite without a file) never
//! hands out an archived lead's id again.

use jiff::Timestamp;
use leadline_core::lead::{Lead, LeadInput};
use leadline_store::{imports, Backend, PoolConfig, Store};

fn lead(lead_ref: &str) -> Lead {
    let input: LeadInput = serde_json::from_value(serde_json::json!({"name": lead_ref})).unwrap();
    Lead::create(lead_ref.into(), input, Timestamp::from_second(1_700_000_000).unwrap()).unwrap()
}

#[tokio::test]
async fn bulk_inserted_leads_on_sqlite_without_a_file_take_ids_past_the_archive() {
    // A shared in-memory database, so the read and write pools see the same one; it has no
    // direct writer, so list imports take the sqlx path on it.
    let url = format!("sqlite:file:bulk-ids-{}?mode=memory&cache=shared", std::process::id());
    let store = Store::connect(&url, &PoolConfig::default()).await.unwrap();
    assert!(store.writer().is_none());
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let first = imports::insert_leads(&mut tx, Backend::Sqlite, &[lead("AAAAAAAA")]).await.unwrap();
    // The newest lead goes to the archive, as an archive run moves it: copied, then deleted.
    let newest = first[0].unwrap();
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('leads_archive')").fetch_all(&mut *tx).await.unwrap();
    let columns = columns.join(", ");
    sqlx::query(&format!(
        "INSERT INTO leads_archive ({columns}) SELECT {columns} FROM leads WHERE id = {newest}; \
         DELETE FROM leads WHERE id = {newest};"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let next = imports::insert_leads(&mut tx, Backend::Sqlite, &[lead("BBBBBBBB"), lead("CCCCCCCC")]).await.unwrap();
    tx.commit().await.unwrap();
    for id in next {
        assert!(id.unwrap() > newest, "lead {id:?} takes an id at or below archived lead {newest}");
    }
    store.close().await;
}
