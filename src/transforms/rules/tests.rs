use super::*;
use crate::call::Speaker;
use crate::transforms::matcher::{normalize, Lexicon, Matcher};
use proptest::prelude::*;

const LEXICON: &str = r#"
[[term]]
text = "保本"
category = "sales_promise"
severity = "high"
speaker = "agent"

[[term]]
text = "保证收益"
category = "sales_promise"
severity = "high"
speaker = "agent"

[[group]]
category = "complaint"
severity = "high"
speaker = "customer"
terms = ["投诉", "12378", "银保监会"]
"#;

fn inspection(rules: &str) -> Inspection {
    let matcher = Matcher::new(Lexicon::parse(LEXICON, "lex.toml").unwrap()).unwrap();
    Inspection::with_rule_sources(matcher, &[("rules.toml", rules)]).unwrap()
}

/// One step fed to a call.
#[derive(Debug, Clone)]
enum Step {
    Say {
        leg: &'static str,
        text: &'static str,
        start_ms: u64,
        end_ms: u64,
        partial: bool,
    },
    Advance(&'static str, u64),
    End(u64),
}

fn say(leg: &'static str, text: &'static str, start_ms: u64, end_ms: u64) -> Step {
    Step::Say {
        leg,
        text,
        start_ms,
        end_ms,
        partial: false,
    }
}

fn speaker_of(leg: &str) -> Speaker {
    if leg == "agent" {
        Speaker::Agent
    } else {
        Speaker::Customer
    }
}

/// Runs steps and returns, for each step, the rule ids that fired on it.
fn run(insp: &Inspection, steps: &[Step]) -> Vec<Vec<Firing>> {
    let mut call = CallRules::new();
    call.open_leg("agent", Speaker::Agent);
    call.open_leg("customer", Speaker::Customer);
    let mut out = Vec::new();
    for (n, s) in steps.iter().enumerate() {
        out.push(match s {
            Step::Say {
                leg,
                text,
                start_ms,
                end_ms,
                partial,
            } => {
                let norm = normalize(text);
                let hits = insp.matcher.find_normalized(text, &norm, speaker_of(leg));
                let id = format!("u{}-{start_ms}", leg);
                let _ = n;
                call.observe(
                    insp,
                    &Observation {
                        leg,
                        speaker: speaker_of(leg),
                        utterance_id: &id,
                        text,
                        normalized: &norm,
                        hits: &hits,
                        generation: insp.generation,
                        start_ms: *start_ms,
                        end_ms: *end_ms,
                        partial: *partial,
                    },
                )
            }
            Step::Advance(leg, ms) => call.advance(insp, leg, *ms),
            Step::End(ms) => call.end(insp, *ms),
        });
    }
    out
}

/// Name, steps, and the (step index, rule id) pairs expected to fire.
type Case = (&'static str, Vec<Step>, Vec<(usize, &'static str)>);

fn fired_at(out: &[Vec<Firing>]) -> Vec<(usize, String)> {
    out.iter()
        .enumerate()
        .flat_map(|(i, f)| f.iter().map(move |f| (i, f.rule_id.clone())))
        .collect()
}

const GREETING: &str = r#"
[[rule]]
id = "greeting"
category = "service_script"
severity = "medium"
actions = ["alert_agent"]
absent = { speaker = "agent", phrases = ["您好", "很高兴为您服务"], first_s = 15 }
"#;

#[test]
fn greeting_rule_fires_exactly_when_second_15_passes() {
    let insp = inspection(GREETING);
    let table: Vec<Case> = vec![
        (
            "never greeted: fires on the advance past 15 s, not before",
            vec![
                Step::Advance("agent", 14_999),
                Step::Advance("agent", 15_000),
                Step::Advance("agent", 20_000),
                Step::End(30_000),
            ],
            vec![(1, "greeting")],
        ),
        (
            "greeted at 3 s: never fires",
            vec![
                say("agent", "您好，很高兴为您服务", 3_000, 5_000),
                Step::Advance("agent", 16_000),
                Step::End(30_000),
            ],
            vec![],
        ),
        (
            "greeting that started after 15 s is too late",
            vec![
                Step::Advance("agent", 14_000),
                say("agent", "您好", 15_500, 16_000),
                Step::Advance("agent", 17_000),
            ],
            vec![(2, "greeting")],
        ),
        (
            "customer saying 您好 does not count for the agent",
            vec![
                say("customer", "您好", 1_000, 2_000),
                Step::Advance("agent", 15_000),
            ],
            vec![(1, "greeting")],
        ),
        (
            "call shorter than 15 s without greeting fires at its end",
            vec![Step::Advance("agent", 8_000), Step::End(9_000)],
            vec![(1, "greeting")],
        ),
        (
            "customer leg progress alone does not decide an agent deadline",
            vec![
                Step::Advance("customer", 20_000),
                Step::Advance("agent", 15_001),
            ],
            vec![(1, "greeting")],
        ),
    ];
    for (name, steps, want) in table {
        let got = fired_at(&run(&insp, &steps));
        let want: Vec<(usize, String)> = want.into_iter().map(|(i, s)| (i, s.into())).collect();
        assert_eq!(got, want, "{name}");
    }
    let out = run(&insp, &[Step::Advance("agent", 15_020)]);
    assert_eq!(out[0][0].at_ms, 15_020);
    assert!(out[0][0].evidence.is_empty());
}

const RULES: &str = r#"
[[rule]]
id = "promise_guarantee"
category = "sales_promise"
severity = "critical"
actions = ["alert_agent", "alert_supervisor", "tag_call"]
near = { a = { terms = ["保本"] }, b = { phrases = ["保证", "guaranteed"] }, within_chars = 6, speakers = "same" }

[[rule]]
id = "promise_within_10s"
category = "sales_promise"
severity = "high"
actions = ["alert_supervisor"]
near = { a = { categories = ["sales_promise"], speaker = "agent" }, b = { phrases = ["放心"], speaker = "customer" }, within_s = 10, speakers = "other" }

[[rule]]
id = "escalation"
category = "complaint"
severity = "critical"
actions = ["alert_supervisor", "tag_call"]
tags = ["escalation"]
all = [
  { said = { categories = ["complaint"], speaker = "customer" } },
  { said = { phrases = ["银保监会", "金融监管总局", "12378"], speaker = "customer" } },
]

[[rule]]
id = "risk_disclosure"
category = "compliance"
severity = "high"
actions = ["tag_call"]
all = [
  { said = { phrases = ["理财产品", "基金"], speaker = "agent" } },
  { absent = { phrases = ["风险提示", "理财非存款"], speaker = "agent" } },
]

[[rule]]
id = "identity_first"
category = "compliance"
severity = "high"
actions = ["alert_agent"]
absent = { phrases = ["核实您的身份"], speaker = "agent", before = { phrases = ["余额"], speaker = "agent" } }

[[rule]]
id = "closing"
category = "service_script"
severity = "low"
actions = ["tag_call"]
absent = { phrases = ["还有什么可以帮您", "感谢您的来电"], speaker = "agent", last_s = 30 }

[[rule]]
id = "opening_promise"
category = "sales_promise"
severity = "medium"
actions = ["alert_agent"]
any = [
  { said = { terms = ["保证收益"], first_s = 20 } },
  { said = { phrases = ["稳赚"], last_s = 10 } },
]
"#;

#[test]
fn rules_of_each_kind_fire_when_and_only_when_they_become_true() {
    let insp = inspection(RULES);
    let table: Vec<Case> = vec![
        (
            "proximity in characters: close enough",
            vec![say("agent", "这个保本，我保证", 1_000, 3_000)],
            vec![(0, "promise_guarantee")],
        ),
        (
            "proximity in characters: too far apart",
            vec![say(
                "agent",
                "这个保本的产品非常好卖的我可以保证",
                1_000,
                3_000,
            )],
            vec![],
        ),
        (
            "proximity in characters: different utterances never count",
            vec![
                say("agent", "这个保本", 1_000, 2_000),
                say("agent", "我保证", 2_000, 3_000),
            ],
            vec![],
        ),
        (
            "proximity in seconds across speakers",
            vec![
                say("agent", "保证收益", 30_000, 31_000),
                say("customer", "那我就放心了", 40_000, 41_000),
            ],
            vec![(1, "promise_within_10s")],
        ),
        (
            "proximity in seconds: 12 s apart is too far",
            vec![
                say("agent", "保证收益", 30_000, 31_000),
                say("customer", "那我就放心了", 43_000, 44_000),
            ],
            vec![],
        ),
        (
            "all-of fires when the last part is said, on either order",
            vec![
                say("customer", "我要投诉", 1_000, 2_000),
                say("customer", "我要打一二三七八", 5_000, 6_000),
            ],
            vec![(1, "escalation")],
        ),
        (
            "negation before call end: product without disclosure",
            vec![
                say("agent", "推荐您这款理财产品", 1_000, 2_000),
                Step::End(60_000),
            ],
            vec![(1, "risk_disclosure"), (1, "closing")],
        ),
        (
            "negation before call end: disclosed, closed properly",
            vec![
                say("agent", "推荐您这款理财产品", 1_000, 2_000),
                say("agent", "风险提示：理财非存款", 3_000, 5_000),
                say("agent", "还有什么可以帮您", 50_000, 52_000),
                Step::End(60_000),
            ],
            vec![],
        ),
        (
            "closing said too early does not count",
            vec![
                say("agent", "感谢您的来电", 10_000, 12_000),
                Step::End(60_000),
            ],
            vec![(1, "closing")],
        ),
        (
            "identity check missing before account details, once the agent leg catches up",
            vec![
                say("agent", "您的余额是三千元", 20_000, 22_000),
                Step::Advance("agent", 19_000),
                Step::Advance("agent", 20_500),
            ],
            vec![(2, "identity_first")],
        ),
        (
            "identity checked first",
            vec![
                say("agent", "我先核实您的身份", 5_000, 7_000),
                say("agent", "您的余额是三千元", 20_000, 22_000),
                Step::Advance("agent", 30_000),
            ],
            vec![],
        ),
        (
            "first-N window: promise at 5 s fires at once",
            vec![say("agent", "保证收益", 5_000, 6_000)],
            vec![(0, "opening_promise")],
        ),
        (
            "last-N window: decided at call end",
            vec![say("agent", "稳赚的", 55_000, 56_000), Step::End(60_000)],
            vec![(1, "opening_promise"), (1, "closing")],
        ),
    ];
    for (name, steps, want) in table {
        let got = fired_at(&run(&insp, &steps));
        let mut want: Vec<(usize, String)> = want.into_iter().map(|(i, s)| (i, s.into())).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want, "{name}");
    }
}

#[test]
fn evidence_points_into_the_utterance() {
    let insp = inspection(RULES);
    let out = run(&insp, &[say("agent", "这款，保本！我保證", 1_000, 3_000)]);
    let f = &out[0][0];
    assert_eq!(f.rule_id, "promise_guarantee");
    assert_eq!(
        f.actions,
        vec![Action::AlertAgent, Action::AlertSupervisor, Action::TagCall]
    );
    assert_eq!(f.tags, vec!["promise_guarantee".to_string()]);
    let text: Vec<char> = "这款，保本！我保證".chars().collect();
    for e in &f.evidence {
        let span: String = text[e.span_start..e.span_end].iter().collect();
        assert_eq!(span, e.matched);
        assert_eq!((e.start_ms, e.end_ms), (1_000, 3_000));
    }
    let matched: Vec<&str> = f.evidence.iter().map(|e| e.matched.as_str()).collect();
    assert_eq!(matched, ["保本", "保證"]);
}

#[test]
fn a_partial_and_its_final_fire_once() {
    let insp = inspection(RULES);
    let steps = [
        Step::Say {
            leg: "agent",
            text: "这个保本我保证",
            start_ms: 1_000,
            end_ms: 2_000,
            partial: true,
        },
        say("agent", "这个保本，我保证。", 1_000, 2_500),
        say("agent", "再说一次保本保证", 9_000, 10_000),
    ];
    let got = fired_at(&run(&insp, &steps));
    assert_eq!(got, vec![(0, "promise_guarantee".to_string())]);
}

#[test]
fn reload_keeps_what_fired_and_rematches_what_was_said() {
    let first = inspection(GREETING);
    let mut call = CallRules::new();
    call.open_leg("agent", Speaker::Agent);
    let text = "你好很高兴为您服务";
    let norm = normalize(text);
    let obs = Observation {
        leg: "agent",
        speaker: Speaker::Agent,
        utterance_id: "u1",
        text,
        normalized: &norm,
        hits: &[],
        generation: first.generation,
        start_ms: 1_000,
        end_ms: 2_000,
        partial: false,
    };
    assert!(call.observe(&first, &obs).is_empty());
    // The new set accepts 你好 as a greeting; the utterance said before the reload counts.
    let second = inspection(&GREETING.replace("\"您好\"", "\"你好\""));
    assert!(call.advance(&second, "agent", 16_000).is_empty());
    let third = inspection(&GREETING.replace("first_s = 15", "first_s = 20"));
    // The greeting phrase 很高兴为您服务 is in every version: nothing fires.
    assert!(call.advance(&third, "agent", 21_000).is_empty());
    assert!(call.end(&third, 30_000).is_empty());
}

#[test]
fn rule_file_errors_name_file_and_line() {
    let matcher = || Matcher::new(Lexicon::parse(LEXICON, "lex.toml").unwrap()).unwrap();
    let table = [
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"hgh\"\nactions = [\"tag_call\"]\nsaid = { phrases = [\"a\"] }\n",
            "r.toml:4: unknown severity `hgh`",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"page_boss\"]\nsaid = { phrases = [\"a\"] }\n",
            "r.toml:5: unknown action `page_boss`",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\n\nsaid = { terms = [\"不存在\"] }\n",
            "r.toml:7: term `不存在` is in no lexicon file",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nsaid = { categories = [\"nope\"] }\n",
            "r.toml:6: category `nope` has no lexicon terms",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\n",
            "r.toml:2: a condition needs exactly one of",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nsaid = { phrases = [\"a\"] }\n[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nsaid = { phrases = [\"b\"] }\n",
            "r.toml:8: duplicate rule id `x` (first at line 2)",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nnear = { a = { phrases = [\"a\"] }, b = { phrases = [\"b\"] } }\n",
            "r.toml:6: `near` needs exactly one of",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nabsent = { phrases = [\"a\"], speaker = \"boss\" }\n",
            "r.toml:6: unknown speaker `boss`",
        ),
        (
            "[[rule]]\nid = \"x\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"tag_call\"]\nsaid = { phrases = [\"a\"], colour = 1 }\n",
            "r.toml:6: unknown field `colour`",
        ),
    ];
    for (src, want) in table {
        let err = Inspection::with_rule_sources(matcher(), &[("r.toml", src)])
            .err()
            .expect(want)
            .to_string();
        assert!(err.starts_with(want), "got {err:?}, want {want:?}");
    }
}

#[test]
fn shipped_rules_compile_against_shipped_lexicons() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let insp = Inspection::load(&InspectionSource {
        lexicon_dir: root.join("lexicons"),
        rules_dir: root.join("lexicons/rules"),
        fuzzy_pinyin: false,
        category_modes: Default::default(),
    })
    .unwrap();
    assert!(insp.rules.len() >= 6, "{}", insp.rules.len());
}

fn arb_step() -> impl Strategy<Value = Step> {
    let texts = prop::sample::select(vec![
        "您好很高兴为您服务",
        "这个保本我保证",
        "我要投诉",
        "我要打12378",
        "推荐您这款理财产品",
        "风险提示",
        "您的余额是三千元",
        "核实您的身份",
        "还有什么可以帮您",
        "保证收益稳赚",
        "",
    ]);
    let legs = prop::sample::select(vec!["agent", "customer"]);
    prop_oneof![
        (
            legs.clone(),
            texts,
            0u64..90_000,
            0u64..5_000,
            any::<bool>()
        )
            .prop_map(|(leg, text, start_ms, len, partial)| Step::Say {
                leg,
                text,
                start_ms,
                end_ms: start_ms + len,
                partial,
            }),
        (legs, 0u64..90_000).prop_map(|(l, ms)| Step::Advance(l, ms)),
        (0u64..90_000).prop_map(Step::End),
    ]
}

proptest! {
    #[test]
    fn any_order_of_observations_fires_each_rule_at_most_once(steps in prop::collection::vec(arb_step(), 0..40)) {
        let insp = inspection(&format!("{GREETING}{RULES}"));
        let fired = fired_at(&run(&insp, &steps));
        let mut ids: Vec<&String> = fired.iter().map(|(_, id)| id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "{:?}", fired);
    }
}
