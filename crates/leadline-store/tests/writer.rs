//! The SQLite direct writer: group commit, a failed unit rolled back alone, a failed commit
//! reported to every unit of its group, and no interleaving with sqlx's writer.

use std::time::Duration;

use common::Scratch;
use leadline_store::{Cells, Exec, Sql, Store, StoreError};

mod common;

/// A fresh SQLite file with a scratch table.
async fn scratch() -> Scratch {
    let scratch = Scratch::new("writer").await;
    let store = &scratch.store;
    let mut tx = store.begin().await.unwrap();
    tx.run(&Sql::new("CREATE TABLE parents (id INTEGER PRIMARY KEY)")).await.unwrap();
    tx.run(&Sql::new("CREATE TABLE items (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents(id))"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    scratch
}

async fn item_ids(store: &Store) -> Vec<i64> {
    let mut conn = store.read().await.unwrap();
    let rows = conn.all_rows(&Sql::new("SELECT id FROM items ORDER BY id")).await.unwrap();
    rows.iter().map(|row| row.int("id").unwrap()).collect()
}

fn insert_item(conn: &leadline_store::DirectConn, id: i64) -> Result<(), StoreError> {
    conn.execute("INSERT INTO items (id) VALUES (?1)", [id])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_units_all_commit_and_a_failing_one_is_rolled_back_alone() {
    let s = scratch().await;
    let mut tasks = Vec::new();
    for id in 1..=300i64 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let writer = store.writer().expect("a SQLite file has a direct writer");
            writer
                .run(move |conn| {
                    insert_item(conn, id)?;
                    if id % 10 == 0 {
                        // Fails after writing: what it wrote must not stay.
                        return Err(StoreError::Corrupt(format!("unit {id} refused")));
                    }
                    Ok(id)
                })
                .await
        }));
    }
    let mut refused = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(id) => assert_eq!(id, i as i64 + 1),
            Err(StoreError::Corrupt(message)) => {
                assert_eq!(message, format!("unit {} refused", i + 1));
                refused += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 30);
    let ids = item_ids(&s.store).await;
    assert_eq!(ids.len(), 270);
    assert!(ids.iter().all(|id| id % 10 != 0), "no refused unit's row was kept");
}

#[tokio::test]
async fn a_panicking_unit_fails_alone_and_the_writer_goes_on() {
    let s = scratch().await;
    let writer = s.store.writer().unwrap();
    let outcome: Result<(), StoreError> = writer
        .run(|conn| {
            insert_item(conn, 1)?;
            panic!("a bug in a unit of work");
        })
        .await;
    assert!(matches!(outcome, Err(StoreError::Writer(_))), "{outcome:?}");
    writer.run(|conn| insert_item(conn, 2)).await.unwrap();
    assert_eq!(item_ids(&s.store).await, vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_fails_every_unit_of_its_group() {
    let s = scratch().await;
    let writer = s.store.writer().unwrap();
    // A deferred foreign key is checked at COMMIT: the unit itself succeeds, the commit fails.
    let outcome: Result<(), StoreError> = writer
        .run(|conn| {
            conn.execute_batch("PRAGMA defer_foreign_keys = ON; INSERT INTO items (id, parent_id) VALUES (1, 99);")?;
            Ok(())
        })
        .await;
    match outcome {
        Err(StoreError::Writer(message)) => assert!(message.contains("FOREIGN KEY"), "{message}"),
        other => panic!("expected a failed commit, got {other:?}"),
    }
    assert!(item_ids(&s.store).await.is_empty());
    writer.run(|conn| insert_item(conn, 2)).await.unwrap();
    assert_eq!(item_ids(&s.store).await, vec![2], "the writer recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_wait_for_an_open_sqlx_write_transaction() {
    let s = scratch().await;
    let mut tx = s.store.begin().await.unwrap();
    tx.run(&Sql::new("INSERT INTO items (id) VALUES (1)")).await.unwrap();
    let store = s.store.clone();
    let unit = tokio::spawn(async move { store.writer().unwrap().run(|conn| insert_item(conn, 2)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!unit.is_finished(), "the unit waits for the process's write lock");
    tx.commit().await.unwrap();
    unit.await.unwrap().unwrap();
    assert_eq!(item_ids(&s.store).await, vec![1, 2]);
}

/// Steady writes fill the WAL many times over: the checkpointer copies it back into the database
/// (the hook that tells it how much is in use works) and the log starts over in a file of
/// bounded size instead of growing with everything ever written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_copied_back_and_reused_under_steady_writes() {
    const MIB: i64 = 1 << 20;
    let s = scratch().await;
    let writer = s.store.writer().unwrap();
    writer
        .run(|conn| {
            conn.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    // 16 rows of 1 MiB rewritten 320 times: 320 MiB through the log, 16 MiB of database.
    for round in 0..320i64 {
        writer
            .run(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO blobs (id, data) VALUES (?1, zeroblob(?2))",
                    [round % 16, MIB + round],
                )?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let size = |suffix: &str| std::fs::metadata(format!("{}{suffix}", s.path.display())).map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while size("") < 16 * MIB as u64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(size("") >= 16 * MIB as u64, "the checkpointer copied the log into the database: {} bytes", size(""));
    // The writer keeps at most 288 MiB of log file (256 MiB in use, then it checkpoints itself).
    assert!(size("-wal") <= 288 * MIB as u64, "the log file stayed bounded: {} bytes", size("-wal"));
}

#[tokio::test]
async fn a_bulk_unit_keeps_its_statement_journals_in_memory_and_foreign_keys_off_and_the_units_around_it_do_not() {
    let scratch = scratch().await;
    let writer = scratch.store.writer().unwrap();
    /// `temp_store` (0: the default, 2: memory) and `foreign_keys` (1: on).
    fn settings(conn: &leadline_store::DirectConn) -> Result<(i64, i64), StoreError> {
        let read = |pragma: &str| conn.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0));
        Ok((read("temp_store")?, read("foreign_keys")?))
    }
    // Queued together, so a bulk unit arrives while a group is being gathered and after it.
    for _ in 0..20 {
        let (before, bulk, after) =
            tokio::join!(writer.run(settings), writer.run_bulk(|bulk| settings(bulk.conn())), writer.run(settings));
        assert_eq!((before.unwrap(), bulk.unwrap(), after.unwrap()), ((0, 1), (2, 0), (0, 1)));
    }
    // A failed bulk unit sets both back too.
    let failed = writer.run_bulk(|bulk| {
        insert_item(bulk.conn(), 1)?;
        Err::<(), _>(StoreError::Writer("refused".into()))
    });
    assert!(failed.await.is_err());
    assert_eq!(writer.run(settings).await.unwrap(), (0, 1));
    assert!(item_ids(&scratch.store).await.is_empty(), "the failed bulk unit wrote nothing");
}
