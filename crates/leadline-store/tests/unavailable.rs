//! Failures that mean the database cannot serve requests for now: told apart from others, and
//! not left behind once the cause has passed.

use common::Scratch;
use leadline_store::{args, Cells, Exec, Sql, StoreError, Unavailable};

mod common;

async fn scratch(name: &str) -> Scratch {
    let scratch = Scratch::new(name).await;
    let mut tx = scratch.store.begin().await.unwrap();
    tx.run(&Sql::new("CREATE TABLE items (id INTEGER PRIMARY KEY, body BLOB)")).await.unwrap();
    tx.commit().await.unwrap();
    scratch
}

async fn insert(scratch: &Scratch, id: i64, bytes: usize) -> Result<(), StoreError> {
    let mut tx = scratch.store.begin().await?;
    tx.run(&Sql::fixed("INSERT INTO items (id, body) VALUES ($1, zeroblob($2))", args![id, bytes as i64])).await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn a_transaction_sqlite_ended_by_itself_does_not_stop_every_later_write() {
    // On a full disk SQLite may roll a failing COMMIT back itself; a statement that ends the
    // transaction behind sqlx's back leaves the connection in the same state.
    let s = scratch("ended-by-itself").await;
    let mut tx = s.store.begin().await.unwrap();
    tx.run(&Sql::new("INSERT INTO items (id) VALUES (1)")).await.unwrap();
    tx.run(&Sql::new("ROLLBACK")).await.unwrap();
    assert!(tx.commit().await.is_err(), "nothing is left to commit");
    // The cause has passed: the next writes go through.
    insert(&s, 2, 10).await.expect("a write after the failed commit");
    insert(&s, 3, 10).await.expect("and the one after");
    let mut conn = s.store.read().await.unwrap();
    let rows = conn.all_rows(&Sql::new("SELECT id FROM items ORDER BY id")).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|row| row.int("id").unwrap()).collect();
    assert_eq!(ids, [2, 3]);
}

#[tokio::test]
async fn a_full_database_and_a_closed_pool_are_told_apart_from_other_failures() {
    let s = scratch("full").await;
    insert(&s, 1, 10).await.unwrap();
    // The write connection may not grow the file past its size now: the next big row fills it.
    let mut tx = s.store.begin().await.unwrap();
    tx.run(&Sql::new("PRAGMA max_page_count = 4")).await.unwrap();
    tx.commit().await.unwrap();
    let full = insert(&s, 2, 1 << 20).await.expect_err("past max_page_count");
    assert_eq!(full.unavailable(), Some(Unavailable::Full), "{full:?}");
    // Other failures are not the database's absence.
    let taken = insert(&s, 1, 10).await.expect_err("a taken id");
    assert_eq!(taken.unavailable(), None, "{taken:?}");
    s.store.close().await;
    let closed = s.store.read().await.expect_err("a closed pool");
    assert_eq!(closed.unavailable(), Some(Unavailable::Unreachable), "{closed:?}");
}
