//! Outputs: live events and the archive.
pub mod archive;
pub mod audio;
pub mod events;
