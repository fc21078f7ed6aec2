//! Character and word n-grams of a customer's utterance, the raw material of emerging topics.
//!
//! Chinese has no spaces, so a new problem (登录不了, 扣款两次) is found as a run of characters
//! many callers share: every 2- to 6-character gram of each Chinese run is counted. English is
//! counted in word 1- to 3-grams. Grams never cross punctuation, a redaction label (`[卡号]` is
//! not speech) or a span an inquiry topic already covers, and grams made only of function
//! words (不了, 一下, `to the`) are left out: they are in every call.

use crate::transforms::matcher::normalize;
use std::collections::HashSet;
use std::ops::Range;

/// Shortest and longest Chinese gram, in characters.
pub const HAN_MIN: usize = 2;
pub const HAN_MAX: usize = 6;
/// Longest English gram, in words.
pub const WORD_MAX: usize = 3;

/// The script of a run: how its tokens join into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    /// Han characters, joined without spaces.
    Han,
    /// Words of a space-separated script (Latin, digits), joined with one space.
    Word,
}

/// A maximal stretch of one script between breaks, as normalised tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub script: Script,
    pub tokens: Vec<String>,
}

impl Run {
    /// The run as text (the same form [`Gram::text`] has).
    pub fn text(&self) -> String {
        join(self.script, &self.tokens)
    }

    /// Whether the gram `text` of `script` occurs in this run on token boundaries.
    pub fn contains(&self, script: Script, text: &str) -> bool {
        if script != self.script {
            return false;
        }
        match script {
            Script::Han => self.text().contains(text),
            Script::Word => format!(" {} ", self.text()).contains(&format!(" {text} ")),
        }
    }
}

/// One distinct gram of an utterance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gram {
    pub script: Script,
    /// Normalised text: Han characters without spaces, words with one space between them.
    pub text: String,
    /// Length in tokens (characters or words).
    pub len: usize,
}

pub(crate) fn join(script: Script, tokens: &[String]) -> String {
    match script {
        Script::Han => tokens.concat(),
        Script::Word => tokens.join(" "),
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FFFF}')
}

/// Characters that carry no topic of their own: particles, pronouns, copulas, fillers.
const HAN_STOP: &str = "的了吗呢吧啊呀哦嗯哈么嘛喂诶哎呃唉我你您他她它们是在有就也都还这那哪个一不没和跟与对把被给让很太又再才能会要想说好请问下些点什怎样吧啦哇咯得地着过来去上里";

/// English function words and fillers (after normalisation, so `can't` may be `can t`).
const WORD_STOP: &[&str] = &[
    "a", "an", "the", "i", "im", "me", "my", "you", "your", "he", "she", "it", "its", "we", "our",
    "they", "them", "is", "are", "was", "were", "be", "been", "am", "do", "does", "did", "dont",
    "don", "t", "s", "to", "of", "in", "on", "at", "for", "with", "and", "or", "but", "not", "no",
    "yes", "so", "this", "that", "what", "can", "cant", "could", "would", "should", "will", "wont",
    "won", "just", "please", "hello", "hi", "hey", "um", "uh", "oh", "okay", "ok", "thank",
    "thanks", "there", "here", "have", "has", "had", "get", "got", "about", "like", "want", "need",
    "how", "why", "when", "yeah", "well", "now", "all", "some", "any", "if", "from", "by", "as",
    "up", "out",
];

fn stop_token(script: Script, t: &str) -> bool {
    match script {
        Script::Han => t.chars().all(|c| HAN_STOP.contains(c)),
        Script::Word => WORD_STOP.contains(&t),
    }
}

/// Whether every token of a gram is a function word: such grams are in every call.
pub fn is_stop(script: Script, tokens: &[String]) -> bool {
    tokens.iter().all(|t| stop_token(script, t))
}

/// Splits `text` into runs, skipping punctuation, redaction labels (`[...]`) and the byte
/// ranges in `covered` (already assigned to a topic).
pub fn runs(text: &str, covered: &[Range<usize>]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut clause_start = None;
    let mut chars = text.char_indices().peekable();
    let flush = |from: Option<usize>, to: usize, out: &mut Vec<Run>| {
        if let Some(from) = from {
            tokenize(&text[from..to], out);
        }
    };
    while let Some((i, c)) = chars.next() {
        let in_cover = covered.iter().any(|r| r.contains(&i));
        let label_end = if c == '[' {
            text[i..].find(']').filter(|&e| e <= 40).map(|e| i + e + 1)
        } else {
            None
        };
        // An apostrophe is inside a word (can't), not between clauses.
        let joins = c.is_alphanumeric() || c.is_whitespace() || c == '\'' || c == '’';
        let breaks = in_cover || label_end.is_some() || !joins;
        if breaks {
            flush(clause_start.take(), i, &mut out);
            if let Some(end) = label_end {
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
        } else if clause_start.is_none() {
            clause_start = Some(i);
        }
    }
    flush(clause_start, text.len(), &mut out);
    out
}

/// Normalises one clause and cuts it into runs of one script.
fn tokenize(clause: &str, out: &mut Vec<Run>) {
    let norm = normalize(clause).text;
    let mut run: Option<Run> = None;
    let mut word = String::new();
    let push = |run: &mut Option<Run>, out: &mut Vec<Run>| {
        if let Some(r) = run.take() {
            if !r.tokens.is_empty() {
                out.push(r);
            }
        }
    };
    // A finished English word joins the current run (opening a word run if there is none).
    let flush_word = |run: &mut Option<Run>, word: &mut String| {
        if !word.is_empty() {
            run.get_or_insert_with(|| Run {
                script: Script::Word,
                tokens: Vec::new(),
            })
            .tokens
            .push(std::mem::take(word));
        }
    };
    for c in norm.chars() {
        if is_han(c) {
            flush_word(&mut run, &mut word);
            if run.as_ref().is_some_and(|r| r.script != Script::Han) {
                push(&mut run, out);
            }
            run.get_or_insert_with(|| Run {
                script: Script::Han,
                tokens: Vec::new(),
            })
            .tokens
            .push(c.to_string());
        } else if c == ' ' {
            flush_word(&mut run, &mut word);
        } else {
            if run.as_ref().is_some_and(|r| r.script != Script::Word) {
                push(&mut run, out);
            }
            word.push(c);
        }
    }
    flush_word(&mut run, &mut word);
    push(&mut run, out);
}

/// Every distinct gram of the runs that is not made of function words only.
pub fn grams(runs: &[Run]) -> Vec<Gram> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in runs {
        let (lo, hi) = match r.script {
            Script::Han => (HAN_MIN, HAN_MAX),
            Script::Word => (1, WORD_MAX),
        };
        for n in lo..=hi.min(r.tokens.len()) {
            for w in r.tokens.windows(n) {
                if is_stop(r.script, w) {
                    continue;
                }
                let g = Gram {
                    script: r.script,
                    text: join(r.script, w),
                    len: n,
                };
                if seen.insert(g.text.clone()) {
                    out.push(g);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(text: &str, covered: &[Range<usize>]) -> Vec<String> {
        runs(text, covered).iter().map(Run::text).collect()
    }

    #[test]
    fn runs_break_at_punctuation_labels_scripts_and_covered_spans() {
        // (text, covered byte range, runs)
        type Row<'a> = (&'a str, Option<Range<usize>>, Vec<&'a str>);
        let table: [Row; 6] = [
            (
                "手机银行登录不了，怎么办",
                None,
                vec!["手机银行登录不了", "怎么办"],
            ),
            ("我的卡号是[卡号]对吧", None, vec!["我的卡号是", "对吧"]),
            ("app登录不了", None, vec!["app", "登录不了"]),
            (
                "I can't log in, please help",
                None,
                vec!["i can t log in", "please help"],
            ),
            // Traditional characters and full-width letters fold first.
            ("ＡＰＰ登錄不了", None, vec!["app", "登录不了"]),
            // 冻结 is a topic keyword: its bytes split the clause.
            (
                "卡被冻结了登录不了",
                Some(6..12),
                vec!["卡被", "了登录不了"],
            ),
        ];
        for (text, covered, want) in table {
            let covered: Vec<Range<usize>> = covered.into_iter().collect();
            assert_eq!(texts(text, &covered), want, "{text}");
        }
    }

    #[test]
    fn grams_are_distinct_bounded_and_skip_function_words() {
        let g = grams(&runs("登录不了登录不了", &[]));
        let t: Vec<&str> = g.iter().map(|g| g.text.as_str()).collect();
        assert!(t.contains(&"登录不了") && t.contains(&"登录"));
        assert!(!t.contains(&"不了"), "all function characters: {t:?}");
        assert_eq!(t.iter().filter(|x| **x == "登录").count(), 1);
        assert!(g.iter().all(|g| (HAN_MIN..=HAN_MAX).contains(&g.len)));
        let e = grams(&runs("I cannot log in to the app", &[]));
        let t: Vec<&str> = e.iter().map(|g| g.text.as_str()).collect();
        assert!(t.contains(&"log in") && t.contains(&"cannot log in") && t.contains(&"app"));
        assert!(!t.contains(&"to the") && !t.contains(&"in") && !t.contains(&"i"));
        assert!(!t.iter().any(|x| x.split(' ').count() > WORD_MAX));
    }

    #[test]
    fn run_containment_respects_word_boundaries() {
        let r = &runs("i cannot login today", &[])[0];
        assert!(r.contains(Script::Word, "cannot login"));
        assert!(!r.contains(Script::Word, "not login"));
        assert!(!r.contains(Script::Han, "cannot"));
        let h = &runs("手机银行登录不了", &[])[0];
        assert!(h.contains(Script::Han, "登录不了"));
    }

    proptest! {
        #[test]
        fn any_text_gives_grams_within_bounds(s in ".{0,40}", a in 0usize..50, b in 0usize..50) {
            let covered = a.min(b)..a.max(b);
            for g in grams(&runs(&s, std::slice::from_ref(&covered))) {
                match g.script {
                    Script::Han => prop_assert!((HAN_MIN..=HAN_MAX).contains(&g.len) && g.text.chars().count() == g.len),
                    Script::Word => prop_assert!((1..=WORD_MAX).contains(&g.len) && g.text.split(' ').count() == g.len),
                }
                prop_assert!(!g.text.is_empty() && !g.text.starts_with(' ') && !g.text.ends_with(' '));
            }
        }

        #[test]
        fn grams_of_normalised_text_are_stable(s in "[a-z登录不了卡冻结 ，]{0,30}") {
            // A gram's text normalises to itself, so counting and matching agree.
            for g in grams(&runs(&s, &[])) {
                prop_assert_eq!(normalize(&g.text).text, g.text.clone());
            }
        }
    }
}
