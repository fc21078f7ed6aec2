//! Synthetic traces through the detector with injected time (a simulated week runs in well
//! under a second).

use super::sim::{self, cleared, diurnal, raised, SimAlert};
use super::*;
use time::Duration;

const DAY: i64 = 1440;

fn cfg() -> SurgeConfig {
    SurgeConfig::default()
}

fn after_warmup(alerts: &[SimAlert]) -> Vec<&SimAlert> {
    alerts.iter().filter(|a| a.minute > DAY).collect()
}

#[test]
fn flat_traffic_raises_nothing_in_a_week() {
    for kind in [BaselineKind::Seasonal, BaselineKind::Ewma] {
        for seed in 1..=3 {
            let c = SurgeConfig {
                baseline: kind,
                ..cfg()
            };
            let alerts = sim::run(&c, 7 * DAY, seed, "cards", |_| 2.0);
            assert!(alerts.is_empty(), "{kind:?} seed {seed}: {alerts:#?}");
        }
    }
}

#[test]
fn sudden_surge_is_one_alert_and_one_all_clear_within_bounded_delay() {
    // Three quiet days at 2 calls/min, then three times that for an hour from 10:00 on day 4.
    let onset = 3 * DAY + 600;
    let alerts = sim::run(&cfg(), 4 * DAY, 7, "cards", |m| {
        if (onset..onset + 60).contains(&m) {
            6.0
        } else {
            2.0
        }
    });
    for key in ["cards", "all"] {
        let r = raised(&alerts, key);
        let c = cleared(&alerts, key);
        assert_eq!((r.len(), c.len()), (1, 1), "{key}: {alerts:#?}");
        let delay = r[0].minute - onset;
        assert!(
            (1..=10).contains(&delay),
            "{key}: raised {delay} min after onset"
        );
        assert!(c[0].minute > onset + 60, "cleared during the surge: {c:#?}");
        assert!(c[0].minute <= onset + 60 + 30, "all-clear late: {c:#?}");
        assert_eq!(r[0].alert.surge_id, c[0].alert.surge_id);
        assert!(
            r[0].alert.p_value < 1e-5 && r[0].alert.ratio >= 1.5,
            "{r:#?}"
        );
        assert_eq!(r[0].alert.window_s, 900);
    }
    assert_eq!(alerts.len(), 4, "{alerts:#?}");
}

#[test]
fn slow_ramp_is_absorbed_but_a_fast_one_alerts_once() {
    // Expected: traffic growing 3 % a day on the daily curve (it doubles in under four weeks)
    // stays within what the seasonal baseline learns: the baseline lags about
    // (1 - alpha) / alpha = 4 days of growth, a 13 % excess, far under min_ratio 1.5, so it
    // never alerts.
    let slow = sim::run(&cfg(), 14 * DAY, 3, "cards", |m| {
        diurnal(m % DAY) * 1.03f64.powf(m as f64 / DAY as f64)
    });
    assert!(after_warmup(&slow).is_empty(), "{slow:#?}");
    // Expected: the same curve climbing from 1x to 3x within three hours of a morning alerts
    // once, during the climb; the surge stays raised while the level holds.
    let start = 5 * DAY + 8 * 60;
    let fast = sim::run(&cfg(), 5 * DAY + 16 * 60, 3, "cards", |m| {
        let k = ((m - start) as f64 / 180.0).clamp(0.0, 1.0);
        diurnal(m % DAY) * (1.0 + 2.0 * k)
    });
    let r = raised(&fast, "cards");
    assert_eq!(r.len(), 1, "{fast:#?}");
    assert!(r[0].minute > start && r[0].minute <= start + 180, "{r:#?}");
}

#[test]
fn seasonal_baseline_does_not_alert_on_the_daily_peak() {
    for seed in 1..=3 {
        let alerts = sim::run(&cfg(), 7 * DAY, seed, "cards", |m| 3.0 * diurnal(m % DAY));
        assert!(after_warmup(&alerts).is_empty(), "seed {seed}: {alerts:#?}");
    }
    // A plain EWMA lags every morning climb and mistakes it for a surge: why seasonal is the default.
    let c = SurgeConfig {
        baseline: BaselineKind::Ewma,
        ..cfg()
    };
    let ewma = sim::run(&c, 7 * DAY, 1, "cards", |m| 3.0 * diurnal(m % DAY));
    assert!(after_warmup(&ewma).len() >= 6, "{ewma:#?}");
}

#[test]
fn cooldown_suppresses_a_second_alert_right_after_the_all_clear() {
    // A 30-minute surge, a 10-minute one within the cool-down after its all-clear (silent),
    // and a third two hours later (alerts again).
    let bursts = [
        (3 * DAY + 600, 30),
        (3 * DAY + 650, 10),
        (3 * DAY + 800, 30),
    ];
    let alerts = sim::run(&cfg(), 4 * DAY, 11, "cards", |m| {
        if bursts.iter().any(|&(b, len)| (b..b + len).contains(&m)) {
            8.0
        } else {
            2.0
        }
    });
    let r = raised(&alerts, "cards");
    assert_eq!(r.len(), 2, "{alerts:#?}");
    assert!(r[1].minute >= bursts[2].0, "{r:#?}");
    assert_eq!(cleared(&alerts, "cards").len(), 2, "{alerts:#?}");
}

#[test]
fn calls_without_a_queue_count_under_the_default_label_and_in_the_total() {
    let t0 = sim::epoch();
    let mut d = SurgeDetector::new(cfg(), t0);
    d.call_started("a", None, t0);
    d.call_started("b", Some("  "), t0);
    d.call_started("c", Some("vip"), t0);
    d.call_started("c", Some("vip"), t0); // the same call announced twice counts once
    let s = d.status(Some(Metric::Calls), 15, t0);
    let count = |k: &str| s.iter().find(|x| x.key == k).map(|x| x.count);
    assert_eq!(count("default"), Some(2));
    assert_eq!(count("vip"), Some(1));
    assert_eq!(count("all"), Some(3));
}

/// Topic traffic: `calls` distinct calls per minute mention `topic`, each `repeats` times.
fn topic_run(
    d: &mut SurgeDetector,
    t0: time::OffsetDateTime,
    minutes: i64,
    calls: u64,
    repeats: u32,
) -> Vec<SurgeAlert> {
    let mut out = Vec::new();
    for m in 0..minutes {
        for c in 0..calls {
            for r in 0..repeats {
                let at = t0 + Duration::minutes(m) + Duration::seconds(r as i64);
                d.record(Metric::Topic, "card_frozen", &format!("call-{c}"), at);
            }
        }
        out.extend(d.tick(t0 + Duration::minutes(m + 1)));
    }
    out
}

#[test]
fn one_call_repeating_a_word_is_not_a_topic_surge() {
    let t0 = sim::epoch();
    let quick = SurgeConfig {
        warmup_days: 0,
        min_count: 5,
        ..cfg()
    };
    // One customer says 冻结 fifty times a minute for half an hour.
    let mut d = SurgeDetector::new(quick.clone(), t0);
    let alerts = topic_run(&mut d, t0, 30, 1, 50);
    assert!(alerts.is_empty(), "{alerts:#?}");
    let s = d.status(Some(Metric::Topic), 60, t0 + Duration::minutes(30));
    assert_eq!(s[0].count, 1);
    // Twenty different customers asking about it within minutes is a surge.
    let mut d = SurgeDetector::new(quick, t0);
    let mut alerts = Vec::new();
    for c in 0..20 {
        let at = t0 + Duration::seconds(c * 20);
        d.record(Metric::Topic, "card_frozen", &format!("call-{c}"), at);
        alerts.extend(d.tick(at));
    }
    alerts.extend(d.tick(t0 + Duration::minutes(8)));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        (alerts[0].metric, alerts[0].key.as_str()),
        (Metric::Topic, "card_frozen")
    );
}

#[test]
fn a_topic_first_seen_today_is_judged_against_the_quiet_before_it() {
    // After two days with no such calls, ten calls about a new problem in a few minutes alert,
    // although the topic key itself is new.
    let t0 = sim::epoch();
    let mut d = SurgeDetector::new(cfg(), t0);
    assert!(d.tick(t0 + Duration::days(2)).is_empty());
    let base = t0 + Duration::days(2);
    for c in 0..12 {
        d.record(
            Metric::Topic,
            "transfer_failure",
            &format!("c{c}"),
            base + Duration::seconds(c * 15),
        );
    }
    let alerts = d.tick(base + Duration::minutes(5));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].state, SurgeState::Raised);
}

#[test]
fn a_clock_jump_does_not_replay_weeks() {
    let t0 = sim::epoch();
    let mut d = SurgeDetector::new(cfg(), t0);
    d.call_started("a", Some("q"), t0);
    assert!(d.tick(t0 + Duration::days(365)).is_empty());
    assert_eq!(d.active().len(), 0);
}

#[test]
fn config_validation_names_the_key() {
    type Edit = fn(&mut SurgeConfig);
    let table: [(Edit, &str); 5] = [
        (|c| c.slot_min = 7, "slot_min"),
        (|c| c.p_raise = 0.5, "p_raise"),
        (|c| c.window_min = 0, "window_min"),
        (|c| c.alpha = 0.0, "alpha"),
        (|c| c.min_ratio = 0.5, "min_ratio"),
    ];
    for (f, key) in table {
        let mut c = cfg();
        f(&mut c);
        let e = c.validate().unwrap_err();
        assert!(e.contains(key), "{e}");
    }
    cfg().validate().unwrap();
}

/// Queue labels come from callers: a flood of new ones stays within `max_keys`, forgetting
/// the least recent keys, never one in a surge and never the all-queues total.
#[test]
fn a_flood_of_queue_labels_stays_within_max_keys() {
    let c = SurgeConfig {
        max_keys: 16,
        ..cfg()
    };
    let start = time::macros::datetime!(2026-03-02 00:00 UTC);
    let mut d = SurgeDetector::new(c, start);
    let at = |m: i64| start + Duration::minutes(m);
    let mut n = 0;
    let mut call = || {
        n += 1;
        format!("c{n}")
    };
    // Two quiet days on `cards`, then ten times the usual for a few minutes: a surge.
    for m in 0..2 * DAY + 10 {
        let per_min = if m >= 2 * DAY { 20 } else { 2 };
        for _ in 0..per_min {
            d.call_started(&call(), Some("cards"), at(m));
        }
        d.tick(at(m + 1));
    }
    assert!(d.is_raised(Metric::Calls, "cards"));
    // Then a thousand made-up queues, some very long.
    let m = 2 * DAY + 10;
    for i in 0..1000 {
        let q = if i % 10 == 0 {
            format!("{i}{}", "x".repeat(10_000))
        } else {
            format!("queue-{i}")
        };
        d.call_started(&call(), Some(&q), at(m));
    }
    d.tick(at(m + 1));
    assert!(d.key_count() <= 16, "{} keys", d.key_count());
    let (evicted, refused) = d.evictions();
    assert!(evicted >= 1000 - 16, "{evicted} evicted");
    assert_eq!(refused, 0);
    assert!(d.is_raised(Metric::Calls, "cards"));
    let keys: Vec<String> = d
        .status(Some(Metric::Calls), 1, at(m))
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert!(keys.iter().any(|k| k == "all"), "{keys:?}");
    // The newest label is counted; long labels were cut to MAX_KEY_CHARS characters.
    assert!(keys.iter().any(|k| k == "queue-999"), "{keys:?}");
    assert!(keys
        .iter()
        .all(|k| k.chars().count() <= super::detector::MAX_KEY_CHARS));
}

#[test]
fn history_points_agree_with_the_raised_alert() {
    let start = sim::epoch();
    let mut d = SurgeDetector::new(cfg(), start);
    let mut rng = sim::Rng::new(7);
    let onset = 3 * DAY + 600;
    let mut call = 0u64;
    for m in 0..onset + 60 {
        let rate = if m >= onset { 6.0 } else { 2.0 };
        for _ in 0..rng.poisson(rate) {
            call += 1;
            let at = start + Duration::milliseconds(m * 60_000 + (rng.unit() * 59_999.0) as i64);
            d.call_started(&format!("sim-{call}"), Some("cards"), at);
        }
        let now = start + Duration::minutes(m + 1);
        let alerts = d.tick(now);
        let Some(a) = alerts
            .iter()
            .find(|a| a.key == "cards" && a.state == SurgeState::Raised)
        else {
            continue;
        };
        let h = d.history(Metric::Calls, |k| k == "cards", 15, 30, 1, now);
        assert_eq!(h.len(), 1, "only the queue asked for: {h:#?}");
        let pts = &h[0].points;
        assert_eq!((pts.len(), h[0].window_s, h[0].step_s), (30, 900, 60));
        // The newest point is the minute now running; the one before is the window judged.
        let judged = &pts[pts.len() - 2];
        assert_eq!((&judged.at, judged.count), (&a.window_end, a.observed));
        assert!(
            judged.count >= judged.raise_at.expect("learned"),
            "{judged:?}"
        );
        for p in &pts[..pts.len() - 2] {
            let line = p.raise_at.expect("learned after three days");
            assert!(p.count < line, "below the line yet not raised: {p:?}");
            assert!(
                p.low as f64 <= p.expected && p.expected <= p.high as f64,
                "{p:?}"
            );
            assert!(line > p.high, "the raise line sits above the band: {p:?}");
        }
        return;
    }
    panic!("the surge was never raised");
}

#[test]
fn history_starts_when_the_detector_did_and_marks_learning() {
    let start = sim::epoch();
    let mut d = SurgeDetector::new(cfg(), start);
    for i in 0..3 {
        d.call_started(
            &format!("c{i}"),
            Some("wealth"),
            start + Duration::minutes(2),
        );
    }
    let now = start + Duration::minutes(10);
    d.tick(now);
    let h = d.history(Metric::Calls, |_| true, 15, 60, 1, now);
    let keys: Vec<&str> = h.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["all", "wealth"]);
    let pts = &h[1].points;
    assert_eq!(
        pts.len(),
        11,
        "windows ending from the first minute on: {pts:#?}"
    );
    assert_eq!(pts.last().unwrap().count, 3);
    assert!(pts.iter().all(|p| p.raise_at.is_none()), "still learning");
    let coarse = d.history(Metric::Calls, |k| k == "wealth", 15, 60, 5, now);
    assert_eq!(coarse[0].points.len(), 3, "{coarse:#?}");
}

/// Two nodes of a cluster, wired as the NATS stream wires them: each publishes what it
/// observes into one shared, ordered log, and each counts the whole log.
#[test]
fn cluster_nodes_count_every_nodes_calls_once_and_only_the_leader_announces() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let start = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let cfg = SurgeConfig {
        warmup_days: 0,
        min_count: 3,
        min_expected: 0.2,
        p_raise: 0.01,
        ..SurgeConfig::default()
    };
    let log: Arc<Mutex<Vec<Observation>>> = Arc::default();
    let node = |leads: bool| {
        let hub = SurgeHub::new(cfg.clone(), TopicSet::empty(), start);
        let log = log.clone();
        let leader = Arc::new(AtomicBool::new(leads));
        hub.join_cluster(ClusterLink {
            publish: Arc::new(move |o| log.lock().unwrap().push(o)),
            leader: leader.clone(),
        })
        .unwrap();
        (hub, leader)
    };
    let (a, a_leads) = node(true);
    let (b, b_leads) = node(false);
    assert!(a
        .join_cluster(ClusterLink {
            publish: Arc::new(|_| {}),
            leader: Arc::default(),
        })
        .is_err());
    let t = start + Duration::minutes(5);
    // Two calls on node a, one on node b: no node alone has three.
    a.call_started("c1", Some("cards"), t);
    a.call_started("c2", Some("cards"), t);
    b.call_started("c3", Some("cards"), t);
    // Observed calls are not counted where they arrived, only from the log.
    assert!(a
        .status(Some(Metric::Calls), 15, t)
        .iter()
        .all(|s| s.count == 0));
    for o in log.lock().unwrap().iter() {
        a.apply(o.clone());
        b.apply(o.clone());
    }
    let later = t + Duration::minutes(2);
    let raised = |alerts: Vec<SurgeAlert>| {
        alerts
            .into_iter()
            .filter(|x| x.metric == Metric::Calls && x.key == "cards")
            .count()
    };
    assert_eq!(
        raised(a.tick(later)),
        1,
        "the leader announces the cluster's surge"
    );
    assert_eq!(
        raised(b.tick(later)),
        0,
        "the other node judges but stays silent"
    );
    // Leadership moves: the new leader knows the surge is already raised.
    a_leads.store(false, Ordering::Relaxed);
    b_leads.store(true, Ordering::Relaxed);
    assert_eq!(raised(b.tick(later + Duration::minutes(1))), 0);
    assert_eq!(raised(a.tick(later + Duration::minutes(1))), 0);
}
