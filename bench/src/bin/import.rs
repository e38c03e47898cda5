//! CSV list loading: generates a file of N rows, imports it into a fresh database through the
//! same use case `leadline import` runs, and prints rows/s and peak resident memory; then
//! exports every lead and prints the export's rate and the resident memory while it ran. The
//! baseline in the same run is parsing the file alone with the csv crate (no mapping, no
//! database), so the import's rate reads as a fraction of the fastest it could be.
//!
//! ```sh
//! cargo run --release -p leadline-bench --bin import -- --rows 1000000
//! cargo run --release -p leadline-bench --bin import -- --rows 5000000 --skip-export
//! ```

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use leadline_app::export::{self, Format, Selection};
use leadline_app::imports::{self, ImportRequest, Tuning};
use leadline_app::{catalog, App, Principal};
use leadline_bench::{fresh_store, remove_store, XorShift};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Rows per committed batch.
    #[arg(long, default_value_t = imports::BATCH_ROWS)]
    batch: usize,
    #[arg(long)]
    skip_export: bool,
}

/// Resident memory now and at its peak, in MiB, from /proc/self/status.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A list like the ones call centers load: two phone columns (one often empty), names, an
/// address, an email, an external id and a custom field; about 1 % of rows repeat an earlier
/// number and 0.5 % are on the DNC list.
fn generate(path: &PathBuf, rows: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "Mobile,Home Phone,First Name,Surname,Street Address,Suburb,Postcode,Email,External ID,Roof Type")?;
    let mut rng = XorShift::new(7);
    let suburbs = ["Richmond", "Fitzroy", "Carlton", "St Kilda", "Brunswick", "Coburg", "Footscray", "Preston"];
    let roofs = ["tile", "metal", "slate", "flat"];
    for i in 0..rows {
        let mobile = if i > 0 && rng.below(100) == 0 { rng.below(i) } else { i };
        let home =
            if i % 3 == 0 { format!("(03) {:04} {:04}", (i / 10_000) % 10_000, i % 10_000) } else { String::new() };
        writeln!(
            out,
            "04{:08},{home},First{i},\"Surname, {i}\",{} Example Street,{},{},person{i}@example.com,L{i},{}",
            mobile,
            i % 500 + 1,
            suburbs[(i % 8) as usize],
            3000 + i % 200,
            roofs[(i % 4) as usize]
        )?;
    }
    out.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = std::env::temp_dir().join(format!("leadline-bench-import-{}.csv", args.rows));
    let started = Instant::now();
    generate(&path, args.rows)?;
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "generated {} rows ({:.0} MiB) in {:.1}s",
        args.rows,
        bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );

    // Baseline: the csv crate alone reading every record.
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new().from_path(&path)?;
    let mut record = csv::ByteRecord::new();
    let mut parsed = 0u64;
    while reader.read_byte_record(&mut record)? {
        parsed += 1;
    }
    let parse_rate = parsed as f64 / started.elapsed().as_secs_f64();
    println!("baseline: csv parse only      {parse_rate:>12.0} rows/s");

    let (store, url) = fresh_store(&args.database).await?;
    let app = App::new(store.clone());
    let operator = Principal::operator();
    catalog::apply(
        &app,
        &operator,
        &json!({
            "campaign-templates": [{"id": 1, "name": "Solar", "phone_country": "AU", "fields": [
                {"name": "Mobile", "kind": "phone"}, {"name": "Home Phone", "kind": "phone"},
                {"name": "First Name", "kind": "text"}, {"name": "Surname", "kind": "text"},
                {"name": "Street Address", "kind": "text"}, {"name": "Suburb", "kind": "text"},
                {"name": "Postcode", "kind": "text"}, {"name": "Roof Type", "kind": "text"}]}],
            "campaigns": [{"id": 1, "template_id": 1, "name": "Solar"}],
            "allocations": [{"id": 1, "campaign_id": 1, "name": "Week 1", "active": true}],
        }),
    )
    .await?;
    // 0.5 % of the file's mobiles on the system-wide DNC list, written in national form.
    let mut dnc = Vec::new();
    for n in (0..args.rows).step_by(200) {
        dnc.push(json!({"id": n / 200 + 1, "phone": format!("04{n:08}")}));
    }
    for chunk in dnc.chunks(50_000) {
        catalog::apply(&app, &operator, &json!({"dnc": chunk})).await?;
    }
    let (_, peak_before) = memory();

    let request = ImportRequest { campaign_id: 1, allocation_id: 1, ..ImportRequest::default() };
    let started = Instant::now();
    let meter = leadline_bench::Meter::start();
    let tuning = Tuning { batch_rows: args.batch, ..Tuning::default() };
    let outcome = imports::import_file(&app, &operator, &request, path.clone(), tuning, &mut ())
        .await
        .context("the import failed")?;
    let seconds = started.elapsed().as_secs_f64();
    let usage = meter.read();
    let (_, peak) = memory();
    let c = outcome.counts;
    let rate = c.rows_read as f64 / seconds;
    println!(
        "import ({}): {} rows in {seconds:.1}s = {rate:.0} rows/s ({:.1}% of parse-only); {} loaded, {} DNC, {} duplicates, {} invalid",
        if args.database == "sqlite" { "SQLite" } else { "PostgreSQL" },
        c.rows_read,
        100.0 * rate / parse_rate,
        c.loaded,
        c.rejected_dnc,
        c.rejected_duplicate,
        c.rejected_invalid
    );
    println!("peak resident memory: {peak:.0} MiB (before the import: {peak_before:.0} MiB)");
    let rows = usize::try_from(c.rows_read).unwrap_or(usize::MAX);
    println!(
        "CPU per row: {} µs in all, {} µs on SQLite's writer thread",
        leadline_bench::micros_each(usage.cpu, rows),
        leadline_bench::micros_each(usage.writer_cpu, rows)
    );
    println!(
        "CPU time the virtual machine's host took meanwhile: {}% (runs with much of it are slower and not comparable)",
        leadline_bench::percent(usage.stolen)
    );

    if !args.skip_export {
        let (rss_before, _) = memory();
        let mut highest = rss_before;
        let started = Instant::now();
        let mut sink = std::io::BufWriter::new(std::fs::File::create("/dev/null")?);
        let count = export::export(&app, &operator, &Selection::default(), Format::Csv, Default::default(), |bytes| {
            let result = sink.write_all(&bytes);
            highest = highest.max(memory().0);
            async move { result }
        })
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "export (CSV): {count} leads in {seconds:.1}s = {:.0} leads/s; resident memory {rss_before:.0} MiB before, at most {highest:.0} MiB during",
            count as f64 / seconds
        );
    }
    remove_store(store, &args.database, &url).await?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}
