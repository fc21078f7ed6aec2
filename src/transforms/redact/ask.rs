//! What an agent asks the customer to read out ("请告诉我您的验证码", "can I have your card
//! number"). The customer's next turns are then read in that context: a four-digit group or a
//! six-digit code is masked even without a keyword of its own on the customer's leg.

use super::redactor::CODE_KEYWORDS;
use super::Category;

/// Phrases an agent uses to ask for a number, per category (a code: the redactor's own code
/// keywords). Latin ones match whole words.
const ASKS: &[(Category, &[&str])] = &[
    (Category::Code, CODE_KEYWORDS),
    (
        Category::Card,
        &[
            "卡号",
            "银行卡",
            "信用卡",
            "card number",
            "card",
            "account number",
        ],
    ),
    (
        Category::IdNumber,
        &[
            "身份证",
            "证件号",
            "id number",
            "identity number",
            "national id",
        ],
    ),
    (
        Category::Mobile,
        &[
            "手机号",
            "电话号码",
            "联系电话",
            "phone number",
            "mobile number",
            "mobile",
        ],
    ),
];

/// The kind of number `text` asks for, if it asks for one (the first category that matches).
pub fn requested(text: &str) -> Option<Category> {
    // Whole words for Latin phrases: pad and fold everything that is not a letter or digit.
    let latin: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let latin = format!(" {latin} ");
    ASKS.iter()
        .find(|(_, phrases)| {
            phrases.iter().any(|p| {
                if p.is_ascii() {
                    latin.contains(&format!(" {p} "))
                } else {
                    text.contains(p)
                }
            })
        })
        .map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_by_category() {
        for (text, want) in [
            ("请您告诉我收到的验证码", Some(Category::Code)),
            (
                "Could you read me the code we just sent?",
                Some(Category::Code),
            ),
            ("请报一下您的卡号", Some(Category::Card)),
            ("Can I have your card number, please?", Some(Category::Card)),
            ("麻烦提供一下身份证号码", Some(Category::IdNumber)),
            ("What is your mobile number?", Some(Category::Mobile)),
            ("您好，很高兴为您服务", None),
            ("The postcode area is fine", None),
            ("Discard that", None),
        ] {
            assert_eq!(requested(text), want, "{text}");
        }
    }
}
