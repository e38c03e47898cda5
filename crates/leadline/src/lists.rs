//! `leadline import` and `leadline export`: list loading from the operator's machine.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use leadline_app::export::{self, Cells, Format, Selection};
use leadline_app::imports::{self, ImportRequest, Progress, Tuning};
use leadline_app::store::{Checkpoint, Reject};
use leadline_app::{App, Principal};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, header on the first line).
    file: PathBuf,
    /// Campaign to load into.
    #[arg(long)]
    campaign: i64,
    /// Allocation of that campaign to load into.
    #[arg(long)]
    allocation: i64,
    /// The campaign's template (checked against the campaign when given).
    #[arg(long)]
    template: Option<i64>,
    /// COLUMN=FIELD: fill FIELD from COLUMN instead of matching header names (FIELD empty or `-`
    /// ignores the column). Repeat for several columns.
    #[arg(long = "map", value_parser = parse_map)]
    maps: Vec<(String, String)>,
    /// Load rows even when a phone is already on a lead of the campaign or an earlier row.
    #[arg(long)]
    allow_duplicates: bool,
    /// Go through the file and report what would happen; write nothing to the database.
    #[arg(long)]
    dry_run: bool,
    /// Where to write rejected rows [default: FILE with `.rejects.csv` in place of `.csv`].
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Write the rejects file safe to open in a spreadsheet: a cell starting with =, +, -, @, tab
    /// or carriage return gets a leading ' so it is not evaluated as a formula.
    #[arg(long)]
    formula_safe: bool,
}

fn parse_map(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(c, f)| (c.to_string(), f.to_string()))
        .ok_or_else(|| format!("`{text}` is not COLUMN=FIELD"))
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    campaign: Option<i64>,
    #[arg(long)]
    allocation: Option<i64>,
    /// Only leads changed at or after this time (RFC 3339, e.g. 2026-03-01T00:00:00Z).
    #[arg(long)]
    updated_since: Option<jiff::Timestamp>,
    /// csv or ndjson.
    #[arg(long, default_value = "csv")]
    format: String,
    /// CSV safe to open in a spreadsheet: a cell starting with =, +, -, @, tab or carriage return
    /// gets a leading ' so it is not evaluated as a formula (such cells no longer import back as
    /// they were).
    #[arg(long)]
    formula_safe: bool,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Shows progress on standard error: a bar redrawn in place on a terminal, a plain line every
/// few seconds otherwise.
struct Bar {
    total_bytes: u64,
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
    first_offset: i64,
    first_rows: i64,
    dry_rejects: Option<csv::Writer<std::fs::File>>,
    /// How the rejects file's cells are written.
    cells: Cells,
}

impl Bar {
    fn draw(&mut self, at: &Checkpoint, done: bool) {
        let now = Instant::now();
        let every = if self.terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
        if !done && self.last.is_some_and(|l| now - l < every) {
            return;
        }
        self.last = Some(now);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (at.rows_read - self.first_rows) as f64 / secs;
        let fraction =
            if self.total_bytes == 0 { 1.0 } else { (at.byte_offset as f64 / self.total_bytes as f64).min(1.0) };
        let bytes_rate = (at.byte_offset - self.first_offset) as f64 / secs;
        let eta = if bytes_rate > 0.0 {
            (self.total_bytes as f64 - at.byte_offset as f64).max(0.0) / bytes_rate
        } else {
            0.0
        };
        let rejected = at.rejected_dnc + at.rejected_duplicate + at.rejected_invalid;
        let text = format!(
            "{:>5.1}%  {} rows  {} loaded  {} rejected  {:.0} rows/s  ETA {:.0}s",
            fraction * 100.0,
            at.rows_read,
            at.loaded,
            rejected,
            rate,
            eta
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = (fraction * 30.0) as usize;
            let _ = write!(err, "\r[{}{}] {text}\x1b[K", "#".repeat(filled), " ".repeat(30 - filled));
            if done {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "import: {text}");
        }
    }
}

impl Progress for Bar {
    fn batch(&mut self, at: &Checkpoint) {
        self.draw(at, false);
    }
    fn rejects(&mut self, rejects: &[Reject]) {
        if let Some(writer) = &mut self.dry_rejects {
            for r in rejects {
                let _ = self
                    .cells
                    .write_record(writer, &[r.line.to_string().as_str(), r.reason.as_str(), r.record.as_str()]);
            }
        }
    }
}

fn rejects_path(file: &std::path::Path, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
        file.with_file_name(format!("{stem}.rejects.csv"))
    })
}

fn rejects_writer(path: &std::path::Path) -> anyhow::Result<csv::Writer<std::fs::File>> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("could not write {}", path.display()))?;
    writer.write_record(["line", "reason", "row"])?;
    Ok(writer)
}

pub async fn import(app: &App, by: &Principal, args: ImportArgs) -> anyhow::Result<()> {
    let request = ImportRequest {
        campaign_id: args.campaign,
        allocation_id: args.allocation,
        template_id: args.template,
        maps: args.maps,
        allow_duplicates: args.allow_duplicates,
    };
    let total_bytes =
        std::fs::metadata(&args.file).with_context(|| format!("could not read {}", args.file.display()))?.len();
    let rejects_at = rejects_path(&args.file, args.rejects);
    let mut bar = Bar {
        total_bytes,
        started: Instant::now(),
        last: None,
        terminal: std::io::stderr().is_terminal(),
        first_offset: 0,
        first_rows: 0,
        dry_rejects: None,
        cells: if args.formula_safe { Cells::FormulaSafe } else { Cells::AsIs },
    };
    let outcome = if args.dry_run {
        bar.dry_rejects = Some(rejects_writer(&rejects_at)?);
        let source = Arc::new(imports::FileSource(args.file.clone()));
        imports::dry_run(app, by, &request, source, Tuning::default(), &mut bar).await?
    } else {
        imports::import_file(app, by, &request, args.file.clone(), Tuning::default(), &mut bar).await?
    };
    bar.draw(&outcome.counts, true);
    let c = &outcome.counts;
    let rejected = c.rejected_dnc + c.rejected_duplicate + c.rejected_invalid;
    if let Some(job) = outcome.job_id {
        let mut writer = rejects_writer(&rejects_at)?;
        let mut after = 0;
        loop {
            let page = imports::rejects(app, by, job, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.line;
            for r in &page {
                bar.cells
                    .write_record(&mut writer, &[r.line.to_string().as_str(), r.reason.as_str(), r.record.as_str()])?;
            }
        }
        writer.flush()?;
    } else if let Some(mut writer) = bar.dry_rejects.take() {
        writer.flush()?;
    }
    let secs = bar.started.elapsed().as_secs_f64();
    println!(
        "{}{} of {}: {} rows read, {} {}, {} rejected ({} on a do-not-call list, {} duplicates, {} invalid) in {:.1}s",
        if args.dry_run { "dry run (nothing written) " } else { "" },
        match outcome.job_id {
            Some(id) if outcome.resumed => format!("import {id} (resumed)"),
            Some(id) => format!("import {id}"),
            None => "import".into(),
        },
        args.file.display(),
        c.rows_read,
        c.loaded,
        if args.dry_run { "would load" } else { "loaded" },
        rejected,
        c.rejected_dnc,
        c.rejected_duplicate,
        c.rejected_invalid,
        secs
    );
    if !outcome.ignored_columns.is_empty() {
        println!("columns that fill nothing: {}", outcome.ignored_columns.join(", "));
    }
    if rejected > 0 {
        println!("rejected rows with their reasons: {}", rejects_at.display());
    } else {
        let _ = std::fs::remove_file(&rejects_at);
    }
    Ok(())
}

pub async fn export(app: &App, by: &Principal, args: ExportArgs) -> anyhow::Result<()> {
    let format = Format::parse(&args.format)?;
    if args.formula_safe && format != Format::Csv {
        anyhow::bail!("--formula-safe applies to CSV; leave it out with --format {}", args.format);
    }
    let cells = if args.formula_safe { Cells::FormulaSafe } else { Cells::AsIs };
    let selection =
        Selection { campaign_id: args.campaign, allocation_id: args.allocation, updated_since: args.updated_since };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("could not write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let out_ref = &mut out;
    let count = export::export(app, by, &selection, format, cells, |bytes| {
        let result = out_ref.write_all(&bytes);
        async move { result }
    })
    .await?;
    out.flush()?;
    if let Some(path) = &args.output {
        eprintln!("exported {count} leads to {}", path.display());
    }
    Ok(())
}
