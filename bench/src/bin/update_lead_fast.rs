//! Noojee `updateLeadFast` over HTTP against the same update done in-process through the use
//! case and store (the baseline), on a database holding many leads.
//!
//! ```sh
//! cargo run --release -p leadline-bench --bin update_lead_fast -- --database sqlite
//! cargo run --release -p leadline-bench --bin update_lead_fast -- --database postgres://postgres@127.0.0.1/postgres
//! ```

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use leadline_app::dialer::{self, CampaignIds};
use leadline_app::keys::{self, KeyRequest};
use leadline_app::{catalog, App, Principal};
use leadline_bench::{drive, fresh_store, load_leads, serve, Connection, XorShift};
use leadline_core::history::Api;
use leadline_store::{Exec, Sql};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 1_000_000)]
    leads: i64,
    /// Concurrent HTTP connections (and concurrent in-process callers for the baseline).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Diagnostic only: drop these indexes (comma-separated names) after loading, to see what
    /// keeping each one costs an update. The server needs every one of them: without them the
    /// dial queue, exports and the console's sorting read whole tables.
    #[arg(long, value_delimiter = ',')]
    drop_index: Vec<String>,
}

fn body(rng: &mut XorShift, leads: i64, i: u64) -> String {
    let lead = 1 + rng.below(leads as u64);
    json!({"njExternalLeadId": format!("E{lead}"), "City": format!("City {i}"), "njPriority": (i % 100) as i64, "FirstPhone": "<No Change>"}).to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for index in &args.drop_index {
        anyhow::ensure!(
            !index.is_empty() && index.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "--drop-index takes index names, not {index:?}"
        );
    }
    let (store, url) = fresh_store(&args.database).await?;
    let app = App::new(store);
    let operator = Principal::operator();
    let catalog_file = json!({
        "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": []}],
        "campaign-templates": [{"id": 1, "name": "Bench", "contact_hours_id": 1, "phone_country": "AU", "fields": [
            {"name": "Name", "kind": "text"}, {"name": "City", "kind": "text"}, {"name": "FirstPhone", "kind": "phone"}]}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Bench"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Bench"}]
    });
    catalog::apply(&app, &operator, &catalog_file).await?;
    let key =
        keys::create(&app, &operator, &KeyRequest { role: "admin".into(), ..KeyRequest::default() }).await?.secret;
    let started = Instant::now();
    load_leads(&app.store, args.leads).await?;
    for index in &args.drop_index {
        let mut tx = app.store.begin().await?;
        tx.run(&Sql::new(format!("DROP INDEX {index}"))).await?;
        tx.commit().await?;
        println!("diagnostic: dropped the index {index}; the figures below are not the server's");
    }
    println!("database: {} ({url})", args.database);
    println!("loaded {} leads in {:.1} s", args.leads, started.elapsed().as_secs_f64());

    let duration = Duration::from_secs(args.seconds);
    let ids = CampaignIds { template_id: Some(1), campaign_id: Some(1), allocation_id: Some(1) };

    // Baseline: the same update, in-process, through the use case and the store.
    let baseline_app = app.clone();
    let written_before = leadline_bench::storage_bytes_written();
    let leads = args.leads;
    let mut baseline = drive(args.connections, duration, move |worker, i| {
        let app = baseline_app.clone();
        async move {
            let mut rng = XorShift::new((worker as u64 + 1) * 7919 + i);
            let mut records = leadline_http::noojee::parse_records(body(&mut rng, leads, i).as_bytes())
                .expect("bench bodies are JSON");
            let record = records.pop().expect("one lead per bench body");
            dialer::update(&app, &Principal::operator(), Api::Noojee, ids, &record).await.is_ok()
        }
    })
    .await;

    let written_by_baseline = leadline_bench::storage_bytes_written();

    // HTTP: the full server on loopback, one keep-alive connection per worker.
    let address = serve(app.clone()).await?;
    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        connections.push(Arc::new(tokio::sync::Mutex::new(Connection::open(address).await?)));
    }
    let path = Arc::new(format!(
        "/servicemanager/rest/CampaignAPI/updateLeadFast?fTemplateId=1&fCampaignId=1&fAllocationId=1&apiKey={key}"
    ));
    let mut http = drive(args.connections, duration, move |worker, i| {
        let connection = connections[worker].clone();
        let path = path.clone();
        async move {
            let mut rng = XorShift::new((worker as u64 + 1) * 104_729 + i);
            let mut connection = connection.lock().await;
            match connection.post(&path, body(&mut rng, leads, i)).await {
                Ok((200, reply)) => reply.starts_with(b"{\"code\":0"),
                _ => false,
            }
        }
    })
    .await;

    let written_by_http = leadline_bench::storage_bytes_written();

    // What each update cost the disk (on SQLite the WAL and checkpoints; on PostgreSQL its own
    // server process writes, so this is about nothing there).
    let per_update = |from: Option<u64>, to: Option<u64>, run: &leadline_bench::Run| match (from, to) {
        (Some(from), Some(to)) if run.done > 0 => format!("{:.1}", (to - from) as f64 / run.done as f64 / 1024.0),
        _ => "-".to_string(),
    };
    let disk = [
        per_update(written_before, written_by_baseline, &baseline),
        per_update(written_by_baseline, written_by_http, &http),
    ];
    println!();
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>7} {:>14} {:>11} {:>13} {:>9}",
        "", "updates/s", "p50 ms", "p99 ms", "failed", "KiB to disk/up", "CPU µs/up", "writer µs/up", "stolen %"
    );
    for ((name, run), disk) in
        [("baseline (use case + store)", &mut baseline), ("updateLeadFast over HTTP", &mut http)].into_iter().zip(disk)
    {
        let (p50, p99) = (run.percentile(0.50), run.percentile(0.99));
        println!(
            "{name:<34} {:>10.0} {:>9.2} {:>9.2} {:>7} {disk:>14} {:>11} {:>13} {:>9}",
            run.rate(),
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            run.failed,
            run.micros_per_op(run.usage.cpu),
            run.micros_per_op(run.usage.writer_cpu),
            leadline_bench::percent(run.usage.stolen)
        );
    }
    println!("\nHTTP / baseline = {:.2}", http.rate() / baseline.rate());
    println!(
        "(CPU µs/up: all of the process's threads, server and load generator; writer µs/up: SQLite's writer thread;"
    );
    println!(" stolen %: CPU time the virtual machine's host took meanwhile; runs with much of it are slower and not comparable)");
    leadline_bench::remove_store(app.store.clone(), &args.database, &url).await
}
