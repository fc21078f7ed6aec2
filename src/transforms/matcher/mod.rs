//! Prohibited-phrase matcher (违禁语/敏感词).
//!
//! Lexicon files ([`Lexicon`]) are compiled into a [`Matcher`] that searches each partial and final
//! transcript after [`normalize`] has folded width, case, punctuation and Traditional/Simplified
//! differences. A [`HitTracker`] per utterance makes sure a hit found on a partial is raised once.

mod dedup;
mod error;
mod homophone;
mod lexicon;
mod loose;
#[allow(clippy::module_inception)]
mod matcher;
pub mod near;
mod normalize;
mod term;
#[cfg(test)]
mod tests;

pub use dedup::HitTracker;
pub use error::{LexiconError, Problem};
pub use lexicon::Lexicon;
pub use loose::LOOSE_MIN_SYLLABLES;
pub use matcher::{effective_mode, Match, Matcher, NEAR_MIN_SYLLABLES};
pub(crate) use normalize::is_word_char;
pub use normalize::{normalize, Normalized};
pub use term::{MatchMode, Severity, SpeakerScope, Term};
