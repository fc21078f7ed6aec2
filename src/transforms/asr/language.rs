//! Language choice restricted to the configured set.

/// Which languages an utterance may be transcribed in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LanguagePolicy {
    allowed: Vec<String>,
    forced: Option<String>,
    /// Taken without detection for this utterance: what the leg's earlier utterances were in
    /// (see [`LanguageMemory`]).
    assumed: Option<String>,
    /// The leg's prompts toward its lexicon terms, when recognition is biased.
    bias: Option<std::sync::Arc<super::Bias>>,
}

impl LanguagePolicy {
    /// `allowed` are Whisper language codes (`zh`, `en`); the first is the fallback.
    pub fn new(allowed: Vec<String>, forced: Option<String>) -> Self {
        let allowed = if allowed.is_empty() {
            vec!["zh".into(), "en".into()]
        } else {
            allowed
        };
        LanguagePolicy {
            allowed,
            forced,
            assumed: None,
            bias: None,
        }
    }

    /// The same policy with a per-call override (from source metadata), if any.
    pub fn with_override(&self, forced: Option<&str>) -> Self {
        LanguagePolicy {
            allowed: self.allowed.clone(),
            forced: forced
                .filter(|s| !s.is_empty() && *s != "auto")
                .map(str::to_string)
                .or_else(|| self.forced.clone()),
            assumed: None,
            bias: self.bias.clone(),
        }
    }

    /// The same policy prompting recognition with `bias`.
    pub fn with_bias(self, bias: Option<super::Bias>) -> Self {
        LanguagePolicy {
            bias: bias.map(std::sync::Arc::new),
            ..self
        }
    }

    /// Checks a policy that came from elsewhere (a recognition job over NATS): known language
    /// codes only, at least one allowed, and prompts of a sane size.
    pub fn validate(&self) -> Result<(), String> {
        if self.allowed.is_empty() {
            return Err("no allowed language".into());
        }
        validate_codes(&self.allowed)?;
        for code in self.forced.iter().chain(&self.assumed) {
            validate_code(code)?;
        }
        if let Some(b) = &self.bias {
            if b.zh.len() + b.en.len() > 8 * 1024 {
                return Err("recognition prompts over 8 KiB".into());
            }
        }
        Ok(())
    }

    /// The leg's prompt for `language`, when recognition is biased.
    pub fn bias_prompt(&self, language: &str) -> Option<&str> {
        self.bias.as_deref().and_then(|b| b.prompt(language))
    }

    /// The same policy taking `code` without detection (unless a language is forced).
    pub fn assuming(&self, code: &str) -> Self {
        LanguagePolicy {
            assumed: Some(code.to_string()),
            ..self.clone()
        }
    }

    /// The language to transcribe in without detecting one: forced, the only one allowed, or
    /// assumed from the leg's earlier utterances.
    pub fn forced(&self) -> Option<&str> {
        self.forced
            .as_deref()
            .or(if self.allowed.len() == 1 {
                Some(self.allowed[0].as_str())
            } else {
                None
            })
            .or(self.assumed.as_deref())
    }

    /// Whether a language is set by configuration or the source (nothing to learn).
    pub fn is_fixed(&self) -> bool {
        self.forced.is_some() || self.allowed.len() == 1
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

/// The share of `chosen` in the probability of the allowed languages: how clear the choice was.
pub fn choice_share(probs: &[f32], allowed: &[String], chosen: &str) -> f32 {
    let p = |code: &str| {
        lang_id(code)
            .and_then(|i| probs.get(i).copied())
            .unwrap_or(0.0)
    };
    let total: f32 = allowed.iter().map(|c| p(c)).sum();
    if total <= 0.0 {
        0.0
    } else {
        p(chosen) / total
    }
}

/// Detections in a row that must agree, each at least [`CONFIDENT`], before a leg's
/// language is taken as known.
pub const SETTLE_AFTER: u32 = 2;
/// The share (see [`choice_share`]) a detection needs to count towards settling.
pub const CONFIDENT: f32 = 0.8;
/// Once settled, every this many finals the language is detected again.
pub const RECHECK_EVERY: u32 = 8;
/// Finals in a row that came out empty under the assumed language before it is doubted.
const DOUBT_AFTER: u32 = 2;

/// What one leg has learned about its language. Detection costs a whole encoder pass (about
/// half of a decode); a caller or an agent rarely switches language mid-call, so once two
/// confident detections agree the leg's finals are transcribed in that language without one,
/// re-checked every [`RECHECK_EVERY`] finals, and given up when a re-check disagrees or is
/// unsure or when finals under it keep coming out empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LanguageMemory {
    settled: Option<String>,
    /// The last confident detection and how many in a row agreed with it.
    last: Option<String>,
    streak: u32,
    /// Finals transcribed under the settled language since the last detection.
    since_check: u32,
    /// Finals in a row that came out empty under the settled language.
    doubt: u32,
}

impl LanguageMemory {
    /// The language the leg is known to speak, if settled.
    pub fn settled(&self) -> Option<&str> {
        self.settled.as_deref()
    }

    /// The policy for the leg's next final: `base` with the settled language assumed, unless
    /// a re-check is due (then it detects).
    pub fn for_final(&mut self, base: &LanguagePolicy) -> LanguagePolicy {
        if base.is_fixed() {
            return base.clone();
        }
        match &self.settled {
            Some(code) if self.since_check < RECHECK_EVERY => {
                self.since_check += 1;
                base.assuming(code)
            }
            _ => {
                self.since_check = 0;
                base.clone()
            }
        }
    }

    /// The policy for a partial: the settled language, else the last confident one (a partial
    /// is provisional and should cost as little as possible), else detection.
    pub fn for_partial(&self, base: &LanguagePolicy) -> LanguagePolicy {
        match (
            base.is_fixed(),
            self.settled.as_ref().or(self.last.as_ref()),
        ) {
            (false, Some(code)) => base.assuming(code),
            _ => base.clone(),
        }
    }

    /// Learns from a final: the language it was transcribed in, how clear the detection was
    /// (`None` when the language was assumed or fixed) and whether it came out empty.
    pub fn observe(&mut self, language: &str, share: Option<f32>, empty: bool) {
        match share {
            Some(p) if p >= CONFIDENT && !empty => {
                if self.last.as_deref() == Some(language) {
                    self.streak += 1;
                } else {
                    self.last = Some(language.to_string());
                    self.streak = 1;
                }
                if self.settled.as_deref().is_some_and(|s| s != language) {
                    // A re-check heard another language: start learning again.
                    self.settled = None;
                }
                if self.streak >= SETTLE_AFTER {
                    self.settled = Some(language.to_string());
                }
                self.doubt = 0;
            }
            Some(_) if empty => {}
            Some(_) => {
                // Unsure: the leg may switch languages; detect every utterance for now.
                self.settled = None;
                self.streak = 0;
            }
            None if self.settled.is_some() => {
                self.doubt = if empty { self.doubt + 1 } else { 0 };
                if self.doubt >= DOUBT_AFTER {
                    self.settled = None;
                    self.streak = 0;
                    self.doubt = 0;
                }
            }
            None => {}
        }
    }
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

    fn zh_en() -> LanguagePolicy {
        LanguagePolicy::new(vec!["zh".into(), "en".into()], None)
    }

    #[test]
    fn memory_settles_after_two_confident_detections_and_rechecks() {
        let base = zh_en();
        let mut m = LanguageMemory::default();
        // Table: (share of the detection, or None when assumed), empty?, then whether the
        // next final is assumed.
        assert_eq!(m.for_final(&base).forced(), None, "detects at first");
        m.observe("zh", Some(0.95), false);
        assert_eq!(
            m.for_final(&base).forced(),
            None,
            "one detection is not enough"
        );
        assert_eq!(
            m.for_partial(&base).forced(),
            Some("zh"),
            "partials take the last"
        );
        m.observe("zh", Some(0.9), false);
        assert_eq!(m.settled(), Some("zh"));
        for _ in 0..RECHECK_EVERY {
            assert_eq!(m.for_final(&base).forced(), Some("zh"));
            m.observe("zh", None, false);
        }
        assert_eq!(m.for_final(&base).forced(), None, "a re-check is due");
        m.observe("zh", Some(0.97), false);
        assert_eq!(m.for_final(&base).forced(), Some("zh"));
    }

    #[test]
    fn memory_gives_up_on_disagreement_doubt_or_an_unsure_detection() {
        let base = zh_en();
        let settled = || {
            let mut m = LanguageMemory::default();
            m.observe("en", Some(0.9), false);
            m.observe("en", Some(0.9), false);
            assert_eq!(m.settled(), Some("en"));
            m
        };
        let mut m = settled();
        m.observe("zh", Some(0.9), false);
        assert_eq!(m.settled(), None, "a re-check heard Mandarin");
        m.observe("zh", Some(0.9), false);
        assert_eq!(m.settled(), Some("zh"), "and learns it");

        let mut m = settled();
        m.observe("en", Some(0.6), false);
        assert_eq!(m.settled(), None, "unsure: maybe code-switching");
        assert_eq!(m.for_final(&base).forced(), None);

        let mut m = settled();
        m.observe("en", None, true);
        assert_eq!(m.settled(), Some("en"), "one empty final proves nothing");
        m.observe("en", None, true);
        assert_eq!(m.settled(), None, "two in a row do");

        let mut m = LanguageMemory::default();
        m.observe("zh", Some(0.99), true);
        m.observe("zh", Some(0.99), true);
        assert_eq!(m.settled(), None, "empty finals teach nothing");
    }

    #[test]
    fn a_fixed_language_is_never_replaced() {
        let mut m = LanguageMemory::default();
        m.observe("zh", Some(0.9), false);
        m.observe("zh", Some(0.9), false);
        let forced = zh_en().with_override(Some("en"));
        assert_eq!(m.for_final(&forced).forced(), Some("en"));
        assert_eq!(m.for_partial(&forced).forced(), Some("en"));
        let single = LanguagePolicy::new(vec!["en".into()], None);
        assert_eq!(m.for_final(&single).forced(), Some("en"));
    }

    #[test]
    fn share_of_the_choice_among_allowed_languages() {
        let mut probs = vec![0.0f32; 100];
        probs[lang_id("zh").unwrap()] = 0.6;
        probs[lang_id("en").unwrap()] = 0.2;
        probs[lang_id("ja").unwrap()] = 0.2;
        let allowed = vec!["zh".to_string(), "en".to_string()];
        assert!((choice_share(&probs, &allowed, "zh") - 0.75).abs() < 1e-6);
        assert_eq!(choice_share(&[0.0; 100], &allowed, "zh"), 0.0);
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
