//! The SQL both archive backends run: statements are written once, in SQLite's spelling
//! (`?1` placeholders, `INSERT OR IGNORE`), with arguments as [`Arg`]s; the PostgreSQL
//! backend rewrites the spelling (see [`postgres_sql`]). Both schemas use 64-bit integers,
//! doubles and text, so one argument type binds on either.

use std::borrow::Cow;

/// One statement argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// A value no column can hold (an unsigned integer over `i64::MAX`): binding it fails, so
    /// the op is refused and kept aside rather than stored wrong.
    OutOfRange(u64),
}

/// Why an [`Arg::OutOfRange`] did not bind.
#[derive(Debug, thiserror::Error)]
#[error("{0} does not fit a signed 64-bit integer column")]
pub struct OutOfRange(pub u64);

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Real(v)
    }
}

/// A connection (or transaction) that runs the archive's write statements.
pub trait Db {
    type Error;
    /// Runs one statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<usize, Self::Error>;
}

/// `args![a, b, ...]`: statement arguments, each borrowed (records are never moved out of).
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($crate::sinks::archive::sql::ToArg::to_arg(&$a)),*] };
}
pub(crate) use args;

/// A value a statement argument is made from.
pub trait ToArg {
    fn to_arg(&self) -> Arg;
}

impl ToArg for str {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_string())
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.clone())
    }
}
impl ToArg for i64 {
    fn to_arg(&self) -> Arg {
        Arg::Int(*self)
    }
}
impl ToArg for u64 {
    fn to_arg(&self) -> Arg {
        i64::try_from(*self).map_or(Arg::OutOfRange(*self), Arg::Int)
    }
}
impl ToArg for u32 {
    fn to_arg(&self) -> Arg {
        Arg::Int((*self).into())
    }
}
impl ToArg for usize {
    fn to_arg(&self) -> Arg {
        (*self as u64).to_arg()
    }
}
impl ToArg for f64 {
    fn to_arg(&self) -> Arg {
        Arg::Real(*self)
    }
}
impl ToArg for bool {
    fn to_arg(&self) -> Arg {
        Arg::Int((*self).into())
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg {
        self.as_ref().map_or(Arg::Null, ToArg::to_arg)
    }
}
impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg {
        (**self).to_arg()
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        if let Arg::OutOfRange(v) = self {
            return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(
                OutOfRange(*v),
            )));
        }
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Null => ValueRef::Null,
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Real(f) => ValueRef::Real(*f),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::OutOfRange(_) => ValueRef::Null,
        }))
    }
}

impl From<Arg> for rusqlite::types::Value {
    fn from(a: Arg) -> rusqlite::types::Value {
        use rusqlite::types::Value;
        match a {
            Arg::Null => Value::Null,
            Arg::Int(i) => Value::Integer(i),
            Arg::Real(f) => Value::Real(f),
            Arg::Text(s) => Value::Text(s),
            // Only values the reader builds itself are converted: never out of range.
            Arg::OutOfRange(v) => Value::Integer(v as i64),
        }
    }
}

/// A SQLite connection (a transaction or savepoint derefs to one) running statements from
/// its prepared-statement cache.
pub struct Sqlite<'a>(pub &'a rusqlite::Connection);

impl Db for Sqlite<'_> {
    type Error = rusqlite::Error;
    fn exec(&mut self, sql: &str, args: &[Arg]) -> rusqlite::Result<usize> {
        self.0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args))
    }
}

/// `sql` in PostgreSQL's spelling: `?N` placeholders become `$N`, and `INSERT OR IGNORE`
/// becomes `INSERT ... ON CONFLICT DO NOTHING`. Placeholders are never inside the
/// statements' string literals, which are fixed text.
pub fn postgres_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') && !sql.contains("INSERT OR IGNORE") {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 24);
    let ignore = sql.contains("INSERT OR IGNORE");
    let sql = sql.replace("INSERT OR IGNORE", "INSERT");
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' {
            out.push('$');
            if !chars.peek().is_some_and(char::is_ascii_digit) {
                // Bare `?`s number from 1 in order, as SQLite numbers them.
                let n = out.matches('$').count();
                out.push_str(&n.to_string());
            }
        } else {
            out.push(c);
        }
    }
    if ignore {
        out.push_str(" ON CONFLICT DO NOTHING");
    }
    Cow::Owned(out)
}

mod pg {
    use super::Arg;
    use bytes::BytesMut;
    use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
    use std::error::Error;

    /// The column types both schemas use: 64-bit integers (and smaller), booleans, doubles
    /// and text. NUMERIC is left out on purpose: a query summing BIGINTs casts the sum back
    /// to BIGINT, as SQLite's integers are.
    fn plain(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::BOOL
                | Type::FLOAT8
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }

    impl ToSql for Arg {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut BytesMut,
        ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
            match self {
                Arg::Null => Ok(IsNull::Yes),
                Arg::Int(i) => match *ty {
                    Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                    Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                    Type::BOOL => (*i != 0).to_sql(ty, out),
                    Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                    _ => i.to_sql(ty, out),
                },
                Arg::Real(f) => f.to_sql(ty, out),
                Arg::Text(s) => s.as_str().to_sql(ty, out),
                Arg::OutOfRange(v) => Err(Box::new(super::OutOfRange(*v))),
            }
        }

        fn accepts(ty: &Type) -> bool {
            plain(ty)
        }

        to_sql_checked!();
    }

    impl<'a> FromSql<'a> for Arg {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Arg, Box<dyn Error + Sync + Send>> {
            Ok(match *ty {
                Type::INT2 => Arg::Int(i16::from_sql(ty, raw)?.into()),
                Type::INT4 => Arg::Int(i32::from_sql(ty, raw)?.into()),
                Type::INT8 => Arg::Int(i64::from_sql(ty, raw)?),
                Type::BOOL => Arg::Int(bool::from_sql(ty, raw)?.into()),
                Type::FLOAT4 => Arg::Real(f32::from_sql(ty, raw)?.into()),
                Type::FLOAT8 => Arg::Real(f64::from_sql(ty, raw)?),
                _ => Arg::Text(String::from_sql(ty, raw)?),
            })
        }

        fn from_sql_null(_: &Type) -> Result<Arg, Box<dyn Error + Sync + Send>> {
            Ok(Arg::Null)
        }

        fn accepts(ty: &Type) -> bool {
            plain(ty) || *ty == Type::FLOAT4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_respelt_for_postgres() {
        let table = [
            ("SELECT 1", "SELECT 1"),
            (
                "UPDATE calls SET ended_at = ?2 WHERE id = ?1",
                "UPDATE calls SET ended_at = $2 WHERE id = $1",
            ),
            (
                "INSERT OR IGNORE INTO t (a, b) VALUES (?1, ?2)",
                "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            ),
            (
                "SELECT x FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\'",
                "SELECT x FROM t WHERE a = $1 AND b LIKE $2 ESCAPE '\\'",
            ),
            ("?12", "$12"),
        ];
        for (sqlite, pg) in table {
            assert_eq!(postgres_sql(sqlite), pg, "{sqlite}");
        }
    }

    #[test]
    fn arguments_convert_from_what_records_hold() {
        let none: Option<&str> = None;
        assert_eq!(
            args![
                1i64,
                "a",
                2.5,
                true,
                none,
                Some(3u64),
                Some("q".to_string())
            ],
            [
                Arg::Int(1),
                Arg::Text("a".into()),
                Arg::Real(2.5),
                Arg::Int(1),
                Arg::Null,
                Arg::Int(3),
                Arg::Text("q".into())
            ]
        );
    }
}
