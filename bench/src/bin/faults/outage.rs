//! `faults pg-restart`: PostgreSQL stopped under a steady write load on several nodes, then
//! started again. Requests meanwhile must get a clear answer (503 problem+json) within the
//! bound, never hang; the nodes must take writes again by themselves once it is back; and every
//! acknowledged write must be there afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::check;
use crate::client::{apply_catalog, Client};
use crate::load::{self, LoadSpec, Outcome, Worker, Write};
use crate::server::{self, ServerSpec};

#[derive(clap::Args)]
pub struct Args {
    /// The PostgreSQL server to stop and start (a fresh schema is made in it). Other users of it
    /// see the outage too: a cluster of its own is kinder (see docs/OPERATIONS.md).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5433/postgres")]
    postgres: String,
    /// Shell command that stops it.
    #[arg(long, default_value = "pg_ctlcluster 15 faults stop -m fast")]
    stop: String,
    /// Shell command that starts it again.
    #[arg(long, default_value = "pg_ctlcluster 15 faults start")]
    start: String,
    /// Server nodes on the database.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Writers per node.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Writes per second each writer starts.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of load before the stop, of outage, and of load after the start.
    #[arg(long, default_value_t = 8)]
    before: u64,
    #[arg(long, default_value_t = 12)]
    outage: u64,
    #[arg(long, default_value_t = 20)]
    after: u64,
    /// A request unanswered for this many seconds counts as a hang.
    #[arg(long, default_value_t = 30)]
    bound: u64,
    /// The nodes' `pool_acquire_timeout_seconds` (the server's default): how long a request
    /// waits for a connection before its 503.
    #[arg(long, default_value_t = 10)]
    acquire_timeout: u64,
}

fn shell(command: &str) -> anyhow::Result<()> {
    let status = Command::new("sh").arg("-c").arg(command).status()?;
    if !status.success() {
        bail!("`{command}` failed: {status}");
    }
    Ok(())
}

pub async fn run(binary: Option<PathBuf>, args: Args) -> anyhow::Result<usize> {
    let (store, url) = leadline_bench::fresh_store(&args.postgres).await?;
    store.close().await;
    let mut specs = Vec::new();
    for node in 0..args.nodes {
        let spec = ServerSpec::new(binary.clone(), url.clone(), server::work_dir(&format!("pg-restart-node{node}")))?;
        spec.configure(&format!("pool_acquire_timeout_seconds = {}\n", args.acquire_timeout))?;
        specs.push(spec);
    }
    let key = specs[0].admin_key()?;
    let mut nodes = Vec::new();
    for spec in &specs {
        nodes.push(spec.start().await?);
    }
    apply_catalog(&mut Client::connect(nodes[0].address, &key, Duration::from_secs(30)).await?).await?;
    println!(
        "PostgreSQL stopped under load: {} nodes × {} writers at {}/s each; {} s before, {} s out, {} s after; database {url}",
        args.nodes, args.workers, args.rate, args.before, args.outage, args.after
    );
    let mut handles = Vec::new();
    let mut stops = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let spec = LoadSpec {
            address: node.address,
            key: key.clone(),
            per_second: args.rate,
            bound: Duration::from_secs(args.bound),
            stop_on_no_answer: false,
            tag: "pg".into(),
            reads: false,
        };
        let workers = (0..args.workers).map(|i| Worker { index: n * args.workers + i, ..Worker::default() }).collect();
        let (h, stop) = load::start(workers, &spec);
        handles.extend(h);
        stops.push(stop);
    }
    tokio::time::sleep(Duration::from_secs(args.before)).await;
    let down_at = Instant::now();
    shell(&args.stop)?;
    let stopped = down_at.elapsed();
    tokio::time::sleep(Duration::from_secs(args.outage)).await;
    let starting_at = Instant::now();
    shell(&args.start)?;
    let up_at = Instant::now();
    println!(
        "stop took {:.1} s; start issued {:.1} s after the stop and took {:.1} s",
        stopped.as_secs_f64(),
        (starting_at - down_at).as_secs_f64(),
        (up_at - starting_at).as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.after)).await;
    for stop in &stops {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let workers = load::join(handles).await;
    let records: Vec<&load::Record> = workers.iter().flat_map(|w| w.records.iter()).collect();

    let mut violations = Vec::new();
    // What each phase got: requests sent before the stop, while down (the stop command
    // included), while the start command ran, and after it.
    let phase = |sent: Instant| match sent {
        s if s < down_at => "1 before",
        s if s < starting_at => "2 down",
        s if s < up_at => "3 starting",
        _ => "4 after",
    };
    let mut statuses: BTreeMap<(&str, String), (usize, Duration)> = BTreeMap::new();
    let mut unclear = 0;
    for record in &records {
        let noojee = matches!(record.write, Some(Write::DialerInsert { .. } | Write::DialerUpdate { .. }));
        // The native API's answer is a 503; Noojee has one failure code (103), whose detail
        // must name the cause.
        let clear = match (&record.outcome, &record.detail) {
            (Outcome::Acknowledged, _) => true,
            (Outcome::Refused(503), _) => !noojee,
            (Outcome::Refused(400), Some((_, _, body))) => noojee && body.contains("cannot be reached"),
            _ => false,
        };
        unclear += usize::from(!clear);
        let status = match record.outcome {
            Outcome::Acknowledged => "2xx".to_string(),
            Outcome::Refused(status) => {
                let (_, retry_after, _) = record.detail.as_ref().expect("a refusal keeps its answer");
                format!("{status}{}", retry_after.as_ref().map_or(String::new(), |s| format!(" Retry-After {s}")))
            }
            Outcome::Unknown => "no answer".to_string(),
        };
        let status = format!("{} {status}", if noojee { "noojee" } else { "native" });
        let entry = statuses.entry((phase(record.sent), status)).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(record.latency);
    }
    println!("{:<10} {:<32} {:>8} {:>12}", "phase", "answer", "requests", "slowest ms");
    for ((phase, status), (count, slowest)) in &statuses {
        println!("{phase:<10} {status:<32} {count:>8} {:>12}", slowest.as_millis());
        if status.ends_with("no answer") {
            violations.push(format!("{count} requests sent {phase} got no answer within {} s", args.bound));
        }
    }
    if unclear > 0 {
        violations.push(format!("{unclear} requests were refused without naming the database (native: not a 503)"));
    }
    for noojee in [false, true] {
        let dialer = |r: &&&load::Record| {
            matches!(r.write, Some(Write::DialerInsert { .. } | Write::DialerUpdate { .. })) == noojee
        };
        if let Some(record) = records.iter().filter(dialer).find(|r| matches!(r.outcome, Outcome::Refused(_))) {
            println!("  e.g. {:?}", record.detail);
        }
    }
    // Each node takes writes again by itself: its first acknowledged write sent after the start.
    for (n, node) in nodes.iter().enumerate() {
        let node_workers = n * args.workers..(n + 1) * args.workers;
        let first = records
            .iter()
            .filter(|r| node_workers.contains(&r.worker) && r.sent >= up_at && r.outcome == Outcome::Acknowledged)
            .map(|r| r.sent + r.latency)
            .min();
        match first {
            Some(at) => println!(
                "node {n} (pid {}): first write acknowledged {:.2} s after the start",
                node.pid(),
                (at - up_at).as_secs_f64()
            ),
            None => violations.push(format!("node {n} took no write in the {} s after PostgreSQL started", args.after)),
        }
    }
    let verdict = check::snapshot(&url).await?.verdict(&records);
    let (acked, refused, unknown) = load::tally(records.iter().copied());
    println!(
        "writes: {acked} acknowledged ({} found afterwards), {refused} refused, {unknown} without answer",
        verdict.found
    );
    violations.extend(verdict.violations);
    for node in nodes {
        node.stop()?;
    }
    crate::print_violations(&violations, 20);
    if violations.is_empty() {
        leadline_bench::remove_store(
            leadline_store::Store::connect(&url, &Default::default()).await?,
            &args.postgres,
            &url,
        )
        .await?;
        for spec in &specs {
            let _ = std::fs::remove_dir_all(&spec.dir);
        }
    } else {
        println!("kept: the schema in {url}, server logs in {}", specs[0].dir.display());
    }
    Ok(violations.len())
}
