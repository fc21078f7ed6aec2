//! Composite quality-inspection rules (质检规则) over whole calls.
//!
//! Rule files ([`file`] format, documented in `lexicons/README.md`) combine phrase lists, the
//! speaker who says them, proximity in characters or seconds, phrases that must be said within
//! a deadline, and windows at the start or end of the call. They are compiled against the
//! lexicon into a [`RuleSet`]; the two travel together as an [`Inspection`] that a reload
//! swaps atomically. Each live call has a [`CallRules`] state machine fed the matcher's
//! observations from both legs and media-time progress; it returns each [`Firing`] once.

mod compile;
mod engine;
mod error;
mod file;
mod files;
mod inspection;
#[cfg(test)]
mod tests;

pub use compile::{Rule, RuleSet};
pub use engine::{CallRules, Evidence, Firing, Observation};
pub use error::{InspectionError, RuleError, RuleProblem};
pub use file::{Action, Distance, Relation, Window};
pub use files::{InspectionFiles, SourceFile};
pub use inspection::{
    apply, reload, Inspection, InspectionHandle, InspectionSource, InspectionSummary,
};
