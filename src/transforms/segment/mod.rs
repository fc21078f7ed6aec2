//! segment stage.
