//! QA review (复核) over HTTP: verdicts on hits, scorecard overrides, marking a call reviewed,
//! the redacted transcript download and per-term precision. Reviewer, supervisor and admin
//! roles, within their queues; every action and download is audited.

// Helpers hand back the error response itself for the handler to return; once per request,
// boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use super::access::{addr, Peer};
use super::json_error;
use crate::auth::{AuditEntry, Auth, Principal};
use crate::clock::{rfc3339, SharedClock};
use crate::pipeline::ArchiveSink;
use crate::sinks::archive::review::{CallReview, HitReview, ScoreOverride};
use crate::sinks::archive::{ArchiveError, ArchiveOp, ArchiveReader};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::time::Duration;

/// Paths this module serves.
pub const PATHS: [&str; 5] = [
    "/v1/calls/{id}/hits/{hit_id}/review",
    "/v1/calls/{id}/qa/{item_id}/override",
    "/v1/calls/{id}/reviewed",
    "/v1/calls/{id}/transcript",
    "/v1/reports/terms",
];

/// Longest reviewer comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
/// Longest a review action waits for its write before it answers.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

/// What the handlers read and write.
#[derive(Clone)]
pub struct ReviewApi {
    pub archive: ArchiveReader,
    /// Judgements are archive writes (journaled when the disk is full, never dropped).
    pub sink: ArchiveSink,
    pub auth: Auth,
    pub clock: SharedClock,
}

/// The routes of [`PATHS`].
pub fn router(state: ReviewApi) -> Router {
    let [hit, item, reviewed, transcript, terms] = PATHS;
    Router::new()
        .route(hit, post(review_hit))
        .route(item, post(override_item))
        .route(reviewed, post(mark_reviewed))
        .route(transcript, get(download_transcript))
        .route(terms, get(term_report))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Judgement {
    verdict: Option<String>,
    outcome: Option<String>,
    comment: Option<String>,
}

/// The comment, trimmed; `Err` when too long.
fn comment(c: Option<String>) -> Result<Option<String>, Response> {
    let c = c.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if c.as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "comment_too_long",
            &format!("the comment is longer than {MAX_COMMENT_CHARS} characters; shorten it"),
        ));
    }
    Ok(c)
}

fn body(b: Result<Json<Judgement>, JsonRejection>) -> Result<Judgement, Response> {
    b.map(|Json(j)| j).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            &format!(
                "{}; send JSON like {{\"verdict\": \"rejected\", \"comment\": \"...\"}}",
                e.body_text()
            ),
        )
    })
}

/// Runs a blocking archive read off the async workers.
async fn read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(ArchiveError::BadQuery(m))) => {
            Err(json_error(StatusCode::BAD_REQUEST, "bad_query", &m))
        }
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "review request failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        &e.to_string(),
    )
}

fn not_found(id: &str) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no call with id {id:?} is archived; list calls with GET /v1/calls"),
    )
}

/// Whether `who` may see archived call `id` (a call of another queue does not exist for it).
async fn visible(api: &ReviewApi, who: &Principal, id: &str) -> Result<bool, Response> {
    let (archive, lookup) = (api.archive.clone(), id.to_string());
    let queue = read(move || archive.call_queue(&lookup)).await?;
    Ok(queue.is_some_and(|q| who.sees_queue(q.as_deref())))
}

/// Nothing when `who` may see archived call `id`; else the 404 to answer, audited.
async fn check_visible(
    api: &ReviewApi,
    who: &Principal,
    id: &str,
    audit: &AuditEntry,
) -> Result<(), Response> {
    match visible(api, who, id).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            api.auth.audit(audit.clone().outcome("not_found")).await;
            Err(not_found(id))
        }
        Err(r) => Err(r),
    }
}

/// `value` when it is one of `allowed`, else a 400 naming `field`.
fn one_of(value: Option<&str>, field: &str, allowed: [&str; 2]) -> Result<String, Response> {
    match value {
        Some(v) if allowed.contains(&v) => Ok(v.to_string()),
        _ => Err(json_error(
            StatusCode::BAD_REQUEST,
            &format!("bad_{field}"),
            &format!("{field} must be \"{}\" or \"{}\"", allowed[0], allowed[1]),
        )),
    }
}

/// Writes `op` and waits for it to be kept, so a reload right after shows it.
async fn write(api: &ReviewApi, op: ArchiveOp) {
    api.sink.send(op);
    api.sink.committed(COMMIT_WAIT).await;
}

async fn review_hit(
    State(api): State<ReviewApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path((id, hit_id)): Path<(String, String)>,
    b: Result<Json<Judgement>, JsonRejection>,
) -> Response {
    let j = match body(b) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let verdict = match one_of(j.verdict.as_deref(), "verdict", ["confirmed", "rejected"]) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let comment = match comment(j.comment) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let audit = AuditEntry::by(&who, "hit.review")
        .call(&id)
        .detail(format!(
            "hit {hit_id}: {verdict}{}",
            comment
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        ))
        .from_addr(addr(&peer));
    if let Err(r) = check_visible(&api, &who, &id, &audit).await {
        return r;
    }
    let (archive, c, h) = (api.archive.clone(), id.clone(), hit_id.clone());
    match read(move || archive.hit_of_call(&c, &h)).await {
        Ok(true) => {}
        Ok(false) => {
            api.auth.audit(audit.outcome("not_found")).await;
            return json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("call {id:?} has no hit {hit_id:?}; see its hits in GET /v1/calls/{{id}}"),
            );
        }
        Err(r) => return r,
    }
    let record = HitReview {
        hit_id,
        call_id: id,
        verdict,
        comment,
        reviewer: who.name.clone(),
        reviewed_at: rfc3339(api.clock.now()),
    };
    write(&api, ArchiveOp::HitReview(record.clone())).await;
    api.auth.audit(audit).await;
    Json(record).into_response()
}

async fn override_item(
    State(api): State<ReviewApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path((id, item_id)): Path<(String, String)>,
    b: Result<Json<Judgement>, JsonRejection>,
) -> Response {
    let j = match body(b) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let outcome = match one_of(j.outcome.as_deref(), "outcome", ["pass", "fail"]) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(comment) = (match comment(j.comment) {
        Ok(c) => c,
        Err(r) => return r,
    }) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "comment_required",
            "an override needs a comment saying why (up to 500 characters)",
        );
    };
    let audit = AuditEntry::by(&who, "qa.override")
        .call(&id)
        .detail(format!("item {item_id}: {outcome} ({comment})"))
        .from_addr(addr(&peer));
    if let Err(r) = check_visible(&api, &who, &id, &audit).await {
        return r;
    }
    let (archive, c) = (api.archive.clone(), id.clone());
    let report = match read(move || archive.get_call(&c)).await {
        Ok(d) => d.and_then(|d| d.qa_report),
        Err(r) => return r,
    };
    let known = report
        .as_ref()
        .and_then(|r| r["items"].as_array())
        .is_some_and(|items| items.iter().any(|i| i["id"] == item_id.as_str()));
    if !known {
        api.auth.audit(audit.outcome("not_found")).await;
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "call {id:?} has no scorecard item {item_id:?} (not scored, or another scorecard)"
            ),
        );
    }
    let record = ScoreOverride {
        call_id: id.clone(),
        item_id,
        outcome,
        comment,
        reviewer: who.name.clone(),
        reviewed_at: rfc3339(api.clock.now()),
    };
    write(&api, ArchiveOp::ScoreOverride(record.clone())).await;
    api.auth.audit(audit).await;
    let (archive, c) = (api.archive.clone(), id);
    let state = read(move || archive.review_state(&c)).await.ok();
    let mut v = serde_json::to_value(record).unwrap_or_default();
    v["score"] = state.as_ref().and_then(|s| s.score).into();
    v["passed"] = state.as_ref().and_then(|s| s.passed).into();
    Json(v).into_response()
}

async fn mark_reviewed(
    State(api): State<ReviewApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path(id): Path<String>,
    b: Result<Json<Judgement>, JsonRejection>,
) -> Response {
    let j = match body(b) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let comment = match comment(j.comment) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let audit = AuditEntry::by(&who, "call.reviewed")
        .call(&id)
        .from_addr(addr(&peer));
    if let Err(r) = check_visible(&api, &who, &id, &audit).await {
        return r;
    }
    let record = CallReview {
        call_id: id,
        reviewer: who.name.clone(),
        reviewed_at: rfc3339(api.clock.now()),
        comment,
    };
    write(&api, ArchiveOp::CallReviewed(record.clone())).await;
    api.auth.audit(audit).await;
    Json(record).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptQuery {
    format: Option<String>,
}

/// `GET /v1/calls/{id}/transcript?format=txt|json`: the redacted transcript as a download.
async fn download_transcript(
    State(api): State<ReviewApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path(id): Path<String>,
    q: Result<Query<TranscriptQuery>, QueryRejection>,
) -> Response {
    let format = match q {
        Ok(Query(q)) => q.format.unwrap_or_else(|| "txt".into()),
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    if !matches!(format.as_str(), "txt" | "json") {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "format must be txt or json",
        );
    }
    let audit = AuditEntry::by(&who, "transcript.export")
        .call(&id)
        .detail(format!("format={format}"))
        .from_addr(addr(&peer));
    let (archive, c) = (api.archive.clone(), id.clone());
    let detail = match read(move || archive.get_call(&c)).await {
        Ok(d) => d.filter(|d| who.sees_queue(d.call.queue.as_deref())),
        Err(r) => return r,
    };
    let Some(detail) = detail else {
        api.auth.audit(audit.outcome("not_found")).await;
        return not_found(&id);
    };
    api.auth.audit(audit).await;
    let (body, mime) = if format == "json" {
        let v = serde_json::json!({
            "call_id": detail.call.id,
            "started_at": detail.call.started_at,
            "queue": detail.call.queue,
            "agent_id": detail.call.agent_id,
            "utterances": detail.utterances.iter().filter(|u| u.dropped.is_none()).map(|u| serde_json::json!({
                "speaker": u.speaker, "leg": u.leg, "start_ms": u.start_ms, "end_ms": u.end_ms,
                "language": u.language, "text": u.text,
            })).collect::<Vec<_>>(),
        });
        (
            serde_json::to_string_pretty(&v).unwrap_or_default(),
            "application/json",
        )
    } else {
        (transcript_text(&detail), "text/plain; charset=utf-8")
    };
    let name = format!("call-{}.{format}", safe_file_stem(&id));
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}

/// The transcript as lines `[mm:ss.s] speaker: text`, in time order across legs.
fn transcript_text(d: &crate::sinks::archive::query::CallDetail) -> String {
    let mut lines: Vec<_> = d
        .utterances
        .iter()
        .filter(|u| u.dropped.is_none())
        .collect();
    lines.sort_by_key(|u| (u.start_ms, u.leg.clone()));
    let mut out = format!(
        "call {}\nstarted {}\nqueue {}\nagent {}\n\n",
        d.call.id,
        d.call.started_at,
        d.call.queue.as_deref().unwrap_or("-"),
        d.call.agent_id.as_deref().unwrap_or("-")
    );
    for u in lines {
        let s = u.start_ms as f64 / 1000.0;
        out.push_str(&format!(
            "[{:02}:{:04.1}] {}: {}\n",
            (s / 60.0) as u64,
            s % 60.0,
            u.speaker.as_str(),
            u.text
        ));
    }
    out
}

/// A file name stem from a call id: what is not a letter, digit, `-` or `_` becomes `_`.
fn safe_file_stem(id: &str) -> String {
    id.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermQuery {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
}

/// `GET /v1/reports/terms`: per lexicon term, hits and reviewers' verdicts, most rejected
/// first, so lexicon owners see which terms raise false alarms.
async fn term_report(
    State(api): State<ReviewApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    q: Result<Query<TermQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    api.auth
        .audit(
            AuditEntry::by(&who, "reports.terms")
                .detail(format!("category={}", q.category.as_deref().unwrap_or("*")))
                .from_addr(addr(&peer)),
        )
        .await;
    let archive = api.archive.clone();
    let queues = who.queues.clone();
    let found = read(move || {
        archive.term_precision(
            q.from.as_deref(),
            q.to.as_deref(),
            q.category.as_deref(),
            queues.as_deref(),
        )
    });
    match found.await {
        Ok(items) => Json(serde_json::json!({ "items": items })).into_response(),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_never_carry_path_or_header_characters() {
        assert_eq!(safe_file_stem("CA-1_x"), "CA-1_x");
        assert_eq!(safe_file_stem("../a\"b\r\nc"), "___a_b__c");
    }
}
