//! Call-center queues: finding the queue an action moves a lead into.

use sqlx::Row;

use crate::{Conn, Result};

/// A queue's kind and vertical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub id: i64,
    pub kind: String,
    pub vertical_id: Option<i64>,
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<QueueInfo>> {
    let row = sqlx::query("SELECT id, kind, vertical_id FROM queues WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(QueueInfo {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            vertical_id: row.try_get("vertical_id")?,
        })),
        None => Ok(None),
    }
}

/// The queue of `kind` for a lead of `vertical_id`: the vertical's own queue of that kind (the
/// lowest id if there are several), else one that belongs to no vertical.
pub async fn of_kind(conn: &mut Conn, kind: &str, vertical_id: Option<i64>) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT id FROM queues WHERE kind = $1 AND (vertical_id = $2 OR vertical_id IS NULL) \
         ORDER BY CASE WHEN vertical_id IS NULL THEN 1 ELSE 0 END, id LIMIT 1",
    )
    .bind(kind)
    .bind(vertical_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.try_get::<i64, _>(0)).transpose().map_err(Into::into)
}
