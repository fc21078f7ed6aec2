//! WebSocket media forks (`/v1/fork/twilio`, `/v1/fork/audio`): the socket edge around the
//! sans-IO sessions in `sources/`.

use super::AppState;
use crate::auth::{policy, Access, CredentialKind, Principal};
use crate::pipeline::LegSender;
use crate::sources::audio_fork::AudioForkSession;
use crate::sources::fork::{ForkOutput, ForkSession};
use crate::sources::twilio::TwilioSession;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Extension;
use std::collections::HashMap;

/// Largest fork message or frame accepted. A Twilio media message is about 300 bytes
/// (20 ms of mu-law in base64) and an audio-fork frame a few KiB (100 ms of 16 kHz stereo
/// is 6.4 KiB); the library default (64 MiB) would let one client hold that much memory.
pub const FORK_MAX_MESSAGE: usize = 64 * 1024;

/// `GET /v1/fork/twilio`: Twilio Media Streams. Without a credential on the upgrade, the
/// token must come in `start.customParameters.token` (Twilio cannot set headers).
pub async fn twilio(
    State(app): State<AppState>,
    who: Option<Extension<Principal>>,
    ws: WebSocketUpgrade,
) -> Response {
    let who = who.map(|Extension(p)| p);
    limited(ws).on_upgrade(move |socket| drive(socket, TwilioSession::new(), app, "twilio", who))
}

fn limited(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(FORK_MAX_MESSAGE)
        .max_frame_size(FORK_MAX_MESSAGE)
}

/// A receive error that means the client sent more than the limits allow.
pub(crate) fn too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("too long") || text.contains("Space limit")
}

/// `GET /v1/fork/audio`: FreeSWITCH mod_audio_fork (subprotocol `audio.drachtio.org`).
pub async fn audio_fork(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(mut q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    // The credential is not call metadata: it is never archived.
    q.remove("token");
    limited(ws)
        .protocols(["audio.drachtio.org"])
        .on_upgrade(move |socket| {
            drive(
                socket,
                AudioForkSession::new(&q),
                app,
                "audio_fork",
                Some(who),
            )
        })
}

/// Takes a token out of a call's metadata (top level or Twilio `customParameters`), so it is
/// neither archived nor announced; returns it.
fn take_token(metadata: &mut serde_json::Value) -> Option<String> {
    let top = metadata.as_object_mut().and_then(|m| m.remove("token"));
    let custom = metadata
        .get_mut("customParameters")
        .and_then(|c| c.as_object_mut())
        .and_then(|c| c.remove("token"));
    custom.or(top).and_then(|v| v.as_str().map(str::to_string))
}

/// The principal a fork acts as: the one of its upgrade request, else the token it sent in
/// its start message. `Err` is the close reason.
fn fork_principal(
    app: &AppState,
    upgrade: Option<&Principal>,
    presented: Option<String>,
) -> Result<Principal, String> {
    let p = match upgrade {
        Some(p) => p.clone(),
        None => presented
            .and_then(|t| app.auth.resolve(&t, CredentialKind::Token))
            .ok_or("unauthorized: send an ingest token (Authorization header, ?token= or customParameters.token)")?,
    };
    // The roles of the upgrade route itself (the route table), checked after the upgrade.
    match policy::access(&Method::GET, "/v1/fork/twilio") {
        Access::Roles(roles) if !roles.contains(&p.role) => {
            Err(format!("forbidden: role `{}` may not stream calls", p.role))
        }
        _ => Ok(p),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // Close reasons are limited to 123 bytes by RFC 6455.
    let mut r = reason.to_string();
    while r.len() > 123 {
        r.pop();
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: r.into(),
        })))
        .await;
}

async fn drive<P: ForkSession + Send + 'static>(
    mut socket: WebSocket,
    mut session: P,
    app: AppState,
    kind: &str,
    who: Option<Principal>,
) {
    crate::metrics::metrics()
        .fork_streams
        .with_label_values(&[kind])
        .inc();
    let Some(mut guard) = app.shutdown.subscribe() else {
        close(&mut socket, 1001, "server shutting down").await;
        return;
    };
    let mut legs: HashMap<String, LegSender> = HashMap::new();
    let mut call_id = String::new();
    let mut closed = false;
    while !closed {
        let outputs = tokio::select! {
            _ = guard.recv() => {
                close(&mut socket, 1001, "server shutting down").await;
                break;
            }
            msg = tokio::time::timeout(app.idle_timeout, socket.recv()) => match msg {
                Err(_) => {
                    // A live fork sends media every 20-100 ms, silence included.
                    let secs = app.idle_timeout.as_secs();
                    tracing::info!(kind, call_id, idle_s = secs, "fork sent nothing; closing it");
                    close(&mut socket, 1000, &format!("no frame for {secs} s; closing")).await;
                    closed = true;
                    Ok(session.on_close())
                }
                Ok(None) => { tracing::info!(kind, call_id, "fork connection vanished"); closed = true; Ok(session.on_close()) }
                Ok(Some(Err(e))) if too_big(&e) => {
                    tracing::warn!(kind, call_id, error = %e, "fork message over the size limit; closing");
                    close(&mut socket, 1009, &format!("message over {} KiB; send smaller media frames", FORK_MAX_MESSAGE / 1024)).await;
                    closed = true;
                    Ok(session.on_close())
                }
                Ok(Some(Err(e))) => { tracing::info!(kind, call_id, error = %e, "fork connection broke"); closed = true; Ok(session.on_close()) }
                Ok(Some(Ok(Message::Close(_)))) => { closed = true; Ok(session.on_close()) }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Text(t)))) => session.on_text(t.as_str()),
                Ok(Some(Ok(Message::Binary(b)))) => session.on_binary(&b),
            }
        };
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(kind, call_id, error = %e, "fork protocol error; closing");
                close(&mut socket, e.close_code(), &e.to_string()).await;
                break;
            }
        };
        let mut stop = false;
        for out in outputs {
            match out {
                ForkOutput::Start {
                    mut call,
                    legs: new_legs,
                    sample_rate,
                } => {
                    call_id = call.call_id.clone();
                    let presented = take_token(&mut call.metadata);
                    let who = match fork_principal(&app, who.as_ref(), presented) {
                        Ok(p) => p,
                        Err(reason) => {
                            tracing::warn!(kind, call_id, "fork refused: {reason}");
                            close(&mut socket, 1008, &reason).await;
                            return;
                        }
                    };
                    let names: Vec<String> = new_legs.iter().map(|l| l.leg.clone()).collect();
                    let rates = new_legs.into_iter().map(|l| (l, sample_rate)).collect();
                    match app.ingest.open_all(&call, rates, Some(&who.name)) {
                        Ok(senders) => legs.extend(names.into_iter().zip(senders)),
                        Err(e) => {
                            close(&mut socket, 1008, &e.to_string()).await;
                            return;
                        }
                    }
                    tracing::info!(kind, call_id, legs = legs.len(), "fork started");
                }
                ForkOutput::Audio { leg, samples, .. } => {
                    if let Some(tx) = legs.get(&leg) {
                        // Blocks when the leg is behind: the socket stops being read.
                        if tx.audio(samples).await.is_err() {
                            legs.remove(&leg);
                        }
                    }
                }
                ForkOutput::Stop => stop = true,
            }
        }
        if stop {
            tracing::info!(kind, call_id, "fork stopped");
            legs.clear();
        }
    }
    // Dropping the senders ends every leg: they flush their last utterance and archive it.
    drop(legs);
}
