use super::*;
use std::path::Path;

fn shipped() -> Assistant {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    Assistant::new(Knowledge::load_dir(&dir).unwrap(), 0.5)
}

fn heard(id: &str, text: &'static str) -> Heard<'static> {
    Heard {
        utterance_id: Box::leak(id.to_string().into_boxed_str()),
        text,
        start_ms: 0,
        end_ms: 1000,
        at: time::macros::datetime!(2024-05-01 09:00 UTC),
    }
}

#[test]
fn customer_questions_find_their_articles() {
    let a = shipped();
    // (utterance, intents expected in order)
    let table: &[(&str, &[&str])] = &[
        ("我的卡被冻结了，怎么解冻", &["card_unfreeze"]),
        ("卡丢了，要挂失", &["card_lost"]),
        ("转账限额太低了，怎么提高限额", &["transfer_limit"]),
        ("手机银行登录不了", &["app_login"]),
        ("昨天转账失败了，钱也没到账", &["transfer_failure"]),
        ("为什么扣我年费", &["fee_dispute"]),
        ("有人让我把钱转到安全账户", &["fraud_warning"]),
        ("这个理财会不会亏，能不能赎回", &["wealth_risk"]),
        (
            "Someone called me and asked for my verification code.",
            &["fraud_warning"],
        ),
        (
            "I would like to check my savings account balance.",
            &["balance_inquiry"],
        ),
        // One weak trigger (0.4) is not enough on its own.
        ("我想问一下理财", &[]),
        ("今天天气很好", &[]),
        // Two intents in one breath: the strongest evidence first.
        (
            "卡丢了要挂失，还有手机银行登录不了",
            &["card_lost", "app_login"],
        ),
    ];
    for (i, (text, want)) in table.iter().enumerate() {
        let (s, _) = a.on_customer(&format!("call-{i}"), heard("u", text));
        let got: Vec<&str> = s.iter().map(|s| s.intent.as_str()).collect();
        assert_eq!(&got, want, "{text}");
        for w in s.windows(2) {
            assert!(w[0].confidence >= w[1].confidence, "{s:?}");
        }
    }
}

#[test]
fn each_intent_is_suggested_once_per_call() {
    let a = shipped();
    let (first, _) = a.on_customer("c1", heard("u1", "卡被冻结了怎么解冻"));
    assert_eq!(first.len(), 1);
    assert!(first[0].confidence > 0.9, "{first:?}");
    assert_eq!(first[0].article_id, "KB-CARD-001");
    assert_eq!(first[0].triggers, ["卡被冻结", "怎么解冻"], "{first:?}");
    let (again, _) = a.on_customer("c1", heard("u2", "到底怎么解冻"));
    assert!(again.is_empty(), "{again:?}");
    let (other, _) = a.on_customer("c2", heard("u3", "怎么解冻"));
    assert_eq!(other.len(), 1, "another call gets its own suggestion");
}

#[test]
fn escalation_signals_warn_once_with_evidence() {
    let a = shipped();
    let (_, w) = a.on_customer("c1", heard("u1", "再不处理我就打12378投诉你们"));
    let signals: Vec<&str> = w.iter().map(|w| w.signal.as_str()).collect();
    assert_eq!(signals, ["regulator", "complaint"], "{w:?}");
    assert_eq!(w[0].level, "critical");
    assert_eq!(w[0].evidence.len(), 1);
    assert_eq!(w[0].evidence[0].utterance_id, "u1");
    assert_eq!(w[0].evidence[0].matched, ["12378"]);
    let (_, again) = a.on_customer("c1", heard("u2", "我要投诉，打12378"));
    assert!(again.is_empty(), "{again:?}");
    let (_, en) = a.on_customer(
        "c2",
        heard("u3", "I want to file a complaint with the regulator."),
    );
    let signals: Vec<&str> = en.iter().map(|w| w.signal.as_str()).collect();
    assert_eq!(signals, ["regulator", "complaint"], "{en:?}");
}

#[test]
fn dissatisfaction_warns_only_when_repeated_in_distinct_utterances() {
    let a = shipped();
    // Said three times in one utterance: one utterance, no warning yet.
    let (_, w) = a.on_customer("c1", heard("u1", "太差了太差了太差了"));
    assert!(w.is_empty(), "{w:?}");
    let (_, w) = a.on_customer("c1", heard("u2", "你们这是什么服务"));
    assert!(w.is_empty(), "{w:?}");
    let (_, w) = a.on_customer("c1", heard("u3", "我真的很不满意"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].signal, "dissatisfaction");
    let ids: Vec<&str> = w[0]
        .evidence
        .iter()
        .map(|e| e.utterance_id.as_str())
        .collect();
    assert_eq!(ids, ["u1", "u2", "u3"]);
    let (_, w) = a.on_customer("c1", heard("u4", "太慢了"));
    assert!(w.is_empty(), "warned once per call: {w:?}");
}

#[test]
fn knowledge_errors_name_file_and_line() {
    let art = |body: &str| {
        format!("[[article]]\nid = \"K1\"\nintent = \"x\"\ntitle = \"t\"\nanswer = \"a\"\n{body}")
    };
    let table = [
        (art(""), "k.toml:2:", "no triggers"),
        (art("triggers = [\"卡\", \"卡\"]\n"), "k.toml:6:", "duplicate"),
        (art("triggers = [\"?\"]\n"), "k.toml:6:", "can never match"),
        (art("triggers = [\"a\"]\nweight = 2\n"), "k.toml:7:", "unknown field"),
        (art("triggers = [\"a\"]\n").replace("intent = \"x\"", "intent = \"Bad\""), "k.toml:3:", "invalid intent"),
        (art("triggers = [\"a\"]\n").replace("answer = \"a\"", "answer = \" \""), "k.toml:5:", "empty answer"),
        (format!("{}{}", art("triggers = [\"a\"]\n"), art("triggers = [\"b\"]\n")), "k.toml:8:", "defined twice (first at k.toml:2)"),
        ("[[signal]]\nid = \"s\"\nlevel = \"huge\"\nreason = \"r\"\nphrases = [\"a\"]\n".into(), "k.toml:3:", "unknown level"),
        ("[[signal]]\nid = \"s\"\nlevel = \"low\"\nreason = \"r\"\nphrases = [\"a\"]\nrepeat = 0\n".into(), "k.toml:6:", "at least 1"),
        ("[[signal]]\nid = \"s\"\nlevel = \"low\"\nreason = \"r\"\nphrases = []\n".into(), "k.toml:5:", "no phrases"),
    ];
    for (text, at, what) in table {
        let e = Knowledge::parse(&[("k.toml".into(), text.clone())])
            .err()
            .expect(&text)
            .to_string();
        assert!(e.starts_with(at) && e.contains(what), "{text:?}: {e}");
    }
}

#[test]
fn shipped_knowledge_covers_the_bank_basics() {
    let a = shipped();
    let intents: Vec<&str> = a
        .knowledge()
        .articles()
        .iter()
        .map(|a| a.intent.as_str())
        .collect();
    for i in [
        "card_unfreeze",
        "card_lost",
        "transfer_limit",
        "fee_dispute",
        "wealth_risk",
        "fraud_warning",
    ] {
        assert!(intents.contains(&i), "{i} missing");
    }
    assert!(a.knowledge().signals().len() >= 5);
}
