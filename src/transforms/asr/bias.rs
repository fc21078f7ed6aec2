//! Recognition biased toward the lexicon: a leg's Whisper prompt names the terms that matter
//! on it (the categories that apply to its speaker, narrowed to its queue's when configured)
//! and, on agent legs, the agent's script phrases, so the decoder leans toward writing them as
//! spelled. Off by default: measured with `cargo bench --bench accuracy -- --bias off,on`.
//!
//! Whisper keeps at most half its text context (224 tokens) of prompt and drops the oldest
//! tokens past that, which would drop the Simplified-Chinese opening; the prompt is kept within
//! [`BiasConfig::max_tokens`] by a conservative token estimate instead, most severe terms first.

use crate::call::Speaker;
use crate::transforms::matcher::{Severity, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[asr.bias]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BiasConfig {
    /// Prompt each leg with its lexicon terms (and the agent's script phrases).
    pub enabled: bool,
    /// Categories per queue (`wealth = ["sales_promise", "complaint"]`); a queue not listed,
    /// or a call without one, gets every category that applies to the speaker.
    pub queues: BTreeMap<String, Vec<String>>,
    /// Agent script phrases: `<queue>.txt`, else `default.txt`, one phrase a line (`#` comments).
    /// Empty: `scripts/` in the lexicon directory, when there is one.
    pub scripts_dir: PathBuf,
    /// Prompt budget in Whisper tokens (estimated high), at most 200.
    pub max_tokens: usize,
}

impl Default for BiasConfig {
    fn default() -> Self {
        BiasConfig {
            enabled: false,
            queues: BTreeMap::new(),
            scripts_dir: PathBuf::new(),
            max_tokens: 120,
        }
    }
}

/// Largest prompt budget accepted: below Whisper's 224 with room for its own tokens.
pub const MAX_PROMPT_TOKENS: usize = 200;

/// A leg's prompts, by the language an utterance is transcribed in.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Bias {
    pub zh: String,
    pub en: String,
}

impl Bias {
    /// The prompt for `language`, if the leg has one.
    pub fn prompt(&self, language: &str) -> Option<&str> {
        let p = match language {
            "zh" => &self.zh,
            "en" => &self.en,
            _ => return None,
        };
        (!p.is_empty()).then_some(p.as_str())
    }
}

/// Whisper tokens `text` may take, estimated high (checked against the base model's own
/// tokeniser for every shipped term and phrase by `tests/bias_tokens.rs`): a Han character is
/// one to three byte-level tokens (two assumed: common characters are one, rare ones more, and a
/// prompt mixes them); a run of digits one per two; a word of letters one per three, and one
/// more unless a space comes before it (`sue` alone is two tokens, ` sue` one); a space one
/// unless a word follows it; anything else one.
pub fn estimate_tokens(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut n = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = |pred: fn(&char) -> bool| chars[i..].iter().take_while(|c| pred(c)).count();
        if c.is_ascii_digit() {
            let len = run(char::is_ascii_digit);
            n += len.div_ceil(2);
            i += len;
        } else if c.is_ascii_alphabetic() {
            let len = run(char::is_ascii_alphabetic);
            n += len.div_ceil(3) + usize::from(i == 0 || chars[i - 1] != ' ');
            i += len;
        } else {
            let word_follows = chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric);
            n += match c {
                ' ' if word_follows => 0,
                c if is_han(c) => 2,
                _ => 1,
            };
            i += 1;
        }
    }
    n
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// Agent script phrases from a scripts directory, read once at start-up (legs open on the
/// async runtime, which must not wait on the disk): `<queue>.txt` per queue, `default.txt`
/// for the rest, one phrase a line (`#` comments).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scripts {
    by_queue: BTreeMap<String, Vec<String>>,
    default: Vec<String>,
}

impl Scripts {
    /// Every `*.txt` in `dir`; a missing directory or file means no script.
    pub fn load(dir: &Path) -> Scripts {
        let read = |path: &Path| -> Vec<String> {
            std::fs::read_to_string(path)
                .map(|t| {
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut scripts = Scripts::default();
        for path in std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".txt"))
            else {
                continue;
            };
            if name == "default" {
                scripts.default = read(&path);
            } else {
                scripts.by_queue.insert(name.to_string(), read(&path));
            }
        }
        scripts
    }

    /// The phrases for `queue`: its own file's, else the default's, else none.
    pub fn phrases(&self, queue: Option<&str>) -> &[String] {
        queue
            .and_then(|q| self.by_queue.get(q))
            .unwrap_or(&self.default)
    }
}

/// Builds a leg's prompts: `base_zh` (the configured Mandarin prompt) first, then the terms
/// that apply to `speaker` (and `queue`), most severe and longest first, skipping any inside
/// a term already taken, then `script` phrases, each piece only while the budget holds (terms
/// get two thirds of it when there is a script).
pub fn leg_bias(
    cfg: &BiasConfig,
    base_zh: &str,
    terms: &[Term],
    speaker: Speaker,
    queue: Option<&str>,
    script: &[String],
) -> Option<Bias> {
    if !cfg.enabled {
        return None;
    }
    let budget = cfg.max_tokens.min(MAX_PROMPT_TOKENS);
    let categories = queue.and_then(|q| cfg.queues.get(q));
    let mut chosen: Vec<&Term> = terms
        .iter()
        .filter(|t| t.speaker.applies(speaker))
        .filter(|t| categories.is_none_or(|c| c.contains(&t.category)))
        .collect();
    chosen.sort_by_key(|t| {
        (
            std::cmp::Reverse(severity_rank(t.severity)),
            std::cmp::Reverse(t.text.chars().count()),
            t.id,
        )
    });
    let han = |t: &str| t.chars().any(is_han);
    let zh_terms: Vec<&str> = chosen
        .iter()
        .map(|t| t.text.as_str())
        .filter(|t| han(t))
        .collect();
    let en_terms: Vec<&str> = chosen
        .iter()
        .map(|t| t.text.as_str())
        .filter(|t| !han(t))
        .collect();
    let zh_script: Vec<&str> = script
        .iter()
        .map(String::as_str)
        .filter(|s| han(s))
        .collect();
    let en_script: Vec<&str> = script
        .iter()
        .map(String::as_str)
        .filter(|s| !han(s))
        .collect();
    let zh = assemble(base_zh, &zh_terms, "、", "。", &zh_script, budget);
    // `;` between English terms: a comma would read as part of a script phrase.
    let en = assemble("", &en_terms, "; ", ".", &en_script, budget);
    Some(Bias { zh, en })
}

fn severity_rank(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// `base`, then terms joined by `sep` and closed by `end`, then script phrases, within `budget`.
fn assemble(
    base: &str,
    terms: &[&str],
    sep: &str,
    end: &str,
    script: &[&str],
    budget: usize,
) -> String {
    let mut used = estimate_tokens(base) + estimate_tokens(end);
    // Terms first, but a third of the budget stays for the script when there is one.
    let term_budget = if script.is_empty() {
        budget
    } else {
        budget - budget / 3
    };
    let mut taken: Vec<&str> = Vec::new();
    for t in terms {
        if taken.iter().any(|k| k.contains(t)) {
            continue;
        }
        let cost = estimate_tokens(t) + estimate_tokens(sep);
        if used + cost > term_budget {
            continue;
        }
        used += cost;
        taken.push(t);
    }
    let mut out = base.to_string();
    if !taken.is_empty() {
        if !out.is_empty() && end == "." {
            out.push(' ');
        }
        out.push_str(&taken.join(sep));
        out.push_str(end);
    }
    for s in script {
        let cost = estimate_tokens(s) + 1;
        if used + cost > budget {
            continue;
        }
        used += cost;
        if !out.is_empty() && end == "." {
            out.push(' ');
        }
        out.push_str(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::matcher::Lexicon;

    fn terms() -> Vec<Term> {
        Lexicon::parse(
            r#"
[defaults]
category = "sales_promise"
speaker = "agent"
severity = "medium"
[[term]]
text = "保本保息"
severity = "critical"
[[group]]
terms = ["保本", "零风险", "guaranteed return"]
[[group]]
category = "complaint"
speaker = "customer"
terms = ["我要投诉"]
[[group]]
category = "fraud"
speaker = "any"
severity = "high"
terms = ["验证码"]
"#,
            "t.toml",
        )
        .unwrap()
        .terms
    }

    fn on() -> BiasConfig {
        BiasConfig {
            enabled: true,
            ..BiasConfig::default()
        }
    }

    #[test]
    fn a_leg_hears_its_speakers_terms_most_severe_first() {
        let b = leg_bias(
            &on(),
            "以下是普通话的句子。",
            &terms(),
            Speaker::Agent,
            None,
            &[],
        )
        .unwrap();
        // 保本 is inside 保本保息, already named; the customer's complaint is not the agent's.
        assert_eq!(b.zh, "以下是普通话的句子。保本保息、验证码、零风险。");
        assert_eq!(b.en, "guaranteed return.");
        let c = leg_bias(&on(), "", &terms(), Speaker::Customer, None, &[]).unwrap();
        assert_eq!(c.zh, "验证码、我要投诉。");
        assert_eq!(c.prompt("en"), None);
        assert!(leg_bias(
            &BiasConfig::default(),
            "",
            &terms(),
            Speaker::Agent,
            None,
            &[]
        )
        .is_none());
    }

    #[test]
    fn a_queue_narrows_the_categories_and_scripts_follow_the_terms() {
        let mut cfg = on();
        cfg.queues.insert("cards".into(), vec!["fraud".into()]);
        let script = vec!["请问还有什么可以帮您".to_string()];
        let b = leg_bias(&cfg, "", &terms(), Speaker::Agent, Some("cards"), &script).unwrap();
        assert_eq!(b.zh, "验证码。请问还有什么可以帮您");
        // Another queue is not narrowed.
        let w = leg_bias(&cfg, "", &terms(), Speaker::Agent, Some("wealth"), &[]).unwrap();
        assert!(w.zh.contains("保本保息"), "{}", w.zh);
    }

    #[test]
    fn the_budget_holds_and_drops_the_least_severe() {
        let mut cfg = on();
        cfg.max_tokens = estimate_tokens("以下是普通话的句子。保本保息、。");
        let b = leg_bias(
            &cfg,
            "以下是普通话的句子。",
            &terms(),
            Speaker::Agent,
            None,
            &[],
        )
        .unwrap();
        assert_eq!(b.zh, "以下是普通话的句子。保本保息。");
        assert!(estimate_tokens(&b.zh) <= cfg.max_tokens);
        cfg.max_tokens = 100_000;
        let big = leg_bias(&cfg, "", &terms(), Speaker::Agent, None, &[]).unwrap();
        assert!(estimate_tokens(&big.zh) <= MAX_PROMPT_TOKENS);
    }

    #[test]
    fn token_estimates() {
        assert_eq!(estimate_tokens("保本"), 4);
        assert_eq!(estimate_tokens("guaranteed return"), 4 + 1 + 2);
        assert_eq!(estimate_tokens("a, b."), 2 + 1 + 1 + 1);
        assert_eq!(estimate_tokens("12378"), 3);
        assert_eq!(estimate_tokens("; "), 2);
        assert_eq!(estimate_tokens(""), 0);
    }

    #[test]
    fn script_files_by_queue_then_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default.txt"), "# greeting\n您好\n\n").unwrap();
        std::fs::write(dir.path().join("cards.txt"), "信用卡中心\n").unwrap();
        let scripts = Scripts::load(dir.path());
        assert_eq!(scripts.phrases(Some("cards")), ["信用卡中心"]);
        assert_eq!(scripts.phrases(Some("wealth")), ["您好"]);
        assert_eq!(scripts.phrases(None), ["您好"]);
        // A queue name is never a path.
        assert_eq!(scripts.phrases(Some("../cards")), ["您好"]);
        assert!(Scripts::load(&dir.path().join("none"))
            .phrases(None)
            .is_empty());
    }
}
