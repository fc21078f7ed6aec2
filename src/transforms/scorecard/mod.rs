//! QA scorecards (质检评分表): every call scored at its end against weighted items.
//!
//! A [`Scorecard`] is read from a TOML file (`lexicons/scorecards/`); a [`CallLedger`] holds what
//! the call said and when (built live by the pipeline, or from the archive for a re-score); and
//! [`score`] turns the two into a [`ScoreReport`]. Scoring is a pure function so a re-score after
//! a scorecard change gives exactly what the live path would have given.

mod card;
mod error;
mod ledger;
mod score;
#[cfg(test)]
mod tests;

pub use card::{Item, ItemKind, Scorecard};
pub use error::ScorecardError;
pub use ledger::{CallLedger, LedgerHit, LedgerUtterance};
pub use score::{score, ItemResult, Outcome, ScoreReport};
