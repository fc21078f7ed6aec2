//! The exposition of `GET /metrics`: the process-wide registry plus what is read off the
//! running service at scrape time (counters kept by the recogniser pool, queue depths, live
//! calls), encoded by the `prometheus` crate's text encoder (format 0.0.4).

use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use std::collections::BTreeMap;

/// What the service reports at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ScrapeSources {
    pub asr: Option<crate::transforms::asr::PoolStatsSnapshot>,
    pub asr_health: Option<crate::transforms::asr::PoolHealth>,
    /// Finals and partials waiting in the recogniser inboxes.
    pub asr_inbox: (usize, usize),
    /// Utterances dropped so far, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Ops waiting for the archive writer, and ops in its disk-full journal.
    pub archive_queued: u64,
    pub archive_journaled: u64,
    /// 1 while the archive storage is degraded (full disk, read-only, ...).
    pub archive_degraded: bool,
    pub live_calls: usize,
    pub event_subscribers: usize,
    pub rtp_sessions: usize,
    pub rtp_port_pairs_in_use: usize,
    pub rtp_port_pairs: usize,
    pub whip_sessions: usize,
}

/// The text exposition of every metric.
pub fn render(s: &ScrapeSources) -> Result<String, prometheus::Error> {
    let now = Registry::new();
    let gauge = |name: &str, help: &str, v: i64| -> Result<(), prometheus::Error> {
        let g = IntGauge::new(name, help)?;
        g.set(v);
        now.register(Box::new(g))
    };
    // Counters kept elsewhere as atomics: a fresh counter per scrape holds their value.
    let counter = |name: &str, help: &str, v: u64| -> Result<(), prometheus::Error> {
        let c = IntCounter::new(name, help)?;
        c.inc_by(v);
        now.register(Box::new(c))
    };
    if let Some(a) = &s.asr {
        counter(
            "callwatch_asr_finals_total",
            "Final transcripts made.",
            a.finals_done,
        )?;
        counter(
            "callwatch_asr_partials_total",
            "Partial transcripts made.",
            a.partials_done,
        )?;
        counter(
            "callwatch_asr_partials_shed_total",
            "Partials not transcribed because the recogniser was busy (or they had gone stale).",
            a.partials_shed,
        )?;
        counter(
            "callwatch_asr_partials_preempted_total",
            "Partials stopped midway because a final was waiting and no recogniser was idle.",
            a.partials_preempted,
        )?;
        counter(
            "callwatch_asr_speculative_total",
            "Utterances recognised speculatively at their first silence.",
            a.speculations_done,
        )?;
        counter(
            "callwatch_asr_repetition_loops_total",
            "Transcripts Whisper wrote as one phrase over and over (decoded again or kept once, per [asr] loop_guard).",
            a.loops,
        )?;
        counter(
            "callwatch_asr_failures_total",
            "Finals that failed on two recognisers in a row.",
            a.failures,
        )?;
        counter(
            "callwatch_asr_partial_failures_total",
            "Partials that failed.",
            a.partials_failed,
        )?;
        counter(
            "callwatch_asr_restarts_total",
            "Recognisers thrown away after a failure and made anew.",
            a.restarts,
        )?;
        counter(
            "callwatch_asr_retries_total",
            "Finals tried again on a fresh recogniser.",
            a.retries,
        )?;
        // Seconds as float counters: rate(busy) / rate(audio) is the recogniser's real-time factor.
        for (name, help, ms) in [
            (
                "callwatch_asr_audio_seconds_total",
                "Seconds of audio transcribed (finals and partials).",
                a.audio_ms,
            ),
            (
                "callwatch_asr_busy_seconds_total",
                "Seconds the recognisers spent transcribing.",
                a.busy_ms,
            ),
        ] {
            let c = prometheus::Counter::new(name, help)?;
            c.inc_by(ms as f64 / 1000.0);
            now.register(Box::new(c))?;
        }
    }
    if let Some(h) = &s.asr_health {
        gauge(
            "callwatch_asr_workers",
            "Recogniser workers configured.",
            h.workers as i64,
        )?;
        gauge(
            "callwatch_asr_workers_ready",
            "Recogniser workers with a usable recogniser.",
            h.ready as i64,
        )?;
    }
    let inbox = IntGaugeVec::new(
        Opts::new(
            "callwatch_asr_inbox_depth",
            "Utterances (final) and partials waiting for a recogniser.",
        ),
        &["kind"],
    )?;
    inbox
        .with_label_values(&["final"])
        .set(s.asr_inbox.0 as i64);
    inbox
        .with_label_values(&["partial"])
        .set(s.asr_inbox.1 as i64);
    now.register(Box::new(inbox))?;
    let dropped = prometheus::IntCounterVec::new(
        Opts::new(
            "callwatch_utterances_dropped_total",
            "Utterances that ended without a transcript, by reason.",
        ),
        &["reason"],
    )?;
    for (reason, n) in &s.dropped {
        dropped.with_label_values(&[reason]).inc_by(*n);
    }
    now.register(Box::new(dropped))?;
    gauge(
        "callwatch_archive_queue_depth",
        "Writes waiting for the archive writer.",
        s.archive_queued as i64,
    )?;
    gauge(
        "callwatch_archive_journaled",
        "Writes held in the disk-full journal, waiting for the database.",
        s.archive_journaled as i64,
    )?;
    gauge(
        "callwatch_archive_degraded",
        "1 while archive storage is degraded (full disk, read-only, I/O errors).",
        s.archive_degraded as i64,
    )?;
    gauge(
        "callwatch_live_calls",
        "Calls in progress.",
        s.live_calls as i64,
    )?;
    gauge(
        "callwatch_event_subscribers",
        "Live event WebSocket subscribers.",
        s.event_subscribers as i64,
    )?;
    gauge(
        "callwatch_rtp_sessions",
        "Plain RTP sessions open.",
        s.rtp_sessions as i64,
    )?;
    gauge(
        "callwatch_rtp_port_pairs_in_use",
        "RTP/RTCP port pairs taken.",
        s.rtp_port_pairs_in_use as i64,
    )?;
    gauge(
        "callwatch_rtp_port_pairs",
        "RTP/RTCP port pairs configured.",
        s.rtp_port_pairs as i64,
    )?;
    gauge(
        "callwatch_whip_sessions_live",
        "WHIP sessions publishing now.",
        s.whip_sessions as i64,
    )?;
    let mut families = super::metrics().gather();
    families.extend(now.gather());
    let mut out = Vec::new();
    TextEncoder::new().encode(&families, &mut out)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}
