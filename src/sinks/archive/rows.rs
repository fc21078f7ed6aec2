//! Reading rows back on either backend: a query returns [`Row`]s of [`Arg`] values (NULL,
//! integer, real, text), read by column with [`Row::get`]. The reader's queries are written
//! once in SQLite's spelling, as the write statements are (see [`super::sql`]).

use super::error::ArchiveError;
use super::sql::Arg;
use crate::call::Speaker;

/// One row a query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub(super) Vec<Arg>);

/// A Rust value a column is read into; `None` when the column holds another type.
pub trait FromArg: Sized {
    fn from_arg(a: &Arg) -> Option<Self>;
}

impl FromArg for String {
    fn from_arg(a: &Arg) -> Option<String> {
        match a {
            Arg::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromArg for i64 {
    fn from_arg(a: &Arg) -> Option<i64> {
        match a {
            Arg::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromArg for u64 {
    fn from_arg(a: &Arg) -> Option<u64> {
        i64::from_arg(a).and_then(|i| u64::try_from(i).ok())
    }
}
impl FromArg for u32 {
    fn from_arg(a: &Arg) -> Option<u32> {
        i64::from_arg(a).and_then(|i| u32::try_from(i).ok())
    }
}
impl FromArg for usize {
    fn from_arg(a: &Arg) -> Option<usize> {
        i64::from_arg(a).and_then(|i| usize::try_from(i).ok())
    }
}
impl FromArg for f64 {
    fn from_arg(a: &Arg) -> Option<f64> {
        match a {
            Arg::Real(f) => Some(*f),
            // An integral REAL may come back as an integer (SQLite stores it so).
            Arg::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromArg for bool {
    fn from_arg(a: &Arg) -> Option<bool> {
        i64::from_arg(a).map(|i| i != 0)
    }
}
impl FromArg for Arg {
    fn from_arg(a: &Arg) -> Option<Arg> {
        Some(a.clone())
    }
}
impl<T: FromArg> FromArg for Option<T> {
    fn from_arg(a: &Arg) -> Option<Option<T>> {
        match a {
            Arg::Null => Some(None),
            other => T::from_arg(other).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as a `T`; an error names the column and what it held instead.
    pub fn get<T: FromArg>(&self, i: usize) -> Result<T, ArchiveError> {
        let a = self.0.get(i).unwrap_or(&Arg::Null);
        T::from_arg(a).ok_or_else(|| {
            ArchiveError::Column(format!(
                "column {i} holds {}, not a {}",
                kind(a),
                std::any::type_name::<T>()
            ))
        })
    }

    /// Column `i`, JSON text, parsed.
    pub fn json(&self, i: usize) -> Result<serde_json::Value, ArchiveError> {
        let s: String = self.get(i)?;
        serde_json::from_str(&s)
            .map_err(|e| ArchiveError::Column(format!("column {i} is not JSON: {e}")))
    }

    /// Column `i`, a speaker role (an unknown spelling reads as unknown).
    pub fn speaker(&self, i: usize) -> Result<Speaker, ArchiveError> {
        let s: String = self.get(i)?;
        Ok(Speaker::parse(&s).unwrap_or_default())
    }
}

fn kind(a: &Arg) -> &'static str {
    match a {
        Arg::Null => "NULL",
        Arg::Int(_) => "an integer",
        Arg::Real(_) => "a real",
        Arg::Text(_) => "text",
        Arg::OutOfRange(_) => "an out-of-range integer",
    }
}

/// A connection inside one read snapshot.
pub trait Read {
    /// Runs one query (SQLite spelling) and returns its rows.
    fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, ArchiveError>;
}

/// A connection inside one read-write transaction (the users, tokens, sessions and audit
/// store writes through it, on either backend).
pub trait Exec: Read {
    /// Runs one statement (SQLite spelling); returns the rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<usize, ArchiveError>;
}

impl dyn Read + '_ {
    /// Every row of the query, each read by `f`.
    pub fn all<T>(
        &mut self,
        sql: &str,
        args: &[Arg],
        f: impl FnMut(&Row) -> Result<T, ArchiveError>,
    ) -> Result<Vec<T>, ArchiveError> {
        self.rows(sql, args)?.iter().map(f).collect()
    }

    /// The first row of the query, read by `f`, if any.
    pub fn one<T>(
        &mut self,
        sql: &str,
        args: &[Arg],
        f: impl FnOnce(&Row) -> Result<T, ArchiveError>,
    ) -> Result<Option<T>, ArchiveError> {
        self.rows(sql, args)?.first().map(f).transpose()
    }

    /// Column 0 of the first row, if any.
    pub fn value<T: FromArg>(
        &mut self,
        sql: &str,
        args: &[Arg],
    ) -> Result<Option<T>, ArchiveError> {
        self.one(sql, args, |r| r.get(0))
    }

    /// Whether the query returns a row.
    pub fn exists(&mut self, sql: &str, args: &[Arg]) -> Result<bool, ArchiveError> {
        Ok(!self.rows(sql, args)?.is_empty())
    }
}

/// A SQLite connection (or transaction) reading through its prepared-statement cache.
pub struct SqliteRead<'a>(pub &'a rusqlite::Connection);

impl Exec for SqliteRead<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<usize, ArchiveError> {
        Ok(self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args))?)
    }
}

impl Read for SqliteRead<'_> {
    fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, ArchiveError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.0.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Arg::Null,
                    ValueRef::Integer(v) => Arg::Int(v),
                    ValueRef::Real(v) => Arg::Real(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Arg::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_as_what_they_hold_and_say_so_otherwise() {
        let row = Row(vec![
            Arg::Int(3),
            Arg::Null,
            Arg::Text("a".into()),
            Arg::Real(1.5),
            Arg::Int(-1),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert_eq!(row.get::<f64>(0).unwrap(), 3.0);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<Option<String>>(2).unwrap().as_deref(), Some("a"));
        assert_eq!(row.get::<f64>(3).unwrap(), 1.5);
        let e = row.get::<String>(0).unwrap_err().to_string();
        assert!(e.contains("column 0 holds an integer"), "{e}");
        assert!(row.get::<u64>(4).is_err(), "negative is no u64");
        assert!(row.get::<String>(1).is_err(), "NULL is no String");
        assert!(
            row.get::<Option<i64>>(9).unwrap().is_none(),
            "past the end reads NULL"
        );
    }
}
