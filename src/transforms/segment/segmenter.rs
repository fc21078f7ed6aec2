//! Turns a leg's 16 kHz audio into utterances.

use super::classifier::FrameClassifier;
use super::config::{SegmentConfigError, SegmenterConfig};
use super::event::SegmentEvent;
use super::hangover::Hangover;
use std::collections::VecDeque;
use std::sync::Arc;

/// Sample rate the segmenter works at.
pub const SEGMENT_RATE: u32 = 16_000;
const SAMPLES_PER_MS: u64 = SEGMENT_RATE as u64 / 1000;

struct Open {
    id: u64,
    start: u64,
    audio: Vec<f32>,
    frames: u64,
    speech_frames: u64,
    /// Sample index just past the last speech frame.
    last_speech_end: u64,
    silence_run: u64,
    partial_at_len: usize,
    /// A speculative snapshot was sent for the current silence run.
    speculated: bool,
}

/// Voice-activity segmenter for one leg.
///
/// Audio is cut into VAD frames; an utterance opens once `start_ms` of speech falls within
/// `start_window_ms`, starting `pre_roll_ms` before its first speech frame, and closes
/// after `hangover_ms` without speech, keeping `tail_ms` of the silence. Utterances never
/// overlap, and one reaching `max_utterance_ms` is cut; if speech goes on, the next one
/// starts exactly where the cut fell.
///
/// A segmenter is `Send` (it can move between tasks) but not `Sync`: one leg, one owner.
pub struct Segmenter {
    cfg: SegmenterConfig,
    classifier: FrameClassifier,
    frame_len: usize,
    /// Samples not yet making up a whole frame.
    pending: Vec<f32>,
    /// Sample index of the next frame's first sample.
    pos: u64,
    /// The most recent audio, for pre-roll: covers the start window plus pre-roll.
    recent: VecDeque<f32>,
    recent_cap: usize,
    /// Speech decisions of the last frames in the start window, oldest first.
    window: VecDeque<bool>,
    window_frames: usize,
    start_frames: usize,
    /// Where the previous utterance ended; the next one may not start earlier.
    last_end: u64,
    open: Option<Open>,
    next_id: u64,
    hangover: Hangover,
}

impl Segmenter {
    /// Builds a segmenter, creating its own VAD instance.
    pub fn new(cfg: SegmenterConfig) -> Result<Self, SegmentConfigError> {
        cfg.validate()?;
        let frame_len = (cfg.frame_ms as u64 * SAMPLES_PER_MS) as usize;
        let window_frames = (cfg.start_window_ms / cfg.frame_ms).max(1) as usize;
        let start_frames = cfg.start_ms.div_ceil(cfg.frame_ms) as usize;
        let recent_cap =
            window_frames * frame_len + (cfg.pre_roll_ms as u64 * SAMPLES_PER_MS) as usize;
        Ok(Segmenter {
            classifier: FrameClassifier::new(cfg.vad_mode, cfg.energy_floor_dbfs),
            frame_len,
            pending: Vec::with_capacity(frame_len),
            pos: 0,
            recent: VecDeque::with_capacity(recent_cap + frame_len),
            recent_cap,
            window: VecDeque::with_capacity(window_frames + 1),
            window_frames,
            start_frames,
            last_end: 0,
            open: None,
            next_id: 0,
            hangover: Hangover::new(
                cfg.adaptive_hangover,
                cfg.min_hangover_ms as u64 * SAMPLES_PER_MS,
                cfg.hangover_ms as u64 * SAMPLES_PER_MS,
                SAMPLES_PER_MS,
            ),
            cfg,
        })
    }

    /// The silence that closes an utterance now, in milliseconds (`hangover_ms` unless adaptive).
    pub fn hangover_ms(&self) -> u64 {
        self.hangover.samples() / SAMPLES_PER_MS
    }

    /// Media time of everything pushed so far, in milliseconds.
    pub fn media_ms(&self) -> u64 {
        (self.pos + self.pending.len() as u64) / SAMPLES_PER_MS
    }

    /// Whether an utterance is open.
    pub fn in_utterance(&self) -> bool {
        self.open.is_some()
    }

    /// Media time the open utterance starts at (pre-roll included), if one is open.
    pub fn open_start_ms(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.start / SAMPLES_PER_MS)
    }

    /// Media time before which no audio can still become part of an utterance: the open
    /// utterance's start, else the oldest audio kept for the start window and pre-roll (an
    /// utterance that opens next may begin that far back).
    pub fn undecided_from_ms(&self) -> u64 {
        let from = match &self.open {
            Some(o) => o.start,
            None => (self.pos - self.recent.len() as u64).max(self.last_end),
        };
        from / SAMPLES_PER_MS
    }

    /// Feeds the next 16 kHz mono samples; returns the events they complete.
    pub fn push(&mut self, audio: &[f32]) -> Vec<SegmentEvent> {
        let mut events = Vec::new();
        let mut rest = audio;
        while !rest.is_empty() {
            let take = (self.frame_len - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.frame_len {
                let frame = std::mem::take(&mut self.pending);
                self.on_frame(&frame, &mut events);
                self.pending = frame;
                self.pending.clear();
            }
        }
        events
    }

    /// Ends the leg: closes the open utterance, if any, with whatever audio is left.
    pub fn finish(&mut self) -> Vec<SegmentEvent> {
        let leftover = std::mem::take(&mut self.pending);
        let end = self.pos + leftover.len() as u64;
        self.pos = end;
        let mut events = Vec::new();
        if let Some(mut open) = self.open.take() {
            open.audio.extend_from_slice(&leftover);
            // Trailing silence is trimmed as on a normal close; speech cut by the end is kept.
            let close_at = if open.silence_run > 0 {
                (open.last_speech_end + self.tail_samples()).min(end)
            } else {
                end
            };
            events.push(self.close(open, close_at));
        }
        self.window.clear();
        self.recent.clear();
        events
    }

    fn tail_samples(&self) -> u64 {
        self.cfg.tail_ms as u64 * SAMPLES_PER_MS
    }

    fn on_frame(&mut self, frame: &[f32], events: &mut Vec<SegmentEvent>) {
        let speech = self.classifier.is_speech(frame);
        self.pos += frame.len() as u64;
        self.hangover.frame(speech, self.pos, frame.len() as u64);

        self.recent.extend(frame.iter().copied());
        while self.recent.len() > self.recent_cap {
            self.recent.pop_front();
        }
        self.window.push_back(speech);
        if self.window.len() > self.window_frames {
            self.window.pop_front();
        }

        match self.open.as_mut() {
            None => self.maybe_open(events),
            Some(open) => {
                open.audio.extend_from_slice(frame);
                open.frames += 1;
                if speech {
                    open.speech_frames += 1;
                    open.silence_run = 0;
                    open.speculated = false;
                    open.last_speech_end = self.pos;
                } else {
                    open.silence_run += frame.len() as u64;
                }
                self.after_frame(events);
            }
        }
    }

    fn maybe_open(&mut self, events: &mut Vec<SegmentEvent>) {
        let speech_frames = self.window.iter().filter(|&&s| s).count();
        if speech_frames < self.start_frames {
            return;
        }
        let window_start = self.pos - (self.window.len() * self.frame_len) as u64;
        let first_speech = self.window.iter().position(|&s| s).unwrap_or(0);
        let first_speech_at = window_start + (first_speech * self.frame_len) as u64;
        let recent_start = self.pos - self.recent.len() as u64;
        let pre_roll = self.cfg.pre_roll_ms as u64 * SAMPLES_PER_MS;
        let start = first_speech_at
            .saturating_sub(pre_roll)
            .max(recent_start)
            .max(self.last_end);
        let skip = (start - recent_start) as usize;
        let audio: Vec<f32> = self.recent.iter().skip(skip).copied().collect();
        let frames = (audio.len() as u64).div_ceil(self.frame_len as u64);
        let id = self.next_id;
        self.next_id += 1;
        self.open = Some(Open {
            id,
            start,
            audio,
            frames,
            speech_frames: speech_frames as u64,
            last_speech_end: self.pos,
            silence_run: 0,
            partial_at_len: 0,
            speculated: false,
        });
        self.after_frame(events);
    }

    /// Emits partials and closes on hangover or length limit.
    fn after_frame(&mut self, events: &mut Vec<SegmentEvent>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let hangover = self.hangover.samples();
        let max_len = self.cfg.max_utterance_ms as usize * SAMPLES_PER_MS as usize;
        if open.silence_run >= hangover {
            let open = self.open.take().expect("checked above");
            let close_at = open.last_speech_end + self.tail_samples();
            events.push(self.close(open, close_at));
            // Fresh speech is needed to open the next utterance.
            self.window.clear();
            return;
        }
        if open.audio.len() >= max_len {
            let open = self.open.take().expect("checked above");
            let close_at = self.pos;
            events.push(self.close(open, close_at));
            return;
        }
        let tail = self.cfg.tail_ms as u64 * SAMPLES_PER_MS;
        if self.cfg.speculative && !open.speculated && tail > 0 && open.silence_run >= tail {
            // Exactly the audio the close will keep if the silence lasts out the hangover.
            open.speculated = true;
            let close_at = open.last_speech_end + tail;
            let len = (close_at.clamp(open.start, open.start + open.audio.len() as u64)
                - open.start) as usize;
            let speech_ratio = speech_ratio(open, len, self.frame_len);
            events.push(SegmentEvent::Speculative {
                utterance: open.id,
                start_ms: open.start / SAMPLES_PER_MS,
                end_ms: (open.start + len as u64) / SAMPLES_PER_MS,
                audio: Arc::from(&open.audio[..len]),
                speech_ratio,
            });
        }
        let every = self.cfg.partial_every_ms as usize * SAMPLES_PER_MS as usize;
        if every > 0 && open.audio.len() - open.partial_at_len >= every {
            open.partial_at_len = open.audio.len();
            events.push(SegmentEvent::Partial {
                utterance: open.id,
                start_ms: open.start / SAMPLES_PER_MS,
                end_ms: (open.start + open.audio.len() as u64) / SAMPLES_PER_MS,
                audio_so_far: Arc::from(open.audio.as_slice()),
            });
        }
    }

    fn close(&mut self, mut open: Open, close_at: u64) -> SegmentEvent {
        let close_at = close_at.clamp(open.start, open.start + open.audio.len() as u64);
        open.audio.truncate((close_at - open.start) as usize);
        self.last_end = close_at;
        let speech_ratio = speech_ratio(&open, open.audio.len(), self.frame_len);
        SegmentEvent::Final {
            utterance: open.id,
            start_ms: open.start / SAMPLES_PER_MS,
            end_ms: close_at / SAMPLES_PER_MS,
            audio: open.audio,
            speech_ratio,
        }
    }
}

/// Share of the frames of the first `len` samples of `open` the VAD called speech.
fn speech_ratio(open: &Open, len: usize, frame_len: usize) -> f32 {
    let kept_frames = (len as u64)
        .div_ceil(frame_len as u64)
        .clamp(1, open.frames.max(1));
    (open.speech_frames as f32 / kept_frames as f32).min(1.0)
}
