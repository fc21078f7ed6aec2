//! The call list as CSV (`GET /v1/calls?format=csv`), for reviewers' spreadsheets.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) get a leading `'`: call metadata comes from peers.

use crate::sinks::archive::query::{CallFilter, CallSummary};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const HEADER: [&str; 16] = [
    "call_id",
    "started_at",
    "ended_at",
    "duration_s",
    "source",
    "queue",
    "agent_id",
    "end_reason",
    "utterances",
    "hits",
    "hits_by_category",
    "qa_score",
    "qa_passed",
    "failed_items",
    "tags",
    "reviewed_by",
];

/// One CSV cell, quoted when needed and defused against formula injection.
fn cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) || v.starts_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The calls as CSV text (UTF-8 with a byte-order mark so spreadsheets read Chinese right).
pub fn render(calls: &[CallSummary]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&HEADER.join(","));
    out.push_str("\r\n");
    for c in calls {
        let row = [
            c.id.clone(),
            c.started_at.clone(),
            c.ended_at.clone().unwrap_or_default(),
            c.duration_ms
                .map(|d| format!("{:.1}", d as f64 / 1000.0))
                .unwrap_or_default(),
            c.source.clone(),
            c.queue.clone().unwrap_or_default(),
            c.agent_id.clone().unwrap_or_default(),
            c.end_reason.clone().unwrap_or_default(),
            c.utterance_count.to_string(),
            c.hit_count.to_string(),
            c.hits_by_category
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(";"),
            c.qa.as_ref()
                .map(|q| q.score.to_string())
                .unwrap_or_default(),
            c.qa.as_ref()
                .map(|q| q.passed.to_string())
                .unwrap_or_default(),
            c.qa.as_ref()
                .map(|q| q.failed_items.join(";"))
                .unwrap_or_default(),
            c.tags.join(";"),
            c.review
                .as_ref()
                .map(|r| r.reviewer.clone())
                .unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|v| cell(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// The download response.
pub fn response(calls: &[CallSummary]) -> Response {
    let mut r = render(calls).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"calls.csv\""),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}

/// What an export asked for, for the audit trail (the filter, not the data).
pub fn describe(f: &CallFilter) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    };
    add("from", &f.from);
    add("to", &f.to);
    add("queue", &f.queue);
    add("agent_id", &f.agent_id);
    add("category", &f.category);
    add("term", &f.term);
    add("rule", &f.rule);
    add("verdict", &f.verdict);
    add("q", &f.q);
    if parts.is_empty() {
        "all calls".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_defused() {
        let table = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+8613800000000", "'+8613800000000"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("line\nbreak", "\"line\nbreak\""),
            ("投诉", "投诉"),
        ];
        for (input, want) in table {
            assert_eq!(cell(input), want, "{input}");
        }
    }
}
