//! The recording server's media plane: one RTP/RTCP port pair per recorded stream from the
//! shared [`RtpPortPool`], each received by an RTP receiver task (jitter buffer, decoding) into
//! the stream's leg of the pipeline.
//!
//! Inactivity is judged here rather than by the receivers: a stream on hold sends nothing
//! and must not end, so the receivers run with a long timeout and this plane watches their
//! packet counters, skipping paused streams. A paused stream's receiver is muted: what the
//! SBC still sends on hold (music, comfort noise) reaches the leg as silence of the same
//! length, so it is never transcribed and the legs keep one timeline.

use super::sdp::Codec;
use super::server::MediaPlane;
use super::srs::MediaStream;
use crate::call::{CallInfo, EndReason};
use crate::clock::SharedClock;
use crate::pipeline::Ingest;
use crate::sources::rtp::payload::Codec as RtpCodec;
use crate::sources::rtp::{
    net::spawn_receiver, ReceiverHandle, ReceiverOptions, RtpPortPool, RtpStream, StreamConfig,
};
use std::collections::HashMap;
use std::time::Duration;

/// Receivers outlive any real hold; the plane ends sessions by its own inactivity rule.
const RECEIVER_IDLE: Duration = Duration::from_secs(24 * 3600);

struct StreamTask {
    label: String,
    paused: bool,
    handle: ReceiverHandle,
    /// Packets seen at the last check, and when that count last changed (clock ms).
    packets: u64,
    changed_ms: i64,
}

/// RTP reception for SIPREC sessions, feeding legs opened through [`Ingest`].
pub struct RtpMedia {
    ingest: Ingest,
    clock: SharedClock,
    pool: RtpPortPool,
    inactivity_ms: i64,
    sessions: HashMap<String, Vec<StreamTask>>,
}

impl RtpMedia {
    /// Streams get port pairs from `pool`; a session whose active streams receive nothing
    /// for `inactivity` is reported by [`MediaPlane::inactive`].
    pub fn new(ingest: Ingest, pool: RtpPortPool, inactivity: Duration) -> Self {
        RtpMedia {
            clock: ingest.clock(),
            ingest,
            pool,
            inactivity_ms: inactivity.as_millis() as i64,
            sessions: HashMap::new(),
        }
    }

    fn now_ms(&self) -> i64 {
        (self.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn set_paused(&mut self, session: &str, label: &str, paused: bool) {
        let now = self.now_ms();
        if let Some(s) = self.sessions.get_mut(session) {
            for t in s.iter_mut().filter(|t| t.label == label) {
                t.paused = paused;
                t.changed_ms = now;
                t.handle.set_muted(paused);
            }
        }
    }
}

fn rtp_codec(c: Codec) -> RtpCodec {
    match c {
        Codec::Pcmu => RtpCodec::Pcmu,
        Codec::Pcma => RtpCodec::Pcma,
        Codec::Opus => RtpCodec::Opus,
    }
}

impl MediaPlane for RtpMedia {
    fn open(
        &mut self,
        session: &str,
        call: &CallInfo,
        streams: &[MediaStream],
    ) -> Result<Vec<u16>, String> {
        let pairs = self
            .pool
            .allocate(streams.len())
            .map_err(|e| e.to_string())?;
        let mut decoders = Vec::new();
        for st in streams {
            let cfg =
                StreamConfig::single(st.pt as u16, rtp_codec(st.codec), st.codec.clock_rate())
                    .map_err(|e| e.to_string())?;
            let mut decoder = RtpStream::new(cfg).map_err(|e| e.to_string())?;
            if let Some(keys) = &st.srtp {
                decoder = decoder.with_srtp(
                    crate::sources::rtp::srtp::SrtpReceiver::new(keys)
                        .map_err(|e| e.to_string())?,
                );
            }
            decoders.push(decoder);
        }
        let now = self.now_ms();
        let legs = streams
            .iter()
            .zip(&decoders)
            .map(|(st, d)| (st.leg.clone(), d.output_rate()))
            .collect();
        let senders = self
            .ingest
            .open_all(call, legs, None)
            .map_err(|e| e.to_string())?;
        let mut ports = Vec::new();
        for (((st, pair), decoder), tx) in streams.iter().zip(pairs).zip(decoders).zip(senders) {
            let port = pair.lease.rtp_port();
            let opts = ReceiverOptions {
                inactivity: RECEIVER_IDLE,
                label: format!("{}/{}", st.leg.call_id, st.leg.leg),
            };
            let handle = spawn_receiver(pair, decoder, tx, opts, self.ingest.shutdown_guard())
                .map_err(|e| e.to_string())?;
            handle.set_muted(st.paused);
            ports.push(port);
            self.sessions
                .entry(session.to_string())
                .or_default()
                .push(StreamTask {
                    label: st.label.clone(),
                    paused: st.paused,
                    handle,
                    packets: 0,
                    changed_ms: now,
                });
        }
        Ok(ports)
    }

    fn pause(&mut self, session: &str, label: &str) {
        self.set_paused(session, label, true);
    }

    fn resume(&mut self, session: &str, label: &str) {
        self.set_paused(session, label, false);
    }

    fn stop(&mut self, session: &str, label: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            for t in s.iter_mut().filter(|t| t.label == label) {
                t.handle.close();
            }
            s.retain(|t| t.label != label);
        }
    }

    fn close(&mut self, session: &str, reason: EndReason) {
        // Closing a receiver plays out what it holds and ends the leg's input; the leg then
        // transcribes and archives its last utterance. The archive keeps the reason.
        for mut t in self.sessions.remove(session).unwrap_or_default() {
            t.handle.close_with_reason(reason);
        }
    }

    fn inactive(&mut self) -> Vec<String> {
        let now = self.now_ms();
        let limit = self.inactivity_ms;
        let mut quiet = Vec::new();
        for (id, streams) in self.sessions.iter_mut() {
            let mut any_active = false;
            let mut all_idle = true;
            for t in streams.iter_mut() {
                let packets = t.handle.report().stats.rtp_packets;
                if packets != t.packets {
                    t.packets = packets;
                    t.changed_ms = now;
                }
                if t.paused {
                    continue;
                }
                any_active = true;
                if now - t.changed_ms <= limit && !t.handle.is_finished() {
                    all_idle = false;
                }
            }
            if any_active && all_idle {
                quiet.push(id.clone());
            }
        }
        quiet
    }
}

/// Starts the recording server: binds SIP, and runs it on the current runtime until shutdown.
/// Recorded streams take their ports from `pool`, shared with the other RTP sources.
pub async fn serve(
    cfg: &super::SipConfig,
    ingest: Ingest,
    shutdown: crate::shutdown::Shutdown,
    pool: RtpPortPool,
    tcp: super::server::TcpLimits,
    tls: Option<(std::net::SocketAddr, tokio_rustls::TlsAcceptor)>,
) -> Result<std::net::SocketAddr, super::server::SipServerError> {
    let rules = cfg.rules().map_err(super::server::SipServerError::Config)?;
    let sockets = super::server::SipSockets::bind(cfg.listen, tls).await?;
    let addr = sockets.local_addr().unwrap_or(cfg.listen);
    let digest = (!cfg.digest_user.is_empty()).then(|| {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the OS random source");
        super::srs::peers::DigestAuth {
            realm: cfg.digest_realm.clone(),
            user: cfg.digest_user.clone(),
            password: cfg.digest_password.expose().to_string(),
            secret,
        }
    });
    let srs = super::srs::Srs::new(
        super::srs::SrsConfig {
            advertise: cfg.advertised(),
            sip_port: addr.port(),
            tls_port: sockets.tls_addr().map(|a| a.port()),
            allow: rules.allow,
            digest,
            max_sessions: cfg.max_sessions,
            roles: rules.roles,
            queue_from: rules.queue_from,
            session_expires_s: cfg.session_expires_s,
            min_se_s: cfg.min_se_s,
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
            retry_after_s: 30,
        },
        ingest.clock(),
    );
    let media = RtpMedia::new(ingest, pool, Duration::from_secs(cfg.rtp_timeout_s as u64));
    tokio::spawn(super::server::run(sockets, srs, media, shutdown, tcp));
    Ok(addr)
}
