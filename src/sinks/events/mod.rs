//! Live event bus and its subscribers: in process by default, NATS JetStream across a cluster.
pub mod bus;
pub mod event;
pub mod filter;
pub mod follow;
pub mod local;
pub mod nats;
pub use bus::{BusHealth, Delivery, EventBackend, EventBus, Published, Subscription};
pub use event::{AlertEvidence, Event, Payload, SegmentTiming};
pub use filter::EventFilter;
pub use nats::{BusConfig, NatsBus};
