//! Decode stage: G.711 companding and conversion of each leg to 16 kHz mono f32.
pub mod g711;
pub mod leg_decoder;

pub use g711::{decode_alaw, decode_ulaw, i16_to_f32};
pub use leg_decoder::{DecodeError, LegDecoder, TARGET_RATE};
