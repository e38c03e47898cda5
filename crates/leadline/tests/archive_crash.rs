//! Crash safety of archiving: a large run is killed with SIGKILL in the middle, and after each
//! kill every lead is in the live table, the archive, or both with equal data (never in neither,
//! never changed); a second run then finishes the job. Killed are the `leadline archive` command
//! (three times in one run) and the server in the middle of a run of API batches. On Leadline's
//! SQLite store always, and on a VICIdial MariaDB database when `LEADLINE_TEST_MYSQL_URL` is set.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::Scratch;
use leadline_app::vicidial_testing::VicidialTestDb;
use sqlx::{MySqlPool, Row, SqlitePool};

const LEADS: i64 = 60_000;

enum Site {
    Sqlite(SqlitePool),
    Mysql(MySqlPool),
}

impl Site {
    fn tables(&self) -> (&'static str, &'static str) {
        match self {
            Site::Sqlite(_) => ("leads", "leads_archive"),
            Site::Mysql(_) => ("vicidial_list", "vicidial_list_archive"),
        }
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self {
            Site::Sqlite(pool) => sqlx::query(&sql).fetch_one(pool).await.unwrap().get(0),
            Site::Mysql(pool) => sqlx::query(&sql).fetch_one(pool).await.unwrap().get(0),
        }
    }

    /// Every row of `table` as one quoted text of all the live table's columns but the history
    /// head (which moves as the archive writes history rows), by id.
    async fn rows(&self, table: &str) -> HashMap<i64, String> {
        match self {
            Site::Sqlite(pool) => {
                let columns: Vec<String> = sqlx::query(
                    "SELECT name FROM pragma_table_info('leads') WHERE name <> 'history_head' ORDER BY cid",
                )
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
                let list = columns.iter().map(|c| format!("quote({c})")).collect::<Vec<_>>().join(" || ',' || ");
                let sql = format!("SELECT id, {list} FROM {table}");
                sqlx::query(&sql).fetch_all(pool).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
            }
            Site::Mysql(pool) => {
                let columns: Vec<String> = sqlx::query(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                     AND TABLE_NAME = 'vicidial_list' ORDER BY ORDINAL_POSITION",
                )
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
                let list = columns.iter().map(|c| format!("QUOTE(`{c}`)")).collect::<Vec<_>>().join(", ");
                let sql = format!("SELECT CAST(lead_id AS SIGNED), CAST(CONCAT_WS(',', {list}) AS CHAR) FROM {table}");
                sqlx::query(&sql).fetch_all(pool).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
            }
        }
    }

    /// Every lead of `original` is live, archived, or both, and each copy is exactly the original.
    async fn check(&self, original: &HashMap<i64, String>) -> (usize, usize) {
        let (live_table, archive_table) = self.tables();
        let live = self.rows(live_table).await;
        let archived = self.rows(archive_table).await;
        for (id, row) in original {
            let (l, a) = (live.get(id), archived.get(id));
            assert!(l.is_some() || a.is_some(), "lead {id} is in neither table");
            for copy in [l, a].into_iter().flatten() {
                assert_eq!(copy, row, "lead {id} changed");
            }
        }
        assert_eq!(
            live.len() + archived.len() - live.keys().filter(|k| archived.contains_key(k)).count(),
            original.len()
        );
        if let Site::Sqlite(pool) = self {
            history_chains_whole(pool).await;
        }
        (live.len(), archived.len())
    }
}

/// Every lead's history head is a row of its own history, and walking back from the heads
/// reaches every history row exactly once: the archive's history rows kept the chains whole
/// however the runs were killed.
async fn history_chains_whole(pool: &SqlitePool) {
    let rows: HashMap<i64, (i64, Option<i64>)> = sqlx::query("SELECT id, lead_id, prev_id FROM lead_history")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let heads: HashMap<i64, i64> = sqlx::query(
        "SELECT id, history_head FROM leads WHERE history_head IS NOT NULL \
         UNION SELECT id, history_head FROM leads_archive WHERE history_head IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut reached = std::collections::HashSet::new();
    for (lead, head) in heads {
        let mut next = Some(head);
        while let Some(id) = next {
            let (owner, prev) =
                rows.get(&id).unwrap_or_else(|| panic!("lead {lead}'s history names a missing row {id}"));
            assert_eq!(*owner, lead, "lead {lead}'s history reaches row {id} of lead {owner}");
            assert!(reached.insert(id), "history row {id} is reached twice");
            next = *prev;
        }
    }
    assert_eq!(reached.len(), rows.len(), "history rows no lead's head reaches");
}

fn scratch() -> Scratch {
    Scratch::new("crash")
}

fn leadline(dir: &PathBuf, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
    command
        .args(args)
        .args(["--database-url", &format!("sqlite://{}", dir.join("leadline.db").display())])
        .current_dir(dir)
        .env_remove("LEADLINE_DATABASE_URL")
        .env_remove("LEADLINE_CONFIG");
    command
}

/// Kills archive runs at growing amounts archived, checking after each kill; then finishes.
async fn kill_and_resume(dir: &PathBuf, site: &Site, extra: &[&str]) {
    let original = site.rows(site.tables().0).await;
    assert_eq!(original.len() as i64, LEADS);
    let mut args = vec!["archive", "--older-than", "0d", "--batch", "100"];
    args.extend_from_slice(extra);
    for fraction in [10, 4, 2] {
        let mut child = leadline(dir, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let (_, archive_table) = site.tables();
        let target = site.count(archive_table).await + LEADS / fraction / 3;
        let started = Instant::now();
        while site.count(archive_table).await < target {
            assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
            assert!(started.elapsed() < Duration::from_secs(120), "the run made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (live, archived) = site.check(&original).await;
        assert!(live > 0 && archived > 0, "killed mid-run: {live} live, {archived} archived");
    }
    let finished = leadline(dir, &args).output().unwrap();
    assert!(finished.status.success(), "{}", String::from_utf8_lossy(&finished.stderr));
    let summary = String::from_utf8_lossy(&finished.stdout);
    assert!(summary.contains("left in place"), "{summary}");
    let (live, archived) = site.check(&original).await;
    assert_eq!((live, archived), (0, LEADS as usize), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_archive_run_on_sqlite_loses_and_duplicates_nothing_and_a_rerun_finishes() {
    let (dir, site) = seeded_sqlite().await;
    kill_and_resume(&dir.0, &site, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_archive_run_on_a_vicidial_database_loses_and_duplicates_nothing_and_a_rerun_finishes() {
    let Some((dir, site, vicidial)) = seeded_vicidial().await else { return };
    kill_and_resume(&dir.0, &site, &["--config", "leadline.toml"]).await;
    vicidial.remove().await;
}

/// One API batch over a fresh connection; the status, or None when the server is gone.
fn post_batch(address: &str, key: &str, ids: &[i64]) -> Option<u16> {
    let body =
        format!("{{\"insert_leads\": true, \"update_leads\": true, \"delete_leads\": true, \"lead_ids\": {ids:?}}}");
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let request = format!(
        "POST /vicidial/leads/archive HTTP/1.1\r\nHost: {address}\r\nAuthorization: Key={key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.split(' ').nth(1)?.parse().ok()
}

/// Starts `leadline serve` on a free port; returns the process and its address.
fn start_server(dir: &PathBuf, extra: &[&str]) -> (std::process::Child, String) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut server = leadline(dir, &args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("Leadline is listening on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading what it prints, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (server, address)
}

/// Sends 100-id batches of `ids` one after another until done or the server is gone.
fn drive(address: String, key: String, ids: Vec<i64>) -> std::thread::JoinHandle<(usize, Option<u16>)> {
    std::thread::spawn(move || {
        let mut sent = 0;
        for chunk in ids.chunks(100) {
            match post_batch(&address, &key, chunk) {
                Some(200) => sent += 1,
                other => return (sent, other),
            }
        }
        (sent, Some(200))
    })
}

async fn kill_server_and_resume(dir: &PathBuf, site: &Site, extra: &[&str]) {
    let original = site.rows(site.tables().0).await;
    let mut args = vec!["keys", "create", "--role", "archiver"];
    args.extend_from_slice(extra);
    let created = leadline(dir, &args).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = String::from_utf8_lossy(&created.stdout).lines().last().unwrap().to_string();
    let mut ids: Vec<i64> = original.keys().copied().collect();
    ids.sort_unstable();

    let (mut server, address) = start_server(dir, extra);
    let client = drive(address, key.clone(), ids);
    let (_, archive_table) = site.tables();
    let started = Instant::now();
    while site.count(archive_table).await < LEADS / 4 {
        assert!(!client.is_finished(), "the batches ended before the server could be killed");
        assert!(started.elapsed() < Duration::from_secs(120), "the batches made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap(); // SIGKILL, in the middle of a batch or between two
    server.wait().unwrap();
    let (sent, last) = client.join().unwrap();
    assert_ne!(last, Some(200), "the client saw the server go ({sent} batches answered)");
    let (live, archived) = site.check(&original).await;
    assert!(live > 0 && archived > 0, "killed mid-run: {live} live, {archived} archived");

    // A second run over what is still live finishes the job.
    let (mut server, address) = start_server(dir, extra);
    let mut remaining: Vec<i64> = site.rows(site.tables().0).await.into_keys().collect();
    remaining.sort_unstable();
    let (_, last) = drive(address, key, remaining).join().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(last, Some(200));
    let (live, archived) = site.check(&original).await;
    assert_eq!((live, archived), (0, LEADS as usize));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_api_batches_on_sqlite_loses_nothing_and_a_second_run_finishes() {
    let (dir, site) = seeded_sqlite().await;
    kill_server_and_resume(&dir.0, &site, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_api_batches_on_a_vicidial_database_loses_nothing_and_a_second_run_finishes() {
    let Some((dir, site, vicidial)) = seeded_vicidial().await else { return };
    kill_server_and_resume(&dir.0, &site, &["--config", "leadline.toml"]).await;
    vicidial.remove().await;
}

/// A scratch directory with a migrated, seeded Leadline SQLite database.
async fn seeded_sqlite() -> (Scratch, Site) {
    let dir = scratch();
    let migrated = leadline(&dir.0, &["migrate"]).output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let pool = SqlitePool::connect(&format!("sqlite://{}", dir.0.join("leadline.db").display())).await.unwrap();
    seed_sqlite(&pool).await;
    (dir, Site::Sqlite(pool))
}

/// A scratch directory configured for a fresh, seeded VICIdial database; None without MariaDB.
async fn seeded_vicidial() -> Option<(Scratch, Site, VicidialTestDb)> {
    let Some(vicidial) = VicidialTestDb::fresh().await else {
        eprintln!("skipped: set LEADLINE_TEST_MYSQL_URL to run it on MariaDB");
        return None;
    };
    let dir = scratch();
    std::fs::write(dir.0.join("leadline.toml"), format!("[vicidial]\ndatabase_url = \"{}\"\n", vicidial.url)).unwrap();
    let pool = vicidial.db.pool().clone();
    seed_mysql(&pool).await;
    Some((dir, Site::Mysql(pool), vicidial))
}

async fn seed_sqlite(pool: &SqlitePool) {
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
         INSERT INTO leads (id, ref, first_name, last_name, email, phones, fields, priority, dial_count, closed, \
         thrown_out, version, created_at, updated_at) \
         SELECT i, printf('R%07d', i), 'Ann' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'Lee ' || i END, \
         CASE WHEN i % 5 = 0 THEN '' ELSE NULL END, '[\"02' || printf('%08d', i) || '\"]', '{\"k\":' || i || '}', \
         10, i % 3, 0, 0, 1, 1000000, 1000000 + i FROM n",
    )
    .bind(LEADS)
    .execute(pool)
    .await
    .unwrap();
}

async fn seed_mysql(pool: &MySqlPool) {
    sqlx::query(
        "INSERT INTO vicidial_list (lead_id, entry_date, modify_date, status, list_id, phone_number, first_name, \
         last_name, comments, date_of_birth, `rank`, preferred_colour) \
         SELECT seq, '2020-01-01 00:00:00', '2020-02-02 02:02:02', 'NEW', 101, CONCAT('312555', seq), \
         CONCAT('Ann', seq), IF(seq % 7 = 0, NULL, CONCAT('Lee ', seq)), IF(seq % 5 = 0, '', NULL), '0000-00-00', \
         seq % 3, 'teal' FROM seq_1_to_60000",
    )
    .execute(pool)
    .await
    .unwrap();
}
