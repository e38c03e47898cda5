//! `faults kill`: SIGKILL the server at a random moment of a write load, round after round, on
//! one database; after each kill the server is started again on it and the database is checked.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leadline_bench::XorShift;

use crate::check;
use crate::client::Client;
use crate::load::{self, LoadSpec, Worker};
use crate::server::{self, ServerSpec};

#[derive(clap::Args)]
pub struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// The kill comes at a random moment between 0.2 s and this many seconds into each round.
    #[arg(long, default_value_t = 3.0)]
    max_seconds: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the database afterwards (it is kept anyway when a violation was found).
    #[arg(long)]
    keep: bool,
}

pub async fn run(binary: Option<PathBuf>, args: Args) -> anyhow::Result<usize> {
    let (store, url) = leadline_bench::fresh_store(&args.database).await?;
    store.close().await;
    let spec = ServerSpec::new(binary, url.clone(), server::work_dir("kill"))?;
    let (mut running, key) = spec.start_with_catalog().await?;
    println!("kill -9 during a write load: {} rounds, {} writers, database {url}", args.rounds, args.workers);
    println!("server log: {}", spec.log_path().display());
    println!(
        "{:>5} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>10}",
        "round", "killed at", "acked", "refused", "no reply", "found", "leads", "history", "violations"
    );
    let mut rng = XorShift::new(args.seed);
    let mut workers: Vec<Worker> = (0..args.workers).map(|index| Worker { index, ..Worker::default() }).collect();
    let (mut acked_total, mut found_total, mut violations_total) = (0, 0, 0);
    for round in 1..=args.rounds {
        let marks: Vec<usize> = workers.iter().map(|w| w.records.len()).collect();
        let load = LoadSpec {
            address: running.address,
            key: key.clone(),
            per_second: 0.0,
            bound: Duration::from_secs(30),
            stop_on_no_answer: true,
            tag: format!("r{round}"),
            reads: false,
        };
        let (handles, stop) = load::start(std::mem::take(&mut workers), &load);
        let wait = 0.2 + (args.max_seconds - 0.2).max(0.0) * rng.below(1000) as f64 / 1000.0;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        running.kill9()?;
        let killed_at = started.elapsed();
        workers = load::join(handles).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        running = spec.start().await?;
        let this_round: Vec<&load::Record> =
            workers.iter().zip(&marks).flat_map(|(w, &mark)| w.records[mark..].iter()).collect();
        let (acked, refused, unknown) = load::tally(this_round.iter().copied());
        let snapshot = check::snapshot(&url).await?;
        let verdict = snapshot.verdict(&this_round);
        // The restarted server answers for what it acknowledged before the kill.
        let readable = readable_after_restart(running.address, &key, &this_round).await;
        let mut violations = verdict.violations;
        violations.extend(readable);
        println!(
            "{round:>5} {:>8.2}s {acked:>8} {refused:>8} {unknown:>8} {:>7} {:>7} {:>9} {:>10}",
            killed_at.as_secs_f64(),
            verdict.found,
            snapshot.leads(),
            snapshot.history_rows(),
            violations.len()
        );
        crate::print_violations(&violations, 10);
        for record in this_round.iter().filter(|r| matches!(r.outcome, load::Outcome::Refused(_))).take(3) {
            println!("  refused: {:?} {:?}", record.write, record.detail);
        }
        acked_total += acked;
        found_total += verdict.found;
        violations_total += violations.len();
    }
    // Every write acknowledged in any round is still there after all the kills that followed it.
    let all: Vec<&load::Record> = workers.iter().flat_map(|w| w.records.iter()).collect();
    let last = check::snapshot(&url).await?.verdict(&all);
    running.stop()?;
    println!(
        "total: {} rounds, {acked_total} writes acknowledged, {found_total} found after their round; at the end {} of {} found, {} violations",
        args.rounds,
        last.found,
        last.acknowledged,
        last.violations.len()
    );
    crate::print_violations(&last.violations, 10);
    let violations = violations_total + last.violations.len();
    if violations == 0 && !args.keep {
        leadline_bench::remove_store(
            leadline_store::Store::connect(&url, &Default::default()).await?,
            &args.database,
            &url,
        )
        .await?;
        let _ = std::fs::remove_dir_all(&spec.dir);
    } else {
        println!("kept: the database {url} and {}", spec.dir.display());
    }
    Ok(violations)
}

/// Reads back through the restarted server a few leads whose creation was acknowledged: each
/// must answer 200.
async fn readable_after_restart(address: std::net::SocketAddr, key: &str, records: &[&load::Record]) -> Vec<String> {
    let mut client = Client::lazy(address, key, Duration::from_secs(30));
    let mut violations = Vec::new();
    let created = records.iter().filter(|r| r.outcome == load::Outcome::Acknowledged).filter_map(|r| match &r.write {
        Some(load::Write::Insert { id: Some(id), .. }) => Some(*id),
        _ => None,
    });
    for id in created.take(5) {
        match client.get(&format!("/v1/leads/{id}")).await {
            Ok(reply) if reply.status == 200 => {}
            Ok(reply) => {
                violations.push(format!("lead {id}, acknowledged, reads as {} after the restart", reply.status))
            }
            Err(error) => violations.push(format!("lead {id} could not be read after the restart: {error}")),
        }
    }
    violations
}
