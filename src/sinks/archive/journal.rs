//! The spill journal: where archive ops go while the database cannot take them (disk full,
//! read-only, corrupt), so the writer's queue stays drained, live calls go on and nothing is
//! held in memory. It lies next to the database (`callwatch.db.spill.jsonl`): a header line
//! naming the journal, then one JSON op per line, synced to disk before the ops count as kept.
//! It is replayed in order once the database takes writes again, or at the next start; the
//! database records how far each journal was replayed in the transaction that applies it, so
//! a crash during replay neither loses nor repeats an op.
//!
//! A full disk would leave no room for the journal either, so a reserve file of a few MiB is
//! kept beside it and given up the moment the journal cannot grow.

use super::record::ArchiveOp;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Reserve kept for the journal by default: about 10,000 transcript ops.
pub const DEFAULT_RESERVE_BYTES: u64 = 16 << 20;

/// Longest journal line read back (a corrupt line must not take the memory).
const MAX_LINE: u64 = 4 << 20;

#[derive(Serialize, Deserialize)]
struct Header {
    journal: String,
}

/// The journal of one archive database.
pub(super) struct Journal {
    path: PathBuf,
    reserve: PathBuf,
    reserve_bytes: u64,
    /// The journal's name while it exists.
    id: Option<String>,
    /// Append handle, opened on first use.
    file: Option<File>,
    /// Op lines in the file.
    lines: u64,
}

/// Where the journal of the database at `db` lives.
pub fn journal_path(db: &Path) -> PathBuf {
    with_suffix(db, ".spill.jsonl")
}

fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}

/// One op read back, with its line number (1 for the first op).
pub(super) type Entry = (u64, ArchiveOp);

/// What reading a journal found besides its ops.
#[derive(Debug, Default)]
pub(super) struct ReadReport {
    /// Lines that are not an op (cut short by a crash, or damaged), skipped.
    pub unreadable: u64,
}

impl Journal {
    /// The journal of `db`, taking over one a previous run left; keeps the reserve file.
    pub fn open(db: &Path, reserve_bytes: u64) -> io::Result<Journal> {
        let mut j = Journal {
            path: journal_path(db),
            reserve: with_suffix(db, ".spill.reserve"),
            reserve_bytes,
            id: None,
            file: None,
            lines: 0,
        };
        match File::open(&j.path) {
            Ok(f) => {
                let mut r = BufReader::new(f);
                let mut first = String::new();
                r.read_line(&mut first)?;
                match serde_json::from_str::<Header>(first.trim_end()) {
                    Ok(h) => {
                        j.id = Some(h.journal);
                        j.lines = r.lines().count() as u64;
                    }
                    // Not even its header made it to disk: nothing was kept in it.
                    Err(_) => std::fs::remove_file(&j.path)?,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        j.keep_reserve();
        Ok(j)
    }

    /// Whether ops wait in the journal.
    pub fn pending(&self) -> bool {
        self.id.is_some()
    }

    /// The journal's name, while it exists.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Op lines in the journal.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Appends `ops` and syncs them to disk. When the disk is full the reserve is given up and
    /// the append tried once more. On error nothing counts as appended (a partial line is
    /// skipped when read back).
    pub fn append(&mut self, ops: &[ArchiveOp]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(ops.len() * 512);
        if self.id.is_none() {
            let id = format!(
                "{:x}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            );
            serde_json::to_writer(&mut buf, &Header { journal: id }).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        for op in ops {
            serde_json::to_writer(&mut buf, op).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let result = match self.write(&buf) {
            Err(e) if is_full(&e) && self.give_up_reserve() => self.write(&buf),
            other => other,
        };
        match result {
            Ok(()) => {
                if self.id.is_none() {
                    let first = buf.split(|b| *b == b'\n').next().unwrap_or_default();
                    let h: Header = serde_json::from_slice(first).map_err(io::Error::other)?;
                    self.id = Some(h.journal);
                }
                self.lines += ops.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A failed write may leave part of a line: the next append starts on a new one.
                self.file = None;
                if self.id.is_none() {
                    let _ = std::fs::remove_file(&self.path);
                }
                Err(e)
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            // After a failed write the file may end mid-line; close that line off.
            if self.id.is_some() && !ends_with_newline(&self.path)? {
                f.write_all(b"\n")?;
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(buf)?;
        f.sync_data()
    }

    /// Reads ops after line `after`, at most `max` of them, in order.
    pub fn read(&self, after: u64, max: usize) -> io::Result<(Vec<Entry>, ReadReport)> {
        let mut out = Vec::new();
        let mut report = ReadReport::default();
        let Some(_) = self.id else {
            return Ok((out, report));
        };
        let mut r = BufReader::new(File::open(&self.path)?);
        let mut line = Vec::new();
        // The header.
        read_line(&mut r, &mut line)?;
        let mut n = 0u64;
        while out.len() < max {
            line.clear();
            if read_line(&mut r, &mut line)? == 0 {
                break;
            }
            n += 1;
            if n <= after {
                continue;
            }
            match serde_json::from_slice::<ArchiveOp>(trim_newline(&line)) {
                Ok(op) => out.push((n, op)),
                Err(_) => report.unreadable += 1,
            }
        }
        Ok((out, report))
    }

    /// Removes the journal once everything in it is in the database, and takes the reserve
    /// back.
    pub fn remove(&mut self) -> io::Result<()> {
        self.file = None;
        self.id = None;
        self.lines = 0;
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.keep_reserve();
        Ok(())
    }

    /// Makes sure the reserve file holds its bytes; best effort (a disk already full cannot).
    fn keep_reserve(&self) {
        if self.reserve_bytes == 0 {
            let _ = std::fs::remove_file(&self.reserve);
            return;
        }
        let have = std::fs::metadata(&self.reserve)
            .map(|m| m.len())
            .unwrap_or(0);
        if have >= self.reserve_bytes {
            return;
        }
        let fill = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.reserve)?;
            // Written out rather than set_len: a sparse file reserves nothing.
            let chunk = vec![0u8; 1 << 20];
            let mut left = self.reserve_bytes - have;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                f.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            f.sync_data()
        };
        if let Err(e) = fill() {
            tracing::warn!(error = %e, path = %self.reserve.display(),
                "cannot keep the archive's spill reserve; a full disk would leave the spill journal no room");
            let _ = std::fs::remove_file(&self.reserve);
        }
    }

    /// Frees the reserve for the journal; false when there was none.
    fn give_up_reserve(&self) -> bool {
        let freed = std::fs::remove_file(&self.reserve).is_ok();
        if freed {
            tracing::warn!("disk full: the archive's spill reserve is given to the journal");
        }
        freed
    }
}

fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

fn ends_with_newline(path: &Path) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

/// One line, at most [`MAX_LINE`] bytes of it kept (a longer one cannot be an op).
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    use std::io::Read;
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', line)?;
    if n as u64 == MAX_LINE && line.last() != Some(&b'\n') {
        // Skip the rest of an overlong line.
        let mut sink = Vec::new();
        r.read_until(b'\n', &mut sink)?;
    }
    Ok(n)
}

fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(i: u64) -> ArchiveOp {
        ArchiveOp::CallEnded {
            call_id: format!("c{i}"),
            ended_at: "2026-12-03T00:00:00Z".into(),
            reason: crate::call::EndReason::Bye,
            duration_ms: i,
        }
    }

    #[test]
    fn ops_come_back_in_order_after_a_restart_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut j = Journal::open(&db, 4096).unwrap();
        assert!(!j.pending());
        assert_eq!(
            std::fs::metadata(dir.path().join("a.db.spill.reserve"))
                .unwrap()
                .len(),
            4096
        );
        j.append(&[op(1), op(2)]).unwrap();
        j.append(&[op(3)]).unwrap();
        // A crash in the middle of the next append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(journal_path(&db))
            .unwrap();
        f.write_all(b"{\"CallEnded\":{\"call_").unwrap();
        drop(j);

        let mut j = Journal::open(&db, 4096).unwrap();
        assert!(j.pending());
        j.append(&[op(4)]).unwrap();
        let (all, report) = j.read(0, 100).unwrap();
        let got: Vec<_> = all.iter().map(|(_, o)| o.clone()).collect();
        assert_eq!(got, [op(1), op(2), op(3), op(4)]);
        assert_eq!(report.unreadable, 1);
        let (rest, _) = j.read(2, 1).unwrap();
        assert_eq!(rest, [(3, op(3))]);
        j.remove().unwrap();
        assert!(!journal_path(&db).exists());
        assert!(!Journal::open(&db, 4096).unwrap().pending());
    }

    #[test]
    fn a_journal_without_its_header_held_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        std::fs::write(journal_path(&db), b"{\"jour").unwrap();
        let j = Journal::open(&db, 0).unwrap();
        assert!(!j.pending());
        assert!(!journal_path(&db).exists());
    }
}
