//! CRM leads: the filtered, counted, offset-paged lead list of the CRM API, signing credentials
//! and the shared record of signed requests already seen.

use crate::{micros, Cells, Exec, Result, Sql, SqlArg};
use jiff::Timestamp;
use leadline_core::access::LeadScope;
use leadline_core::crm::{ColumnKind, Condition, Modifier, Operand};
use leadline_core::lead::Lead;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.to_lowercase()
}

fn operand_arg(operand: &Operand) -> SqlArg {
    match operand {
        Operand::Int(n) => SqlArg::Int(Some(*n)),
        Operand::Text(t) => SqlArg::Text(Some(t.clone())),
        Operand::Time(t) => SqlArg::Int(Some(micros(*t))),
        Operand::Empty(_) => unreachable!("EMPTY has no operand to bind"),
    }
}

fn push_condition(sql: &mut Sql, c: &Condition) {
    let column = c.field.column;
    sql.push(" AND ");
    match (c.modifier, &c.operand) {
        (Modifier::Empty, Operand::Empty(empty)) => {
            let is_empty = if c.field.kind == ColumnKind::Text {
                format!("({column} IS NULL OR {column} = '')")
            } else {
                format!("{column} IS NULL")
            };
            if *empty {
                sql.push(&is_empty);
            } else {
                sql.push(&format!("NOT {is_empty}"));
            }
        }
        (Modifier::Begins | Modifier::Contains, Operand::Text(t)) => {
            // Lower-cased on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
            let pattern = match c.modifier {
                Modifier::Begins => format!("{}%", like_escape(t)),
                _ => format!("%{}%", like_escape(t)),
            };
            sql.push(&format!("LOWER({column}) LIKE ")).bind(SqlArg::Text(Some(pattern))).push(" ESCAPE '\\'");
        }
        (Modifier::Not, operand) => {
            sql.push(&format!("({column} IS NULL OR {column} <> ")).bind(operand_arg(operand)).push(")");
        }
        (modifier, operand) => {
            let op = match modifier {
                Modifier::LessThan => " < ",
                Modifier::GreaterThan => " > ",
                _ => " = ",
            };
            sql.push(column).push(op).bind(operand_arg(operand));
        }
    }
}

/// The leads in `scope` matching every condition: how many there are in all, and the page of
/// `per_page` of them after skipping `start`, in id order.
pub async fn list_leads(
    conn: &mut impl Exec,
    scope: &LeadScope,
    conditions: &[Condition],
    start: i64,
    per_page: i64,
) -> Result<(i64, Vec<Lead>)> {
    let mut count = Sql::new("SELECT COUNT(*) AS n FROM leads WHERE 1 = 1");
    let mut page = Sql::new(format!("{} WHERE 1 = 1", crate::leads::select()));
    for sql in [&mut count, &mut page] {
        crate::leads::push_scope(sql, scope);
        for c in conditions {
            push_condition(sql, c);
        }
    }
    page.push(" ORDER BY id LIMIT ").bind(SqlArg::Int(Some(per_page)));
    page.push(" OFFSET ").bind(SqlArg::Int(Some(start)));
    let total = conn.one_row(&count).await?.int("n")?;
    let rows = conn.all_rows(&page).await?;
    let leads = rows.iter().map(crate::leads::read).collect::<Result<Vec<_>>>()?;
    Ok((total, leads))
}

/// Records a new signing credential for an API key.
pub async fn insert_credential(conn: &mut impl Exec, access_key: &str, key_id: i64, at: Timestamp) -> Result<()> {
    let sql = Sql::fixed(
        "INSERT INTO ivvy_credentials (access_key, key_id, created_at) VALUES ($1, $2, $3)",
        crate::args![access_key, key_id, micros(at)],
    );
    conn.run(&sql).await?;
    Ok(())
}

/// Ends every signing credential of an API key (before a new one is issued).
pub async fn delete_credentials(conn: &mut impl Exec, key_id: i64) -> Result<u64> {
    conn.run(&Sql::fixed("DELETE FROM ivvy_credentials WHERE key_id = $1", crate::args![key_id])).await
}

/// The API key behind an access key.
pub async fn credential_key(conn: &mut impl Exec, access_key: &str) -> Result<Option<i64>> {
    let sql = Sql::fixed("SELECT key_id FROM ivvy_credentials WHERE access_key = $1", crate::args![access_key]);
    conn.optional_row(&sql).await?.map(|row| row.int("key_id")).transpose()
}

/// Records a signature as seen at `at`, after forgetting those seen before `forget_before`.
/// False when it was already seen: the request is a replay.
pub async fn first_sighting(
    conn: &mut impl Exec,
    signature: &str,
    at: Timestamp,
    forget_before: Timestamp,
) -> Result<bool> {
    conn.run(&Sql::fixed("DELETE FROM ivvy_seen_requests WHERE seen_at < $1", crate::args![micros(forget_before)]))
        .await?;
    // ON CONFLICT rather than catching the unique violation: on PostgreSQL an error would
    // spoil the surrounding transaction.
    let sql = Sql::fixed(
        "INSERT INTO ivvy_seen_requests (signature, seen_at) VALUES ($1, $2) ON CONFLICT (signature) DO NOTHING",
        crate::args![signature, micros(at)],
    );
    Ok(conn.run(&sql).await? == 1)
}
