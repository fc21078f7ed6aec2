//! Inquiry topics (咨询类型): keyword sets that assign a customer's final utterance to what
//! the call is about. Format in `lexicons/topics/README.md`.

use crate::call::Speaker;
use crate::transforms::matcher::{Matcher, SpeakerScope};
use crate::transforms::phrasebook::{self, PhrasebookError, SourceText};
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    topic: Vec<TopicDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicDoc {
    id: Spanned<String>,
    title: Spanned<String>,
    phrases: Spanned<Vec<Spanned<String>>>,
}

/// One inquiry topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub id: String,
    pub title: String,
    pub file: String,
    pub line: usize,
}

/// The compiled topic set.
pub struct TopicSet {
    topics: Vec<Topic>,
    matcher: Option<Matcher>,
}

impl TopicSet {
    /// No topics: every utterance is about nothing in particular.
    pub fn empty() -> TopicSet {
        TopicSet {
            topics: Vec::new(),
            matcher: None,
        }
    }

    /// Parses several files' contents, given as `(name, text)`.
    pub fn parse(files: &[(String, String)]) -> Result<TopicSet, PhrasebookError> {
        let mut topics: Vec<Topic> = Vec::new();
        let mut first: HashMap<String, (String, usize)> = HashMap::new();
        let mut terms = Vec::new();
        for (name, text) in files {
            let src = SourceText {
                src: text,
                file: name,
            };
            let doc: FileDoc = src.parse()?;
            for t in doc.topic {
                let id = src.id(&t.id, "topic id")?;
                let line = src.line_of(t.id.span().start);
                if let Some((f, l)) = first.get(&id) {
                    return Err(src.error(
                        t.id.span().start,
                        format!("topic `{id}` is defined twice (first at {f}:{l}); merge the two or rename one"),
                    ));
                }
                first.insert(id.clone(), (name.clone(), line));
                let title = src.text(&t.title, "topic title")?;
                if t.phrases.get_ref().is_empty() {
                    return Err(src.error(
                        t.phrases.span().start,
                        format!("topic `{id}` has no phrases; list what customers say about it"),
                    ));
                }
                for p in t.phrases.get_ref() {
                    terms.push(src.phrase(p, &id, SpeakerScope::Customer)?);
                }
                topics.push(Topic {
                    id,
                    title,
                    file: name.clone(),
                    line,
                });
            }
        }
        let matcher = if terms.is_empty() {
            None
        } else {
            Some(phrasebook::compile(terms)?)
        };
        Ok(TopicSet { topics, matcher })
    }

    /// Loads every `*.toml` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<TopicSet, PhrasebookError> {
        let mut files = Vec::new();
        for path in phrasebook::toml_files(dir)? {
            files.push((path.display().to_string(), phrasebook::read(&path)?));
        }
        TopicSet::parse(&files)
    }

    /// Every topic, in file order.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// The topic ids a customer utterance is about, each once, in order of first mention.
    pub fn assign(&self, text: &str) -> Vec<String> {
        self.assign_spans(text).0
    }

    /// [`assign`](Self::assign), with the byte ranges of `text` the topics' phrases cover (what
    /// emerging-phrase counting leaves out, since a topic already accounts for it).
    pub fn assign_spans(&self, text: &str) -> (Vec<String>, Vec<Range<usize>>) {
        let Some(m) = &self.matcher else {
            return (Vec::new(), Vec::new());
        };
        let mut out: Vec<String> = Vec::new();
        let mut spans = Vec::new();
        for hit in m.find(text, Speaker::Customer) {
            let id = &m.term(hit.term_id).category;
            if !out.contains(id) {
                out.push(id.clone());
            }
            spans.push(hit.byte_range);
        }
        (out, spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> Result<TopicSet, PhrasebookError> {
        TopicSet::parse(&[("t.toml".into(), text.into())])
    }

    #[test]
    fn shipped_topics_load_and_assign() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons/topics");
        let t = TopicSet::load_dir(&dir).unwrap();
        let table = [
            ("我的卡被冻结了，怎么办", vec!["card_frozen"]),
            ("手机银行登录不了，一直提示密码错误", vec!["app_login"]),
            ("我的卡丢了", vec!["card_lost"]),
            ("转账失败了，钱也没到账", vec!["transfer_failure"]),
            ("这个年费为什么要扣我", vec!["fee_dispute"]),
            ("有人打电话冒充客服让我转到安全账户", vec!["fraud"]),
            ("I can't log in to the mobile app", vec!["app_login"]),
            ("my transfer failed", vec!["transfer_failure"]),
            ("今天天气不错", vec![]),
            // Traditional characters and full-width punctuation fold before matching.
            ("我的卡被凍結了！", vec!["card_frozen"]),
            // One utterance may be about two things.
            ("卡被冻结了，而且登录不了", vec!["card_frozen", "app_login"]),
        ];
        for (text, want) in table {
            assert_eq!(t.assign(text), want, "{text}");
        }
        assert!(t.topics().len() >= 8);
    }

    #[test]
    fn a_repeated_word_is_one_topic() {
        let t = set("[[topic]]\nid = \"x\"\ntitle = \"X\"\nphrases = [\"冻结\"]\n").unwrap();
        assert_eq!(t.assign("冻结冻结冻结冻结"), vec!["x"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let table = [
            ("[[topic]]\nid = \"Bad Id\"\ntitle = \"x\"\nphrases = [\"a\"]\n", "t.toml:2:", "invalid topic id"),
            ("[[topic]]\nid = \"a\"\ntitle = \"\"\nphrases = [\"a\"]\n", "t.toml:3:", "empty topic title"),
            ("[[topic]]\nid = \"a\"\ntitle = \"x\"\nphrases = []\n", "t.toml:4:", "no phrases"),
            ("[[topic]]\nid = \"a\"\ntitle = \"x\"\nphrases = [\"!!\"]\n", "t.toml:4:", "can never match"),
            ("[[topic]]\nid = \"a\"\ntitle = \"x\"\nphrases = [\"b\"]\nwords = 1\n", "t.toml:5:", "unknown field"),
            ("[[topic]]\nid = \"a\"\ntitle = \"x\"\nphrases = [\"b\"]\n[[topic]]\nid = \"a\"\ntitle = \"y\"\nphrases = [\"c\"]\n", "t.toml:6:", "defined twice (first at t.toml:2)"),
            ("[[topic]]\nid = \"a\"\ntitle = \"x\"\nphrases = [\"卡\", \"卡\"]\n", "t.toml:4:", "duplicate"),
            ("[[topic]]\nid = \"a\"\n", "t.toml:1:", "missing field"),
        ];
        for (text, at, what) in table {
            let e = set(text).err().expect(text).to_string();
            assert!(e.starts_with(at) && e.contains(what), "{text:?}: {e}");
        }
    }
}
