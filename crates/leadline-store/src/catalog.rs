//! Reference collections, stored generically from their descriptions in leadline-core.

use crate::{after_explicit_id, Cells, Exec, Result, Sql, SqlArg, StoreError};
use leadline_core::access::CatalogScope;
use leadline_core::catalog::{Collection, Field, Kind, Record, SqlValue};

/// A stored object: its id and one value per field.
pub type Stored = (i64, Vec<SqlValue>);

fn is_int(kind: Kind) -> bool {
    matches!(kind, Kind::Ref(_) | Kind::Count | Kind::Money)
}

pub(crate) fn arg(kind: Kind, value: &SqlValue) -> SqlArg {
    match (kind, value) {
        (_, SqlValue::Int(n)) => SqlArg::Int(Some(*n)),
        (_, SqlValue::Bool(b)) => SqlArg::Bool(Some(*b)),
        (_, SqlValue::Text(t)) => SqlArg::Text(Some(t.clone())),
        (Kind::Bool, SqlValue::Null) => SqlArg::Bool(None),
        (k, SqlValue::Null) if is_int(k) => SqlArg::Int(None),
        (_, SqlValue::Null) => SqlArg::Text(None),
    }
}

fn read(row: &impl Cells, field: &Field) -> Result<SqlValue> {
    let column = field.column;
    let value = if field.kind == Kind::Bool {
        row.opt_flag(column)?.map(SqlValue::Bool)
    } else if is_int(field.kind) {
        row.opt_int(column)?.map(SqlValue::Int)
    } else {
        row.opt_text(column)?.map(SqlValue::Text)
    };
    Ok(value.unwrap_or(SqlValue::Null))
}

fn read_stored(collection: &Collection, row: &impl Cells) -> Result<Stored> {
    let id = row.int("id")?;
    let values = collection.fields.iter().map(|f| read(row, f)).collect::<Result<Vec<_>>>()?;
    Ok((id, values))
}

fn columns(collection: &Collection) -> String {
    let mut list = String::from("id");
    for f in collection.fields {
        list.push_str(", ");
        list.push_str(f.column);
    }
    list
}

/// Inserts a new object, with its chosen id or an assigned one, and returns the id.
pub async fn insert(conn: &mut impl Exec, collection: &Collection, record: &Record) -> Result<i64> {
    let mut sql = Sql::new(format!("INSERT INTO {} (", collection.table));
    if record.id.is_some() {
        sql.push("id, ");
    }
    sql.push(&collection.fields.iter().map(|f| f.column).collect::<Vec<_>>().join(", "));
    sql.push(") VALUES (");
    if let Some(id) = record.id {
        sql.bind(SqlArg::Int(Some(id))).push(", ");
    }
    for (i, (f, value)) in collection.fields.iter().zip(&record.values).enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(arg(f.kind, value));
    }
    sql.push(") RETURNING id");
    let id = conn.one_row(&sql).await?.int("id")?;
    if record.id.is_some() {
        after_explicit_id(conn, collection.table).await?;
    }
    Ok(id)
}

/// Replaces every field of an existing object; false if there is no such object.
pub async fn update(conn: &mut impl Exec, collection: &Collection, id: i64, record: &Record) -> Result<bool> {
    let mut sql = Sql::new(format!("UPDATE {} SET ", collection.table));
    for (i, (f, value)) in collection.fields.iter().zip(&record.values).enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(f.column).push(" = ").bind(arg(f.kind, value));
    }
    sql.push(" WHERE id = ").bind(SqlArg::Int(Some(id)));
    Ok(conn.run(&sql).await? == 1)
}

pub async fn get(conn: &mut impl Exec, collection: &Collection, id: i64) -> Result<Option<Vec<SqlValue>>> {
    get_visible(conn, collection, id, &CatalogScope::All).await
}

/// An object, if it is within `scope`.
pub async fn get_visible(
    conn: &mut impl Exec,
    collection: &Collection,
    id: i64,
    scope: &CatalogScope,
) -> Result<Option<Vec<SqlValue>>> {
    let mut sql = Sql::new(format!("SELECT {} FROM {} WHERE id = ", columns(collection), collection.table));
    sql.bind(SqlArg::Int(Some(id)));
    push_scope(&mut sql, scope);
    match conn.optional_row(&sql).await? {
        Some(row) => Ok(Some(read_stored(collection, &row)?.1)),
        None => Ok(None),
    }
}

/// `column IN (ids…)`, or a condition that holds for no row when there are no ids (neither
/// backend accepts `IN ()`).
fn push_in(sql: &mut Sql, column: &str, ids: &[i64]) {
    if ids.is_empty() {
        sql.push("1 = 0");
        return;
    }
    sql.push(column).push(" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(SqlArg::Int(Some(*id)));
    }
    sql.push(")");
}

/// Narrows a catalog query to the objects a key's scope may read.
pub(crate) fn push_scope(sql: &mut Sql, scope: &CatalogScope) {
    match scope {
        CatalogScope::All => {}
        CatalogScope::Denied => {
            sql.push(" AND 1 = 0");
        }
        CatalogScope::Ids(ids) => {
            sql.push(" AND ");
            push_in(sql, "id", ids);
        }
        CatalogScope::Column { column, ids, shared } => {
            sql.push(" AND (");
            if *shared {
                sql.push(column).push(" IS NULL OR ");
            }
            push_in(sql, column, ids);
            sql.push(")");
        }
        CatalogScope::TemplateOf { column, campaign_ids } => {
            sql.push(" AND ").push(column).push(" IN (SELECT template_id FROM campaigns WHERE ");
            push_in(sql, "id", campaign_ids);
            sql.push(")");
        }
    }
}

/// Equality filters, the key's scope and a keyset cursor (ids after `after`, ascending).
#[derive(Debug)]
pub struct ListFilter {
    pub equals: Vec<(&'static Field, SqlValue)>,
    pub scope: CatalogScope,
    pub after: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut impl Exec, collection: &Collection, filter: &ListFilter) -> Result<Vec<Stored>> {
    let mut sql = Sql::new(format!("SELECT {} FROM {} WHERE 1 = 1", columns(collection), collection.table));
    for (field, value) in &filter.equals {
        if *value == SqlValue::Null {
            sql.push(" AND ").push(field.column).push(" IS NULL");
        } else {
            sql.push(" AND ").push(field.column).push(" = ").bind(arg(field.kind, value));
        }
    }
    if let Some(after) = filter.after {
        sql.push(" AND id > ").bind(SqlArg::Int(Some(after)));
    }
    push_scope(&mut sql, &filter.scope);
    sql.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(filter.limit)));
    conn.all_rows(&sql).await?.iter().map(|row| read_stored(collection, row)).collect()
}

pub async fn delete(conn: &mut impl Exec, collection: &Collection, id: i64) -> Result<bool> {
    let mut sql = Sql::new(format!("DELETE FROM {} WHERE id = ", collection.table));
    sql.bind(SqlArg::Int(Some(id)));
    Ok(conn.run(&sql).await? == 1)
}

/// How many rows of `table` have `column = id`.
pub async fn count_references(conn: &mut impl Exec, table: &str, column: &str, id: i64) -> Result<i64> {
    let mut sql = Sql::new(format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = "));
    sql.bind(SqlArg::Int(Some(id)));
    conn.one_row(&sql).await?.int("n")
}

pub async fn exists(conn: &mut impl Exec, table: &str, id: i64) -> Result<bool> {
    // Only whether a row comes back: the literal is never decoded.
    let mut sql = Sql::new(format!("SELECT 1 AS found FROM {table} WHERE id = "));
    sql.bind(SqlArg::Int(Some(id)));
    Ok(conn.optional_row(&sql).await?.is_some())
}

/// Reads one JSON-text column of one object, for use cases that need a typed view (a
/// template's fields, a contact-hours schedule).
pub async fn json_column(
    conn: &mut impl Exec,
    table: &str,
    column: &str,
    id: i64,
) -> Result<Option<serde_json::Value>> {
    let mut sql = Sql::new(format!("SELECT {column} AS doc FROM {table} WHERE id = "));
    sql.bind(SqlArg::Int(Some(id)));
    match conn.optional_row(&sql).await? {
        Some(row) => {
            let text = row.text("doc")?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{table}.{column} of {id}: {e}")))
        }
        None => Ok(None),
    }
}
