//! A leg's audio recording inside the leg task: fed the decoded audio, told which stretches
//! held redacted speech, released as the transcripts settle, and archived as a row.

use super::Shared;
use crate::call::LegInfo;
use crate::clock::rfc3339;
use crate::sinks::archive::{ArchiveOp, AudioRecord};
use crate::sinks::audio::LegRecorder;
use crate::transforms::asr::Transcript;

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
/// before and after redaction: the whole utterance whenever redaction changed it. Whisper's
/// segment times are often off by more than a word, and a segment-by-segment pass can read
/// digits differently from the pass over the whole text, so anything finer could leave a
/// card number audible.
pub fn masked_ranges(
    before: &Transcript,
    after: &Transcript,
    start_ms: u64,
    end_ms: u64,
) -> Vec<[u64; 2]> {
    if before.text == after.text || end_ms <= start_ms {
        return Vec::new();
    }
    vec![[start_ms, end_ms]]
}

/// Whether a customer utterance that redaction left alone is silenced anyway: it holds
/// something read as a digit while the agent's leg has not yet been transcribed up to its
/// start, so a request for a code or card number may still be on its way ("请告诉我验证码"
/// makes a bare 482916 a code) and the text was judged without it.
pub fn unsure_digits(text: &str, start_ms: u64, agent_settled_ms: Option<u64>) -> bool {
    agent_settled_ms.is_some_and(|s| s < start_ms)
        && crate::transforms::redact::has_number_token(text)
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
            language_share: None,
            looped: false,
        }
    }

    #[test]
    fn ranges_to_silence() {
        let plain = t("hello there", &[(0, 1000, "hello there")]);
        assert!(masked_ranges(&plain, &plain, 5000, 6000).is_empty());
        // Any change silences the whole utterance, whatever the segments say.
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
                (1500, 6000, "4532015112830366"),
                (6000, 7000, "thanks"),
            ],
        );
        assert_eq!(
            masked_ranges(&before, &after, 10_000, 17_000),
            vec![[10_000, 17_000]]
        );
        let bare = |x: &str| t(x, &[]);
        assert_eq!(
            masked_ranges(&bare("code 482916"), &bare("code [CODE]"), 100, 900),
            vec![[100, 900]]
        );
    }

    #[test]
    fn digits_heard_before_the_agent_is_transcribed_are_silenced() {
        // The agent's leg is behind this utterance: a request for a code may be pending.
        assert!(unsure_digits("it is 4 8 2 9 1 6", 19_500, Some(15_000)));
        assert!(unsure_digits("四八二九一六", 19_500, Some(15_000)));
        // Caught up, or no agent leg at all (one-leg call), or no digits: as redaction said.
        assert!(!unsure_digits("it is 4 8 2 9 1 6", 19_500, Some(22_000)));
        assert!(!unsure_digits("it is 4 8 2 9 1 6", 19_500, None));
        assert!(!unsure_digits("thank you very much", 19_500, Some(0)));
    }
}
