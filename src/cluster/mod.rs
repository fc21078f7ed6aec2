//! What a node does in a cluster beyond sharing events (see
//! [`NatsBus`](crate::sinks::events::NatsBus)): one surge detector over every node's calls,
//! announced by one elected node.
pub mod leader;
pub mod surge;
