//! Prepared statements on the direct writer whose text values SQLite reads where they are,
//! instead of copying them.
//!
//! rusqlite binds every text with `SQLITE_TRANSIENT`: SQLite allocates a copy of each one at
//! the bind and frees it when the bindings are cleared. For the list import's multi-row
//! inserts (46 values a lead, 32 leads a statement) the copies and frees were a sixth of the
//! writer's instructions. A [`Borrowed`] statement binds texts with `SQLITE_STATIC`, which is
//! sound only while SQLite never reads a text after it is gone: [`Borrowed::execute`] takes
//! values that outlive the call, and binds, steps and clears the bindings before it returns.

use std::ffi::{c_int, CStr};
use std::ptr::{null_mut, NonNull};

use rusqlite::{ffi, Connection};

/// A value bound to one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Value<'a> {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(int: Option<i64>) -> Self {
        int.map_or(Value::Null, Value::Int)
    }
}

/// A statement prepared on `conn` and finalized when dropped.
pub(crate) struct Borrowed<'c> {
    conn: &'c Connection,
    raw: NonNull<ffi::sqlite3_stmt>,
}

impl<'c> Borrowed<'c> {
    /// Prepares the first statement of `sql` (the rest of the text is ignored).
    pub(crate) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Borrowed<'c>> {
        let length = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), Some("statement text too long".into()))
        })?;
        let mut raw = null_mut();
        // SAFETY: the handle is the live connection's; the text's length is passed, so it need
        // not end in NUL; `raw` receives the statement or stays null.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast(),
                length,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut raw,
                null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(failure(conn, code));
        }
        let raw = NonNull::new(raw).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), Some("empty statement".into()))
        })?;
        Ok(Borrowed { conn, raw })
    }

    /// Binds `values` to parameters 1, 2, … in order, runs the statement to its end and returns
    /// how many rows it changed (for an `INSERT`, `UPDATE` or `DELETE`). The bindings are cleared before this returns, whether it
    /// succeeded or not, so no bound text is read after the call.
    pub(crate) fn execute<'v>(&mut self, values: impl IntoIterator<Item = Value<'v>>) -> rusqlite::Result<usize> {
        let statement = self.raw.as_ptr();
        // Cleared on every way out of this call, a panic in the caller's iterator included.
        let _cleared = ClearedOnDrop(statement);
        self.bind_and_step(statement, values)
    }

    fn bind_and_step<'v>(
        &self,
        statement: *mut ffi::sqlite3_stmt,
        values: impl IntoIterator<Item = Value<'v>>,
    ) -> rusqlite::Result<usize> {
        for (index, value) in (1..).zip(values) {
            // SAFETY: the statement is live. A text is bound as SQLITE_STATIC (no destructor):
            // it outlives this call, and `execute` clears the bindings before returning.
            let code = unsafe {
                match value {
                    // Already NULL: a new statement's parameters are, and `execute` clears them
                    // after every run. (A new lead's row is half NULLs.)
                    Value::Null => continue,
                    Value::Int(int) => ffi::sqlite3_bind_int64(statement, index, int),
                    Value::Text(text) => ffi::sqlite3_bind_text64(
                        statement,
                        index,
                        text.as_ptr().cast(),
                        text.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as _,
                    ),
                }
            };
            if code != ffi::SQLITE_OK {
                return Err(failure(self.conn, code));
            }
        }
        loop {
            // SAFETY: the statement is live and every parameter it reads is bound or NULL.
            match unsafe { ffi::sqlite3_step(statement) } {
                ffi::SQLITE_DONE => break,
                ffi::SQLITE_ROW => continue,
                code => return Err(failure(self.conn, code)),
            }
        }
        // SAFETY: the handle is the live connection's.
        let changed = unsafe { ffi::sqlite3_changes64(self.conn.handle()) };
        Ok(usize::try_from(changed).unwrap_or(0))
    }
}

/// Resets a statement and clears its bindings when dropped: after that SQLite holds no pointer
/// to a text bound in place, whichever way the run ended.
struct ClearedOnDrop(*mut ffi::sqlite3_stmt);

impl Drop for ClearedOnDrop {
    fn drop(&mut self) {
        // SAFETY: the statement is live (its `Borrowed` is borrowed for the run this guards);
        // resetting and clearing it ends every use of the texts bound in the run. Their codes
        // repeat the step's, already taken.
        unsafe {
            ffi::sqlite3_reset(self.0);
            ffi::sqlite3_clear_bindings(self.0);
        }
    }
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on this connection, which outlives it, and is
        // finalized only here.
        unsafe {
            ffi::sqlite3_finalize(self.raw.as_ptr());
        }
    }
}

/// The error SQLite reported for `code`, with its message, as rusqlite reports its own.
fn failure(conn: &Connection, code: c_int) -> rusqlite::Error {
    // SAFETY: the handle is the live connection's; the message is copied out before any other
    // call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(conn.handle());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)").unwrap();
        conn
    }

    /// The rows of `t` in id order.
    fn stored(conn: &Connection) -> Vec<(i64, Option<String>, Option<i64>)> {
        conn.prepare("SELECT id, name, n FROM t ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn texts_bound_in_place_are_stored_whole_after_their_owner_is_gone() {
        let conn = connection();
        let mut insert =
            Borrowed::prepare(&conn, "INSERT INTO t (id, name, n) VALUES (?1, ?2, ?3), (?4, ?5, ?6)").unwrap();
        for round in 0..3_i64 {
            // Fresh strings each round, dropped after the call: what SQLite stored must be
            // its own copy, written at the step.
            let names = [format!("first {round}"), format!("second {round}")];
            let values = [
                Value::Int(round * 2 + 1),
                Value::Text(&names[0]),
                Value::Null,
                Value::Int(round * 2 + 2),
                Value::Text(&names[1]),
                Value::Int(round),
            ];
            assert_eq!(insert.execute(values).unwrap(), 2);
        }
        let rows = stored(&conn);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[4], (5, Some("first 2".to_string()), None));
        assert_eq!(rows[5], (6, Some("second 2".to_string()), Some(2)));
    }

    #[test]
    fn a_refusal_comes_back_with_its_extended_code_and_the_statement_stays_usable() {
        let conn = connection();
        let mut insert = Borrowed::prepare(&conn, "INSERT INTO t (id, name) VALUES (?1, ?2)").unwrap();
        insert.execute([Value::Int(1), Value::Text("taken")]).unwrap();
        let error = insert.execute([Value::Int(2), Value::Text("taken")]).unwrap_err();
        match error {
            rusqlite::Error::SqliteFailure(failure, Some(message)) => {
                assert_eq!(failure.extended_code, ffi::SQLITE_CONSTRAINT_UNIQUE);
                assert!(message.contains("t.name"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(insert.execute([Value::Int(2), Value::Text("free")]).unwrap(), 1);
    }

    #[test]
    fn a_null_after_a_value_is_stored_as_null_whether_the_run_before_succeeded_or_not() {
        let conn = connection();
        let mut insert = Borrowed::prepare(&conn, "INSERT INTO t (id, name, n) VALUES (?1, ?2, ?3)").unwrap();
        insert.execute([Value::Int(1), Value::Text("one"), Value::Int(10)]).unwrap();
        insert.execute([Value::Int(2), Value::Null, Value::Null]).unwrap();
        assert!(insert.execute([Value::Int(3), Value::Text("one"), Value::Int(30)]).is_err(), "name is taken");
        insert.execute([Value::Int(4), Value::Null, Value::Null]).unwrap();
        assert_eq!(stored(&conn), [(1, Some("one".into()), Some(10)), (2, None, None), (4, None, None)]);
    }

    #[test]
    fn a_caller_that_panics_mid_bind_leaves_no_text_bound() {
        let conn = connection();
        let mut insert = Borrowed::prepare(&conn, "INSERT INTO t (id, name, n) VALUES (?1, ?2, ?3)").unwrap();
        // Alive throughout, so a binding left behind would be read back rather than dangle.
        let left_behind = String::from("bound before the panic");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let values = [Value::Int(1), Value::Text(&left_behind)]
                .into_iter()
                .chain(std::iter::once_with(|| panic!("the caller fails while binding")));
            let _ = insert.execute(values);
        }));
        assert!(panicked.is_err());
        // NULLs are not bound (they rely on the bindings having been cleared).
        insert.execute([Value::Int(2), Value::Null, Value::Null]).unwrap();
        assert_eq!(stored(&conn), [(2, None, None)]);
    }

    #[test]
    fn a_statement_that_does_not_parse_is_an_error() {
        let conn = connection();
        assert!(Borrowed::prepare(&conn, "INSERT INTO nowhere VALUES (?1)").is_err());
        assert!(Borrowed::prepare(&conn, "  ").is_err());
    }
}
