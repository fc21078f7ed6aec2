//! The AudioSocket TCP edge: accepts connections, reads them into [`AudioSocketSession`]s and
//! feeds each one's audio to a leg. Connections that send the same UUID form one call: the
//! first is the customer leg, the second the agent leg; a third is refused. A leg starts with
//! the first audio message, whose type gives its sample rate; a connection silent for the idle
//! timeout (Asterisk sends a frame every 20 ms while the channel is up) is a dead peer and ends.

use super::session::{AudioSocketOutput, AudioSocketSession};
use crate::call::{CallInfo, EndReason, LegInfo, Speaker};
use crate::conn_limit::{ConnGuard, ConnLimiter, ConnLimits};
use crate::pipeline::{Ingest, LegSender};
use crate::shutdown::ShutdownHandle;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Why a connection got no leg.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RoleError {
    #[error("call `{call_id}` already has its customer and agent connections; AudioSocket carries at most two legs per call UUID")]
    Full { call_id: String },
}

#[derive(Debug, Default)]
struct Slots {
    claimed: u8,
    open: u8,
}

/// Assigns speakers to the connections of each call, in arrival order of their UUID message.
#[derive(Clone, Debug, Default)]
pub struct AudioSocketRoles {
    calls: Arc<Mutex<HashMap<String, Slots>>>,
}

impl AudioSocketRoles {
    /// The speaker of the next connection of `call_id`: customer, then agent, then refused.
    pub fn claim(&self, call_id: &str) -> Result<Speaker, RoleError> {
        let mut calls = self.calls.lock().unwrap();
        let slots = calls.entry(call_id.to_string()).or_default();
        let speaker = match slots.claimed {
            0 => Speaker::Customer,
            1 => Speaker::Agent,
            _ => {
                return Err(RoleError::Full {
                    call_id: call_id.to_string(),
                })
            }
        };
        slots.claimed += 1;
        slots.open += 1;
        Ok(speaker)
    }

    /// A claimed connection closed; once all have, the call UUID may start afresh.
    pub fn release(&self, call_id: &str) {
        let mut calls = self.calls.lock().unwrap();
        if let Some(slots) = calls.get_mut(call_id) {
            slots.open = slots.open.saturating_sub(1);
            if slots.open == 0 {
                calls.remove(call_id);
            }
        }
    }
}

/// Accepts AudioSocket connections until shutdown; a connection with nothing to read for
/// `idle_timeout` is closed.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    shutdown: ShutdownHandle,
    idle_timeout: Duration,
    limits: ConnLimits,
) {
    let Some(mut guard) = shutdown.subscribe() else {
        return;
    };
    let roles = AudioSocketRoles::default();
    let limiter = ConnLimiter::new("audiosocket", limits);
    loop {
        tokio::select! {
            _ = guard.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Past a cap the connection is closed unread.
                    let Ok(slot) = limiter.try_acquire(peer.ip()) else { continue };
                    let conn = Connection { ingest: ingest.clone(), roles: roles.clone(), peer, idle_timeout, _slot: slot };
                    tokio::spawn(conn.run(stream, shutdown.clone()));
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "audiosocket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

struct Connection {
    ingest: Ingest,
    roles: AudioSocketRoles,
    peer: SocketAddr,
    idle_timeout: Duration,
    /// Held while the connection lives.
    _slot: ConnGuard,
}

/// A connection's place in its call: the role claimed with its UUID, and the leg once the
/// first audio message gave its rate.
struct OpenLeg {
    call_id: String,
    speaker: Speaker,
    tx: Option<LegSender>,
}

impl Connection {
    async fn run(self, mut stream: TcpStream, shutdown: ShutdownHandle) {
        let Some(mut guard) = shutdown.subscribe() else {
            return;
        };
        let peer = self.peer;
        let mut session = AudioSocketSession::new();
        let mut leg: Option<OpenLeg> = None;
        let mut buf = vec![0u8; 4096];
        let end = 'conn: loop {
            let read = tokio::select! {
                _ = guard.recv() => break 'conn EndReason::Shutdown,
                r = tokio::time::timeout(self.idle_timeout, stream.read(&mut buf)) => match r {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::info!(%peer, idle_s = self.idle_timeout.as_secs_f32(), "audiosocket connection idle; closing it");
                        break 'conn EndReason::Idle;
                    }
                },
            };
            match read {
                Ok(0) => break 'conn EndReason::Hangup,
                Ok(n) => session.feed(&buf[..n]),
                Err(e) => {
                    tracing::info!(%peer, error = %e, "audiosocket connection broke");
                    break 'conn EndReason::Disconnected;
                }
            }
            loop {
                match session.poll() {
                    Ok(None) => break,
                    Ok(Some(AudioSocketOutput::Start { uuid })) => {
                        let call_id = uuid.hyphenated().to_string();
                        match self.roles.claim(&call_id) {
                            Ok(speaker) => {
                                leg = Some(OpenLeg {
                                    call_id,
                                    speaker,
                                    tx: None,
                                })
                            }
                            Err(reason) => {
                                tracing::warn!(%peer, call_id = %uuid, %reason, "audiosocket connection refused");
                                break 'conn EndReason::Rejected;
                            }
                        }
                    }
                    Ok(Some(AudioSocketOutput::Audio { rate, samples })) => {
                        // The session refuses audio before the UUID, so the role is claimed.
                        let Some(l) = leg.as_mut() else { continue };
                        if l.tx.is_none() {
                            match self.start_leg(&l.call_id, l.speaker, rate) {
                                Ok(tx) => l.tx = Some(tx),
                                Err(reason) => {
                                    tracing::warn!(%peer, call_id = %l.call_id, %reason, "audiosocket leg not started");
                                    break 'conn EndReason::Rejected;
                                }
                            }
                        }
                        let tx = l.tx.as_ref().expect("started above");
                        // Blocks when the leg is behind: the socket stops being read.
                        if tx.audio(samples).await.is_err() {
                            break 'conn EndReason::Failed;
                        }
                    }
                    Ok(Some(AudioSocketOutput::Dtmf(_))) => {
                        // Never the digit: callers key card numbers and PINs.
                        tracing::debug!(%peer, "audiosocket DTMF");
                    }
                    Ok(Some(AudioSocketOutput::Hangup)) => break 'conn EndReason::Hangup,
                    Ok(Some(AudioSocketOutput::Error(code))) => {
                        tracing::warn!(%peer, code, "audiosocket peer reported an error");
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "audiosocket protocol error; closing the connection");
                        break 'conn EndReason::Failed;
                    }
                }
            }
        };
        match leg {
            Some(l) => {
                tracing::info!(%peer, call_id = %l.call_id, %end, "audiosocket leg ended");
                // Ending the leg flushes its last utterance and archives it.
                if let Some(tx) = l.tx {
                    tx.end(end).await;
                }
                // The role is held from the UUID on, even when no audio came.
                self.roles.release(&l.call_id);
            }
            None => tracing::info!(%peer, %end, "audiosocket connection ended without a leg"),
        }
    }

    /// Starts the connection's leg at the rate of its first audio message.
    fn start_leg(&self, call_id: &str, speaker: Speaker, rate: u32) -> Result<LegSender, String> {
        let call = CallInfo {
            call_id: call_id.to_string(),
            source: "audiosocket".into(),
            metadata: serde_json::json!({ "remote": self.peer.to_string() }),
            ..CallInfo::default()
        };
        let info = LegInfo {
            call_id: call_id.to_string(),
            leg: speaker.as_str().to_string(),
            speaker,
            participant: None,
            language: None,
        };
        let tx = self
            .ingest
            .open(&call, info, rate, None)
            .map_err(|e| e.to_string())?;
        tracing::info!(peer = %self.peer, call_id, %speaker, rate, "audiosocket leg started");
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_in_arrival_order() {
        let roles = AudioSocketRoles::default();
        assert_eq!(roles.claim("a"), Ok(Speaker::Customer));
        assert_eq!(roles.claim("b"), Ok(Speaker::Customer));
        assert_eq!(roles.claim("a"), Ok(Speaker::Agent));
        let e = roles.claim("a").unwrap_err();
        assert!(e.to_string().contains("at most two legs"), "{e}");
        // The refused one never held a slot; the call is free again once both legs closed.
        roles.release("a");
        assert!(roles.claim("a").is_err());
        roles.release("a");
        assert_eq!(roles.claim("a"), Ok(Speaker::Customer));
    }
}
