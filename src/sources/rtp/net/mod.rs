//! The socket edge of RTP reception: UDP port pairs from a configured range, and one receiver
//! task per stream feeding a leg.

pub mod ports;
pub mod receiver;

pub use ports::{PortError, PortLease, PortPair, RtpPortPool};
pub use receiver::{spawn_receiver, ReceiverEnd, ReceiverHandle, ReceiverOptions, ReceiverReport};
