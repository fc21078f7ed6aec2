//! Composite-rule evaluation with 10,000 lexicon terms and 200 rules: per-utterance latency of
//! `CallRules::observe` (the rules' own phrase search plus evaluation, given the matcher's hits),
//! with p50/p99 over a simulated call, and the memory the compiled set takes.
//!
//! `cargo bench --bench rules`

use callwatch::call::Speaker;
use callwatch::transforms::matcher::{
    normalize, Lexicon, MatchMode, Matcher, Severity, SpeakerScope, Term,
};
use callwatch::transforms::rules::{CallRules, Inspection, Observation};
use criterion::{black_box, Criterion};
use std::time::Instant;

const TERMS: usize = 10_000;
const RULES: usize = 200;
const CATEGORIES: usize = 20;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

const CHARS: &str = "保本息收益稳赚风险安全理财基金存款利率账户余额转账投诉监管银行客户服务产品承诺资金兑付定期活期信用卡贷款还款额度积分";

fn word(rng: &mut Lcg, len: usize) -> String {
    let chars: Vec<char> = CHARS.chars().collect();
    (0..len).map(|_| chars[rng.next() % chars.len()]).collect()
}

fn lexicon(rng: &mut Lcg) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut texts = Vec::new();
    while texts.len() < TERMS {
        let len = 4 + rng.next() % 3;
        let w = word(rng, len);
        if seen.insert(w.clone()) {
            texts.push(w);
        }
    }
    texts
}

fn rules(rng: &mut Lcg, terms: &[String]) -> String {
    let mut out = String::new();
    let term = |rng: &mut Lcg| terms[rng.next() % terms.len()].clone();
    for i in 0..RULES {
        let cat = format!("cat{}", i % CATEGORIES);
        let body = match i % 5 {
            0 => format!("said = {{ speaker = \"agent\", categories = [\"{cat}\"] }}"),
            1 => {
                let (t1, t2, p1, p2) = (term(rng), term(rng), word(rng, 2), word(rng, 3));
                format!(
                    "near = {{ a = {{ terms = [\"{t1}\", \"{t2}\"] }}, b = {{ phrases = [\"{p1}\", \"{p2}\"] }}, within_chars = 10 }}"
                )
            }
            2 => {
                let (p1, p2, p3) = (word(rng, 2), word(rng, 3), word(rng, 4));
                format!(
                    "all = [ {{ said = {{ phrases = [\"{p1}\", \"{p2}\"] }} }}, {{ absent = {{ speaker = \"agent\", phrases = [\"{p3}\"] }} }} ]"
                )
            }
            3 => {
                let (p1, p2) = (word(rng, 3), word(rng, 3));
                format!(
                    "absent = {{ speaker = \"agent\", first_s = {}, phrases = [\"{p1}\", \"{p2}\"] }}",
                    10 + i % 50
                )
            }
            _ => format!(
                "near = {{ a = {{ categories = [\"{cat}\"], speaker = \"agent\" }}, b = {{ phrases = [\"{}\"], speaker = \"customer\" }}, within_s = 20, speakers = \"other\" }}",
                word(rng, 2)
            ),
        };
        out.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\ncategory = \"c\"\nseverity = \"high\"\nactions = [\"alert_agent\"]\n{body}\n\n"
        ));
    }
    out
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut rng = Lcg(0x5eed);
    let texts = lexicon(&mut rng);
    let terms: Vec<Term> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Term {
            id: i,
            text: t.clone(),
            category: format!("cat{}", i % CATEGORIES),
            severity: Severity::Medium,
            speaker: SpeakerScope::Any,
            language: None,
            mode: MatchMode::Exact,
            mode_pinned: false,
            file: "bench".into(),
            line: i + 1,
        })
        .collect();
    let src = rules(&mut rng, &texts);
    let start_kib = rss_kib();
    let matcher = Matcher::new(Lexicon::from_terms(terms)).unwrap();
    let matcher_kib = rss_kib().saturating_sub(start_kib);
    let before = rss_kib();
    let insp = Inspection::with_rule_sources(matcher, &[("bench.toml", &src)]).unwrap();
    let rules_kib = rss_kib().saturating_sub(before);
    assert_eq!(insp.rules.len(), RULES);

    // Utterances of ~40 chars from the same alphabet, each holding three lexicon terms, so
    // category, term and phrase references all have something to find.
    let utterances: Vec<String> = (0..256)
        .map(|_| {
            let mut u = String::new();
            for _ in 0..3 {
                u.push_str(&texts[rng.next() % texts.len()]);
                let filler = word(&mut rng, 8);
                u.push_str(&filler);
            }
            u
        })
        .collect();
    let prepared: Vec<_> = utterances
        .iter()
        .map(|u| {
            let norm = normalize(u);
            let hits = insp.matcher.find_normalized(u, &norm, Speaker::Agent);
            (u.clone(), norm, hits)
        })
        .collect();
    let mean_hits =
        prepared.iter().map(|p| p.2.len()).sum::<usize>() as f64 / prepared.len() as f64;

    // A call is 100 utterances alternating legs; the state is fresh for each call.
    let observe = |call: &mut CallRules, n: usize| {
        let (text, norm, hits) = &prepared[n % prepared.len()];
        let leg = if n.is_multiple_of(2) {
            "agent"
        } else {
            "customer"
        };
        let id = format!("u{n}");
        call.observe(
            &insp,
            &Observation {
                leg,
                speaker: if n.is_multiple_of(2) {
                    Speaker::Agent
                } else {
                    Speaker::Customer
                },
                utterance_id: &id,
                text,
                normalized: norm,
                hits,
                generation: insp.generation,
                start_ms: n as u64 * 3_000,
                end_ms: n as u64 * 3_000 + 2_500,
                partial: false,
            },
        )
    };
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..200 {
        let mut call = CallRules::new();
        call.open_leg("agent", Speaker::Agent);
        call.open_leg("customer", Speaker::Customer);
        for n in 0..100 {
            let t = Instant::now();
            black_box(observe(&mut call, n));
            samples.push(t.elapsed().as_nanos() as u64);
            call.advance(
                &insp,
                if n.is_multiple_of(2) {
                    "agent"
                } else {
                    "customer"
                },
                n as u64 * 3_000,
            );
        }
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "rules: {TERMS} terms, {RULES} rules, {mean_hits:.1} matcher hits per utterance; \
         observe p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        pct(0.50) as f64 / 1e3,
        pct(0.99) as f64 / 1e3,
        *samples.last().unwrap() as f64 / 1e3,
    );
    // RSS growth is what the process asked the system for; freed memory the allocator reuses
    // is not counted, so these are lower bounds of the structures' size.
    println!(
        "memory: 10k-term matcher ~{matcher_kib} KiB RSS, compiled rules ~{rules_kib} KiB RSS, \
         process {} KiB RSS after {} calls",
        rss_kib(),
        samples.len() / 100
    );

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("rules/observe_10k_terms_200_rules", |b| {
        let mut call = CallRules::new();
        let mut n: usize = 0;
        b.iter(|| {
            if n.is_multiple_of(100) {
                call = CallRules::new();
            }
            n += 1;
            black_box(observe(&mut call, n))
        })
    });
    c.final_summary();
}
