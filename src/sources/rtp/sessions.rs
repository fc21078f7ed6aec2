//! Plain RTP sessions without signalling (Asterisk ARI externalMedia, Janus rtp_forward): the
//! caller names the legs and codecs, gets a port pair per leg, and points its RTP there.

use super::net::{
    spawn_receiver, PortError, ReceiverEnd, ReceiverHandle, ReceiverOptions, ReceiverReport,
    RtpPortPool,
};
use super::payload::Codec;
use super::stream::{RtpStream, StreamConfig};
use crate::call::{CallInfo, EndReason, LegInfo, Speaker};
use crate::pipeline::Ingest;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// `POST /v1/rtp-sessions` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub call_id: String,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    pub legs: Vec<LegRequest>,
    /// The credential that asked for the session (set by the server, never from the body);
    /// only it may add legs to the call.
    #[serde(skip)]
    pub opened_by: Option<String>,
}

/// One leg of a [`SessionRequest`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegRequest {
    pub leg: String,
    pub speaker: String,
    /// `pcmu`, `pcma`, `l16` or `opus`.
    pub codec: String,
    /// Default: 0 for PCMU, 8 for PCMA, 96 for L16, 111 for Opus.
    #[serde(default)]
    pub payload_type: Option<u16>,
    /// L16 only (default 16000); G.711 is 8000 and Opus 48000.
    #[serde(default)]
    pub sample_rate: Option<u32>,
    #[serde(default)]
    pub language: Option<String>,
}

/// Where to send one leg, and how it is doing.
#[derive(Debug, Clone, Serialize)]
pub struct LegView {
    pub leg: String,
    pub speaker: Speaker,
    pub codec: String,
    pub payload_type: u16,
    pub sample_rate: u32,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<ReceiverEnd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<super::stream::StreamStats>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub call_id: String,
    /// Host to send RTP to.
    pub host: String,
    pub legs: Vec<LegView>,
}

/// Why a session request failed; each maps to one HTTP status.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no RTP session `{0}`; it ended or never existed (create one with POST /v1/rtp-sessions)"
    )]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error("the server is shutting down; no new sessions")]
    ShuttingDown,
}

/// Settings every session shares.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub host: String,
    pub inactivity: Duration,
    pub jitter: Duration,
}

struct LiveSession {
    call_id: String,
    legs: Vec<(LegView, ReceiverHandle)>,
}

/// The live plain-RTP sessions; cheap to clone.
#[derive(Clone)]
pub struct RtpSessions {
    pool: RtpPortPool,
    settings: SessionSettings,
    live: Arc<Mutex<HashMap<String, LiveSession>>>,
}

struct Planned {
    info: LegInfo,
    view: LegView,
    stream: RtpStream,
}

impl RtpSessions {
    pub fn new(pool: RtpPortPool, settings: SessionSettings) -> Self {
        RtpSessions {
            pool,
            settings,
            live: Arc::default(),
        }
    }

    /// The port pool, shared with other RTP sources.
    pub fn pool(&self) -> &RtpPortPool {
        &self.pool
    }

    /// Live sessions.
    pub fn count(&self) -> usize {
        self.live.lock().expect("sessions lock").len()
    }

    /// Opens the legs, binds their ports and starts receiving.
    pub fn create(
        &self,
        ingest: &Ingest,
        req: SessionRequest,
    ) -> Result<SessionView, SessionError> {
        let planned = plan(&req, self.settings.jitter)?;
        if self
            .live
            .lock()
            .expect("sessions lock")
            .values()
            .any(|s| s.call_id == req.call_id)
        {
            return Err(SessionError::Conflict(format!(
                "call `{}` already has a live RTP session; DELETE it first or use another call_id",
                req.call_id
            )));
        }
        // One shutdown guard per receiver, taken before anything is opened.
        let mut guards = Vec::with_capacity(planned.len());
        for _ in 0..planned.len() {
            match ingest.shutdown_guard() {
                Some(g) => guards.push(Some(g)),
                None if ingest.has_shutdown() => return Err(SessionError::ShuttingDown),
                None => guards.push(None),
            }
        }
        let pairs = self.pool.allocate(planned.len())?;
        let call = CallInfo {
            call_id: req.call_id.clone(),
            source: "rtp".into(),
            agent_id: req.agent_id.clone(),
            queue: req.queue.clone(),
            metadata: serde_json::to_value(&req).unwrap_or_default(),
        };
        let rates = planned
            .iter()
            .map(|p| (p.info.clone(), p.stream.output_rate()))
            .collect();
        let senders = ingest
            .open_all(&call, rates, req.opened_by.as_deref())
            .map_err(|e| SessionError::Conflict(e.to_string()))?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut legs = Vec::with_capacity(planned.len());
        let mut leg_tasks = Vec::with_capacity(planned.len());
        for (((p, pair), guard), mut tx) in planned.into_iter().zip(pairs).zip(guards).zip(senders)
        {
            let mut view = p.view;
            view.rtp_port = pair.rtp_port();
            view.rtcp_port = pair.rtcp_port();
            leg_tasks.extend(tx.take_task());
            let opts = ReceiverOptions {
                inactivity: self.settings.inactivity,
                label: format!("{}/{}", req.call_id, view.leg),
            };
            // On failure the leg's sender is dropped here, which ends that leg cleanly.
            let handle = spawn_receiver(pair, p.stream, tx, opts, guard)?;
            legs.push((view, handle));
        }
        self.live.lock().expect("sessions lock").insert(
            id.clone(),
            LiveSession {
                call_id: req.call_id.clone(),
                legs,
            },
        );
        // The session disappears once every leg has finished (inactivity or DELETE).
        let live = Arc::downgrade(&self.live);
        let session_id = id.clone();
        tokio::spawn(async move {
            for t in leg_tasks {
                let _ = t.await;
            }
            if let Some(live) = live.upgrade() {
                live.lock().expect("sessions lock").remove(&session_id);
            }
        });
        tracing::info!(call_id = %req.call_id, session = %id, "RTP session created");
        Ok(self.get(&id).expect("just inserted"))
    }

    /// The session's ports and live statistics.
    pub fn get(&self, id: &str) -> Result<SessionView, SessionError> {
        let live = self.live.lock().expect("sessions lock");
        let s = live
            .get(id)
            .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
        Ok(SessionView {
            id: id.to_string(),
            call_id: s.call_id.clone(),
            host: self.settings.host.clone(),
            legs: s
                .legs
                .iter()
                .map(|(v, h)| with_report(v, h.report()))
                .collect(),
        })
    }

    /// Ends a session: stops its receivers (their legs finish and the call is archived) and
    /// returns the final statistics.
    pub async fn end(&self, id: &str) -> Result<SessionView, SessionError> {
        let s = self
            .live
            .lock()
            .expect("sessions lock")
            .remove(id)
            .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
        let mut legs = Vec::with_capacity(s.legs.len());
        for (view, mut handle) in s.legs {
            handle.close_with_reason(EndReason::Deleted);
            let report = handle.join().await;
            legs.push(with_report(&view, report));
        }
        tracing::info!(call_id = %s.call_id, session = %id, "RTP session ended by request");
        Ok(SessionView {
            id: id.to_string(),
            call_id: s.call_id,
            host: self.settings.host.clone(),
            legs,
        })
    }
}

fn with_report(view: &LegView, r: ReceiverReport) -> LegView {
    LegView {
        remote: r.remote,
        ended: r.ended,
        stats: Some(r.stats),
        ..view.clone()
    }
}

fn plan(req: &SessionRequest, jitter: Duration) -> Result<Vec<Planned>, SessionError> {
    let invalid = |m: String| Err(SessionError::Invalid(m));
    if req.call_id.trim().is_empty() {
        return invalid("call_id must not be empty".into());
    }
    if req.legs.is_empty() || req.legs.len() > 8 {
        return invalid(format!(
            "a session has 1 to 8 legs; {} given",
            req.legs.len()
        ));
    }
    let mut out: Vec<Planned> = Vec::new();
    for l in &req.legs {
        if l.leg.trim().is_empty() {
            return invalid("every leg needs a non-empty `leg` name".into());
        }
        if out.iter().any(|p| p.info.leg == l.leg) {
            return invalid(format!(
                "leg name `{}` is used twice; name each leg uniquely",
                l.leg
            ));
        }
        let Some(speaker) = Speaker::parse(&l.speaker) else {
            return invalid(format!(
                "leg `{}`: unknown speaker `{}` (agent, customer, unknown)",
                l.leg, l.speaker
            ));
        };
        if let Some(lang) = &l.language {
            crate::transforms::asr::language::validate_codes(std::slice::from_ref(lang))
                .map_err(|e| SessionError::Invalid(format!("leg `{}`: {e}", l.leg)))?;
        }
        let codec = match Codec::parse(&l.codec) {
            Some(c @ (Codec::Pcmu | Codec::Pcma | Codec::L16 | Codec::Opus)) => c,
            _ => {
                return invalid(format!(
                    "leg `{}`: codec `{}` is not one of pcmu, pcma, l16, opus",
                    l.leg, l.codec
                ))
            }
        };
        let (default_pt, rate) = match codec {
            Codec::Pcmu => (0, 8000),
            Codec::Pcma => (8, 8000),
            Codec::L16 => (96, l.sample_rate.unwrap_or(16000)),
            _ => (111, 48000),
        };
        if let Some(r) = l.sample_rate {
            if r != rate {
                return invalid(format!(
                    "leg `{}`: {} runs at {rate} Hz, not {r}",
                    l.leg, l.codec
                ));
            }
        }
        let pt = l.payload_type.unwrap_or(default_pt);
        let mut cfg = StreamConfig::single(pt, codec, rate)
            .map_err(|e| SessionError::Invalid(format!("leg `{}`: {e}", l.leg)))?;
        cfg.jitter.depth = jitter;
        if pt != 101 && codec != Codec::Opus {
            // Most PBXes send DTMF as telephone-event 101; recognised so it is not counted as unknown.
            let _ = cfg.payloads.insert(101, Codec::TelephoneEvent, rate);
        }
        let stream = RtpStream::new(cfg)
            .map_err(|e| SessionError::Invalid(format!("leg `{}`: {e}", l.leg)))?;
        out.push(Planned {
            info: LegInfo {
                call_id: req.call_id.clone(),
                leg: l.leg.clone(),
                speaker,
                participant: req.agent_id.clone().filter(|_| speaker == Speaker::Agent),
                language: l.language.clone(),
            },
            view: LegView {
                leg: l.leg.clone(),
                speaker,
                codec: format!("{codec:?}").to_lowercase(),
                payload_type: pt,
                sample_rate: rate,
                rtp_port: 0,
                rtcp_port: 0,
                remote: None,
                ended: None,
                stats: None,
            },
            stream,
        });
    }
    Ok(out)
}
