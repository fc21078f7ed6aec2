//! callwatch: live speech analytics for bank contact centers.
//!
//! Audio enters through a [`sources`] module per protocol, flows through the
//! [`transforms`] (decode, segment, asr, matcher) and leaves through the
//! [`sinks`] (live events, archive).

pub mod call;
pub mod clock;
pub mod model;
pub mod shutdown;
pub mod sinks;
pub mod sources;
pub mod transforms;
pub mod http {
    pub mod archive_api;
}
