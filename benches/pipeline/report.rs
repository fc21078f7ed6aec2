//! The printed table and the JSON file of one benchmark run.

use super::latency::{CallLatency, LatencySummary};
use super::overhead::OverheadReport;
use serde::Serialize;
use std::fmt::Write as _;

/// Everything measured for one model.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    pub model: String,
    pub model_load_s: f64,
    pub overhead: Option<OverheadReport>,
    pub calls: Vec<CallLatency>,
    /// Over the finals of every call streamed with this model.
    pub latency: Option<LatencySummary>,
}

/// Settings and surroundings of the run.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub cores: usize,
    pub whisper_threads: usize,
    pub rounds: usize,
    pub hangover_ms: u32,
    pub tail_ms: u32,
    /// 1-minute load average when the run started and ended, where the system tells it.
    pub load_start: Option<f64>,
    pub load_end: Option<f64>,
    pub wall_s: f64,
}

/// The whole run, as written to `pipeline-bench.json`.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub run: RunInfo,
    pub models: Vec<ModelReport>,
}

/// 1-minute load average, on systems with `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The compact table printed to stdout.
pub fn table(r: &BenchReport) -> String {
    let mut s = String::new();
    let run = &r.run;
    let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
    let _ = writeln!(
        s,
        "pipeline bench: {} cores, whisper threads {}, {} rounds, load {} -> {}, {:.0} s",
        run.cores,
        run.whisper_threads,
        run.rounds,
        load(run.load_start),
        load(run.load_end),
        run.wall_s
    );
    let _ = writeln!(
        s,
        "\n1. overhead vs bare whisper-rs (sums of per-file medians over the rounds; \
         audio = seconds sent to whisper; outside = pipeline time not inside whisper)"
    );
    let _ = writeln!(
        s,
        "{:<10} {:>5} {:>6} | {:>7} {:>6} {:>5} {:>5} {:>7} | {:>7} {:>6} {:>5} {:>5} | {:>6} {:>8} {:>9} {:>5}",
        "model", "files", "audio", "pipe s", "audio", "calls", "RTF", "outside", "bare s", "audio",
        "calls", "RTF", "ratio", "overhead", "ratio-min", "same"
    );
    for m in &r.models {
        let Some(o) = &m.overhead else { continue };
        let _ = writeln!(
            s,
            "{:<10} {:>5} {:>6.2} | {:>7.3} {:>6.2} {:>5} {:>5.3} {:>7.3} | {:>7.3} {:>6.2} {:>5} {:>5.3} | {:>6.3} {:>7.1}% {:>9.3} {:>2}/{:<2}",
            m.model,
            o.files,
            o.audio_s,
            o.pipeline.total_s,
            o.pipeline.whisper_audio_s,
            o.pipeline.whisper_calls,
            o.pipeline.rtf,
            o.pipeline.total_s - o.pipeline_whisper_busy_s,
            o.bare.total_s,
            o.bare.whisper_audio_s,
            o.bare.whisper_calls,
            o.bare.rtf,
            o.ratio,
            o.overhead_pct,
            o.ratio_best,
            o.same_text,
            o.files
        );
    }
    let _ = writeln!(
        s,
        "\naccuracy of the pipeline's finals against the sidecar texts \
         (CER for zh, WER for en; recall of the expected lexicon hits)"
    );
    for m in &r.models {
        let Some(o) = &m.overhead else { continue };
        for a in &o.accuracy {
            let _ = writeln!(
                s,
                "{:<12} {:<3} {:>3} files  error rate {:>6.3}  hits {:>2}/{:<2} recall {:.3}",
                m.model,
                a.language,
                a.files,
                a.error_rate,
                a.hits_found,
                a.expected_hits,
                a.hit_recall
            );
        }
    }
    let _ = writeln!(
        s,
        "\n2. end of utterance -> transcript.final, real time, partials on (ms; asr+q = after the segmenter closed it)"
    );
    let _ = writeln!(
        s,
        "{:<10} {:<15} {:>6} {:>7} {:>7} {:>7} | {:>8} {:>8} | {:>5} | {:>8} {:>5} | {:>6} {:>7}",
        "model",
        "call",
        "finals",
        "p50",
        "p95",
        "max",
        "asr+q50",
        "asr+q95",
        "seg",
        "partials",
        "shed",
        "wall s",
        "busy s"
    );
    for m in &r.models {
        let mut rows: Vec<(String, LatencySummary, String)> = m
            .calls
            .iter()
            .map(|c| {
                (
                    c.call.clone(),
                    LatencySummary::of(&c.finals),
                    format!(
                        "{:>8} {:>5} | {:>6.1} {:>7.1}",
                        c.partials_received, c.partials_shed, c.wall_s, c.whisper_busy_s
                    ),
                )
            })
            .collect();
        // One summary per language mode (the word after the call's name).
        let mut modes: Vec<&str> = m
            .calls
            .iter()
            .filter_map(|c| c.call.split(' ').nth(1))
            .collect();
        modes.dedup();
        for mode in modes {
            let of_mode: Vec<_> = m
                .calls
                .iter()
                .filter(|c| c.call.split(' ').nth(1) == Some(mode))
                .collect();
            if of_mode.len() > 1 {
                let all = LatencySummary::of(of_mode.iter().flat_map(|c| &c.finals));
                let busy: f64 = of_mode.iter().map(|c| c.whisper_busy_s).sum();
                rows.push((format!("all {mode}"), all, format!("{:>24.1}", busy)));
            }
        }
        for (call, l, partials) in rows {
            let _ = writeln!(
                s,
                "{:<10} {:<15} {:>6} {:>7.0} {:>7.0} {:>7.0} | {:>8.0} {:>8.0} | {:>5.0} | {}",
                m.model,
                call,
                l.finals,
                l.p50_ms,
                l.p95_ms,
                l.max_ms,
                l.asr_queue_p50_ms,
                l.asr_queue_p95_ms,
                l.segmenter_median_ms,
                partials
            );
        }
    }
    s
}
