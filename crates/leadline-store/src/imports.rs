//! List loading: import jobs and their checkpoints, rejected rows, uploaded bodies, and the bulk
//! statements that load many leads at once.
//!
//! Bulk writes use multi-row `INSERT … VALUES (…), (…), …` statements: one statement per few
//! hundred rows instead of one per row, which is what makes a million-row file load in seconds on
//! SQLite. Parameters per statement stay under SQLite's limit (32,766) and PostgreSQL's (65,535).

use std::collections::HashSet;
use std::sync::OnceLock;

use jiff::Timestamp;
use leadline_core::history::Actor;
use leadline_core::lead::Lead;

use crate::{from_micros, micros, Backend, Cells, Exec, Result, Row, Sql, SqlArg};

/// Leads per multi-row INSERT (44 parameters each).
pub const LEADS_PER_STATEMENT: usize = 500;
/// Small rows (phones, history, rejects) per multi-row INSERT.
const SMALL_ROWS_PER_STATEMENT: usize = 2000;

/// Where an import job's file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSource {
    /// A file on the operator's disk, loaded by `leadline import`.
    Cli,
    /// A body sent to `POST /v1/imports`, kept in `import_chunks`.
    Http,
}

/// Where an import job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Its body is still arriving (HTTP).
    Receiving,
    /// Checked and waiting for a worker.
    Pending,
    /// Claimed by a run (or by one that died, until its claim lapses).
    Running,
    Done,
    Failed,
}

/// The names the `imports` table keeps, and reads back.
macro_rules! stored_names {
    ($type:ident, $column:literal: $($variant:ident = $name:literal),*) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)*
                }
            }

            fn parse(stored: &str) -> Result<$type> {
                match stored {
                    $($name => Ok($type::$variant),)*
                    other => Err(crate::StoreError::Corrupt(format!(concat!("imports.", $column, " holds `{}`"), other))),
                }
            }
        }
    };
}

stored_names!(JobSource, "source": Cli = "cli", Http = "http");
stored_names!(JobStatus, "status": Receiving = "receiving", Pending = "pending", Running = "running", Done = "done", Failed = "failed");

/// An import job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub source: JobSource,
    pub status: JobStatus,
    pub file_name: String,
    pub file_bytes: i64,
    pub file_sha256: String,
    pub campaign_id: i64,
    pub allocation_id: i64,
    pub template_id: i64,
    /// The import's options as JSON (column maps, duplicates allowed).
    pub options: String,
    pub key_id: Option<i64>,
    pub claim_token: Option<String>,
    pub claimed_until: Option<Timestamp>,
    pub checkpoint: Checkpoint,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// How far a job has got: where to read on from, and what it did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Byte offset of the first row not yet done (0: the header is not read yet).
    pub byte_offset: i64,
    /// Line number of that row.
    pub next_line: i64,
    pub rows_read: i64,
    pub loaded: i64,
    pub rejected_dnc: i64,
    pub rejected_duplicate: i64,
    pub rejected_invalid: i64,
}

/// What a new job starts with.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub source: JobSource,
    pub status: JobStatus,
    pub file_name: &'a str,
    pub file_bytes: i64,
    pub file_sha256: &'a str,
    pub campaign_id: i64,
    pub allocation_id: i64,
    pub template_id: i64,
    pub options: &'a str,
    pub key_id: Option<i64>,
}

/// A rejected row: its line, why, and the row as written (CSV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub line: i64,
    pub reason: String,
    pub record: String,
}

const JOB_COLUMNS: &str = "id, source, status, file_name, file_bytes, file_sha256, campaign_id, allocation_id, \
    template_id, options, key_id, claim_token, claimed_until, byte_offset, next_line, rows_read, loaded, \
    rejected_dnc, rejected_duplicate, rejected_invalid, error, created_at, updated_at, finished_at";

fn read_job(row: &Row) -> Result<Job> {
    let opt_time = |column: &str| -> Result<Option<Timestamp>> {
        row.opt_int(column)?.map(|v| from_micros(column, v)).transpose()
    };
    Ok(Job {
        id: row.int("id")?,
        source: JobSource::parse(&row.text("source")?)?,
        status: JobStatus::parse(&row.text("status")?)?,
        file_name: row.text("file_name")?,
        file_bytes: row.int("file_bytes")?,
        file_sha256: row.text("file_sha256")?,
        campaign_id: row.int("campaign_id")?,
        allocation_id: row.int("allocation_id")?,
        template_id: row.int("template_id")?,
        options: row.text("options")?,
        key_id: row.opt_int("key_id")?,
        claim_token: row.opt_text("claim_token")?,
        claimed_until: opt_time("claimed_until")?,
        checkpoint: Checkpoint {
            byte_offset: row.int("byte_offset")?,
            next_line: row.int("next_line")?,
            rows_read: row.int("rows_read")?,
            loaded: row.int("loaded")?,
            rejected_dnc: row.int("rejected_dnc")?,
            rejected_duplicate: row.int("rejected_duplicate")?,
            rejected_invalid: row.int("rejected_invalid")?,
        },
        error: row.opt_text("error")?,
        created_at: from_micros("created_at", row.int("created_at")?)?,
        updated_at: from_micros("updated_at", row.int("updated_at")?)?,
        finished_at: opt_time("finished_at")?,
    })
}

pub async fn create_job(conn: &mut impl Exec, job: &NewJob<'_>, now: Timestamp) -> Result<i64> {
    let row = conn
        .one_row(&Sql::fixed(
            "INSERT INTO imports (source, status, file_name, file_bytes, file_sha256, campaign_id, allocation_id, \
         template_id, options, key_id, byte_offset, next_line, rows_read, loaded, rejected_dnc, rejected_duplicate, \
         rejected_invalid, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 1, 0, 0, 0, 0, 0, $11, $11) RETURNING id",
            crate::args![
                job.source.as_str(),
                job.status.as_str(),
                job.file_name,
                job.file_bytes,
                job.file_sha256,
                job.campaign_id,
                job.allocation_id,
                job.template_id,
                job.options,
                job.key_id,
                micros(now)
            ],
        ))
        .await?;
    row.int("id")
}

pub async fn get_job(conn: &mut impl Exec, id: i64) -> Result<Option<Job>> {
    let row = conn
        .optional_row(&Sql::fixed(&format!("SELECT {JOB_COLUMNS} FROM imports WHERE id = $1"), crate::args![id]))
        .await?;
    row.as_ref().map(read_job).transpose()
}

/// The latest job of the same file (by content) into the same campaign allocation, with the
/// same options, that is not failed: one to resume, or one that already loaded this file.
pub async fn job_for_file(
    conn: &mut impl Exec,
    sha256: &str,
    campaign_id: i64,
    allocation_id: i64,
    options: &str,
) -> Result<Option<Job>> {
    let row = conn
        .optional_row(&Sql::fixed(
            &format!(
                "SELECT {JOB_COLUMNS} FROM imports WHERE file_sha256 = $1 AND campaign_id = $2 AND allocation_id = $3 \
         AND options = $4 AND status <> 'failed' ORDER BY id DESC LIMIT 1"
            ),
            crate::args![sha256, campaign_id, allocation_id, options],
        ))
        .await?;
    row.as_ref().map(read_job).transpose()
}

/// Takes a job that is pending, or running under a claim that lapsed, for `token` until `until`.
/// True if this caller got it: the conditional UPDATE lets exactly one of several racing
/// processes or nodes win.
pub async fn claim(conn: &mut impl Exec, id: i64, token: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed(
            "UPDATE imports SET status = 'running', claim_token = $1, claimed_until = $2, updated_at = $3 \
         WHERE id = $4 AND status IN ('pending', 'running') AND (claimed_until IS NULL OR claimed_until <= $3)",
            crate::args![token, micros(until), micros(now), id],
        ))
        .await?;
    Ok(done == 1)
}

/// HTTP jobs any node may take now: pending, or running under a lapsed claim (a node died).
pub async fn claimable_http_jobs(conn: &mut impl Exec, now: Timestamp, limit: i64) -> Result<Vec<i64>> {
    let rows = conn
        .all_rows(&Sql::fixed(
            "SELECT id FROM imports WHERE source = 'http' AND status IN ('pending', 'running') \
         AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY id LIMIT $2",
            crate::args![micros(now), limit],
        ))
        .await?;
    rows.iter().map(|r| r.int("id")).collect()
}

/// Uploads whose node died before the body was complete (claim lapsed while `receiving`).
pub async fn abandoned_uploads(conn: &mut impl Exec, now: Timestamp) -> Result<Vec<i64>> {
    let rows = conn
        .all_rows(&Sql::fixed(
            "SELECT id FROM imports WHERE status = 'receiving' AND claimed_until IS NOT NULL AND claimed_until <= $1",
            crate::args![micros(now)],
        ))
        .await?;
    rows.iter().map(|r| r.int("id")).collect()
}

const CHECKPOINT: &str = "UPDATE imports SET byte_offset = $1, next_line = $2, rows_read = $3, loaded = $4, \
    rejected_dnc = $5, rejected_duplicate = $6, rejected_invalid = $7, claimed_until = $8, updated_at = $9 \
    WHERE id = $10 AND claim_token = $11 AND status = 'running'";

/// Records progress (in the transaction that committed the batch) and extends the claim. False
/// if the job is no longer this token's (another process took it over after a lapse).
pub async fn checkpoint(
    conn: &mut impl Exec,
    id: i64,
    token: &str,
    at: &Checkpoint,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool> {
    let int = |v: i64| SqlArg::Int(Some(v));
    let args = [
        int(at.byte_offset),
        int(at.next_line),
        int(at.rows_read),
        int(at.loaded),
        int(at.rejected_dnc),
        int(at.rejected_duplicate),
        int(at.rejected_invalid),
        int(micros(until)),
        int(micros(now)),
        int(id),
        SqlArg::Text(Some(token.to_string())),
    ];
    Ok(conn.run(&Sql::fixed(CHECKPOINT, args)).await? == 1)
}

/// Extends a claim without progress (while a body is received, a file is checked or a batch is
/// worked on). False if `token` no longer holds the job, or the job has ended.
pub async fn extend_claim(conn: &mut impl Exec, id: i64, token: &str, until: Timestamp) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed(
            "UPDATE imports SET claimed_until = $1 WHERE id = $2 AND claim_token = $3 \
         AND status IN ('receiving', 'running')",
            crate::args![micros(until), id, token],
        ))
        .await?;
    Ok(done == 1)
}

/// Ends a job that `token` still holds: done, or failed with the reason. The claim is released.
/// False if the job is no longer this token's: whoever took it over decides how it ends.
pub async fn finish(
    conn: &mut impl Exec,
    id: i64,
    token: &str,
    status: JobStatus,
    error: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed(
            "UPDATE imports SET status = $1, error = $2, finished_at = $3, updated_at = $3, claim_token = NULL, \
         claimed_until = NULL WHERE id = $4 AND claim_token = $5",
            crate::args![status.as_str(), error, micros(now), id, token],
        ))
        .await?;
    Ok(done == 1)
}

/// Fails an upload whose claim lapsed while its body was arriving, if it still has: an upload
/// that renewed its claim meanwhile is left alone. True if this call failed it.
pub async fn fail_abandoned(conn: &mut impl Exec, id: i64, error: &str, now: Timestamp) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed(
            "UPDATE imports SET status = 'failed', error = $1, finished_at = $2, updated_at = $2, claim_token = NULL, \
         claimed_until = NULL WHERE id = $3 AND status = 'receiving' AND claimed_until IS NOT NULL \
         AND claimed_until <= $2",
            crate::args![error, micros(now), id],
        ))
        .await?;
    Ok(done == 1)
}

/// Makes a received job pending (its body complete and checked) and releases the upload's
/// claim. False if `token` no longer holds it, or it is no longer receiving (a worker failed it
/// as abandoned): such a job is never revived.
pub async fn make_pending(conn: &mut impl Exec, id: i64, token: &str, now: Timestamp) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed(
            "UPDATE imports SET status = 'pending', updated_at = $1, claim_token = NULL, claimed_until = NULL \
         WHERE id = $2 AND claim_token = $3 AND status = 'receiving'",
            crate::args![micros(now), id, token],
        ))
        .await?;
    Ok(done == 1)
}

/// Takes a new job for `token` right away (an upload in progress), before it is claimable.
pub async fn hold(conn: &mut impl Exec, id: i64, token: &str, until: Timestamp) -> Result<()> {
    conn.run(&Sql::fixed(
        "UPDATE imports SET claim_token = $1, claimed_until = $2 WHERE id = $3",
        crate::args![token, micros(until), id],
    ))
    .await?;
    Ok(())
}

/// Removes an upload that `token` still holds, with its chunks and rejects. False (nothing
/// removed) if the job is no longer this token's: a job another node failed keeps its record.
pub async fn delete_job(conn: &mut impl Exec, id: i64, token: &str) -> Result<bool> {
    let done = conn
        .run(&Sql::fixed("DELETE FROM imports WHERE id = $1 AND claim_token = $2", crate::args![id, token]))
        .await?;
    if done == 0 {
        return Ok(false);
    }
    conn.run(&Sql::fixed("DELETE FROM import_chunks WHERE import_id = $1", crate::args![id])).await?;
    conn.run(&Sql::fixed("DELETE FROM import_rejects WHERE import_id = $1", crate::args![id])).await?;
    Ok(true)
}

pub async fn add_chunk(conn: &mut impl Exec, id: i64, seq: i64, start_offset: i64, data: &[u8]) -> Result<()> {
    conn.run(&Sql::fixed(
        "INSERT INTO import_chunks (import_id, seq, start_offset, data) VALUES ($1, $2, $3, $4)",
        crate::args![id, seq, start_offset, data],
    ))
    .await?;
    Ok(())
}

/// The stored chunk that holds byte `offset` of a job's body: its start offset and bytes.
pub async fn chunk_at(conn: &mut impl Exec, id: i64, offset: i64) -> Result<Option<(i64, Vec<u8>)>> {
    let row = conn
        .optional_row(&Sql::fixed(
            "SELECT start_offset, data FROM import_chunks WHERE import_id = $1 AND start_offset <= $2 \
         ORDER BY start_offset DESC LIMIT 1",
            crate::args![id, offset],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((row.int("start_offset")?, row.opt_bytes("data")?.unwrap_or_default())))
}

pub async fn delete_chunks(conn: &mut impl Exec, id: i64) -> Result<()> {
    conn.run(&Sql::fixed("DELETE FROM import_chunks WHERE import_id = $1", crate::args![id])).await?;
    Ok(())
}

/// A page of a job's rejected rows, in file order.
pub async fn rejects(conn: &mut impl Exec, id: i64, after_line: i64, limit: i64) -> Result<Vec<Reject>> {
    let rows = conn
        .all_rows(&Sql::fixed(
            "SELECT line, reason, record FROM import_rejects WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT $3",
            crate::args![id, after_line, limit],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(Reject { line: r.int("line")?, reason: r.text("reason")?, record: r.text("record")? }))
        .collect()
}

/// `($1, $2, …), (…), …` for `rows` rows of `width` parameters, numbered from 1. (On a SQLite
/// file these multi-row statements run only where a test calls them: a list import there goes
/// through the writer's own bulk insert, `sqlite::new_leads`.)
fn values(rows: usize, width: usize) -> String {
    let mut text = String::with_capacity(rows * width * 6);
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..width {
            if column > 0 {
                text.push_str(", ");
            }
            n += 1;
            text.push('$');
            text.push_str(&n.to_string());
        }
        text.push(')');
    }
    text
}

/// On SQLite the ids are written out (see [`insert_leads`]); PostgreSQL's sequence assigns them.
fn lead_insert_text(backend: Backend, rows: usize) -> String {
    let (id, width) = match backend {
        Backend::Sqlite => ("id, ", crate::leads::COLUMNS.len() + 1),
        Backend::Postgres => ("", crate::leads::COLUMNS.len()),
    };
    format!(
        "INSERT INTO leads ({id}{}) VALUES {} ON CONFLICT (ref) DO NOTHING RETURNING id, ref",
        crate::leads::COLUMNS.join(", "),
        values(rows, width)
    )
}

/// Inserts new leads many rows per statement. Returns each lead's id, or None where its ref was
/// taken (the caller draws another and tries again), by a stored lead or by an earlier lead of
/// the same call; any other refusal (an external id already used) fails the whole call. On
/// SQLite the ids are taken past every live and archived lead, as [`crate::leads::insert`] takes
/// them: SQLite itself would give an archived lead's id out again.
pub async fn insert_leads(conn: &mut impl Exec, leads: &[Lead]) -> Result<Vec<Option<i64>>> {
    let backend = conn.backend();
    static FULL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let mut next_id = match backend {
        Backend::Sqlite => Some(crate::leads::next_id(conn).await?),
        Backend::Postgres => None,
    };
    // A ref twice in one statement: `ON CONFLICT DO NOTHING` keeps one row, and its id would read
    // back for both leads. Only a ref's first lead is sent; the others are reported taken.
    let mut refs = HashSet::with_capacity(leads.len());
    let sent: Vec<(usize, &Lead)> =
        leads.iter().enumerate().filter(|(_, lead)| refs.insert(lead.lead_ref.as_str())).collect();
    let mut ids = vec![None; leads.len()];
    for chunk in sent.chunks(LEADS_PER_STATEMENT) {
        let partial;
        let text = if chunk.len() == LEADS_PER_STATEMENT {
            FULL[backend as usize].get_or_init(|| lead_insert_text(backend, LEADS_PER_STATEMENT))
        } else {
            partial = lead_insert_text(backend, chunk.len());
            &partial
        };
        let mut args: Vec<SqlArg> = Vec::with_capacity(chunk.len() * (crate::leads::COLUMNS.len() + 1));
        for (_, lead) in chunk {
            if let Some(id) = next_id.as_mut() {
                args.push(SqlArg::Int(Some(*id)));
                *id += 1;
            }
            args.extend(crate::leads::args(lead));
        }
        // Only the full-size statement is kept prepared; the odd sizes of a batch's last rows
        // would otherwise fill every connection's statement cache with large statements.
        let mut sql = Sql::fixed(text, args);
        if chunk.len() != LEADS_PER_STATEMENT {
            sql = sql.planned_per_run();
        }
        let rows = conn.all_rows(&sql).await?;
        let mut by_ref = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            by_ref.insert(row.text("ref")?, row.int("id")?);
        }
        for (i, lead) in chunk {
            ids[*i] = by_ref.get(&lead.lead_ref).copied();
        }
    }
    Ok(ids)
}

/// Inserts (lead id, position, phone) rows.
pub async fn insert_phones(conn: &mut impl Exec, rows: &[(i64, i64, &str)]) -> Result<()> {
    for chunk in rows.chunks(SMALL_ROWS_PER_STATEMENT) {
        let text = format!("INSERT INTO lead_phones (lead_id, position, phone) VALUES {}", values(chunk.len(), 3));
        let args = chunk.iter().flat_map(|(lead_id, position, phone)| crate::args![*lead_id, *position, *phone]);
        conn.run(&Sql::fixed(&text, args).planned_per_run()).await?;
    }
    Ok(())
}

/// Appends the first history row of each new lead, one per (lead id, changes as JSON), all
/// with one time, actor and action, and makes it the lead's history head.
pub async fn insert_history(
    conn: &mut impl Exec,
    rows: &[(i64, &str)],
    at: Timestamp,
    actor: Actor,
    action: &str,
) -> Result<()> {
    for chunk in rows.chunks(SMALL_ROWS_PER_STATEMENT) {
        let text = format!(
            "INSERT INTO lead_history (lead_id, at, key_id, api, action, changes) VALUES {} RETURNING id, lead_id",
            values(chunk.len(), 6)
        );
        let args = chunk.iter().flat_map(|(lead_id, changes)| {
            crate::args![*lead_id, micros(at), actor.key_id, actor.api.as_str(), action, *changes]
        });
        let heads = conn.all_rows(&Sql::fixed(&text, args).planned_per_run()).await?;
        let text = format!(
            "UPDATE leads SET history_head = heads.column2 FROM (VALUES {}) AS heads WHERE leads.id = heads.column1",
            values(heads.len(), 2)
        );
        let mut args = Vec::with_capacity(2 * heads.len());
        for head in &heads {
            args.extend(crate::args![head.int("lead_id")?, head.int("id")?]);
        }
        conn.run(&Sql::fixed(&text, args).planned_per_run()).await?;
    }
    Ok(())
}

/// Keeps a batch's rejected rows, a few dozen per statement.
pub async fn insert_rejects(conn: &mut impl Exec, id: i64, rows: &[Reject]) -> Result<()> {
    // Short enough that SQLite's walk through a statement's `$n` names stays cheap.
    const REJECTS_PER_STATEMENT: usize = 64;
    for chunk in rows.chunks(REJECTS_PER_STATEMENT) {
        let mut sql = Sql::new("INSERT INTO import_rejects (import_id, line, reason, record) VALUES ");
        for (i, reject) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(SqlArg::Int(Some(id))).push(", ").bind(SqlArg::Int(Some(reject.line))).push(", ");
            sql.bind(SqlArg::Text(Some(reject.reason.clone()))).push(", ");
            sql.bind(SqlArg::Text(Some(reject.record.clone()))).push(")");
        }
        // Each batch's last chunk has a length of its own: not worth keeping prepared.
        conn.run(&sql.planned_per_run()).await?;
    }
    Ok(())
}

/// Runs `SELECT … AS found … IN (…)` over `values` in chunks and collects the matches.
///
/// On SQLite a chunk's list is padded (with its last value) to a power of two, so a handful of
/// statement shapes serve every batch and stay prepared on the direct writer; its chunks are
/// short, since SQLite finds each `$n` by walking the statement's list of names. PostgreSQL
/// plans each run for its values (see [`Sql::planned_per_run`]), so nothing is padded there.
async fn matching(
    conn: &mut impl Exec,
    prefix: &str,
    suffix: &str,
    campaign_id: i64,
    tail: &str,
    values: &[&str],
) -> Result<HashSet<String>> {
    let (chunk_len, pad) = match conn.backend() {
        Backend::Sqlite => (128, true),
        Backend::Postgres => (2000, false),
    };
    let mut found = HashSet::new();
    for chunk in values.chunks(chunk_len) {
        let mut sql = Sql::new(prefix);
        let padded = if pad { chunk.len().next_power_of_two().clamp(16, chunk_len) } else { chunk.len() };
        let last = chunk[chunk.len() - 1];
        for (i, value) in chunk.iter().copied().chain(std::iter::repeat(last)).take(padded).enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(SqlArg::Text(Some(value.to_string())));
        }
        sql.push(suffix).bind(SqlArg::Int(Some(campaign_id))).push(tail);
        let sql = sql.planned_per_run();
        for row in conn.all_rows(&sql).await? {
            found.insert(row.text("found")?);
        }
    }
    Ok(found)
}

/// How many DNC rows reading the lists through may cost per phone form asked about, before
/// probing the index form by form is the cheaper plan. Callgrind on the SQLite writer: a form
/// probed in a 128-value `IN` list costs about 4,300 instructions, a row read through about
/// 1,900.
const DNC_ROWS_READ_PER_PROBE: i64 = 2;

/// Every number on the system-wide list and this campaign's, read through in one pass (in the
/// caller's transaction, like the probes), when the lists are no longer than twice
/// `forms_asked`, the phone forms a caller would otherwise probe for with [`dnc_listed`]; None
/// when they are longer. The row count is bounded from above by the largest id, which both
/// backends find at the end of the primary key.
pub async fn dnc_lists_if_short(
    conn: &mut impl Exec,
    campaign_id: i64,
    forms_asked: usize,
) -> Result<Option<HashSet<String>>> {
    let largest_id = conn
        .optional_row(&Sql::new("SELECT MAX(id) AS largest FROM dnc"))
        .await?
        .map(|row| row.opt_int("largest"))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    if largest_id > DNC_ROWS_READ_PER_PROBE * forms_asked as i64 {
        return Ok(None);
    }
    let sql = Sql::fixed(
        "SELECT phone AS found FROM dnc WHERE campaign_id IS NULL OR campaign_id = $1",
        [SqlArg::Int(Some(campaign_id))],
    );
    let mut listed = HashSet::new();
    for row in conn.all_rows(&sql).await? {
        listed.insert(row.text("found")?);
    }
    Ok(Some(listed))
}

/// Which of `phones` (in any written form) are on the system-wide list or this campaign's,
/// probed through the list's index.
pub async fn dnc_listed(conn: &mut impl Exec, campaign_id: i64, phones: &[&str]) -> Result<HashSet<String>> {
    matching(
        conn,
        "SELECT phone AS found FROM dnc WHERE phone IN (",
        ") AND (campaign_id IS NULL OR campaign_id = ",
        campaign_id,
        ")",
        phones,
    )
    .await
}

/// Which of `phones` a lead of the campaign already has.
pub async fn phones_in_campaign(conn: &mut impl Exec, campaign_id: i64, phones: &[&str]) -> Result<HashSet<String>> {
    matching(
        conn,
        // CROSS JOIN makes SQLite start from the phones (by their index) instead of walking every
        // lead of the campaign, which it may otherwise choose for a long IN list.
        "SELECT p.phone AS found FROM lead_phones p CROSS JOIN leads l WHERE l.id = p.lead_id AND p.phone IN (",
        ") AND l.campaign_id = ",
        campaign_id,
        "",
        phones,
    )
    .await
}

/// Which of `external_ids` a lead of the campaign already has.
pub async fn external_ids_in_campaign(
    conn: &mut impl Exec,
    campaign_id: i64,
    external_ids: &[&str],
) -> Result<HashSet<String>> {
    matching(
        conn,
        "SELECT external_id AS found FROM leads WHERE external_id IN (",
        ") AND campaign_id = ",
        campaign_id,
        "",
        external_ids,
    )
    .await
}

/// What one key holds in HTTP imports that have not ended: uploads still receiving, and bytes
/// stored (every unfinished job's body, received so far or whole), leaving out job `except`.
pub async fn key_usage(conn: &mut impl Exec, key_id: i64, except: i64) -> Result<(i64, i64)> {
    let row = conn
        .one_row(&Sql::fixed(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'receiving' THEN 1 ELSE 0 END), 0) AS BIGINT) AS receiving, \
         CAST(COALESCE(SUM(file_bytes), 0) AS BIGINT) AS stored FROM imports \
         WHERE key_id = $1 AND source = 'http' AND status IN ('receiving', 'pending', 'running') AND id <> $2",
            crate::args![key_id, except],
        ))
        .await?;
    Ok((row.int("receiving")?, row.int("stored")?))
}

/// Makes concurrent uploads of one key take turns at counting what the key holds (on
/// PostgreSQL, by locking the key's row to the end of the transaction; SQLite's one writer
/// already runs them one at a time).
pub async fn lock_key_usage(conn: &mut impl Exec, key_id: i64) -> Result<()> {
    let backend = conn.backend();
    if backend == Backend::Postgres {
        conn.optional_row(&Sql::fixed("SELECT id FROM api_keys WHERE id = $1 FOR UPDATE", crate::args![key_id]))
            .await?;
    }
    Ok(())
}

/// Records how much of an upload's body is stored so far (counted against its key's quota).
pub async fn record_received(conn: &mut impl Exec, id: i64, bytes: i64) -> Result<()> {
    conn.run(&Sql::fixed("UPDATE imports SET file_bytes = $1 WHERE id = $2", crate::args![bytes, id])).await?;
    Ok(())
}

/// Records the size and SHA-256 of a job's file once its body is complete.
pub async fn describe_file(conn: &mut impl Exec, id: i64, bytes: i64, sha256: &str) -> Result<()> {
    conn.run(&Sql::fixed(
        "UPDATE imports SET file_bytes = $1, file_sha256 = $2 WHERE id = $3",
        crate::args![bytes, sha256, id],
    ))
    .await?;
    Ok(())
}
