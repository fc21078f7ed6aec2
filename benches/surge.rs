//! Surge detector throughput: call arrivals, topic and phrase-category records from many
//! concurrent calls, with the per-minute evaluation included.
//! `cargo bench --bench surge -- --warm-up-time 1 --measurement-time 5`

use callwatch::transforms::surge::{sim, Metric, SurgeConfig, SurgeDetector};
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

criterion_group!(benches, bench);
criterion_main!(benches);
