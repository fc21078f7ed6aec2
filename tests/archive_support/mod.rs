//! Builders of archive ops shared by the archive integration tests.
#![allow(dead_code)]

pub mod pg;

use callwatch::call::Speaker;
use callwatch::sinks::archive::{
    ArchiveOp, ArchiveReader, ArchiveStore, ArchiveWriter, HitRecord, PgArchive, UtteranceRecord,
};
use callwatch::transforms::matcher::MatchMode;
use serde_json::json;
use std::path::Path;

/// `2024-05-01T09:MM:00+08:00`-style times a minute apart, so ordering is visible.
pub fn at(minute: u32) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:00+08:00",
        9 + minute / 60,
        minute % 60
    )
}

pub fn call_started(call_id: &str, agent: &str, minute: u32) -> ArchiveOp {
    ArchiveOp::CallStarted {
        call_id: call_id.into(),
        source: "audio_fork".into(),
        agent_id: Some(agent.into()),
        queue: Some("cards".into()),
        started_at: at(minute),
        metadata: json!({"ani": "+8613800000000"}),
    }
}

pub fn leg(
    call_id: &str,
    leg: &str,
    speaker: Speaker,
    participant: &str,
    minute: u32,
) -> ArchiveOp {
    ArchiveOp::LegStarted {
        call_id: call_id.into(),
        leg: leg.into(),
        speaker,
        participant: Some(participant.into()),
        started_at: at(minute),
    }
}

pub fn utterance(
    id: &str,
    call_id: &str,
    leg: &str,
    speaker: Speaker,
    start_ms: u64,
    text: &str,
    minute: u32,
) -> UtteranceRecord {
    UtteranceRecord {
        id: id.into(),
        call_id: call_id.into(),
        leg: leg.into(),
        speaker,
        start_ms,
        end_ms: start_ms + 1500,
        language: if text.is_ascii() {
            "en".into()
        } else {
            "zh".into()
        },
        text: text.into(),
        segments: json!([{"start_ms": start_ms, "end_ms": start_ms + 1500, "text": text}]),
        created_at: at(minute),
        dropped: None,
        audio_masked: Vec::new(),
    }
}

pub fn hit(id: &str, u: &UtteranceRecord, term: &str, category: &str) -> HitRecord {
    let start = u
        .text
        .find(term)
        .map(|b| u.text[..b].chars().count())
        .unwrap_or(0);
    HitRecord {
        id: id.into(),
        call_id: u.call_id.clone(),
        leg: u.leg.clone(),
        speaker: u.speaker,
        utterance_id: u.id.clone(),
        term: term.into(),
        category: category.into(),
        severity: "high".into(),
        matched: term.into(),
        span_start: start,
        span_end: start + term.chars().count(),
        start_ms: u.start_ms,
        end_ms: u.end_ms,
        created_at: u.created_at.clone(),
        homophone: false,
        how: MatchMode::Exact,
    }
}

pub fn call_ended(call_id: &str, minute: u32, duration_ms: u64) -> ArchiveOp {
    ArchiveOp::CallEnded {
        call_id: call_id.into(),
        ended_at: at(minute),
        reason: callwatch::call::EndReason::Hangup,
        duration_ms,
    }
}

/// A complete two-leg call: agent promises guaranteed returns, customer threatens a complaint.
pub fn sample_call(call_id: &str, agent: &str, minute: u32) -> Vec<ArchiveOp> {
    let u1 = utterance(
        &format!("{call_id}-u1"),
        call_id,
        "left",
        Speaker::Agent,
        1000,
        "这个产品保本保息，收益很高",
        minute,
    );
    let u2 = utterance(
        &format!("{call_id}-u2"),
        call_id,
        "right",
        Speaker::Customer,
        4000,
        "我要投诉你们",
        minute,
    );
    let u3 = utterance(
        &format!("{call_id}-u3"),
        call_id,
        "left",
        Speaker::Agent,
        8000,
        "We offer a full Refund, guaranteed returns.",
        minute,
    );
    // Heard as 保本保锡 and found by homophone matching.
    let mut h1 = hit(&format!("{call_id}-h1"), &u1, "保本保息", "guarantee");
    h1.how = MatchMode::Homophone;
    h1.homophone = true;
    let h2 = hit(&format!("{call_id}-h2"), &u2, "投诉", "complaint");
    let h3 = hit(
        &format!("{call_id}-h3"),
        &u3,
        "guaranteed returns",
        "guarantee",
    );
    vec![
        call_started(call_id, agent, minute),
        leg(call_id, "left", Speaker::Agent, agent, minute),
        leg(
            call_id,
            "right",
            Speaker::Customer,
            "sip:+8613800000000@pstn",
            minute,
        ),
        ArchiveOp::Utterance(u1),
        ArchiveOp::Hit(h1),
        ArchiveOp::Utterance(u2),
        ArchiveOp::Hit(h2),
        ArchiveOp::Utterance(u3),
        ArchiveOp::Hit(h3),
        call_ended(call_id, minute + 1, 60_000),
    ]
}

/// Four calls, newest first: `legonly` (30), `en1` (20), `zh2` (10), `zh1` (0).
pub fn fixture(path: &Path) -> ArchiveReader {
    let (tx, handle) = ArchiveWriter::spawn(path).unwrap();
    for op in fixture_ops() {
        tx.send(op).unwrap();
    }
    handle.close().unwrap();
    ArchiveReader::open(path).unwrap()
}

/// An archive with one exact, one same-pinyin and one near rendering of 理财产品, and a
/// distractor that shares only two syllables.
pub fn sound_fixture_ops() -> Vec<ArchiveOp> {
    let mut ops = vec![call_started("s1", "agent-1", 0)];
    for (i, text) in [
        "我想问理财产品的收益",
        "请问离财产品怎么买",
        "那个理台产品还有吗",
        "财产保险的事情",
        "Ask about the wealth product",
    ]
    .iter()
    .enumerate()
    {
        let u = utterance(
            &format!("s1-u{i}"),
            "s1",
            "left",
            Speaker::Customer,
            i as u64 * 2000,
            text,
            0,
        );
        ops.push(ArchiveOp::Utterance(u));
    }
    ops
}

/// The ops of [`fixture`].
pub fn fixture_ops() -> Vec<ArchiveOp> {
    let mut ops = sample_call("zh1", "agent-7", 0);
    ops.push(call_started("zh2", "agent-8", 10));
    ops.push(leg("zh2", "left", Speaker::Agent, "agent-8", 10));
    ops.push(leg("zh2", "right", Speaker::Customer, "sip:carol", 10));
    let z1 = utterance(
        "zh2-u1",
        "zh2",
        "left",
        Speaker::Agent,
        0,
        "您好，请问有什么可以帮您",
        10,
    );
    let z2 = utterance(
        "zh2-u2",
        "zh2",
        "right",
        Speaker::Customer,
        3000,
        "我想查询账单",
        10,
    );
    ops.extend([ArchiveOp::Utterance(z1), ArchiveOp::Utterance(z2)]);
    ops.push(call_started("en1", "agent-8", 20));
    ops.push(leg("en1", "out", Speaker::Agent, "agent-8", 20));
    ops.push(leg("en1", "in", Speaker::Customer, "sip:alice", 20));
    let e1 = utterance(
        "en1-u1",
        "en1",
        "in",
        Speaker::Customer,
        500,
        "I want to file a complaint about the refund",
        20,
    );
    ops.push(ArchiveOp::Hit(hit("en1-h1", &e1, "complaint", "complaint")));
    ops.push(ArchiveOp::Utterance(e1));
    ops.push(ArchiveOp::CallStarted {
        call_id: "legonly".into(),
        source: "twilio".into(),
        agent_id: None,
        queue: None,
        started_at: at(30),
        metadata: serde_json::json!({}),
    });
    ops.push(leg("legonly", "left", Speaker::Agent, "agent-9", 30));
    ops
}

/// Parses `k=v&k=v` (values written unencoded, for readability) the way the HTTP layer parses a query string.
pub fn serde_urlencoded_like<T: serde::de::DeserializeOwned>(q: &str) -> T {
    let encoded: Vec<String> = q
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect();
    let uri: axum::http::Uri = format!("/?{}", encoded.join("&")).parse().unwrap();
    axum::extract::Query::<T>::try_from_uri(&uri).unwrap().0
}

/// One archive backend under test: its write side and its read side, and what keeps it
/// alive (a SQLite writer thread and directory, or a PostgreSQL server).
pub struct Backend {
    pub name: &'static str,
    pub store: std::sync::Arc<dyn ArchiveStore>,
    pub reader: ArchiveReader,
    pub pg: Option<std::sync::Arc<PgArchive>>,
    _keep: Box<dyn std::any::Any>,
}

impl Backend {
    pub fn write(&self, ops: Vec<ArchiveOp>) {
        self.store.write(&ops).unwrap();
    }
}

/// An empty SQLite archive and an empty PostgreSQL archive, in that order.
pub fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    let sqlite = Backend {
        name: "sqlite",
        store: std::sync::Arc::new(tx),
        reader,
        pg: None,
        _keep: Box::new((handle, dir)),
    };
    let server = pg::TempPostgres::start();
    let archive = std::sync::Arc::new(PgArchive::open(&server.database("callwatch")).unwrap());
    let postgres = Backend {
        name: "postgres",
        store: archive.clone(),
        reader: ArchiveReader::postgres(archive.clone()),
        pg: Some(archive),
        _keep: Box::new(server),
    };
    vec![sqlite, postgres]
}
