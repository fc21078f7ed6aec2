//! Whisper vocabulary: CTranslate2's `vocabulary.txt` back to token bytes.
//!
//! CTranslate2 writes one token per line in GPT-2's printable byte encoding
//! (`bytes_to_unicode`: every byte mapped to a visible character so that
//! spaces and newlines survive a text file). GGML files store the raw bytes.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::error::ModelError;

/// The end-of-text marker; GGML files hold only the tokens before it.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's `bytes_to_unicode`: the printable character standing for each byte.
pub fn byte_to_char() -> [char; 256] {
    let printable = |b: u32| {
        (u32::from('!')..=u32::from('~')).contains(&b)
            || (u32::from('¡')..=u32::from('¬')).contains(&b)
            || (u32::from('®')..=u32::from('ÿ')).contains(&b)
    };
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        table[b as usize] = if printable(b) {
            char::from_u32(b).expect("latin-1 code point")
        } else {
            let c = char::from_u32(next).expect("code point below 0x200");
            next += 1;
            c
        };
    }
    table
}

fn char_to_byte() -> &'static HashMap<char, u8> {
    static TABLE: OnceLock<HashMap<char, u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        byte_to_char()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect()
    })
}

/// Decodes one token written in GPT-2's byte encoding.
pub fn decode_token(token: &str) -> Result<Vec<u8>, char> {
    let table = char_to_byte();
    token
        .chars()
        .map(|c| table.get(&c).copied().ok_or(c))
        .collect()
}

/// Encodes raw token bytes into GPT-2's printable form (inverse of [`decode_token`]).
pub fn encode_token(bytes: &[u8]) -> String {
    let table = byte_to_char();
    bytes.iter().map(|&b| table[b as usize]).collect()
}

/// Tokens of a `vocabulary.txt` as raw bytes, ids `0..<|endoftext|>`.
///
/// Empty lines are real (empty) tokens and keep their ids.
pub fn ggml_tokens(vocabulary_txt: &str) -> Result<Vec<Vec<u8>>, ModelError> {
    let body = vocabulary_txt.strip_suffix('\n').unwrap_or(vocabulary_txt);
    let lines: Vec<&str> = body.split('\n').collect();
    let eot = lines
        .iter()
        .position(|l| *l == END_OF_TEXT)
        .ok_or_else(|| ModelError::Vocabulary(format!("no {END_OF_TEXT} line")))?;
    lines[..eot]
        .iter()
        .enumerate()
        .map(|(id, line)| {
            decode_token(line).map_err(|c| {
                ModelError::Vocabulary(format!(
                    "token {id} {line:?} has {c:?}, which is not in GPT-2's byte alphabet"
                ))
            })
        })
        .collect()
}

/// Total number of lines (tokens) in a `vocabulary.txt`.
pub fn line_count(vocabulary_txt: &str) -> usize {
    let body = vocabulary_txt.strip_suffix('\n').unwrap_or(vocabulary_txt);
    body.split('\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_gpt2_byte_mappings() {
        let t = byte_to_char();
        let cases: &[(u8, char)] = &[
            (b'!', '!'),
            (b'~', '~'),
            (b' ', 'Ġ'),
            (b'\n', 'Ċ'),
            (b'\t', 'ĉ'),
            (0x00, 'Ā'),
            (0x7f, 'ġ'),
            (0xad, 'Ń'),
            (0xa1, '¡'),
            (0xff, 'ÿ'),
        ];
        for &(b, c) in cases {
            assert_eq!(t[b as usize], c, "byte {b:#x}");
        }
    }

    #[test]
    fn decodes_tokens_table() {
        let cases: &[(&str, &[u8])] = &[
            ("Ġthe", b" the"),
            ("ĊĊ", b"\n\n"),
            ("hello", b"hello"),
            ("", b""),
            // "你" is e4 bd a0 in UTF-8
            ("ä½ł", "你".as_bytes()),
        ];
        for &(tok, want) in cases {
            assert_eq!(decode_token(tok).unwrap(), want, "{tok:?}");
        }
        assert_eq!(
            decode_token("a b"),
            Err(' '),
            "raw space is not in the alphabet"
        );
    }

    #[test]
    fn stops_before_end_of_text_and_keeps_empty_lines() {
        let txt = "!\nĠa\n\n<|endoftext|>\n<|startoftranscript|>\n";
        let toks = ggml_tokens(txt).unwrap();
        assert_eq!(toks, vec![b"!".to_vec(), b" a".to_vec(), Vec::new()]);
        assert_eq!(line_count(txt), 5);
    }

    #[test]
    fn missing_end_of_text_is_an_error() {
        assert!(ggml_tokens("a\nb\n").is_err());
    }

    proptest! {
        #[test]
        fn byte_encoding_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = encode_token(&bytes);
            prop_assert!(!s.contains(char::is_whitespace));
            prop_assert_eq!(decode_token(&s).unwrap(), bytes);
        }
    }
}
