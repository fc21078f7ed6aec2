//! What kind of personal data a redaction removed, and the label that stands in its place.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Kind of personal data. The serialised names are the ones used in `[redact] categories`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Bank card number: 13–19 digits passing the Luhn check.
    Card,
    /// PRC resident ID number: 18 characters, MOD 11-2 check, plausible birth date.
    IdNumber,
    /// Mainland mobile number, with or without +86.
    Mobile,
    /// SMS verification code: 4–8 digits next to 验证码, code, ...
    Code,
    /// Amount of money (off unless configured).
    Amount,
    /// A digit run that may be (part of) one of the above but cannot be validated: 11 or more
    /// digits failing every check, or a run cut off at the end of a transcript.
    Number,
}

impl Category {
    /// Every category, in label-table order.
    pub const ALL: [Category; 6] = [
        Category::Card,
        Category::IdNumber,
        Category::Mobile,
        Category::Code,
        Category::Amount,
        Category::Number,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Card => "card",
            Category::IdNumber => "id_number",
            Category::Mobile => "mobile",
            Category::Code => "code",
            Category::Amount => "amount",
            Category::Number => "number",
        }
    }

    /// The default label in Chinese text.
    pub fn zh_label(self) -> &'static str {
        match self {
            Category::Card => "[卡号]",
            Category::IdNumber => "[身份证号]",
            Category::Mobile => "[手机号]",
            Category::Code => "[验证码]",
            Category::Amount => "[金额]",
            Category::Number => "[号码]",
        }
    }

    /// The default label in English text.
    pub fn en_label(self) -> &'static str {
        match self {
            Category::Card => "[CARD]",
            Category::IdNumber => "[ID]",
            Category::Mobile => "[PHONE]",
            Category::Code => "[CODE]",
            Category::Amount => "[AMOUNT]",
            Category::Number => "[NUMBER]",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
