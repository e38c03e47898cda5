//! List loading: a CSV file into a campaign allocation, streamed in constant memory.
//!
//! An import runs in two passes over the file. The first checks the whole file (UTF-8 text,
//! every row as wide as the header, no field or row over the size limits, a header that fills
//! something) and takes its SHA-256, writing nothing: a bad file is refused with the line that is
//! wrong, before a single lead is loaded. The second reads it again on a parser thread that
//! maps each row to a lead (template mapping and phone normalization as for dialer loads),
//! while this task checks DNC and duplicates in bulk and commits a batch of leads at a time,
//! together with the job's checkpoint (byte offset and line reached). A run that is cut short
//! resumes after the last committed batch, so no row is loaded twice.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use leadline_core::dialer::{any_dnc_form, dnc_forms, phone_country, PhoneCountry};
use leadline_core::history::{Actor, Api};
use leadline_core::import::{phone_key, Plan};
use leadline_core::lead::{draw_ref, Lead, REF_RANDOM_LEN};
use leadline_core::DomainError;
use leadline_store::exec::finish_now;
use leadline_store::imports::{self as store, Checkpoint, Job, NewJob, Reject};
use leadline_store::leads as lead_store;
use leadline_store::writer::Bulk;
use leadline_store::{Backend, Conn, Direct, Exec, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{App, AppError, Principal, Result};

/// Rows per committed batch.
pub const BATCH_ROWS: usize = 10_000;
/// Largest field accepted; a bigger one is almost always a quote left open.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Largest row accepted (all its fields); reading stops there, so memory stays bounded.
pub const MAX_ROW_BYTES: u64 = 1024 * 1024;
/// How long a claim on a running job lasts without a checkpoint.
const CLAIM: SignedDuration = SignedDuration::from_secs(60);

/// What to import and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub campaign_id: i64,
    pub allocation_id: i64,
    /// Must be the campaign's template when given.
    pub template_id: Option<i64>,
    /// COLUMN → FIELD overrides (FIELD empty or `-`: ignore the column).
    pub maps: Vec<(String, String)>,
    pub allow_duplicates: bool,
}

impl ImportRequest {
    /// The options that make two runs the same import (for resuming), as stored with the job.
    fn options(&self) -> String {
        serde_json::json!({"maps": self.maps, "allow_duplicates": self.allow_duplicates}).to_string()
    }
}

/// Where an import's bytes come from; `open` may be called several times (check, then load,
/// then again on resume), each time from a byte offset.
pub trait Source: Send + Sync + 'static {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>>;
}

/// A file on this machine's disk.
#[derive(Debug, Clone)]
pub struct FileSource(pub PathBuf);

impl Source for FileSource {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        use std::io::Seek;
        let mut file = std::fs::File::open(&self.0)?;
        file.seek(io::SeekFrom::Start(offset))?;
        Ok(Box::new(file))
    }
}

/// A body sent to `POST /v1/imports`, kept in the database in chunks so any node can read it.
/// Read from a blocking thread (it waits on the database through the runtime handle).
#[derive(Debug, Clone)]
pub struct StoredBody {
    app: App,
    job_id: i64,
    handle: tokio::runtime::Handle,
}

struct StoredReader {
    body: StoredBody,
    offset: u64,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for StoredReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.chunk.len() {
            let body = self.body.clone();
            let offset = self.offset;
            let found = self.body.handle.block_on(async move {
                let mut conn = body.app.store.read().await?;
                store::chunk_at(&mut conn, body.job_id, offset as i64).await
            });
            match found.map_err(|e| io::Error::other(e.to_string()))? {
                Some((start, data)) if (start as u64) <= offset && offset < start as u64 + data.len() as u64 => {
                    self.at = (offset - start as u64) as usize;
                    self.chunk = data;
                }
                _ => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.offset += n as u64;
        Ok(n)
    }
}

impl Source for StoredBody {
    fn open(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(StoredReader { body: self.clone(), offset, chunk: Vec::new(), at: 0 }))
    }
}

/// Stops reading when one row runs past [`MAX_ROW_BYTES`], so an unclosed quote cannot make the
/// parser buffer the rest of the file. `row_start` is the byte where the current row began.
struct Guard<R> {
    inner: R,
    handed: u64,
    row_start: Arc<AtomicU64>,
    hasher: Option<Sha256>,
}

const TOO_BIG: &str = "row over the size limit";

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.handed.saturating_sub(self.row_start.load(Ordering::Relaxed)) > MAX_ROW_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, TOO_BIG));
        }
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.handed += n as u64;
        Ok(n)
    }
}

fn file_error(message: String) -> AppError {
    AppError::Invalid(DomainError::new("file", message))
}

/// A CSV reader over a source from `offset`, whose lines count from `first_line`.
struct Rows {
    reader: csv::Reader<Guard<Box<dyn Read + Send>>>,
    row_start: Arc<AtomicU64>,
    offset: u64,
    first_line: u64,
    width: Option<usize>,
    header: Vec<String>,
}

/// One row read: its line, the bytes where the next row starts, and its fields.
struct RawRow {
    line: u64,
    next_offset: u64,
    next_line: u64,
    record: csv::ByteRecord,
}

impl Rows {
    fn open(source: &dyn Source, offset: u64, first_line: u64, hash: bool) -> Result<Rows> {
        let inner = source.open(offset).map_err(|e| file_error(format!("the file could not be read: {e}")))?;
        let row_start = Arc::new(AtomicU64::new(0));
        let guard = Guard { inner, handed: 0, row_start: row_start.clone(), hasher: hash.then(Sha256::new) };
        let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(guard);
        Ok(Rows { reader, row_start, offset, first_line, width: None, header: Vec::new() })
    }

    fn line(&self) -> u64 {
        self.first_line + self.reader.position().line().saturating_sub(1)
    }

    /// The next row, checked: as wide as the header, UTF-8, no field over the limit.
    fn next(&mut self) -> Result<Option<RawRow>> {
        let mut record = csv::ByteRecord::new();
        let line = self.line();
        self.row_start.store(self.reader.position().byte(), Ordering::Relaxed);
        match self.reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => {
                return Err(match e.kind() {
                    csv::ErrorKind::Io(io) if io.to_string() == TOO_BIG => file_error(format!(
                        "line {line}: the row runs past {} bytes; a quote is probably left open there",
                        MAX_ROW_BYTES
                    )),
                    _ => file_error(format!("line {line}: the file could not be read: {e}")),
                })
            }
        }
        let line = record.position().map(|p| self.first_line + p.line() - 1).unwrap_or(line);
        if line == 1
            && self.width.is_none()
            && record.get(0).is_some_and(|f| f.starts_with(&[0xFF, 0xFE]) || f.starts_with(&[0xFE, 0xFF]))
        {
            return Err(file_error(
                "line 1: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in spreadsheet programs)".into(),
            ));
        }
        let width = *self.width.get_or_insert(record.len());
        if record.len() != width {
            return Err(file_error(format!(
                "line {line}: the row has {} fields but the header has {width}",
                record.len()
            )));
        }
        for (i, field) in record.iter().enumerate() {
            // Named only for an error: this runs for every field of every row, twice.
            let column =
                || self.header.get(i).map(|h| format!("column `{h}`")).unwrap_or_else(|| format!("column {}", i + 1));
            if field.len() > MAX_FIELD_BYTES {
                return Err(file_error(format!(
                    "line {line}, {}: the field has {} bytes, more than the limit of {MAX_FIELD_BYTES}",
                    column(),
                    field.len()
                )));
            }
            if let Err(e) = std::str::from_utf8(field) {
                return Err(file_error(format!(
                    "line {line}, {}: byte 0x{:02X} is not UTF-8 text; save the file as UTF-8",
                    column(),
                    field[e.valid_up_to()]
                )));
            }
        }
        let next_offset = self.offset + self.reader.position().byte();
        Ok(Some(RawRow { line, next_offset, next_line: self.line(), record }))
    }

    fn read_header(&mut self) -> Result<Vec<String>> {
        let Some(row) = self.next()? else {
            return Err(file_error("line 1: the file is empty; it needs a header row".into()));
        };
        let header: Vec<String> = row.record.iter().map(|f| String::from_utf8_lossy(f).trim().to_string()).collect();
        self.header = header.clone();
        Ok(header)
    }

    fn sha256(self) -> String {
        let guard = self.reader.into_inner();
        guard.hasher.map(|h| h.finalize().iter().map(|b| format!("{b:02x}")).collect()).unwrap_or_default()
    }
}

/// What the checking pass found.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub header: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Reads a whole source once, checking every row, and takes its SHA-256. Blocking.
pub fn scan(source: &dyn Source) -> Result<Scan> {
    let mut rows = Rows::open(source, 0, 1, true)?;
    let header = rows.read_header()?;
    let mut count = 0;
    let mut bytes = 0;
    while let Some(row) = rows.next()? {
        count += 1;
        bytes = row.next_offset;
    }
    bytes = bytes.max(rows.reader.position().byte());
    Ok(Scan { header, rows: count, bytes, sha256: rows.sha256() })
}

/// The campaign an import loads into, checked.
#[derive(Debug, Clone)]
pub struct Target {
    pub campaign_id: i64,
    pub allocation_id: i64,
    pub template_id: i64,
    pub template: leadline_store::dialer::Template,
    pub country: Option<&'static PhoneCountry>,
    pub zone: TimeZone,
}

pub async fn target(app: &App, by: &Principal, request: &ImportRequest) -> Result<Target> {
    use leadline_store::dialer as dialer_store;
    if !by.role.can_write_lead_in(Some(request.campaign_id)) {
        return Err(AppError::Forbidden(format!("a {} key cannot load leads into this campaign", by.role.name())));
    }
    let mut conn = app.store.read().await?;
    let template_id = dialer_store::campaign_template(&mut conn, request.campaign_id)
        .await?
        .ok_or_else(|| AppError::invalid("campaign", format!("there is no campaign {}", request.campaign_id)))?;
    if let Some(asked) = request.template_id {
        if asked != template_id {
            return Err(AppError::invalid(
                "template",
                format!("campaign {} uses template {template_id}, not {asked}", request.campaign_id),
            ));
        }
    }
    if dialer_store::allocation_campaign(&mut conn, request.allocation_id).await? != Some(request.campaign_id) {
        return Err(AppError::invalid(
            "allocation",
            format!("there is no allocation {} in campaign {}", request.allocation_id, request.campaign_id),
        ));
    }
    let template = dialer_store::template(&mut conn, template_id)
        .await?
        .ok_or_else(|| AppError::invalid("template", format!("there is no template {template_id}")))?;
    let zone = match template.contact_hours_id {
        Some(id) => {
            dialer_store::contact_hours(&mut conn, id).await?.map(|s| s.zone().clone()).unwrap_or(TimeZone::UTC)
        }
        None => TimeZone::UTC,
    };
    let country = template.phone_country.as_deref().and_then(phone_country);
    Ok(Target {
        campaign_id: request.campaign_id,
        allocation_id: request.allocation_id,
        template_id,
        template,
        country,
        zone,
    })
}

/// One row after mapping: a lead ready to load, or why not.
struct Parsed {
    line: u64,
    record: csv::ByteRecord,
    lead: std::result::Result<Lead, String>,
}

/// A batch handed from the parser thread: its rows and where the file was read up to.
struct Batch {
    rows: Vec<Parsed>,
    next_offset: u64,
    next_line: u64,
}

fn record_text(record: &csv::ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let _ = writer.write_byte_record(record);
    let mut bytes = writer.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads rows from `from` on, maps them to leads, and sends them in batches. Blocking.
#[allow(clippy::too_many_arguments)]
fn parse(
    source: &dyn Source,
    from: &Checkpoint,
    plan: Option<&Plan>,
    target: &Target,
    request: &ImportRequest,
    now: Timestamp,
    batch_rows: usize,
    out: tokio::sync::mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let mut rows = Rows::open(source, 0, 1, false)?;
    let header = rows.read_header()?;
    let owned_plan;
    let plan = match plan {
        Some(p) => p,
        None => {
            owned_plan = Plan::new(&header, &target.template.fields, &request.maps)?;
            &owned_plan
        }
    };
    if from.byte_offset > 0 {
        rows = Rows::open(source, from.byte_offset as u64, from.next_line as u64, false)?;
        rows.width = Some(header.len());
        rows.header = header;
    }
    loop {
        let mut batch = Batch { rows: Vec::with_capacity(batch_rows), next_offset: 0, next_line: 0 };
        let mut random = vec![0u8; batch_rows * REF_RANDOM_LEN];
        getrandom::fill(&mut random).map_err(|e| AppError::Store(StoreError::Corrupt(e.to_string())))?;
        // The wall clock, not the import's start: a batch's refs share their clock part, so
        // the ref index takes them on a few neighbouring pages (see `draw_ref`).
        let drawn_at = Timestamp::now();
        while batch.rows.len() < batch_rows {
            let Some(raw) = rows.next()? else { break };
            // Checked as UTF-8 by `next`.
            let cells: Vec<&str> = raw.record.iter().map(|f| std::str::from_utf8(f).unwrap_or("")).collect();
            let i = batch.rows.len() * REF_RANDOM_LEN;
            let lead_ref = draw_ref(drawn_at, random[i..i + REF_RANDOM_LEN].try_into().expect("REF_RANDOM_LEN bytes"));
            let lead = plan
                .input(&cells, target.country, &target.zone)
                .and_then(|mut input| {
                    input.campaign_id = Some(Some(target.campaign_id));
                    input.allocation_id = Some(Some(target.allocation_id));
                    input.contact_hours_id = Some(target.template.contact_hours_id);
                    Lead::create(lead_ref, input, now)
                })
                .map_err(|e| e.to_string());
            drop(cells);
            batch.next_offset = raw.next_offset;
            batch.next_line = raw.next_line;
            batch.rows.push(Parsed { line: raw.line, record: raw.record, lead });
        }
        let last = batch.rows.len() < batch_rows;
        if batch.rows.is_empty() {
            return Ok(());
        }
        if out.blocking_send(Ok(batch)).is_err() || last {
            return Ok(());
        }
    }
}

/// Phones and external ids a dry run (or a batch) has seen, as small keys (no text kept), in
/// sets with a fast hash: every row asks them.
#[derive(Default)]
struct Seen {
    phones: foldhash::HashSet<u64>,
    external_ids: foldhash::HashSet<u64>,
}

fn text_key(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// What a batch's rows ask the database: their phones (for DNC and duplicates), their
/// external ids.
struct Wanted<'a> {
    phones: Vec<&'a str>,
    externals: Vec<&'a str>,
}

fn wanted(rows: &[Parsed]) -> Wanted<'_> {
    let mut wanted = Wanted { phones: Vec::new(), externals: Vec::new() };
    for row in rows {
        if let Ok(lead) = &row.lead {
            wanted.phones.extend(lead.phones.iter().map(|p| p.as_str()));
            if let Some(external) = &lead.external_id {
                wanted.externals.push(external);
            }
        }
    }
    wanted
}

/// The DNC numbers to check a batch's phones against: every number on the lists when they are
/// short next to the forms the phones may be listed in (read through once), else those of the
/// forms that probing the lists finds.
async fn dnc_to_check(conn: &mut impl Exec, target: &Target, phones: &[&str]) -> Result<HashSet<String>> {
    // A number in the template's country may be listed in three forms.
    let forms_per_phone = if target.country.is_some() { 3 } else { 1 };
    if let Some(listed) = store::dnc_lists_if_short(conn, target.campaign_id, phones.len() * forms_per_phone).await? {
        return Ok(listed);
    }
    let forms: Vec<String> = phones.iter().flat_map(|phone| dnc_forms(phone, target.country)).collect();
    let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
    Ok(store::dnc_listed(conn, target.campaign_id, &forms).await?)
}

/// What the database answered for a batch.
struct Found {
    dnc: HashSet<String>,
    phones_taken: HashSet<String>,
    externals_taken: HashSet<String>,
}

/// Looks a batch's phones and external ids up in bulk on `conn` (inside the batch's
/// transaction for a real run).
async fn find(conn: &mut impl Exec, target: &Target, allow_duplicates: bool, rows: &[Parsed]) -> Result<Found> {
    let wanted = wanted(rows);
    Ok(Found {
        dnc: dnc_to_check(conn, target, &wanted.phones).await?,
        phones_taken: if allow_duplicates {
            HashSet::new()
        } else {
            store::phones_in_campaign(conn, target.campaign_id, &wanted.phones).await?
        },
        externals_taken: store::external_ids_in_campaign(conn, target.campaign_id, &wanted.externals).await?,
    })
}

/// Decides each row of a batch from what the look-ups found: load it, or reject it with a
/// reason.
fn decide(
    target: &Target,
    allow_duplicates: bool,
    rows: Vec<Parsed>,
    found: &Found,
    seen: &mut Seen,
    counts: &mut Checkpoint,
) -> (Vec<(Lead, i64)>, Vec<Reject>) {
    let mut load = Vec::with_capacity(rows.len());
    let mut rejects = Vec::new();
    for row in rows {
        let reject = |reason: String| Reject { line: row.line as i64, reason, record: record_text(&row.record) };
        let lead = match row.lead {
            Ok(lead) => lead,
            Err(reason) => {
                counts.rejected_invalid += 1;
                rejects.push(reject(reason));
                continue;
            }
        };
        let listed = if found.dnc.is_empty() {
            None
        } else {
            lead.phones.iter().find(|p| any_dnc_form(p.as_str(), target.country, |form| found.dnc.contains(form)))
        };
        if let Some(phone) = listed {
            counts.rejected_dnc += 1;
            rejects.push(reject(format!("phone {phone} is on a do-not-call list")));
            continue;
        }
        if !allow_duplicates {
            if let Some(phone) = lead.phones.iter().find(|p| found.phones_taken.contains(p.as_str())) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("phone {phone} is already on a lead of campaign {}", target.campaign_id)));
                continue;
            }
            if let Some(phone) = lead.phones.iter().find(|p| seen.phones.contains(&phone_key(p.as_str()))) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("phone {phone} is on an earlier row of this file")));
                continue;
            }
        }
        if let Some(external) = &lead.external_id {
            if found.externals_taken.contains(external) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!(
                    "external id `{external}` is already on a lead of campaign {}",
                    target.campaign_id
                )));
                continue;
            }
            if !seen.external_ids.insert(text_key(external)) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("external id `{external}` is on an earlier row of this file")));
                continue;
            }
        }
        if !allow_duplicates {
            seen.phones.extend(lead.phones.iter().map(|p| phone_key(p.as_str())));
        }
        counts.loaded += 1;
        load.push((lead, row.line as i64));
    }
    (load, rejects)
}

/// A unique refusal while loading a batch: another writer put a lead into the campaign
/// between the look-ups and the insert (possible only across processes or nodes).
fn written_meanwhile(error: StoreError) -> AppError {
    match error {
        StoreError::Unique(detail) => AppError::Conflict(format!(
            "a lead was written into the campaign by someone else while this batch loaded ({detail}); run the import again to resume"
        )),
        other => other.into(),
    }
}

/// An imported lead's history row: where it came from (the job, which keeps the file's name and
/// SHA-256, and the line). Its values at creation are its row's values less what later history
/// rows changed, so they are not written out a second time.
fn import_history(job_id: i64, line: i64) -> String {
    // Written out by hand: this runs for every imported row on the writer thread, and two
    // integers need no escaping.
    format!(r#"{{"import":{{"old":null,"new":{{"job":{job_id},"line":{line}}}}}}}"#)
}

/// Writes a batch's leads (with the line each came from), their phones and history rows. Refs
/// that turn out taken are drawn again.
async fn write_leads(
    conn: &mut Conn,
    backend: Backend,
    by: &Principal,
    api: Api,
    job_id: i64,
    leads: Vec<(Lead, i64)>,
    now: Timestamp,
) -> Result<()> {
    let (mut pending, lines): (Vec<Lead>, Vec<i64>) = leads.into_iter().unzip();
    let mut histories: Vec<String> = lines.into_iter().map(|line| import_history(job_id, line)).collect();
    let mut done: Vec<(i64, Lead, String)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ids = store::insert_leads(conn, backend, &pending).await.map_err(written_meanwhile)?;
        let mut retry = Vec::new();
        let mut retry_history = Vec::new();
        for ((id, mut lead), history) in ids.into_iter().zip(pending).zip(histories) {
            match id {
                Some(id) => done.push((id, lead, history)),
                None => {
                    lead.lead_ref = crate::leads::new_ref();
                    retry.push(lead);
                    retry_history.push(history);
                }
            }
        }
        pending = retry;
        histories = retry_history;
    }
    let phones: Vec<(i64, i64, &str)> = done
        .iter()
        .flat_map(|(id, lead, _)| lead.phones.iter().enumerate().map(move |(i, p)| (*id, i as i64, p.as_str())))
        .collect();
    store::insert_phones(conn, backend, &phones).await?;
    let history: Vec<(i64, &str)> = done.iter().map(|(id, _, h)| (*id, h.as_str())).collect();
    store::insert_history(conn, backend, &history, now, by.actor(api), "import").await?;
    Ok(())
}

/// One batch of a real run on SQLite's direct writer: the look-ups, the decisions, the leads
/// with their phones and history, the rejects and the checkpoint, all in the writer's
/// transaction. Returns the checkpoint reached, and the leads written for the caller to free.
struct DirectBatch {
    target: Target,
    allow_duplicates: bool,
    rows: Vec<Parsed>,
    job_id: i64,
    token: String,
    actor: Actor,
    /// The run's start: the leads' creation time and their history rows' (as on the sqlx path).
    started: Timestamp,
    /// When this batch's checkpoint is written.
    now: Timestamp,
    until: Timestamp,
}

fn load_batch_direct(
    bulk: Bulk<'_>,
    batch: DirectBatch,
    mut next: Checkpoint,
) -> Result<(Checkpoint, Vec<(Lead, i64)>)> {
    let conn = bulk.conn();
    let mut direct = Direct::new(conn);
    let found = finish_now(find(&mut direct, &batch.target, batch.allow_duplicates, &batch.rows))?;
    let (mut leads, rejects) =
        decide(&batch.target, batch.allow_duplicates, batch.rows, &found, &mut Seen::default(), &mut next);
    // The checkpoint first: it finds the job still this run's, so the rejects, which refer to
    // it, are written under a job that exists (the unit runs with foreign keys off).
    if !finish_now(store::checkpoint(&mut direct, batch.job_id, &batch.token, &next, batch.now, batch.until))? {
        return Err(taken_over(batch.job_id));
    }
    let first_id = lead_store::direct::next_id(conn)?;
    let mut new = lead_store::direct::NewLeads::new(bulk, batch.started, batch.actor, "import", crate::leads::new_ref)?;
    for (id, (lead, line)) in (first_id..).zip(leads.iter_mut()) {
        // The lead's insert names its history's head, so the history row's id comes first.
        let head = new.history(id, import_history(batch.job_id, *line))?;
        new.lead(id, head, lead).map_err(written_meanwhile)?;
    }
    new.finish().map_err(written_meanwhile)?;
    finish_now(store::insert_rejects(&mut direct, batch.job_id, &rejects))?;
    Ok((next, leads))
}

fn taken_over(job_id: i64) -> AppError {
    AppError::Conflict(format!("import {job_id} was taken over by another process; nothing more was loaded here"))
}

/// How a run reports: after each batch, the checkpoint reached; on a dry run, the rejects.
pub trait Progress: Send {
    fn batch(&mut self, at: &Checkpoint);
    fn rejects(&mut self, _rejects: &[Reject]) {}
}

impl Progress for () {
    fn batch(&mut self, _: &Checkpoint) {}
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub job_id: Option<i64>,
    pub counts: Checkpoint,
    pub ignored_columns: Vec<String>,
    /// True when this run continued a job that an earlier run had started.
    pub resumed: bool,
}

/// Knobs for tests and the bench.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub batch_rows: usize,
    /// Stop (as if interrupted) after this many batches; for tests of resuming.
    pub stop_after_batches: Option<usize>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { batch_rows: BATCH_ROWS, stop_after_batches: None }
    }
}

/// Runs the loading pass of `job` from its checkpoint, as the holder of `token`.
#[allow(clippy::too_many_arguments)]
async fn load(
    app: &App,
    by: &Principal,
    api: Api,
    job: Option<(&Job, &str)>,
    source: Arc<dyn Source>,
    target: &Target,
    request: &ImportRequest,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Checkpoint> {
    let now = app.now();
    let mut counts = job.map(|(j, _)| j.checkpoint).unwrap_or_default();
    // One batch waits while one is written and the next is parsed: enough to keep both threads busy,
    // and what bounds memory.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let parser = {
        let (source, target, request, from) = (source.clone(), target.clone(), request.clone(), counts);
        tokio::task::spawn_blocking(move || {
            let result = parse(&*source, &from, None, &target, &request, now, tuning.batch_rows, sender.clone());
            if let Err(e) = result {
                let _ = sender.blocking_send(Err(e));
            }
        })
    };
    let mut seen = Seen::default();
    let mut batches = 0;
    while let Some(batch) = receiver.recv().await {
        let batch = batch?;
        if tuning.stop_after_batches == Some(batches) {
            break;
        }
        batches += 1;
        let mut next = counts;
        next.rows_read += batch.rows.len() as i64;
        next.byte_offset = batch.next_offset as i64;
        next.next_line = batch.next_line as i64;
        match job {
            Some((job, token)) => {
                let until = app.now().checked_add(CLAIM).unwrap_or(now);
                if let Some(writer) = app.store.writer() {
                    let batch = DirectBatch {
                        target: target.clone(),
                        allow_duplicates: request.allow_duplicates,
                        rows: batch.rows,
                        job_id: job.id,
                        token: token.to_string(),
                        actor: by.actor(api),
                        started: now,
                        now: app.now(),
                        until,
                    };
                    let (reached, written) = writer.run_bulk(move |bulk| load_batch_direct(bulk, batch, next)).await?;
                    next = reached;
                    // The written leads come back to be freed here: on the writer, freeing
                    // them took a twentieth of its instructions per row.
                    drop(written);
                } else {
                    // Earlier batches are in the campaign already; only this batch's rows need
                    // remembering for duplicates within the file.
                    seen = Seen::default();
                    let backend = app.store.backend();
                    let mut tx = app.store.begin().await?;
                    let found = find(&mut tx, target, request.allow_duplicates, &batch.rows).await?;
                    let (leads, rejects) =
                        decide(target, request.allow_duplicates, batch.rows, &found, &mut seen, &mut next);
                    write_leads(&mut tx, backend, by, api, job.id, leads, now).await?;
                    store::insert_rejects(&mut tx, job.id, &rejects).await?;
                    if !store::checkpoint(&mut tx, job.id, token, &next, app.now(), until).await? {
                        return Err(taken_over(job.id));
                    }
                    tx.commit().await.map_err(StoreError::from)?;
                }
            }
            None => {
                let mut conn = app.store.read().await?;
                let found = find(&mut conn, target, request.allow_duplicates, &batch.rows).await?;
                let (_, rejects) = decide(target, request.allow_duplicates, batch.rows, &found, &mut seen, &mut next);
                progress.rejects(&rejects);
            }
        }
        counts = next;
        progress.batch(&counts);
    }
    drop(receiver);
    let _ = parser.await;
    Ok(counts)
}

/// What starting an import found: a new job, or one to resume.
fn claim_token() -> String {
    crate::console::random_token()
}

/// Imports a file on this machine (the CLI): checks it, finds or creates its job, and loads it,
/// resuming a job of the same file, campaign, allocation and options that an earlier run left
/// unfinished. A file already loaded by a finished job is refused.
#[tracing::instrument(name = "imports.import_file", skip_all, fields(key = ?by.key_id, campaign = ?request.campaign_id, allocation = ?request.allocation_id))]
pub async fn import_file(
    app: &App,
    by: &Principal,
    request: &ImportRequest,
    path: PathBuf,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let target = target(app, by, request).await?;
    let source: Arc<dyn Source> = Arc::new(FileSource(path.clone()));
    let scanned = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || scan(&*source)).await.map_err(|e| file_error(e.to_string()))??
    };
    let plan = Plan::new(&scanned.header, &target.template.fields, &request.maps)?;
    let options = request.options();
    let now = app.now();
    let mut conn = app.store.read().await?;
    let existing =
        store::job_for_file(&mut conn, &scanned.sha256, request.campaign_id, request.allocation_id, &options).await?;
    drop(conn);
    let token = claim_token();
    let until = now.checked_add(CLAIM).unwrap_or(now);
    let (job_id, resumed) = match existing {
        Some(job) if job.status == "done" => {
            return Err(AppError::Conflict(format!(
                "this file was already imported into allocation {} of campaign {} by import {} ({} loaded, {} rejected); nothing was loaded again",
                job.allocation_id,
                job.campaign_id,
                job.id,
                job.checkpoint.loaded,
                job.checkpoint.rejected_dnc + job.checkpoint.rejected_duplicate + job.checkpoint.rejected_invalid
            )))
        }
        Some(job) => {
            let mut conn = app.store.begin().await?;
            if !store::claim(&mut conn, job.id, &token, now, until).await? {
                return Err(AppError::Conflict(format!(
                    "import {} of this file is running in another process (its claim lasts until {}); try again after that",
                    job.id,
                    job.claimed_until.map(|t| t.to_string()).unwrap_or_default()
                )));
            }
            conn.commit().await.map_err(StoreError::from)?;
            (job.id, true)
        }
        None => {
            let mut tx = app.store.begin().await?;
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let id = store::create_job(
                &mut tx,
                &NewJob {
                    source: "cli",
                    status: "pending",
                    file_name: &file_name,
                    file_bytes: scanned.bytes as i64,
                    file_sha256: &scanned.sha256,
                    campaign_id: target.campaign_id,
                    allocation_id: target.allocation_id,
                    template_id: target.template_id,
                    options: &options,
                    key_id: by.key_id,
                },
                now,
            )
            .await?;
            store::claim(&mut tx, id, &token, now, until).await?;
            tx.commit().await.map_err(StoreError::from)?;
            (id, false)
        }
    };
    let job = get(app, by, job_id).await?;
    let counts = run_claimed(app, by, Api::Cli, &job, &token, source, &target, request, tuning, progress).await?;
    Ok(Outcome { job_id: Some(job_id), counts, ignored_columns: plan.ignored, resumed })
}

/// Loads a claimed job to its end and marks it done, or leaves it resumable when interrupted.
#[allow(clippy::too_many_arguments)]
async fn run_claimed(
    app: &App,
    by: &Principal,
    api: Api,
    job: &Job,
    token: &str,
    source: Arc<dyn Source>,
    target: &Target,
    request: &ImportRequest,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Checkpoint> {
    let counts = load(app, by, api, Some((job, token)), source, target, request, tuning, progress).await?;
    if tuning.stop_after_batches.is_none() {
        let mut tx = app.store.begin().await?;
        store::finish(&mut tx, job.id, "done", None, app.now()).await?;
        store::delete_chunks(&mut tx, job.id).await?;
        tx.commit().await.map_err(StoreError::from)?;
    }
    Ok(counts)
}

/// Goes through a file as an import would, writing nothing: the counts it would reach and
/// (through `progress`) the rows it would reject.
pub async fn dry_run(
    app: &App,
    by: &Principal,
    request: &ImportRequest,
    source: Arc<dyn Source>,
    tuning: Tuning,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let target = target(app, by, request).await?;
    let scanned = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || scan(&*source)).await.map_err(|e| file_error(e.to_string()))??
    };
    let plan = Plan::new(&scanned.header, &target.template.fields, &request.maps)?;
    let counts = load(app, by, Api::Cli, None, source, &target, request, tuning, progress).await?;
    Ok(Outcome { job_id: None, counts, ignored_columns: plan.ignored, resumed: false })
}

/// A job as callers see it.
pub async fn get(app: &App, by: &Principal, id: i64) -> Result<Job> {
    let mut conn = app.store.read().await?;
    let job = store::get_job(&mut conn, id).await?.ok_or_else(|| AppError::not_found("import", id))?;
    let own = by.key_id.is_some() && by.key_id == job.key_id;
    if !(by.role.is_admin() || own) {
        return Err(AppError::not_found("import", id));
    }
    Ok(job)
}

/// A page of a job's rejected rows, after line `after`.
pub async fn rejects(app: &App, by: &Principal, id: i64, after: i64, limit: i64) -> Result<Vec<Reject>> {
    get(app, by, id).await?;
    let mut conn = app.store.read().await?;
    Ok(store::rejects(&mut conn, id, after, limit).await?)
}

/// An import body being received (for `POST /v1/imports`): stored in chunks as it arrives, then
/// checked whole before the job becomes pending. Dropped unfinished, it is cleaned up by the
/// next worker pass once its claim lapses.
pub struct Upload {
    app: App,
    job_id: i64,
    token: String,
    request: ImportRequest,
    buffer: Vec<u8>,
    seq: i64,
    written: u64,
    target: Target,
}

/// Bytes per stored chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

impl Upload {
    pub async fn begin(app: &App, by: &Principal, request: ImportRequest, file_name: &str) -> Result<Upload> {
        let target = target(app, by, &request).await?;
        let now = app.now();
        let token = claim_token();
        let mut tx = app.store.begin().await?;
        let job_id = store::create_job(
            &mut tx,
            &NewJob {
                source: "http",
                status: "receiving",
                file_name,
                file_bytes: 0,
                file_sha256: "",
                campaign_id: target.campaign_id,
                allocation_id: target.allocation_id,
                template_id: target.template_id,
                options: &request.options(),
                key_id: by.key_id,
            },
            now,
        )
        .await?;
        store::hold(&mut tx, job_id, &token, now.checked_add(CLAIM).unwrap_or(now)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Upload { app: app.clone(), job_id, token, request, buffer: Vec::new(), seq: 0, written: 0, target })
    }

    pub fn job_id(&self) -> i64 {
        self.job_id
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= CHUNK_BYTES {
            let rest = self.buffer.split_off(CHUNK_BYTES);
            let chunk = std::mem::replace(&mut self.buffer, rest);
            self.flush_chunk(&chunk).await?;
        }
        Ok(())
    }

    async fn flush_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::add_chunk(&mut tx, self.job_id, self.seq, self.written as i64, chunk).await?;
        let until = self.app.now().checked_add(CLAIM).unwrap_or(self.app.now());
        store::extend_claim(&mut tx, self.job_id, &self.token, until).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.seq += 1;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Stores the rest, checks the whole body, and makes the job pending; a bad body removes the
    /// job and comes back as the error naming its line.
    pub async fn finish(mut self) -> Result<Job> {
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.flush_chunk(&rest).await?;
        }
        let source =
            StoredBody { app: self.app.clone(), job_id: self.job_id, handle: tokio::runtime::Handle::current() };
        let checked =
            tokio::task::spawn_blocking(move || scan(&source)).await.map_err(|e| file_error(e.to_string()))?;
        let checked = checked.and_then(|s| {
            Plan::new(&s.header, &self.target.template.fields, &self.request.maps).map(|_| s).map_err(AppError::from)
        });
        let mut tx = self.app.store.begin().await?;
        match checked {
            Err(error) => {
                store::delete_job(&mut tx, self.job_id).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Err(error)
            }
            Ok(scanned) => {
                describe(&mut tx, self.job_id, &scanned).await?;
                store::set_status(&mut tx, self.job_id, "pending", self.app.now()).await?;
                tx.commit().await.map_err(StoreError::from)?;
                let mut conn = self.app.store.read().await?;
                Ok(store::get_job(&mut conn, self.job_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("import", self.job_id))?)
            }
        }
    }

    /// Gives up on the upload (the client went away, or the body was too big): removes it.
    pub async fn abort(self) -> Result<()> {
        let mut tx = self.app.store.begin().await?;
        store::delete_job(&mut tx, self.job_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

async fn describe(conn: &mut Conn, id: i64, scanned: &Scan) -> Result<()> {
    store::describe_file(conn, id, scanned.bytes as i64, &scanned.sha256).await?;
    Ok(())
}

/// One pass of the import worker on a node: removes uploads abandoned half-way, then takes one
/// HTTP job that is pending or whose runner died (its claim lapsed) and runs it to the end.
/// Returns whether it ran a job. Any number of nodes may call this at once: the claim in the
/// database decides which one runs each job.
pub async fn work_once(app: &App, tuning: Tuning) -> Result<bool> {
    let now = app.now();
    let (abandoned, candidates) = {
        let mut conn = app.store.read().await?;
        (store::abandoned_uploads(&mut conn, now).await?, store::claimable_http_jobs(&mut conn, now, 5).await?)
    };
    for id in abandoned {
        let mut tx = app.store.begin().await?;
        store::finish(&mut tx, id, "failed", Some("the upload was cut off before the whole body arrived"), now).await?;
        store::delete_chunks(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
    }
    for id in candidates {
        let token = claim_token();
        let until = now.checked_add(CLAIM).unwrap_or(now);
        let mut tx = app.store.begin().await?;
        let claimed = store::claim(&mut tx, id, &token, now, until).await?;
        tx.commit().await.map_err(StoreError::from)?;
        if !claimed {
            continue;
        }
        let mut conn = app.store.read().await?;
        let Some(job) = store::get_job(&mut conn, id).await? else { continue };
        drop(conn);
        let outcome = run_http_job(app, &job, &token, tuning).await;
        if let Err(error) = outcome {
            // A job that cannot go on (its campaign was deleted, its body is unreadable) is
            // marked failed with the reason rather than retried for ever. A store failure
            // leaves it running: its claim lapses and a node resumes it.
            if !matches!(error, AppError::Store(_)) {
                let mut tx = app.store.begin().await?;
                store::finish(&mut tx, id, "failed", Some(&error.to_string()), app.now()).await?;
                store::delete_chunks(&mut tx, id).await?;
                tx.commit().await.map_err(StoreError::from)?;
            } else {
                tracing::error!(import = id, %error, "import job stopped; it resumes once its claim lapses");
            }
        }
        return Ok(true);
    }
    Ok(false)
}

async fn run_http_job(app: &App, job: &Job, token: &str, tuning: Tuning) -> Result<Checkpoint> {
    #[derive(Deserialize)]
    struct Options {
        maps: Vec<(String, String)>,
        allow_duplicates: bool,
    }
    let options: Options = serde_json::from_str(&job.options)
        .map_err(|e| AppError::Store(StoreError::Corrupt(format!("imports.options: {e}"))))?;
    let request = ImportRequest {
        campaign_id: job.campaign_id,
        allocation_id: job.allocation_id,
        template_id: Some(job.template_id),
        maps: options.maps,
        allow_duplicates: options.allow_duplicates,
    };
    let by = Principal { key_id: job.key_id, role: leadline_core::access::Role::Admin };
    let target = target(app, &by, &request).await?;
    let source: Arc<dyn Source> =
        Arc::new(StoredBody { app: app.clone(), job_id: job.id, handle: tokio::runtime::Handle::current() });
    run_claimed(app, &by, Api::Native, job, token, source, &target, &request, tuning, &mut ()).await
}
