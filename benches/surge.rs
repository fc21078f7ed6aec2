//! Surge detector throughput: call arrivals, topic and phrase-category records from many
//! concurrent calls, with the per-minute evaluation included.
//! `cargo bench --bench surge -- --warm-up-time 1 --measurement-time 5`

use callwatch::transforms::surge::{sim, EmergingTracker, Metric, SurgeConfig, SurgeDetector};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use time::Duration;

/// One simulated minute at 10,000 events a second: 600,000 records over 20 queues, 12 topics
/// and 6 phrase categories, from calls of about 20 events each, then the minute's evaluation.
const EVENTS_PER_MIN: u64 = 600_000;

fn bench(c: &mut Criterion) {
    let queues: Vec<String> = (0..20).map(|i| format!("queue-{i}")).collect();
    let topics: Vec<String> = (0..12).map(|i| format!("topic-{i}")).collect();
    let cats: Vec<String> = (0..6).map(|i| format!("cat-{i}")).collect();
    let call_ids: Vec<String> = (0..EVENTS_PER_MIN / 20)
        .map(|i| format!("call-{i}"))
        .collect();
    let mut g = c.benchmark_group("surge");
    g.throughput(Throughput::Elements(EVENTS_PER_MIN));
    g.sample_size(10);
    g.bench_function("10k_events_per_s_one_minute", |b| {
        let t0 = sim::epoch();
        let mut d = SurgeDetector::new(SurgeConfig::default(), t0);
        let mut minute = 0i64;
        b.iter(|| {
            let base = t0 + Duration::minutes(minute);
            let mut rng = sim::Rng::new(minute as u64);
            for i in 0..EVENTS_PER_MIN {
                let at = base + Duration::microseconds((i * 100) as i64);
                // Each minute brings new calls, as live traffic does.
                let call = &call_ids[(i / 20) as usize];
                let call = format!("{minute}-{call}");
                match i % 20 {
                    0 => d.call_started(&call, Some(&queues[(rng.next_u64() % 20) as usize]), at),
                    1..=14 => {
                        d.record(
                            Metric::Topic,
                            &topics[(rng.next_u64() % 12) as usize],
                            &call,
                            at,
                        );
                    }
                    _ => {
                        d.record(
                            Metric::Phrase,
                            &cats[(rng.next_u64() % 6) as usize],
                            &call,
                            at,
                        );
                    }
                }
            }
            minute += 1;
            d.tick(t0 + Duration::minutes(minute))
        })
    });
    g.finish();
}

/// A customer utterance of about 20 characters from everyday bank vocabulary.
fn utterance(rng: &mut sim::Rng) -> String {
    const CHARS: &str = "我想查询账户余额信用卡还款转账失败手机银行登录不了密码锁定利息理财产品风险额度积分网点营业时间外币兑换挂失补办";
    let chars: Vec<char> = CHARS.chars().collect();
    (0..20)
        .map(|i| {
            if i % 7 == 6 {
                '，'
            } else {
                chars[(rng.next_u64() % chars.len() as u64) as usize]
            }
        })
        .collect()
}

/// Emerging-phrase counting: one customer utterance cut into n-grams and counted, against a
/// table already filled to its `max_grams` bound by a day of such traffic.
fn emerging(c: &mut Criterion) {
    let t0 = sim::epoch();
    let cfg = SurgeConfig::default();
    let mut d = SurgeDetector::new(cfg.clone(), t0);
    let mut e = EmergingTracker::new(cfg, t0);
    let mut rng = sim::Rng::new(7);
    let texts: Vec<String> = (0..4096).map(|_| utterance(&mut rng)).collect();
    // A day at 20 customer utterances a minute (10 calls), ticked every minute.
    let mut n = 0u64;
    for m in 0..1440 {
        let at = t0 + Duration::minutes(m);
        for _ in 0..20 {
            n += 1;
            let text = &texts[(n % texts.len() as u64) as usize];
            e.observe(&format!("call-{}", n / 2), text, &[], at, &mut d);
        }
        e.tick(at + Duration::minutes(1), &mut d);
        d.tick(at + Duration::minutes(1));
    }
    println!("emerging: {} grams remembered after a day", e.gram_count());
    let mut g = c.benchmark_group("surge");
    g.throughput(Throughput::Elements(1));
    g.bench_function("emerging_observe_one_utterance", |b| {
        let at = t0 + Duration::minutes(1441);
        b.iter(|| {
            n += 1;
            let text = &texts[(n % texts.len() as u64) as usize];
            e.observe(&format!("call-{}", n / 2), text, &[], at, &mut d);
        })
    });
    g.finish();
}

criterion_group!(benches, bench, emerging);
criterion_main!(benches);
