//! Prometheus metrics: what the pipeline measures as it runs (latency histograms, counters of
//! protocol traffic, recognition lag per live leg), kept in one process-wide registry, and
//! [`render`] for `GET /metrics`, which adds the gauges and counters read off the running
//! service at scrape time.
//!
//! Names follow Prometheus conventions: `callwatch_` prefix, base units (seconds, bytes),
//! `_total` for counters. Labels never carry customer data: a leg's lag is labelled with the
//! call id the telephony side chose and the leg name, and removed when the leg ends.

mod scrape;

pub use scrape::{render, ScrapeSources};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use std::sync::OnceLock;

/// Latency buckets in seconds, 10 ms to 30 s: the targets (one second to an alert, 1.5 s to a
/// final) sit in the dense middle.
const LATENCY: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0,
];
/// Buckets for short steps (a database commit, matching), 100 µs to 2.5 s.
const SHORT: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Everything measured as it happens. Get it with [`metrics`].
pub struct Metrics {
    registry: Registry,
    /// End of an utterance (VAD close) or a partial's offer → a recogniser starts on it, by
    /// `kind` (final, partial).
    pub asr_queue_wait: HistogramVec,
    /// Time inside the recogniser, by `kind`.
    pub asr_decode: HistogramVec,
    /// End of an utterance (VAD close) → its `transcript.final` is published.
    pub utterance_to_final: Histogram,
    /// A transcript is back from the recogniser → its `phrase.hit` is published, by `kind`
    /// (final hits wait for the archive commit of their utterance).
    pub transcript_to_hit: HistogramVec,
    /// End of the speaker's turn → `phrase.hit`: 0 for a hit a partial found while the turn
    /// was still going.
    pub turn_end_to_hit: Histogram,
    /// One archive transaction (a batch of ops).
    pub archive_commit: Histogram,
    /// Recognition lag per live leg, in seconds: media heard minus the end of the oldest
    /// utterance still waiting for its final (0 when none waits).
    pub recognition_lag: prometheus::GaugeVec,
    /// Events a WebSocket subscriber missed because it read too slowly, by `subscriber` (the
    /// user or token name).
    pub events_dropped: IntCounterVec,
    /// SIP requests received, by `method` (unknown methods as `other`).
    pub sip_requests: IntCounterVec,
    /// SIP responses sent, by `class` (1xx … 6xx).
    pub sip_responses: IntCounterVec,
    /// RTP packets received on plain RTP and SIPREC streams.
    pub rtp_packets: IntCounter,
    /// RTP packets lost (sequence gaps never filled) and late (after the jitter buffer let go).
    pub rtp_lost: IntCounter,
    pub rtp_late: IntCounter,
    /// SRTP packets that failed authentication or replay checks.
    pub srtp_rejected: IntCounter,
    /// WHIP sessions, by `outcome` (started, refused).
    pub whip_sessions: IntCounterVec,
    /// Media-fork WebSocket streams opened, by `format` (twilio, audio).
    pub fork_streams: IntCounterVec,
    /// Utterance closes that had a speculative recognition, by `outcome`: `used` (its
    /// transcript became the final), `redone` (shed or stopped: the final was recognised
    /// anew) or `overtaken` (speech came back; its work was thrown away).
    pub speculations: IntCounterVec,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid histogram")
}

fn histogram_vec(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("a valid histogram")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid counter")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter")
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::new(),
            asr_queue_wait: histogram_vec(
                "callwatch_asr_queue_wait_seconds",
                "End of utterance (or a partial's offer) until a recogniser starts on it.",
                LATENCY,
                &["kind"],
            ),
            asr_decode: histogram_vec(
                "callwatch_asr_decode_seconds",
                "Time inside the recogniser per utterance or partial.",
                LATENCY,
                &["kind"],
            ),
            utterance_to_final: histogram(
                "callwatch_utterance_to_final_seconds",
                "End of utterance (VAD close) until transcript.final is published.",
                LATENCY,
            ),
            transcript_to_hit: histogram_vec(
                "callwatch_transcript_to_hit_seconds",
                "Transcript back from the recogniser until phrase.hit is published.",
                SHORT,
                &["kind"],
            ),
            turn_end_to_hit: histogram(
                "callwatch_turn_end_to_hit_seconds",
                "End of the speaker's turn until phrase.hit (0 when a partial found it first).",
                LATENCY,
            ),
            archive_commit: histogram(
                "callwatch_archive_commit_seconds",
                "One archive transaction (a batch of writes).",
                SHORT,
            ),
            recognition_lag: prometheus::GaugeVec::new(
                Opts::new(
                    "callwatch_recognition_lag_seconds",
                    "Per live leg: media heard minus the end of the oldest utterance awaiting its final.",
                ),
                &["call_id", "leg"],
            )
            .expect("a valid gauge"),
            events_dropped: counter_vec(
                "callwatch_events_dropped_total",
                "Events a WebSocket subscriber missed by reading too slowly.",
                &["subscriber"],
            ),
            sip_requests: counter_vec(
                "callwatch_sip_requests_total",
                "SIP requests received.",
                &["method"],
            ),
            sip_responses: counter_vec(
                "callwatch_sip_responses_total",
                "SIP responses sent, by status class.",
                &["class"],
            ),
            rtp_packets: counter(
                "callwatch_rtp_packets_total",
                "RTP packets received on plain RTP and SIPREC streams.",
            ),
            rtp_lost: counter(
                "callwatch_rtp_packets_lost_total",
                "RTP packets never received (sequence gaps the jitter buffer gave up on).",
            ),
            rtp_late: counter(
                "callwatch_rtp_packets_late_total",
                "RTP packets that came after the jitter buffer had moved past them.",
            ),
            srtp_rejected: counter(
                "callwatch_srtp_rejected_total",
                "SRTP packets refused (authentication, replay or length checks).",
            ),
            whip_sessions: counter_vec(
                "callwatch_whip_sessions_total",
                "WHIP sessions, by outcome.",
                &["outcome"],
            ),
            fork_streams: counter_vec(
                "callwatch_fork_streams_total",
                "Media-fork WebSocket streams opened, by format.",
                &["format"],
            ),
            speculations: counter_vec(
                "callwatch_asr_speculations_total",
                "Recognitions started at an utterance's first silence, by outcome (used, redone, overtaken).",
                &["outcome"],
            ),
        };
        let r = &m.registry;
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.asr_queue_wait.clone()),
            Box::new(m.asr_decode.clone()),
            Box::new(m.utterance_to_final.clone()),
            Box::new(m.transcript_to_hit.clone()),
            Box::new(m.turn_end_to_hit.clone()),
            Box::new(m.archive_commit.clone()),
            Box::new(m.recognition_lag.clone()),
            Box::new(m.events_dropped.clone()),
            Box::new(m.sip_requests.clone()),
            Box::new(m.sip_responses.clone()),
            Box::new(m.rtp_packets.clone()),
            Box::new(m.rtp_lost.clone()),
            Box::new(m.rtp_late.clone()),
            Box::new(m.srtp_rejected.clone()),
            Box::new(m.whip_sessions.clone()),
            Box::new(m.fork_streams.clone()),
            Box::new(m.speculations.clone()),
        ];
        for c in collectors {
            r.register(c).expect("metric names are unique");
        }
        m
    }

    /// The lag gauge of a live leg: the leg keeps it and sets it without a label lookup.
    pub fn lag_gauge(&self, call_id: &str, leg: &str) -> prometheus::Gauge {
        self.recognition_lag.with_label_values(&[call_id, leg])
    }

    /// Forgets an ended leg's lag.
    pub fn leg_ended(&self, call_id: &str, leg: &str) {
        let _ = self.recognition_lag.remove_label_values(&[call_id, leg]);
    }

    /// Counts one SIP request by method (a fixed set, so a peer cannot grow the label set).
    pub fn sip_request(&self, method: &str) {
        const KNOWN: [&str; 10] = [
            "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO", "REGISTER", "NOTIFY",
            "PRACK",
        ];
        let m = KNOWN.into_iter().find(|k| *k == method).unwrap_or("other");
        self.sip_requests.with_label_values(&[m]).inc();
    }

    /// Counts one SIP response by its status class.
    pub fn sip_response(&self, status: u16) {
        const CLASSES: [&str; 7] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];
        let class = CLASSES
            .get((status / 100) as usize)
            .copied()
            .unwrap_or("other");
        self.sip_responses.with_label_values(&[class]).inc();
    }

    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The Grafana dashboard shipped with the service (import it, pick the Prometheus source).
pub const GRAFANA_DASHBOARD: &str = include_str!("grafana-dashboard.json");

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Metric family names in an exposition (from its `# TYPE` lines).
    fn families(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    fn touch_every_labelled_metric(call_id: &str) {
        let m = metrics();
        m.asr_queue_wait.with_label_values(&["final"]).observe(0.2);
        m.asr_decode.with_label_values(&["final"]).observe(0.4);
        m.transcript_to_hit
            .with_label_values(&["final"])
            .observe(0.01);
        m.lag_gauge(call_id, "caller").set(0.5);
        m.events_dropped.with_label_values(&["sup"]).inc();
        m.sip_request("INVITE");
        m.sip_response(200);
        m.whip_sessions.with_label_values(&["started"]).inc();
        m.fork_streams.with_label_values(&["twilio"]).inc();
        m.speculations.with_label_values(&["used"]).inc();
    }

    #[test]
    fn the_exposition_has_every_family_and_types() {
        touch_every_labelled_metric("CA-test");
        let sources = ScrapeSources {
            asr: Some(crate::transforms::asr::PoolStatsSnapshot {
                finals_done: 3,
                partials_done: 7,
                partials_shed: 1,
                failures: 0,
                partials_failed: 0,
                partials_preempted: 0,
                speculations_done: 0,
                loops: 0,
                restarts: 0,
                retries: 0,
                audio_ms: 12_500,
                busy_ms: 4_000,
            }),
            asr_inbox: (2, 1),
            dropped: [("too_little_speech", 4)].into_iter().collect(),
            live_calls: 2,
            ..Default::default()
        };
        let text = render(&sources).unwrap();
        let f = families(&text);
        for name in [
            "callwatch_turn_end_to_hit_seconds",
            "callwatch_utterance_to_final_seconds",
            "callwatch_asr_queue_wait_seconds",
            "callwatch_archive_commit_seconds",
            "callwatch_recognition_lag_seconds",
            "callwatch_asr_finals_total",
            "callwatch_asr_inbox_depth",
            "callwatch_live_calls",
            "callwatch_asr_speculations_total",
            "callwatch_asr_partials_preempted_total",
        ] {
            assert!(f.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.contains("# TYPE callwatch_turn_end_to_hit_seconds histogram"));
        assert!(text.contains("# TYPE callwatch_asr_finals_total counter"));
        assert!(text.contains("callwatch_asr_finals_total 3\n"), "{text}");
        assert!(
            text.contains("callwatch_asr_busy_seconds_total 4\n"),
            "{text}"
        );
        assert!(text.contains("callwatch_asr_inbox_depth{kind=\"final\"} 2\n"));
        assert!(text.contains("callwatch_utterances_dropped_total{reason=\"too_little_speech\"} 4"));
        metrics().leg_ended("CA-test", "caller");
        assert!(!render(&sources).unwrap().contains("CA-test"));
    }

    #[test]
    fn sip_labels_are_a_fixed_set() {
        let m = metrics();
        m.sip_request("X-EVIL-METHOD-1");
        m.sip_request("X-EVIL-METHOD-2");
        m.sip_response(999);
        let text = render(&ScrapeSources::default()).unwrap();
        assert!(!text.contains("EVIL"), "{text}");
        assert!(text.contains("callwatch_sip_requests_total{method=\"other\"}"));
        assert!(text.contains("callwatch_sip_responses_total{class=\"other\"}"));
    }

    #[test]
    fn the_dashboard_reads_only_metrics_we_expose() {
        touch_every_labelled_metric("CA-dashboard");
        let text = render(&ScrapeSources {
            asr: Some(crate::transforms::asr::PoolStatsSnapshot {
                finals_done: 0,
                partials_done: 0,
                partials_shed: 0,
                failures: 0,
                partials_failed: 0,
                partials_preempted: 0,
                speculations_done: 0,
                loops: 0,
                restarts: 0,
                retries: 0,
                audio_ms: 0,
                busy_ms: 0,
            }),
            asr_health: Some(crate::transforms::asr::PoolHealth {
                workers: 1,
                alive: 1,
                ready: 1,
            }),
            dropped: [("empty", 0)].into_iter().collect(),
            ..Default::default()
        })
        .unwrap();
        let exposed = families(&text);
        let dash: serde_json::Value = serde_json::from_str(GRAFANA_DASHBOARD).unwrap();
        let mut used = BTreeSet::new();
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("callwatch_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(&name)
                        .to_string();
                    used.insert(family);
                }
            }
        }
        let missing: Vec<_> = used.difference(&exposed).collect();
        assert!(missing.is_empty(), "the dashboard reads {missing:?}");
        assert!(used.len() >= 25, "{used:?}");
    }
}
