//! Inputs: one module per protocol.
pub mod audio_fork;
pub mod audiosocket;
pub mod file;
pub mod fork;
pub mod rtp;
pub mod siprec;
pub mod twilio;
pub mod whip;
