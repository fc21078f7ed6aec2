//! Per-utterance latency and throughput of normalise + match against a 10,000-term lexicon.
//!
//! The lexicon is the shipped one padded with generated terms shaped like real bank phrases,
//! so the automaton has the size and byte distribution of a large production lexicon.

use callwatch::call::Speaker;
use callwatch::transforms::matcher::{
    normalize, Lexicon, MatchMode, Matcher, Severity, SpeakerScope, Term,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

const TARGET_TERMS: usize = 10_000;

const ZH_MODIFIERS: &[&str] = &[
    "保证",
    "承诺",
    "绝对",
    "一定",
    "肯定",
    "马上",
    "免费",
    "内部",
    "特别",
    "最高",
    "专属",
    "限时",
    "独家",
    "稳定",
    "无条件",
    "百分百",
    "随时",
    "立即",
    "额外",
    "超高",
];
const ZH_NOUNS: &[&str] = &[
    "理财",
    "基金",
    "存款",
    "贷款",
    "信用卡",
    "利率",
    "收益",
    "账户",
    "转账",
    "额度",
    "保险",
    "分期",
    "还款",
    "逾期",
    "手续费",
    "年费",
    "积分",
    "网银",
    "密码",
    "挂失",
    "大额存单",
    "结构性存款",
    "养老金",
    "年金",
    "信托",
    "黄金",
    "外汇",
    "国债",
    "股票",
    "期货",
    "房贷",
    "车贷",
    "消费贷",
    "经营贷",
    "征信",
    "担保",
    "抵押",
    "工资卡",
    "社保卡",
    "副卡",
];
const ZH_SUFFIXES: &[&str] = &[
    "不亏",
    "翻倍",
    "到账",
    "安全",
    "没问题",
    "包过",
    "秒批",
    "提额",
    "免息",
    "返现",
    "保本",
    "兑付",
    "赔付",
    "回本",
    "稳赚",
    "包赔",
    "不限",
    "优先",
    "放款",
    "减免",
];
const EN_FIRST: &[&str] = &[
    "guaranteed",
    "promised",
    "fixed",
    "instant",
    "secret",
    "exclusive",
    "special",
    "unlimited",
    "free",
    "premium",
    "private",
    "internal",
    "limited",
    "urgent",
    "secure",
    "frozen",
    "hidden",
    "locked",
    "verified",
    "official",
];
const EN_SECOND: &[&str] = &[
    "yield",
    "income",
    "payout",
    "account",
    "transfer",
    "loan",
    "credit",
    "bonus",
    "refund",
    "deposit",
    "fund",
    "policy",
    "card",
    "limit",
    "rate",
    "pension",
    "annuity",
    "mortgage",
    "investment",
    "code",
    "pin",
    "password",
    "balance",
    "cashback",
    "approval",
];
const EN_THIRD: &[&str] = &["offer", "plan", "program", "scheme", "deal", "today", "now"];

/// Deterministic pseudo-random sequence (64-bit LCG) so every run benches the same lexicon.
struct Lcg(u64);

impl Lcg {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        from[((self.0 >> 33) as usize) % from.len()]
    }
}

fn lexicon() -> Lexicon {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
    let shipped = Lexicon::load_dir(&dir).expect("shipped lexicons load");
    let mut seen: HashSet<String> = shipped
        .terms
        .iter()
        .map(|t| normalize(&t.text).text)
        .collect();
    let mut terms = shipped.terms;
    let mut rng = Lcg(0x5eed);
    while terms.len() < TARGET_TERMS {
        // Roughly 70% Chinese, 30% English, like the shipped files.
        let text = if terms.len() % 10 < 7 {
            format!(
                "{}{}{}",
                rng.pick(ZH_MODIFIERS),
                rng.pick(ZH_NOUNS),
                rng.pick(ZH_SUFFIXES)
            )
        } else {
            format!(
                "{} {} {}",
                rng.pick(EN_FIRST),
                rng.pick(EN_SECOND),
                rng.pick(EN_THIRD)
            )
        };
        if !seen.insert(normalize(&text).text) {
            continue;
        }
        terms.push(Term {
            id: 0,
            text,
            category: "generated".to_string(),
            severity: Severity::Medium,
            speaker: SpeakerScope::Any,
            language: None,
            mode: MatchMode::Exact,
            mode_pinned: false,
            file: "generated".to_string(),
            line: terms.len() + 1,
        });
    }
    Lexicon::from_terms(terms)
}

/// A 200-character agent utterance: Simplified with some Traditional, punctuation, an English
/// phrase and a few prohibited phrases.
fn utterance() -> String {
    let base = "您好，这里是客户服务中心，请问有什么可以帮您？这款理财产品是我们行的明星产品，\
                保本保息，年化收益大概在百分之四左右，比定期存款高不少。很多客户都买了，風險很低，\
                基本上就是稳赚不赔的，it is basically a guaranteed return. 如果您现在办理，\
                我们还可以送您积分，手续费也可以减免。您看您这边需要我帮您预约一下吗？\
                另外提醒您，请不要把验证码告诉任何人。";
    let text: String = base.chars().cycle().take(200).collect();
    assert_eq!(text.chars().count(), 200);
    text
}

fn bench(c: &mut Criterion) {
    let lexicon = lexicon();
    // The worst case of the loosest mode: every Chinese term of four or more syllables also
    // searched for with any one syllable differing.
    let mut loose = lexicon.clone();
    for t in &mut loose.terms {
        t.mode = MatchMode::Loose;
    }
    let loose = Matcher::new(loose).expect("lexicon compiles");
    let started = Instant::now();
    let matcher = Matcher::new(lexicon).expect("lexicon compiles");
    eprintln!(
        "built matcher with {} terms in {:.1} ms",
        matcher.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let text = utterance();
    let hits = matcher.find(&text, Speaker::Agent);
    assert!(
        hits.len() >= 4,
        "utterance should hit several terms: {hits:?}"
    );

    // Baseline: what a matcher without an automaton does — one substring search per term over
    // the same normalised text. Reported beside ours so the ratio comes from one run.
    let normalized_terms: Vec<String> = matcher
        .terms()
        .iter()
        .map(|t| normalize(&t.text).text)
        .collect();

    let mut group = c.benchmark_group("matcher_10k_terms");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("normalize_200_chars", |b| {
        b.iter(|| normalize(black_box(&text)))
    });
    group.bench_function("normalize_and_match_200_chars", |b| {
        b.iter(|| matcher.find(black_box(&text), Speaker::Agent))
    });
    group.bench_function("normalize_and_match_200_chars_every_term_loose", |b| {
        b.iter(|| loose.find(black_box(&text), Speaker::Agent))
    });
    group.bench_function("baseline_per_term_contains_200_chars", |b| {
        b.iter(|| {
            let norm = normalize(black_box(&text));
            normalized_terms
                .iter()
                .filter(|t| norm.text.contains(t.as_str()))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
