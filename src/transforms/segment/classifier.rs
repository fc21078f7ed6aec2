//! Per-frame speech decision: the WebRTC VAD gated by an energy floor.

use super::config::VadAggressiveness;
use crate::transforms::decode::g711::f32_to_i16;
use webrtc_vad::{SampleRate, Vad, VadMode};

/// Owns a libfvad instance.
struct OwnedVad(Vad);

// SAFETY: `webrtc_vad::Vad` is `!Send` only because it holds a raw pointer. The pointee is
// a libfvad instance allocated for this handle alone; libfvad keeps all its state in that
// allocation (no thread-locals, no globals), so using it from another thread after a move
// is sound. Every call takes `&mut self`, so there is never concurrent access; `Sync` is
// deliberately not implemented.
unsafe impl Send for OwnedVad {}

/// Classifies 16 kHz frames as speech or not.
pub(crate) struct FrameClassifier {
    vad: OwnedVad,
    floor_rms: f32,
    scratch: Vec<i16>,
}

impl FrameClassifier {
    pub(crate) fn new(mode: VadAggressiveness, energy_floor_dbfs: f32) -> Self {
        let mode = match mode {
            VadAggressiveness::Quality => VadMode::Quality,
            VadAggressiveness::LowBitrate => VadMode::LowBitrate,
            VadAggressiveness::Aggressive => VadMode::Aggressive,
            VadAggressiveness::VeryAggressive => VadMode::VeryAggressive,
        };
        FrameClassifier {
            vad: OwnedVad(Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode)),
            floor_rms: 10f32.powf(energy_floor_dbfs / 20.0),
            scratch: Vec::new(),
        }
    }

    /// True when `frame` (10, 20 or 30 ms at 16 kHz) holds speech.
    pub(crate) fn is_speech(&mut self, frame: &[f32]) -> bool {
        if frame.is_empty() || rms(frame) < self.floor_rms {
            return false;
        }
        self.scratch.clear();
        self.scratch.extend(frame.iter().map(|&s| f32_to_i16(s)));
        // Frame lengths are validated with the config, so the VAD cannot reject one.
        self.vad.0.is_voice_segment(&self.scratch).unwrap_or(false)
    }
}

/// Root-mean-square level of a frame (full scale = 1.0).
pub(crate) fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    (frame.iter().map(|v| v * v).sum::<f32>() / frame.len() as f32).sqrt()
}
