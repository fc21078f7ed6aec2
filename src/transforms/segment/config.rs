//! Tuning of the voice-activity segmenter.

use thiserror::Error;

/// How eagerly the WebRTC VAD calls a frame non-speech; higher modes reject more noise
/// and also miss more quiet speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VadAggressiveness {
    Quality,
    LowBitrate,
    #[default]
    Aggressive,
    VeryAggressive,
}

/// Segmenter settings. All durations are media time in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmenterConfig {
    /// VAD frame length: 10, 20 or 30.
    pub frame_ms: u32,
    pub vad_mode: VadAggressiveness,
    /// Frames quieter than this RMS level (dBFS) are never speech, whatever the VAD says.
    pub energy_floor_dbfs: f32,
    /// Speech needed within `start_window_ms` to open an utterance.
    pub start_ms: u32,
    pub start_window_ms: u32,
    /// Continuous non-speech that closes an utterance (the most it waits when adaptive).
    pub hangover_ms: u32,
    /// Shorten the hangover to the longest pause the leg's speaker recently made and went on
    /// after (plus 100 ms), never below `min_hangover_ms`: finals come sooner from speakers
    /// who pause briefly.
    pub adaptive_hangover: bool,
    /// The shortest an adaptive hangover gets.
    pub min_hangover_ms: u32,
    /// Audio kept before the first speech frame of an utterance.
    pub pre_roll_ms: u32,
    /// Audio kept after the last speech frame when an utterance closes (at most `hangover_ms`).
    pub tail_ms: u32,
    /// An utterance this long is cut and a new one begins.
    pub max_utterance_ms: u32,
    /// Interval between partial snapshots of an open utterance; 0 turns partials off.
    pub partial_every_ms: u32,
    /// Start recognising an utterance once `tail_ms` of silence follows its speech, instead
    /// of after the whole hangover; the result is used if the utterance then closes with no
    /// more speech (live calls with partials on).
    pub speculative: bool,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            frame_ms: 20,
            vad_mode: VadAggressiveness::Aggressive,
            energy_floor_dbfs: -50.0,
            start_ms: 150,
            start_window_ms: 300,
            hangover_ms: 600,
            adaptive_hangover: false,
            min_hangover_ms: 300,
            pre_roll_ms: 200,
            tail_ms: 200,
            max_utterance_ms: 15_000,
            partial_every_ms: 1_000,
            speculative: true,
        }
    }
}

/// A [`SegmenterConfig`] that cannot work.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SegmentConfigError {
    #[error("frame_ms = {0} is not supported by the VAD; use 10, 20 or 30")]
    FrameLength(u32),
    #[error("start_ms = {start_ms} must be at least one frame and at most start_window_ms = {window_ms}")]
    StartWindow { start_ms: u32, window_ms: u32 },
    #[error("hangover_ms = {0} must be at least one frame")]
    Hangover(u32),
    #[error("min_hangover_ms = {min_ms} must lie between tail_ms = {tail_ms} and hangover_ms = {hangover_ms}")]
    MinHangover {
        min_ms: u32,
        tail_ms: u32,
        hangover_ms: u32,
    },
    #[error("tail_ms = {tail_ms} must not exceed hangover_ms = {hangover_ms}")]
    Tail { tail_ms: u32, hangover_ms: u32 },
    #[error("max_utterance_ms = {max_ms} must exceed start_window_ms + pre_roll_ms = {min_ms}")]
    MaxUtterance { max_ms: u32, min_ms: u32 },
    #[error("energy_floor_dbfs = {0} must be a finite level at or below 0 dBFS")]
    EnergyFloor(f32),
}

impl SegmenterConfig {
    /// Checks that the settings are consistent.
    pub fn validate(&self) -> Result<(), SegmentConfigError> {
        if ![10, 20, 30].contains(&self.frame_ms) {
            return Err(SegmentConfigError::FrameLength(self.frame_ms));
        }
        if self.start_ms < self.frame_ms || self.start_ms > self.start_window_ms {
            return Err(SegmentConfigError::StartWindow {
                start_ms: self.start_ms,
                window_ms: self.start_window_ms,
            });
        }
        if self.hangover_ms < self.frame_ms {
            return Err(SegmentConfigError::Hangover(self.hangover_ms));
        }
        if self.tail_ms > self.hangover_ms {
            return Err(SegmentConfigError::Tail {
                tail_ms: self.tail_ms,
                hangover_ms: self.hangover_ms,
            });
        }
        if self.adaptive_hangover
            && !(self.tail_ms.max(self.frame_ms)..=self.hangover_ms).contains(&self.min_hangover_ms)
        {
            return Err(SegmentConfigError::MinHangover {
                min_ms: self.min_hangover_ms,
                tail_ms: self.tail_ms,
                hangover_ms: self.hangover_ms,
            });
        }
        let min_ms = self.start_window_ms + self.pre_roll_ms;
        if self.max_utterance_ms <= min_ms {
            return Err(SegmentConfigError::MaxUtterance {
                max_ms: self.max_utterance_ms,
                min_ms,
            });
        }
        if !self.energy_floor_dbfs.is_finite() || self.energy_floor_dbfs > 0.0 {
            return Err(SegmentConfigError::EnergyFloor(self.energy_floor_dbfs));
        }
        Ok(())
    }
}
