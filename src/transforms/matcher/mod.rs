//! matcher stage.
