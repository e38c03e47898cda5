//! `leadline backup` against a running server under a write load, on a database of 100,000 leads,
//! and `leadline restore`, refused while the server runs and whole once it has stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadline_store::DirectConn;

const SEEDED: i64 = 100_000;

mod common;

use common::Scratch;

impl Scratch {
    fn database(&self) -> PathBuf {
        self.0.join("live.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
        command
            .args(args)
            .args(["--database-url", &format!("sqlite://{}", self.database().display())])
            .current_dir(&self.0)
            .env_remove("LEADLINE_DATABASE_URL")
            .env_remove("LEADLINE_LISTEN")
            .env_remove("LEADLINE_CONFIG");
        command
    }

    fn leadline(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// Ends the server however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// 100,000 leads in one statement, as a database that has served for a while would hold.
fn seed(database: &Path) {
    let conn = DirectConn::open(database).unwrap();
    let inserted = conn
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO leads (ref, name, phones, fields, priority, dial_count, closed, thrown_out, version, \
                                created_at, updated_at) \
             SELECT printf('S%07d', i), 'Seeded lead ' || i, '[]', '{}', 10, 0, 0, 0, 1, 0, 0 FROM n",
            [SEEDED],
        )
        .unwrap();
    assert_eq!(inserted as i64, SEEDED);
}

/// Creates one lead over HTTP; the id when the server answered 201.
fn create_lead(address: &str, secret: &str, n: usize) -> Option<i64> {
    let body = format!(r#"{{"name":"Written {n}","phones":["02 9999 {:04}"]}}"#, n % 10_000);
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /v1/leads HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    if !response.starts_with("HTTP/1.1 201") {
        return None;
    }
    let json = &response[response.find("\r\n\r\n")? + 4..];
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value["id"].as_i64()
}

fn lead_ids(database: &Path) -> (String, Vec<i64>) {
    let conn = DirectConn::open(database).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    let mut statement = conn.prepare("SELECT id FROM leads ORDER BY id").unwrap();
    let ids = statement.query_map([], |row| row.get(0)).unwrap().collect::<Result<Vec<i64>, _>>().unwrap();
    (integrity, ids)
}

#[test]
fn a_backup_taken_under_a_write_load_holds_every_acknowledged_write_and_restores_whole() {
    let scratch = Scratch::new("backup");
    succeeded(&scratch.leadline(&["migrate"]));
    seed(&scratch.database());

    let mut child = scratch
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let server = Server(child);
    let (mut address, mut secret) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Leadline is listening on http://") {
            address = rest.split_whitespace().next().unwrap().to_string();
        }
        if let Some(key) = line.split_whitespace().find(|w| w.starts_with("ll_")).filter(|_| secret.is_empty()) {
            secret = key.to_string();
        }
        if line.starts_with("API reference") {
            break;
        }
    }
    assert!(!address.is_empty() && !secret.is_empty(), "the server printed its address and a key");

    // Two writers create leads until told to stop; each id is recorded once the server has
    // answered 201 for it.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let (acknowledged, stop, address, secret) =
                (acknowledged.clone(), stop.clone(), address.clone(), secret.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut n = writer;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if let Some(id) = create_lead(&address, &secret, n) {
                        acknowledged.lock().unwrap().push(id);
                    }
                    n += 2;
                }
            })
        })
        .collect();
    let warm_up = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 50 {
        assert!(Instant::now() < warm_up, "the writers got no leads written");
        std::thread::sleep(Duration::from_millis(20));
    }

    let before_backup = acknowledged.lock().unwrap().clone();
    let copy = scratch.0.join("copy.db");
    let printed = succeeded(&scratch.leadline(&["backup", copy.to_str().unwrap()]));
    let after_backup = acknowledged.lock().unwrap().len();
    // The writers go on a little after the backup, so the copy is known to be older than the live file.
    while acknowledged.lock().unwrap().len() < after_backup + 20 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(printed.contains("copy.db") && printed.contains("leads"), "{printed}");

    let (integrity, copied) = lead_ids(&copy);
    assert_eq!(integrity, "ok");
    let copied_set: std::collections::HashSet<i64> = copied.iter().copied().collect();
    assert!((1..=SEEDED).all(|id| copied_set.contains(&id)), "every seeded lead is in the copy");
    let missing: Vec<_> = before_backup.iter().filter(|id| !copied_set.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged before the backup began but not in it: {missing:?}");
    let everything = acknowledged.lock().unwrap().clone();
    assert!(copied.len() < SEEDED as usize + everything.len(), "writes after the backup are not in it");

    // A restore is refused while the server has the database open, and changes nothing.
    let refused = scratch.leadline(&["restore", copy.to_str().unwrap()]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("stop it before a restore"), "{error}");
    drop(server);
    let (_, live) = lead_ids(&scratch.database());
    assert_eq!(live.len(), SEEDED as usize + everything.len(), "the refused restore left the live file alone");

    let restored = succeeded(&scratch.leadline(&["restore", copy.to_str().unwrap()]));
    assert!(restored.contains(&format!("{} leads", copied.len())), "{restored}");
    let (integrity, live) = lead_ids(&scratch.database());
    assert_eq!(integrity, "ok");
    assert_eq!(live, copied, "the live database is the backup again");
    succeeded(&scratch.leadline(&["keys", "list"]));

    // A backup never overwrites a file.
    let again = scratch.leadline(&["backup", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
