//! Live event bus and its subscribers.
pub mod event;
pub use event::{Event, Payload, SegmentTiming};
