//! Checksums and shape rules that tell a card, resident ID or mobile number from any other digits.

/// Luhn (mod 10) check over ASCII digits; the last digit is the check digit.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The Luhn check digit that completes `body` (ASCII digits).
pub fn luhn_check_digit(body: &str) -> char {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        let mut d = u32::from(b.wrapping_sub(b'0') % 10);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Weights of ISO 7064 MOD 11-2 for the 17 body digits of a PRC resident ID (GB 11643).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum mod 11.
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character of a resident ID whose first 17 digits are `body`, if `body` is 17 ASCII digits.
pub fn id_check_char(body: &str) -> Option<char> {
    if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize])
}

/// An 18-character PRC resident ID: 6-digit region, plausible birth date, sequence, and a
/// check character (digit or `X`) that agrees with ISO 7064 MOD 11-2.
pub fn resident_id_valid(id: &str) -> bool {
    if id.len() != 18 || !id.is_ascii() {
        return false;
    }
    let (body, check) = id.split_at(17);
    let Some(expected) = id_check_char(body) else {
        return false;
    };
    check.chars().next().map(|c| c.to_ascii_uppercase()) == Some(expected)
        && birth_date_plausible(&body[6..14])
        && !body.starts_with('0')
}

/// `YYYYMMDD` with a year from 1900 to 2099 and a day that exists in that month.
fn birth_date_plausible(yyyymmdd: &str) -> bool {
    let n = |r: std::ops::Range<usize>| yyyymmdd[r].parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (n(0..4), n(4..6), n(6..8)) else {
        return false;
    };
    if !(1900..=2099).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// A mainland mobile number: 11 digits `1[3-9]xxxxxxxxx`, optionally after the country code 86
/// (or 0086).
pub fn mobile_valid(digits: &str) -> bool {
    let national = digits
        .strip_prefix("0086")
        .filter(|r| r.len() == 11)
        .or_else(|| digits.strip_prefix("86").filter(|r| r.len() == 11))
        .unwrap_or(digits);
    let b = national.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_table() {
        for (card, ok) in [
            ("4111111111111111", true),
            ("6222021234567890128", true),
            ("6222021234567890127", false),
            ("4111111111111112", false),
            ("79927398713", true),
            ("0", true),
            ("", false),
            ("12a4", false),
        ] {
            assert_eq!(luhn_valid(card), ok, "{card}");
        }
        for body in ["622202123456789012", "411111111111111", "6"] {
            let full = format!("{body}{}", luhn_check_digit(body));
            assert!(luhn_valid(&full), "{full}");
        }
    }

    #[test]
    fn resident_id_table() {
        // The GB 11643 worked example and one with an X check character.
        assert!(resident_id_valid("11010519491231002X"));
        assert!(resident_id_valid("11010519491231002x"));
        assert!(resident_id_valid("310115198001011238"));
        assert!(resident_id_valid("510108200002290316"), "29 February 2000");
        for (id, why) in [
            ("110105194912310021", "wrong check digit"),
            ("11010519491331002X", "month 13"),
            ("110105194902300023", "30 February"),
            ("11010518491231002X", "year 1849"),
            ("11010519491231002", "17 characters"),
            ("1101051949123100X2", "X in the body"),
        ] {
            assert!(!resident_id_valid(id), "{id}: {why}");
        }
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn mobile_table() {
        for (n, ok) in [
            ("13812345678", true),
            ("19912345678", true),
            ("8613812345678", true),
            ("008613812345678", true),
            ("12812345678", false),
            ("1381234567", false),
            ("23812345678", false),
            ("138123456789", false),
        ] {
            assert_eq!(mobile_valid(n), ok, "{n}");
        }
    }
}
