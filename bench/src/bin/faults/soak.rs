//! `faults soak`: a steady mixed load (half writes, half reads) at a bounded rate for a while,
//! sampling the server's resident memory (VmRSS) every interval: the curve is printed as it
//! goes, and errors are counted. At the end every acknowledged write is looked for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::check;
use crate::load::{self, LoadSpec, Outcome, Worker};
use crate::server::{self, ServerSpec};

#[derive(clap::Args)]
pub struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Requests per second in all (half writes, half reads).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 30)]
    sample_seconds: u64,
    /// Allowed growth of resident memory from the first sample after warm-up (the second) to
    /// the last, in percent: past it the run fails.
    #[arg(long, default_value_t = 25.0)]
    max_growth_percent: f64,
}

pub async fn run(binary: Option<PathBuf>, args: Args) -> anyhow::Result<usize> {
    let (store, url) = leadline_bench::fresh_store(&args.database).await?;
    store.close().await;
    let spec = ServerSpec::new(binary, url.clone(), server::work_dir("soak"))?;
    let (running, key) = spec.start_with_catalog().await?;
    let pid = running.pid();
    println!(
        "soak: {} min at {} requests/s ({} workers, half writes), database {url}, server pid {pid} ({})",
        args.minutes,
        args.rate,
        args.workers,
        spec.binary.display()
    );
    let load = LoadSpec {
        address: running.address,
        key: key.clone(),
        per_second: args.rate / args.workers as f64,
        bound: Duration::from_secs(30),
        stop_on_no_answer: false,
        tag: "soak".into(),
        reads: true,
    };
    let workers: Vec<Worker> = (0..args.workers).map(|index| Worker { index, ..Worker::default() }).collect();
    let started = Instant::now();
    let (handles, stop) = load::start(workers, &load);
    let mut samples = vec![(0u64, server::rss_kib(pid).unwrap_or(0))];
    println!("{:>7} {:>10}", "seconds", "VmRSS KiB");
    println!("{:>7} {:>10}", 0, samples[0].1);
    let end = started + Duration::from_secs(args.minutes * 60);
    let mut next = started + Duration::from_secs(args.sample_seconds);
    while next <= end {
        tokio::time::sleep_until(next.into()).await;
        let seconds = next.duration_since(started).as_secs();
        let Some(rss) = server::rss_kib(pid) else {
            println!("the server (pid {pid}) is gone");
            break;
        };
        println!("{seconds:>7} {rss:>10}");
        samples.push((seconds, rss));
        next += Duration::from_secs(args.sample_seconds);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let workers = load::join(handles).await;
    let elapsed = started.elapsed();
    let records: Vec<&load::Record> = workers.iter().flat_map(|w| w.records.iter()).collect();
    let (reads, writes): (Vec<&load::Record>, Vec<&load::Record>) = records.iter().partition(|r| r.write.is_none());
    let errors: Vec<&&load::Record> = records.iter().filter(|r| r.outcome != Outcome::Acknowledged).collect();
    let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    println!(
        "requests: {} in {:.0} s ({:.1}/s): {} reads, {} writes; errors: {}; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        records.len(),
        elapsed.as_secs_f64(),
        records.len() as f64 / elapsed.as_secs_f64(),
        reads.len(),
        writes.len(),
        errors.len(),
        percentile(0.5).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    for error in errors.iter().take(5) {
        println!("  error: {:?} {:?}", error.write, error.detail);
    }
    let mut violations: Vec<String> = Vec::new();
    if !errors.is_empty() {
        violations.push(format!("{} requests failed", errors.len()));
    }
    // Memory: the first sample after warm-up against the last.
    let (first, last) = (samples.get(1).unwrap_or(&samples[0]).1, samples.last().map_or(0, |s| s.1));
    let growth = (last as f64 - first as f64) / first.max(1) as f64 * 100.0;
    println!(
        "VmRSS: {} KiB at the start, {first} KiB after warm-up, {last} KiB at the end ({growth:+.1} % since warm-up); peak {} KiB",
        samples[0].1,
        samples.iter().map(|s| s.1).max().unwrap_or(0)
    );
    if growth > args.max_growth_percent {
        violations.push(format!("resident memory grew {growth:.1} % (more than {} %)", args.max_growth_percent));
    }
    running.stop()?;
    let verdict = check::snapshot(&url).await?.verdict(&writes);
    println!("writes: {} acknowledged, {} found afterwards", verdict.acknowledged, verdict.found);
    violations.extend(verdict.violations);
    crate::print_violations(&violations, 20);
    if violations.is_empty() {
        leadline_bench::remove_store(
            leadline_store::Store::connect(&url, &Default::default()).await?,
            &args.database,
            &url,
        )
        .await?;
        let _ = std::fs::remove_dir_all(&spec.dir);
    }
    Ok(violations.len())
}
