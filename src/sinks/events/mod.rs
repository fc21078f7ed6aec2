//! Live event bus and its subscribers.
pub mod bus;
pub mod event;
pub use bus::{Delivery, EventBus, EventFilter, Published, Subscription};
pub use event::{AlertEvidence, Event, Payload, SegmentTiming};
