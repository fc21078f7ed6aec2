//! Hallucination gate: text Whisper is known to invent on silence, noise or from its own prompt.

/// Phrases Whisper produces from non-speech (subtitle credits, video outros), compared after
/// dropping whitespace and punctuation and folding case.
const KNOWN_HALLUCINATIONS: &[&str] = &[
    "字幕由amara.org社群提供",
    "字幕由amara.org社区提供",
    "小编字幕由amara.org社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发",
    "谢谢观看",
    "感谢观看",
    "谢谢大家",
    "明镜与点点栏目",
    "thanksforwatching",
    "thankyouforwatching",
    "thanksforwatchingpleasesubscribe",
    "pleasesubscribe",
    "subtitlesbytheamara.orgcommunity",
    "you",
];

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || (c.is_ascii_punctuation() && *c != '.')))
        .filter(|c| !"，。！？、；：“”‘’（）《》…·,!?".contains(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .trim_matches('.')
        .to_string()
}

/// True when `text` is only a known hallucination (or an echo of the initial prompt).
pub fn is_known_hallucination(text: &str, prompt: &str) -> bool {
    if is_annotation(text) {
        return true;
    }
    let t = squash(text);
    if t.is_empty() {
        return true;
    }
    if !prompt.is_empty() && (t == squash(prompt) || is_prompt_echo(&t, prompt)) {
        return true;
    }
    KNOWN_HALLUCINATIONS.iter().any(|h| t == *h)
        || (t.contains("amara.org") && t.len() < 60)
        || t.contains("明镜与点点")
}

/// True when squashed `t` repeats the prompt's opening sentence, or runs across two or more
/// terms of its list (a biased prompt lists terms between `、`, or `;` in English): Whisper
/// copying its prompt over silence or noise. One term alone is not an echo (a customer saying
/// 我要投诉 says a term), nor is a script phrase said as written (`您好，请问有什么可以帮您`):
/// only term separators join a run.
fn is_prompt_echo(t: &str, prompt: &str) -> bool {
    // (piece, whether a term separator follows it)
    let mut pieces: Vec<(String, bool)> = Vec::new();
    let mut current = String::new();
    for c in prompt.chars() {
        if matches!(c, '、' | ';' | '。' | '.') {
            pieces.push((squash(&current), matches!(c, '、' | ';')));
            current.clear();
        } else {
            current.push(c);
        }
    }
    pieces.push((squash(&current), false));
    pieces.retain(|(p, _)| !p.is_empty());
    if pieces
        .first()
        .is_some_and(|(first, _)| t == first && pieces.len() > 1)
    {
        return true;
    }
    let whole = squash(prompt);
    (0..pieces.len()).any(|i| {
        let mut run = pieces[i].0.clone();
        let mut joined = pieces[i].1;
        pieces[i + 1..].iter().any(|(next, sep_after)| {
            if !joined {
                return false;
            }
            run.push_str(next);
            joined = *sep_after;
            t.contains(run.as_str()) && whole.contains(t)
        })
    })
}

/// True when `text` shares two running characters (or, in Latin script, a word) with a piece
/// of `prompt` (a term between its `、` or `,`, or a script phrase) that is not part of `base`,
/// the prompt every utterance gets: where a biased prompt may have put words in the
/// recogniser's mouth, whole terms or their parts (媒体 of 找媒体曝光).
pub fn names_prompt_term(text: &str, prompt: &str, base: &str) -> bool {
    let t: Vec<char> = squash(text).chars().collect();
    let base = squash(base);
    let pieces: Vec<String> = prompt
        .split(['、', '。', ',', '.', '，'])
        .map(squash)
        .filter(|p| p.chars().count() >= 2 && !base.contains(p.as_str()))
        .collect();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .collect();
    t.windows(2).any(|w| {
        let pair: String = w.iter().collect();
        w.iter().all(|c| !c.is_ascii()) && pieces.iter().any(|p| p.contains(pair.as_str()))
    }) || words
        .iter()
        .any(|w| pieces.iter().any(|p| p.contains(w.to_lowercase().as_str())))
}

/// Whisper describes non-speech in brackets (`[Music]`, `(coughing)`, `[BLANK_AUDIO]`,
/// `*noise*`, `【音乐】`); such text is never speech.
fn is_annotation(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['.', '。']);
    let pairs = [
        ('[', ']'),
        ('(', ')'),
        ('（', '）'),
        ('【', '】'),
        ('*', '*'),
        ('♪', '♪'),
    ];
    !t.is_empty()
        && pairs.iter().any(|(open, close)| {
            t.starts_with(*open) && t.ends_with(*close) && t.chars().count() >= 2
        })
}

/// True when an utterance had too little voiced audio for its text to be trusted.
pub fn too_little_speech(speech_ratio: f32, min_ratio: f32) -> bool {
    speech_ratio < min_ratio
}

/// Why a closed utterance produced no `transcript.final`. Every utterance the segmenter
/// closes ends either as a final or as a drop with one of these reasons, counted in
/// `/v1/stats`, sent as an `utterance.dropped` event and archived as an utterance row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The VAD heard too little speech in it to be worth recognising.
    TooLittleSpeech,
    /// Whisper judged it not speech (no-speech probability high and its words unlikely).
    NoSpeech,
    /// Whisper wrote only text it is known to invent on noise (subtitle credits, the prompt).
    Hallucination,
    /// Whisper returned no text.
    Empty,
    /// The recogniser failed on it twice (or the service was stopping).
    RecognitionFailed,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::TooLittleSpeech,
        DropReason::NoSpeech,
        DropReason::Hallucination,
        DropReason::Empty,
        DropReason::RecognitionFailed,
    ];

    /// The name used in events, the archive and `/v1/stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooLittleSpeech => "too_little_speech",
            DropReason::NoSpeech => "no_speech",
            DropReason::Hallucination => "hallucination",
            DropReason::Empty => "empty",
            DropReason::RecognitionFailed => "recognition_failed",
        }
    }

    /// Reads a name written by [`DropReason::as_str`].
    pub fn parse(s: &str) -> Option<DropReason> {
        DropReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Utterances dropped so far, per reason.
#[derive(Debug, Default)]
pub struct DropCounts([std::sync::atomic::AtomicU64; DropReason::ALL.len()]);

impl DropCounts {
    pub fn add(&self, reason: DropReason) {
        // `ALL` lists the reasons in declaration order, so the discriminant is the index.
        self.0[reason as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `{reason: count}` for every reason, zeros included.
    pub fn snapshot(&self) -> std::collections::BTreeMap<&'static str, u64> {
        DropReason::ALL
            .iter()
            .zip(&self.0)
            .map(|(r, n)| (r.as_str(), n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let prompt = "以下是普通话的句子。";
        let cases: &[(&str, bool)] = &[
            ("字幕由Amara.org社群提供", true),
            ("  字幕由 Amara.org 社群提供 ", true),
            ("Thanks for watching!", true),
            ("Thank you for watching.", true),
            ("请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", true),
            ("以下是普通话的句子。", true),
            ("", true),
            ("。", true),
            ("您好，很高兴为您服务", false),
            ("Thanks for calling, how can I help you?", false),
            ("我要投诉", false),
            ("[distant sound]", true),
            ("(coughing)", true),
            ("[BLANK_AUDIO]", true),
            ("【音乐】", true),
            ("*noise*", true),
            ("♪", false),
            ("(that is) what I said", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_known_hallucination(text, prompt), *want, "{text:?}");
        }
    }

    #[test]
    fn english_script_said_is_kept_and_a_term_list_is_not() {
        let prompt = "guaranteed return; no risk. Thank you for calling, how can I help you today?";
        for (text, want) in [
            ("Thank you for calling. How can I help you today?", false),
            ("Guaranteed return, no risk.", true),
            ("It has no risk.", false),
        ] {
            assert_eq!(is_known_hallucination(text, prompt), want, "{text:?}");
        }
    }

    #[test]
    fn echoes_of_a_biased_prompt_are_dropped_but_a_term_said_is_not() {
        let prompt = "以下是普通话的句子。保本保息、验证码、我要投诉、找媒体曝光。您好，请问有什么可以帮您？";
        for (text, want) in [
            ("以下是普通话的句子。", true),
            ("保本保息、验证码。", true),
            ("验证码，我要投诉。", true),
            ("我要投诉。", false),
            ("保本保息", false),
            // Regression: the agent saying the script phrase was dropped as an echo.
            ("您好，请问有什么可以帮您？", false),
            ("您好。请问有什么可以帮您", false),
            ("我要投诉你们。", false),
            ("验证码是多少", false),
        ] {
            assert_eq!(is_known_hallucination(text, prompt), want, "{text:?}");
        }
        for (text, want) in [
            ("按媒体曝光、保本保息为", true),
            ("我要投诉你们", true),
            ("按媒体曝光", true),
            ("保本", true),
            ("以下是普通话的句子", false),
            ("今天天气不错", false),
            ("以下", false),
            ("请问有什么可以帮您", true),
        ] {
            let names = names_prompt_term(text, prompt, "以下是普通话的句子。");
            assert_eq!(names, want, "{text:?}");
        }
    }
}
