//! Lead export: every lead a caller may see, filtered, as CSV or NDJSON, read a page at a time
//! (keyset paging on the id) so memory stays flat however many leads there are. The CSV columns
//! are the ones `leadline import` reads back, so an export imports into another campaign.

use std::borrow::Cow;

use jiff::Timestamp;
use leadline_core::lead::columns;
use leadline_core::lead::Lead;
use leadline_store::leads::LeadFilter;

use crate::{App, AppError, Principal, Result};

/// Leads read per page.
pub const PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format> {
        match text {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            other => Err(AppError::invalid("format", format!("`{other}` is not a format; use csv or ndjson"))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// How CSV cells are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cells {
    /// As stored, so that the file imports back unchanged.
    #[default]
    AsIs,
    /// Safe to open in a spreadsheet: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
    /// return, which a spreadsheet may evaluate as a formula, is written with a `'` in front, which
    /// spreadsheets take as "text follows". Such cells no longer import back as they were.
    FormulaSafe,
}

impl Cells {
    pub fn cell(self, text: &str) -> Cow<'_, str> {
        let formula_like = matches!(text.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
        if self == Cells::FormulaSafe && formula_like {
            Cow::Owned(format!("'{text}"))
        } else {
            Cow::Borrowed(text)
        }
    }

    /// Writes one CSV record, each cell as `self` says.
    pub fn write_record<W: std::io::Write, S: AsRef<str>>(
        self,
        writer: &mut csv::Writer<W>,
        record: &[S],
    ) -> csv::Result<()> {
        for cell in record {
            writer.write_field(self.cell(cell.as_ref()).as_bytes())?;
        }
        // An empty record ends the one the fields were written to.
        writer.write_record(None::<&[u8]>)
    }
}

/// Which leads to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub campaign_id: Option<i64>,
    pub allocation_id: Option<i64>,
    pub updated_since: Option<Timestamp>,
}

/// The CSV header: the lead's id, then each column the lead's column table marks exported.
pub fn header() -> impl Iterator<Item = &'static str> {
    std::iter::once("id").chain(columns::exported().map(|c| c.name))
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

/// Writes leads in one format; `finish` returns the bytes written since the last call.
pub struct Writer {
    format: Format,
    cells: Cells,
    csv: csv::Writer<Vec<u8>>,
    ndjson: Vec<u8>,
}

impl Writer {
    /// A writer that has written the CSV header (nothing for NDJSON); `cells` applies to CSV.
    pub fn new(format: Format, cells: Cells) -> Writer {
        let mut csv = csv_writer();
        if format == Format::Csv {
            let _ = csv.write_record(header());
        }
        Writer { format, cells, csv, ndjson: Vec::new() }
    }

    pub fn lead(&mut self, lead: &Lead) {
        match self.format {
            Format::Ndjson => {
                if serde_json::to_writer(&mut self.ndjson, lead).is_ok() {
                    self.ndjson.push(b'\n');
                }
            }
            Format::Csv => {
                let id = lead.id.to_string();
                let cells = columns::exported().map(|c| (c.get)(lead).to_csv());
                let row: Vec<String> = std::iter::once(id).chain(cells).collect();
                let _ = self.cells.write_record(&mut self.csv, &row);
            }
        }
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        match self.format {
            Format::Ndjson => std::mem::take(&mut self.ndjson),
            Format::Csv => {
                let written = std::mem::replace(&mut self.csv, csv_writer());
                written.into_inner().unwrap_or_default()
            }
        }
    }
}

/// The next page of leads to export after lead `after` (0 to start); empty when done.
#[tracing::instrument(name = "export.page", skip_all, fields(key = by.key_id, after))]
pub async fn page(app: &App, by: &Principal, selection: &Selection, after: i64) -> Result<Vec<Lead>> {
    let filter = LeadFilter {
        scope: by.role.lead_scope(),
        campaign_id: selection.campaign_id,
        allocation_id: selection.allocation_id,
        updated_since: selection.updated_since,
        after: Some(after),
        limit: PAGE,
        ..LeadFilter::default()
    };
    let mut conn = app.store.read().await?;
    Ok(leadline_store::leads::list(&mut conn, &filter).await?)
}

/// Streams every selected lead through `write`, a page at a time.
#[tracing::instrument(name = "export.export", skip_all, fields(key = by.key_id, format = ?format))]
pub async fn export<F, Fut>(
    app: &App,
    by: &Principal,
    selection: &Selection,
    format: Format,
    cells: Cells,
    mut write: F,
) -> Result<u64>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let mut writer = Writer::new(format, cells);
    let mut after = 0;
    let mut count = 0;
    loop {
        let leads = page(app, by, selection, after).await?;
        let Some(last) = leads.last() else { break };
        after = last.id;
        for lead in &leads {
            writer.lead(lead);
        }
        count += leads.len() as u64;
        write(writer.take()).await.map_err(|e| AppError::invalid("output", format!("could not write: {e}")))?;
    }
    let rest = writer.take();
    if !rest.is_empty() {
        write(rest).await.map_err(|e| AppError::invalid("output", format!("could not write: {e}")))?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_safe_cells_prefix_what_a_spreadsheet_would_evaluate_and_nothing_else() {
        for risky in ["=1+2", "+61412000001", "-2+3", "@SUM(A1)", "\t=cmd", "\r=cmd"] {
            assert_eq!(Cells::FormulaSafe.cell(risky), format!("'{risky}"), "{risky:?}");
            assert_eq!(Cells::AsIs.cell(risky), risky, "{risky:?}");
        }
        for plain in ["", "Ann", "a=b", " =1", "12", "'quoted", "\n=x"] {
            assert_eq!(Cells::FormulaSafe.cell(plain), plain, "{plain:?}");
        }
        let mut writer = csv_writer();
        Cells::FormulaSafe.write_record(&mut writer, &["=HYPERLINK(\"http://x\")", "ok"]).unwrap();
        assert_eq!(
            String::from_utf8(writer.into_inner().unwrap()).unwrap(),
            "\"'=HYPERLINK(\"\"http://x\"\")\",ok\r\n"
        );
    }
}
