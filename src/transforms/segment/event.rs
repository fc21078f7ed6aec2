//! What the segmenter hands to the recogniser.

use std::sync::Arc;

/// One step in the life of an utterance. Times are leg media time in milliseconds,
/// counted from the first sample pushed into the segmenter.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEvent {
    /// Snapshot of an utterance still open, about every `partial_every_ms`.
    Partial {
        utterance: u64,
        start_ms: u64,
        end_ms: u64,
        audio_so_far: Arc<[f32]>,
    },
    /// The utterance as it will close if the silence just begun lasts out the hangover:
    /// sent once `tail_ms` of silence follows speech, so recognition can start before the
    /// close. Its audio is exactly the [`SegmentEvent::Final`]'s when no speech comes back.
    Speculative {
        utterance: u64,
        start_ms: u64,
        end_ms: u64,
        audio: Arc<[f32]>,
        speech_ratio: f32,
    },
    /// A closed utterance: silence, the length limit, or the end of the leg.
    Final {
        utterance: u64,
        start_ms: u64,
        end_ms: u64,
        /// 16 kHz mono samples from `start_ms` to `end_ms`.
        audio: Vec<f32>,
        /// Fraction of the utterance's frames the VAD called speech; low values suggest
        /// noise, where recognisers tend to hallucinate.
        speech_ratio: f32,
    },
}

impl SegmentEvent {
    /// The utterance this event belongs to.
    pub fn utterance(&self) -> u64 {
        match self {
            SegmentEvent::Partial { utterance, .. }
            | SegmentEvent::Speculative { utterance, .. }
            | SegmentEvent::Final { utterance, .. } => *utterance,
        }
    }
}
