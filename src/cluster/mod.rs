//! What a node does in a cluster beyond sharing events (see
//! [`NatsBus`](crate::sinks::events::NatsBus)): one surge detector over every node's calls,
//! announced by one elected node; one lexicon and rule set, reloaded on any node.
pub mod leader;
pub mod reload;
pub mod surge;
