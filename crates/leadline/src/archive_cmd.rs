//! `leadline archive` and `leadline dearchive`: nightly bulk runs through the same engine as the
//! VICIdial dialect, in batches, on Leadline's store or on the configured VICIdial database.
//!
//! Leads are named by an ids file or picked by filters (age, campaign, status). Each batch is
//! checked and run like one API request; a run stopped at any point (even killed) leaves every
//! lead in the live table, the archive or both with equal data, and running it again finishes it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use leadline_app::archive::{self, ArchiveError, Selection, Target};
use leadline_app::{App, Principal};
use leadline_core::archive::{parse_age, Batch, BatchError, Counts, Direction};
use leadline_core::history::Api;

use crate::config::Config;

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// A file of lead ids, one per line (blank lines and lines starting with # are skipped).
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Leads not changed for this long, e.g. 180d, 2w, 12h (Leadline: updated_at; VICIdial:
    /// modify_date).
    #[arg(long)]
    older_than: Option<String>,
    /// Leads of this campaign (Leadline: campaign id; VICIdial: the campaign of the lead's list).
    #[arg(long)]
    campaign: Option<String>,
    /// Leads with this status (Leadline: last disposition; VICIdial: status).
    #[arg(long)]
    status: Option<String>,
    /// Leads per batch [default: the configured max_lead_ids, 500]
    #[arg(long)]
    batch: Option<usize>,
    /// Copy (and refresh) only; leave every lead where it was.
    #[arg(long)]
    copy_only: bool,
    /// Archive even inside the configured office hours.
    #[arg(long)]
    ignore_office_hours: bool,
}

/// Where the run stands, drawn as a bar on a terminal and as plain lines otherwise.
struct Progress {
    total: u64,
    done: u64,
    started: Instant,
    bar: bool,
    last_step: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress { total, done: 0, started: Instant::now(), bar: std::io::stderr().is_terminal(), last_step: 0 }
    }

    fn advance(&mut self, by: u64, counts: &Counts) {
        self.done += by;
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let total = self.total.max(self.done);
        let mut err = std::io::stderr().lock();
        if self.bar {
            let width = 30;
            let filled = (self.done * width as u64).checked_div(total).map_or(width, |f| f as usize);
            let _ = write!(
                err,
                "\r[{}{}] {}/{} leads, {} moved, {:.0}/s ",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                total,
                counts.delete_count,
                rate
            );
            let _ = err.flush();
        } else {
            // Plain lines at every tenth of the run (and at its end), for logs.
            let step = (self.done * 10).checked_div(total).unwrap_or(10);
            if step > self.last_step || self.done >= total {
                self.last_step = step;
                let _ = writeln!(
                    err,
                    "progress: {}/{} leads, {} moved, {:.0}/s",
                    self.done, total, counts.delete_count, rate
                );
            }
        }
    }

    fn finish(&self) {
        if self.bar {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn read_ids(path: &PathBuf) -> anyhow::Result<Vec<i64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id: i64 = line
            .parse()
            .with_context(|| format!("{} line {}: `{line}` is not a lead id", path.display(), number + 1))?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Runs one batch; ids that left their table since they were picked are dropped and the rest run.
async fn run_batch(app: &App, target: &Target, mut batch: Batch) -> anyhow::Result<(Counts, u64)> {
    let mut vanished = 0;
    loop {
        match archive::run(app, target, &Principal::operator(), Api::Cli, &batch).await {
            Ok(counts) => return Ok((counts, vanished)),
            Err(ArchiveError::Refused(BatchError::MissingIds(gone))) => {
                vanished += gone.len() as u64;
                batch.lead_ids.retain(|id| !gone.contains(id));
                if batch.lead_ids.is_empty() {
                    return Ok((Counts::default(), vanished));
                }
            }
            Err(ArchiveError::Refused(error)) => anyhow::bail!("a batch was refused: {error}"),
            Err(ArchiveError::App(error)) => return Err(error).context("a batch failed"),
        }
    }
}

pub async fn run(app: &App, config: &Config, direction: Direction, args: ArchiveArgs) -> anyhow::Result<()> {
    let settings = &config.vicidial;
    if !args.ignore_office_hours
        && leadline_core::archive::held_by_office_hours(settings.office_hours.as_ref(), direction, app.now())
    {
        anyhow::bail!(
            "it is office hours (see [vicidial] in the configuration); archive later or pass --ignore-office-hours"
        );
    }
    let selection = Selection {
        older_than_seconds: args
            .older_than
            .as_deref()
            .map(parse_age)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--older-than: {}", e.message))?,
        campaign: args.campaign.clone(),
        status: args.status.clone(),
    };
    let filtered = selection.older_than_seconds.is_some() || selection.campaign.is_some() || selection.status.is_some();
    if args.ids.is_some() == filtered {
        anyhow::bail!(
            "name the leads either with --ids FILE or with filters (--older-than, --campaign, --status), not both"
        );
    }
    let size = args.batch.unwrap_or(settings.max_lead_ids).max(1);
    let target = &settings.target;
    let where_ = match target {
        Target::Leadline => format!("Leadline's store at {}", config.database_url_for_logs()),
        Target::Vicidial(_) => "the VICIdial database".to_string(),
    };
    let make = |ids: Vec<i64>| Batch {
        direction,
        insert: true,
        update: direction == Direction::Archive,
        delete: !args.copy_only,
        lead_ids: ids,
    };
    let started = Instant::now();
    let mut totals = Counts::default();
    let (mut already, mut missing, mut vanished) = (0u64, 0u64, 0u64);
    match &args.ids {
        Some(path) => {
            let ids = read_ids(path)?;
            let mut progress = Progress::new(ids.len() as u64);
            for chunk in ids.chunks(size) {
                let (here, there) = archive::locate(app, target, direction, chunk).await?;
                let here_set: std::collections::HashSet<i64> = here.iter().copied().collect();
                let there_set: std::collections::HashSet<i64> = there.iter().copied().collect();
                for id in chunk.iter().filter(|id| !here_set.contains(id)) {
                    if there_set.contains(id) {
                        already += 1;
                    } else {
                        missing += 1;
                    }
                }
                let todo: Vec<i64> = chunk.iter().copied().filter(|id| here_set.contains(id)).collect();
                if !todo.is_empty() {
                    let (counts, gone) = run_batch(app, target, make(todo)).await?;
                    totals.add(counts);
                    vanished += gone;
                }
                progress.advance(chunk.len() as u64, &totals);
            }
            progress.finish();
        }
        None => {
            let total = archive::count(app, target, direction, &selection).await?;
            let mut progress = Progress::new(total.max(0) as u64);
            let mut after = 0;
            loop {
                let ids = archive::select_page(app, target, direction, &selection, after, size as i64).await?;
                let Some(&last) = ids.last() else { break };
                after = last;
                let picked = ids.len() as u64;
                let (counts, gone) = run_batch(app, target, make(ids)).await?;
                totals.add(counts);
                vanished += gone;
                progress.advance(picked, &totals);
            }
            progress.finish();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (verb, moved) = match direction {
        Direction::Archive => ("archive", "removed from the live table"),
        Direction::Dearchive => ("dearchive", "removed from the archive"),
    };
    let kept = totals.select_count.saturating_sub(totals.delete_count);
    println!(
        "{verb} on {where_}: {} selected, {} copied, {} refreshed, {} {moved}, {} left in place{}, \
         {} already done, {} not found, {} gone before their batch ran; {seconds:.1} s",
        totals.select_count,
        totals.insert_count,
        totals.update_count,
        totals.delete_count,
        kept,
        match (args.copy_only, direction) {
            (true, _) => " (--copy-only)",
            (false, Direction::Archive) => " (they differ from their archive copy, are sold, or are being dialed)",
            (false, Direction::Dearchive) => " (their live row differs from the archived one)",
        },
        already,
        missing,
        vanished,
    );
    Ok(())
}
