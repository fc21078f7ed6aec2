//! The AudioSocket TCP edge: accepts connections, reads them into [`AudioSocketSession`]s and
//! feeds each one's audio to a leg. Connections that send the same UUID form one call: the
//! first is the customer leg, the second the agent leg; a third is refused.

use super::session::{AudioSocketOutput, AudioSocketSession, AUDIOSOCKET_RATE};
use crate::call::{CallInfo, LegInfo, Speaker};
use crate::pipeline::{spawn_leg, LegInput, Shared};
use crate::shutdown::ShutdownHandle;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

/// Accepts AudioSocket connections until shutdown.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: ShutdownHandle) {
    let Some(mut guard) = shutdown.subscribe() else {
        return;
    };
    let roles = AudioSocketRoles::default();
    loop {
        tokio::select! {
            _ = guard.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = Connection { shared: shared.clone(), roles: roles.clone(), peer };
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
    shared: Arc<Shared>,
    roles: AudioSocketRoles,
    peer: SocketAddr,
}

/// A connection's leg, once its UUID arrived and it got a role.
struct OpenLeg {
    call_id: String,
    tx: mpsc::Sender<LegInput>,
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
                _ = guard.recv() => break 'conn "shutdown",
                r = stream.read(&mut buf) => r,
            };
            match read {
                Ok(0) => break 'conn "closed",
                Ok(n) => session.feed(&buf[..n]),
                Err(e) => {
                    tracing::info!(%peer, error = %e, "audiosocket connection broke");
                    break 'conn "broken";
                }
            }
            loop {
                match session.poll() {
                    Ok(None) => break,
                    Ok(Some(AudioSocketOutput::Start { uuid })) => {
                        match self.open(&uuid.hyphenated().to_string()) {
                            Ok(l) => leg = Some(l),
                            Err(reason) => {
                                tracing::warn!(%peer, call_id = %uuid, %reason, "audiosocket connection refused");
                                break 'conn "refused";
                            }
                        }
                    }
                    Ok(Some(AudioSocketOutput::Audio(samples))) => {
                        if let Some(l) = &leg {
                            // Blocks when the leg is behind: the socket stops being read.
                            if l.tx.send(LegInput::Audio(samples)).await.is_err() {
                                break 'conn "leg ended";
                            }
                        }
                    }
                    Ok(Some(AudioSocketOutput::Dtmf(digit))) => {
                        // Digits can be PINs: only debug logs may carry them.
                        tracing::debug!(%peer, %digit, "audiosocket DTMF");
                    }
                    Ok(Some(AudioSocketOutput::Hangup)) => break 'conn "hangup",
                    Ok(Some(AudioSocketOutput::Error(code))) => {
                        tracing::warn!(%peer, code, "audiosocket peer reported an error");
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "audiosocket protocol error; closing the connection");
                        break 'conn "protocol error";
                    }
                }
            }
        };
        match leg {
            Some(l) => {
                tracing::info!(%peer, call_id = %l.call_id, end, "audiosocket leg ended");
                // Dropping the sender ends the leg: it flushes its last utterance and archives it.
                drop(l.tx);
                self.roles.release(&l.call_id);
            }
            None => tracing::info!(%peer, end, "audiosocket connection ended without a leg"),
        }
    }

    /// Gives the connection its role and starts its leg.
    fn open(&self, call_id: &str) -> Result<OpenLeg, String> {
        let speaker = self.roles.claim(call_id).map_err(|e| e.to_string())?;
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
        if let Err(e) = self.shared.registry.open_leg(&call, &info) {
            self.roles.release(call_id);
            return Err(e.to_string());
        }
        let (tx, _task) = spawn_leg(self.shared.clone(), info, AUDIOSOCKET_RATE);
        tracing::info!(peer = %self.peer, call_id, %speaker, "audiosocket leg started");
        Ok(OpenLeg {
            call_id: call_id.to_string(),
            tx,
        })
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
