//! `faults disk-full`: a SQLite database on a small tmpfs mounted for the run, the tmpfs filled
//! under a write load, then freed. Writes meanwhile must be refused with a clear answer, reads
//! must go on, the database must pass `PRAGMA integrity_check`, and writes must work again once
//! there is room. The tmpfs is unmounted however the run ends.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::ConnectOptions;

use crate::check;
use crate::client::Client;
use crate::load::{self, LoadSpec, Outcome, Record, Worker, Write};
use crate::server::{self, ServerSpec};

#[derive(clap::Args)]
pub struct Args {
    /// Size of the tmpfs holding the database.
    #[arg(long, default_value_t = 64)]
    size_mib: u64,
    /// Writers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Writes per second each writer starts.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds of load before filling, while full, and after freeing.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
}

/// A tmpfs mounted for the run; unmounted when dropped, lazily if something still holds it.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size_mib: u64) -> anyhow::Result<Mount> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!("mounting a tmpfs at {} failed ({status}): this scenario needs root", at.display());
        }
        Ok(Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the file system holding `path` with one file, to the last byte it takes.
fn fill(path: &Path) -> anyhow::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 512, 1] {
        let block = vec![0u8; chunk];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

/// `PRAGMA integrity_check` on a read-only connection: "ok", or what it found.
async fn integrity(database: &Path) -> anyhow::Result<String> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(database).read_only(true).connect().await?;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(&mut conn).await?;
    Ok(rows.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("; "))
}

/// Runs the write load for `seconds` and returns the records it made.
async fn phase(workers: &mut Vec<Worker>, spec: &LoadSpec, seconds: u64) -> Vec<Record> {
    let marks: Vec<usize> = workers.iter().map(|w| w.records.len()).collect();
    let (handles, stop) = load::start(std::mem::take(workers), spec);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    *workers = load::join(handles).await;
    workers.iter().zip(marks).flat_map(|(w, mark)| w.records[mark..].iter().cloned()).collect()
}

/// Which API a write went through.
fn api(record: &Record) -> &'static str {
    match record.write {
        Some(Write::DialerInsert { .. } | Write::DialerUpdate { .. }) => "noojee",
        _ => "native",
    }
}

/// Answers by API and status (and `Retry-After`), with the slowest of each.
fn answers(records: &[Record]) -> BTreeMap<String, (usize, Duration)> {
    let mut by = BTreeMap::new();
    for record in records {
        let status = match (&record.outcome, &record.detail) {
            (Outcome::Acknowledged, _) => "2xx".to_string(),
            (Outcome::Refused(status), Some((_, retry, _))) => {
                format!("{status}{}", retry.as_ref().map_or(String::new(), |s| format!(" Retry-After {s}")))
            }
            _ => "no answer".to_string(),
        };
        let status = format!("{} {status}", api(record));
        let entry: &mut (usize, Duration) = by.entry(status).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(record.latency);
    }
    by
}

pub async fn run(binary: Option<PathBuf>, args: Args) -> anyhow::Result<usize> {
    let dir = server::work_dir("disk-full");
    let mount = Mount::tmpfs(&dir.join("mnt"), args.size_mib)?;
    let database = mount.0.join("leadline.db");
    let url = format!("sqlite://{}", database.display());
    let spec = ServerSpec::new(binary, url.clone(), dir.clone())?;
    let (running, key) = spec.start_with_catalog().await?;
    println!("a full disk under SQLite: a {} MiB tmpfs at {}", args.size_mib, mount.0.display());
    let load = LoadSpec {
        address: running.address,
        key: key.clone(),
        per_second: args.rate,
        bound: Duration::from_secs(30),
        stop_on_no_answer: false,
        tag: "disk".into(),
        reads: false,
    };
    let mut workers: Vec<Worker> = (0..args.workers).map(|index| Worker { index, ..Worker::default() }).collect();
    let mut violations = Vec::new();

    let before = phase(&mut workers, &load, args.seconds).await;
    let filler = mount.0.join("filler");
    let filled = fill(&filler)?;
    println!("filled: {filled} bytes written until the file system said ENOSPC");
    let full = phase(&mut workers, &load, args.seconds).await;
    // Reads while full: the lead list and a lead.
    let mut reader = Client::lazy(running.address, &key, Duration::from_secs(30));
    let some_lead = workers.iter().flat_map(|w| w.leads.first()).map(|l| l.id).next().unwrap_or(1);
    let mut reads = Vec::new();
    for path in
        ["/v1/leads?limit=50".to_string(), format!("/v1/leads/{some_lead}"), format!("/v1/leads/{some_lead}/history")]
    {
        let status = reader.get(&path).await.map_or(0, |reply| reply.status);
        reads.push(format!("{path} → {status}"));
        if status != 200 {
            violations.push(format!("a read while full, {path}, answered {status}"));
        }
    }
    let integrity_full = integrity(&database).await?;
    std::fs::remove_file(&filler)?;
    let after = phase(&mut workers, &load, args.seconds).await;
    running.stop()?;
    let integrity_after = integrity(&database).await?;

    for (name, records) in [("before", &before), ("full", &full), ("freed", &after)] {
        for (answer, (count, slowest)) in answers(records) {
            println!("{name:<7} {answer:<32} {count:>6} requests, slowest {} ms", slowest.as_millis());
            // The native API names the cause (507); Noojee has one code for every failure
            // (`Exception`), in its own body.
            let clear = answer.ends_with(" 2xx")
                || answer.starts_with("native 507")
                || answer.starts_with("native 503")
                || answer.starts_with("noojee 400");
            if answer.ends_with("no answer") || !clear || (name != "full" && !answer.ends_with(" 2xx")) {
                violations.push(format!("{count} writes {name} were answered {answer}"));
            }
        }
    }
    for which in ["native", "noojee"] {
        if let Some(example) = full.iter().filter(|r| api(r) == which).find_map(|r| r.detail.as_ref()) {
            println!("a {which} write while full was answered: {example:?}");
        }
    }
    if !full.iter().any(|r| matches!(r.outcome, Outcome::Refused(_))) {
        violations.push("no write was refused while the disk was full".into());
    }
    if !after.iter().any(|r| r.outcome == Outcome::Acknowledged) {
        violations.push("no write succeeded once there was room again".into());
    }
    println!("reads while full: {}", reads.join(", "));
    println!("integrity_check while full: {integrity_full}; after: {integrity_after}");
    for (when, result) in [("while full", &integrity_full), ("after", &integrity_after)] {
        if result != "ok" {
            violations.push(format!("integrity_check {when}: {result}"));
        }
    }
    let all: Vec<&Record> = workers.iter().flat_map(|w| w.records.iter()).collect();
    let verdict = check::snapshot(&url).await?.verdict(&all);
    let (acked, refused, unknown) = load::tally(all.iter().copied());
    println!(
        "writes: {acked} acknowledged ({} found afterwards), {refused} refused, {unknown} without answer",
        verdict.found
    );
    violations.extend(verdict.violations);
    crate::print_violations(&violations, 20);
    drop(mount);
    if violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept: the server log {}", spec.log_path().display());
    }
    Ok(violations.len())
}
