//! Lead writes on SQLite's direct writer ([`super::writer`]). Small statements stay in the
//! connection's statement cache; [`NewLeads`] prepares its multi-row inserts once per batch,
//! as statements that read bound texts in place ([`super::borrowed`]).

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::sync::OnceLock;

use jiff::Timestamp;
use leadline_core::history::Actor;
use leadline_core::lead::{columns, Lead};
use rusqlite::Connection;

use super::borrowed::{Borrowed, Value};
use super::writer::Bulk;
use crate::leads::{fields_json, phones_json, COLUMNS, HISTORY_HEAD};
use crate::{micros, Result, StoreError};

/// Rows per statement when new leads, their history rows and phones are written many to a
/// statement: the statement's fixed costs (opening its tables' and indexes' cursors,
/// stepping, halting, resetting) then come once per this many rows instead of once per row.
const ROWS_PER_STATEMENT: usize = 32;
const NEXT_HISTORY_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM lead_history";

/// A multi-row insert: its statement for [`ROWS_PER_STATEMENT`] rows, and for one row
/// (what is left at the end), so only two shapes per table are ever prepared.
struct Shape {
    head: String,
    width: usize,
    tail: &'static str,
    full: OnceLock<String>,
    one: OnceLock<String>,
}

/// A [`Shape`]'s two statements, prepared on first use.
#[derive(Default)]
struct Prepared<'c> {
    full: Option<Borrowed<'c>>,
    one: Option<Borrowed<'c>>,
}

impl Shape {
    fn new(head: String, width: usize, tail: &'static str) -> Shape {
        Shape { head, width, tail, full: OnceLock::new(), one: OnceLock::new() }
    }

    /// `head` followed by `rows` groups of `width` numbered parameters, then `tail`.
    fn text(&self, rows: usize) -> &str {
        let (cell, rows) = if rows == ROWS_PER_STATEMENT { (&self.full, rows) } else { (&self.one, 1) };
        cell.get_or_init(|| {
            let groups: Vec<String> = (0..rows)
                .map(|row| {
                    // `?NNN`, SQLite's numbered parameters, not the store's `$n`: SQLite keeps a name for
                    // each `$n` and looks every one up among the statement's names as it prepares it
                    // (callgrind, 50,000-row import: 7 % more of the writer's instructions with `$n`).
                    let marks: Vec<String> = (1..=self.width).map(|n| format!("?{}", row * self.width + n)).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            format!("{}{}{}", self.head, groups.join(", "), self.tail)
        })
    }

    /// Inserts the rows whose values lie in `values`, `width` to a row: a full statement
    /// at a time and the rest one by one. Returns how many rows went in.
    fn write<'c>(&self, conn: &'c Connection, prepared: &mut Prepared<'c>, values: &[Value<'_>]) -> Result<usize> {
        let per_statement = self.width * ROWS_PER_STATEMENT;
        let full = values.len() - values.len() % per_statement;
        let mut written = 0;
        for (chunk, rows, slot) in
            [(&values[..full], ROWS_PER_STATEMENT, &mut prepared.full), (&values[full..], 1, &mut prepared.one)]
        {
            for group in chunk.chunks(rows * self.width) {
                let statement = match slot.take() {
                    Some(statement) => slot.insert(statement),
                    None => slot.insert(Borrowed::prepare(conn, self.text(rows))?),
                };
                written += statement.execute(group.iter().copied())?;
            }
        }
        Ok(written)
    }
}

/// Values a new lead is written with before its [`COLUMNS`]: its id and history head.
const LEAD_LEADING_VALUES: usize = 2;

/// A new lead whose ref is taken is skipped, not refused, so the rest of its statement
/// still goes in and the lead can be written again under another ref. Any other refusal
/// rolls the bulk unit back (`OR ROLLBACK`: no statement journal; see [`Bulk`]), as do
/// those of the phones and history rows.
static LEADS: LazyLock<Shape> = LazyLock::new(|| {
    Shape::new(
        format!("INSERT OR ROLLBACK INTO leads (id, {HISTORY_HEAD}, {}) VALUES ", COLUMNS.join(", ")),
        COLUMNS.len() + LEAD_LEADING_VALUES,
        " ON CONFLICT (ref) DO NOTHING",
    )
});
static PHONES: LazyLock<Shape> = LazyLock::new(|| {
    Shape::new("INSERT OR ROLLBACK INTO lead_phones (lead_id, position, phone) VALUES ".into(), 3, "")
});
static HISTORIES: LazyLock<Shape> = LazyLock::new(|| {
    Shape::new(
        "INSERT OR ROLLBACK INTO lead_history (id, lead_id, at, key_id, api, action, changes) VALUES ".into(),
        7,
        "",
    )
});

/// The id the next new lead gets: past every live and archived lead, as [`super::insert`]
/// assigns them, so an archived lead's id is never given out again.
pub fn next_id(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached(crate::leads::NEXT_ID)?.query_row([], |row| row.get(0))?)
}

/// A history row waiting to be written.
struct History {
    id: i64,
    lead_id: i64,
    changes: String,
}

/// A new lead waiting to be written: its id, its history's head, the lead.
type Held<'a> = (i64, i64, &'a mut Lead);

/// Inserts new leads with their phones and first history rows in a bulk unit (a refusal
/// rolls the unit's transaction back: see [`Bulk`]), each kind held and written
/// [`ROWS_PER_STATEMENT`] to a statement. History rows are written under ids handed out
/// here, so a lead can name its history's head before that row is written; a lead's
/// phones are held only once the lead is written, since they refer to it. A lead whose ref
/// turns out taken gets another from `redraw` (in the caller's `Lead` too) and is written
/// again. Everything held is written by [`NewLeads::finish`], which must be called before
/// the transaction commits.
pub struct NewLeads<'c, 'a> {
    conn: &'c Connection,
    at: i64,
    actor: Actor,
    action: &'a str,
    redraw: fn() -> String,
    next_history_id: i64,
    leads: Vec<Held<'a>>,
    histories: Vec<History>,
    phones: Vec<(i64, i64, &'a str)>,
    lead_statements: Prepared<'c>,
    history_statements: Prepared<'c>,
    phone_statements: Prepared<'c>,
    parents: Vec<Parent>,
}

/// A foreign key of `leads`: the column's place among a written lead's values, the table
/// and column it refers to, and the values the new leads gave it.
struct Parent {
    at: usize,
    column: String,
    table: String,
    key: String,
    values: BTreeSet<i64>,
}

impl Parent {
    /// The foreign keys the schema declares on `leads`.
    fn of_leads(conn: &Connection) -> Result<Vec<Parent>> {
        let mut keys = conn.prepare_cached(r#"SELECT "from", "table", "to" FROM pragma_foreign_key_list('leads')"#)?;
        let keys = keys.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, Option<String>>(2)?)))?;
        keys.map(|key| {
            let (column, table, key): (String, String, Option<String>) = key?;
            let at = COLUMNS.iter().position(|c| *c == column).ok_or_else(|| {
                StoreError::Writer(format!(
                    "leads.{column} refers to {table} but is not a column new leads are written with"
                ))
            })?;
            // No column named: the parent's primary key.
            let key = key.unwrap_or_else(|| "rowid".into());
            Ok(Parent { at: LEAD_LEADING_VALUES + at, column, table, key, values: BTreeSet::new() })
        })
        .collect()
    }

    /// Fails naming the first value no row of the parent table has.
    fn check(&self, conn: &Connection) -> Result<()> {
        if self.values.is_empty() {
            return Ok(());
        }
        // The values are integers, written into the text as such.
        let list: Vec<String> = self.values.iter().map(i64::to_string).collect();
        let sql =
            format!(r#"SELECT "{}" FROM "{}" WHERE "{}" IN ({})"#, self.key, self.table, self.key, list.join(", "));
        let mut found = conn.prepare(&sql)?;
        let found = found.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<BTreeSet<i64>>>()?;
        match self.values.difference(&found).next() {
            None => Ok(()),
            Some(missing) => Err(StoreError::ForeignKey(format!(
                "leads.{} refers to {} {missing}, which does not exist",
                self.column, self.table
            ))),
        }
    }
}

impl<'c, 'a> NewLeads<'c, 'a> {
    /// Every history row written here is stamped `at`, by `actor`, as `action`.
    pub fn new(
        bulk: Bulk<'c>,
        at: Timestamp,
        actor: Actor,
        action: &'a str,
        redraw: fn() -> String,
    ) -> Result<NewLeads<'c, 'a>> {
        let conn = bulk.conn();
        let next_history_id = conn.prepare_cached(NEXT_HISTORY_ID)?.query_row([], |row| row.get(0))?;
        Ok(NewLeads {
            conn,
            at: micros(at),
            actor,
            action,
            redraw,
            next_history_id,
            leads: Vec::with_capacity(ROWS_PER_STATEMENT),
            histories: Vec::with_capacity(ROWS_PER_STATEMENT),
            phones: Vec::with_capacity(ROWS_PER_STATEMENT),
            lead_statements: Prepared::default(),
            history_statements: Prepared::default(),
            phone_statements: Prepared::default(),
            parents: Parent::of_leads(conn)?,
        })
    }

    /// Holds a new lead to be inserted under `id`, its history starting at `history_head`
    /// (handed out by [`NewLeads::history`]). A refusal other than a taken ref (an
    /// external id already used in the campaign) is an error, here or at a later call.
    pub fn lead(&mut self, id: i64, history_head: i64, lead: &'a mut Lead) -> Result<()> {
        self.leads.push((id, history_head, lead));
        if self.leads.len() == ROWS_PER_STATEMENT {
            self.write_leads()?;
        }
        Ok(())
    }

    /// Takes a new lead's first history row (`changes` is the change set as JSON) and
    /// returns the id it will be written under.
    pub fn history(&mut self, lead_id: i64, changes: String) -> Result<i64> {
        let id = self.next_history_id;
        self.next_history_id += 1;
        self.histories.push(History { id, lead_id, changes });
        if self.histories.len() == ROWS_PER_STATEMENT {
            self.write_histories()?;
        }
        Ok(id)
    }

    /// Writes the leads, history rows and phones still held, and checks that everything the
    /// leads refer to (campaign, allocation, contact hours, …) exists: a bulk unit runs with
    /// SQLite's foreign keys off ([`Bulk`]), and one look-up per distinct
    /// value here replaces one per lead there. (A phone refers to a lead written here.)
    pub fn finish(mut self) -> Result<()> {
        self.write_leads()?;
        self.write_histories()?;
        self.write_phones()?;
        self.parents.iter().try_for_each(|parent| parent.check(self.conn))
    }

    /// Inserts `leads`; returns how many went in (fewer when refs were taken).
    fn insert_leads(&mut self, leads: &[Held<'_>]) -> Result<usize> {
        let json: Vec<[String; 2]> =
            leads.iter().map(|(_, _, lead)| [phones_json(&lead.phones), fields_json(&lead.fields)]).collect();
        let width = COLUMNS.len() + LEAD_LEADING_VALUES;
        let mut values = Vec::with_capacity(leads.len() * width);
        for ((id, head, lead), [phones, fields]) in leads.iter().zip(&json) {
            values.extend([Value::Int(*id), Value::Int(*head)]);
            // Straight from the lead's cells to the statement's values: this runs for every lead.
            values.extend(columns::cells(lead).map(|cell| match cell {
                columns::Cell::Int(int) => int.into(),
                columns::Cell::Flag(flag) => Value::Int(i64::from(flag)),
                columns::Cell::Time(time) => time.map(micros).into(),
                columns::Cell::Text(text) => text.into(),
                columns::Cell::Phones(_) => Value::Text(phones),
                columns::Cell::Fields(_) => Value::Text(fields),
            }));
            let row = &values[values.len() - width..];
            for parent in &mut self.parents {
                match row[parent.at] {
                    Value::Int(value) => _ = parent.values.insert(value),
                    Value::Null => {}
                    // Only whole-number keys are checked; a text here would go unchecked.
                    Value::Text(_) => {
                        return Err(StoreError::Writer(format!(
                            "leads.{} refers to {} but is written as text",
                            parent.column, parent.table
                        )))
                    }
                }
            }
        }
        LEADS.write(self.conn, &mut self.lead_statements, &values)
    }

    fn write_leads(&mut self) -> Result<()> {
        let mut held = std::mem::take(&mut self.leads);
        if self.insert_leads(&held)? < held.len() {
            // Some refs were taken: find the leads that were skipped and draw them again.
            let mut present = self.conn.prepare_cached("SELECT 1 FROM leads WHERE id = ?1")?;
            for skipped in &mut held {
                while !present.exists([skipped.0])? {
                    skipped.2.lead_ref = (self.redraw)();
                    self.insert_leads(std::slice::from_ref(skipped))?;
                }
            }
        }
        for (id, _, lead) in held.drain(..) {
            let lead: &'a Lead = lead;
            for (position, phone) in lead.phones.iter().enumerate() {
                self.phones.push((id, position as i64, phone.as_str()));
                if self.phones.len() == ROWS_PER_STATEMENT {
                    self.write_phones()?;
                }
            }
        }
        self.leads = held;
        Ok(())
    }

    fn write_histories(&mut self) -> Result<()> {
        let (at, actor, action) = (self.at, self.actor, self.action);
        let values: Vec<Value<'_>> = self
            .histories
            .iter()
            .flat_map(|row| {
                [
                    Value::Int(row.id),
                    Value::Int(row.lead_id),
                    Value::Int(at),
                    actor.key_id.into(),
                    Value::Text(actor.api.as_str()),
                    Value::Text(action),
                    Value::Text(&row.changes),
                ]
            })
            .collect();
        HISTORIES.write(self.conn, &mut self.history_statements, &values)?;
        self.histories.clear();
        Ok(())
    }

    fn write_phones(&mut self) -> Result<()> {
        let values: Vec<Value<'_>> = self
            .phones
            .iter()
            .flat_map(|&(lead_id, position, phone)| [Value::Int(lead_id), Value::Int(position), Value::Text(phone)])
            .collect();
        PHONES.write(self.conn, &mut self.phone_statements, &values)?;
        self.phones.clear();
        Ok(())
    }
}
