//! A small builder for statements whose shape depends on the request (filters, column lists),
//! numbering parameters `$1, $2, …` as both backends accept them.

use sqlx::database::HasStatementCache;
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

/// A typed parameter. The type matters even for NULL: PostgreSQL checks a NULL's declared type
/// against the column it is written to.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlArg {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Parameters from the values a store function holds, so a statement reads
/// `Sql::fixed(TEXT, args![id, name, at])`.
macro_rules! from_value {
    ($($ty:ty => $variant:ident $(via $conv:expr)?),* $(,)?) => {$(
        impl From<$ty> for SqlArg {
            fn from(value: $ty) -> SqlArg {
                SqlArg::$variant(from_value!(@conv value $(, $conv)?))
            }
        }
    )*};
    (@conv $value:ident) => { $value };
    (@conv $value:ident, $conv:expr) => { $conv($value) };
}

from_value! {
    i64 => Int via Some,
    Option<i64> => Int,
    bool => Bool via Some,
    Option<bool> => Bool,
    String => Text via Some,
    Option<String> => Text,
    &str => Text via |v: &str| Some(v.to_string()),
    &String => Text via |v: &String| Some(v.clone()),
    Option<&str> => Text via |v: Option<&str>| v.map(str::to_string),
    &[u8] => Bytes via |v: &[u8]| Some(v.to_vec()),
}

/// `[SqlArg; N]` from values of the types [`SqlArg`] converts from, for [`Sql::fixed`].
#[macro_export]
macro_rules! args {
    () => { [] as [$crate::SqlArg; 0] };
    ($($value:expr),+ $(,)?) => { [$($crate::SqlArg::from($value)),+] };
}

#[derive(Debug, Default)]
pub struct Sql {
    text: String,
    args: Vec<SqlArg>,
    /// Planned afresh on each run through sqlx (see [`Sql::planned_per_run`]).
    per_run: bool,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), args: Vec::new(), per_run: false }
    }

    /// A statement written out in full, its `$n` parameters bound to `args` in order.
    pub fn fixed(text: &str, args: impl IntoIterator<Item = SqlArg>) -> Sql {
        Sql { text: text.to_string(), args: args.into_iter().collect(), per_run: false }
    }

    /// Not kept prepared by sqlx. PostgreSQL plans a kept statement once for any values after a
    /// few runs, and for a long `IN (…)` list beside a selective column that generic plan can
    /// read a whole campaign where the values' own plan probes an index. (SQLite's plans do not
    /// depend on the values, so the direct writer keeps such statements prepared.)
    pub fn planned_per_run(mut self) -> Sql {
        self.per_run = true;
        self
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a `$n` placeholder for `arg`.
    pub fn bind(&mut self, arg: SqlArg) -> &mut Self {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The statement's first words, for a span or a log line: enough to tell statements apart,
    /// never a parameter's value (those are bound, not in the text). Cut only when shown.
    pub fn summary(&self) -> Summary<'_> {
        Summary(&self.text)
    }

    pub fn args(&self) -> &[SqlArg] {
        &self.args
    }

    /// The statement with its arguments bound, for a sqlx connection of any backend.
    pub(crate) fn query<'q, DB>(&'q self) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        DB: Database + HasStatementCache,
        Option<i64>: Encode<'q, DB> + Type<DB>,
        Option<bool>: Encode<'q, DB> + Type<DB>,
        Option<&'q str>: Encode<'q, DB> + Type<DB>,
        Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    {
        let mut query = sqlx::query(&self.text).persistent(!self.per_run);
        for arg in &self.args {
            query = match arg {
                SqlArg::Int(v) => query.bind(*v),
                SqlArg::Bool(v) => query.bind(*v),
                SqlArg::Text(v) => query.bind(v.as_deref()),
                SqlArg::Bytes(v) => query.bind(v.as_deref()),
            };
        }
        query
    }
}

/// A statement's first 80 characters, as [`Sql::summary`] shows it.
pub struct Summary<'a>(&'a str);

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const KEEP: usize = 80;
        match self.0.char_indices().nth(KEEP) {
            Some((end, _)) => f.write_str(&self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}
