//! The archive in PostgreSQL (`[archive] url = "postgres://user@host/db"`), for clusters
//! whose nodes share one archive. It runs the same write statements as the SQLite archive
//! (see [`sql`](super::sql)) and the same search plan with `pg_trgm` indexes.
//!
//! Blocking, like the SQLite archive: one writer connection applies batches of ops, and
//! queries take connections from an `r2d2` pool; async handlers call it from
//! `spawn_blocking`.

mod schema;

pub use schema::SCHEMA_VERSION;

use super::error::ArchiveError;
use super::record::ArchiveOp;
use super::rows::{Exec, Read, Row};
use super::sql::{postgres_sql, Arg, Db};
use super::store;
use super::target::{CommitError, Target};
use super::writer::StorageFault;
use postgres::config::SslMode;
use postgres::types::ToSql;
use postgres::Statement;
use r2d2_postgres::PostgresConnectionManager;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Connections kept for queries.
const POOL_SIZE: u32 = 8;
/// How long a query waits for a pooled connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL archive. Cheap to share behind an `Arc`; queries run on pooled connections.
pub struct PgArchive {
    pool: r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>,
    writer: Mutex<Option<Writer>>,
    config: postgres::Config,
    tls: MakeRustlsConnect,
    url: String,
}

/// The writer's own connection and its prepared statements.
struct Writer {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

/// A transaction running the archive's statements, prepared once per connection.
struct Pg<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Db for Pg<'_, '_> {
    type Error = postgres::Error;
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<usize, postgres::Error> {
        let stmt = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.tx.prepare(&postgres_sql(sql))?;
                self.statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        Ok(self.tx.execute(&stmt, &params(args))? as usize)
    }
}

/// Runs `f`, which blocks on the `postgres` client's own runtime, where that is allowed: a
/// thread inside a tokio runtime (an async handler, a source checking a call id) hands its
/// tasks over first (multi-threaded runtime) or lends the work to a scoped thread.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// An error and its causes, outermost first: a TLS failure says why the certificate failed.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// The CA certificates of the PEM file at `path`.
fn roots(path: &Path) -> Result<rustls::RootCertStore, ArchiveError> {
    let bad = |why: String| {
        ArchiveError::PostgresSetup(format!(
            "[archive] ca_file {}: {why}; give the PEM of the CA that signed the PostgreSQL server's certificate",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// `url` without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    if !url.contains("://") {
        // key=value form.
        return url
            .split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Whether a failed op is the op's own fault (kept in `rejected_ops`) rather than the
/// server's or the network's (the batch is retried): data and integrity errors, and
/// statements the server cannot run with these values.
fn is_permanent(e: &postgres::Error) -> bool {
    let refused = e.code().is_some_and(|c| {
        let class = &c.code()[..2];
        matches!(class, "22" | "23" | "42")
    });
    let unbindable = std::error::Error::source(e)
        .is_some_and(|s| s.downcast_ref::<super::sql::OutOfRange>().is_some());
    refused || unbindable
}

impl PgArchive {
    /// Connects to `url`, creating or migrating the schema as needed, without a CA for TLS:
    /// see [`PgArchive::open_with`].
    pub fn open(url: &str) -> Result<PgArchive, ArchiveError> {
        PgArchive::open_with(url, None)
    }

    /// Connects to `url`, creating or migrating the schema as needed. With `sslmode=require`
    /// in the URL the connection is TLS, and the server's certificate must chain to the PEM
    /// `ca_file` and name the host. Without `sslmode` (or with `prefer`), TLS is used when a
    /// `ca_file` is given, and otherwise the connection is plain TCP (logged: transcripts then
    /// cross the network readable).
    pub fn open_with(url: &str, ca_file: Option<&Path>) -> Result<PgArchive, ArchiveError> {
        off_runtime(|| PgArchive::open_here(url, ca_file))
    }

    fn open_here(url: &str, ca_file: Option<&Path>) -> Result<PgArchive, ArchiveError> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            ArchiveError::PostgresSetup(format!(
                "[archive] url {} is not a PostgreSQL URL ({e}); write it like \
                 postgres://callwatch@db.internal/callwatch?sslmode=require",
                redacted(url)
            ))
        })?;
        let roots = match ca_file {
            Some(path) => roots(path)?,
            None => rustls::RootCertStore::empty(),
        };
        match (config.get_ssl_mode(), ca_file) {
            (SslMode::Require, None) => {
                return Err(ArchiveError::PostgresSetup(format!(
                    "[archive] url {} asks for sslmode=require, but no CA file is set to check \
                     the server's certificate against; set [archive] ca_file to the PEM of the \
                     CA that signed it",
                    redacted(url)
                )))
            }
            (SslMode::Prefer, Some(_)) => {
                config.ssl_mode(SslMode::Require);
            }
            (SslMode::Prefer, None) => {
                tracing::warn!(url = %redacted(url), "the PostgreSQL archive connection is not encrypted; use sslmode=require and [archive] ca_file");
                config.ssl_mode(SslMode::Disable);
            }
            _ => {}
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ArchiveError::PostgresSetup(format!("TLS settings: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = MakeRustlsConnect::new(client_config);
        let mut client =
            config
                .connect(tls.clone())
                .map_err(|e| ArchiveError::PostgresConnect {
                    url: redacted(url),
                    reason: causes(&e),
                })?;
        schema::migrate(&mut client, url)?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(CONNECT_TIMEOUT)
            .build(PostgresConnectionManager::new(config.clone(), tls.clone()))?;
        Ok(PgArchive {
            pool,
            writer: Mutex::new(Some(Writer {
                client,
                statements: HashMap::new(),
            })),
            config,
            tls,
            url: redacted(url),
        })
    }

    /// The URL it was opened with, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes `ops` in one transaction; an op the database refuses for good is kept in
    /// `rejected_ops` with the reason instead. Returns how many were refused. On a server or
    /// network error nothing is written and the error is returned, so the batch can be retried
    /// whole (every statement is idempotent).
    pub fn write(&self, ops: &[ArchiveOp]) -> Result<u64, ArchiveError> {
        Ok(off_runtime(|| self.commit(ops, None))?)
    }

    /// [`PgArchive::write`], recording in the same transaction that a spill journal was
    /// replayed up to `replayed`.
    fn commit(
        &self,
        ops: &[ArchiveOp],
        replayed: Option<(&str, u64)>,
    ) -> Result<u64, postgres::Error> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = match guard.as_mut() {
            Some(w) if !w.client.is_closed() => w,
            _ => guard.insert(Writer {
                client: self.config.connect(self.tls.clone())?,
                statements: HashMap::new(),
            }),
        };
        let record = |tx: &mut postgres::Transaction<'_>| -> Result<(), postgres::Error> {
            if let Some((journal, line)) = replayed {
                tx.execute(
                    "INSERT INTO journal_replay (journal, line) VALUES ($1, $2)
                     ON CONFLICT (journal) DO UPDATE SET line = excluded.line",
                    &[&journal, &(line as i64)],
                )?;
            }
            Ok(())
        };
        // Most batches hold no bad op: written straight, without a savepoint per op (each
        // costs two round trips). A refusal undoes the batch, which is then written op by op.
        let mut tx = writer.client.transaction()?;
        let whole = ops.iter().try_for_each(|op| {
            store::apply(
                &mut Pg {
                    tx: &mut tx,
                    statements: &mut writer.statements,
                },
                op,
            )
        });
        match whole {
            Ok(()) => {
                record(&mut tx)?;
                tx.commit()?;
                return Ok(0);
            }
            Err(e) if is_permanent(&e) => drop(tx),
            Err(e) => return Err(e),
        }
        let mut tx = writer.client.transaction()?;
        let mut rejected = 0;
        for op in ops {
            let mut sp = tx.transaction()?;
            let mut db = Pg {
                tx: &mut sp,
                statements: &mut writer.statements,
            };
            match store::apply(&mut db, op) {
                Ok(()) => sp.commit()?,
                Err(e) if is_permanent(&e) => {
                    drop(sp);
                    tracing::error!(error = %e, op = op.kind(), "archive refused an op; kept in rejected_ops");
                    let mut db = Pg {
                        tx: &mut tx,
                        statements: &mut writer.statements,
                    };
                    store::reject(&mut db, op, &e.to_string())?;
                    rejected += 1;
                }
                Err(e) => return Err(e),
            }
        }
        record(&mut tx)?;
        tx.commit()?;
        Ok(rejected)
    }

    /// Runs `f` in one read-only snapshot (repeatable read) on a pooled connection, each
    /// statement stopped after `limit`.
    pub(crate) fn snapshot<T: Send>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut dyn Read) -> Result<T, ArchiveError> + Send,
    ) -> Result<T, ArchiveError> {
        off_runtime(|| self.snapshot_here(limit, f))
    }

    fn snapshot_here<T>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut dyn Read) -> Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let ms = limit.as_millis().max(1);
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))?;
        let out = f(&mut PgRead(&mut tx)).map_err(|e| match e {
            ArchiveError::Postgres(p)
                if p.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) =>
            {
                ArchiveError::QueryTimeout(limit)
            }
            other => other,
        })?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one read-write transaction on a pooled connection, committed when `f`
    /// returns `Ok` (the users and audit store of a cluster lives here).
    /// `f` may fail with an error of its own (`E`), returned as it is.
    pub fn transaction<T: Send, E: From<ArchiveError> + Send>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        off_runtime(|| {
            let mut conn = self.pool.get().map_err(ArchiveError::from)?;
            let mut tx = conn.transaction().map_err(ArchiveError::from)?;
            let out = f(&mut PgRead(&mut tx))?;
            tx.commit().map_err(ArchiveError::from)?;
            Ok(out)
        })
    }

    /// Refreshes the planner's statistics (autovacuum does this on its own after enough
    /// writes; a bulk import or a benchmark asks at once).
    pub fn analyze(&self) -> Result<(), ArchiveError> {
        off_runtime(|| -> Result<(), ArchiveError> {
            Ok(self.pool.get()?.batch_execute("ANALYZE")?)
        })?;
        Ok(())
    }
}

/// The archive writer's target when `[archive] url` names PostgreSQL.
pub(super) struct PgTarget(pub Arc<PgArchive>);

impl Target for PgTarget {
    fn commit(
        &mut self,
        batch: &[ArchiveOp],
        replayed: Option<(&str, u64)>,
    ) -> Result<u64, CommitError> {
        self.0.commit(batch, replayed).map_err(commit_error)
    }

    fn replayed(&mut self, journal: &str) -> Result<u64, CommitError> {
        let line = self
            .0
            .snapshot(Duration::from_secs(30), |db| {
                db.value::<i64>(
                    "SELECT line FROM journal_replay WHERE journal = ?1",
                    &[Arg::Text(journal.to_string())],
                )
            })
            .map_err(|e| CommitError {
                message: e.to_string(),
                fault: Some(StorageFault::Unreachable),
            })?;
        Ok(line.unwrap_or(0).max(0) as u64)
    }

    fn forget(&mut self, journal: &str) {
        let journal = journal.to_string();
        if let Ok(mut c) = self.0.pool.get() {
            let _ = c.execute("DELETE FROM journal_replay WHERE journal = $1", &[&journal]);
        }
    }
}

/// A failed commit with its storage fault: a server that is full, read-only or damaged
/// says so; conflicts pass by themselves; anything else (refused connection, network,
/// restart, authentication) is an unreachable archive.
fn commit_error(e: postgres::Error) -> CommitError {
    use postgres::error::SqlState;
    let fault = match e.code() {
        Some(c) if *c == SqlState::DISK_FULL => Some(StorageFault::DiskFull),
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => Some(StorageFault::ReadOnly),
        Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
            Some(StorageFault::Corrupt)
        }
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            None
        }
        _ => Some(StorageFault::Unreachable),
    };
    CommitError {
        message: causes(&e),
        fault,
    }
}

/// A read transaction running the reader's queries.
struct PgRead<'a, 'b>(&'a mut postgres::Transaction<'b>);

impl Exec for PgRead<'_, '_> {
    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<usize, ArchiveError> {
        Ok(self.0.execute(&*postgres_sql(sql), &params(args))? as usize)
    }
}

impl Read for PgRead<'_, '_> {
    fn rows(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, ArchiveError> {
        let rows = self.0.query(&*postgres_sql(sql), &params(args))?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Arg>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(ArchiveError::from)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        let table = [
            (
                "postgres://cw:s3cret@db.internal:5432/callwatch",
                "postgres://cw:***@db.internal:5432/callwatch",
            ),
            ("postgres://cw@db/callwatch", "postgres://cw@db/callwatch"),
            ("host=db user=cw", "host=db user=cw"),
            ("host=db password=x user=cw", "host=db password=*** user=cw"),
        ];
        for (url, shown) in table {
            assert_eq!(redacted(url), shown);
        }
    }
}
