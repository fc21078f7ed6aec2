//! Per-stream jitter buffer: restores sequence order within a small window, drops duplicates
//! and late packets, and gives up on a missing packet once the packet after it has waited the
//! configured depth. Time is whatever the caller passes in (monotonic, from any origin).

use super::packet::RtpPacket;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How long and how much the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long a packet waits for a missing predecessor before the gap is declared lost.
    /// In-order packets are never held.
    pub depth: Duration,
    /// Packets held at most; beyond it the oldest gap is declared lost at once.
    pub capacity: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            depth: Duration::from_millis(60),
            capacity: 64,
        }
    }
}

/// A sequence jump this large (about a minute of 20 ms packets) means the sender restarted
/// its numbering, not that thousands of packets were lost.
const MAX_SEQUENCE_JUMP: i64 = 3000;

/// SSRCs remembered after a source change, so stragglers of an old source are dropped
/// rather than mistaken for another switch.
const RETIRED_SOURCES: usize = 4;

/// A packet leaving the buffer, in play-out order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub ssrc: u32,
    pub payload_type: u8,
    pub marker: bool,
    /// RTP timestamp extended past 32-bit wrap, continuous within one SSRC.
    pub timestamp: i64,
    pub payload: Vec<u8>,
    /// First packet of a new synchronisation source: its timestamps start a new timeline.
    pub new_source: bool,
    /// Sequence numbers declared lost just before this packet.
    pub lost_before: u64,
}

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Buffered,
    /// Same sequence number as a packet already held.
    Duplicate,
    /// Its slot was already played out (or declared lost).
    Late,
    /// From a source the stream has already switched away from.
    StaleSource,
}

/// Counters since the stream began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JitterStats {
    pub buffered: u64,
    pub duplicates: u64,
    pub late: u64,
    pub lost: u64,
    pub stale_source: u64,
    pub source_changes: u64,
    pub sequence_resyncs: u64,
}

#[derive(Debug)]
struct Source {
    ssrc: u32,
    highest_seq: i64,
    /// Next sequence number to play; `None` until the source's first packet is played, which
    /// waits the buffer depth so that packets overtaking the first one are not lost.
    next_seq: Option<i64>,
    ref_ts: u32,
    ref_ext_ts: i64,
    announced: bool,
}

#[derive(Debug)]
struct Held {
    arrival: Duration,
    packet: Released,
}

/// The jitter buffer of one RTP stream. Sans-IO: feed it packets with their arrival time,
/// then collect what is ready with [`JitterBuffer::pop`].
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    source: Option<Source>,
    retired: VecDeque<u32>,
    held: BTreeMap<i64, Held>,
    ready: VecDeque<Released>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        JitterBuffer {
            cfg,
            source: None,
            retired: VecDeque::new(),
            held: BTreeMap::new(),
            ready: VecDeque::new(),
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets currently held waiting for a predecessor.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Offers a packet that arrived at `arrival`.
    pub fn push(&mut self, p: &RtpPacket<'_>, arrival: Duration) -> Admission {
        if self.source.as_ref().map(|s| s.ssrc) != Some(p.ssrc) {
            if self.retired.contains(&p.ssrc) {
                self.stats.stale_source += 1;
                return Admission::StaleSource;
            }
            if let Some(old) = self.source.as_ref().map(|s| s.ssrc) {
                // The old source is over: play out what it left, in order, then switch.
                self.release_all();
                self.retired.push_back(old);
                if self.retired.len() > RETIRED_SOURCES {
                    self.retired.pop_front();
                }
                self.stats.source_changes += 1;
            }
            self.source = Some(Source {
                ssrc: p.ssrc,
                highest_seq: p.sequence as i64,
                next_seq: None,
                ref_ts: p.timestamp,
                ref_ext_ts: p.timestamp as i64,
                announced: false,
            });
        }
        let src = self.source.as_mut().expect("source set above");
        let seq = src.highest_seq + (p.sequence.wrapping_sub(src.highest_seq as u16) as i16) as i64;
        let ts = src.ref_ext_ts + (p.timestamp.wrapping_sub(src.ref_ts) as i32) as i64;
        if src.next_seq.is_some_and(|next| seq < next) {
            self.stats.late += 1;
            crate::metrics::metrics().rtp_late.inc();
            return Admission::Late;
        }
        if self.held.contains_key(&seq) {
            self.stats.duplicates += 1;
            return Admission::Duplicate;
        }
        let lowest = src
            .next_seq
            .or(self.held.first_key_value().map(|(k, _)| *k));
        if lowest.is_some_and(|low| (seq - low).abs() > MAX_SEQUENCE_JUMP) {
            self.stats.sequence_resyncs += 1;
            self.release_all();
            let src = self.source.as_mut().expect("source kept by release_all");
            src.next_seq = Some(seq);
            src.highest_seq = seq;
        }
        let src = self.source.as_mut().expect("source kept by release_all");
        if seq > src.highest_seq {
            src.highest_seq = seq;
            src.ref_ts = p.timestamp;
            src.ref_ext_ts = ts;
        }
        self.stats.buffered += 1;
        self.held.insert(
            seq,
            Held {
                arrival,
                packet: Released {
                    ssrc: p.ssrc,
                    payload_type: p.payload_type,
                    marker: p.marker,
                    timestamp: ts,
                    payload: p.payload.to_vec(),
                    new_source: false,
                    lost_before: 0,
                },
            },
        );
        Admission::Buffered
    }

    /// Packets ready at `now`, in sequence order.
    pub fn pop(&mut self, now: Duration) -> Vec<Released> {
        while let Some((&seq, _)) = self.held.first_key_value() {
            let next = self.source.as_ref().and_then(|s| s.next_seq);
            let waited_enough = self
                .oldest_arrival()
                .is_some_and(|t| now.saturating_sub(t) >= self.cfg.depth);
            if Some(seq) == next || self.held.len() > self.cfg.capacity || waited_enough {
                self.release_first();
            } else {
                break;
            }
        }
        self.ready.drain(..).collect()
    }

    /// When [`JitterBuffer::pop`] will next release something without a new packet arriving.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.oldest_arrival().map(|t| t + self.cfg.depth)
    }

    /// Arrival of the packet that has waited longest (not always the lowest sequence number).
    fn oldest_arrival(&self) -> Option<Duration> {
        self.held.values().map(|h| h.arrival).min()
    }

    /// Releases everything held, in order (the stream ended).
    pub fn flush(&mut self) -> Vec<Released> {
        self.release_all();
        self.ready.drain(..).collect()
    }

    fn release_all(&mut self) {
        while !self.held.is_empty() {
            self.release_first();
        }
    }

    fn release_first(&mut self) {
        let Some((seq, held)) = self.held.pop_first() else {
            return;
        };
        let mut packet = held.packet;
        if let Some(src) = self.source.as_mut() {
            let lost = src.next_seq.map_or(0, |next| (seq - next).max(0) as u64);
            packet.lost_before = lost;
            self.stats.lost += lost;
            crate::metrics::metrics().rtp_lost.inc_by(lost);
            src.next_seq = Some(seq + 1);
            packet.new_source = !src.announced;
            src.announced = true;
        }
        self.ready.push_back(packet);
    }
}
