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
    if !prompt.is_empty() && t == squash(prompt) {
        return true;
    }
    KNOWN_HALLUCINATIONS.iter().any(|h| t == *h)
        || (t.contains("amara.org") && t.len() < 60)
        || t.contains("明镜与点点")
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
}
