//! Synthetic customer traffic through the emerging-phrase tracker and the detector, with
//! injected time: ordinary chatter for a day, then what the test is about.

use super::sim_emerging::{Traffic, DAY, PROBLEM};
use super::*;

#[test]
fn a_new_problem_across_thirty_calls_surfaces_as_one_emerging_phrase() {
    let mut t = Traffic::new(SurgeConfig::default(), 1);
    t.run(0, DAY, 2.0, |_, _| {});
    assert!(t.emerging(SurgeState::Raised).is_empty());
    // From 10:00 on the second day, 30 callers in 20 minutes cannot log in.
    let onset = DAY + 600;
    let mut left = 30;
    t.run(DAY, DAY + 720, 2.0, |t, m| {
        if m >= onset && left > 0 && (m - onset) % 2 == 0 {
            for _ in 0..3 {
                t.problem_call(m);
            }
            left -= 3;
        }
    });
    let raised = t.emerging(SurgeState::Raised);
    let login: Vec<_> = raised.iter().filter(|(_, a)| a.key == "登录不了").collect();
    assert_eq!(
        login.len(),
        1,
        "{raised:#?}\nwatched: {:?}",
        t.tracker.phrases()
    );
    let (m, a) = login[0];
    assert!(
        *m > onset && *m <= onset + 20,
        "raised at minute {}",
        m - onset
    );
    assert!(a.observed >= 10 && a.p_value < 1e-5, "{a:#?}");
    // Its pieces (登录, 登录不, 录不了) are not reported on their own; anything else raised is
    // a phrase the problem callers said, not chatter.
    for (_, a) in &raised {
        assert!(
            PROBLEM.iter().any(|p| p.contains(&a.key)) && a.key.chars().count() > 3,
            "{a:#?}"
        );
    }
    // The phrase shows in the detector's status (what /v1/topics lists as emerging).
    let s = t
        .detector
        .status(Some(Metric::Emerging), 60, Traffic::at(onset + 30, 0));
    assert!(
        s.iter().any(|k| k.key == "登录不了" && k.count >= 25),
        "{s:#?}"
    );
    // It clears once the callers stop.
    let cleared = t.emerging(SurgeState::Cleared);
    assert!(
        cleared.iter().any(|(_, c)| c.surge_id == a.surge_id),
        "{cleared:#?}"
    );
}

#[test]
fn one_caller_repeating_a_new_phrase_is_not_a_trend() {
    let mut t = Traffic::new(SurgeConfig::default(), 2);
    t.run(0, DAY, 2.0, |_, _| {});
    let onset = DAY + 600;
    t.run(DAY, DAY + 120, 2.0, |t, m| {
        if (onset..onset + 30).contains(&m) {
            t.say(
                "angry",
                "登录不了，登录不了，还是登录不了",
                Traffic::at(m, 30),
            );
        }
    });
    assert!(t.emerging(SurgeState::Raised).is_empty(), "{:#?}", t.alerts);
    assert!(t.tracker.phrases().is_empty(), "{:?}", t.tracker.phrases());
}

#[test]
fn ordinary_chatter_raises_nothing_even_when_busier_than_usual() {
    let mut t = Traffic::new(SurgeConfig::default(), 3);
    t.run(0, DAY, 2.0, |_, _| {});
    // The next day is busier (3x for two hours): calls surge, their words do not, since every
    // one of them is ordinary vocabulary by its share of calls.
    t.run(DAY, 2 * DAY, 2.0, |t, m| {
        if (DAY + 600..DAY + 720).contains(&m) {
            for _ in 0..t.rng.poisson(4.0) {
                t.chatter_call(m);
            }
        }
    });
    assert!(
        t.emerging(SurgeState::Raised).is_empty(),
        "{:#?}",
        t.emerging(SurgeState::Raised)
    );
}

#[test]
fn before_a_day_is_learned_nothing_is_promoted() {
    // Without a day of vocabulary every gram looks new; the tracker waits for warmup_days.
    let mut t = Traffic::new(SurgeConfig::default(), 4);
    t.run(0, 600, 2.0, |t, m| {
        if m >= 300 {
            t.problem_call(m);
        }
    });
    assert!(t.tracker.phrases().is_empty(), "{:?}", t.tracker.phrases());
}

#[test]
fn memory_stays_within_max_grams() {
    let cfg = SurgeConfig {
        emerging: EmergingConfig {
            max_grams: 2000,
            ..EmergingConfig::default()
        },
        ..SurgeConfig::default()
    };
    let mut t = Traffic::new(cfg, 5);
    // Every call says something unique: the table must forget, and keep the common words.
    t.run(0, 240, 2.0, |t, m| {
        let n = t.rng.next_u64();
        let unique: String = (0..8)
            .map(|i| char::from_u32(0x4E00 + ((n >> (i * 8)) % 2000) as u32).unwrap())
            .collect();
        t.say(&format!("u{m}"), &unique, Traffic::at(m, 40));
        assert!(t.tracker.gram_count() <= 2000);
    });
    assert!(t.tracker.gram_count() > 1000);
}

#[test]
fn emerging_config_is_validated() {
    type Edit = fn(&mut EmergingConfig);
    let table: [(Edit, &str); 4] = [
        (|c| c.min_calls = 1, "emerging.min_calls"),
        (|c| c.stop_share = 0.0, "emerging.stop_share"),
        (|c| c.overlap = 1.5, "emerging.overlap"),
        (|c| c.max_grams = 10, "emerging.max_grams"),
    ];
    for (f, key) in table {
        let mut c = SurgeConfig::default();
        f(&mut c.emerging);
        let e = c.validate().unwrap_err();
        assert!(e.contains(key), "{e}");
    }
}
