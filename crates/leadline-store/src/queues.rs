//! Call-center queues: finding the queue an action moves a lead into.

use crate::{Cells, Exec, Result, Sql};

/// A queue's kind and vertical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub id: i64,
    pub kind: String,
    pub vertical_id: Option<i64>,
}

pub async fn get(conn: &mut impl Exec, id: i64) -> Result<Option<QueueInfo>> {
    let sql = Sql::fixed("SELECT id, kind, vertical_id FROM queues WHERE id = $1", crate::args![id]);
    match conn.optional_row(&sql).await? {
        Some(row) => Ok(Some(QueueInfo {
            id: row.int("id")?,
            kind: row.text("kind")?,
            vertical_id: row.opt_int("vertical_id")?,
        })),
        None => Ok(None),
    }
}

/// The queue of `kind` for a lead of `vertical_id`: the vertical's own queue of that kind (the
/// lowest id if there are several), else one that belongs to no vertical.
pub async fn of_kind(conn: &mut impl Exec, kind: &str, vertical_id: Option<i64>) -> Result<Option<i64>> {
    let sql = Sql::fixed(
        "SELECT id FROM queues WHERE kind = $1 AND (vertical_id = $2 OR vertical_id IS NULL) \
         ORDER BY CASE WHEN vertical_id IS NULL THEN 1 ELSE 0 END, id LIMIT 1",
        crate::args![kind, vertical_id],
    );
    conn.optional_row(&sql).await?.map(|row| row.int("id")).transpose()
}
