//! A lead's columns, described once.
//!
//! Each entry names a column (as the lead serializes and as the store names it), says how its
//! value is stored, where the console shows it, whether the CSV export writes it and which
//! collection it refers to, and gives the two functions that read it from and write it into a
//! [`Lead`]. The store's insert, update and read, the export, the console's lead page, the
//! history's field-by-field difference and the reference checks before a delete all walk this
//! table, so a new column is one entry here, one field of [`Lead`] and one migration per backend.
//!
//! The lead's `id` is its key, not one of these columns: every reader names it on its own.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::Lead;
use crate::phone::Phone;

/// How a column's value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text that is always there.
    Text,
    OptText,
    /// A whole number that is always there.
    Int,
    OptInt,
    /// True or false (PostgreSQL's BOOLEAN, 0/1 on SQLite).
    Flag,
    /// An instant that is always there (microseconds since the epoch in the store).
    Time,
    OptTime,
    /// The phone numbers, in dialing order (a JSON array in the store).
    Phones,
    /// Template and custom fields by name (a JSON object in the store).
    Fields,
}

/// A column's value, borrowed from the lead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Flag(bool),
    Time(Option<Timestamp>),
    Phones(&'a [Phone]),
    Fields(&'a Map<String, Value>),
}

impl Cell<'_> {
    /// The value as the lead serializes it.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Text(text) => text.map_or(Value::Null, |t| Value::String(t.to_string())),
            Cell::Int(int) => int.map_or(Value::Null, Value::from),
            Cell::Flag(flag) => Value::Bool(*flag),
            Cell::Time(time) => serde_json::to_value(time).expect("timestamps serialize"),
            Cell::Phones(phones) => serde_json::to_value(phones).expect("phones serialize"),
            Cell::Fields(fields) => Value::Object((*fields).clone()),
        }
    }

    /// The value as one CSV cell: nothing for a missing value, the numbers joined by `;`, the
    /// fields as a JSON object (nothing when there are none), an instant in RFC 3339.
    pub fn to_csv(&self) -> String {
        match self {
            Cell::Text(text) => text.unwrap_or_default().to_string(),
            Cell::Int(int) => int.map(|n| n.to_string()).unwrap_or_default(),
            Cell::Flag(flag) => flag.to_string(),
            Cell::Time(time) => time.map(|t| t.to_string()).unwrap_or_default(),
            Cell::Phones(phones) => phones.iter().map(Phone::as_str).collect::<Vec<_>>().join(";"),
            Cell::Fields(fields) if fields.is_empty() => String::new(),
            Cell::Fields(fields) => Value::Object((*fields).clone()).to_string(),
        }
    }
}

/// A column's value as read back from the store, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Text(Option<String>),
    Int(Option<i64>),
    Flag(bool),
    Time(Option<Timestamp>),
    Phones(Vec<Phone>),
    Fields(Map<String, Value>),
}

/// Where the console's lead page shows a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Contact,
    Campaign,
    Dialer,
    Queue,
    Crm,
    /// Template and custom fields, which the lead page lists by their own names.
    Custom,
    /// The ref, the version and the times: bookkeeping, shown in the page's heading.
    Record,
}

impl Group {
    /// The groups in the order the lead page shows them, with their headings.
    pub const SHOWN: &'static [(Group, &'static str)] = &[
        (Group::Contact, "Contact"),
        (Group::Campaign, "Campaign"),
        (Group::Dialer, "Dialer"),
        (Group::Queue, "Queue"),
        (Group::Crm, "CRM"),
    ];
}

/// One column of a lead.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub group: Group,
    /// Written by the CSV export (which `leadline import` reads back).
    pub exported: bool,
    /// Recorded in the history when it changes (the version and times move with every change).
    pub in_history: bool,
    /// The collection whose ids it holds, for reference checks before a delete.
    pub refers_to: Option<&'static str>,
    pub get: for<'a> fn(&'a Lead) -> Cell<'a>,
    /// Puts a stored value back; an error names what the value should have been.
    pub set: fn(&mut Lead, Stored) -> Result<(), &'static str>,
}

/// Builds one [`Column`] from the field it keeps: `column!(name: field, Kind, Group, options)`
/// where the options are `export`, `bookkeeping` (not in the history) and `refers "collection"`.
macro_rules! column {
    (@get $field:ident, $kind:ident) => { |lead: &Lead| column!(@value lead, $field, $kind) };
    (@value $lead:ident, $field:ident, Text) => { Cell::Text(Some(&$lead.$field)) };
    (@value $lead:ident, $field:ident, OptText) => { Cell::Text($lead.$field.as_deref()) };
    (@value $lead:ident, $field:ident, Int) => { Cell::Int(Some($lead.$field)) };
    (@value $lead:ident, $field:ident, OptInt) => { Cell::Int($lead.$field) };
    (@value $lead:ident, $field:ident, Flag) => { Cell::Flag($lead.$field) };
    (@value $lead:ident, $field:ident, Time) => { Cell::Time(Some($lead.$field)) };
    (@value $lead:ident, $field:ident, OptTime) => { Cell::Time($lead.$field) };
    (@value $lead:ident, $field:ident, Phones) => { Cell::Phones(&$lead.$field) };
    (@value $lead:ident, $field:ident, Fields) => { Cell::Fields(&$lead.$field) };

    (@set $field:ident, Text) => { |lead: &mut Lead, stored| match stored {
        Stored::Text(Some(text)) => Ok(lead.$field = text),
        _ => Err("text"),
    } };
    (@set $field:ident, OptText) => { |lead: &mut Lead, stored| match stored {
        Stored::Text(text) => Ok(lead.$field = text),
        _ => Err("text or nothing"),
    } };
    (@set $field:ident, Int) => { |lead: &mut Lead, stored| match stored {
        Stored::Int(Some(int)) => Ok(lead.$field = int),
        _ => Err("a whole number"),
    } };
    (@set $field:ident, OptInt) => { |lead: &mut Lead, stored| match stored {
        Stored::Int(int) => Ok(lead.$field = int),
        _ => Err("a whole number or nothing"),
    } };
    (@set $field:ident, Flag) => { |lead: &mut Lead, stored| match stored {
        Stored::Flag(flag) => Ok(lead.$field = flag),
        _ => Err("true or false"),
    } };
    (@set $field:ident, Time) => { |lead: &mut Lead, stored| match stored {
        Stored::Time(Some(time)) => Ok(lead.$field = time),
        _ => Err("an instant"),
    } };
    (@set $field:ident, OptTime) => { |lead: &mut Lead, stored| match stored {
        Stored::Time(time) => Ok(lead.$field = time),
        _ => Err("an instant or nothing"),
    } };
    (@set $field:ident, Phones) => { |lead: &mut Lead, stored| match stored {
        Stored::Phones(phones) => Ok(lead.$field = phones),
        _ => Err("phone numbers"),
    } };
    (@set $field:ident, Fields) => { |lead: &mut Lead, stored| match stored {
        Stored::Fields(fields) => Ok(lead.$field = fields),
        _ => Err("an object of fields"),
    } };

    ($name:literal: $field:ident, $kind:ident, $group:ident $(, $option:tt $($collection:literal)?)*) => {{
        #[allow(unused_mut)]
        let mut column = Column {
            name: $name,
            kind: Kind::$kind,
            group: Group::$group,
            exported: false,
            in_history: true,
            refers_to: None,
            get: column!(@get $field, $kind),
            set: column!(@set $field, $kind),
        };
        $(column!(@option column, $option $($collection)?);)*
        column
    }};
    (@option $column:ident, export) => { $column.exported = true };
    (@option $column:ident, bookkeeping) => { $column.in_history = false };
    (@option $column:ident, refers $collection:literal) => { $column.refers_to = Some($collection) };
}

/// Declares every column once: [`COLUMNS`], the table, and [`cells`], which reads a lead's
/// values through the same getters written out in line (it runs for every lead written, and
/// calls through the table's function pointers cost the import's writer a tenth of its time).
macro_rules! columns {
    ($($name:literal: $field:ident, $kind:ident, $group:ident $(, $option:tt $($collection:literal)?)*;)*) => {
        /// Every column but `id`, in the order the export writes them (and the store selects them).
        pub const COLUMNS: &[Column] = &[$(column!($name: $field, $kind, $group $(, $option $($collection)?)*)),*];

        /// A lead's values in [`COLUMNS`]' order.
        pub fn cells(lead: &Lead) -> [Cell<'_>; COUNT] {
            [$(column!(@value lead, $field, $kind)),*]
        }
    };
}

columns! {
    "ref": lead_ref, Text, Record, export;
    "external_id": external_id, OptText, Campaign, export;
    "vertical_id": vertical_id, OptInt, Campaign, refers "verticals";
    "campaign_id": campaign_id, OptInt, Campaign, export, refers "campaigns";
    "allocation_id": allocation_id, OptInt, Campaign, export, refers "allocations";
    "name": name, OptText, Contact, export;
    "first_name": first_name, OptText, Contact, export;
    "last_name": last_name, OptText, Contact, export;
    "email": email, OptText, Contact, export;
    "phones": phones, Phones, Contact, export;
    "address1": address1, OptText, Contact, export;
    "city": city, OptText, Contact, export;
    "state": state, OptText, Contact, export;
    "postal_code": postal_code, OptText, Contact, export;
    "country": country, OptText, Contact, export;
    "fields": fields, Fields, Custom, export;
    "priority": priority, Int, Dialer, export;
    "callback_at": callback_at, OptTime, Dialer, export;
    "disposition": disposition, OptText, Dialer, export;
    "closed": closed, Flag, Dialer, export;
    "dial_count": dial_count, Int, Dialer, export;
    "contact_hours_id": contact_hours_id, OptInt, Dialer, refers "contact-hours";
    "last_dialed_at": last_dialed_at, OptTime, Dialer;
    "lock_holder": lock_holder, OptText, Dialer;
    "lock_until": lock_until, OptTime, Dialer;
    "queue_id": queue_id, OptInt, Queue, refers "queues";
    "queue_status_id": queue_status_id, OptInt, Queue, refers "queue-statuses";
    "thrown_out": thrown_out, Flag, Queue;
    "quality_id": quality_id, OptInt, Crm, refers "lead-qualities";
    "industry_id": industry_id, OptInt, Crm, refers "industries";
    "source_id": source_id, OptInt, Crm, refers "lead-sources";
    "company_id": company_id, OptInt, Crm, refers "companies";
    "contact_id": contact_id, OptInt, Crm, refers "contacts";
    "company_lead_contact_id": company_lead_contact_id, OptInt, Crm, refers "contacts";
    "owner_user_id": owner_user_id, OptInt, Crm, refers "users";
    "type_id": type_id, OptInt, Crm, refers "lead-types";
    "subtype_id": subtype_id, OptInt, Crm;
    "stage_id": stage_id, OptInt, Crm, refers "lead-stages";
    "stage_reason_id": stage_reason_id, OptInt, Crm;
    "channel_id": channel_id, OptInt, Crm, refers "lead-channels";
    "description": description, OptText, Crm, export;
    "version": version, Int, Record, export, bookkeeping;
    "created_at": created_at, Time, Record, export, bookkeeping;
    "updated_at": updated_at, Time, Record, export, bookkeeping;
}

/// The number of columns, for arrays of one value a column.
pub const COUNT: usize = COLUMNS.len();

/// The columns the CSV export writes after the lead's id, in order.
pub fn exported() -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(|c| c.exported)
}

/// The columns the console shows under `group`, in order.
pub fn in_group(group: Group) -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(move |c| c.group == group)
}

/// The columns that hold ids of a catalog collection, each with that collection's name.
pub fn references() -> impl Iterator<Item = (&'static Column, &'static str)> {
    COLUMNS.iter().filter_map(|c| c.refers_to.map(|collection| (c, collection)))
}

/// A lead put together from its stored values: `read` gives each column's value, in
/// [`COLUMNS`]' order. An error names the column and what its value should have been.
pub fn assemble<E>(
    id: i64,
    mut read: impl FnMut(&'static Column) -> Result<Stored, E>,
    wrong: impl Fn(&'static Column, &'static str) -> E,
) -> Result<Lead, E> {
    let mut lead = Lead::blank(String::new(), Timestamp::UNIX_EPOCH);
    lead.id = id;
    for column in COLUMNS {
        let value = read(column)?;
        (column.set)(&mut lead, value).map_err(|expected| wrong(column, expected))?;
    }
    Ok(lead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::LeadInput;

    fn full_lead() -> Lead {
        let input: LeadInput = serde_json::from_value(serde_json::json!({
            "external_id": "X-1", "vertical_id": 1, "campaign_id": 2, "allocation_id": 3,
            "name": "Ann Lee", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
            "phones": ["0412345678"], "address1": "1 Main St", "city": "Perth", "state": "WA",
            "postal_code": "6000", "country": "AU", "fields": {"colour": "red"},
            "disposition": "SALE", "priority": 5, "contact_hours_id": 4, "queue_id": 5,
            "queue_status_id": 6, "quality_id": 7, "industry_id": 8, "source_id": 9, "company_id": 10,
            "contact_id": 11, "company_lead_contact_id": 12, "owner_user_id": 13, "type_id": 14,
            "subtype_id": 15, "stage_id": 16, "stage_reason_id": 17, "channel_id": 18,
            "description": "warm",
        }))
        .unwrap();
        let mut lead = Lead::create("ABCDEFGH".into(), input, Timestamp::from_second(1_700_000_000).unwrap()).unwrap();
        lead.id = 42;
        lead.callback_at = Some(Timestamp::from_second(1_700_003_600).unwrap());
        lead.last_dialed_at = Some(Timestamp::from_second(1_700_000_100).unwrap());
        lead.lock_holder = Some("agent 7".into());
        lead.lock_until = Some(Timestamp::from_second(1_700_000_200).unwrap());
        lead.dial_count = 3;
        lead.closed = true;
        lead.thrown_out = true;
        lead.version = 9;
        lead
    }

    #[test]
    fn cells_reads_each_column_as_its_getter_in_the_table_does() {
        let lead = full_lead();
        let read = cells(&lead);
        for (n, column) in COLUMNS.iter().enumerate() {
            assert_eq!(read[n], (column.get)(&lead), "{}", column.name);
        }
    }

    #[test]
    fn the_columns_are_the_fields_a_lead_serializes_but_its_id_each_once() {
        let json = serde_json::to_value(full_lead()).unwrap();
        let mut serialized: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        serialized.sort_unstable();
        let mut described = vec!["id"];
        described.extend(COLUMNS.iter().map(|c| c.name));
        described.sort_unstable();
        assert_eq!(serialized, described);
    }

    #[test]
    fn each_column_reads_what_the_lead_serializes() {
        let lead = full_lead();
        let json = serde_json::to_value(&lead).unwrap();
        for (column, cell) in COLUMNS.iter().zip(cells(&lead)) {
            assert_eq!(cell.to_json(), json[column.name], "{}", column.name);
        }
    }

    #[test]
    fn a_lead_assembled_from_its_own_values_is_the_same_lead() {
        let lead = full_lead();
        let stored = |column: &Column| match (column.get)(&lead) {
            Cell::Text(text) => Stored::Text(text.map(str::to_string)),
            Cell::Int(int) => Stored::Int(int),
            Cell::Flag(flag) => Stored::Flag(flag),
            Cell::Time(time) => Stored::Time(time),
            Cell::Phones(phones) => Stored::Phones(phones.to_vec()),
            Cell::Fields(fields) => Stored::Fields(fields.clone()),
        };
        let again = assemble(lead.id, |c| Ok::<_, String>(stored(c)), |c, e| format!("{}: {e}", c.name)).unwrap();
        assert_eq!(again, lead);
    }

    #[test]
    fn a_stored_value_of_the_wrong_kind_is_named_with_what_was_expected() {
        let wrong = assemble(
            1,
            |c| Ok::<_, String>(if c.name == "priority" { Stored::Text(None) } else { Stored::Int(None) }),
            |c, expected| format!("{}: {expected}", c.name),
        );
        assert_eq!(wrong.unwrap_err(), "ref: text");
        let priority = assemble(
            1,
            |c| {
                Ok::<_, String>(match c.kind {
                    Kind::Text => Stored::Text(Some("R".into())),
                    Kind::Int => Stored::Text(Some("ten".into())),
                    Kind::OptText => Stored::Text(None),
                    Kind::Flag => Stored::Flag(false),
                    Kind::Time | Kind::OptTime => Stored::Time(Some(Timestamp::UNIX_EPOCH)),
                    Kind::Phones => Stored::Phones(Vec::new()),
                    Kind::Fields => Stored::Fields(Map::new()),
                    Kind::OptInt => Stored::Int(None),
                })
            },
            |c, expected| format!("{}: {expected}", c.name),
        );
        assert_eq!(priority.unwrap_err(), "priority: a whole number");
    }

    #[test]
    fn csv_cells_leave_missing_values_empty_and_join_the_phones() {
        assert_eq!(Cell::Text(None).to_csv(), "");
        assert_eq!(Cell::Int(None).to_csv(), "");
        assert_eq!(Cell::Flag(false).to_csv(), "false");
        assert_eq!(Cell::Time(Some(Timestamp::UNIX_EPOCH)).to_csv(), "1970-01-01T00:00:00Z");
        let lead = full_lead();
        assert_eq!(Cell::Phones(&lead.phones).to_csv(), lead.phones[0].as_str());
        assert_eq!(Cell::Fields(&Map::new()).to_csv(), "");
        assert_eq!(Cell::Fields(&lead.fields).to_csv(), r#"{"colour":"red"}"#);
    }
}
