//! PII redaction: bank card numbers, PRC resident ID numbers, mobile numbers, SMS verification
//! codes and (when configured) amounts are replaced by a label of their category (`[卡号]`,
//! `[CARD]`) before a transcript reaches events, the archive, the matcher or the logs. A card
//! label keeps at most the first six and last four digits (`[CARD 622848*********0018]`), or
//! none, as `[redact] card_display` says.
//!
//! Numbers are found however Whisper wrote them: Arabic or full-width digits, Chinese numerals
//! read digit by digit, English digit words, in groups. [`Redactor`] handles one text;
//! [`LegRedactor`] carries the end of one utterance into the next of the same leg, so a number
//! read out across a pause, or cut off at the end of a partial, does not leak.

mod amount;
mod ask;
mod category;
mod checks;
mod config;
mod display;
mod leg;
mod metadata;
mod redactor;
mod scan;
#[cfg(test)]
mod tests;

pub use ask::requested;
pub use category::Category;
pub use checks::{id_check_char, luhn_check_digit, luhn_valid, mobile_valid, resident_id_valid};
pub use config::{LabelLanguage, RedactConfig, RedactConfigError, METADATA_KEEP};
pub use display::CardDisplay;
pub use leg::LegRedactor;
pub use redactor::{Redacted, Redaction, Redactor, TAIL_DIGITS};
pub use scan::has_number_token;
