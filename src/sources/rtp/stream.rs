//! One received RTP stream, sans-IO: datagrams and timer ticks in, the leg's PCM out, in media
//! order, with gaps (loss, DTX, comfort noise) filled so that output length tracks the RTP
//! timestamps.

use super::decode::{AudioDecoder, PayloadDecodeError};
use super::jitter::{Admission, JitterBuffer, JitterConfig, JitterStats, Released};
use super::latch::{ForeignSource, Latch, LatchPort, Verdict};
use super::packet::RtpPacket;
use super::payload::{Codec, PayloadFormat, PayloadMap};
use super::rtcp::{is_rtcp, parse_rtcp};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// How one stream is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub payloads: PayloadMap,
    pub jitter: JitterConfig,
    /// A timestamp jump longer than this is a discontinuity (sender restart, long hold):
    /// the timeline continues without filling it.
    pub max_gap: Duration,
}

impl StreamConfig {
    /// A stream of one audio codec at its payload type, plus the static CN mapping.
    pub fn single(payload_type: u16, codec: Codec, clock_rate: u32) -> Result<Self, StreamError> {
        let mut payloads = PayloadMap::empty();
        payloads.insert(13, Codec::ComfortNoise, 8000)?;
        payloads.insert(payload_type, codec, clock_rate)?;
        Ok(StreamConfig {
            payloads,
            jitter: JitterConfig::default(),
            max_gap: Duration::from_secs(10),
        })
    }
}

/// Why a stream could not be set up.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StreamError {
    #[error(transparent)]
    Payload(#[from] super::payload::PayloadError),
    #[error("the payload map has no audio codec; map at least one of PCMU, PCMA, L16 or opus")]
    NoAudio,
    #[error("audio codecs at different clock rates ({0} and {1} Hz) in one stream; a leg has one rate, so negotiate one codec per stream")]
    MixedRates(u32, u32),
    #[error(transparent)]
    Decoder(#[from] PayloadDecodeError),
}

/// Counters since the stream began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    pub datagrams: u64,
    pub bytes: u64,
    pub rtp_packets: u64,
    pub rtcp_packets: u64,
    /// Datagrams that were neither valid RTP nor valid RTCP.
    pub malformed: u64,
    pub unknown_payload_type: u64,
    pub decode_errors: u64,
    pub discontinuities: u64,
    pub dtmf_packets: u64,
    pub comfort_noise_packets: u64,
    /// Samples handed to the leg (at the output rate), fill included.
    pub samples_out: u64,
    /// Of which filled in for lost or missing audio.
    pub samples_concealed: u64,
    /// SRTP/SRTCP datagrams dropped: failed authentication, replayed, or not protected.
    pub srtp_rejected: u64,
    /// Datagrams dropped unread because they came from another address than the one their
    /// port latched to (RTP and RTCP ports together); not counted in `datagrams` or `bytes`.
    pub foreign_dropped: u64,
    #[serde(flatten)]
    pub jitter: JitterStats,
}

/// A received RTP stream turning into one leg's PCM.
pub struct RtpStream {
    cfg: StreamConfig,
    rate: u32,
    jitter: JitterBuffer,
    decoders: HashMap<u8, AudioDecoder>,
    /// The decoder used for concealment (the last one that decoded audio).
    last_audio_pt: Option<u8>,
    /// Extended RTP timestamp that corresponds to output sample 0 of the current source.
    origin: Option<i64>,
    last_packet: Option<Duration>,
    stats: StreamStats,
    first_error: Option<String>,
    /// Decrypts SRTP before anything else reads the datagram.
    srtp: Option<super::srtp::SrtpReceiver>,
    /// Which source each port belongs to; see [`RtpStream::on_datagram_from`].
    latch: Latch,
    first_foreign: Option<ForeignSource>,
}

impl RtpStream {
    pub fn new(cfg: StreamConfig) -> Result<Self, StreamError> {
        let mut rate = None;
        let mut decoders = HashMap::new();
        for (pt, fmt) in cfg.payloads.iter() {
            if !fmt.codec.is_audio() {
                continue;
            }
            match rate {
                None => rate = Some(fmt.clock_rate),
                Some(r) if r != fmt.clock_rate => {
                    return Err(StreamError::MixedRates(r, fmt.clock_rate))
                }
                Some(_) => {}
            }
            if let Some(d) = AudioDecoder::new(fmt.codec)? {
                decoders.insert(pt, d);
            }
        }
        let rate = rate.ok_or(StreamError::NoAudio)?;
        Ok(RtpStream {
            jitter: JitterBuffer::new(cfg.jitter),
            cfg,
            rate,
            decoders,
            last_audio_pt: None,
            origin: None,
            last_packet: None,
            stats: StreamStats::default(),
            first_error: None,
            srtp: None,
            latch: Latch::new(),
            first_foreign: None,
        })
    }

    /// Takes SRTP (and SRTCP) protected with the receiver's keys; anything else is dropped.
    pub fn with_srtp(mut self, srtp: super::srtp::SrtpReceiver) -> Self {
        self.srtp = Some(srtp);
        self
    }

    /// The plain datagram, or `None` when SRTP is on and the datagram fails it.
    fn unprotect(&mut self, buf: &[u8]) -> Option<Vec<u8>> {
        let srtp = self.srtp.as_mut()?;
        let r = if is_rtcp(buf) {
            srtp.unprotect_rtcp(buf)
        } else {
            srtp.unprotect_rtp(buf)
        };
        match r {
            Ok(plain) => Some(plain),
            Err(e) => {
                self.stats.srtp_rejected += 1;
                crate::metrics::metrics().srtp_rejected.inc();
                self.first_error.get_or_insert(e.to_string());
                None
            }
        }
    }

    /// Sample rate of the PCM this stream yields.
    pub fn output_rate(&self) -> u32 {
        self.rate
    }

    pub fn stats(&self) -> StreamStats {
        let mut s = self.stats;
        s.jitter = self.jitter.stats();
        s.foreign_dropped = self.latch.dropped();
        s
    }

    /// The source the RTP port latched to: the first to send it valid RTP or RTCP.
    pub fn rtp_source(&self) -> Option<SocketAddr> {
        self.latch.source(LatchPort::Rtp)
    }

    /// The stream's first foreign datagram, once, for one log line per stream rather than
    /// per packet.
    pub fn take_first_foreign(&mut self) -> Option<ForeignSource> {
        self.first_foreign.take()
    }

    /// When the last valid RTP or RTCP datagram arrived.
    pub fn last_activity(&self) -> Option<Duration> {
        self.last_packet
    }

    /// The first malformed-input error seen, for one log line per stream rather than per packet.
    pub fn take_first_error(&mut self) -> Option<String> {
        self.first_error.take()
    }

    /// Feeds one datagram that arrived on the RTP port from `from` at `now`; returns the PCM
    /// now ready.
    ///
    /// The port latches to the first source that sends it valid RTP or RTCP; datagrams from
    /// any other address are dropped unread and counted in [`StreamStats::foreign_dropped`],
    /// so that nobody who learns the port can inject audio into the call. SRTP streams record
    /// their source but drop nothing for its address: authentication already proves the
    /// sender, and a proven sender may move (an SBC failing over).
    pub fn on_datagram_from(&mut self, buf: &[u8], from: SocketAddr, now: Duration) -> Vec<i16> {
        self.through_latch(LatchPort::Rtp, from, |s| s.take_datagram(buf, now));
        self.on_timer(now)
    }

    /// Feeds a datagram from the separate RTCP port (statistics only), latched on its own
    /// like [`RtpStream::on_datagram_from`]: senders often send RTCP from another socket.
    pub fn on_rtcp_datagram_from(&mut self, buf: &[u8], from: SocketAddr, now: Duration) {
        self.through_latch(LatchPort::Rtcp, from, |s| s.take_rtcp(buf, now));
    }

    /// Runs `take` (which says whether the datagram was valid) unless the latch drops the
    /// datagram; a valid datagram on an unlatched port latches it.
    fn through_latch(
        &mut self,
        port: LatchPort,
        from: SocketAddr,
        take: impl FnOnce(&mut Self) -> bool,
    ) {
        if self.srtp.is_some() {
            if take(self) {
                self.latch.latch(port, from);
            }
            return;
        }
        match self.latch.check(port, from) {
            Verdict::Latched => {
                take(self);
            }
            Verdict::Unlatched => {
                if take(self) {
                    self.latch.latch(port, from);
                }
            }
            Verdict::Foreign { latched, first } => {
                if first {
                    self.first_foreign = Some(ForeignSource {
                        port,
                        from,
                        latched,
                    });
                }
            }
        }
    }

    /// Feeds one datagram received at `now`, whatever its source; returns the PCM now ready.
    /// For callers without an address (tests, fuzzing); the socket edge uses
    /// [`RtpStream::on_datagram_from`].
    pub fn on_datagram(&mut self, buf: &[u8], now: Duration) -> Vec<i16> {
        self.take_datagram(buf, now);
        self.on_timer(now)
    }

    /// Counts and reads one RTP-port datagram; whether it was valid RTP or RTCP (and, under
    /// SRTP, authentic).
    fn take_datagram(&mut self, buf: &[u8], now: Duration) -> bool {
        self.stats.datagrams += 1;
        self.stats.bytes += buf.len() as u64;
        if self.srtp.is_some() {
            return match self.unprotect(buf) {
                Some(plain) => self.take_plain(&plain, now),
                None => false,
            };
        }
        self.take_plain(buf, now)
    }

    fn take_plain(&mut self, buf: &[u8], now: Duration) -> bool {
        if is_rtcp(buf) {
            return match parse_rtcp(buf) {
                Ok(packets) => {
                    self.stats.rtcp_packets += packets.len() as u64;
                    self.last_packet = Some(now);
                    true
                }
                Err(e) => self.malformed(e.to_string()),
            };
        }
        match RtpPacket::parse(buf) {
            Ok(p) => {
                self.stats.rtp_packets += 1;
                crate::metrics::metrics().rtp_packets.inc();
                self.last_packet = Some(now);
                // Duplicates, late and stale packets are counted by the jitter buffer.
                let _: Admission = self.jitter.push(&p, now);
                true
            }
            Err(e) => self.malformed(e.to_string()),
        }
    }

    /// Feeds a datagram from the separate RTCP port (statistics only), whatever its source.
    pub fn on_rtcp_datagram(&mut self, buf: &[u8], now: Duration) {
        self.take_rtcp(buf, now);
    }

    /// Reads one RTCP-port datagram; whether it was valid RTCP (and, under SRTP, authentic).
    fn take_rtcp(&mut self, buf: &[u8], now: Duration) -> bool {
        let plain;
        let buf = if self.srtp.is_some() {
            match self.unprotect(buf) {
                Some(p) => {
                    plain = p;
                    &plain[..]
                }
                None => return false,
            }
        } else {
            buf
        };
        match parse_rtcp(buf) {
            Ok(packets) => {
                self.stats.rtcp_packets += packets.len() as u64;
                self.last_packet = Some(now);
                true
            }
            Err(e) => self.malformed(e.to_string()),
        }
    }

    /// Counts a datagram that was neither valid RTP nor RTCP; always `false` (not valid).
    fn malformed(&mut self, error: String) -> bool {
        self.stats.malformed += 1;
        self.first_error.get_or_insert(error);
        false
    }

    /// Releases whatever the jitter buffer gives up waiting for at `now`.
    pub fn on_timer(&mut self, now: Duration) -> Vec<i16> {
        let released = self.jitter.pop(now);
        self.play(released)
    }

    /// When [`RtpStream::on_timer`] should next be called, if something is waiting.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.jitter.next_deadline()
    }

    /// Ends the stream: plays out everything still held.
    pub fn finish(&mut self) -> Vec<i16> {
        let released = self.jitter.flush();
        self.play(released)
    }

    fn play(&mut self, released: Vec<Released>) -> Vec<i16> {
        let mut out = Vec::new();
        for r in released {
            self.play_one(r, &mut out);
        }
        self.stats.samples_out += out.len() as u64;
        out
    }

    fn play_one(&mut self, r: Released, out: &mut Vec<i16>) {
        let Some(PayloadFormat { codec, clock_rate }) = self.cfg.payloads.get(r.payload_type)
        else {
            self.stats.unknown_payload_type += 1;
            return;
        };
        let written = (self.stats.samples_out + out.len() as u64) as i64;
        if r.new_source || self.origin.is_none() {
            // A new source continues where the last one stopped: no media time is lost or doubled.
            self.origin = Some(r.timestamp - written);
        }
        match codec {
            Codec::TelephoneEvent => {
                self.stats.dtmf_packets += 1;
                return;
            }
            Codec::ComfortNoise => {
                // Silence until the next audio packet, whose timestamp tells how long.
                self.stats.comfort_noise_packets += 1;
                return;
            }
            _ if clock_rate != self.rate => {
                self.stats.unknown_payload_type += 1;
                return;
            }
            _ => {}
        }
        let origin = self.origin.expect("set above");
        let start = r.timestamp - origin;
        if start > written {
            let gap = (start - written) as u64;
            if gap > self.cfg.max_gap.as_millis() as u64 * self.rate as u64 / 1000 {
                self.stats.discontinuities += 1;
                self.origin = Some(r.timestamp - written);
            } else {
                let fill = match self.last_audio_pt.and_then(|pt| self.decoders.get_mut(&pt)) {
                    Some(d) => d.conceal(gap as usize),
                    None => vec![0; gap as usize],
                };
                self.stats.samples_concealed += fill.len() as u64;
                out.extend(fill);
            }
        }
        let Some(decoder) = self.decoders.get_mut(&r.payload_type) else {
            self.stats.unknown_payload_type += 1;
            return;
        };
        let pcm = match decoder.decode(&r.payload) {
            Ok(p) => p,
            Err(e) => {
                self.stats.decode_errors += 1;
                self.first_error.get_or_insert(e.to_string());
                return;
            }
        };
        self.last_audio_pt = Some(r.payload_type);
        let written = (self.stats.samples_out + out.len() as u64) as i64;
        let start = r.timestamp - self.origin.expect("set above");
        // A packet overlapping audio already played (a sender's timestamp glitch) keeps only its new part.
        let skip = (written - start).clamp(0, pcm.len() as i64) as usize;
        out.extend_from_slice(&pcm[skip..]);
    }
}
