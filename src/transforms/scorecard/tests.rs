use super::*;
use crate::call::Speaker;
use crate::transforms::matcher::Severity;

const CARD: &str = r#"
id = "test-v1"
name = "测试评分表"
pass_score = 80

[[item]]
id = "greeting"
weight = 10
kind = "said"
speaker = "agent"
phrases = ["您好", "很高兴为您服务", "thank you for calling"]
within_first_s = 15

[[item]]
id = "closing"
weight = 10
kind = "said"
phrases = ["还有什么可以帮您", "anything else"]
within_last_s = 30

[[item]]
id = "no_promise"
weight = 30
kind = "no_hits"
categories = ["sales_promise"]
min_severity = "high"

[[item]]
id = "no_rude"
weight = 10
kind = "not_said"
phrases = ["不归我管"]

[[item]]
id = "silence"
weight = 10
kind = "silence_ratio"
max = 0.7

[[item]]
id = "talk_over"
weight = 10
kind = "talk_over_ratio"
max = 0.05

[[item]]
id = "rate"
weight = 20
kind = "speech_rate"
zh_cpm = [150, 330]
"#;

fn card() -> Scorecard {
    Scorecard::parse(CARD, "test.toml").unwrap()
}

fn utt(speaker: Speaker, start_s: f64, end_s: f64, text: &str) -> LedgerUtterance {
    LedgerUtterance {
        id: format!("{speaker}-{start_s}"),
        speaker,
        start_ms: (start_s * 1000.0) as u64,
        end_ms: (end_s * 1000.0) as u64,
        language: if text.is_ascii() { "en" } else { "zh" }.into(),
        text: text.into(),
    }
}

/// A well-behaved 60 s call: greeting at 1 s, closing at 50 s, a normal pace, little overlap.
fn good_call() -> CallLedger {
    use Speaker::*;
    CallLedger {
        call_id: "c1".into(),
        duration_ms: 60_000,
        utterances: vec![
            utt(
                Agent,
                1.0,
                5.0,
                "您好，很高兴为您服务，请问有什么可以帮您？",
            ),
            utt(Customer, 6.0, 12.0, "我想问一下我的信用卡账单什么时候出"),
            utt(
                Agent,
                13.0,
                25.0,
                "您的账单日是每月五号，还款日是二十五号，您可以在手机银行里查看详细的账单信息",
            ),
            utt(Customer, 26.0, 30.0, "好的明白了谢谢"),
            utt(Agent, 45.0, 52.0, "请问还有什么可以帮您的吗？感谢您的来电"),
        ],
        hits: vec![],
    }
}

fn outcome(r: &ScoreReport, id: &str) -> Outcome {
    r.items.iter().find(|i| i.id == id).unwrap().outcome
}

#[test]
fn a_good_call_passes_every_item() {
    let r = score(&card(), &good_call());
    assert_eq!(r.failed_items, Vec::<String>::new(), "{r:#?}");
    assert_eq!(r.score, 100.0);
    assert!(r.passed);
    let greeting = r.items.iter().find(|i| i.id == "greeting").unwrap();
    assert_eq!(greeting.at_ms, Some(1000));
}

#[test]
fn each_fault_fails_its_item_and_only_it() {
    type Fault = fn(&mut CallLedger);
    let cases: &[(&str, Fault, f64)] = &[
        (
            "greeting",
            |l| {
                l.utterances[0].start_ms = 16_000;
                l.utterances[0].end_ms = 20_000;
            },
            90.0,
        ),
        (
            "greeting",
            |l| l.utterances[0].text = "喂，请讲，我这边是信用卡中心".into(),
            90.0,
        ),
        (
            "closing",
            |l| {
                l.duration_ms = 90_000; // the closing at 45–52 s is no longer in the last 30 s
            },
            90.0,
        ),
        (
            "no_promise",
            |l| {
                l.hits.push(LedgerHit {
                    speaker: Speaker::Agent,
                    term: "保本保息".into(),
                    category: "sales_promise".into(),
                    severity: Severity::Critical,
                    start_ms: 20_000,
                })
            },
            70.0,
        ),
        (
            "no_rude",
            |l| {
                l.utterances[2].text =
                    "这个不归我管，您的账单日是每月五号，还款日是二十五号，您自己查".into()
            },
            90.0,
        ),
        (
            "talk_over",
            |l| l.utterances[1].start_ms = 2_000, // customer talks over the greeting
            90.0,
        ),
    ];
    for (item, fault, expected) in cases {
        let mut l = good_call();
        fault(&mut l);
        let r = score(&card(), &l);
        assert_eq!(r.failed_items, vec![item.to_string()], "{item}: {r:#?}");
        assert_eq!(r.score, *expected, "{item}");
    }
}

#[test]
fn hits_below_the_severity_or_in_other_categories_do_not_fail() {
    let mut l = good_call();
    for (category, severity) in [
        ("sales_promise", Severity::Medium),
        ("rudeness", Severity::Critical),
    ] {
        l.hits.push(LedgerHit {
            speaker: Speaker::Agent,
            term: "x".into(),
            category: category.into(),
            severity,
            start_ms: 0,
        });
    }
    assert_eq!(outcome(&score(&card(), &l), "no_promise"), Outcome::Pass);
}

#[test]
fn silence_and_rate_are_measured() {
    let mut l = good_call();
    l.duration_ms = 200_000; // the same speech in a call mostly silent
    l.utterances.last_mut().unwrap().start_ms = 185_000;
    l.utterances.last_mut().unwrap().end_ms = 192_000;
    let r = score(&card(), &l);
    let silence = r.items.iter().find(|i| i.id == "silence").unwrap();
    assert_eq!(silence.outcome, Outcome::Fail);
    assert!(silence.value.unwrap() > 0.8, "{silence:?}");
    let rate = r.items.iter().find(|i| i.id == "rate").unwrap();
    // 20 + 37 + 19 CJK chars over 23 s of agent speech ≈ 198/min.
    assert!((150.0..=330.0).contains(&rate.value.unwrap()), "{rate:?}");

    let mut fast = good_call();
    fast.utterances[2].end_ms = 14_000; // 37 characters in one second
    assert_eq!(outcome(&score(&card(), &fast), "rate"), Outcome::Fail);
}

#[test]
fn nothing_to_measure_is_not_applicable_and_left_out_of_the_score() {
    let mut l = good_call();
    l.utterances
        .retain(|u| u.speaker == Speaker::Customer || u.start_ms < 2_000);
    l.utterances[0].end_ms = 3_000; // 2 s of agent speech: too little to judge a rate
    let r = score(&card(), &l);
    assert_eq!(outcome(&r, "rate"), Outcome::NotApplicable);
    // 12 s of speech in 60 s is too much silence, and nobody closed the call.
    assert_eq!(
        r.failed_items,
        vec!["closing".to_string(), "silence".to_string()]
    );
    // 20 failed out of 80 applicable weight.
    assert_eq!(r.score, 75.0);
}

#[test]
fn english_phrases_match_whole_words_and_rates_count_words() {
    use Speaker::*;
    let l = CallLedger {
        call_id: "en".into(),
        duration_ms: 20_000,
        utterances: vec![
            utt(
                Agent,
                0.5,
                4.5,
                "Thank you for calling First Bank, how can I help?",
            ),
            utt(Customer, 5.0, 9.0, "I lost my card yesterday."),
            utt(
                Agent,
                10.0,
                16.0,
                "I have frozen it. Is there anything else I can do?",
            ),
        ],
        hits: vec![],
    };
    let r = score(&card(), &l);
    assert_eq!(outcome(&r, "greeting"), Outcome::Pass);
    assert_eq!(outcome(&r, "closing"), Outcome::Pass);
    let rate = r.items.iter().find(|i| i.id == "rate").unwrap();
    // 21 words over 10 s of agent speech; the zh range is not used for English.
    assert_eq!(rate.value, Some(126.0));
    assert!(super::ledger::contains_phrase(
        "anything else",
        "anything else"
    ));
    assert!(!super::ledger::contains_phrase(
        "thisanything elsewhere",
        "anything else"
    ));
}

#[test]
fn malformed_scorecards_name_the_line() {
    let cases = [
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"said\"\n", 2, "needs `phrases`"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 0\nkind = \"silence_ratio\"\nmax = 0.2\n", 2, "positive"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"silence_ratio\"\nmax = 2\n", 2, "within 0..=1"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"talk\"\n", 2, "unknown kind"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"silence_ratio\"\nmax = 0.2\nphrases = [\"x\"]\n", 2, "does not apply"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"no_hits\"\nmin_severity = \"huge\"\n", 2, "unknown severity"),
        ("id = \"x\"\n\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"silence_ratio\"\nmax = 0.2\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"silence_ratio\"\nmax = 0.3\n", 8, "duplicate item"),
        ("id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"said\"\nphrases = [\"x\"]\ncolour = 1\n", 7, "unknown field"),
        ("id = \"x\"\n", 2, "no [[item]]"),
    ];
    for (src, line, needle) in cases {
        let e = Scorecard::parse(src, "bad.toml").unwrap_err().to_string();
        assert!(e.starts_with(&format!("bad.toml:{line}:")), "{e}");
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn shipped_scorecards_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons/scorecards");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scorecard::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n > 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn utterance() -> impl Strategy<Value = LedgerUtterance> {
        (
            prop_oneof![Just(Speaker::Agent), Just(Speaker::Customer)],
            0u64..120_000,
            0u64..20_000,
            prop::sample::select(vec![
                "您好",
                "还有什么可以帮您",
                "我要投诉",
                "anything else",
                "ok",
                "",
            ]),
        )
            .prop_map(|(speaker, start_ms, len, text)| LedgerUtterance {
                id: format!("{start_ms}"),
                speaker,
                start_ms,
                end_ms: start_ms + len,
                language: if text.is_ascii() { "en" } else { "zh" }.into(),
                text: text.into(),
            })
    }

    proptest! {
        #[test]
        fn scores_are_consistent_with_their_items(
            utterances in prop::collection::vec(utterance(), 0..30),
            duration_ms in 0u64..150_000,
        ) {
            let ledger = CallLedger { call_id: "p".into(), duration_ms, utterances, hits: vec![] };
            let r = score(&card(), &ledger);
            prop_assert!((0.0..=100.0).contains(&r.score));
            prop_assert_eq!(r.passed, r.score >= 80.0);
            let failed: Vec<String> = r.items.iter().filter(|i| i.outcome == Outcome::Fail).map(|i| i.id.clone()).collect();
            prop_assert_eq!(&r.failed_items, &failed);
            for i in &r.items {
                if let Some(v) = i.value {
                    prop_assert!(v >= 0.0 && v.is_finite(), "{:?}", i);
                }
            }
            let all = ledger.speech(|_| true);
            prop_assert!(all.windows(2).all(|w| w[0].1 < w[1].0), "merged spans overlap: {:?}", all);
            let a = ledger.speech(|u| u.speaker == Speaker::Agent);
            let c = ledger.speech(|u| u.speaker == Speaker::Customer);
            let both = super::super::ledger::overlap(&a, &c);
            prop_assert!(both <= super::super::ledger::total(&a).min(super::super::ledger::total(&c)));
            prop_assert_eq!(
                super::super::ledger::total(&all),
                super::super::ledger::total(&a) + super::super::ledger::total(&c) - both
            );
        }
    }
}
