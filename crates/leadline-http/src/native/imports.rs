//! `/v1/imports` (CSV list loading as a background job) and `/v1/leads/export` (streaming).
//! Handlers translate only; the imports and export use cases do the work.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use leadline_app::export::{self, Cells, Format, Selection};
use leadline_app::imports::{self, ImportRequest, OverLimit, Tuning, Upload, UploadError};
use leadline_app::store::Job;
use leadline_app::App;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Caller, Params, PathId};
use crate::AppState;

/// Largest CSV body `POST /v1/imports` takes (it is stored in the database as it arrives).
pub const MAX_IMPORT_BYTES: u64 = 4 * 1024 * 1024 * 1024;

fn int(params: &[(String, String)], name: &str, required: bool) -> Result<Option<i64>, ApiError> {
    match params.iter().rev().find(|(k, _)| k == name) {
        Some((_, v)) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(name, format!("{name} must be an integer id, not `{v}`"))),
        None if required => Err(ApiError::bad_request(name, format!("{name} is required"))),
        None => Ok(None),
    }
}

fn flag(params: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(other) => Err(ApiError::bad_request(name, format!("{name} must be true or false, not `{other}`"))),
    }
}

/// A job as the API shows it.
pub fn view(job: &Job) -> Value {
    let c = &job.checkpoint;
    let percent =
        if job.file_bytes > 0 { (c.byte_offset as f64 * 100.0 / job.file_bytes as f64).min(100.0) } else { 0.0 };
    json!({
        "id": job.id,
        "status": job.status.as_str(),
        "file_name": job.file_name,
        "file_bytes": job.file_bytes,
        "campaign_id": job.campaign_id,
        "allocation_id": job.allocation_id,
        "template_id": job.template_id,
        "progress": {"bytes_read": c.byte_offset, "percent": (percent * 10.0).round() / 10.0, "rows_read": c.rows_read},
        "loaded": c.loaded,
        "rejected": {"dnc": c.rejected_dnc, "duplicate": c.rejected_duplicate, "invalid": c.rejected_invalid},
        "error": job.error,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
        "rejects": format!("/v1/imports/{}/rejects", job.id),
    })
}

/// `POST /v1/imports?campaign_id=…&allocation_id=…[&template_id=…][&map=COLUMN=FIELD…][&allow_duplicates=true]`
/// with the CSV as the body: stored, checked whole, then loaded by a worker. 202 with the job.
/// A key may have only so many uploads arriving at once (429) and so many bytes held by its
/// jobs that have not ended (413); the problem's detail names the setting.
#[utoipa::path(post, path = "/v1/imports", tag = "imports",
    params(("campaign_id" = i64, Query), ("allocation_id" = i64, Query), ("template_id" = Option<i64>, Query),
        ("map" = Option<String>, Query, description = "COLUMN=FIELD; repeat for several columns"),
        ("allow_duplicates" = Option<bool>, Query), ("file_name" = Option<String>, Query)),
    request_body(content = String, content_type = "text/csv", description = "the CSV file, header row first"),
    responses((status = 202, description = "the job (id, status, progress, counts); Location names it"),
        (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem,
            description = "the body is over 4 GiB, or would take the key past import_quota_bytes_per_key (bytes held by its jobs that have not ended)"),
        (status = 429, body = crate::error::Problem,
            description = "the key has import_max_uploads_per_key uploads arriving already; `Retry-After` says when to try again")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(by): Caller,
    params: Params,
    body: Body,
) -> Result<Response, ApiError> {
    let params = params.rest();
    let mut maps = Vec::new();
    for (key, value) in &params {
        if key == "map" {
            let (column, field) = value
                .split_once('=')
                .ok_or_else(|| ApiError::bad_request("map", format!("map must read COLUMN=FIELD, not `{value}`")))?;
            maps.push((column.to_string(), field.to_string()));
        }
    }
    let request = ImportRequest {
        campaign_id: int(&params, "campaign_id", true)?.unwrap_or_default(),
        allocation_id: int(&params, "allocation_id", true)?.unwrap_or_default(),
        template_id: int(&params, "template_id", false)?,
        maps,
        allow_duplicates: flag(&params, "allow_duplicates")?,
    };
    let name =
        params.iter().find(|(k, _)| k == "file_name").map(|(_, v)| v.clone()).unwrap_or_else(|| "upload.csv".into());
    let mut upload = Upload::begin(&state.app, &by, request, &name).await?;
    // The claim is renewed by time while the body arrives, however slowly the client sends it.
    let claim = upload.claim();
    let received = claim.hold(receive(&mut upload, body)).await;
    match received {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            upload.abort().await?;
            return Err(refusal);
        }
        Err(error) => {
            if let Err(cleanup) = upload.abort().await {
                tracing::warn!(%cleanup, "an upload that stopped could not be removed; the worker fails it once its claim lapses");
            }
            return Err(error.into());
        }
    }
    let job = upload.finish().await?;
    let location = HeaderValue::from_str(&format!("/v1/imports/{}", job.id)).expect("digits are a valid header");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(view(&job))).into_response())
}

/// Stores the request body into `upload` as it arrives. The outer error is the use case's (a
/// store failure, the claim lost), the inner one the body's own (unreadable, too big).
async fn receive(upload: &mut Upload, mut body: Body) -> leadline_app::Result<Result<(), ApiError>> {
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return Ok(Err(ApiError::bad_request("", format!("the request body could not be read: {e}")))),
        };
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > MAX_IMPORT_BYTES {
                return Ok(Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("an import body may be at most {MAX_IMPORT_BYTES} bytes"),
                )));
            }
            match upload.write(&data).await {
                Ok(()) => {}
                Err(UploadError::OverLimit(refusal)) => return Ok(Err(refusal.into())),
                Err(UploadError::App(error)) => return Err(error),
            }
        }
    }
    Ok(Ok(()))
}

/// A key's upload limits: too many uploads at once is 429 with `Retry-After`, a body past its
/// byte quota 413 (it passes only once the key's jobs have run, which no header can promise).
impl From<OverLimit> for ApiError {
    fn from(refusal: OverLimit) -> Self {
        let status = match refusal {
            OverLimit::Uploads { .. } => StatusCode::TOO_MANY_REQUESTS,
            OverLimit::Bytes { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        };
        let error = ApiError::new(status, refusal.to_string());
        match refusal.retry_after_seconds() {
            Some(seconds) => error.retry_after(seconds),
            None => error,
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::OverLimit(refusal) => refusal.into(),
            UploadError::App(error) => error.into(),
        }
    }
}

/// `GET /v1/imports/{id}`: progress and outcome.
#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", params(("id" = i64, Path)),
    responses((status = 200, description = "the job: status, progress, loaded and rejected counts, error"),
        (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, Caller(by): Caller, PathId(id): PathId) -> Result<Response, ApiError> {
    let job = imports::get(&state.app, &by, id).await?;
    Ok(Json(view(&job)).into_response())
}

/// The `formula_safe` parameter: whether CSV cells are written safe to open in a spreadsheet.
fn cells(params: &[(String, String)]) -> Result<Cells, ApiError> {
    Ok(if flag(params, "formula_safe")? { Cells::FormulaSafe } else { Cells::AsIs })
}

/// `GET /v1/imports/{id}/rejects[?formula_safe=true]`: the rejected rows as CSV (`line,reason,row`).
#[utoipa::path(get, path = "/v1/imports/{id}/rejects", tag = "imports",
    params(("id" = i64, Path),
        ("formula_safe" = Option<bool>, Query, description = "prefix cells starting with =, +, -, @, tab or CR with ' (default false)")),
    responses((status = 200, content_type = "text/csv", description = "the rejected rows: line, reason, row"),
        (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn rejects(
    State(state): State<AppState>,
    Caller(by): Caller,
    PathId(id): PathId,
    params: Params,
) -> Result<Response, ApiError> {
    let cells = cells(&params.rest())?;
    imports::get(&state.app, &by, id).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let app = state.app.clone();
    tokio::spawn(async move {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(["line", "reason", "row"]);
        let mut after = 0;
        loop {
            let page = match imports::rejects(&app, &by, id, after, 1000).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            for r in &page {
                let _ = cells
                    .write_record(&mut writer, &[r.line.to_string().as_str(), r.reason.as_str(), r.record.as_str()]);
            }
            let bytes =
                std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new())).into_inner().unwrap_or_default();
            if sender.send(Ok(bytes)).await.is_err() {
                return;
            }
            match page.last() {
                Some(last) => after = last.line,
                None => return,
            }
        }
    });
    Ok(stream(receiver, "text/csv; charset=utf-8"))
}

fn stream(
    receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
    content_type: &'static str,
) -> Response {
    let body = Body::from_stream(ReceiverStream(receiver));
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

/// A channel receiver as a stream of body chunks.
struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `GET /v1/leads/export?[campaign_id][&allocation_id][&updated_since][&format=csv|ndjson]
/// [&formula_safe=true]`: every lead the key may see, streamed a page at a time.
#[utoipa::path(get, path = "/v1/leads/export", tag = "leads",
    params(("campaign_id" = Option<i64>, Query), ("allocation_id" = Option<i64>, Query),
        ("updated_since" = Option<String>, Query, description = "RFC 3339 time"),
        ("format" = Option<String>, Query, description = "csv (default) or ndjson"),
        ("formula_safe" = Option<bool>, Query, description = "CSV only: prefix cells starting with =, +, -, @, tab or CR with ' (default false)")),
    responses((status = 200, description = "every lead the key may see, streamed (text/csv or application/x-ndjson)"),
        (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn export_leads(
    State(state): State<AppState>,
    Caller(by): Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.rest();
    let format =
        Format::parse(params.iter().rev().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()).unwrap_or("csv"))?;
    let cells = cells(&params)?;
    if cells == Cells::FormulaSafe && format != Format::Csv {
        return Err(ApiError::bad_request("formula_safe", "formula_safe applies to format=csv only"));
    }
    let updated_since = match params.iter().rev().find(|(k, _)| k == "updated_since") {
        Some((_, v)) => Some(v.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::bad_request("updated_since", format!("updated_since must be an RFC 3339 time, not `{v}`"))
        })?),
        None => None,
    };
    let selection = Selection {
        campaign_id: int(&params, "campaign_id", false)?,
        allocation_id: int(&params, "allocation_id", false)?,
        updated_since,
    };
    // The first page is read here, so a failure is still an error response, not a cut body.
    export::page(&state.app, &by, &selection, 0).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let app = state.app.clone();
    tokio::spawn(async move {
        let sink = sender.clone();
        let result = export::export(&app, &by, &selection, format, cells, move |bytes| {
            let sink = sink.clone();
            async move { sink.send(Ok(bytes)).await.map_err(|_| std::io::Error::other("the client went away")) }
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "lead export stopped");
            let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    Ok(stream(receiver, format.content_type()))
}

/// Runs HTTP import jobs on this node until `stop` resolves: any pending job, or one whose node
/// died (its claim lapsed), is taken through a claim in the database, so several nodes share
/// the work and a job survives a restart.
pub async fn run_worker(app: App, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let ran = match imports::work_once(&app, Tuning::default()).await {
            Ok(ran) => ran,
            Err(error) => {
                tracing::error!(%error, "the import worker could not look for jobs");
                false
            }
        };
        if ran {
            continue;
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
