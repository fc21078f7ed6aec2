//! `GET /v1/surges` (current and archived surge alerts, with who acknowledged them),
//! `POST /v1/surges/{id}/ack` (a supervisor acknowledges one; audited) and `GET /v1/topics`
//! (inquiry-topic counts against their baseline).

use super::json_error;
use super::surge_series::{scope_refusal, sees_key};
use crate::clock::{rfc3339, SharedClock};
use crate::sinks::archive::{ArchiveReader, SurgeFilter};
use crate::transforms::surge::{Metric, SurgeHub};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// Paths this module serves.
pub const PATHS: [&str; 4] = [
    "/v1/surges",
    "/v1/surges/{id}/ack",
    "/v1/topics",
    "/v1/surges/series",
];

/// What the handlers read and write.
#[derive(Clone)]
pub struct SurgeApi {
    pub hub: SurgeHub,
    pub archive: ArchiveReader,
    pub clock: SharedClock,
    /// Acknowledgements are archive writes (never dropped; spilled when the disk is full).
    pub sink: crate::pipeline::ArchiveSink,
    pub auth: crate::auth::Auth,
    /// Acknowledgements made by this process, so that the answer to a second acknowledgement
    /// and the list do not depend on the archive writer having caught up, and two supervisors
    /// acknowledging at once cannot both be first.
    pub recent_acks: super::ack_ledger::AckLedger<crate::sinks::archive::SurgeAck>,
}

/// The routes of [`PATHS`].
pub fn router(state: SurgeApi) -> Router {
    let [surges_path, ack_path, topics_path, series_path] = PATHS;
    Router::new()
        .route(surges_path, get(surges))
        .route(series_path, get(super::surge_series::series))
        .route(ack_path, axum::routing::post(ack))
        .route(topics_path, get(topics))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    note: Option<String>,
}

/// `POST /v1/surges/{id}/ack`: the first acknowledgement stands; later ones answer it back
/// with `already: true`. Every attempt is audited.
async fn ack(
    State(api): State<SurgeApi>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    peer: super::access::Peer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Option<Json<AckBody>>,
) -> Response {
    let note = match super::ack_ledger::note(body.and_then(|Json(b)| b.note)) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let audit = crate::auth::AuditEntry::by(&who, "alert.ack")
        .detail(format!("surge {id}"))
        .from_addr(super::access::addr(&peer));
    let active = api.hub.active().iter().any(|(_, _, s, _)| *s == id);
    let (archive, lookup) = (api.archive.clone(), id.clone());
    let known = tokio::task::spawn_blocking(move || {
        let known = active || archive.surge_known(&lookup)?;
        let prior = archive.surge_acks(std::slice::from_ref(&lookup))?;
        Ok::<_, crate::sinks::archive::ArchiveError>((known, prior.into_values().next()))
    })
    .await;
    let (known, prior) = match known {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    if !known {
        api.auth.audit(audit.outcome("not_found")).await;
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no surge {id:?}; list them with GET /v1/surges"),
        );
    }
    let record = crate::sinks::archive::SurgeAck {
        surge_id: id.clone(),
        acked_by: who.name.clone(),
        role: Some(who.role.as_str().to_string()),
        acked_at: rfc3339(api.clock.now()),
        note,
    };
    let prior = prior.or_else(|| api.recent_acks.claim(&record.surge_id, &record));
    if let Some(prior) = prior {
        api.auth.audit(audit.outcome("already_acked")).await;
        let mut v = serde_json::to_value(prior).unwrap_or_default();
        v["already"] = true.into();
        return Json(v).into_response();
    }
    api.sink
        .send(crate::sinks::archive::ArchiveOp::SurgeAck(record.clone()));
    api.auth.audit(audit).await;
    let mut v = serde_json::to_value(record).unwrap_or_default();
    v["already"] = false.into();
    Json(v).into_response()
}

/// `window=15m`, `1h` or plain minutes, as whole minutes.
pub fn parse_window(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "m"),
    };
    let n: u32 = num
        .parse()
        .map_err(|_| format!("window {s:?} is not a duration; write e.g. 15m or 1h"))?;
    let minutes = match unit {
        "m" | "min" => Some(n),
        "h" => n.checked_mul(60),
        _ => None,
    }
    .ok_or_else(|| format!("window {s:?}: use minutes (15m) or hours (1h)"))?;
    if minutes == 0 {
        return Err("window must be at least 1m".into());
    }
    Ok(minutes)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurgeQuery {
    metric: Option<String>,
    key: Option<String>,
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[derive(Serialize)]
struct ActiveSurge {
    surge_id: String,
    metric: Metric,
    key: String,
    raised_at: String,
    /// Numbers over the detector's window ending now.
    count: u64,
    expected: f64,
    ratio: f64,
}

async fn surges(
    State(api): State<SurgeApi>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    query: Result<Query<SurgeQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    let now = api.clock.now();
    let window = api.hub.window_min();
    let status = api.hub.status(None, window, now);
    let active: Vec<ActiveSurge> = api
        .hub
        .active()
        .into_iter()
        .filter(|(m, k, _, _)| {
            q.metric.as_deref().is_none_or(|x| x == m.as_str())
                && q.key.as_deref().is_none_or(|x| x == k)
                && sees_key(&who, *m, k)
        })
        .map(|(metric, key, surge_id, raised_at)| {
            let s = status.iter().find(|s| s.metric == metric && s.key == key);
            ActiveSurge {
                surge_id,
                metric,
                raised_at,
                count: s.map_or(0, |s| s.count),
                expected: s.map_or(0.0, |s| s.expected),
                ratio: s.map_or(0.0, |s| s.ratio),
                key,
            }
        })
        .collect();
    let filter = SurgeFilter {
        metric: q.metric,
        key: q.key,
        state: q.state,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset: q.offset,
        queues: who.queues.clone(),
    };
    let archive = api.archive.clone();
    let items = match tokio::task::spawn_blocking(move || archive.list_surges(&filter)).await {
        Ok(Ok(items)) => items,
        Ok(Err(crate::sinks::archive::ArchiveError::BadQuery(m))) => {
            return json_error(StatusCode::BAD_REQUEST, "bad_query", &m)
        }
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    // Who acknowledged what, on both lists.
    let ids: Vec<String> = active
        .iter()
        .map(|a| a.surge_id.clone())
        .chain(items.iter().map(|i| i.surge_id.clone()))
        .collect();
    let archive = api.archive.clone();
    let acks = tokio::task::spawn_blocking(move || archive.surge_acks(&ids))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut acks = acks;
    // Ones the writer has not archived yet.
    for id in active
        .iter()
        .map(|a| &a.surge_id)
        .chain(items.iter().map(|i| &i.surge_id))
    {
        if let (false, Some(a)) = (acks.contains_key(id), api.recent_acks.get(id)) {
            acks.insert(id.clone(), a);
        }
    }
    let with_ack = |id: &str, mut v: serde_json::Value| {
        v["ack"] = acks
            .get(id)
            .and_then(|a| serde_json::to_value(a).ok())
            .unwrap_or(serde_json::Value::Null);
        v
    };
    let active: Vec<serde_json::Value> = active
        .iter()
        .map(|a| with_ack(&a.surge_id, serde_json::to_value(a).unwrap_or_default()))
        .collect();
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|i| with_ack(&i.surge_id, serde_json::to_value(i).unwrap_or_default()))
        .collect();
    Json(serde_json::json!({ "active": active, "items": items })).into_response()
}

/// A 500 for an archive failure, logged.
fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "surge archive query failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        &e.to_string(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicQuery {
    window: Option<String>,
    metric: Option<String>,
}

#[derive(Serialize)]
struct TopicRow {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    count: u64,
    expected: f64,
    ratio: f64,
    /// `up` (ratio at least 1.5), `down` (at most 0.67), `flat`, or `learning` while the
    /// baseline has not watched enough days.
    trend: &'static str,
    p_value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    surge_id: Option<String>,
}

async fn topics(
    State(api): State<SurgeApi>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    query: Result<Query<TopicQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    let window = match q.window.as_deref().map(parse_window) {
        None => api.hub.window_min(),
        Some(Ok(w)) if w <= api.hub.history_min() => w,
        Some(Ok(w)) => {
            let detail = format!(
                "window of {w} minutes is longer than the {} minutes kept; raise [surge] history_min or ask for less",
                api.hub.history_min()
            );
            return json_error(StatusCode::BAD_REQUEST, "bad_query", &detail);
        }
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &e),
    };
    let metric = match q.metric.as_deref() {
        None => Metric::Topic,
        Some(m) => match Metric::parse(m) {
            Some(m) => m,
            None => {
                let detail =
                    format!("metric {m:?} is unknown; use topic, phrase, calls or emerging");
                return json_error(StatusCode::BAD_REQUEST, "bad_query", &detail);
            }
        },
    };
    if let Some(refusal) = scope_refusal(&who, metric) {
        return refusal;
    }
    let now = api.clock.now();
    let rows_of = |metric: Metric| -> Vec<TopicRow> {
        api.hub
            .status(Some(metric), window, now)
            .into_iter()
            .filter(|s| sees_key(&who, metric, &s.key))
            .map(|s| TopicRow {
                title: api
                    .hub
                    .topic_title(&s.key)
                    .filter(|_| metric == Metric::Topic),
                trend: if !s.learned {
                    "learning"
                } else if s.ratio >= 1.5 {
                    "up"
                } else if s.ratio <= 0.67 {
                    "down"
                } else {
                    "flat"
                },
                key: s.key,
                count: s.count,
                expected: s.expected,
                ratio: s.ratio,
                p_value: s.p_value,
                surge_id: s.surge_id,
            })
            .collect()
    };
    let mut rows = rows_of(metric);
    if metric == Metric::Topic {
        // Topics nobody has raised yet are listed too, at zero.
        for (id, title) in api.hub.topic_list() {
            if !rows.iter().any(|r| r.key == id) {
                rows.push(TopicRow {
                    key: id,
                    title: Some(title),
                    count: 0,
                    expected: 0.0,
                    ratio: 0.0,
                    trend: "flat",
                    p_value: 1.0,
                    surge_id: None,
                });
            }
        }
    }
    let by_count =
        |a: &TopicRow, b: &TopicRow| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key));
    rows.sort_by(by_count);
    let mut body = serde_json::json!({
        "metric": metric,
        "window_s": window as u64 * 60,
        "at": rfc3339(now),
        "items": rows,
    });
    if metric == Metric::Topic {
        // Phrases no topic file lists that many customers started saying, beside the topics.
        let mut emerging = rows_of(Metric::Emerging);
        emerging.sort_by(by_count);
        body["emerging"] = serde_json::json!(emerging);
    }
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows() {
        let table = [
            ("15m", Ok(15)),
            ("15", Ok(15)),
            ("1h", Ok(60)),
            ("2min", Ok(2)),
            ("0m", Err("at least")),
            ("15s", Err("minutes")),
            ("abc", Err("not a duration")),
            ("", Err("not a duration")),
        ];
        for (s, want) in table {
            match (parse_window(s), want) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{s}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{s}: {e}"),
                (got, _) => panic!("{s}: {got:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_parses_or_explains(s in ".{0,12}") {
            match parse_window(&s) {
                Ok(m) => prop_assert!(m >= 1),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
