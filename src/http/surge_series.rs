//! `GET /v1/surges/series`: each key's recent windows against its baseline band and the count
//! that would raise a surge, so the surge panel draws hours of history on first load instead
//! of only what it has polled since.

use super::json_error;
use super::surge_api::{parse_window, SurgeApi};
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::transforms::surge::Metric;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

/// Minutes of history by default: a morning's or an afternoon's traffic.
const DEFAULT_MINUTES: u32 = 180;
/// Points per key by default; longer spans get a coarser step.
const DEFAULT_POINTS: u32 = 180;
/// Points per key at most, whatever is asked.
const MAX_POINTS: u32 = 1440;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesQuery {
    metric: Option<String>,
    key: Option<String>,
    minutes: Option<u32>,
    window: Option<String>,
    step: Option<u32>,
}

fn bad(detail: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_query", detail)
}

/// Refuses what a queue-limited account may not read: topic, phrase and emerging counts mix
/// every queue's calls (and emerging keys are customers' own words).
pub(super) fn scope_refusal(who: &Principal, metric: Metric) -> Option<Response> {
    (who.queues.is_some() && metric != Metric::Calls).then(|| {
        json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "topic, phrase and emerging counts span every queue; an account limited to queues \
             reads the call volume of its own queues (metric=calls)",
        )
    })
}

/// Whether a queue-limited account may see call-volume key `key` (the all-queues total
/// `all` counts other queues' calls too).
pub(super) fn sees_key(who: &Principal, metric: Metric, key: &str) -> bool {
    match &who.queues {
        None => true,
        Some(_) => metric == Metric::Calls && key != "all" && who.sees_queue(Some(key)),
    }
}

pub(super) async fn series(
    State(api): State<SurgeApi>,
    Extension(who): Extension<Principal>,
    query: Result<Query<SeriesQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(r) => return bad(&r.body_text()),
    };
    let metric = match q.metric.as_deref() {
        None => Metric::Calls,
        Some(m) => match Metric::parse(m) {
            Some(m) => m,
            None => {
                return bad(&format!(
                    "metric {m:?} is unknown; use calls, topic, phrase or emerging"
                ))
            }
        },
    };
    if let Some(refusal) = scope_refusal(&who, metric) {
        return refusal;
    }
    let kept = api.hub.history_min();
    let minutes = q.minutes.unwrap_or(DEFAULT_MINUTES.min(kept));
    if minutes == 0 || minutes > kept {
        return bad(&format!(
            "minutes={minutes}: ask for 1 to {kept} (the history kept; raise [surge] history_min for more)"
        ));
    }
    let window = match q.window.as_deref().map(parse_window) {
        None => api.hub.window_min(),
        Some(Ok(w)) if w <= kept => w,
        Some(Ok(w)) => {
            return bad(&format!(
                "window of {w} minutes is longer than the {kept} minutes kept; ask for less"
            ))
        }
        Some(Err(e)) => return bad(&e),
    };
    let step = q.step.unwrap_or(minutes.div_ceil(DEFAULT_POINTS));
    if step == 0 || minutes / step > MAX_POINTS {
        return bad(&format!(
            "step={step}: at least 1 minute, and at most {MAX_POINTS} points (minutes / step)"
        ));
    }
    let now = api.clock.now();
    let key = q.key;
    let keep = |k: &str| key.as_deref().is_none_or(|x| x == k) && sees_key(&who, metric, k);
    let items: Vec<serde_json::Value> = api
        .hub
        .history(metric, keep, window, minutes, step, now)
        .into_iter()
        .map(|h| {
            let mut v = serde_json::to_value(&h).unwrap_or_default();
            if let Some(title) = api
                .hub
                .topic_title(&h.key)
                .filter(|_| metric == Metric::Topic)
            {
                v["title"] = title.into();
            }
            v
        })
        .collect();
    Json(serde_json::json!({
        "metric": metric,
        "window_s": window as u64 * 60,
        "step_s": step as u64 * 60,
        "at": rfc3339(now),
        "items": items,
    }))
    .into_response()
}
