//! One WHIP publisher as a sans-IO state machine around str0m's `Rtc`: the edge feeds it
//! datagrams and the current instant, and takes out datagrams to send, decoded PCM and, once,
//! why the session ended.

use super::offer::{summarize, OfferSummary};
use super::track::OpusTrack;
use super::WhipError;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

/// Why a session ended: [`EndReason::Deleted`], [`EndReason::MediaTimeout`],
/// [`EndReason::Disconnected`], [`EndReason::Failed`] or [`EndReason::Shutdown`].
pub use crate::call::EndReason;

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    /// Send `data` from the local address `from` to `to`.
    Transmit {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// ICE and DTLS are up; media may flow.
    Connected,
    /// 16-bit mono PCM at [`WhipSession::sample_rate`], in media order.
    Audio(Vec<i16>),
    /// The session is over; emitted once, after the last audio.
    Ended(EndReason),
}

/// Counters shown by `GET /v1/stats` and logged at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionStats {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub audio_frames: u64,
    pub bad_frames: u64,
    /// Frames of tracks callwatch does not transcribe (video, a second audio track).
    pub ignored_frames: u64,
    pub audio_ms: u64,
}

/// One publisher's WebRTC session.
pub struct WhipSession {
    rtc: Rtc,
    offer: OfferSummary,
    audio_mid: Option<Mid>,
    track: OpusTrack,
    media_timeout: Duration,
    /// Last audio frame, or the session's start before the first.
    last_media: Instant,
    /// When str0m next wants the time.
    rtc_deadline: Instant,
    connected: bool,
    ended: Option<EndReason>,
    stats: SessionStats,
}

fn install_crypto() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| str0m::crypto::from_feature_flags().install_process_default());
}

impl WhipSession {
    /// Accepts `offer`, answering with ICE host candidates at `candidates` (the sockets the
    /// edge has bound). Returns the session and the SDP answer.
    ///
    /// callwatch is ICE-lite (RFC 8445 §2.5): it only answers the publisher's connectivity
    /// checks, so the publisher's own candidates (often mDNS names in browsers) need not be
    /// resolvable by the server, and trickle ICE from the publisher is not needed.
    pub fn accept(
        offer: &str,
        candidates: &[SocketAddr],
        media_timeout: Duration,
        now: Instant,
    ) -> Result<(WhipSession, String), WhipError> {
        let summary = summarize(offer)?;
        let parsed =
            SdpOffer::from_sdp_string(offer).map_err(|e| WhipError::MalformedSdp(e.to_string()))?;
        install_crypto();
        let mut cfg = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .set_stats_interval(None);
        // Video is negotiated so a camera track does not fail the publish; its frames are
        // counted and dropped.
        cfg = cfg.enable_vp8(true).enable_h264(true).enable_vp9(true);
        let mut rtc = cfg.build(now);
        for addr in candidates {
            let c = Candidate::host(*addr, "udp").map_err(|e| WhipError::Rtc(e.to_string()))?;
            rtc.add_local_candidate(c);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| WhipError::Rtc(e.to_string()))?;
        let answer = answer.to_sdp_string();
        let mut s = WhipSession {
            rtc,
            offer: summary,
            audio_mid: None,
            track: OpusTrack::new().map_err(|e| WhipError::Rtc(e.to_string()))?,
            media_timeout,
            last_media: now,
            rtc_deadline: now,
            connected: false,
            ended: None,
            stats: SessionStats::default(),
        };
        // Nothing can be due yet, but draining sets the first deadline.
        let _ = s.drain(now);
        Ok((s, answer))
    }

    /// Output sample rate of [`SessionOutput::Audio`].
    pub fn sample_rate(&self) -> u32 {
        self.track.rate()
    }

    /// The Opus payload type the publisher offered.
    pub fn opus_payload_type(&self) -> u8 {
        self.offer.opus_pt
    }

    /// The offer's shape.
    pub fn offer(&self) -> &OfferSummary {
        &self.offer
    }

    /// Counters so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// When [`WhipSession::on_timeout`] must next be called.
    pub fn next_deadline(&self) -> Instant {
        self.rtc_deadline.min(self.last_media + self.media_timeout)
    }

    /// Feeds one datagram received on the local address `local` from `from`.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) -> Vec<SessionOutput> {
        if self.ended.is_some() {
            return Vec::new();
        }
        self.stats.datagrams_in += 1;
        // Anything that is not STUN, DTLS, RTP or RTCP is dropped: a stray datagram on the
        // port must not end the session.
        let Ok(recv) = Receive::new(Protocol::Udp, from, local, data) else {
            return self.drain(now);
        };
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, recv)) {
            tracing::debug!(error = %e, "WebRTC input rejected");
        }
        self.drain(now)
    }

    /// Lets time pass: retransmissions, consent, the media timeout.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<SessionOutput> {
        if self.ended.is_some() {
            return Vec::new();
        }
        if now >= self.last_media + self.media_timeout {
            return self.end(EndReason::MediaTimeout);
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %e, "WebRTC timeout handling failed");
        }
        self.drain(now)
    }

    /// Ends the session for `reason` (DELETE, shutdown).
    pub fn close(&mut self, reason: EndReason) -> Vec<SessionOutput> {
        if self.ended.is_some() {
            return Vec::new();
        }
        self.end(reason)
    }

    fn end(&mut self, reason: EndReason) -> Vec<SessionOutput> {
        self.ended = Some(reason);
        self.rtc.disconnect();
        vec![SessionOutput::Ended(reason)]
    }

    fn drain(&mut self, now: Instant) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        loop {
            let polled = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::info!(error = %e, "WebRTC session failed");
                    out.extend(self.end(EndReason::Failed));
                    return out;
                }
            };
            match polled {
                Output::Timeout(t) => {
                    self.rtc_deadline = t.max(now);
                    break;
                }
                Output::Transmit(t) => {
                    self.stats.datagrams_out += 1;
                    out.push(SessionOutput::Transmit {
                        from: t.source,
                        to: t.destination,
                        data: t.contents.to_vec(),
                    });
                }
                Output::Event(e) => self.on_event(e, now, &mut out),
            }
            if self.ended.is_some() {
                break;
            }
        }
        out
    }

    fn on_event(&mut self, e: Event, now: Instant, out: &mut Vec<SessionOutput>) {
        match e {
            Event::Connected => {
                self.connected = true;
                out.push(SessionOutput::Connected);
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.audio_mid.is_none() => {
                self.audio_mid = Some(m.mid);
            }
            Event::MediaData(d) => {
                let is_opus = d.params.spec().codec == str0m::format::Codec::Opus;
                if Some(d.mid) != self.audio_mid || !is_opus {
                    self.stats.ignored_frames += 1;
                    return;
                }
                self.stats.audio_frames += 1;
                self.last_media = now;
                let bad = self.track.bad_frames;
                let pcm = self.track.push(d.time.numer(), &d.data);
                self.stats.bad_frames += self.track.bad_frames - bad;
                self.stats.audio_ms = self.track.samples * 1000 / self.track.rate() as u64;
                if !pcm.is_empty() {
                    out.push(SessionOutput::Audio(pcm));
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                out.extend(self.end(EndReason::Disconnected));
            }
            _ => {}
        }
    }
}
