//! `GET /v1/calls/{id}/audio?leg=customer|agent|mix`: replay of a call's archived audio as
//! `audio/ogg` with HTTP range requests (so a browser can seek). Reviewers, supervisors and
//! admins only, within their queues; every request is audited.

use super::access::{addr, Peer};
use super::json_error;
use crate::auth::{AuditEntry, Auth, Principal};
use crate::call::Speaker;
use crate::sinks::archive::{ArchiveReader, AudioRecord};
use crate::sinks::audio::mix::{write_mix, MixInput, Side};
use crate::sinks::audio::AudioArchive;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use std::path::PathBuf;
use tower::ServiceExt;

/// Paths this module serves.
pub const PATHS: [&str; 1] = ["/v1/calls/{id}/audio"];

/// How stale the mix of a call still being recorded may be.
const REMIX_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Longest leg name taken in `leg=`.
const MAX_LEG_CHARS: usize = 128;

/// What the handler reads.
#[derive(Clone)]
pub struct AudioApi {
    pub archive: ArchiveReader,
    pub auth: Auth,
    /// `None` when `[archive] audio` is off.
    pub audio: Option<AudioArchive>,
}

/// The route of [`PATHS`].
pub fn router(state: AudioApi) -> Router {
    Router::new().route(PATHS[0], get(audio)).with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioQuery {
    leg: Option<String>,
}

async fn audio(
    State(api): State<AudioApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path(id): Path<String>,
    query: Result<Query<AudioQuery>, QueryRejection>,
    req: Request,
) -> Response {
    let leg = match query {
        Ok(Query(q)) => q.leg.unwrap_or_else(|| "mix".into()),
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    if leg.is_empty() || leg.chars().count() > MAX_LEG_CHARS {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "leg must be customer, agent, mix or a leg name of the call",
        );
    }
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(64)
        .collect::<String>();
    let audit = AuditEntry::by(&who, "audio.replay")
        .call(&id)
        .detail(format!("leg={leg} range={range}"))
        .from_addr(addr(&peer));
    let Some(store) = api.audio.clone() else {
        api.auth.audit(audit.outcome("not_found")).await;
        return json_error(
            StatusCode::NOT_FOUND,
            "audio_off",
            "audio is not archived on this server ([archive] audio = false)",
        );
    };
    let (archive, lookup, wanted) = (api.archive.clone(), id.clone(), leg.clone());
    let who_c = who.clone();
    let found =
        tokio::task::spawn_blocking(move || locate(&archive, &store, &who_c, &lookup, &wanted))
            .await
            .unwrap_or_else(|e| Err(Located::Failed(e.to_string())));
    let path = match found {
        Ok(p) => p,
        Err(Located::NotFound(detail)) => {
            api.auth.audit(audit.outcome("not_found")).await;
            return json_error(StatusCode::NOT_FOUND, "not_found", &detail);
        }
        Err(Located::Busy) => {
            api.auth.audit(audit.outcome("busy")).await;
            let mut r = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "another recording is being mixed; try again in a few seconds (or replay one leg)",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
            return r;
        }
        Err(Located::TooLong(detail)) => {
            api.auth.audit(audit.outcome("too_long")).await;
            return json_error(StatusCode::UNPROCESSABLE_ENTITY, "too_long", &detail);
        }
        Err(Located::Failed(detail)) => {
            tracing::error!(error = %detail, "archived audio not served");
            api.auth.audit(audit.outcome("error")).await;
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &detail);
        }
    };
    api.auth.audit(audit).await;
    let mut resp = match tower_http::services::ServeFile::new_with_mime(
        &path,
        &"audio/ogg".parse().expect("a valid MIME type"),
    )
    .oneshot(req)
    .await
    {
        Ok(r) => r.map(axum::body::Body::new),
        Err(e) => match e {},
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp.into_response()
}

enum Located {
    NotFound(String),
    Failed(String),
    /// Another mix is being made.
    Busy,
    /// Too long to mix.
    TooLong(String),
}

impl From<crate::sinks::archive::ArchiveError> for Located {
    fn from(e: crate::sinks::archive::ArchiveError) -> Self {
        Located::Failed(e.to_string())
    }
}

/// The file to serve: one leg's recording, or the stereo mix (made, or remade while the
/// call is still recording, on demand).
fn locate(
    archive: &ArchiveReader,
    store: &AudioArchive,
    who: &Principal,
    id: &str,
    leg: &str,
) -> Result<PathBuf, Located> {
    // A call of another queue is answered as if it did not exist.
    let call = archive
        .get_call(id)?
        .filter(|c| who.sees_queue(c.call.queue.as_deref()))
        .ok_or_else(|| {
            Located::NotFound(format!(
                "no call with id {id:?} is archived; list calls with GET /v1/calls"
            ))
        })?;
    let rows: Vec<AudioRecord> = call
        .audio
        .into_iter()
        .filter(|a| a.purged_at.is_none() && store.path_of(&a.file).is_some_and(|p| p.is_file()))
        .collect();
    if rows.is_empty() {
        return Err(Located::NotFound(format!(
            "call {id:?} has no archived audio (recorded with audio off, or past audio retention)"
        )));
    }
    let pick = |speaker: Option<Speaker>| {
        rows.iter()
            .find(|a| match speaker {
                Some(s) => a.speaker == s,
                None => a.leg == leg,
            })
            .and_then(|a| store.path_of(&a.file))
            .ok_or_else(|| Located::NotFound(format!("call {id:?} has no audio for leg {leg:?}")))
    };
    match leg {
        "customer" => return pick(Some(Speaker::Customer)),
        "agent" => return pick(Some(Speaker::Agent)),
        "mix" => {}
        _ => return pick(None),
    }
    let call_start = crate::sinks::archive::unix_ms(&call.call.started_at);
    let inputs: Vec<MixInput> = rows
        .iter()
        .filter_map(|a| Some((a, store.path_of(&a.file)?)))
        .map(|(a, path)| MixInput {
            path,
            side: if a.speaker == Speaker::Agent {
                Side::Right
            } else {
                Side::Left
            },
            offset_ms: match (crate::sinks::archive::unix_ms(&a.started_at), call_start) {
                (Some(l), Some(c)) => l.saturating_sub(c).max(0) as u64,
                _ => 0,
            },
        })
        .collect();
    let dest = store
        .root()
        .join(AudioArchive::call_dir(id))
        .join("mix.ogg");
    let recording = call.call.ended_at.is_none() || rows.iter().any(|a| a.duration_ms.is_none());
    // One mix at a time: each costs a decode of every leg and a stereo encode. Others are
    // told to come back rather than wait on a blocking thread the archive reads share.
    let Some(_one) = crate::sinks::audio::mix::try_lock() else {
        return Err(Located::Busy);
    };
    let made = std::fs::metadata(&dest).and_then(|m| m.modified()).ok();
    let stale = match made {
        None => true,
        // While the call is recorded, the mix is remade at most every REMIX_EVERY.
        Some(made) if recording => made.elapsed().map_or(true, |age| age > REMIX_EVERY),
        Some(made) => inputs.iter().any(|i| {
            std::fs::metadata(&i.path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > made)
        }),
    };
    if stale {
        write_mix(&inputs, &dest, store.bitrate().max(24_000) * 3 / 2).map_err(|e| match e {
            crate::sinks::audio::AudioError::TooLong => Located::TooLong(e.to_string()),
            e => Located::Failed(e.to_string()),
        })?;
    }
    Ok(dest)
}
