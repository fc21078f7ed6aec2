//! Matcher, lexicon and tracker tests. Matcher cases are tables in the style of aho-corasick's own
//! `src/tests.rs`: a name, a haystack, a speaker and the expected (term, matched text) pairs.

use super::*;
use crate::call::Speaker;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn lexicon_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons")
}

fn shipped() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        Matcher::new(Lexicon::load_dir(&lexicon_dir()).expect("shipped lexicons load"))
            .expect("shipped lexicons compile")
    })
}

/// (term text as written in the lexicon, category, matched original text).
type Expected = &'static [(&'static str, &'static str, &'static str)];

struct SearchTest {
    name: &'static str,
    haystack: &'static str,
    speaker: Speaker,
    expected: Expected,
}

const fn t(
    name: &'static str,
    haystack: &'static str,
    speaker: Speaker,
    expected: Expected,
) -> SearchTest {
    SearchTest {
        name,
        haystack,
        speaker,
        expected,
    }
}

use Speaker::{Agent, Customer, Unknown};

const SHIPPED_TESTS: &[SearchTest] = &[
    t(
        "hotline-spoken-as-numerals",
        "我要打一二三七八",
        Customer,
        &[("12378", "complaint", "一二三七八")],
    ),
    t(
        "hotline-with-yao-for-one",
        "我打幺二三六三问问",
        Customer,
        &[("12363", "complaint", "幺二三六三")],
    ),
    // Regression: folding 一一零 to 110 hid the term 零风险 that the run ran into.
    t(
        "term-starting-with-a-numeral-after-a-number",
        "收益一一零风险",
        Agent,
        &[("零风险", "sales_promise", "零风险")],
    ),
    t(
        "short-numeral-words-stay-words",
        "等一下，三八节",
        Customer,
        &[],
    ),
    t(
        "leftmost-longest",
        "我们这款产品保本保息的",
        Agent,
        &[("保本保息", "sales_promise", "保本保息")],
    ),
    t(
        "two-separate-terms",
        "保本，而且保息",
        Agent,
        &[
            ("保本", "sales_promise", "保本"),
            ("保息", "sales_promise", "保息"),
        ],
    ),
    t(
        "traditional-promise",
        "這個產品保證收益",
        Agent,
        &[("保证收益", "sales_promise", "保證收益")],
    ),
    t(
        "traditional-complaint",
        "我要投訴你們",
        Customer,
        &[("我要投诉", "complaint", "我要投訴")],
    ),
    t(
        "complaint-alone",
        "那我就投诉",
        Customer,
        &[("投诉", "complaint", "投诉")],
    ),
    t(
        "full-width-digits",
        "請撥１２３７８熱線",
        Customer,
        &[("12378", "complaint", "１２３７８")],
    ),
    t("digits-inside-number", "卡号123789", Customer, &[]),
    t(
        "digits-next-to-cjk",
        "打12378吧",
        Customer,
        &[("12378", "complaint", "12378")],
    ),
    t(
        "mixed-punctuation",
        "我们保，本 保息",
        Agent,
        &[("保本保息", "sales_promise", "保，本 保息")],
    ),
    t(
        "full-width-space",
        "保本\u{3000}保息",
        Agent,
        &[("保本保息", "sales_promise", "保本\u{3000}保息")],
    ),
    t(
        "english-case",
        "This has a GUARANTEED Return.",
        Agent,
        &[("guaranteed return", "sales_promise", "GUARANTEED Return")],
    ),
    t(
        "english-full-width",
        "ＧＵＡＲＡＮＴＥＥＤ ｒｅｔｕｒｎ",
        Agent,
        &[(
            "guaranteed return",
            "sales_promise",
            "ＧＵＡＲＡＮＴＥＥＤ ｒｅｔｕｒｎ",
        )],
    ),
    t(
        "english-longest",
        "guaranteed returns for you",
        Agent,
        &[("guaranteed returns", "sales_promise", "guaranteed returns")],
    ),
    t(
        "english-extra-spaces",
        "guaranteed \t  return",
        Agent,
        &[(
            "guaranteed return",
            "sales_promise",
            "guaranteed \t  return",
        )],
    ),
    t("word-boundary-prefix", "nonrisk-free", Agent, &[]),
    t("word-boundary-suffix", "guaranteed returning", Agent, &[]),
    t(
        "hyphen-equals-space",
        "it is risk free",
        Agent,
        &[("risk-free", "sales_promise", "risk free")],
    ),
    t(
        "hyphenated",
        "totally risk-free!",
        Agent,
        &[("risk-free", "sales_promise", "risk-free")],
    ),
    t(
        "complaint-english",
        "I have a complaint.",
        Customer,
        &[("complaint", "complaint", "complaint")],
    ),
    t(
        "complaints-own-term",
        "so many complaints",
        Customer,
        &[("complaints", "complaint", "complaints")],
    ),
    t("complaint-in-longer-word", "noncomplaintish", Customer, &[]),
    t(
        "file-a-complaint",
        "I want to FILE a complaint",
        Customer,
        &[("file a complaint", "complaint", "FILE a complaint")],
    ),
    t(
        "english-inside-chinese",
        "我要complaint你们",
        Customer,
        &[("complaint", "complaint", "complaint")],
    ),
    t(
        "rudeness",
        "这个不归我管",
        Agent,
        &[("不归我管", "rudeness", "不归我管")],
    ),
    t("agent-term-on-customer", "保本保息吗", Customer, &[]),
    t("customer-term-on-agent", "您要投诉吗", Agent, &[]),
    t(
        "fraud-any-agent",
        "请告诉我验证码",
        Agent,
        &[("验证码", "fraud", "验证码")],
    ),
    t(
        "fraud-any-customer",
        "他要我的驗證碼",
        Customer,
        &[("验证码", "fraud", "驗證碼")],
    ),
    t(
        "unknown-speaker-gets-all",
        "保本保息，我要投诉",
        Unknown,
        &[
            ("保本保息", "sales_promise", "保本保息"),
            ("我要投诉", "complaint", "我要投诉"),
        ],
    ),
    t(
        "regulator-traditional",
        "我去銀保監會",
        Customer,
        &[("银保监会", "complaint", "銀保監會")],
    ),
    t("empty", "", Agent, &[]),
    t("only-punctuation", "，。！？ ", Customer, &[]),
];

fn run_table(matcher: &Matcher, tests: &[SearchTest]) {
    for test in tests {
        let got: Vec<(String, String, String)> = matcher
            .find(test.haystack, test.speaker)
            .into_iter()
            .map(|m| {
                assert_eq!(
                    &test.haystack[m.byte_range.clone()],
                    m.matched,
                    "{}",
                    test.name
                );
                let chars: Vec<char> = test.haystack.chars().collect();
                let by_chars: String = chars[m.char_start..m.char_end].iter().collect();
                assert_eq!(by_chars, m.matched, "{}: char range", test.name);
                let term = matcher.term(m.term_id);
                (term.text.clone(), term.category.clone(), m.matched)
            })
            .collect();
        let want: Vec<(String, String, String)> = test
            .expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "test `{}` on {:?}", test.name, test.haystack);
    }
}

#[test]
fn numeral_runs_fold_to_digits_and_map_back() {
    let cases: &[(&str, &str)] = &[
        ("一二三七八", "12378"),
        ("卡号六二二二零幺", "卡号622201"),
        ("打一下", "打一下"),
        ("一二三4", "1234"),
        ("壹贰叁", "壹贰叁"),
    ];
    for (input, want) in cases {
        let n = normalize(input);
        assert_eq!(n.text, *want, "{input}");
    }
    let text = "请拨打一二三六三。";
    let n = normalize(text);
    let at = n.text.find("12363").unwrap();
    let r = n.original_range(at, at + 5);
    assert_eq!(&text[r], "一二三六三");
}

#[test]
fn shipped_lexicon_table() {
    run_table(shipped(), SHIPPED_TESTS);
}

const SMALL_LEXICON: &str = r#"
[defaults]
severity = "high"

[[group]]
category = "promise"
speaker = "agent"
terms = ["保本保息", "risk", "risk free", "abab"]

[[group]]
category = "customer_only"
speaker = "customer"
terms = ["保本"]

[[group]]
category = "other"
terms = ["risk"]
"#;

const SMALL_TESTS: &[SearchTest] = &[
    // The longest phrase fails its word boundary; the shorter one at the same start still counts.
    t(
        "shorter-on-boundary",
        "risk freely",
        Agent,
        &[("risk", "promise", "risk"), ("risk", "other", "risk")],
    ),
    t(
        "same-phrase-two-categories",
        "no risk",
        Agent,
        &[("risk", "promise", "risk"), ("risk", "other", "risk")],
    ),
    t(
        "scope-not-shadowed",
        "保本保息",
        Customer,
        &[("保本", "customer_only", "保本")],
    ),
    t(
        "scope-agent-longest",
        "保本保息",
        Agent,
        &[("保本保息", "promise", "保本保息")],
    ),
    t(
        "periodic-term",
        "ababab abab",
        Agent,
        &[("abab", "promise", "abab")],
    ),
];

#[test]
fn small_lexicon_table() {
    let matcher = Matcher::new(Lexicon::parse(SMALL_LEXICON, "small.toml").unwrap()).unwrap();
    run_table(&matcher, SMALL_TESTS);
}

#[test]
fn occurrence_counts_per_term() {
    let m = shipped().find("我要投诉。投诉！还有投訴", Customer);
    let got: Vec<(&str, usize, usize)> = m
        .iter()
        .map(|m| {
            (
                shipped().term(m.term_id).text.as_str(),
                m.occurrence,
                m.char_start,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("我要投诉", 0, 0), ("投诉", 0, 5), ("投诉", 1, 10)]
    );
}

#[test]
fn tracker_raises_partial_hit_once() {
    let matcher = shipped();
    let mut tracker = HitTracker::new();
    let mut raised = Vec::new();
    for text in [
        "我要",
        "我要投",
        "嗯我要投诉",
        "嗯，我要投诉你们",
        "嗯，我要投訴你們。",
        "嗯，我要投訴你們。不行就打12378",
    ] {
        for m in matcher.find(text, Customer) {
            if tracker.admit(&m) {
                raised.push((text, matcher.term(m.term_id).text.clone()));
            }
        }
    }
    assert_eq!(
        raised,
        vec![
            ("嗯我要投诉", "我要投诉".to_string()),
            ("嗯，我要投訴你們。不行就打12378", "12378".to_string()),
        ]
    );
    assert_eq!(tracker.len(), 2);
    tracker.clear();
    assert!(tracker.is_empty());
}

#[test]
fn tracker_raises_later_occurrence() {
    let matcher = shipped();
    let mut tracker = HitTracker::new();
    let partial = matcher.find("保本", Agent);
    assert!(partial.iter().all(|m| tracker.admit(m)));
    let fin = matcher.find("保本，真的保本", Agent);
    let admitted: Vec<usize> = fin
        .iter()
        .filter(|m| tracker.admit(m))
        .map(|m| m.char_start)
        .collect();
    assert_eq!(admitted, vec![5]);
}

#[test]
fn shipped_lexicon_has_fixture_terms() {
    let lexicon = Lexicon::load_dir(&lexicon_dir()).unwrap();
    assert!(lexicon.len() >= 100, "only {} terms", lexicon.len());
    for (text, category, speaker) in [
        ("保本保息", "sales_promise", SpeakerScope::Agent),
        ("保本", "sales_promise", SpeakerScope::Agent),
        ("不归我管", "rudeness", SpeakerScope::Agent),
        ("投诉", "complaint", SpeakerScope::Customer),
        ("12378", "complaint", SpeakerScope::Customer),
        ("guaranteed return", "sales_promise", SpeakerScope::Agent),
        ("complaint", "complaint", SpeakerScope::Customer),
    ] {
        let term = lexicon
            .terms
            .iter()
            .find(|t| t.text == text && t.category == category)
            .unwrap_or_else(|| panic!("{text} missing from {category}"));
        assert_eq!(term.speaker, speaker, "{text}");
    }
    assert!(lexicon
        .terms
        .iter()
        .any(|t| t.text == "验证码" && t.category == "fraud"));
    for (i, t) in lexicon.terms.iter().enumerate() {
        assert_eq!(t.id, i);
        assert!(t.file.ends_with(".toml") && t.line > 0, "{t:?}");
    }
}

/// Every shipped term, spoken alone by a speaker it applies to, is found over the whole text.
#[test]
fn every_shipped_term_finds_itself() {
    let matcher = shipped();
    for term in matcher.terms() {
        for speaker in [Agent, Customer, Unknown] {
            let found = matcher.find(&term.text, speaker);
            let hit = found
                .iter()
                .any(|m| m.term_id == term.id && m.byte_range == (0..term.text.len()));
            assert_eq!(hit, term.speaker.applies(speaker), "{term:?} on {speaker}");
        }
    }
}

#[test]
fn lexicon_errors_name_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "[defaults]\ncategory = \"x\"\nseverity = \"hgh\"\n",
            "lexicons/x.toml:3: unknown severity `hgh` (expected low|medium|high|critical)",
        ),
        (
            "[[term]]\ntext = \"保本\"\ncategory = \"x\"\nseverity = \"high\"\nspeaker = \"boss\"\n",
            "lexicons/x.toml:5: unknown speaker `boss` (expected agent|customer|any)",
        ),
        (
            "[defaults]\ncategory = \"x\"\nseverity = \"low\"\n[[group]]\nterms = [\"a\",\n  \"\"]\n",
            "lexicons/x.toml:6: empty term (remove it or write the phrase)",
        ),
        (
            "[defaults]\ncategory = \"x\"\nseverity = \"low\"\n[[group]]\nterms = [\"！？\"]\n",
            "lexicons/x.toml:5: term `！？` has no letters, digits or CJK characters, so it can never match",
        ),
        (
            "[defaults]\ncategory = \"x\"\nseverity = \"low\"\n[[group]]\nterms = [\"投诉\"]\n[[term]]\ntext = \"投訴\"\n",
            "lexicons/x.toml:7: duplicate term `投訴` in category `x` (first at line 5); terms are compared after normalisation (width, case, punctuation, Traditional/Simplified)",
        ),
        (
            "[[group]]\nseverity = \"low\"\nterms = [\"abc\"]\n",
            "lexicons/x.toml:3: term `abc` has no category; set `category` on the term, its [[group]] or in [defaults]",
        ),
        (
            "[[group]]\ncategory = \"x\"\nterms = [\"abc\"]\n",
            "lexicons/x.toml:3: term `abc` has no severity; set `severity` on the term, its [[group]] or in [defaults]",
        ),
        (
            "[defaults]\ncategory = \"Sales Promise\"\n",
            "lexicons/x.toml:2: invalid category `Sales Promise` (use lower-case letters, digits and `_`, e.g. `sales_promise`)",
        ),
        (
            "[defaults]\nlang = \" \"\n",
            "lexicons/x.toml:2: empty language tag (use e.g. `zh` or `en`, or leave `lang` out)",
        ),
        (
            "[defaults]\ncategory = \"x\"\nseverity = \"low\"\nmatch = \"fuzzy\"\n",
            "lexicons/x.toml:4: unknown match mode `fuzzy` (expected exact|homophone|near|loose)",
        ),
        (
            "[[group]]\ncategory = \"x\"\nseverity = \"low\"\nhomophones = true\nmatch = \"near\"\nterms = [\"保本\"]\n",
            "lexicons/x.toml:5: both `match` and `homophones` are set; keep `match` (`homophones = true` is the older spelling of `match = \"homophone\"`)",
        ),
    ];
    for (src, want) in cases {
        let err = Lexicon::parse(src, "lexicons/x.toml").unwrap_err();
        assert_eq!(err.to_string(), *want, "for {src:?}");
    }
}

#[test]
fn lexicon_syntax_errors_carry_line() {
    let cases: &[(&str, &str)] = &[
        (
            "[defaults]\ncategory = \"x\"\n\n[[term]]\ntext = \"a\"\nseverty = \"low\"\n",
            "lexicons/x.toml:6: unknown field `severty`",
        ),
        (
            "[defaults]\ncolour = 1\n",
            "lexicons/x.toml:2: unknown field `colour`",
        ),
        (
            "[[group]]\ncategory = \"x\"\nterms = [\"a\"\n",
            "lexicons/x.toml:3: invalid array; expected `]`",
        ),
        ("[bogus]\n", "lexicons/x.toml:1: unknown field `bogus`"),
        (
            "[[term]]\ncategory = \"x\"\n",
            "lexicons/x.toml:1: missing field `text`",
        ),
    ];
    for (src, want) in cases {
        let err = Lexicon::parse(src, "lexicons/x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "got {err:?}, want prefix {want:?}");
    }
}

#[test]
fn same_term_in_two_categories_is_allowed() {
    let src = "[defaults]\nseverity = \"low\"\n[[term]]\ntext = \"投诉\"\ncategory = \"a\"\n[[term]]\ntext = \"投诉\"\ncategory = \"b\"\n";
    let lexicon = Lexicon::parse(src, "x.toml").unwrap();
    assert_eq!(lexicon.len(), 2);
    assert_eq!((lexicon.terms[0].line, lexicon.terms[1].line), (4, 7));
}

#[test]
fn load_dir_checks_duplicates_across_files_and_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[defaults]\ncategory = \"complaint\"\nseverity = \"high\"\n";
    std::fs::write(
        dir.path().join("b.toml"),
        format!("{head}[[group]]\nterms = [\"律师\"]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        format!("{head}[[group]]\nterms = [\"投诉\"]\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a lexicon").unwrap();
    let lexicon = Lexicon::load_dir(dir.path()).unwrap();
    let texts: Vec<&str> = lexicon.terms.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, vec!["投诉", "律师"]);

    std::fs::write(
        dir.path().join("c.toml"),
        format!("{head}\n[[group]]\nterms = [\"投訴\"]\n"),
    )
    .unwrap();
    let err = Lexicon::load_dir(dir.path()).unwrap_err().to_string();
    let a = dir.path().join("a.toml").display().to_string();
    let c = dir.path().join("c.toml").display().to_string();
    assert!(
        err.starts_with(&format!(
            "{c}:6: duplicate term `投訴` in category `complaint` (first at {a}:5)"
        )),
        "{err}"
    );
}

#[test]
fn load_dir_without_lexicons_fails() {
    let dir = tempfile::tempdir().unwrap();
    let err = Lexicon::load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, LexiconError::NoFiles { .. }), "{err}");
    let err = Lexicon::load_dir(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, LexiconError::Io { .. }), "{err}");
}

#[test]
fn severity_and_scope_spellings() {
    for s in Severity::ALL {
        assert_eq!(Severity::parse(s.as_str()), Some(s));
    }
    assert!(Severity::Low < Severity::Critical);
    for s in [
        SpeakerScope::Agent,
        SpeakerScope::Customer,
        SpeakerScope::Any,
    ] {
        assert_eq!(SpeakerScope::parse(s.as_str()), Some(s));
    }
    let table = [
        (SpeakerScope::Agent, [true, false, true]),
        (SpeakerScope::Customer, [false, true, true]),
        (SpeakerScope::Any, [true, true, true]),
    ];
    for (scope, want) in table {
        let got = [Agent, Customer, Unknown].map(|s| scope.applies(s));
        assert_eq!(got, want, "{scope}");
    }
}

/// Text mixing the things the normaliser folds: Traditional and Simplified CJK, full-width forms,
/// case, punctuation, spaces, and a few chars whose lower case expands.
fn messy_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("保證收益".to_string()),
        Just("投訴".to_string()),
        Just("銀保監會".to_string()),
        Just("ＡＢＣ１２３".to_string()),
        Just("Guaranteed RETURN".to_string()),
        Just("İstanbul".to_string()),
        Just("，。！？、　 \t-".to_string()),
        "[\u{4e00}-\u{9fa5}]{1,4}",
        "[a-zA-Z0-9 ]{1,6}",
        "[\u{ff01}-\u{ff5e}\u{3000}]{1,3}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), messy_text()]
}

proptest! {
    #[test]
    fn normalised_ranges_map_inside_original(text in any_text()) {
        let n = normalize(&text);
        let bounds: Vec<usize> = n
            .text
            .char_indices()
            .map(|(i, _)| i)
            .chain([n.text.len()])
            .collect();
        for (a, &s) in bounds.iter().enumerate() {
            for &e in &bounds[a..] {
                let r = n.original_range(s, e);
                prop_assert!(r.start <= r.end && r.end <= text.len(), "{r:?} for {s}..{e}");
                prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                if e > s {
                    prop_assert!(r.end > r.start, "non-empty {s}..{e} mapped to empty {r:?}");
                }
            }
        }
        // Ranges off char boundaries or past the end are clamped, never out of the text.
        for (s, e) in [(1, 2), (0, usize::MAX), (usize::MAX, usize::MAX), (3, 1)] {
            let r = n.original_range(s, e);
            prop_assert!(r.start <= r.end && r.end <= text.len());
            prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        }
    }

    #[test]
    fn normalize_is_idempotent(text in any_text()) {
        let once = normalize(&text).text;
        let twice = normalize(&once).text;
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn embedded_term_found_at_its_offsets(
        index in any::<prop::sample::Index>(),
        traditional in any::<bool>(),
        prefix in "[的一是在了有和人这中大为上个国我以要他时来用们生到，。 ]{0,12}",
        suffix in "[的一是在了有和人这中大为上个国我以要他时来用们生到，。 ]{0,12}",
    ) {
        let terms: Vec<&Term> = shipped().terms().iter().filter(|t| !t.text.is_ascii()).collect();
        // English terms need spaces around them; the table tests cover them.
        let term = terms[index.index(terms.len())];
        // A prefix or suffix sharing a char with the term could hold an earlier or overlapping
        // occurrence; keep the embedding unambiguous.
        let unrelated = |s: &str| s.chars().filter(|c| !term.text.contains(*c)).collect::<String>();
        let (prefix, suffix) = (unrelated(&prefix), unrelated(&suffix));
        let written = if traditional {
            let t = zhconv::zhconv(&term.text, zhconv::Variant::ZhHant);
            if normalize(&t).text == normalize(&term.text).text { t } else { term.text.clone() }
        } else {
            term.text.clone()
        };
        let text = format!("{prefix}{written}{suffix}");
        let single = Matcher::new(Lexicon::from_terms(vec![term.clone()])).unwrap();
        let found = single.find(&text, Speaker::Unknown);
        let want = prefix.len()..prefix.len() + written.len();
        prop_assert_eq!(found.len(), 1, "{:?} in {:?}", written, text);
        prop_assert_eq!(&found[0].byte_range, &want);
        prop_assert_eq!(found[0].char_start, prefix.chars().count());
        prop_assert_eq!(found[0].char_end, prefix.chars().count() + written.chars().count());
        prop_assert_eq!(&found[0].matched, &written);
    }
}

#[test]
fn match_modes_layer_and_category_modes_fill_the_rest() {
    let src = "[defaults]\ncategory = \"fraud\"\nseverity = \"high\"\nhomophones = true\n\
        [[group]]\nmatch = \"exact\"\nterms = [\"安全账户\"]\n\
        [[group]]\nterms = [\"验证码\", \"公检法\"]\n\
        [[term]]\ntext = \"屏幕共享\"\nmatch = \"near\"\n";
    let lex = Lexicon::parse(src, "x.toml").unwrap();
    let modes = |lex: &Lexicon| -> Vec<(String, MatchMode)> {
        lex.terms.iter().map(|t| (t.text.clone(), t.mode)).collect()
    };
    let own = [
        ("安全账户".to_string(), MatchMode::Exact),
        ("验证码".to_string(), MatchMode::Homophone),
        ("公检法".to_string(), MatchMode::Homophone),
        ("屏幕共享".to_string(), MatchMode::Near),
    ];
    assert_eq!(modes(&lex), own);
    // A category mode from the configuration replaces the file default, never a term's or
    // group's own choice.
    let config = std::collections::BTreeMap::from([("fraud".to_string(), MatchMode::Near)]);
    let lex = lex.with_category_modes(&config);
    assert_eq!(
        modes(&lex),
        [
            ("安全账户".to_string(), MatchMode::Exact),
            ("验证码".to_string(), MatchMode::Near),
            ("公检法".to_string(), MatchMode::Near),
            ("屏幕共享".to_string(), MatchMode::Near),
        ]
    );
    let m = Matcher::new(lex).unwrap();
    let hit = |text: &str| {
        m.find(text, Speaker::Customer)
            .into_iter()
            .map(|h| (m.term(h.term_id).text.clone(), h.how))
            .collect::<Vec<_>>()
    };
    assert_eq!(hit("验证码"), [("验证码".to_string(), MatchMode::Exact)]);
    assert_eq!(
        hit("验正码"),
        [("验证码".to_string(), MatchMode::Homophone)]
    );
    // An exact-pinned term never matches by sound.
    assert!(hit("安全帐护").is_empty());
    let effective: Vec<MatchMode> = m.terms().iter().map(effective_mode).collect();
    assert_eq!(
        effective,
        [
            MatchMode::Exact,
            MatchMode::Near,
            MatchMode::Near,
            MatchMode::Near
        ]
    );
    let short = Lexicon::parse(
        "[defaults]\ncategory = \"x\"\nseverity = \"low\"\nmatch = \"near\"\n[[group]]\nterms = [\"保本\", \"code\", \"冻\"]\n",
        "x.toml",
    )
    .unwrap();
    let effective: Vec<MatchMode> = short.terms.iter().map(effective_mode).collect();
    assert_eq!(
        effective,
        [MatchMode::Homophone, MatchMode::Exact, MatchMode::Exact]
    );
}

#[test]
fn loose_mode_table() {
    let src = "[defaults]\ncategory = \"fraud\"\nseverity = \"high\"\nmatch = \"loose\"\n\
        [[group]]\nterms = [\"共享屏幕\", \"动态密码\", \"验证码\", \"保本\", \"code it\"]\n\
        [[group]]\ncategory = \"rudeness\"\nspeaker = \"agent\"\nterms = [\"跟我说没用\"]\n\
        [[group]]\ncategory = \"sales_promise\"\nmatch = \"near\"\nterms = [\"稳赚不赔\"]\n";
    let m = Matcher::new(Lexicon::parse(src, "x.toml").unwrap()).unwrap();
    let effective: Vec<MatchMode> = m.terms().iter().map(effective_mode).collect();
    use MatchMode::{Exact, Homophone, Loose, Near};
    assert_eq!(
        effective,
        [Loose, Loose, Near, Homophone, Exact, Loose, Near]
    );
    let hit = |text: &str, speaker: Speaker| {
        m.find(text, speaker)
            .into_iter()
            .map(|h| (m.term(h.term_id).text.clone(), h.how, h.matched))
            .collect::<Vec<_>>()
    };
    let one = |term: &str, how: MatchMode, matched: &str| {
        vec![(term.to_string(), how, matched.to_string())]
    };
    for (text, speaker, want) in [
        (
            "请你故想屏幕给我",
            Customer,
            one("共享屏幕", Loose, "故想屏幕"),
        ),
        (
            "你的动摊密码是多少",
            Unknown,
            one("动态密码", Loose, "动摊密码"),
        ),
        // As written, as a homophone and as a near swap, the stronger evidence is reported.
        ("共享屏幕", Customer, one("共享屏幕", Exact, "共享屏幕")),
        ("共想屏幕", Customer, one("共享屏幕", Homophone, "共想屏幕")),
        ("共享拼幕", Customer, one("共享屏幕", Near, "共享拼幕")),
        // Two syllables off, or off by a char with no syllable: nothing.
        ("故想拼木", Customer, vec![]),
        ("共享屏a", Customer, vec![]),
        // Speaker scope holds for loose terms too.
        ("等我说没用", Agent, one("跟我说没用", Loose, "等我说没用")),
        ("等我说没用", Customer, vec![]),
        // Three-syllable terms in loose mode only take the near table's swaps.
        ("验重码", Customer, one("验证码", Near, "验重码")),
        ("验大码", Customer, vec![]),
        // A near-mode term of four syllables does not match loosely.
        ("稳赚不台", Customer, vec![]),
        ("稳装不赔", Customer, one("稳赚不赔", Near, "稳装不赔")),
    ] {
        assert_eq!(hit(text, speaker), want, "{text}");
    }
}

#[test]
fn loose_places_yield_to_exact_hits() {
    let src = "[defaults]\ncategory = \"x\"\nseverity = \"low\"\nmatch = \"loose\"\n\
        [[group]]\nterms = [\"保本保息\"]\n\
        [[group]]\nmatch = \"exact\"\nterms = [\"保本\"]\n";
    let m = Matcher::new(Lexicon::parse(src, "x.toml").unwrap()).unwrap();
    let hits: Vec<(String, MatchMode)> = m
        .find("这个保本保证吗", Unknown)
        .into_iter()
        .map(|h| (m.term(h.term_id).text.clone(), h.how))
        .collect();
    assert_eq!(hits, [("保本".to_string(), MatchMode::Exact)]);
}

fn all_loose() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| {
        let mut lex = Lexicon::load_dir(&lexicon_dir()).unwrap();
        for t in &mut lex.terms {
            t.mode = MatchMode::Loose;
        }
        Matcher::new(lex).unwrap()
    })
}

proptest! {
    #[test]
    fn loose_hits_are_in_bounds_and_one_syllable_off(text in any_text()) {
        let m = all_loose();
        for h in m.find(&text, Unknown) {
            prop_assert!(h.byte_range.end <= text.len());
            prop_assert_eq!(&text[h.byte_range.clone()], h.matched.as_str());
            if h.how == MatchMode::Loose {
                let term = normalize(&m.term(h.term_id).text).text;
                let heard = normalize(&h.matched).text;
                prop_assert_eq!(term.chars().count(), heard.chars().count());
                prop_assert!(term.chars().count() >= crate::transforms::matcher::LOOSE_MIN_SYLLABLES);
                prop_assert!(!h.matched.chars().any(|c| !c.is_alphanumeric()), "{:?}", h.matched);
            }
        }
    }

    #[test]
    fn one_syllable_changed_in_a_long_term_is_found_loosely(
        index in any::<prop::sample::Index>(),
        slot in any::<prop::sample::Index>(),
        other in "[我你他的是在了有和人这中大为上个国以要时来用们生到]",
    ) {
        let m = all_loose();
        let terms: Vec<&Term> = m
            .terms()
            .iter()
            .filter(|t| t.text.chars().count() >= 5 && t.text.chars().all(|c| ('\u{4e00}'..='\u{9fa5}').contains(&c)))
            .collect();
        let term = terms[index.index(terms.len())];
        let mut chars: Vec<char> = term.text.chars().collect();
        let i = slot.index(chars.len());
        let replacement = other.chars().next().unwrap();
        prop_assume!(near::syllable(replacement) != near::syllable(chars[i]));
        chars[i] = replacement;
        let heard: String = chars.into_iter().collect();
        let found = m.find(&heard, Unknown);
        // Found as this term, or as another term the change happens to spell or sound like.
        prop_assert!(!found.is_empty(), "{} heard as {}", term.text, heard);
        prop_assert!(
            found.iter().any(|h| m.term(h.term_id).text == term.text) || found.iter().all(|h| h.how != MatchMode::Loose),
            "{} heard as {}: {:?}", term.text, heard, found
        );
    }
}

fn hits_of(m: &Matcher, text: &str, speaker: Speaker) -> Vec<(String, MatchMode, String)> {
    m.find(text, speaker)
        .into_iter()
        .map(|h| (m.term(h.term_id).text.clone(), h.how, h.matched))
        .collect()
}

/// Regressions from reading the loose matcher: a longer sound-alike covers a shorter exact term
/// inside it, a rejected long sound-alike leaves room for a shorter one, and places are chosen
/// only among those that stand.
#[test]
fn loose_review_regressions() {
    use MatchMode::{Homophone, Loose};
    let one = |term: &str, how: MatchMode, matched: &str| {
        vec![(term.to_string(), how, matched.to_string())]
    };
    // 稳赚不背: the loose 稳赚不赔 covers the exact 稳赚 inside it.
    assert_eq!(
        hits_of(shipped(), "这个产品稳赚不背", Agent),
        one("稳赚不赔", Loose, "稳赚不背")
    );
    // 跟存款一样安全: the loose 和存款一样安全 is odd at 跟, where 跟存款一样 is spelled out.
    assert_eq!(
        hits_of(shipped(), "年化保底百分之四，跟存款一样安全。", Agent),
        [
            (
                "年化保底".to_string(),
                MatchMode::Exact,
                "年化保底".to_string()
            ),
            (
                "跟存款一样".to_string(),
                MatchMode::Exact,
                "跟存款一样".to_string()
            ),
        ]
    );
    // 关保监会: 保监会 is spelled out; the loose 银保监会 would add only its guess at 关.
    let src = "[defaults]\ncategory = \"x\"\nseverity = \"low\"\nmatch = \"loose\"\n\
        [[group]]\nterms = [\"银保监会\", \"保监会\"]\n";
    let m = Matcher::new(Lexicon::parse(src, "x.toml").unwrap()).unwrap();
    assert_eq!(
        hits_of(&m, "关于保监会这件事请您再说一遍", Customer),
        [("保监会".to_string(), MatchMode::Exact, "保监会".to_string())]
    );
    // 故想，屏幕共降: 故想屏幕 crosses a pause, so it may not block 屏幕共降 behind it.
    assert_eq!(
        hits_of(shipped(), "故想，屏幕共降", Customer),
        one("屏幕共享", Loose, "屏幕共降")
    );
    // 包本保。西部基金: 保本保息 heard across a sentence end gives way to 保本 inside it.
    let src = "[defaults]\ncategory = \"x\"\nseverity = \"low\"\n\
        [[group]]\nmatch = \"near\"\nterms = [\"保本\"]\n\
        [[group]]\nmatch = \"loose\"\nterms = [\"保本保息\"]\n";
    let m = Matcher::new(Lexicon::parse(src, "x.toml").unwrap()).unwrap();
    assert_eq!(
        hits_of(&m, "这款产品包本保。西部基金", Agent),
        one("保本", Homophone, "包本")
    );
    assert_eq!(
        hits_of(&m, "这款产品包本保息", Agent),
        one("保本保息", Homophone, "包本保息")
    );
}
