//! The recording server's media plane: one UDP port pair per recorded stream, RTP payloads
//! (PCMU/PCMA) decoded into the stream's leg of the pipeline.
//!
//! Sessions open and close from the SIP loop; each stream's receive task owns its sockets.

use super::sdp::Codec;
use super::server::MediaPlane;
use super::srs::MediaStream;
use crate::call::CallInfo;
use crate::pipeline::{spawn_leg, LegInput, Shared};
use crate::transforms::decode::{decode_alaw, decode_ulaw};
use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

struct StreamTask {
    label: String,
    paused: Arc<AtomicBool>,
    /// Milliseconds (by the shared clock) of the last packet, or of the open.
    last_packet_ms: Arc<AtomicI64>,
    stop: Option<oneshot::Sender<()>>,
    ports: (u16, u16),
}

impl Drop for StreamTask {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// RTP reception for SIPREC sessions, feeding [`spawn_leg`].
pub struct RtpMedia {
    shared: Arc<Shared>,
    bind: IpAddr,
    range: (u16, u16),
    next: u16,
    inactivity_ms: i64,
    sessions: HashMap<String, Vec<StreamTask>>,
}

impl RtpMedia {
    /// Ports are taken from `range` (even RTP port, RTCP on the next) on `bind`.
    pub fn new(shared: Arc<Shared>, bind: IpAddr, range: [u16; 2], inactivity: Duration) -> Self {
        let first = range[0] + range[0] % 2;
        RtpMedia {
            shared,
            bind,
            range: (first, range[1]),
            next: first,
            inactivity_ms: inactivity.as_millis() as i64,
            sessions: HashMap::new(),
        }
    }

    fn now_ms(&self) -> i64 {
        (self.shared.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn in_use(&self, port: u16) -> bool {
        self.sessions
            .values()
            .flatten()
            .any(|s| s.ports.0 == port || s.ports.1 == port)
    }

    /// Binds `n` consecutive even/odd pairs, scanning the range round-robin.
    fn bind_pairs(&mut self, n: usize) -> Result<Vec<(UdpSocket, UdpSocket)>, String> {
        let span = (self.range.1 - self.range.0) as usize / 2;
        for _ in 0..span {
            let start = self.next;
            let end = start as usize + 2 * n;
            self.next = if end + 1 > self.range.1 as usize {
                self.range.0
            } else {
                end as u16
            };
            if end > self.range.1 as usize + 1 {
                continue;
            }
            let mut pairs = Vec::new();
            for i in 0..n {
                let p = start + 2 * i as u16;
                if self.in_use(p) {
                    break;
                }
                match (
                    UdpSocket::bind((self.bind, p)),
                    UdpSocket::bind((self.bind, p + 1)),
                ) {
                    (Ok(a), Ok(b)) => pairs.push((a, b)),
                    _ => break,
                }
            }
            if pairs.len() == n {
                return Ok(pairs);
            }
        }
        Err(format!(
            "no {n} consecutive free RTP port pairs in {}-{}; widen [sip] rtp_ports",
            self.range.0, self.range.1
        ))
    }
}

impl MediaPlane for RtpMedia {
    fn open(
        &mut self,
        session: &str,
        call: &CallInfo,
        streams: &[MediaStream],
    ) -> Result<Vec<u16>, String> {
        let pairs = self.bind_pairs(streams.len())?;
        let mut ports = Vec::new();
        let now = self.now_ms();
        for (st, (rtp, rtcp)) in streams.iter().zip(pairs) {
            let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
            let codec = st.codec;
            if codec == Codec::Opus {
                return Err("opus is not decoded by this media plane".into());
            }
            self.shared
                .registry
                .open_leg(call, &st.leg)
                .map_err(|e| e.to_string())?;
            let (tx, _task) = spawn_leg(self.shared.clone(), st.leg.clone(), 8000);
            let paused = Arc::new(AtomicBool::new(st.paused));
            let last = Arc::new(AtomicI64::new(now));
            let (stop_tx, stop_rx) = oneshot::channel();
            rtp.set_nonblocking(true).map_err(|e| e.to_string())?;
            let sock = tokio::net::UdpSocket::from_std(rtp).map_err(|e| e.to_string())?;
            let clock = self.shared.clock.clone();
            let (p2, l2, pt) = (paused.clone(), last.clone(), st.pt);
            tokio::spawn(async move {
                // RTCP is not read; holding the socket keeps the port reserved.
                let _rtcp = rtcp;
                let mut stop_rx = stop_rx;
                let mut buf = vec![0u8; 2048];
                loop {
                    let n = tokio::select! {
                        _ = &mut stop_rx => break,
                        r = sock.recv(&mut buf) => match r { Ok(n) => n, Err(_) => continue },
                    };
                    let Some(payload) = rtp_payload(&buf[..n], pt) else {
                        continue;
                    };
                    l2.store(
                        (clock.now().unix_timestamp_nanos() / 1_000_000) as i64,
                        Ordering::Relaxed,
                    );
                    if p2.load(Ordering::Relaxed) {
                        continue;
                    }
                    let pcm = match codec {
                        Codec::Pcma => decode_alaw(payload),
                        _ => decode_ulaw(payload),
                    };
                    // Backpressure: waits for the leg (socket reads stop; the kernel buffer
                    // absorbs what it can, RTP has no flow control).
                    if tx.send(LegInput::Audio(pcm)).await.is_err() {
                        break;
                    }
                }
            });
            ports.push(port);
            self.sessions
                .entry(session.to_string())
                .or_default()
                .push(StreamTask {
                    label: st.label.clone(),
                    paused,
                    last_packet_ms: last,
                    stop: Some(stop_tx),
                    ports: (port, port + 1),
                });
        }
        Ok(ports)
    }

    fn pause(&mut self, session: &str, label: &str) {
        self.set_paused(session, label, true);
    }

    fn resume(&mut self, session: &str, label: &str) {
        let now = self.now_ms();
        if let Some(s) = self.sessions.get(session) {
            for t in s.iter().filter(|t| t.label == label) {
                t.last_packet_ms.store(now, Ordering::Relaxed);
            }
        }
        self.set_paused(session, label, false);
    }

    fn stop(&mut self, session: &str, label: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.retain(|t| t.label != label);
        }
    }

    fn close(&mut self, session: &str, _reason: &str) {
        self.sessions.remove(session);
    }

    fn inactive(&mut self) -> Vec<String> {
        let now = self.now_ms();
        self.sessions
            .iter()
            .filter(|(_, streams)| {
                let active: Vec<&StreamTask> = streams
                    .iter()
                    .filter(|t| !t.paused.load(Ordering::Relaxed))
                    .collect();
                !active.is_empty()
                    && active.iter().all(|t| {
                        now - t.last_packet_ms.load(Ordering::Relaxed) > self.inactivity_ms
                    })
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl RtpMedia {
    fn set_paused(&mut self, session: &str, label: &str, paused: bool) {
        if let Some(s) = self.sessions.get(session) {
            for t in s.iter().filter(|t| t.label == label) {
                t.paused.store(paused, Ordering::Relaxed);
            }
        }
    }
}

/// The payload of an RTP packet (RFC 3550 §5.1) with payload type `pt`; other packets
/// (RTCP muxed in, telephone-event, comfort noise) yield `None`.
pub fn rtp_payload(packet: &[u8], pt: u8) -> Option<&[u8]> {
    if packet.len() < 12 || packet[0] >> 6 != 2 || packet[1] & 0x7f != pt {
        return None;
    }
    let cc = (packet[0] & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(off + 2..off + 4)?;
        off += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        let pad = *packet.last()? as usize;
        end = end.checked_sub(pad)?;
    }
    packet.get(off..end)
}

/// Starts the recording server: binds SIP, and runs it on the current runtime until shutdown.
pub async fn serve(
    cfg: &crate::config::SipConfig,
    shared: Arc<Shared>,
    shutdown: crate::shutdown::Shutdown,
) -> Result<std::net::SocketAddr, super::server::SipServerError> {
    let sockets = super::server::SipSockets::bind(cfg.listen).await?;
    let addr = sockets.local_addr().unwrap_or(cfg.listen);
    let srs = super::srs::Srs::new(
        super::srs::SrsConfig {
            advertise: cfg.advertised(),
            sip_port: addr.port(),
            max_sessions: cfg.max_sessions,
            roles: super::RoleRule::parse(&cfg.agent).unwrap_or(super::RoleRule::Second),
            queue_from: super::QueueSource::parse(&cfg.queue_from).unwrap_or(None),
            session_expires_s: cfg.session_expires_s,
            min_se_s: cfg.min_se_s,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            retry_after_s: 30,
        },
        shared.clock.clone(),
    );
    let media = RtpMedia::new(
        shared.clone(),
        cfg.listen.ip(),
        cfg.rtp_ports,
        Duration::from_secs(cfg.rtp_timeout_s as u64),
    );
    tokio::spawn(super::server::run(sockets, srs, media, shutdown));
    Ok(addr)
}
