//! Segment stage: per-leg voice activity detection that cuts 16 kHz audio into utterances.
mod classifier;
pub mod config;
pub mod event;
mod hangover;
pub mod segmenter;

pub use config::{SegmentConfigError, SegmenterConfig, VadAggressiveness};
pub use event::SegmentEvent;
pub use segmenter::{Segmenter, SEGMENT_RATE};

#[cfg(test)]
mod tests;
