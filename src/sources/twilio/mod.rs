//! twilio source.
