//! `callwatch transcribe FILE...`: recorded calls through the same pipeline as live ones,
//! printed as text or JSON lines as their events come.

use crate::call::Speaker;
use crate::pipeline::{Ingest, Shared};
use crate::sinks::events::{Delivery, Payload};
use crate::sources::file::{FileCall, FileError, FileLegs};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// How to present results.
#[derive(Debug, Clone, Default)]
pub struct OfflineOptions {
    /// JSON lines (the live event objects) instead of text.
    pub json: bool,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
    /// Speaker of a mono file's only leg.
    pub mono_speaker: Speaker,
    /// Force a language for every leg.
    pub language: Option<String>,
}

/// What one file produced.
#[derive(Debug, Clone, Default)]
pub struct FileSummary {
    pub call_id: String,
    pub duration_ms: u64,
    pub utterances: usize,
    pub hits: usize,
}

/// Transcribes one file; results are written to `out` as they come.
pub async fn transcribe_file(
    shared: Arc<Shared>,
    path: &Path,
    opts: &OfflineOptions,
    out: &mut (dyn Write + Send),
) -> Result<FileSummary, FileError> {
    let file = FileCall::open(
        path,
        &FileLegs {
            mono_speaker: opts.mono_speaker,
            language: opts.language.clone(),
        },
    )?;
    let call_id = file.call.call_id.clone();
    let duration_ms = file.duration_ms;
    // Subscribed before the first leg opens, so the printer misses nothing of the call.
    let mut sub = shared.events.subscribe();
    let bar = if opts.progress {
        let b = ProgressBar::new(file.total_samples);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_message(path.display().to_string());
        b
    } else {
        ProgressBar::hidden()
    };
    let tick = bar.clone();
    let tasks = file.stream(&Ingest::new(shared.clone()), Arc::new(move |n| tick.inc(n)));

    let mut summary = FileSummary {
        call_id: call_id.clone(),
        duration_ms,
        ..Default::default()
    };
    // Print events of this call until it ends.
    loop {
        let p = match sub.next().await {
            Delivery::Event(p) => p,
            Delivery::Lagged(n) => {
                tracing::warn!(missed = n, "offline printer lagged");
                continue;
            }
            Delivery::Closed => break,
        };
        if p.event.call_id != call_id {
            continue;
        }
        let line = render(&p.event, &p.json, opts.json);
        if let Some(line) = line {
            bar.suspend(|| {
                let _ = writeln!(out, "{line}");
            });
        }
        if matches!(p.event.payload, Payload::CallEnded { .. }) {
            break;
        }
    }
    bar.finish_and_clear();
    for t in tasks {
        if let Ok(s) = t.await {
            summary.utterances += s.utterances;
            summary.hits += s.hits;
        }
    }
    Ok(summary)
}

fn clock(ms: u64) -> String {
    format!(
        "{:02}:{:02}.{:02}",
        ms / 60_000,
        (ms / 1000) % 60,
        (ms % 1000) / 10
    )
}

fn render(e: &crate::sinks::events::Event, json: &str, as_json: bool) -> Option<String> {
    let keep = matches!(
        e.payload,
        Payload::TranscriptFinal { .. }
            | Payload::UtteranceDropped { .. }
            | Payload::PhraseHit { .. }
            | Payload::QaScored { .. }
            | Payload::CallEnded { .. }
    );
    if !keep {
        return None;
    }
    if as_json {
        return Some(json.to_string());
    }
    let who = e.speaker.map_or("call", |s| s.as_str());
    let span = format!(
        "[{}-{}]",
        clock(e.start_ms.unwrap_or(0)),
        clock(e.end_ms.unwrap_or(0))
    );
    match &e.payload {
        Payload::TranscriptFinal { text, language, .. } => {
            Some(format!("{span} {who:>8} ({language}): {text}"))
        }
        // Speech was there: say so, rather than leave a silent gap in the transcript.
        Payload::UtteranceDropped { reason, detail, .. } => Some(format!(
            "{span} {who:>8} -- no transcript ({}){}",
            reason.as_str(),
            detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )),
        Payload::PhraseHit {
            term,
            category,
            severity,
            matched,
            ..
        } => Some(format!(
            "{span} {who:>8} !! {category}/{severity}: \"{matched}\" (term {term})"
        )),
        Payload::QaScored {
            scorecard_id,
            score,
            passed,
            failed_items,
            ..
        } => Some(format!(
            "-- QA {scorecard_id}: {score:.1} ({}){}",
            if *passed { "pass" } else { "fail" },
            if failed_items.is_empty() {
                String::new()
            } else {
                format!(", failed: {}", failed_items.join(", "))
            }
        )),
        Payload::CallEnded { duration_ms, .. } => Some(format!(
            "-- call {} ended, {} s",
            e.call_id,
            duration_ms / 1000
        )),
        _ => None,
    }
}
