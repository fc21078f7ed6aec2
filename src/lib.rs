//! callwatch: live speech analytics for bank contact centers.
//!
//! Audio enters through a [`sources`] module per protocol, flows through the
//! [`transforms`] (decode, segment, asr, matcher) wired per leg by [`pipeline`], and leaves
//! through the [`sinks`] (live events, archive). [`http`] is the network edge.

pub mod auth;
pub mod call;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn_limit;
pub mod eval;
pub mod facts;
pub mod http;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod secret;
pub mod shutdown;
pub mod sinks;
pub mod sources;
pub mod tls;
pub mod transforms;
