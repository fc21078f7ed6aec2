//! Arbitrary query strings into every archive and event query the HTTP API parses, run
//! against a real archive: never panics, and a query is either answered or refused as a bad
//! query (never a database error from SQL built out of user input).
#![no_main]

use callwatch::http::surge_api::parse_window;
use callwatch::sinks::archive::{
    ArchiveError, ArchiveOp, ArchiveReader, ArchiveWriter, CallFilter, SearchQuery,
};
use callwatch::sinks::events::EventFilter;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One small archive for every run: a call with two utterances.
fn reader() -> &'static ArchiveReader {
    static READER: OnceLock<(tempfile::TempDir, ArchiveReader)> = OnceLock::new();
    &READER
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.db");
            let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
            let ops: Vec<ArchiveOp> = serde_json::from_str(SEED_OPS).unwrap();
            for op in ops {
                tx.send(op).unwrap();
            }
            handle.close().unwrap();
            let reader = ArchiveReader::open(&path).unwrap();
            (dir, reader)
        })
        .1
}

const SEED_OPS: &str = r#"[
 {"CallStarted":{"call_id":"c1","source":"twilio","agent_id":"a7","queue":"card","started_at":"2026-01-05T09:00:00Z","metadata":{}}},
 {"LegStarted":{"call_id":"c1","leg":"in","speaker":"customer","participant":null,"started_at":"2026-01-05T09:00:00Z"}},
 {"Utterance":{"id":"u1","call_id":"c1","leg":"in","speaker":"customer","start_ms":0,"end_ms":1500,"language":"zh","text":"我要投诉你们","segments":[],"created_at":"2026-01-05T09:00:02Z"}},
 {"Utterance":{"id":"u2","call_id":"c1","leg":"in","speaker":"customer","start_ms":2000,"end_ms":3500,"language":"en","text":"I want to file a complaint","segments":[],"created_at":"2026-01-05T09:00:04Z"}},
 {"CallEnded":{"call_id":"c1","ended_at":"2026-01-05T09:01:00Z","reason":"hangup","duration_ms":60000}}
]"#;

fn answered_or_refused<T: std::fmt::Debug>(r: Result<T, ArchiveError>) {
    if let Err(e) = r {
        assert!(matches!(e, ArchiveError::BadQuery(_)), "{e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let q = String::from_utf8_lossy(data);
    if let Ok(f) = serde_urlencoded::from_str::<CallFilter>(&q) {
        answered_or_refused(reader().list_calls(&f));
    }
    if let Ok(s) = serde_urlencoded::from_str::<SearchQuery>(&q) {
        answered_or_refused(reader().search(&s));
    }
    let pairs: HashMap<String, String> = serde_urlencoded::from_str(&q).unwrap_or_default();
    let _ = EventFilter::from_query(&pairs);
    if let Some(w) = pairs.get("window") {
        if let Ok(m) = parse_window(w) {
            assert!(m >= 1);
        }
    }
});
