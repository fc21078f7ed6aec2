//! Part 1: the same utterance files through callwatch's offline pipeline and through bare
//! whisper-rs, interleaved so that machine noise hits both sides alike.

use super::bare::BareWhisper;
use super::fixtures::{read_channels, UtteranceFixture};
use super::stats::median;
use callwatch::cli::transcribe::{transcribe_file, OfflineOptions};
use callwatch::pipeline::Shared;
use callwatch::sinks::events::{Event, Payload};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::runtime::Runtime;

/// One pass of one file through the pipeline.
struct PipelineRun {
    secs: f64,
    /// Time the recogniser pool spent inside whisper for this file.
    whisper_busy_s: f64,
    /// Audio the segmenter handed to whisper (after trimming silence).
    whisper_audio_s: f64,
    whisper_calls: u64,
    text: String,
    /// Lexicon terms the pipeline's matcher reported on finals.
    hits: Vec<String>,
}

/// One pass of one file through bare whisper-rs.
struct BareRun {
    secs: f64,
    audio_s: f64,
    text: String,
}

/// Per-file medians over the rounds.
#[derive(Debug, Serialize)]
pub struct FileRow {
    pub name: String,
    pub audio_s: f64,
    pub pipeline_s: f64,
    pub bare_s: f64,
    pub pipeline_best_s: f64,
    pub bare_best_s: f64,
    pub pipeline_whisper_busy_s: f64,
    pub pipeline_whisper_audio_s: f64,
    pub pipeline_whisper_calls: u64,
    pub bare_whisper_audio_s: f64,
    pub pipeline_text: String,
    pub bare_text: String,
    pub reference: String,
    /// Edit distance of the pipeline's text from the reference, and the reference's length
    /// (characters for Mandarin, words for English).
    pub edits: usize,
    pub reference_units: usize,
    pub expected_hits: Vec<String>,
    /// Expected hits the pipeline reported.
    pub hits_found: usize,
}

/// Accuracy of the pipeline's finals over the files of one language.
#[derive(Debug, Serialize)]
pub struct Accuracy {
    pub language: String,
    pub files: usize,
    /// Character (zh) or word (en) error rate: total edits / total reference length.
    pub error_rate: f64,
    pub expected_hits: usize,
    pub hits_found: usize,
    /// hits_found / expected_hits (1 when none expected).
    pub hit_recall: f64,
}

/// Totals of one side.
#[derive(Debug, Serialize)]
pub struct Side {
    /// Sum over files of the per-file median time.
    pub total_s: f64,
    /// Seconds of audio actually sent to whisper (the pipeline's VAD trims silence).
    pub whisper_audio_s: f64,
    pub whisper_calls: u64,
    /// Processing time / duration of the fixture audio.
    pub rtf: f64,
    /// Sum over files of the per-file fastest time: the least noisy estimate on a busy machine.
    pub best_s: f64,
    /// Sum per round, to show the spread the medians smooth over.
    pub round_totals_s: Vec<f64>,
}

/// Result of part 1 for one model.
#[derive(Debug, Serialize)]
pub struct OverheadReport {
    pub files: usize,
    pub rounds: usize,
    pub audio_s: f64,
    pub pipeline: Side,
    pub bare: Side,
    /// Pipeline time spent inside whisper (sum of per-file medians); the rest is callwatch.
    pub pipeline_whisper_busy_s: f64,
    /// pipeline.total_s / bare.total_s.
    pub ratio: f64,
    pub overhead_pct: f64,
    /// pipeline.best_s / bare.best_s.
    pub ratio_best: f64,
    /// Files whose final transcript is identical on both sides.
    pub same_text: usize,
    /// CER / WER and hit recall per language, from the pipeline's first round.
    pub accuracy: Vec<Accuracy>,
    pub per_file: Vec<FileRow>,
}

fn pipeline_once(rt: &Runtime, shared: &Arc<Shared>, f: &UtteranceFixture) -> PipelineRun {
    // What `callwatch transcribe --json --language <sidecar>` does, minus the terminal.
    let opts = OfflineOptions {
        json: true,
        progress: false,
        mono_speaker: f.speaker,
        language: Some(f.language.clone()),
    };
    let before = shared.asr.stats();
    let mut out = Vec::new();
    let t0 = Instant::now();
    rt.block_on(transcribe_file(shared.clone(), &f.wav, &opts, &mut out))
        .unwrap_or_else(|e| panic!("pipeline failed on {}: {e}", f.name));
    let secs = t0.elapsed().as_secs_f64();
    let after = shared.asr.stats();
    let events: Vec<Event> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Event>(l).ok())
        .collect();
    let finals: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::TranscriptFinal { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let hits = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::PhraseHit {
                term,
                partial: false,
                ..
            } => Some(term.clone()),
            _ => None,
        })
        .collect();
    let joiner = if f.language == "zh" { "" } else { " " };
    PipelineRun {
        secs,
        whisper_busy_s: (after.busy_ms - before.busy_ms) as f64 / 1000.0,
        whisper_audio_s: (after.audio_ms - before.audio_ms) as f64 / 1000.0,
        whisper_calls: after.finals_done - before.finals_done,
        text: finals.join(joiner),
        hits,
    }
}

fn bare_once(bare: &mut BareWhisper, f: &UtteranceFixture) -> BareRun {
    let t0 = Instant::now();
    let (rate, channels) = read_channels(&f.wav);
    assert_eq!(rate, 16_000, "{}: utterance fixtures are 16 kHz", f.name);
    // The same scaling as the pipeline's leg decoder.
    let audio: Vec<f32> = channels[0].iter().map(|&s| s as f32 / 32768.0).collect();
    let text = bare
        .transcribe(&audio, &f.language)
        .unwrap_or_else(|e| panic!("whisper failed on {}: {e}", f.name));
    BareRun {
        secs: t0.elapsed().as_secs_f64(),
        audio_s: audio.len() as f64 / 16_000.0,
        text,
    }
}

/// Runs `rounds` interleaved rounds; even rounds run the pipeline first on each file, odd
/// rounds bare whisper first, so neither side always inherits the other's warm caches.
pub fn run(
    rt: &Runtime,
    shared: &Arc<Shared>,
    bare: &mut BareWhisper,
    files: &[UtteranceFixture],
    rounds: usize,
) -> OverheadReport {
    // An unmeasured pass on each side first: the pool warms its worker in the background at
    // start, and the first file of the first round should not pay for that.
    if let Some(f) = files.first() {
        pipeline_once(rt, shared, f);
        bare_once(bare, f);
    }
    let mut pipe: Vec<Vec<PipelineRun>> = files.iter().map(|_| Vec::new()).collect();
    let mut bar: Vec<Vec<BareRun>> = files.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, f) in files.iter().enumerate() {
            if round % 2 == 0 {
                pipe[i].push(pipeline_once(rt, shared, f));
                bar[i].push(bare_once(bare, f));
            } else {
                bar[i].push(bare_once(bare, f));
                pipe[i].push(pipeline_once(rt, shared, f));
            }
        }
        eprintln!("  round {}/{rounds} done", round + 1);
    }

    let per_file: Vec<FileRow> = files
        .iter()
        .zip(pipe.iter().zip(&bar))
        .map(|(f, (p, b))| {
            (
                f,
                p,
                b,
                callwatch::eval::count(&f.text, &p[0].text, &f.language),
            )
        })
        .map(|(f, p, b, (edits, reference_units))| FileRow {
            name: f.name.clone(),
            audio_s: f.duration_s,
            pipeline_s: median(&p.iter().map(|r| r.secs).collect::<Vec<_>>()),
            bare_s: median(&b.iter().map(|r| r.secs).collect::<Vec<_>>()),
            pipeline_best_s: p.iter().map(|r| r.secs).fold(f64::INFINITY, f64::min),
            bare_best_s: b.iter().map(|r| r.secs).fold(f64::INFINITY, f64::min),
            pipeline_whisper_busy_s: median(
                &p.iter().map(|r| r.whisper_busy_s).collect::<Vec<_>>(),
            ),
            pipeline_whisper_audio_s: p[0].whisper_audio_s,
            pipeline_whisper_calls: p[0].whisper_calls,
            bare_whisper_audio_s: b[0].audio_s,
            pipeline_text: p[0].text.clone(),
            bare_text: b[0].text.clone(),
            reference: f.text.clone(),
            edits,
            reference_units,
            expected_hits: f.expected_hits.clone(),
            hits_found: f
                .expected_hits
                .iter()
                .filter(|t| p[0].hits.contains(t))
                .count(),
        })
        .collect();
    let mut languages: Vec<&str> = files.iter().map(|f| f.language.as_str()).collect();
    languages.dedup();
    let accuracy = languages
        .into_iter()
        .map(|language| {
            let rows: Vec<&FileRow> = per_file
                .iter()
                .zip(files)
                .filter(|(_, f)| f.language == language)
                .map(|(r, _)| r)
                .collect();
            let edits: usize = rows.iter().map(|r| r.edits).sum();
            let units: usize = rows.iter().map(|r| r.reference_units).sum();
            let expected: usize = rows.iter().map(|r| r.expected_hits.len()).sum();
            let found: usize = rows.iter().map(|r| r.hits_found).sum();
            Accuracy {
                language: language.to_string(),
                files: rows.len(),
                error_rate: edits as f64 / units.max(1) as f64,
                expected_hits: expected,
                hits_found: found,
                hit_recall: if expected == 0 {
                    1.0
                } else {
                    found as f64 / expected as f64
                },
            }
        })
        .collect();

    let audio_s: f64 = files.iter().map(|f| f.duration_s).sum();
    let round_totals = |secs: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..rounds)
            .map(|r| (0..files.len()).map(|i| secs(i, r)).sum())
            .collect()
    };
    let pipeline_total: f64 = per_file.iter().map(|r| r.pipeline_s).sum();
    let bare_total: f64 = per_file.iter().map(|r| r.bare_s).sum();
    let ratio = pipeline_total / bare_total;
    OverheadReport {
        files: files.len(),
        rounds,
        audio_s,
        pipeline: Side {
            total_s: pipeline_total,
            whisper_audio_s: per_file.iter().map(|r| r.pipeline_whisper_audio_s).sum(),
            whisper_calls: per_file.iter().map(|r| r.pipeline_whisper_calls).sum(),
            rtf: pipeline_total / audio_s,
            best_s: per_file.iter().map(|r| r.pipeline_best_s).sum(),
            round_totals_s: round_totals(&|i, r| pipe[i][r].secs),
        },
        bare: Side {
            total_s: bare_total,
            whisper_audio_s: per_file.iter().map(|r| r.bare_whisper_audio_s).sum(),
            whisper_calls: files.len() as u64,
            rtf: bare_total / audio_s,
            best_s: per_file.iter().map(|r| r.bare_best_s).sum(),
            round_totals_s: round_totals(&|i, r| bar[i][r].secs),
        },
        pipeline_whisper_busy_s: per_file.iter().map(|r| r.pipeline_whisper_busy_s).sum(),
        ratio,
        overhead_pct: (ratio - 1.0) * 100.0,
        ratio_best: per_file.iter().map(|r| r.pipeline_best_s).sum::<f64>()
            / per_file.iter().map(|r| r.bare_best_s).sum::<f64>(),
        same_text: per_file
            .iter()
            .filter(|r| r.pipeline_text == r.bare_text)
            .count(),
        accuracy,
        per_file,
    }
}
