//! Part 2: two-leg calls streamed through the live pipeline at real-time pace; for every
//! `transcript.final`, how long after the utterance's last sample was pushed it arrived.

use super::fixtures::{read_channels, CallFixture};
use super::stats::{median, percentile};
use callwatch::call::{CallInfo, LegInfo, Speaker};
use callwatch::pipeline::{Ingest, LegSender, Shared};
use callwatch::sinks::events::{Delivery, Payload};
use callwatch::transforms::decode::LegDecoder;
use callwatch::transforms::segment::{SegmentEvent, Segmenter, SegmenterConfig};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 20 ms of 16 kHz audio: one media-fork frame.
const CHUNK: usize = 320;
const CHUNK_MS: u64 = 20;

/// One final transcript and its timing.
#[derive(Debug, Clone, Serialize)]
pub struct FinalLatency {
    pub leg: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Event arrival − wall time the sample at `end_ms` was pushed.
    pub latency_ms: f64,
    /// Media time the segmenter needed after `end_ms` to close the utterance (hangover − tail).
    pub segmenter_ms: u64,
    /// Event arrival − wall time the chunk that closed the utterance was pushed: recognition,
    /// queueing behind other legs' work, matching and delivery.
    pub asr_queue_ms: f64,
    pub text: String,
}

/// Result of streaming one call.
#[derive(Debug, Serialize)]
pub struct CallLatency {
    pub call: String,
    pub audio_s: f64,
    pub wall_s: f64,
    pub finals: Vec<FinalLatency>,
    pub partials_received: usize,
    pub partials_done: u64,
    pub partials_shed: u64,
    /// Time the recogniser spent inside whisper during the call (finals and partials).
    pub whisper_busy_s: f64,
    /// Audio whisper was given during the call (partials re-send their utterance so far).
    pub whisper_audio_s: f64,
}

/// Latency percentiles over a set of finals.
#[derive(Debug, Serialize)]
pub struct LatencySummary {
    pub finals: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub asr_queue_p50_ms: f64,
    pub asr_queue_p95_ms: f64,
    pub segmenter_median_ms: f64,
}

impl LatencySummary {
    pub fn of<'a>(finals: impl IntoIterator<Item = &'a FinalLatency>) -> Self {
        let finals: Vec<&FinalLatency> = finals.into_iter().collect();
        let lat: Vec<f64> = finals.iter().map(|f| f.latency_ms).collect();
        let asr: Vec<f64> = finals.iter().map(|f| f.asr_queue_ms).collect();
        let seg: Vec<f64> = finals.iter().map(|f| f.segmenter_ms as f64).collect();
        LatencySummary {
            finals: finals.len(),
            p50_ms: percentile(&lat, 50.0),
            p95_ms: percentile(&lat, 95.0),
            max_ms: percentile(&lat, 100.0),
            asr_queue_p50_ms: percentile(&asr, 50.0),
            asr_queue_p95_ms: percentile(&asr, 95.0),
            segmenter_median_ms: median(&seg),
        }
    }
}

/// Media position (ms) at which the segmenter emits each final, keyed by (start_ms, end_ms):
/// the segmenter is deterministic, so replaying the leg in the same 20 ms chunks gives the
/// exact point the live leg closed each utterance.
fn segmenter_close_points(cfg: &SegmenterConfig, pcm: &[i16]) -> HashMap<(u64, u64), u64> {
    let mut decoder = LegDecoder::new(16_000).expect("16 kHz legs are supported");
    let mut segmenter = Segmenter::new(cfg.clone()).expect("configuration was validated");
    let mut closes = HashMap::new();
    let mut pushed_ms = 0;
    let mut record = |events: Vec<SegmentEvent>, at_ms: u64| {
        for ev in events {
            if let SegmentEvent::Final {
                start_ms, end_ms, ..
            } = ev
            {
                closes.insert((start_ms, end_ms), at_ms);
            }
        }
    };
    for c in pcm.chunks(CHUNK) {
        pushed_ms += c.len() as u64 / 16;
        let audio = decoder.push(c);
        record(segmenter.push(&audio), pushed_ms);
    }
    let mut tail = segmenter.push(&decoder.flush());
    tail.extend(segmenter.finish());
    record(tail, pushed_ms);
    closes
}

/// Pushes `pcm` in 20 ms chunks on a real-time interval starting at `start`; returns the
/// wall time each chunk was accepted by the leg.
async fn pace(tx: LegSender, pcm: Vec<i16>, start: tokio::time::Instant) -> Vec<Instant> {
    let mut tick = tokio::time::interval_at(start, Duration::from_millis(CHUNK_MS));
    // A late tick is caught up at once, as a media fork's buffered frames would be.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut pushed = Vec::with_capacity(pcm.len() / CHUNK + 1);
    for c in pcm.chunks(CHUNK) {
        tick.tick().await;
        if tx.audio(c.to_vec()).await.is_err() {
            break;
        }
        pushed.push(Instant::now());
    }
    pushed
}

/// Wall time the chunk holding media position `ms` (the sample just before it) was pushed.
fn pushed_at(pushed: &[Instant], ms: u64) -> Instant {
    let sample = (ms * 16).saturating_sub(1) as usize;
    pushed[(sample / CHUNK).min(pushed.len() - 1)]
}

/// Streams both legs of `call` concurrently at real-time pace through the live pipeline.
/// Streams `call` at real-time pace; with `forced` its legs carry the fixture's language (as
/// a source's metadata would), otherwise the pipeline detects it.
pub async fn stream_call(shared: Arc<Shared>, call: &CallFixture, forced: bool) -> CallLatency {
    let (rate, channels) = read_channels(&call.wav);
    assert_eq!(rate, 16_000, "{}: the wideband call is 16 kHz", call.name);
    assert_eq!(channels.len(), 2, "{}: a call has two legs", call.name);
    let call_id = uuid::Uuid::new_v4().to_string();
    let info = CallInfo {
        call_id: call_id.clone(),
        source: "bench".into(),
        agent_id: None,
        queue: None,
        metadata: serde_json::json!({ "fixture": call.name }),
    };
    let legs = [("left", Speaker::Customer), ("right", Speaker::Agent)];
    let closes: Vec<HashMap<(u64, u64), u64>> = channels
        .iter()
        .map(|pcm| segmenter_close_points(&shared.segmenter, pcm))
        .collect();

    let stats_before = shared.asr.stats();
    let mut sub = shared.events.subscribe();
    let collector = tokio::spawn({
        let call_id = call_id.clone();
        async move {
            let mut finals = Vec::new();
            let mut partials = 0;
            loop {
                let p = match sub.next().await {
                    Delivery::Event(p) => p,
                    Delivery::Lagged(n) => panic!("benchmark subscriber lost {n} events"),
                    Delivery::Closed => break,
                };
                let arrived = Instant::now();
                if p.event.call_id != call_id {
                    continue;
                }
                match &p.event.payload {
                    Payload::TranscriptFinal { text, .. } => finals.push((
                        arrived,
                        p.event.leg.clone().unwrap_or_default(),
                        p.event.start_ms.unwrap_or(0),
                        p.event.end_ms.unwrap_or(0),
                        text.clone(),
                    )),
                    Payload::TranscriptPartial { .. } => partials += 1,
                    Payload::CallEnded { .. } => break,
                    _ => {}
                }
            }
            (finals, partials)
        }
    });

    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let t0 = Instant::now();
    let mut pacers = Vec::new();
    for ((name, speaker), pcm) in legs.iter().zip(channels) {
        let leg = LegInfo {
            call_id: call_id.clone(),
            leg: name.to_string(),
            speaker: *speaker,
            participant: None,
            language: forced.then(|| call.language.clone()),
        };
        let mut tx = Ingest::new(shared.clone())
            .open(&info, leg, rate, None)
            .unwrap_or_else(|e| panic!("leg not opened: {e}"));
        let handle = tx.take_task().expect("a pipeline leg has a task");
        pacers.push((tokio::spawn(pace(tx, pcm, start)), handle));
    }
    let mut pushed = Vec::new();
    for (pacer, handle) in pacers {
        pushed.push(pacer.await.expect("pacer task"));
        handle.await.expect("leg task");
    }
    let (finals, partials_received) = collector.await.expect("collector task");
    let wall_s = t0.elapsed().as_secs_f64();
    let stats_after = shared.asr.stats();

    let finals = finals
        .into_iter()
        .map(|(arrived, leg, start_ms, end_ms, text)| {
            let i = legs.iter().position(|(n, _)| *n == leg).expect("known leg");
            let close_ms = closes[i].get(&(start_ms, end_ms)).copied().unwrap_or_else(|| {
                panic!("{leg} utterance {start_ms}-{end_ms} ms was not closed by the replayed segmenter")
            });
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            FinalLatency {
                latency_ms: ms(arrived.saturating_duration_since(pushed_at(&pushed[i], end_ms))),
                asr_queue_ms: ms(arrived.saturating_duration_since(pushed_at(&pushed[i], close_ms))),
                segmenter_ms: close_ms.saturating_sub(end_ms),
                leg,
                start_ms,
                end_ms,
                text,
            }
        })
        .collect();
    CallLatency {
        call: call.name.clone(),
        audio_s: call.duration_s,
        wall_s,
        finals,
        partials_received,
        partials_done: stats_after.partials_done - stats_before.partials_done,
        partials_shed: stats_after.partials_shed - stats_before.partials_shed,
        whisper_busy_s: (stats_after.busy_ms - stats_before.busy_ms) as f64 / 1000.0,
        whisper_audio_s: (stats_after.audio_ms - stats_before.audio_ms) as f64 / 1000.0,
    }
}
