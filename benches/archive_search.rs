//! Transcript search on a large archive, SQLite and PostgreSQL side by side: writes the same
//! synthetic calls (Mandarin and English customer-service lines, with rare and common terms
//! planted at known rates) to both, then times the first page of a mix of searches a QA
//! reviewer runs: 1-, 2- and 4-character Chinese terms, English words, two-term queries,
//! pinyin and near-homophone searches, and a call-id filter. PostgreSQL is a local server this
//! bench starts (the Debian `postgresql` package).
//!
//! `cargo bench --bench archive_search -- --utterances 1000000` (default 1,000,000;
//! `--backend sqlite|postgres` for one).

#[path = "../tests/archive_support/pg.rs"]
mod pg;

use callwatch::call::Speaker;
use callwatch::sinks::archive::sound::SearchMode;
use callwatch::sinks::archive::{
    ArchiveOp, ArchiveReader, ArchiveStore, ArchiveWriter, PgArchive, SearchQuery, UtteranceRecord,
};
use std::time::{Duration, Instant};

const PER_CALL: usize = 40;
const BATCH_CALLS: usize = 100;
const ROUNDS: usize = 15;

const OPENINGS: &[&str] = &[
    "您好，请问有什么可以帮您",
    "你好，我想问一下",
    "麻烦您帮我看一下",
    "请稍等，我帮您查询",
    "好的，明白了",
    "不好意思，刚才没听清",
    "请问您贵姓",
    "我这边看到",
    "嗯，是这样的",
    "您说的情况我了解了",
];
const TOPICS: &[&str] = &[
    "信用卡的账单",
    "这个月的还款日",
    "手机银行登录不上",
    "转账一直失败",
    "卡被冻结了",
    "理财产品的收益",
    "定期存款的利率",
    "分期手续费怎么算",
    "积分兑换的礼品",
    "挂失补办银行卡",
    "短信验证码收不到",
    "境外消费的额度",
    "房贷提前还款",
    "基金赎回什么时候到账",
    "年费可以免吗",
    "账户有一笔不明扣款",
];
const CLOSINGS: &[&str] = &[
    "谢谢",
    "好的，再见",
    "还有其他问题吗",
    "我会尽快处理",
    "请您留意短信通知",
    "大概三个工作日",
    "您看可以吗",
    "",
];
const ENGLISH: &[&str] = &[
    "Thank you for calling, how can I help you today",
    "I would like to check my balance",
    "My card was declined at the store",
    "Can you explain this charge on my statement",
    "The transfer has not arrived yet",
    "I forgot my online banking password",
    "Please hold while I check that for you",
    "Is there anything else I can do for you",
];
/// Planted terms and how often (one utterance in `every`), rarest first: where two would land
/// on the same utterance the rarer one is written.
const PLANTED: &[(&str, usize)] = &[
    ("我要打12378", 50_000),
    ("这个产品保本保息", 10_000),
    ("I will file a complaint with the regulator", 5_000),
    ("我要投诉你们", 100),
];

/// A deterministic pseudo-random sequence (xorshift), so both backends get the same text.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn text(i: usize, rng: &mut Rng) -> String {
    for (term, every) in PLANTED {
        if i % every == every / 2 {
            return (*term).to_string();
        }
    }
    if rng.next(5) == 0 {
        return ENGLISH[rng.next(ENGLISH.len())].to_string();
    }
    format!(
        "{}，{}{}{}",
        OPENINGS[rng.next(OPENINGS.len())],
        TOPICS[rng.next(TOPICS.len())],
        if rng.next(3) == 0 { "，" } else { "" },
        CLOSINGS[rng.next(CLOSINGS.len())]
    )
}

/// The ops of calls `first..first + n`: start, two legs, `PER_CALL` utterances, end.
fn calls(first: usize, n: usize, rng: &mut Rng) -> Vec<ArchiveOp> {
    let mut ops = Vec::with_capacity(n * (PER_CALL + 4));
    for c in first..first + n {
        let id = format!("bench-{c:07}");
        // A call a minute apart from 2026-01-01.
        let t = time::OffsetDateTime::from_unix_timestamp(1_767_225_600 + c as i64 * 60).unwrap();
        let at = callwatch::clock::rfc3339(t);
        ops.push(ArchiveOp::CallStarted {
            call_id: id.clone(),
            source: "siprec".into(),
            agent_id: Some(format!("agent-{}", c % 300)),
            queue: Some(["cards", "wealth", "loans"][c % 3].into()),
            started_at: at.clone(),
            metadata: serde_json::json!({}),
        });
        for (leg, speaker) in [("left", Speaker::Agent), ("right", Speaker::Customer)] {
            ops.push(ArchiveOp::LegStarted {
                call_id: id.clone(),
                leg: leg.into(),
                speaker,
                participant: None,
                started_at: at.clone(),
            });
        }
        for u in 0..PER_CALL {
            let n = c * PER_CALL + u;
            let text = text(n, rng);
            let start_ms = u as u64 * 3000;
            let speaker = if u % 2 == 0 {
                Speaker::Agent
            } else {
                Speaker::Customer
            };
            ops.push(ArchiveOp::Utterance(UtteranceRecord {
                id: format!("{id}-{u}"),
                call_id: id.clone(),
                leg: if u % 2 == 0 { "left" } else { "right" }.into(),
                speaker,
                start_ms,
                end_ms: start_ms + 2500,
                language: if text.is_ascii() { "en" } else { "zh" }.into(),
                segments: serde_json::json!([]),
                text,
                created_at: at.clone(),
                dropped: None,
                audio_masked: Vec::new(),
            }));
        }
        ops.push(ArchiveOp::CallEnded {
            call_id: id,
            ended_at: at,
            reason: callwatch::call::EndReason::Hangup,
            duration_ms: (PER_CALL * 3000) as u64,
        });
    }
    ops
}

/// Writes `utterances` worth of calls; utterances written per second.
fn fill(store: &dyn ArchiveStore, utterances: usize) -> f64 {
    let n_calls = utterances.div_ceil(PER_CALL);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t0 = Instant::now();
    let mut done = 0;
    while done < n_calls {
        let n = BATCH_CALLS.min(n_calls - done);
        store.write(&calls(done, n, &mut rng)).expect("write");
        done += n;
        if done % 2_500 == 0 {
            eprint!("\r  {} utterances", done * PER_CALL);
        }
    }
    eprintln!();
    (n_calls * PER_CALL) as f64 / t0.elapsed().as_secs_f64()
}

fn queries(total_calls: usize) -> Vec<(&'static str, SearchQuery)> {
    let q = |q: &str, mode: SearchMode| SearchQuery {
        q: q.into(),
        mode,
        ..Default::default()
    };
    vec![
        ("1 char, common", q("账", SearchMode::Exact)),
        ("1 char, rare", q("诉", SearchMode::Exact)),
        ("2 chars, common", q("冻结", SearchMode::Exact)),
        ("2 chars, rare", q("投诉", SearchMode::Exact)),
        ("4 chars, rarest", q("保本保息", SearchMode::Exact)),
        ("digits", q("12378", SearchMode::Exact)),
        ("English word", q("regulator", SearchMode::Exact)),
        ("English, any case", q("BALANCE", SearchMode::Exact)),
        ("two terms", q("理财 收益", SearchMode::Exact)),
        ("absent", q("比特币", SearchMode::Exact)),
        ("pinyin", q("包本保锡", SearchMode::Pinyin)),
        ("near", q("保本保锡", SearchMode::Near)),
        (
            "one call",
            SearchQuery {
                call_id: Some(format!("bench-{:07}", total_calls / 2)),
                ..q("账单", SearchMode::Exact)
            },
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Times every query `ROUNDS` times (after one warm-up); prints each and returns p50, p95.
fn measure(name: &str, reader: &ArchiveReader, total_calls: usize) -> (Duration, Duration) {
    let qs = queries(total_calls);
    let mut all = Vec::new();
    for (label, q) in &qs {
        let warm = reader.search(q).expect("search");
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let page = reader.search(q).expect("search");
            times.push(t.elapsed());
            assert_eq!(page.items.len(), warm.items.len());
        }
        times.sort();
        println!(
            "  {name:<8} {label:<18} hits on page {:>3}  p50 {:>8.2?}  p95 {:>8.2?}",
            warm.items.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
        all.extend(times);
    }
    all.sort();
    (percentile(&all, 0.5), percentile(&all, 0.95))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let utterances: usize = arg("--utterances")
        .map(|v| v.parse().expect("--utterances N"))
        .unwrap_or(1_000_000);
    let which = arg("--backend").unwrap_or_else(|| "both".into());
    let total_calls = utterances.div_ceil(PER_CALL);
    println!("archive search: {utterances} utterances in {total_calls} calls");
    let mut summary = Vec::new();

    if which == "both" || which == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.db");
        let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
        let rate = fill(&tx, utterances);
        handle.close().unwrap();
        let reader = ArchiveReader::open(&path).unwrap();
        let (p50, p95) = measure("sqlite", &reader, total_calls);
        summary.push(("sqlite", rate, p50, p95));
    }
    if which == "both" || which == "postgres" {
        let server = pg::TempPostgres::start();
        let archive = std::sync::Arc::new(PgArchive::open(&server.database("bench")).unwrap());
        let rate = fill(&*archive, utterances);
        // What autovacuum does after a bulk load: statistics for the planner.
        archive.analyze().unwrap();
        let reader = ArchiveReader::postgres(archive);
        let (p50, p95) = measure("postgres", &reader, total_calls);
        summary.push(("postgres", rate, p50, p95));
    }
    println!();
    println!("| backend | insert (utterances/s) | search p50 | search p95 |");
    println!("|---|---|---|---|");
    for (name, rate, p50, p95) in summary {
        println!("| {name} | {rate:.0} | {p50:.1?} | {p95:.1?} |");
    }
}
