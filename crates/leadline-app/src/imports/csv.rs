//! The rows of an import's file: read and checked (UTF-8, as wide as the header, no field or
//! row over the limits), then mapped to leads on the parser thread.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jiff::Timestamp;
use leadline_core::lead::{draw_ref, Lead, REF_RANDOM_LEN};
use leadline_store::imports::Checkpoint;
use leadline_store::StoreError;
use sha2::{Digest, Sha256};

use super::{file_error, plan_for, ImportRequest, Source, Target, MAX_FIELD_BYTES, MAX_ROW_BYTES};
use crate::{AppError, Result};

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

/// One row after mapping: a lead ready to load, or why not.
pub(super) struct Parsed {
    pub(super) line: u64,
    pub(super) record: csv::ByteRecord,
    pub(super) lead: std::result::Result<Lead, String>,
}

/// A batch handed from the parser thread: its rows and where the file was read up to.
pub(super) struct Batch {
    pub(super) rows: Vec<Parsed>,
    pub(super) next_offset: u64,
    pub(super) next_line: u64,
}

pub(super) fn record_text(record: &csv::ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let _ = writer.write_byte_record(record);
    let mut bytes = writer.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What the parser thread needs, owned: it reads rows from `from` on and maps them to leads
/// for `target` as `request` says.
pub(super) struct Parser {
    pub(super) source: Arc<dyn Source>,
    pub(super) from: Checkpoint,
    pub(super) target: Target,
    pub(super) request: ImportRequest,
    /// The leads' creation time: the run's start.
    pub(super) now: Timestamp,
    pub(super) batch_rows: usize,
}

impl Parser {
    /// Reads the rows, maps them to leads, and sends them in batches of `batch_rows`. Blocking.
    pub(super) fn run(&self, out: tokio::sync::mpsc::Sender<Result<Batch>>) -> Result<()> {
        let Parser { source, from, target, request, now, batch_rows } = self;
        let (source, now, batch_rows) = (&**source, *now, *batch_rows);
        let mut rows = Rows::open(source, 0, 1, false)?;
        let header = rows.read_header()?;
        let plan = plan_for(&header, &target.template.fields, &request.maps)?;
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
                let lead_ref =
                    draw_ref(drawn_at, random[i..i + REF_RANDOM_LEN].try_into().expect("REF_RANDOM_LEN bytes"));
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
}
