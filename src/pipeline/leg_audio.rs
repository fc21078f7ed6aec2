//! A leg's audio recording inside the leg task: fed the decoded audio, told which stretches
//! held redacted speech, released as the transcripts settle, and archived as a row.

use super::Shared;
use crate::call::LegInfo;
use crate::clock::rfc3339;
use crate::sinks::archive::{ArchiveOp, AudioRecord};
use crate::sinks::audio::LegRecorder;
use crate::transforms::asr::Transcript;

/// Margin around a segment's Whisper timing when it is silenced: those timings are rough.
const MASK_PAD_MS: u64 = 300;

/// The recording of one leg, if the audio archive is on and the file could be created.
pub struct LegAudio {
    recorder: Option<LegRecorder>,
    row: AudioRecord,
}

impl LegAudio {
    /// Starts recording `leg`, announcing the file to the archive. `None` when audio is off
    /// or the file cannot be created (logged; recognition goes on without it).
    pub fn start(shared: &Shared, leg: &LegInfo) -> Option<LegAudio> {
        let archive = shared.audio.as_ref()?;
        let (file, recorder) = match archive.record_leg(&leg.call_id, &leg.leg) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "leg audio not recorded");
                return None;
            }
        };
        let row = AudioRecord {
            call_id: leg.call_id.clone(),
            leg: leg.leg.clone(),
            speaker: leg.speaker,
            file: file.to_string_lossy().into_owned(),
            started_at: rfc3339(shared.clock.now()),
            duration_ms: None,
            bytes: None,
            masked_ms: None,
            purged_at: None,
        };
        shared.archive.send(ArchiveOp::Audio(row.clone()));
        Some(LegAudio {
            recorder: Some(recorder),
            row,
        })
    }

    /// Appends decoded 16 kHz audio.
    pub fn push(&mut self, audio: &[f32]) {
        let r = self.recorder.as_mut().map(|r| r.push(audio));
        self.check(r);
    }

    /// Silences `ranges` (media ms) before they are written.
    pub fn mask(&mut self, ranges: &[[u64; 2]]) {
        if let Some(r) = self.recorder.as_mut() {
            for [a, b] in ranges {
                if !r.mask(*a, *b) {
                    tracing::warn!(
                        start_ms = a,
                        end_ms = b,
                        "redacted speech was already written to the audio archive"
                    );
                }
            }
        }
    }

    /// Writes what is settled: everything before media time `until_ms`.
    pub fn release(&mut self, until_ms: u64) {
        let r = self.recorder.as_mut().map(|r| r.release(until_ms));
        self.check(r);
    }

    /// Writes the rest, ends the file and archives its length.
    pub fn finish(mut self, shared: &Shared) {
        let Some(r) = self.recorder.take() else {
            return;
        };
        match r.finish() {
            Ok(s) => {
                self.row.duration_ms = Some(s.duration_ms);
                self.row.bytes = Some(s.bytes);
                self.row.masked_ms = Some(s.masked_ms);
                shared.archive.send(ArchiveOp::Audio(self.row));
            }
            Err(e) => {
                tracing::error!(error = %e, "leg audio not finished; the file keeps what was written")
            }
        }
    }

    fn check(&mut self, result: Option<Result<(), crate::sinks::audio::AudioError>>) {
        if let Some(Err(e)) = result {
            tracing::error!(error = %e, "leg audio recording stopped; the file keeps what was written");
            self.recorder = None;
        }
    }
}

/// The media ranges of an utterance `[start_ms, end_ms)` to silence, given its transcript
/// before and after redaction: each segment whose text redaction changed (with a margin), or
/// the whole utterance when segments do not say where.
pub fn masked_ranges(
    before: &Transcript,
    after: &Transcript,
    start_ms: u64,
    end_ms: u64,
) -> Vec<[u64; 2]> {
    if before.text == after.text {
        return Vec::new();
    }
    let whole = vec![[start_ms, end_ms]];
    if before.segments.is_empty() || before.segments.len() != after.segments.len() {
        return whole;
    }
    let mut out: Vec<[u64; 2]> = Vec::new();
    for (b, a) in before.segments.iter().zip(&after.segments) {
        if b.text == a.text {
            continue;
        }
        let s = (start_ms + b.start_ms)
            .saturating_sub(MASK_PAD_MS)
            .max(start_ms);
        let e = (start_ms + b.end_ms + MASK_PAD_MS).min(end_ms);
        match out.last_mut() {
            Some(last) if s <= last[1] => last[1] = last[1].max(e),
            _ if s < e => out.push([s, e]),
            _ => {}
        }
    }
    if out.is_empty() {
        whole
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::asr::TimedText;

    fn t(text: &str, segs: &[(u64, u64, &str)]) -> Transcript {
        Transcript {
            text: text.into(),
            language: "en".into(),
            segments: segs
                .iter()
                .map(|&(s, e, x)| TimedText {
                    start_ms: s,
                    end_ms: e,
                    text: x.into(),
                    no_speech_prob: 0.0,
                })
                .collect(),
            dropped: None,
        }
    }

    #[test]
    fn ranges_to_silence() {
        let plain = t("hello there", &[(0, 1000, "hello there")]);
        assert!(masked_ranges(&plain, &plain, 5000, 6000).is_empty());
        // One segment changed: that segment with its margin, inside the utterance.
        let before = t(
            "my card is 4532015112830366 thanks",
            &[
                (0, 1500, "my card is"),
                (1500, 6000, "4532015112830366"),
                (6000, 7000, "thanks"),
            ],
        );
        let after = t(
            "my card is [CARD] thanks",
            &[
                (0, 1500, "my card is"),
                (1500, 6000, "[CARD]"),
                (6000, 7000, "thanks"),
            ],
        );
        assert_eq!(
            masked_ranges(&before, &after, 10_000, 17_000),
            vec![[11_200, 16_300]]
        );
        // No segments, or segments that do not line up: the whole utterance.
        let bare = |x: &str| t(x, &[]);
        assert_eq!(
            masked_ranges(&bare("code 482916"), &bare("code [CODE]"), 100, 900),
            vec![[100, 900]]
        );
        let one = t("[CARD]", &[]);
        assert_eq!(masked_ranges(&before, &one, 0, 7000), vec![[0, 7000]]);
        // Adjacent changed segments merge; the margin never leaves the utterance.
        let b2 = t("1 2", &[(0, 500, "1234"), (500, 1000, "5678")]);
        let a2 = t("x y", &[(0, 500, "[N]"), (500, 1000, "[N]")]);
        assert_eq!(masked_ranges(&b2, &a2, 0, 1000), vec![[0, 1000]]);
    }
}
