//! Language choice restricted to the configured set.

/// Which languages an utterance may be transcribed in.
#[derive(Debug, Clone, PartialEq)]
pub struct LanguagePolicy {
    allowed: Vec<String>,
    forced: Option<String>,
}

impl LanguagePolicy {
    /// `allowed` are Whisper language codes (`zh`, `en`); the first is the fallback.
    pub fn new(allowed: Vec<String>, forced: Option<String>) -> Self {
        let allowed = if allowed.is_empty() {
            vec!["zh".into(), "en".into()]
        } else {
            allowed
        };
        LanguagePolicy { allowed, forced }
    }

    /// The same policy with a per-call override (from source metadata), if any.
    pub fn with_override(&self, forced: Option<&str>) -> Self {
        LanguagePolicy {
            allowed: self.allowed.clone(),
            forced: forced
                .filter(|s| !s.is_empty() && *s != "auto")
                .map(str::to_string)
                .or_else(|| self.forced.clone()),
        }
    }

    pub fn forced(&self) -> Option<&str> {
        self.forced.as_deref().or(if self.allowed.len() == 1 {
            Some(self.allowed[0].as_str())
        } else {
            None
        })
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }
}

/// Whisper's language codes in its own order: the index is the language id Whisper uses in
/// its per-language probabilities (checked against whisper.cpp in the tests). A table of our
/// own keeps the check free of whisper.cpp, which panics on a code holding a NUL byte.
const WHISPER_LANGUAGES: [&str; 100] = [
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

/// Whisper's id of a language code.
pub fn lang_id(code: &str) -> Option<usize> {
    WHISPER_LANGUAGES.iter().position(|c| *c == code)
}

/// Picks the likeliest allowed language from whisper's per-language probabilities, never a third one.
pub fn choose_language(probs: &[f32], allowed: &[String]) -> String {
    allowed
        .iter()
        .filter_map(|code| {
            let id = lang_id(code)?;
            Some((code, probs.get(id).copied().unwrap_or(0.0)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c.clone())
        .unwrap_or_else(|| allowed.first().cloned().unwrap_or_else(|| "en".into()))
}

/// Checks that every configured code is a language Whisper knows.
pub fn validate_codes(codes: &[String]) -> Result<(), String> {
    codes.iter().try_for_each(|c| validate_code(c))
}

/// Checks one language code from a config or a source's metadata against Whisper's codes.
/// A source's metadata may hold anything, NUL bytes included; only our own table sees it,
/// never whisper.cpp.
pub fn validate_code(code: &str) -> Result<(), String> {
    if lang_id(code).is_none() {
        let shown: String = code.chars().take(16).flat_map(char::escape_debug).collect();
        return Err(format!(
            "unknown language code `{shown}` (use Whisper codes such as zh, en, yue, or auto)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_likelier_of_allowed_never_a_third() {
        let mut probs = vec![0.0f32; 100];
        let zh = lang_id("zh").unwrap();
        let en = lang_id("en").unwrap();
        let ja = lang_id("ja").unwrap();
        probs[ja] = 0.7;
        probs[zh] = 0.2;
        probs[en] = 0.1;
        let allowed = vec!["zh".to_string(), "en".to_string()];
        assert_eq!(choose_language(&probs, &allowed), "zh");
        probs[en] = 0.25;
        assert_eq!(choose_language(&probs, &allowed), "en");
    }

    #[test]
    fn override_wins_and_auto_is_no_override() {
        let p = LanguagePolicy::new(vec!["zh".into(), "en".into()], None);
        assert_eq!(p.forced(), None);
        assert_eq!(p.with_override(Some("en")).forced(), Some("en"));
        assert_eq!(p.with_override(Some("auto")).forced(), None);
        let single = LanguagePolicy::new(vec!["zh".into()], None);
        assert_eq!(single.forced(), Some("zh"));
    }

    #[test]
    fn rejects_unknown_codes() {
        assert!(validate_codes(&["zh".into(), "en".into()]).is_ok());
        assert!(validate_codes(&["klingon".into()]).is_err());
    }

    #[cfg(feature = "whisper")]
    #[test]
    fn the_table_is_whispers_own() {
        for (id, code) in WHISPER_LANGUAGES.iter().enumerate() {
            assert_eq!(whisper_rs::get_lang_id(code), Some(id as i32), "{code}");
        }
        assert_eq!(whisper_rs::get_lang_id("klingon"), None);
    }

    /// Regression: a fork's `language` with a NUL byte panicked inside whisper-rs and killed
    /// the recogniser worker.
    #[test]
    fn hostile_codes_are_errors_not_panics() {
        for code in [
            "z\0h",
            "zh\0",
            "\0",
            "",
            "ZH",
            "zh-CN",
            "中文",
            "e",
            "zhzhzhzhz",
        ] {
            let err = validate_code(code).unwrap_err();
            assert!(err.contains("unknown language code"), "{code:?}: {err}");
            assert!(!err.contains('\0'), "the NUL is shown escaped: {err}");
        }
        assert!(validate_code("yue").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_code_is_checked_without_panicking(code in "\\PC{0,12}|[a-z\\x00]{0,4}") {
            let _ = validate_code(&code);
        }
    }
}
