//! The socket edge of WHIP: UDP sockets on the candidate addresses and one task per session
//! driving a [`WhipSession`] into a pipeline leg. Live sessions are kept by id for `DELETE`.

use super::params::PublishParams;
use super::session::{EndReason, SessionOutput, SessionStats, WhipSession};
use super::WhipError;
use crate::call::{CallInfo, LegInfo};
use crate::pipeline::{Ingest, LegSender};
use crate::shutdown::Shutdown;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Opens a pipeline leg for a new publisher (as the credential named last) and returns its
/// audio inbox; `Err` says why not (the participant is already publishing in that call,
/// another credential opened the call, the call is archived).
pub type LegFactory =
    Arc<dyn Fn(&CallInfo, &LegInfo, u32, Option<&str>) -> Result<LegSender, String> + Send + Sync>;

/// Legs on the live pipeline: the call registry announces the call with its first leg and
/// archives it when the last one ends.
pub fn pipeline_legs(ingest: Ingest) -> LegFactory {
    Arc::new(move |call, leg, rate, by| {
        ingest
            .open(call, leg.clone(), rate, by)
            .map_err(|e| e.to_string())
    })
}

/// Settings every session shares (from `[whip]`).
#[derive(Debug, Clone)]
pub struct WhipSettings {
    /// Addresses offered as ICE host candidates; one socket is bound on each.
    pub hosts: Vec<IpAddr>,
    /// UDP port range; `0..=0` takes any free port.
    pub port_min: u16,
    pub port_max: u16,
    /// No audio for this long ends a session.
    pub media_timeout: Duration,
    pub max_sessions: usize,
}

/// A live session as `GET /v1/stats` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub call_id: String,
    pub participant: String,
    pub stats: SessionStats,
}

struct Live {
    call_id: String,
    participant: String,
    close: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
    stats: Arc<Mutex<SessionStats>>,
}

/// The live WHIP sessions; cheap to clone.
#[derive(Clone)]
pub struct WhipSessions {
    settings: Arc<WhipSettings>,
    live: Arc<Mutex<HashMap<String, Live>>>,
    next_port: Arc<AtomicU16>,
}

/// Datagrams queued between a socket reader and its session task. Backpressure: when the
/// session is behind, the reader waits and the kernel's socket buffer drops what overflows
/// (media has no flow control; the Opus track conceals the gap).
const DATAGRAM_QUEUE: usize = 256;

impl WhipSessions {
    pub fn new(settings: WhipSettings) -> Self {
        WhipSessions {
            next_port: Arc::new(AtomicU16::new(settings.port_min)),
            settings: Arc::new(settings),
            live: Arc::default(),
        }
    }

    /// Live session count.
    pub fn count(&self) -> usize {
        self.live.lock().expect("whip lock").len()
    }

    /// Live sessions with their counters.
    pub fn views(&self) -> Vec<SessionView> {
        let live = self.live.lock().expect("whip lock");
        let mut v: Vec<SessionView> = live
            .iter()
            .map(|(id, l)| SessionView {
                id: id.clone(),
                call_id: l.call_id.clone(),
                participant: l.participant.clone(),
                stats: l.stats.lock().expect("whip stats lock").clone(),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Accepts a publisher's offer: binds its sockets, opens its leg and starts the session.
    /// Returns the session id and the SDP answer.
    pub fn create(
        &self,
        params: &PublishParams,
        offer: &str,
        legs: &LegFactory,
        shutdown: Option<Shutdown>,
    ) -> Result<(String, String), WhipError> {
        // Offers are checked before any socket is bound or leg opened.
        super::offer::summarize(offer)?;
        if self.count() >= self.settings.max_sessions {
            return Err(WhipError::TooMany(self.settings.max_sessions));
        }
        let sockets = self.bind()?;
        let locals: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
        let (session, answer) =
            WhipSession::accept(offer, &locals, self.settings.media_timeout, Instant::now())?;
        let call = CallInfo {
            call_id: params.call_id.clone(),
            source: "whip".into(),
            agent_id: params.agent_id.clone(),
            queue: params.queue.clone(),
            metadata: serde_json::json!({
                "participant": params.participant,
                "opus_payload_type": session.opus_payload_type(),
                "video_sections": session.offer().video_sections,
            }),
        };
        let leg = LegInfo {
            call_id: params.call_id.clone(),
            leg: params.participant.clone(),
            speaker: params.speaker,
            participant: Some(params.participant.clone()),
            language: params.language.clone(),
        };
        let tx = legs(
            &call,
            &leg,
            session.sample_rate(),
            params.opened_by.as_deref(),
        )
        .map_err(WhipError::Conflict)?;
        let id = uuid::Uuid::new_v4().to_string();
        let (close_tx, close_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let stats = Arc::new(Mutex::new(SessionStats::default()));
        self.live.lock().expect("whip lock").insert(
            id.clone(),
            Live {
                call_id: params.call_id.clone(),
                participant: params.participant.clone(),
                close: Some(close_tx),
                done: Some(done_rx),
                stats: stats.clone(),
            },
        );
        let live = Arc::downgrade(&self.live);
        let label = format!("{}/{}", params.call_id, params.participant);
        let session_id = id.clone();
        tokio::spawn(async move {
            drive(session, sockets, tx, close_rx, shutdown, stats, &label).await;
            if let Some(live) = live.upgrade() {
                live.lock().expect("whip lock").remove(&session_id);
            }
            let _ = done_tx.send(());
        });
        tracing::info!(call_id = %params.call_id, session = %id, "WHIP session created");
        Ok((id, answer))
    }

    /// Ends a session (its leg finishes; the call is archived with its last leg) and waits
    /// until its audio has been handed to the leg.
    pub async fn delete(&self, id: &str) -> Result<(), WhipError> {
        let done = {
            let mut live = self.live.lock().expect("whip lock");
            let l = live
                .get_mut(id)
                .ok_or_else(|| WhipError::NotFound(id.to_string()))?;
            if let Some(c) = l.close.take() {
                let _ = c.send(());
            }
            l.done.take()
        };
        if let Some(done) = done {
            let _ = done.await;
        }
        Ok(())
    }

    fn bind(&self) -> Result<Vec<UdpSocket>, WhipError> {
        let s = &self.settings;
        let mut out = Vec::with_capacity(s.hosts.len());
        for host in &s.hosts {
            out.push(self.bind_one(*host)?);
        }
        Ok(out)
    }

    fn bind_one(&self, host: IpAddr) -> Result<UdpSocket, WhipError> {
        let s = &self.settings;
        let bind = |port: u16| -> std::io::Result<UdpSocket> {
            let sock = std::net::UdpSocket::bind((host, port))?;
            sock.set_nonblocking(true)?;
            UdpSocket::from_std(sock)
        };
        if s.port_min == 0 {
            return bind(0).map_err(|source| WhipError::Socket {
                addr: (host, 0).into(),
                source,
            });
        }
        let span = (s.port_max - s.port_min) as u32 + 1;
        for _ in 0..span {
            let p = self.next_port.fetch_add(1, Ordering::Relaxed);
            let port = s.port_min + ((p.wrapping_sub(s.port_min)) as u32 % span) as u16;
            if let Ok(sock) = bind(port) {
                return Ok(sock);
            }
        }
        Err(WhipError::PortsExhausted {
            min: s.port_min,
            max: s.port_max,
        })
    }
}

async fn drive(
    mut session: WhipSession,
    sockets: Vec<UdpSocket>,
    leg: LegSender,
    mut close_rx: oneshot::Receiver<()>,
    mut shutdown: Option<Shutdown>,
    stats: Arc<Mutex<SessionStats>>,
    label: &str,
) {
    let sockets: Vec<Arc<UdpSocket>> = sockets.into_iter().map(Arc::new).collect();
    let (dgram_tx, mut dgram_rx) =
        mpsc::channel::<(SocketAddr, SocketAddr, Vec<u8>)>(DATAGRAM_QUEUE);
    let readers: Vec<_> = sockets
        .iter()
        .map(|s| {
            let s = s.clone();
            let tx = dgram_tx.clone();
            tokio::spawn(async move {
                let local = match s.local_addr() {
                    Ok(a) => a,
                    Err(_) => return,
                };
                let mut buf = vec![0u8; 2048];
                loop {
                    match s.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            if tx.send((from, local, buf[..n].to_vec())).await.is_err() {
                                return;
                            }
                        }
                        // ICMP port unreachable from a vanished peer surfaces here on Linux;
                        // the media timeout decides when the session is over.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    drop(dgram_tx);
    let mut leg = Some(leg);
    let mut reason = None;
    while reason.is_none() {
        let deadline = tokio::time::Instant::from_std(session.next_deadline());
        let outputs = tokio::select! {
            biased;
            _ = &mut close_rx => session.close(EndReason::Deleted),
            _ = async { match shutdown.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => session.close(EndReason::Shutdown),
            d = dgram_rx.recv() => match d {
                Some((from, local, data)) => session.on_datagram(Instant::now(), from, local, &data),
                None => session.close(EndReason::Failed),
            },
            _ = tokio::time::sleep_until(deadline) => session.on_timeout(Instant::now()),
        };
        for o in outputs {
            match o {
                SessionOutput::Transmit { from, to, data } => {
                    let sock = sockets
                        .iter()
                        .find(|s| s.local_addr().ok() == Some(from))
                        .or(sockets.first());
                    if let Some(s) = sock {
                        let _ = s.send_to(&data, to).await;
                    }
                }
                SessionOutput::Connected => {
                    tracing::info!(session = label, "WHIP publisher connected");
                }
                SessionOutput::Audio(pcm) => {
                    // Waits when the leg is behind (never drops audio it was given).
                    if let Some(tx) = &leg {
                        if tx.audio(pcm).await.is_err() {
                            leg = None;
                        }
                    }
                }
                SessionOutput::Ended(r) => reason = Some(r),
            }
        }
        *stats.lock().expect("whip stats lock") = session.stats().clone();
    }
    for r in readers {
        r.abort();
    }
    let s = session.stats();
    tracing::info!(
        session = label,
        reason = ?reason,
        audio_ms = s.audio_ms,
        frames = s.audio_frames,
        bad = s.bad_frames,
        ignored = s.ignored_frames,
        "WHIP session ended"
    );
    // Ending the leg flushes its last utterance and archives it.
    if let Some(tx) = leg {
        tx.end(reason.unwrap_or_default()).await;
    }
}
