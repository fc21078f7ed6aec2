//! What a node does in a cluster beyond sharing events (see
//! [`NatsBus`](crate::sinks::events::NatsBus)): one surge detector over every node's calls,
//! announced by one elected node; one lexicon and rule set, reloaded on any node; recognition
//! on worker machines.
pub mod asr;
pub mod leader;
pub mod reload;
pub mod surge;
